"""Loading shared by the tabular datasets: records of numeric features with one class label each.

A record of D features is kept as float32 of shape (D, 1, 1), D channels of one pixel, so the
pipeline's (N, C, H, W) arrays, its per-channel standardisation and its splits hold unchanged;
the models that take such input are ``mlp`` and a user's own (``package.module:function``), and
image-only steps (augmentation, LiRA's mirror query, pictures of samples) are refused or skipped.

Formats read here:

- ``.csv`` / ``.tsv`` (optionally ``.gz``) with a header row: one column holds the label (its
  name is ``data.label``), every other column is a numeric feature;
- ``.npz`` with a feature array ``x`` or ``features`` (N, D) and a label array ``y`` or
  ``labels``, (N,) class values or (N, K) one-hot rows;
- the text files of the published Purchase-100, Texas-100 and Location data (label first, or
  features and labels in two files), with labels 1..K.
"""

from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ticketleak.datasets._pool import DatasetError, ImagePool, one_line

FEATURE_KEYS, LABEL_KEYS = ("x", "features"), ("y", "labels")


def to_pool(features: np.ndarray, labels: np.ndarray, where: str, classes: tuple[str, ...] | None = None) -> ImagePool:
    """Check (N, D) numeric features and their labels, and wrap them as a pool of (N, D, 1, 1).

    ``labels`` are class values (any sortable values: the classes are the distinct values, in
    order) or (N, K) one-hot rows; with ``classes`` given, labels are already 0..K-1."""
    features = np.asarray(features)
    if features.ndim != 2:
        raise DatasetError(f"{where}: features have shape {features.shape}; expected (records, features)")
    if not (np.issubdtype(features.dtype, np.number) or features.dtype == np.bool_):
        raise DatasetError(f"{where}: features are of type {features.dtype}; expected numbers")
    x = features.astype(np.float32)
    bad = np.argwhere(~np.isfinite(x))
    if len(bad):
        r, c = bad[0]
        raise DatasetError(f"{where}: feature {c} of record {r} is {features[r, c]!r}, not a finite number "
                           f"({len(bad)} such values; fill or drop them first)")
    if classes is None:
        y, names = _labels(np.asarray(labels), len(x), where)
    else:  # already class indices: kept as they are, even where a class has no record
        y, names = np.asarray(labels, dtype=np.int64), classes
        if len(y) != len(x) or (len(y) and not 0 <= y.min() <= y.max() < len(classes)):
            raise DatasetError(f"{where}: {len(y)} labels for {len(x)} records, or a label outside the {len(classes)} classes")
    return ImagePool(np.ascontiguousarray(x[:, :, None, None]), y, names)


def _labels(labels: np.ndarray, n: int, where: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """(N,) class indices and class names from class values or one-hot rows."""
    if labels.ndim == 2:  # one-hot
        if not ((labels == 0) | (labels == 1)).all() or not (labels.sum(axis=1) == 1).all():
            raise DatasetError(f"{where}: labels of shape {labels.shape} are not one-hot rows")
        values = np.arange(labels.shape[1])  # one class per column, with records or not
        y = labels.argmax(axis=1).astype(np.int64)
    elif labels.ndim == 1:
        values, y = np.unique(labels, return_inverse=True)
        y = y.astype(np.int64)
    else:
        raise DatasetError(f"{where}: labels have shape {labels.shape}; expected (records,) or one-hot (records, classes)")
    if len(y) != n:
        raise DatasetError(f"{where}: {len(y)} labels for {n} records")
    return y, tuple(str(v) for v in values.tolist())


def read_table(path: Path, label: str) -> ImagePool:
    """A user's own table: a CSV/TSV with a header (label column ``label``) or an NPZ."""
    if not path.exists():
        where = f" (looked for {path.resolve()})" if not path.is_absolute() else ""
        raise DatasetError(f"data.path: {path} does not exist{where}; expected a .csv, .tsv or .npz file")
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    if suffixes[-1:] == [".npz"]:
        return _read_npz(path)
    if ".csv" in suffixes or ".tsv" in suffixes:
        return _read_csv(path, label, "\t" if ".tsv" in suffixes else ",")
    raise DatasetError(f"data.path: {path} is not a .csv, .tsv (optionally .gz) or .npz file")


def _read_npz(path: Path) -> ImagePool:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read {path} as .npz ({one_line(exc)})") from exc
    fkey = next((k for k in FEATURE_KEYS if k in arrays), None)
    lkey = next((k for k in LABEL_KEYS if k in arrays), None)
    if fkey is None or lkey is None:
        raise DatasetError(f"{path}: needs a feature array ({' or '.join(FEATURE_KEYS)}) and a label array "
                           f"({' or '.join(LABEL_KEYS)}); it holds {', '.join(sorted(arrays)) or 'nothing'}")
    return to_pool(arrays[fkey], arrays[lkey], str(path))


def _read_csv(path: Path, label: str, delimiter: str) -> ImagePool:
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rt", newline="") as handle:
        rows = csv.reader(handle, delimiter=delimiter)
        header = next(rows, None)
        if not header:
            raise DatasetError(f"{path} is empty; expected a header row naming the columns")
        header = [h.strip() for h in header]
        if label not in header:
            raise DatasetError(f"{path}: no label column '{label}' (data.label); its columns are "
                               f"{', '.join(header[:12])}{', ...' if len(header) > 12 else ''}")
        at = header.index(label)
        labels, records = [], []
        for line, row in enumerate(rows, start=2):
            if not row:
                continue
            if len(row) != len(header):
                raise DatasetError(f"{path}, line {line}: {len(row)} values for {len(header)} columns")
            labels.append(row[at].strip())
            records.append(row[:at] + row[at + 1:])
    names = header[:at] + header[at + 1:]
    if not names:
        raise DatasetError(f"{path}: the label column '{label}' is its only column; there are no features")
    try:
        features = np.array(records, dtype=np.float64).reshape(len(records), len(names))
    except ValueError:
        for line, row in enumerate(records, start=2):
            for name, value in zip(names, row):
                try:
                    float(value)
                except ValueError:
                    raise DatasetError(f"{path}, line {line}: feature '{name}' is {value!r}, not a number "
                                       "(encode categorical columns as numbers first)") from None
        raise
    return to_pool(features, _sorted_values(labels), str(path))


def _sorted_values(labels: list[str]) -> np.ndarray:
    """Labels as integers where every one is an integer (so 2 sorts before 10), else as text."""
    try:
        return np.array([int(v) for v in labels], dtype=np.int64)
    except ValueError:
        return np.array(labels)


@dataclass(frozen=True)
class Published:
    """A dataset published as files (no download here), read from ``<data.root>/<name>/`` or from
    ``data.path`` (a folder), in the first of its ``layouts`` present there.

    A layout is a kind, ``label_first`` (one text file of ``label,f1,...,fD`` lines),
    ``feats_labels`` (a file of comma-separated feature lines and one of labels) or ``npz``, with
    its file names relative to the folder. Labels are 1..K in the text files (as published) and
    0- or 1-based in an npz; the class names are "1".."K"."""

    name: str
    features: int
    classes: int
    layouts: tuple[tuple[str, tuple[str, ...]], ...]
    source: str  # how to get the files, for the error when they are absent

    def folder(self, root: Path, path: str | None) -> Path:
        return Path(path) if path else Path(root) / self.name

    def check(self, root: Path, path: str | None) -> None:
        """Fail in one line, before any work, when the files are absent."""
        self._locate(self.folder(root, path))

    def _locate(self, folder: Path) -> tuple[str, list[Path]]:
        for layout, files in self.layouts:
            paths = [folder / f for f in files]
            if all(p.is_file() for p in paths):
                return layout, paths
        looked = "; ".join(" + ".join(files) for _, files in self.layouts)
        raise DatasetError(f"dataset {self.name}: no data in {folder} (looked for {looked}); it is not downloaded "
                           f"automatically: {self.source}")

    def load(self, root: Path, path: str | None, download: bool = False) -> ImagePool:
        folder = self.folder(root, path)
        layout, paths = self._locate(folder)
        name, where = self.name, str(paths[0])
        try:
            if layout == "npz":
                pool = _read_npz(paths[0])
                x, raw = pool.x[:, :, 0, 0], np.asarray([int(c) for c in pool.classes])[pool.y]
            elif layout == "label_first":
                table = np.loadtxt(paths[0], delimiter=",", dtype=np.float32, quotechar='"', ndmin=2)
                x, raw = table[:, 1:], table[:, 0]
            else:  # feats_labels
                x = np.loadtxt(paths[0], delimiter=",", dtype=np.float32, ndmin=2)
                raw = np.loadtxt(paths[1], dtype=np.float32, ndmin=1)
        except (OSError, ValueError) as exc:
            raise DatasetError(f"dataset {name}: cannot read {where} ({one_line(exc)})") from exc
        if x.shape[1] != self.features:
            raise DatasetError(f"dataset {name}: {where} has {x.shape[1]} features per record; expected {self.features}")
        if len(raw) != len(x):
            raise DatasetError(f"dataset {name}: {len(raw)} labels for {len(x)} records in {folder}")
        first = 1 if layout != "npz" or raw.min() == 1 else 0
        y = raw.astype(np.int64) - first
        if (raw != np.round(raw)).any() or y.min() < 0 or y.max() >= self.classes:
            raise DatasetError(f"dataset {name}: labels in {where} run from {raw.min():g} to {raw.max():g}; "
                               f"expected {first}..{self.classes - 1 + first}")
        return to_pool(x, y, where, tuple(str(k) for k in range(1, self.classes + 1)))
