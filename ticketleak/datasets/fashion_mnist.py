"""Fashion-MNIST (torchvision): 70,000 28x28 grey clothing images, 10 classes."""

from __future__ import annotations

from pathlib import Path

from ticketleak.datasets._pool import ImagePool
from ticketleak.datasets._torchvision import load_torchvision

NUM_CLASSES = 10


def load(root: Path, path: str | None, download: bool) -> ImagePool:
    return load_torchvision("fashion_mnist", "FashionMNIST", "FashionMNIST/raw", root, download)
