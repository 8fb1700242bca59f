"""Load a whole labelled dataset into memory as one pool of arrays (:class:`ImagePool`).

A dataset is one module of this package (``cifar10.py`` is ``cifar10``; the registry
:data:`ticketleak.core.registry.DATASETS` finds it) with ``load(root, path, download) -> ImagePool``
and ``NUM_CLASSES`` (None where the files decide, as for ``imagefolder``); a tabular one also
has ``TABULAR = True`` (its records are float features, see ``_tabular.py``), and ``load`` may
take ``label``, the label column of a table (``data.label``). A dataset read from files where
they lie may have ``check(root, path)``, which fails in one line when they are absent (``ticketleak
study run`` calls it before the first run). Adding a dataset is adding one
file; torchvision's loading is shared in ``_torchvision.py``.
"""

from __future__ import annotations

import inspect
from pathlib import Path

from ticketleak.datasets._pool import DatasetError, ImagePool
from ticketleak.core.registry import DATASETS

__all__ = ["DatasetError", "ImagePool", "is_tabular", "load_pool"]


def load_pool(
    name: str, root: str | Path = "data/raw", path: str | None = None, download: bool = True, label: str = "label"
) -> ImagePool:
    """Load dataset `name` (train then test, where it has both) as one in-memory ImagePool."""
    if name not in DATASETS.names():
        raise DatasetError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS.names())}")
    module = DATASETS.get(name)
    if "label" in inspect.signature(module.load).parameters:
        return module.load(Path(root), path, download, label=label)
    return module.load(Path(root), path, download)


def is_tabular(name: str) -> bool:
    """Whether dataset ``name`` holds records of features rather than images."""
    return bool(getattr(DATASETS.get(name), "TABULAR", False))
