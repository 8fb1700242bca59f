"""SVHN (torchvision): 99,289 32x32 colour house-number digits (train_32x32.mat, test_32x32.mat)."""

from __future__ import annotations

from pathlib import Path

from ticketleak.datasets._pool import ImagePool
from ticketleak.datasets._torchvision import load_torchvision

NUM_CLASSES = 10


def load(root: Path, path: str | None, download: bool) -> ImagePool:
    return load_torchvision("svhn", "SVHN", "", root, download)
