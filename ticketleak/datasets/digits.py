"""scikit-learn's bundled 8x8 digits (1,797 images, 10 classes), scaled from 0..16 to 0..255."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ticketleak.datasets._pool import ImagePool

NUM_CLASSES = 10


def load(root: Path, path: str | None, download: bool) -> ImagePool:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = np.round(digits.images * 255 / 16).astype(np.uint8)[:, None]
    return ImagePool(x, digits.target.astype(np.int64), tuple(str(i) for i in range(10)))
