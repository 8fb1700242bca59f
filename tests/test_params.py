import subprocess
import sys

import pytest
import yaml

from ticketleak import params
from ticketleak.params import ParamsError

from conftest import ROOT


def test_default_params_are_valid(raw_params):
    p = params.validate(raw_params)
    assert p.data.name == "digits"
    assert p.model.arch == "cnn"
    assert p.shadow.ids and all(0 <= s < 1 for s in p.prune.sparsities)


def _set(raw, dotted, value):
    *path, last = dotted.split(".")
    node = raw
    for key in path:
        node = node[key]
    node[last] = value


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("data.name", "imagenet9", "data.name"),
        ("model.arch", "alexnet", "model.arch"),
        ("prune.sparsities", [0.5, 1.0], "prune.sparsities"),
        ("prune.sparsities", [-0.1], "prune.sparsities"),
        ("shadow.ids", [], "shadow.ids"),
        ("train.epochs", 0, "train.epochs"),
        ("train.epochs", -3, "train.epochs"),
        ("train.epochs", "ten", "train.epochs"),
        ("train.lr", 0, "train.lr"),
        ("train.optimizer", "adagrad", "train.optimizer"),
        ("defense.train", ["l2"], "defense.train"),
        ("defense.train", ["none", "ppb"], "defense.train"),
        ("defense.topk.k", 0, "defense.topk.k"),
        ("model.dropout", 1.0, "model.dropout"),
    ],
)
def test_bad_values_name_the_key(raw_params, key, value, expected):
    _set(raw_params, key, value)
    with pytest.raises(ParamsError) as err:
        params.validate(raw_params)
    message = str(err.value)
    assert expected in message and "\n" not in message


def test_misspelt_key_suggests_the_right_one(raw_params):
    raw_params["train"]["epoch"] = 3
    with pytest.raises(ParamsError, match=r"unknown key 'train.epoch' \(did you mean 'train.epochs'\?\)"):
        params.validate(raw_params)


def test_unknown_section_and_missing_key(raw_params):
    raw_params["trian"] = {}
    with pytest.raises(ParamsError, match="unknown key 'trian'"):
        params.validate(raw_params)
    del raw_params["trian"]
    del raw_params["train"]["lr"]
    with pytest.raises(ParamsError, match="missing key 'train.lr'"):
        params.validate(raw_params)


def test_int_accepted_for_float_and_scientific_strings(raw_params):
    raw_params["train"]["lr"] = 1
    raw_params["defense"]["l2"]["lam"] = "1e-2"  # PyYAML reads 1e-2 as a string
    p = params.validate(raw_params)
    assert p.train.lr == 1.0 and p.defense.l2.lam == 0.01


def test_partial_load_guards_undeclared_keys(raw_params):
    declared = {"train": raw_params["train"], "defense": {"l2": raw_params["defense"]["l2"]}}
    p = params._build(params.Params, declared, "", partial=True)
    assert p.train.epochs == raw_params["train"]["epochs"]
    assert p.defense.l2.lam == raw_params["defense"]["l2"]["lam"]
    with pytest.raises(ParamsError, match="reads 'model' but does not declare it"):
        _ = p.model
    with pytest.raises(ParamsError, match="reads 'defense.dropout'"):
        _ = p.defense.dropout


def test_validate_stage_fails_with_one_line(tmp_path, raw_params):
    raw_params["data"]["name"] = "nope"
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(raw_params))
    out = tmp_path / "ok"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "stages/validate.py"), "--params", str(bad), "--out", str(out)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "data.name" in proc.stderr
    assert not out.exists()
