"""A user's own table at ``data.path``: a .csv/.tsv (optionally .gz) with a header row, whose
``data.label`` column holds the class and every other column a numeric feature, or an .npz with
``x`` (or ``features``) and ``y`` (or ``labels``). The classes are the distinct labels, in order."""

from __future__ import annotations

from pathlib import Path

from ticketleak.datasets._pool import DatasetError, ImagePool
from ticketleak.datasets._tabular import read_table

NUM_CLASSES = None  # as many as the distinct labels
TABULAR = True


def load(root: Path, path: str | None, download: bool, label: str = "label") -> ImagePool:
    if path is None:
        raise DatasetError("dataset 'tabular' needs data.path to be set (a .csv, .tsv or .npz file)")
    return read_table(Path(path), label)


def check(root: Path, path: str | None) -> None:
    """Fail in one line, before any work, when the table is absent."""
    if path is None:
        raise DatasetError("dataset 'tabular' needs data.path to be set (a .csv, .tsv or .npz file)")
    if not Path(path).exists():
        read_table(Path(path), "label")  # its error names the resolved path
