"""The prepare stage on an image-folder archive made here (no download, no DVC)."""

import json
import subprocess
import sys
import zipfile
from io import BytesIO

import numpy as np
import yaml
from conftest import ROOT
from PIL import Image


def _zip_dataset(path, classes=4, train=30, test=10):
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(path, "w") as z:
        for split, n in (("train", train), ("test", test)):
            for c in range(classes):
                for i in range(n):
                    img = Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8))
                    buf = BytesIO()
                    img.save(buf, format="PNG")
                    z.writestr(f"{split}/class{c}/{i:03d}.png", buf.getvalue())


def _prepare(tmp_path, raw_params):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw_params))
    return subprocess.run(
        [sys.executable, str(ROOT / "stages/prepare.py")], cwd=tmp_path, capture_output=True, text=True
    )


def test_prepare_imagefolder_zip(tmp_path, raw_params):
    _zip_dataset(tmp_path / "images.zip")
    raw_params["data"].update(name="imagefolder", path="images.zip", target_size=40, shadow_size=30, val_size=8)
    raw_params["shadow"]["ids"] = [0, 1]
    proc = _prepare(tmp_path, raw_params)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "data/prepared"
    meta = json.loads((out / "meta.json").read_text())
    assert meta["num_classes"] == 4 and meta["channels"] == 3 and meta["image_size"] == 12
    target = np.load(out / "target.npz")
    assert len(target["members_idx"]) == len(target["nonmembers_idx"]) == 40
    assert np.bincount(target["members_y"]).tolist() == [10, 10, 10, 10]
    used = np.concatenate([target["members_idx"], target["nonmembers_idx"], target["val_idx"]])
    for s in (0, 1):
        shadow = np.load(out / f"shadow-{s}.npz")
        assert not np.intersect1d(used, np.r_[shadow["members_idx"], shadow["nonmembers_idx"]]).size


def test_prepare_class_subset_and_errors(tmp_path, raw_params):
    _zip_dataset(tmp_path / "images.zip")
    raw_params["data"].update(name="imagefolder", path="images.zip", target_size=20, shadow_size=10, val_size=4, classes=[1, 3])
    assert _prepare(tmp_path, raw_params).returncode == 0
    meta = json.loads((tmp_path / "data/prepared/meta.json").read_text())
    assert meta["classes"] == ["class1", "class3"] and meta["num_classes"] == 2

    raw_params["data"]["classes"] = [0, 9]
    proc = _prepare(tmp_path, raw_params)
    assert proc.returncode == 1 and "data.classes" in proc.stderr and proc.stderr.count("\n") == 1
    raw_params["data"].update(classes=None, target_size=500)
    proc = _prepare(tmp_path, raw_params)
    assert proc.returncode == 1 and "data.target_size" in proc.stderr
    assert json.loads((tmp_path / "data/prepared/meta.json").read_text())["num_classes"] == 2  # untouched
