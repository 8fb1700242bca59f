"""CIFAR-10 (torchvision): 60,000 32x32 colour images, 10 classes."""

from __future__ import annotations

from pathlib import Path

from ticketleak.datasets._pool import ImagePool
from ticketleak.datasets._torchvision import load_torchvision

NUM_CLASSES = 10


def load(root: Path, path: str | None, download: bool) -> ImagePool:
    return load_torchvision("cifar10", "CIFAR10", "cifar-10-batches-py", root, download)
