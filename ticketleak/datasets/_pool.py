"""What every dataset module returns, and its one error."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ticketleak.errors import UserError

SPLITS = ("train", "test")


class DatasetError(UserError):
    """A dataset could not be loaded; the message is one user-facing line."""


@dataclass(frozen=True)
class ImagePool:
    """All images of a dataset: x uint8 (N, C, H, W), y int64 (N,), class names."""

    x: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]


def one_line(exc: BaseException) -> str:
    """Describe an exception in one short line."""
    text = " ".join(str(exc).split()) or "no details"
    return f"{type(exc).__name__}: {text[:200]}"
