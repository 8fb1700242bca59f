"""Tabular data: a user's CSV/TSV/NPZ table and the published Purchase-100, Texas-100 and Location
files (made here, small), loaded as float records of shape (N, D, 1, 1), checked in params, and
trained on by the MLP and a user's own model; image-only settings refused in one line."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np
import pytest

import ticketleak_studies as st
from conftest import ROOT
from ticketleak.core import params
from ticketleak.datasets import DatasetError, is_tabular, load_pool
from ticketleak.core.schema import ParamsError
from ticketleak_studies import StudyError, imports

PUBLISHED = {"purchase100": (600, 100), "texas100": (6169, 100), "location": (446, 30)}


def _records(n: int, d: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Binary features and 1-based labels covering every class."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 2, (n, d)), np.arange(n) % k + 1


# ---------------------------------------------------------------------------------------------
# A user's own table


def test_csv_is_read_as_float_records_with_sorted_classes(tmp_path: Path) -> None:
    path = tmp_path / "patients.csv"
    path.write_text("age,outcome,dose\n61,recovered,2.5\n48,died,0.25\n70,recovered,1\n")
    pool = load_pool("tabular", path=str(path), label="outcome")
    assert pool.x.shape == (3, 2, 1, 1) and pool.x.dtype == np.float32
    np.testing.assert_array_equal(pool.x[:, :, 0, 0], [[61, 2.5], [48, 0.25], [70, 1]])
    assert pool.classes == ("died", "recovered")
    assert pool.y.tolist() == [1, 0, 1] and pool.y.dtype == np.int64


def test_integer_labels_sort_as_numbers_and_tsv_gz_is_read(tmp_path: Path) -> None:
    path = tmp_path / "t.tsv.gz"
    with gzip.open(path, "wt") as f:
        f.write("label\tf\n10\t0\n2\t1\n10\t2\n")
    pool = load_pool("tabular", path=str(path))
    assert pool.classes == ("2", "10") and pool.y.tolist() == [1, 0, 1]


@pytest.mark.parametrize("labels", ["onehot", "values"])
def test_npz_with_values_or_one_hot_labels(tmp_path: Path, labels: str) -> None:
    x = np.arange(12, dtype=np.float64).reshape(4, 3) / 7
    y = np.array([2, 0, 1, 2])
    stored = np.eye(3, dtype=np.uint8)[y] if labels == "onehot" else y
    np.savez(tmp_path / "t.npz", features=x, labels=stored)
    pool = load_pool("tabular", path=str(tmp_path / "t.npz"))
    np.testing.assert_allclose(pool.x[:, :, 0, 0], x.astype(np.float32))
    assert pool.y.tolist() == [2, 0, 1, 2] and len(pool.classes) == 3
    if labels == "onehot":  # a column without records is still a class
        np.savez(tmp_path / "t.npz", features=x, labels=np.eye(5, dtype=np.uint8)[y])
        assert len(load_pool("tabular", path=str(tmp_path / "t.npz")).classes) == 5


@pytest.mark.parametrize("name, text, label, message", [
    ("a.csv", "f,label\n1,a\nx,b\n", "label", "a.csv, line 3: feature 'f' is 'x', not a number"),
    ("a.csv", "f,g\n1,2\n", "label", "no label column 'label' (data.label); its columns are f, g"),
    ("a.csv", "f,label\n1,a\n2\n", "label", "a.csv, line 3: 1 values for 2 columns"),
    ("a.csv", "f,label\nnan,a\n", "label", "feature 0 of record 0 is"),
    ("a.csv", "label\na\n", "label", "its only column; there are no features"),
    ("a.csv", "", "label", "a.csv is empty"),
    ("a.json", "{}", "label", "is not a .csv, .tsv (optionally .gz) or .npz file"),
])
def test_bad_tables_fail_in_one_line(tmp_path: Path, name: str, text: str, label: str, message: str) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(DatasetError) as err:
        load_pool("tabular", path=str(tmp_path / name), label=label)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_npz_without_the_arrays_names_what_it_holds(tmp_path: Path) -> None:
    np.savez(tmp_path / "t.npz", inputs=np.zeros((2, 2)))
    with pytest.raises(DatasetError, match=r"needs a feature array \(x or features\).*it holds inputs"):
        load_pool("tabular", path=str(tmp_path / "t.npz"))


def test_missing_table_names_the_resolved_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetError, match=re.escape(f"looked for {tmp_path / 'gone.csv'}")):
        load_pool("tabular", path="gone.csv")
    with pytest.raises(DatasetError, match="needs data.path"):
        load_pool("tabular")


# ---------------------------------------------------------------------------------------------
# The published datasets, in their published layouts


def _write_published(root: Path, name: str, layout: str, n: int = 120) -> tuple[np.ndarray, np.ndarray]:
    d, k = PUBLISHED[name]
    x, y = _records(n, d, k)
    folder = root / name
    if layout == "label_first":
        folder.mkdir(parents=True)
        lines = [",".join([f'"{label}"' if name == "location" else str(label), *map(str, row)]) for label, row in zip(y, x)]
        (folder / ("dataset_purchase" if name == "purchase100" else "bangkok")).write_text("\n".join(lines) + "\n")
    elif layout == "feats_labels":
        (folder / "texas" / "100").mkdir(parents=True)
        np.savetxt(folder / "texas" / "100" / "feats", x, fmt="%d", delimiter=",")
        np.savetxt(folder / "texas" / "100" / "labels", y, fmt="%d")
    else:
        folder.mkdir(parents=True)
        np.savez(folder / {"purchase100": "purchase100.npz", "texas100": "texas100.npz",
                           "location": "data_complete.npz"}[name], x=x, y=y)
    return x, y


@pytest.mark.parametrize("name, layout", [
    ("purchase100", "label_first"), ("purchase100", "npz"), ("texas100", "feats_labels"),
    ("texas100", "npz"), ("location", "label_first"), ("location", "npz"),
])
def test_published_layouts_load_with_one_based_labels(tmp_path: Path, name: str, layout: str) -> None:
    x, y = _write_published(tmp_path, name, layout)
    pool = load_pool(name, root=str(tmp_path))
    d, k = PUBLISHED[name]
    assert pool.x.shape == (len(x), d, 1, 1) and pool.x.dtype == np.float32
    np.testing.assert_array_equal(pool.x[:, :, 0, 0], x)
    assert pool.y.tolist() == (y - 1).tolist()
    assert pool.classes == tuple(str(c) for c in range(1, k + 1))
    assert is_tabular(name)


def test_a_class_without_records_keeps_every_other_label(tmp_path: Path) -> None:
    """Published labels are 1..K whichever classes a file holds: a file without class 1 must not
    shift the others down (a bug the all-classes files above could not show)."""
    folder = tmp_path / "location"
    folder.mkdir()
    rows = [",".join([str(label), *["0"] * 446]) for label in (2, 30, 2)]
    (folder / "bangkok").write_text("\n".join(rows) + "\n")
    pool = load_pool("location", root=str(tmp_path))
    assert pool.y.tolist() == [1, 29, 1] and len(pool.classes) == 30


def test_absent_published_data_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as err:
        load_pool("texas100", root=str(tmp_path))
    assert f"no data in {tmp_path / 'texas100'}" in str(err.value)
    assert "texas/100/feats + texas/100/labels" in str(err.value) and "\n" not in str(err.value)


def test_published_data_of_the_wrong_width_or_labels_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "location"
    folder.mkdir()
    (folder / "bangkok").write_text("1,0,1,0\n")
    with pytest.raises(DatasetError, match="has 3 features per record; expected 446"):
        load_pool("location", root=str(tmp_path))
    (folder / "bangkok").write_text("31," + ",".join(["0"] * 446) + "\n")
    with pytest.raises(DatasetError, match="labels in .* run from 31 to 31; expected 1..30"):
        load_pool("location", root=str(tmp_path))


# ---------------------------------------------------------------------------------------------
# Params: tabular records take the MLP or a user's own model, and no image-only settings


@pytest.mark.parametrize("key, value, message", [
    ("model.arch", "cnn", "model.arch: 'cnn' takes images, but data.name 'purchase100' holds tabular records"),
    ("train.augment", True, "train.augment: random crops and flips are for images"),
    ("attack.reference.mirror", True, "attack.reference.mirror: the mirror query flips images"),
])
def test_image_settings_on_tabular_data_fail_in_one_line(raw_params: dict, key: str, value, message: str) -> None:
    raw_params["data"]["name"] = "purchase100"
    raw_params["model"]["arch"] = "mlp"
    section, field = key.rsplit(".", 1)
    node = raw_params
    for k in section.split("."):
        node = node[k]
    node[field] = value
    with pytest.raises(ParamsError) as err:
        params.validate(raw_params)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_tabular_params_with_the_mlp_validate(raw_params: dict) -> None:
    raw_params["data"].update(name="tabular", path="data/external/table.csv", label="outcome")
    raw_params["model"]["arch"] = "mlp"
    p = params.validate(raw_params)
    assert p.data.label == "outcome" and p.model.arch == "mlp"
    raw_params["data"]["label"] = " "
    with pytest.raises(ParamsError, match="data.label: must name the label column"):
        params.validate(raw_params)


# ---------------------------------------------------------------------------------------------
# Models: the MLP trains on records; image architectures refuse 1x1 inputs


def test_mlp_learns_tabular_records_and_image_models_refuse_them() -> None:
    torch = pytest.importorskip("torch")
    from ticketleak.models import build_model
    from ticketleak.training import Recipe, fit, seed_everything, to_tensor

    rng = np.random.default_rng(0)
    y = np.arange(200) % 2
    raw = (rng.normal(0, 1, (200, 5)) + 3 * y[:, None] * np.array([1, 0, 0, 0, 0]) + 100).astype(np.float32)
    x = to_tensor(raw[:, :, None, None], raw.mean(0).tolist(), raw.std(0).tolist())
    assert abs(float(x.mean())) < 1e-4  # float records are standardised as they are, not divided by 255
    model = build_model("mlp", 5, 2, 1)
    labels = torch.from_numpy(y)
    fit(model, (x, labels), (x, labels), Recipe("adam", 1e-2, 0.9, 0.0, 30, 32, "constant", False),
        seed_everything(0), torch.device("cpu"))
    model.eval()
    with torch.no_grad():
        accuracy = float((model(x).argmax(1) == labels).float().mean())
    assert accuracy > 0.9
    with pytest.raises(ValueError, match="arch 'cnn' takes images of at least 4x4, got 1x1"):
        build_model("cnn", 5, 2, 1)


# ---------------------------------------------------------------------------------------------
# Seed 002's tabular rows


@pytest.mark.parametrize("name", ["purchase100", "texas100", "location"])
def test_seed002_tabular_rows_run_the_mlp_without_slimming(raw_params: dict, name: str) -> None:
    study = st.load_study("seed002", ROOT)
    st.check_study(study, st.clean_baseline(raw_params, None, st.study_keys(study)))
    commands = st.build_commands(study, "cpu", name, raw_params)
    assert [c.run for c in commands] == ["methods", "defenses"]
    for c in commands:
        settings = dict(c.settings)
        assert settings["data.name"] == name and settings["model.arch"] == "mlp"
        assert "slimming" not in settings["prune.methods"]
    assert dict(commands[0].settings)["prune.methods"] == ["finetune_l1", "filter_l1", "filter_l2"]


def test_study_run_stops_before_any_run_when_published_files_are_absent(tmp_path: Path, raw_params: dict) -> None:
    study = st.load_study("seed002", ROOT)
    commands = st.build_commands(study, "cpu", "location", raw_params)
    with pytest.raises(StudyError) as err:
        imports.check_in_place(commands, raw_params, tmp_path)
    assert str(err.value).startswith("run seed002-location-methods: dataset location: no data in ")
    assert str(tmp_path / "data/raw/location") in str(err.value)
    _write_published(tmp_path / "data" / "raw", "location", "npz")
    imports.check_in_place(commands, raw_params, tmp_path)  # present: no error
    imports.check_in_place(st.build_commands(study, "cpu", "digits", raw_params), raw_params, tmp_path)


def test_own_model_gets_the_record_shape(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    from ticketleak.models import build_model

    (tmp_path / "tabular_models.py").write_text(
        "from torch import nn\n\n"
        "def wide(input_shape, num_classes):\n"
        "    assert input_shape[1:] == (1, 1), input_shape\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(input_shape[0], 64), nn.ReLU(), nn.Linear(64, num_classes))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    model = build_model("tabular_models:wide", 600, 100, 1)
    assert model(torch.zeros(3, 600, 1, 1)).shape == (3, 100)
