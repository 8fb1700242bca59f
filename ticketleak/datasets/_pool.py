"""What every dataset module returns, and its one error."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ticketleak.core.errors import UserError

SPLITS = ("train", "test")


class DatasetError(UserError):
    """A dataset could not be loaded; the message is one user-facing line."""


@dataclass(frozen=True)
class ImagePool:
    """All samples of a dataset, y int64 (N,) and class names, with x either

    - images: uint8 (N, C, H, W) intensities, read as ``x / 255``, or
    - tabular records: float32 (N, D, 1, 1), D features read as they are (``tabular``,
      ``purchase100``, ``texas100``, ``location``; see ``_tabular.py``).

    Either way training standardises every channel (feature) by its mean and sd over the pool."""

    x: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]


def one_line(exc: BaseException) -> str:
    """Describe an exception in one short line."""
    text = " ".join(str(exc).split()) or "no details"
    return f"{type(exc).__name__}: {text[:200]}"
