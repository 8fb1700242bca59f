"""Query a model on its members and non-members and keep what attacks need."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ticketleak.tensors import Tensors
from ticketleak.training import predict_logits


def query(model: torch.nn.Module, members: Tensors, nonmembers: Tensors) -> dict[str, np.ndarray]:
    """Logits, labels, membership (1 = trained on) and per-sample cross-entropy, members first."""
    x = torch.cat([members[0], nonmembers[0]])
    y = torch.cat([members[1], nonmembers[1]])
    logits = predict_logits(model, x)
    return {
        "logits": logits.numpy().astype(np.float32),
        "labels": y.numpy(),
        "member": np.r_[np.ones(len(members[1]), bool), np.zeros(len(nonmembers[1]), bool)],
        "loss": F.cross_entropy(logits, y, reduction="none").numpy(),
    }
