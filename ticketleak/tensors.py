"""Small helpers on arrays and tensors that several families share."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

import numpy as np

if TYPE_CHECKING:  # torch stays unimported for the numpy-only users (attacks, plots, reports)
    import torch

Tensors: TypeAlias = "tuple[torch.Tensor, torch.Tensor]"  # (inputs, labels)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
