"""Load a whole labelled image dataset into memory as one pool of uint8 arrays.

A dataset is one module of this package (``cifar10.py`` is ``cifar10``; the registry
:data:`ticketleak.registry.DATASETS` finds it) with ``load(root, path, download) -> ImagePool``
and ``NUM_CLASSES`` (None where the files decide, as for ``imagefolder``). Adding a dataset is
adding one file; torchvision's loading is shared in ``_torchvision.py``.
"""

from __future__ import annotations

from pathlib import Path

from ticketleak.datasets._pool import DatasetError, ImagePool
from ticketleak.registry import DATASETS

__all__ = ["DatasetError", "ImagePool", "load_pool"]


def load_pool(
    name: str, root: str | Path = "data/raw", path: str | None = None, download: bool = True
) -> ImagePool:
    """Load dataset `name` (train then test) as one in-memory ImagePool."""
    if name not in DATASETS.names():
        raise DatasetError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS.names())}")
    return DATASETS.get(name).load(Path(root), path, download)
