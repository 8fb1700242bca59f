"""Loading a torchvision dataset's train and test splits into one pool."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ticketleak.datasets._pool import SPLITS, DatasetError, ImagePool, one_line


def load_torchvision(name: str, cls_name: str, subdir: str, root: Path, download: bool) -> ImagePool:
    """Load the train and test splits of torchvision's ``cls_name`` (files under
    ``<root>/<name>/<subdir>``) into one pool."""
    where = f"{(root / name / subdir).as_posix()}/"
    if name == "svhn":
        where += " (train_32x32.mat and test_32x32.mat)"
    try:
        import torchvision.datasets as tvd

        cls = getattr(tvd, cls_name)
        kwargs = [{"split": s} for s in SPLITS] if name == "svhn" else [{"train": True}, {"train": False}]
        parts = [cls(root=str(root / name), download=download, **kw) for kw in kwargs]
    except Exception as exc:  # torchvision raises URLError, RuntimeError, OSError, tarfile errors...
        action = "found or downloaded" if download else "found (download=False)"
        raise DatasetError(
            f"dataset {name!r} could not be {action}; place its files in {where} ({one_line(exc)})"
        ) from exc
    x = np.concatenate([_to_nchw(name, ds) for ds in parts])
    y = np.concatenate([np.asarray(ds.labels if name == "svhn" else ds.targets) for ds in parts])
    y = y.astype(np.int64)
    classes = tuple(str(i) for i in range(10)) if name == "svhn" else tuple(parts[0].classes)
    return ImagePool(x, y, classes)


def _to_nchw(name: str, ds: Any) -> np.ndarray:
    """Return a torchvision dataset's `.data` as a contiguous uint8 NCHW array."""
    data = np.asarray(ds.data, dtype=np.uint8)
    if name in ("mnist", "fashion_mnist"):
        return data[:, None]
    if name == "svhn":
        return np.ascontiguousarray(data)
    return np.ascontiguousarray(data.transpose(0, 3, 1, 2))
