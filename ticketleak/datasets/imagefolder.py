"""An ImageNet-style train/<class>/<image> and test/<class>/<image> tree (a directory or .zip,
optionally inside one top-level folder) at ``data.path``; the classes are its folder names."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np

from ticketleak.datasets._pool import SPLITS, DatasetError, ImagePool, one_line

NUM_CLASSES = None  # as many as the folders
_GREY_MODES = ("1", "L", "LA")


def load(root: Path, path: str | None, download: bool) -> ImagePool:
    if path is None:
        raise DatasetError("dataset 'imagefolder' needs data.path to be set (a directory or .zip)")
    return _load_imagefolder(Path(path))


def _list_files(path: Path) -> tuple[list[str], Callable[[str], str | BinaryIO], Callable[[], None]]:
    """List files under a directory or zip as posix paths, with an opener and a closer."""
    if path.is_dir():
        names = [
            Path(dirpath, f).relative_to(path).as_posix()
            for dirpath, _, files in os.walk(path)
            for f in files
        ]
        return names, lambda n: str(path / n), lambda: None
    if path.is_file() and zipfile.is_zipfile(path):
        archive = zipfile.ZipFile(path)
        names = [n for n in archive.namelist() if not n.endswith("/")]
        return names, lambda n: io.BytesIO(archive.read(n)), archive.close
    raise DatasetError(f"imagefolder path {path} is neither a directory nor a .zip archive")


def _image_entries(path: Path, names: list[str]) -> list[tuple[str, str, str]]:
    """Find (split, class, file) for train/<class>/<image> and test/<class>/<image>, train first."""
    from PIL import Image

    extensions = Image.registered_extensions()
    split_parts = [
        p for p in (n.split("/") for n in names)
        if not any(s.startswith(".") or s == "__MACOSX" for s in p)
        and os.path.splitext(p[-1])[1].lower() in extensions
    ]
    tops = {p[0] for p in split_parts}
    depth = 0 if tops & set(SPLITS) else 1 if len(tops) == 1 else -1
    entries = sorted(
        (SPLITS.index(p[depth]), p[depth + 1], "/".join(p))
        for p in split_parts
        if depth >= 0 and len(p) == depth + 3 and p[depth] in SPLITS
    )
    if not entries:
        raise DatasetError(
            f"no images found in {path} laid out as train/<class>/<image> and test/<class>/<image>"
            " (optionally inside one top-level folder)"
        )
    return [(SPLITS[s], c, n) for s, c, n in entries]


def _load_imagefolder(path: Path) -> ImagePool:
    """Decode an ImageNet-style train/ and test/ folder tree (directory or zip) into a pool."""
    from PIL import Image

    if not path.exists():
        where = f" (looked for {path.resolve()})" if not path.is_absolute() else ""
        raise DatasetError(
            f"data.path: {path} does not exist{where}; expected a directory or .zip. A relative path is "
            "read from the folder the stage runs in (under `dvc exp run --queue` or `--temp`, a temporary "
            "copy of the repository): bring outside data in with `dvc import-url SOURCE data/external/NAME`"
        )
    names, opener, close = _list_files(path)
    try:
        entries = _image_entries(path, names)
        classes = tuple(sorted({c for _, c, _ in entries}))
        index = {c: k for k, c in enumerate(classes)}
        y = np.array([index[c] for _, c, _ in entries], dtype=np.int64)
        x: np.ndarray | None = None
        for i, (_, _, name) in enumerate(entries):
            try:
                with Image.open(opener(name)) as img:
                    grey = img.mode in _GREY_MODES
                    arr = np.asarray(img if img.mode in ("L", "RGB") else img.convert("L" if grey else "RGB"))
            except (OSError, ValueError) as exc:
                raise DatasetError(f"cannot decode image {name} in {path} ({one_line(exc)})") from exc
            arr = arr[..., None] if arr.ndim == 2 else arr
            if x is None:
                x = np.empty((len(entries), *arr.shape), dtype=np.uint8)
            if arr.shape[:2] != x.shape[1:3]:
                raise DatasetError(
                    f"image {name} in {path} is {arr.shape[1]}x{arr.shape[0]}, expected"
                    f" {x.shape[2]}x{x.shape[1]} like the first image (all images must have one size)"
                )
            if arr.shape[2] != x.shape[3]:  # mixed grey and colour: everything becomes RGB
                x, arr = (np.repeat(x, 3, axis=3), arr) if x.shape[3] == 1 else (x, np.repeat(arr, 3, axis=2))
            x[i] = arr
    finally:
        close()
    assert x is not None
    return ImagePool(np.ascontiguousarray(x.transpose(0, 3, 1, 2)), y, classes)
