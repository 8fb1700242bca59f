import subprocess
import sys

import pytest
import yaml
from conftest import ROOT

from ticketleak.core import params, schema
from ticketleak.core.params import ParamsError


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


def test_the_gpu_check_params_are_valid():
    """benchmarks/gpu_check/params.yaml replaces params.yaml on the GPU machine: it must pass the
    same schema (it had fallen behind three keys), with the one training seed its script runs."""
    p = params.validate(params.read_yaml(ROOT / "benchmarks/gpu_check/params.yaml"))
    assert p.seeds == [0] and p.model.arch == "resnet18"
    assert "--seed 0 --defense" in (ROOT / "benchmarks/gpu_check/run.sh").read_text()


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("data.name", "imagenet9", "data.name"),
        ("model.arch", "alexnet", "model.arch"),
        ("prune.sparsities", [0.5, 1.0], "prune.sparsities"),
        ("prune.sparsities", [-0.1], "prune.sparsities"),
        ("shadow.ids", [], "shadow.ids"),
        ("seeds", [], "seeds: need at least one training seed"),
        ("seeds", [0, 1, 1], "seeds: need distinct non-negative integers"),
        ("seeds", [-1, 2], "seeds: need distinct non-negative integers"),
        ("seeds", 3, "seeds"),
        ("train.epochs", 0, "train.epochs"),
        ("train.epochs", -3, "train.epochs"),
        ("train.epochs", "ten", "train.epochs"),
        ("train.lr", 0, "train.lr"),
        ("train.optimizer", "adagrad", "train.optimizer"),
        ("defense.train", ["l2"], "defense.train"),
        ("defense.train", ["none", "ppb_strong"], "defense.train"),
        ("defense.train", ["none", "topk"], "defense.train"),
        ("defense.release", ["l2"], "defense.release"),
        ("defense.release_variants.topk.k", 0, "defense.release_variants.topk"),
        ("defense.release_variants.topk", {"kind": "l2", "lam": 0.1}, "defense.release_variants.topk"),
        ("defense.variants.l2.lam", -1.0, "defense.variants.l2"),
        ("defense.variants.dpsgd.noise", 0.0, "defense.variants.dpsgd"),
        ("defense.variants.none", {"kind": "l2", "lam": 0.1}, "defense.variants.none"),
        ("defense.variants.l2", {"kind": "l3", "lam": 0.1}, "defense.variants.l2.kind"),
        ("defense.variants.l2", {"kind": "l2"}, "defense.variants.l2.lam"),
        ("model.dropout", 1.0, "model.dropout"),
        ("attack.shokri.classifiers", ["linear_svm"], "attack.shokri.classifiers: must include 'mlp'"),
        ("attack.reference.ids", [0, 1, 2], "attack.reference.ids"),
        ("attack.reference.ids", [1, 2], "attack.reference.ids"),
        ("attack.reference.ids", [0, 1], "attack.reference.ids"),
        ("attack.reference.defenses", ["l2_strong"], "attack.reference.defenses"),
        ("defense.variants.l2-strong", {"kind": "l2", "lam": 0.1}, "defense.variants.l2-strong: a variant name is lower-case"),
        ("defense.variants.Strong", {"kind": "l2", "lam": 0.1}, "defense.variants.Strong: a variant name is lower-case"),
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
    raw_params["defense"]["variants"]["l2"]["lam"] = "1e-2"  # PyYAML reads 1e-2 as a string
    p = params.validate(raw_params)
    assert p.train.lr == 1.0 and p.defense.variants["l2"].lam == 0.01


def test_partial_load_guards_undeclared_keys(raw_params):
    declared = {"train": raw_params["train"], "defense": {"variants": {"l2": raw_params["defense"]["variants"]["l2"]}}}
    p = schema.build(params.Params, declared, "", partial=True)
    assert p.train.epochs == raw_params["train"]["epochs"]
    assert p.defense.variants["l2"].lam == raw_params["defense"]["variants"]["l2"]["lam"]
    assert set(p.defense.variants) == {"l2"}  # only the declared variant is loaded
    with pytest.raises(ParamsError, match="reads 'model' but does not declare it"):
        _ = p.model
    with pytest.raises(ParamsError, match="reads 'defense.train'"):
        _ = p.defense.train


def test_a_stage_loads_exactly_the_keys_its_dvc_yaml_entry_declares(raw_params, tmp_path, monkeypatch):
    """Inside a stage (``$DVC_STAGE``), load() resolves that one matrix member's params, ``${item.*}``
    included, and guards every other key; a whole-file entry loads everything."""
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw_params))
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {
        "fit": {"matrix": {"seed": "${seeds}", "defense": ["none", "l2"]}, "cmd": "true",
                "params": ["train", "defense.variants.${item.defense}"]},
        "check": {"cmd": "true", "params": [{"params.yaml": None}]},
    }}, sort_keys=False))  # the matrix order names the members
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DVC_STAGE", "fit@0-l2")
    assert params.declared_keys("fit@0-l2") == ["train", "defense.variants.l2"]
    p = params.load()
    assert p.train.epochs == raw_params["train"]["epochs"]
    assert set(p.defense.variants) == {"l2"}
    with pytest.raises(ParamsError, match="reads 'model' but does not declare it"):
        _ = p.model
    assert params.declared_keys("check") is None
    assert params.load(stage="check").model.arch == raw_params["model"]["arch"]
    with pytest.raises(ParamsError, match="stage 'fit@9-l2': cannot resolve its params"):
        params.load(stage="fit@9-l2")
    del raw_params["defense"]["variants"]["l2"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw_params))
    with pytest.raises(ParamsError, match="declares params key 'defense.variants.l2', which params.yaml lacks"):
        params.load(stage="fit@0-l2")


def test_a_variant_may_be_named_after_a_folder_of_the_layout(raw_params):
    raw_params["defense"]["variants"]["reference"] = {"kind": "l2", "lam": 0.1}  # reference models live apart
    raw_params["defense"]["train"] = ["none", "reference"]
    assert params.validate(raw_params).defense.variants["reference"].lam == 0.1


def test_strength_sweeps_are_named_variants(raw_params):
    raw_params["defense"]["variants"]["l2_strong"] = {"kind": "l2", "lam": 0.1}
    raw_params["defense"]["train"] = ["none", "l2", "l2_strong"]
    p = params.validate(raw_params)
    assert p.defense.variants["l2_strong"].kind == "l2" and p.defense.variants["l2_strong"].lam == 0.1
    raw_params["defense"]["variants"]["l2_strong"]["lamda"] = 1
    with pytest.raises(ParamsError, match="did you mean 'defense.variants.l2_strong.lam'"):
        params.validate(raw_params)


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
