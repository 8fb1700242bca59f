"""Load a whole labelled image dataset into memory as one pool of uint8 arrays."""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable

import numpy as np

DATASETS = ("digits", "cifar10", "cifar100", "mnist", "fashion_mnist", "svhn", "imagefolder")

# torchvision class name and the folder (under <root>/<name>/) where its files live.
_TORCHVISION = {
    "cifar10": ("CIFAR10", "cifar-10-batches-py"),
    "cifar100": ("CIFAR100", "cifar-100-python"),
    "mnist": ("MNIST", "MNIST/raw"),
    "fashion_mnist": ("FashionMNIST", "FashionMNIST/raw"),
    "svhn": ("SVHN", ""),
}
_SPLITS = ("train", "test")
_GREY_MODES = ("1", "L", "LA")


class DatasetError(Exception):
    """A dataset could not be loaded; the message is one user-facing line."""


@dataclass(frozen=True)
class ImagePool:
    """All images of a dataset: x uint8 (N, C, H, W), y int64 (N,), class names."""

    x: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]


def load_pool(
    name: str, root: str | Path = "data/raw", path: str | None = None, download: bool = True
) -> ImagePool:
    """Load dataset `name` (train then test) as one in-memory ImagePool."""
    if name == "digits":
        return _load_digits()
    if name in _TORCHVISION:
        return _load_torchvision(name, Path(root), download)
    if name == "imagefolder":
        if path is None:
            raise DatasetError("dataset 'imagefolder' needs data.path to be set (a directory or .zip)")
        return _load_imagefolder(Path(path))
    raise DatasetError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")


def _load_digits() -> ImagePool:
    """Load scikit-learn's bundled 8x8 digits, scaled from 0..16 to 0..255."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = np.round(digits.images * 255 / 16).astype(np.uint8)[:, None]
    return ImagePool(x, digits.target.astype(np.int64), tuple(str(i) for i in range(10)))


def _one_line(exc: BaseException) -> str:
    """Describe an exception in one short line."""
    text = " ".join(str(exc).split()) or "no details"
    return f"{type(exc).__name__}: {text[:200]}"


def _load_torchvision(name: str, root: Path, download: bool) -> ImagePool:
    """Load the train and test splits of a torchvision dataset into one pool."""
    cls_name, subdir = _TORCHVISION[name]
    where = f"{(root / name / subdir).as_posix()}/"
    if name == "svhn":
        where += " (train_32x32.mat and test_32x32.mat)"
    try:
        import torchvision.datasets as tvd

        cls = getattr(tvd, cls_name)
        kwargs = [{"split": s} for s in _SPLITS] if name == "svhn" else [{"train": True}, {"train": False}]
        parts = [cls(root=str(root / name), download=download, **kw) for kw in kwargs]
    except Exception as exc:  # torchvision raises URLError, RuntimeError, OSError, tarfile errors...
        action = "found or downloaded" if download else "found (download=False)"
        raise DatasetError(
            f"dataset {name!r} could not be {action}; place its files in {where} ({_one_line(exc)})"
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
    depth = 0 if tops & set(_SPLITS) else 1 if len(tops) == 1 else -1
    entries = sorted(
        (_SPLITS.index(p[depth]), p[depth + 1], "/".join(p))
        for p in split_parts
        if depth >= 0 and len(p) == depth + 3 and p[depth] in _SPLITS
    )
    if not entries:
        raise DatasetError(
            f"no images found in {path} laid out as train/<class>/<image> and test/<class>/<image>"
            " (optionally inside one top-level folder)"
        )
    return [(_SPLITS[s], c, n) for s, c, n in entries]


def _load_imagefolder(path: Path) -> ImagePool:
    """Decode an ImageNet-style train/ and test/ folder tree (directory or zip) into a pool."""
    from PIL import Image

    if not path.exists():
        raise DatasetError(f"imagefolder path {path} does not exist (expected a directory or .zip)")
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
                raise DatasetError(f"cannot decode image {name} in {path} ({_one_line(exc)})") from exc
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
