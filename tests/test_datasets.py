"""Tests for ticketleak.datasets."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ticketleak.datasets import DatasetError, ImagePool, load_pool
from ticketleak.core.registry import DATASETS

REPO = Path(__file__).resolve().parents[1]
CIFAR_ZIP = Path(__file__).resolve().parents[2] / "shared/data/cifar10-jpeg.zip"
CLASSES = ("ant", "bee", "cat")  # folder names; sorted order gives labels 0, 1, 2
N_TRAIN, N_TEST = 4, 2


def _pixels(split: str, label: int, i: int) -> np.ndarray:
    """Known 8x8 RGB pixels for one synthetic image."""
    base = 100 * (split == "test") + 30 * label + 5 * i
    return (np.arange(8 * 8 * 3).reshape(8, 8, 3) + base).astype(np.uint8)


def _make_tree(root: Path) -> list[tuple[str, int, int]]:
    """Write train/test PNGs under root; return (split, label, i) in expected pool order."""
    order = []
    for split, count in (("train", N_TRAIN), ("test", N_TEST)):
        for label, cls in enumerate(CLASSES):
            (root / split / cls).mkdir(parents=True)
            for i in range(count):
                Image.fromarray(_pixels(split, label, i)).save(root / split / cls / f"{i:03d}.png")
                order.append((split, label, i))
    return order


def _zip_dir(src: Path, dest: Path, prefix: str = "") -> Path:
    """Zip every file under src into dest, optionally under a top-level folder."""
    with zipfile.ZipFile(dest, "w") as archive:
        for file in sorted(src.rglob("*")):
            archive.write(file, prefix + file.relative_to(src).as_posix())
    return dest


def _check_pool(pool: ImagePool, order: list[tuple[str, int, int]]) -> None:
    """Assert the pool holds exactly the synthetic images, in order."""
    assert pool.x.shape == (len(order), 3, 8, 8) and pool.x.dtype == np.uint8
    assert pool.y.dtype == np.int64
    assert pool.classes == CLASSES
    assert pool.y.tolist() == [label for _, label, _ in order]
    for k, (split, label, i) in enumerate(order):
        np.testing.assert_array_equal(pool.x[k], _pixels(split, label, i).transpose(2, 0, 1))


def test_digits() -> None:
    pool = load_pool("digits")
    assert pool.x.shape == (1797, 1, 8, 8) and pool.x.dtype == np.uint8
    assert pool.x.max() == 255 and pool.x.min() == 0
    assert pool.classes == tuple(str(i) for i in range(10))
    assert pool.y.dtype == np.int64 and set(pool.y.tolist()) == set(range(10))
    assert len(pool.classes) == DATASETS.get("digits").NUM_CLASSES


def test_digits_does_not_import_torch() -> None:
    code = (
        "import sys; from ticketleak.datasets import load_pool; load_pool('digits'); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision')))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_imagefolder_directory(tmp_path: Path) -> None:
    order = _make_tree(tmp_path / "tree")
    _check_pool(load_pool("imagefolder", path=str(tmp_path / "tree")), order)


def test_imagefolder_zip(tmp_path: Path) -> None:
    order = _make_tree(tmp_path / "tree")
    _check_pool(load_pool("imagefolder", path=str(_zip_dir(tmp_path / "tree", tmp_path / "d.zip"))), order)
    assert not (tmp_path / "train").exists()  # nothing extracted next to the archive


def test_imagefolder_zip_with_top_folder(tmp_path: Path) -> None:
    order = _make_tree(tmp_path / "tree")
    archive = _zip_dir(tmp_path / "tree", tmp_path / "d.zip", prefix="mydata/")
    _check_pool(load_pool("imagefolder", path=str(archive)), order)


def test_imagefolder_grey_stays_one_channel(tmp_path: Path) -> None:
    (tmp_path / "train/a").mkdir(parents=True)
    (tmp_path / "test/b").mkdir(parents=True)
    Image.new("L", (5, 4), 7).save(tmp_path / "train/a/x.png")
    Image.new("L", (5, 4), 9).save(tmp_path / "test/b/y.png")
    pool = load_pool("imagefolder", path=str(tmp_path))
    assert pool.x.shape == (2, 1, 4, 5) and pool.y.tolist() == [0, 1]
    assert pool.x[0].max() == 7 and pool.x[1].max() == 9


def test_imagefolder_mixed_grey_and_rgb_becomes_rgb(tmp_path: Path) -> None:
    (tmp_path / "train/a").mkdir(parents=True)
    Image.new("L", (4, 4), 7).save(tmp_path / "train/a/1.png")
    Image.new("RGB", (4, 4), (1, 2, 3)).save(tmp_path / "train/a/2.png")
    pool = load_pool("imagefolder", path=str(tmp_path))
    assert pool.x.shape == (2, 3, 4, 4)
    assert pool.x[0, :, 0, 0].tolist() == [7, 7, 7] and pool.x[1, :, 0, 0].tolist() == [1, 2, 3]


def test_imagefolder_mixed_sizes(tmp_path: Path) -> None:
    _make_tree(tmp_path)
    Image.new("RGB", (9, 8)).save(tmp_path / "test/bee/zzz.png")
    with pytest.raises(DatasetError, match="test/bee/zzz.png"):
        load_pool("imagefolder", path=str(tmp_path))


def test_imagefolder_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.zip"
    with pytest.raises(DatasetError, match=re.escape(str(missing))):
        load_pool("imagefolder", path=str(missing))


def test_imagefolder_missing_relative_path_names_where_it_looked(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetError, match=re.escape(f"data.path: ../data/nope.zip does not exist (looked for {(tmp_path.parent / 'data' / 'nope.zip').resolve()})")) as err:
        load_pool("imagefolder", path="../data/nope.zip")
    assert "--queue" in str(err.value) and "\n" not in str(err.value)


def test_imagefolder_not_dir_or_zip(tmp_path: Path) -> None:
    bad = tmp_path / "data.txt"
    bad.write_text("hello")
    with pytest.raises(DatasetError, match=re.escape(str(bad))):
        load_pool("imagefolder", path=str(bad))


@pytest.mark.parametrize("as_zip", [False, True])
def test_imagefolder_bad_layout(tmp_path: Path, as_zip: bool) -> None:
    (tmp_path / "tree/cat").mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(tmp_path / "tree/cat/1.png")
    path = _zip_dir(tmp_path / "tree", tmp_path / "d.zip") if as_zip else tmp_path / "tree"
    with pytest.raises(DatasetError, match="train/<class>/<image>") as info:
        load_pool("imagefolder", path=str(path))
    assert str(path) in str(info.value)


def test_imagefolder_needs_path() -> None:
    with pytest.raises(DatasetError, match="data.path"):
        load_pool("imagefolder")


def test_unknown_name() -> None:
    with pytest.raises(DatasetError, match="'foo'") as info:
        load_pool("foo")
    assert all(name in str(info.value) for name in DATASETS.names())


@pytest.mark.parametrize("download", [True, False])
def test_cifar10_missing_files(tmp_path: Path, download: bool) -> None:
    # No network here: download=True fails fast (DNS error) and must become a DatasetError too.
    with pytest.raises(DatasetError) as info:
        load_pool("cifar10", root=tmp_path, download=download)
    message = str(info.value)
    assert f"{tmp_path.as_posix()}/cifar10/cifar-10-batches-py/" in message
    assert "\n" not in message


@pytest.mark.slow
@pytest.mark.skipif(not CIFAR_ZIP.exists(), reason=f"{CIFAR_ZIP} not present")
def test_cifar10_jpeg_zip() -> None:
    pool = load_pool("imagefolder", path=str(CIFAR_ZIP))
    assert pool.x.shape == (60000, 3, 32, 32) and pool.x.dtype == np.uint8
    assert len(pool.classes) == 10 and pool.classes[0] == "airplane"
    assert np.bincount(pool.y).tolist() == [6000] * 10
