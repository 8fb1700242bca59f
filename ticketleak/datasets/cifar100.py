"""CIFAR-100 (torchvision): 60,000 32x32 colour images, 100 classes."""

from __future__ import annotations

from pathlib import Path

from ticketleak.datasets._pool import ImagePool
from ticketleak.datasets._torchvision import load_torchvision

NUM_CLASSES = 100


def load(root: Path, path: str | None, download: bool) -> ImagePool:
    return load_torchvision("cifar100", "CIFAR100", "cifar-100-python", root, download)
