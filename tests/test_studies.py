"""Seed studies (ticketleak_studies/, stages/study.py): presets, commands, gathering, reports.

Everything here is synthetic: no test runs DVC or the pipeline. `dvc exp show` and `git show`
are replaced by canned outputs where the gathering path is exercised.
"""

import copy
import io
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from conftest import ROOT

import ticketleak_studies as st
from ticketleak_studies import verdicts
from ticketleak_studies import StudyError

PRESETS = st.available(ROOT)


# ---- presets --------------------------------------------------------------------------------


def test_the_four_seed_presets_exist():
    assert PRESETS == ["seed000", "seed002", "seed003", "seed004"]


@pytest.mark.parametrize("name", PRESETS)
def test_preset_loads_and_every_key_validates(name, raw_params):
    study = st.load_study(name, ROOT)
    for key in st.study_keys(study):
        st.check_key(key)
    st.check_study(study, st.clean_baseline(raw_params, None, st.study_keys(study)))
    assert study.reference and study.reproduces and study.cannot_match
    assert {"digits", "cifar10"} <= set(study.datasets("cpu"))
    assert set(study.datasets("cpu")) - {"digits", "cifar10"} == ({"purchase100", "texas100", "location"} if name == "seed002" else set())
    assert study.datasets("paper")


@pytest.mark.parametrize("name", PRESETS)
def test_cpu_cifar10_uses_the_jpeg_copy(name, raw_params):
    study = st.load_study(name, ROOT)
    for run in study.runs_at("cpu"):
        p = st.resolve(study, "cpu", "cifar10", run, raw_params)
        assert p["data"]["name"] == "imagefolder" and p["data"]["path"] == "data/external/cifar10-jpeg.zip"
        # brought in from the copy beside the repository (there only on some machines; not checked here)
        assert study.imports == {"data/external/cifar10-jpeg.zip": "../shared/data/cifar10-jpeg.zip"}
        digits = st.resolve(study, "cpu", "digits", run, raw_params)
        assert digits["data"]["name"] == "digits"


def test_seed004_cifar10_follows_the_seed_recipe(raw_params):
    study = st.load_study("seed004", ROOT)
    p = st.resolve(study, "cpu", "cifar10", study.run("lam1e-2"), raw_params)
    assert (p["model"]["arch"], p["train"]["optimizer"], p["train"]["lr"], p["train"]["batch_size"]) == ("lenet5", "adam", 0.001, 128)
    assert p["defense"]["variants"]["l2"]["lam"] == 0.01


def _digits_fit(p: dict) -> bool:
    """Digits has about 174 samples per class: target (2T + V) then each shadow (2S + V) must fit."""
    d = p["data"]
    k = len(d["classes"]) if d["classes"] else 10
    per_class = lambda n: -(-n // k)  # noqa: E731
    target = 2 * per_class(d["target_size"]) + per_class(d["val_size"])
    shadow = 2 * per_class(d["shadow_size"]) + per_class(d["val_size"])
    return target <= 174 and shadow <= 174 - target


@pytest.mark.parametrize("name", PRESETS)
def test_digits_runs_fit_the_1797_samples(name, raw_params):
    study = st.load_study(name, ROOT)
    for run in study.runs_at("cpu"):
        assert _digits_fit(st.resolve(study, "cpu", "digits", run, raw_params)), run.name


# ---- one-line errors ------------------------------------------------------------------------


def test_unknown_study_is_one_line_naming_it():
    with pytest.raises(StudyError) as err:
        st.load_study("seed999", ROOT)
    msg = str(err.value)
    assert "\n" not in msg and "unknown study 'seed999'" in msg and "seed000" in msg


def _write_study(root: Path, name: str, body: dict) -> None:
    (root / "studies").mkdir(exist_ok=True)
    (root / "studies" / f"{name}.yaml").write_text(yaml.safe_dump(body, sort_keys=False))


def _toy(**changes) -> dict:
    body = {
        "title": "toy", "seed": "../shared/seeds/x.txt", "cites": "toy", "reproduces": ["t"], "cannot_match": ["c"],
        "base": {"prune.sparsities": [0.5, 0.8], "data.target_size": 100},
        "datasets": {"digits": {}, "cifar10": {"data.name": "imagefolder", "data.path": "../shared/data/cifar10-jpeg.zip"}},
        "paper": {"cifar10": {"data.name": "cifar10", "model.arch": "resnet18"}},
        "runs": [{"name": "base"}, {"name": "small", "set": {"data.target_size": 50}, "scales": ["cpu"]}],
        "report": {"kind": "shadow", "base_run": "base"},
        "reference": {},
    }
    body.update(changes)
    return body


def _error(tmp_path: Path, raw: dict, body: dict) -> str:
    _write_study(tmp_path, "toy", body)
    with pytest.raises(StudyError) as err:
        st.check_study(st.load_study("toy", tmp_path), raw)
    msg = str(err.value)
    assert "\n" not in msg
    return msg


def test_misspelt_key_names_it_and_its_neighbour(tmp_path, raw_params):
    msg = _error(tmp_path, raw_params, _toy(base={"data.nme": "digits"}))
    assert "studies/toy.yaml" in msg and "unknown params key 'data.nme'" in msg and "did you mean 'data.name'" in msg


def test_bad_value_names_the_run_and_key(tmp_path, raw_params):
    runs = [{"name": "base", "set": {"shadow.ids": []}}]
    msg = _error(tmp_path, raw_params, _toy(runs=runs))
    assert "run 'base'" in msg and "shadow.ids" in msg


def test_key_below_a_value_is_rejected(tmp_path, raw_params):
    msg = _error(tmp_path, raw_params, _toy(base={"train.epochs.max": 3}))
    assert "train.epochs.max" in msg and "not a section" in msg


def test_new_defense_variant_is_a_valid_key(tmp_path, raw_params):
    _write_study(tmp_path, "toy", _toy(base={"defense.variants.l2_strong": {"kind": "l2", "lam": 0.1}, "defense.train": ["none", "l2_strong"]}))
    st.check_study(st.load_study("toy", tmp_path), raw_params)


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"titel": "x"}, "unknown field 'titel' (did you mean 'title'?)"),
        ({"runs": [{"name": "base", "sett": {}}]}, "unknown field 'sett'"),
        ({"runs": [{"name": "base", "datasets": {"svhn": {}}}]}, "'svhn' is not a dataset of the study"),
        ({"runs": [{"name": "a b"}]}, "run name 'a b'"),
        ({"runs": [{"name": "x"}, {"name": "x"}]}, "duplicate run names"),
        ({"report": {"kind": "nope"}}, "report.kind"),
        ({"report": {"kind": "shadow", "base_run": "missing"}}, "report.base_run: 'missing' is not a run"),
    ],
)
def test_structural_errors_are_one_line(tmp_path, change, expected):
    body = _toy(**{k: v for k, v in change.items() if k != "titel"})
    if "titel" in change:
        body["titel"] = change["titel"]
    _write_study(tmp_path, "toy", body)
    with pytest.raises(StudyError) as err:
        st.load_study("toy", tmp_path)
    assert expected in str(err.value) and "\n" not in str(err.value)


# ---- commands -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, text",
    [
        (None, "null"), (True, "true"), (3, "3"), (0.001, "0.001"), (1e-5, "0.00001"), (2.0, "2.0"),
        ("digits", "digits"), ("../shared/data/cifar10-jpeg.zip", "../shared/data/cifar10-jpeg.zip"),
        ("null", '"null"'), ("1e-3", '"1e-3"'), ("a b", '"a b"'),
        ([0.5, 0.8], "[0.5,0.8]"), ([], "[]"), (["none", "l2"], "[none,l2]"),
        ({"kind": "l2", "lam": 0.1}, "{kind:l2,lam:0.1}"),
    ],
)
def test_hydra_value(value, text):
    assert st.hydra_value(value) == text


def test_commands_set_the_whole_study_key_set_exactly(tmp_path, raw_params):
    _write_study(tmp_path, "toy", _toy())
    study = st.load_study("toy", tmp_path)
    keys = ["prune.sparsities", "data.target_size", "data.name", "data.path", "model.arch"]
    assert st.study_keys(study) == keys
    cmds = st.build_commands(study, "cpu", "digits", raw_params)
    assert [c.shell() for c in cmds] == [
        "dvc exp run -n toy-digits-base -S 'prune.sparsities=[0.5,0.8]' -S data.target_size=100 -S data.name=digits"
        " -S data.path=null -S model.arch=cnn",
        "dvc exp run -n toy-digits-small -S 'prune.sparsities=[0.5,0.8]' -S data.target_size=50 -S data.name=digits"
        " -S data.path=null -S model.arch=cnn",
    ]
    (paper,) = st.build_commands(study, "paper", "cifar10", raw_params)
    assert paper.exp == "toy-cifar10-paper-base"
    assert paper.shell(force=True).startswith("dvc exp run -n toy-cifar10-paper-base -f -S")
    assert "-S data.name=cifar10 -S data.path=null -S model.arch=resnet18" in paper.shell()
    assert st.build_commands(study, "cpu", "cifar10", raw_params, only=["small"])[0].argv()[-6:] == [
        "-S", "data.name=imagefolder", "-S", "data.path=../shared/data/cifar10-jpeg.zip", "-S", "model.arch=cnn"]
    with pytest.raises(StudyError, match="no run 'nope'"):
        st.build_commands(study, "cpu", "digits", raw_params, only=["nope"])


def test_keys_new_to_params_are_appended_with_plus_plus(tmp_path, raw_params):
    _write_study(tmp_path, "toy", _toy(base={"defense.variants.l2_e1": {"kind": "l2", "lam": 0.1}, "defense.train": ["none", "l2_e1"]}))
    (cmd, _) = st.build_commands(st.load_study("toy", tmp_path), "cpu", "digits", raw_params)
    assert "-S '++defense.variants.l2_e1={kind:l2,lam:0.1}' -S 'defense.train=[none,l2_e1]'" in cmd.shell()


def test_clean_baseline_and_stray_keys(raw_params):
    head = copy.deepcopy(raw_params)
    workspace = copy.deepcopy(raw_params)
    workspace["data"]["classes"] = [0, 1]  # left by an earlier experiment of the study
    workspace["model"]["arch"] = "mlp"  # left by another study
    clean = st.clean_baseline(workspace, head, ["data.classes"])
    assert clean["data"]["classes"] is None and clean["model"]["arch"] == "mlp"
    assert st.stray_keys(workspace, head, ["data.classes"]) == ["model.arch"]
    assert st.stray_keys(workspace, head, ["data", "model"]) == []


def test_cli_dry_run_and_one_line_error():
    run = [sys.executable, str(ROOT / "stages" / "study.py"), "run"]
    ok = subprocess.run(run + ["seed003", "--dataset", "digits", "--dry-run"], cwd=ROOT, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    lines = ok.stdout.strip().splitlines()
    assert [line.split()[4] for line in lines] == ["seed003-digits-base", "seed003-digits-data_x2", "seed003-digits-five_classes"]
    bad = subprocess.run(run + ["seed999", "--dataset", "digits"], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "unknown study 'seed999'" in bad.stderr


# ---- gathering ------------------------------------------------------------------------------


def _exp(name, rev, ts, executor=None, error=None):
    data = None if error else {"rev": rev, "timestamp": ts, "params": {}, "metrics": {}}
    return {"revs": [{"rev": rev, "name": name, "data": data, "error": error, "experiments": None}], "executor": executor, "name": name}


EXP_SHOW = json.dumps([
    {"rev": "workspace", "name": None, "data": {"rev": "workspace", "timestamp": None}, "error": None, "experiments": None},
    {"rev": "a" * 40, "name": "main", "data": {"rev": "a" * 40, "timestamp": "2026-01-02T00:00:00"}, "error": None, "experiments": [
        _exp("seed003-digits-base", "b" * 40, "2026-01-02T10:00:00"),
        _exp("seed003-digits-data_x2", "c" * 40, "2026-01-02T11:00:00", executor="workspace"),  # still running
        _exp("seed003-digits-five_classes", "d" * 40, "2026-01-02T12:00:00", error={"msg": "failed"}),
        _exp("seed004-digits-lam1e-2", "2" * 40, "2026-01-02T13:00:00",  # finished in the queue
             executor={"state": "success", "name": "dvc-task", "local": {"returncode": 0}}),
        _exp("seed004-digits-lam1e-1", "3" * 40, "2026-01-02T14:00:00", executor={"state": "running", "name": "dvc-task"}),
    ]},
    {"rev": "e" * 40, "name": None, "data": {"rev": "e" * 40, "timestamp": "2026-01-01T00:00:00"}, "error": None, "experiments": [
        _exp("seed003-digits-base", "f" * 40, "2026-01-01T10:00:00"),  # older run of the same name
        _exp("seed003-digits-data_x2", "1" * 40, "2026-01-01T11:00:00"),
    ]},
])


def test_parse_exp_show_picks_finished_newest_runs():
    refs = st.parse_exp_show(EXP_SHOW)
    assert refs["seed003-digits-base"].rev == "b" * 40 and refs["seed003-digits-base"].baseline == "a" * 40
    assert refs["seed003-digits-data_x2"].rev == "1" * 40  # the running one is skipped
    assert "seed003-digits-five_classes" not in refs
    assert refs["seed004-digits-lam1e-2"].rev == "2" * 40  # `dvc queue start` ran it to the end
    assert "seed004-digits-lam1e-1" not in refs  # still running in the queue
    with pytest.raises(StudyError, match="not JSON"):
        st.parse_exp_show("ERROR: no")


class FakeGit:
    """Stands in for subprocess.run: `dvc exp show --json -A` and `git show <rev>:<path>`."""

    def __init__(self, files: dict[str, dict[str, object]], show: str = EXP_SHOW, show_rc: int = 0):
        self.files, self.show, self.show_rc, self.calls = files, show, show_rc, []

    def __call__(self, cmd, **kwargs):
        self.calls.append(cmd)
        if cmd[1:3] == ["exp", "show"]:
            return SimpleNamespace(returncode=self.show_rc, stdout=self.show, stderr="ERROR: boom\n")
        if cmd[:2] == ["git", "show"]:
            rev, _, path = cmd[2].partition(":")
            value = self.files.get(rev, {}).get(path)
            if value is None:
                return SimpleNamespace(returncode=128, stdout=b"", stderr=b"")
            data = value if isinstance(value, bytes) else (value.encode() if isinstance(value, str) else json.dumps(value).encode())
            return SimpleNamespace(returncode=0, stdout=data, stderr=b"")
        if cmd[:2] == ["git", "rev-parse"]:
            return SimpleNamespace(returncode=1, stdout=b"", stderr=b"")
        raise AssertionError(f"unexpected command {cmd}")


def test_gather_reads_each_experiment_commit(monkeypatch, tmp_path, raw_params):
    study = st.load_study("seed003", ROOT)
    params = st.resolve(study, "cpu", "digits", study.run("base"), raw_params)
    assert params["seeds"] == [0, 1, 2]
    per_seed = {f"results/seed-{k}/none/dense.json": {"seed": k, "target": {"train_acc": acc}} for k, acc in enumerate((1.0, 0.8, 0.9))}
    fake = FakeGit({"b" * 40: {"params.yaml": yaml.safe_dump(params), **per_seed}})
    monkeypatch.setattr(subprocess, "run", fake)
    refs = st.parse_exp_show(st.exp_show_json(tmp_path))
    assert fake.calls[0][1:] == ["exp", "show", "--json", "-A"]
    (tmp_path / "results" / "none").mkdir(parents=True)
    (tmp_path / "results" / "none" / "dense.json").write_text(json.dumps({"target": {"train_acc": 0.5}}))
    g = st.gather(study, "cpu", ["digits"], st.exp_sources(tmp_path, refs, {"digits/five_classes": "workspace"}), {"seed003-digits-base": 61.0})
    base, x2, five = (g.get("digits", r) for r in ("base", "data_x2", "five_classes"))
    assert base.source.label.startswith("exp seed003-digits-base") and base.wall_s == 61.0
    assert base.p("data.target_size") == 175 and base.eval_n == 350 and base.num_classes == 10
    assert base.seeds == [0, 1, 2] and base.target("none", "dense") == {"train_acc": pytest.approx(0.9)}  # mean over seeds
    assert x2.result("none", "dense") is None  # its commit lacks the file
    # the workspace has no params.yaml here: a run from before training seeds, read from the old layout
    assert five.source.label == "workspace" and five.seeds == [0] and five.target("none", "dense") == {"train_acc": 0.5}
    assert g.missing() == [] and [k for k in g.runs] == [("digits", "base"), ("digits", "data_x2"), ("digits", "five_classes")]
    with pytest.raises(StudyError, match="neither an experiment nor a git revision"):
        st.gather(study, "cpu", ["digits"], st.exp_sources(tmp_path, refs, {"digits/base": "nope"}))


def test_exp_show_failure_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setattr(subprocess, "run", FakeGit({}, show_rc=1))
    with pytest.raises(StudyError, match=r"dvc exp show --json failed \(exit 1\): ERROR: boom"):
        st.exp_show_json(tmp_path)


# ---- numbers and verdicts -------------------------------------------------------------------


def test_one_run_is_one_training_seed_and_never_decides():
    # far outside 2 sd, or inside it: one seed is never evidence either way (nor of equality)
    for a, b, expect in ((0.60, 0.50, "higher"), (0.40, 0.50, "higher"), (0.53, 0.50, "equal"), (0.40, 0.50, "lower")):
        assert st.judge(a, b, 0.02, 0.02, expect)[0] == "no evidence either way", (a, b, expect)
    assert st.judge(None, 0.5, None, None, "equal")[0] == "not measured"
    line = verdicts.verdict_line("c", "s", "ours", 0.60, 0.50, 0.02, 0.02, "higher")
    assert line.endswith("difference +0.100, 2 sd = 0.057 (1 training seed: fewer than 3) -> **no evidence either way**")


def _replayed(pairs: list[tuple[float, float]], expect: str, margin: float = 0.02):
    """Judge one call whose three training seeds recorded ``pairs``."""
    with verdicts.replaying([0, 1, 2], [[(a, b, expect)] for a, b in pairs], margin):
        return st.judge(sum(a for a, _ in pairs) / 3, sum(b for _, b in pairs) / 3, 0.02, 0.02, expect)


def test_judge_draws_the_verdict_from_the_recorded_seeds():
    up = _replayed([(0.60, 0.50), (0.62, 0.51), (0.58, 0.50)], "higher")
    assert up.word == "agrees" and up.verdict.n_seeds == 3 and up.verdict.mean == pytest.approx((0.10 + 0.11 + 0.08) / 3)
    assert _replayed([(0.60, 0.50), (0.62, 0.51), (0.58, 0.50)], "lower").word == "disagrees"
    assert _replayed([(0.505, 0.50), (0.496, 0.50), (0.501, 0.50)], "equal").word == "agrees"  # TOST within 0.02
    assert _replayed([(0.55, 0.50), (0.44, 0.50), (0.52, 0.50)], "equal").word == "no evidence either way"
    assert _replayed([(0.55, 0.50), (0.44, 0.50), (0.52, 0.50)], "higher").word == "no evidence either way"
    with verdicts.recording() as calls:
        st.judge(0.6, 0.5, None, None, "higher")
        st.judge(None, 0.5, None, None, "equal")
    assert calls == [(0.6, 0.5, "higher"), (None, 0.5, "equal")]


def test_diff_against_a_value_and_a_range():
    assert st.diff(0.55, 0.5) == pytest.approx(0.05)
    assert st.diff(0.95, [0.94, 0.96]) == 0.0
    assert st.diff(0.90, [0.94, 0.96]) == pytest.approx(-0.04)
    assert st.diff(0.99, [0.94, 0.96]) == pytest.approx(0.03)
    assert st.diff(None, 0.5) is None and st.diff(0.5, None) is None
    assert st.binomial_sd(0.5, 100) == pytest.approx(0.05)


# ---- reports from synthetic results ---------------------------------------------------------


def _verdict(text: str, claim: str) -> str:
    """The computed verdict line of ``claim`` in a report."""
    lines = [line for line in text.splitlines() if line.startswith(f"- {claim}")]
    assert len(lines) == 1, (claim, lines)
    return lines[0]


def _m(acc, precision=0.6, recall=0.9, auc=None, auc_std=0.02):
    return {"accuracy": acc, "precision": precision, "recall": recall, "auc": auc if auc is not None else acc, "auc_std": auc_std, "tpr_at_1pct_fpr": 0.01}


def _source(study, dataset, run, raw_params, files, scale="cpu"):
    """A run's files as the pipeline lays them out: ``files`` are given in one seed's terms
    (``results/none/dense.json``) and written for every training seed of the run (the same
    content, so the means over seeds are the given numbers)."""
    params = st.resolve(study, scale, dataset, study.run(run), raw_params)
    laid = {}
    for path, content in files.items():
        root, rest = path.split("/", 1)
        if root not in ("models", "posteriors", "released", "results"):
            laid[path] = content
            continue
        for k in params["seeds"]:
            if root == "models" and rest.startswith("reference-models/"):
                laid[f"models/reference-models/seed-{k}/{rest.split('/', 1)[1]}"] = content
            else:
                laid[f"{root}/seed-{k}/{rest}"] = content
    return st.MemorySource({"params.yaml": yaml.safe_dump(params), **laid}, label=f"exp {run}")


def _seeded_source(study, dataset, run, raw_params, per_seed: list[dict], scale="cpu"):
    """A run of ``len(per_seed)`` training seeds, seed ``k``'s files given (in one seed's terms)
    by ``per_seed[k]``."""
    params = st.resolve(study, scale, dataset, study.run(run), {**raw_params, "seeds": list(range(len(per_seed)))})
    laid = {}
    for k, files in enumerate(per_seed):
        for path, content in files.items():
            root, rest = path.split("/", 1)
            laid[f"{root}/seed-{k}/{rest}" if root in ("models", "posteriors", "released", "results") else path] = content
    return st.MemorySource({"params.yaml": yaml.safe_dump(params), **laid}, label=f"exp {run}")


def _gathered(study, sources, scale="cpu", datasets=("digits",)):
    return st.gather(study, scale, list(datasets), lambda d, r, n: sources.get((d, r)))


def _seed003_files(none_acc, dropout_acc):
    curve = lambda acc: {str(k): {  # noqa: E731
        "shokri_sorted_linear_svm": {"accuracy": acc + 0.001 * k, "auc": acc, "precision": 0.6, "recall": 0.95},
        "shokri_sorted_logreg": {"accuracy": 0.62, "auc": 0.6, "precision": 0.6, "recall": 0.7},
    } for k in range(1, 10)}
    target = {"train_acc": 1.0, "test_acc": 0.9, "sparsity": 0.0, "parameters": 1000}
    return {
        "results/none/dense.json": {"target": target, "attacks": {"none": {}}, "shadow_curve": curve(none_acc)},
        "results/dropout/dense.json": {"target": target, "attacks": {"none": {}}, "shadow_curve": curve(dropout_acc)},
    }


def test_seed003_report_numbers_differences_and_verdicts(raw_params):
    study = st.load_study("seed003", ROOT)
    g = _gathered(study, {("digits", "base"): _source(study, "digits", "base", raw_params, _seed003_files(0.70, 0.55))})
    text, figures = st.render_report(g)
    # Table 4, k = 2: ours 0.702 against the seed's 0.637; dropout 0.552 against 0.5725
    assert "| 2 | 0.702 | 0.637 | +0.065 | 0.552 | 0.573 | -0.020 |" in text
    assert "dropout lowers the attack accuracy (mean over k) (seed 003, Table 4): ours no dropout 0.705 vs dropout 0.555" in text
    assert _verdict(text, "dropout lowers the attack accuracy").endswith("-> **agrees**")
    # Table 1, linear SVM at k = 6: 0.706 against the seed's 0.6962
    assert "| linear_svm | 0.704 / 0.602 (+0.102) | 0.705 / 0.591 (+0.114) | 0.706 / 0.696 (+0.010) |" in text
    assert "| ours best: linear_svm, k=9 | 0.709 / 0.696 (+0.013) | 0.600 / 0.624 (-0.024) | 0.950 / 0.989 (-0.039) |" in text
    assert "`seed003-digits-data_x2`" in text and "Not found" in text
    assert ("shadow_curve.png" in figures[0][1]) and figures[0][2] == "digits-base-shadow_curve.png"
    close = _gathered(study, {("digits", "base"): _seeded_source(study, "digits", "base", raw_params, [
        _seed003_files(0.60, 0.59), _seed003_files(0.58, 0.60), _seed003_files(0.61, 0.59)])})
    text = st.render_report(close)[0]
    line = _verdict(text, "dropout lowers the attack accuracy")
    assert "difference +0.003 [95% " in line and "over 3 training seeds" in line
    assert line.endswith("-> **no evidence either way**")


def _seed000_files(dense_acc, ticket_acc):
    target = lambda s: {"train_acc": 1.0, "test_acc": 0.95 - s / 10, "sparsity": s, "parameters": 53002}  # noqa: E731
    files = {}
    for level, s, acc in (("dense", 0.0, dense_acc), ("lth_oneshot-0.2", 0.2, dense_acc), ("lth_oneshot-0.5", 0.5, ticket_acc + 0.05),
                          ("lth_oneshot-0.8", 0.8, ticket_acc), ("lth_oneshot-0.9", 0.9, ticket_acc), ("lth_oneshot-0.95", 0.95, ticket_acc)):
        attacks = {"shokri_sorted": _m(acc, precision=0.58), "shokri_sorted_rbf_svm": _m(acc - 0.02), "shokri_sorted_forest": _m(acc - 0.03)}
        files[f"results/none/{level}.json"] = {"target": target(s), "attacks": {"none": attacks},
                                               "shadow_curve": {str(k): {"shokri_sorted": {"accuracy": acc, "auc": acc, "precision": 0.6, "recall": 0.8}} for k in (1, 2, 3, 4)}}
    levels = ["dense", "lth_oneshot-0.8"]
    files["results/none/transfer.json"] = {"levels": levels, "matrix": {"shokri_sorted": {
        s: {t: {"accuracy": 0.6 if s == t else 0.52, "auc": 0.6} for t in levels} for s in levels}}, "blind": {}}
    return files


def test_seed000_rise_then_drop_without_a_clear_drop_is_no_evidence(raw_params):
    """A rise that every seed shows but a drop the seeds disagree on gives "no evidence either
    way", not "disagrees": only a contradicted part contradicts the claim."""
    study = st.load_study("seed000", ROOT)
    per_seed = []
    for last in (0.58, 0.50, 0.52):  # the highest sparsity: above, below and below the peak (0.57 at 0.5)
        files = _seed000_files(0.50, 0.52)
        rec = files["results/none/lth_oneshot-0.95.json"]
        files["results/none/lth_oneshot-0.95.json"] = {**rec, "attacks": {"none": {**rec["attacks"]["none"], "shokri_sorted": _m(last)}}}
        per_seed.append(files)
    g = _gathered(study, {("digits", "base"): _seeded_source(study, "digits", "base", raw_params, per_seed)})
    line = _verdict(st.render_report(g)[0], "attack accuracy rises with sparsity, then drops at very high sparsity (`base`)")
    assert "ours peak 0.570 at sparsity 0.5" in line and "rise agrees" in line and "drop no evidence either way" in line, line
    assert line.endswith("-> **no evidence either way**"), line


def test_seed000_peak_is_chosen_on_the_other_seeds(raw_params):
    """Each seed's noise spike at a different sparsity would each be its own peak (+0.1 over dense
    on every seed: "agrees"); chosen on the other seeds, the peak shows no rise at all."""
    study = st.load_study("seed000", ROOT)
    per_seed = []
    for spike in ("lth_oneshot-0.2", "lth_oneshot-0.5", "lth_oneshot-0.8"):
        files = _seed000_files(0.50, 0.50)
        for level in ("dense", "lth_oneshot-0.2", "lth_oneshot-0.5", "lth_oneshot-0.8", "lth_oneshot-0.9", "lth_oneshot-0.95"):
            rec = files[f"results/none/{level}.json"]
            acc = 0.60 if level == spike else 0.50
            files[f"results/none/{level}.json"] = {**rec, "attacks": {"none": {**rec["attacks"]["none"], "shokri_sorted": _m(acc)}}}
        per_seed.append(files)
    g = _gathered(study, {("digits", "base"): _seeded_source(study, "digits", "base", raw_params, per_seed)})
    line = _verdict(st.render_report(g)[0], "attack accuracy rises with sparsity, then drops at very high sparsity (`base`)")
    assert "rise disagrees" in line and "each seed's peak chosen on the other seeds" in line, line
    assert line.endswith("-> **disagrees**"), line


def test_seed000_report_table1_and_equal_vulnerability_verdict(raw_params):
    study = st.load_study("seed000", ROOT)
    g = _gathered(study, {("digits", "base"): _source(study, "digits", "base", raw_params, _seed000_files(0.55, 0.56))})
    text = st.render_report(g)[0]
    assert "| baseline (dense) | 0.550 (0.019) | 0.503 | +0.047 | 0.580 | 0.570 | +0.010 | 0.550 (0.020) |" in text
    assert "| lottery ticket (lth_oneshot-0.8) | 0.560 (0.019) | 0.504 | +0.056 | 0.580 | 0.590 | -0.010 |" in text
    verdict = _verdict(text, "lottery tickets are as vulnerable as the dense network")
    # the same numbers on each of the 3 seeds: +0.010 every time, inside the 0.02 margin
    assert "ours ticket 0.560 vs dense 0.550 (means over seeds), difference +0.010 [95% +0.010, +0.010] over 3 training seeds" in verdict
    assert verdict.endswith("-> **agrees**")
    assert "the diagonal is the best source for 2 of 2 targets" in text
    assert "| 0.8 | 0.870 | 0.560 (0.019) | 0.940-0.960 | -0.380 |" in text
    assert "ImageNet 100k samples (seed only: not run here)" in text
    far = _gathered(study, {("digits", "base"): _source(study, "digits", "base", raw_params, _seed000_files(0.55, 0.70))})
    verdict = _verdict(st.render_report(far)[0], "lottery tickets are as vulnerable as the dense network")
    assert verdict.endswith("-> **disagrees**")
    noisy = _gathered(study, {("digits", "base"): _seeded_source(study, "digits", "base", raw_params, [
        _seed000_files(0.55, 0.56), _seed000_files(0.55, 0.50), _seed000_files(0.55, 0.61)])})
    text = st.render_report(noisy)[0]
    assert "| lottery ticket (lth_oneshot-0.8) | 0.557 (0.019) |" in text  # the mean over seeds
    verdict = _verdict(text, "lottery tickets are as vulnerable as the dense network")
    assert "difference +0.007 [95% " in verdict and verdict.endswith("-> **no evidence either way**")


def test_seed000_number_of_classes_compares_runs(raw_params):
    study = st.load_study("seed000", ROOT)
    sources = {("digits", "base"): _source(study, "digits", "base", raw_params, _seed000_files(0.60, 0.62)),
               ("digits", "classes5"): _source(study, "digits", "classes5", raw_params, _seed000_files(0.51, 0.52))}
    text = st.render_report(_gathered(study, sources))[0]
    assert "| digits | `classes5` | 5 | cnn | 0.510 | 0.520 | - | - |" in text
    assert "| digits | `base` | 10 | cnn | 0.600 | 0.620 | 0.500 | +0.120 |" in text
    line = _verdict(text, "more classes, higher attack accuracy")
    assert "digits/base (10 classes) 0.620 vs digits/classes5 (5 classes) 0.520" in line and line.endswith("-> **agrees**")


def test_seed000_number_of_classes_never_compares_across_architectures(raw_params):
    study = st.load_study("seed000", ROOT)
    sources = {("digits", "arch2"): _source(study, "digits", "arch2", raw_params, _seed000_files(0.60, 0.62)),
               ("digits", "classes5"): _source(study, "digits", "classes5", raw_params, _seed000_files(0.51, 0.52))}
    text = st.render_report(_gathered(study, sources))[0]
    assert "| digits | `arch2` | 10 | lenet5 |" in text  # in the table, but lenet5 vs cnn is not judged
    assert not [line for line in text.splitlines() if line.startswith("- more classes, higher attack accuracy")]


def _greybox(acc, w_slope):
    results = {}
    for f in (0.01, 0.02, 0.04, 0.08, 0.16):
        attack = {"accuracy": {"mean": acc, "std": 0.01}, "fpr": {"mean": 0.3, "std": 0.05}, "recall": {"mean": 0.6, "std": 0.05},
                  "auc": {"mean": acc, "std": 0.01}, "confusion": {"tp": 60.0, "fp": 30.0, "fn": 40.0, "tn": 70.0}}
        results[f"{f:g}"] = {"n_known": 10, "n_eval": 200, "wasserstein_ce": {"mean": 0.1 + w_slope * f, "std": 0.001},
                             "attacks": {s: attack for s in ("kde_probability", "kde_cross_entropy", "kde_logit_scaled")}}
    sweep = {"fractions": [0.01, 0.02, 0.04, 0.08, 0.16], "repeats": 10, "seed": 0, "results": results}
    return {"levels": ["dense"], "sweep": {"dense": sweep}}


def test_seed004_report_before_after_and_wasserstein(raw_params):
    study = st.load_study("seed004", ROOT)
    target = lambda train, test: {"target": {"train_acc": train, "test_acc": test, "sparsity": 0.0, "parameters": 62006}, "attacks": {"none": {}}}  # noqa: E731
    files = {"results/none/greybox.json": _greybox(0.66, 0.5), "results/l2/greybox.json": _greybox(0.51, -0.5),
             "results/none/dense.json": target(0.93, 0.52), "results/l2/dense.json": target(0.64, 0.61)}
    g = _gathered(study, {("digits", "lam1e-2"): _source(study, "digits", "lam1e-2", raw_params, files)})
    text = st.render_report(g)[0]
    assert "| undefended | 0.930 | 0.928 | +0.002 | 0.520 | 0.515 | +0.005 |" in text
    assert "| L2 lambda 0.01 | 0.640 | 0.632 | +0.008 | 0.610 | 0.612 | -0.002 |" in text
    for claim, word in (("the attack exceeds 64% before the defense", "agrees"),
                        ("after L2 with lambda 1e-2 the attack is at about 50%", "agrees"),
                        ("L2 with lambda 1e-2 lowers the attack", "agrees"),
                        ("beyond 2% leaked, the fraction no longer changes the accuracy", "agrees"),
                        ("before the defense the distance grows with the leaked fraction", "agrees"),
                        ("after L2 the distance shrinks with the leaked fraction", "agrees"),
                        ("L2 (lambda 0.01) narrows the train-test gap", "agrees")):
        assert _verdict(text, claim).endswith(f"-> **{word}**"), claim
    assert "| undefended | 60.0 | 40.0 | 30.0 | 70.0 | 0.600 / 0.400 | 0.300 / 0.240 |" in text
    # distances are judged within a quarter of the distance at 1% leaked (0.1 + 0.5 * 0.01), not the AUC margin
    assert "(margin 0.0263: 0.25 of the f=0.01 distance, TOST p = " in _verdict(text, "before the defense the distance grows with the leaked fraction")


def test_seed002_report_ppb_and_pruned_verdicts(raw_params):
    study = st.load_study("seed002", ROOT)
    target = {"train_acc": 1.0, "test_acc": 0.9, "sparsity": 0.7, "parameters": 1000}
    files = {}
    for defense, acc, na in (("none", 0.60, None), ("ppb_finetune", 0.58, 0.50), ("ppb", 0.57, 0.52), ("advreg", 0.57, 0.56),
                             ("early_stop", 0.59, 0.58), ("l2", 0.6, 0.59)):
        for level in ("dense", "finetune_l1-0.7"):
            rec = {"target": target, "attacks": {"none": {"loss_global": _m(acc if level != "dense" else 0.55)}}}
            if na is not None:
                rec["nonadaptive"] = {"loss_global": _m(na)}
            files[f"results/{defense}/{level}.json"] = rec
    files["results/none/finetune_l1-0.7-samia.json"] = {"skipped": False, "samia": _m(0.66)}
    g = _gathered(study, {("digits", "defenses"): _source(study, "digits", "defenses", raw_params, files)})
    text = st.render_report(g)[0]
    # seed 002's PPB is the fine-tuning-only variant; `ppb` (dense training too) is shown, not compared
    assert ("| ppb_finetune (fine-tuning only, as the seed) | finetune_l1-0.7 | 0.900 | 0.580 | 0.500 | - | 0.500 | +0.000 |"
            in text)
    assert "| ppb (dense training too) | finetune_l1-0.7 | 0.900 | 0.570 | 0.520 | - | - | - |" in text
    # the seed's "about 50%" is of pruned models: not set beside the (undefended) dense one
    assert "| ppb_finetune (fine-tuning only, as the seed) | dense | 0.900 | 0.550 | 0.500 | - | - | - |" in text
    assert _verdict(text, "PPB brings the attack to about 50%").endswith("-> **agrees**")
    # the best other defense is advreg (0.56), not the dense-training PPB (0.52)
    assert "vs best other (advreg) 0.560" in _verdict(text, "PPB protects better than the other defenses")
    assert _verdict(text, "PPB protects better than the other defenses").endswith("-> **agrees**")
    assert "Not available: these come from the target's posteriors" in text


def test_seed002_best_baseline_is_the_cross_fitted_one_when_the_run_recorded_it(raw_params):
    """A run whose attack stage recorded the cross-fitted best uses it; the maximum over attacks on
    the evaluation set (0.70 here, optimistic) is not what SAMIA is set against."""
    study = st.load_study("seed002", ROOT)
    target = {"train_acc": 1.0, "test_acc": 0.9, "sparsity": 0.5, "parameters": 1000}
    files = {}
    for level in ("dense", "finetune_l1-0.5"):
        files[f"results/none/{level}.json"] = {
            "target": target, "attacks": {"none": {"loss_global": _m(0.70), "entropy_global": _m(0.52)}},
            "crossfit": {"none": {"auc": 0.58, "accuracy": 0.56, "picks": ["loss_global", "entropy_global"], "held_out_auc": [0.6, 0.56]}}}
        files[f"results/none/{level}-samia.json"] = {"skipped": False, "samia": _m(0.60)}
    g = _gathered(study, {("digits", "methods"): _source(study, "digits", "methods", raw_params, files)})
    text = st.render_report(g)[0]
    assert "| finetune_l1-0.5 | 0.600 (0.019) | 0.600 (0.020) | 0.560 (cross-fitted) | 0.580 | +0.040 |" in text
    assert "The best baseline attack is cross-fitted" in text and "picked on the evaluation set (optimistic" not in text
    files = {k: {kk: vv for kk, vv in v.items() if kk != "crossfit"} for k, v in files.items()}
    g = _gathered(study, {("digits", "methods"): _source(study, "digits", "methods", raw_params, files)})
    text = st.render_report(g)[0]
    assert "| finetune_l1-0.5 | 0.600 (0.019) | 0.600 (0.020) | 0.700 loss_global |" in text
    assert "picked on the evaluation set (optimistic" in text


def test_study_verdicts_leave_out_models_below_the_utility_floor(raw_params):
    """A pruned model at chance on one training seed (its mean is above the floor) is left out of
    every seed's comparisons alike, and a line names it."""
    study = st.load_study("seed002", ROOT)
    per_seed = []
    for k in range(3):
        files = {}
        for level in ("dense", "finetune_l1-0.5", "finetune_l1-0.9"):
            test_acc = 0.10 if (k == 1 and level == "finetune_l1-0.9") else 0.9
            target = {"train_acc": 1.0, "test_acc": test_acc, "sparsity": 0.5, "parameters": 1000}
            acc = 0.55 if level == "dense" else 0.60
            files[f"results/none/{level}.json"] = {"target": target, "attacks": {"none": {"loss_global": _m(acc)}}}
        per_seed.append(files)
    g = _gathered(study, {("digits", "methods"): _seeded_source(study, "digits", "methods", raw_params, per_seed)})
    text = st.render_report(g)[0]
    tally = _verdict(text, "finetune_l1: pruned models are more vulnerable than the dense one")
    assert "1 of 1 comparisons agree" in tally, tally  # 0.9 is left out; 0.5 agrees (+0.05 on every seed)
    assert ("Left out of the verdicts (`methods`: test accuracy below 1.5 x chance = 0.150 for 10 classes on at least one "
            "training seed, the lowest in brackets; too poor a model for its leakage to say anything): none finetune_l1-0.9 (0.100).") in text


def test_posterior_gaps():

    logits = np.log(np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.5, 0.5]]))
    gaps = st.posterior_gaps({"logits": logits, "labels": np.array([0, 0, 0, 0]), "member": np.array([True, True, False, False]),
                              "sens": np.array([[1.0, 0], [3.0, 0], [5.0, 0], [7.0, 0]])})
    assert gaps["confidence"]["gap"] == pytest.approx(0.85 - 0.55)
    assert gaps["sensitivity"]["members"] == pytest.approx(2.0) and gaps["sensitivity"]["gap"] == pytest.approx(-4.0)


def test_write_report_copies_figures_and_links_the_seed(tmp_path, raw_params):
    study = st.load_study("seed003", ROOT)
    files = {**_seed003_files(0.7, 0.55), "plots/shadow_curve.png": b"\x89PNG fake"}
    g = _gathered(study, {("digits", "base"): _source(study, "digits", "base", raw_params, files)})
    out = st.write_report(g, tmp_path)
    assert out == tmp_path / "reports" / "seed003.md"
    assert (tmp_path / "reports" / "seed003" / "digits-base-shadow_curve.png").read_bytes() == b"\x89PNG fake"
    text = out.read_text()
    assert "(seed003/digits-base-shadow_curve.png)" in text
    assert "](../../shared/seeds/003_76df18a17865e544.txt)" in text
    assert st.report_path(study, "paper", tmp_path).name == "seed003-paper.md"


def test_seed002_methods_table_shows_channels_removed_by_slimming(raw_params):
    study = st.load_study("seed002", ROOT)
    files = {}
    for level in ["dense"] + [f"{m}-{s}" for m in ("finetune_l1", "filter_l1", "filter_l2", "slimming") for s in (0.5, 0.6, 0.7, 0.8, 0.9)]:
        sparsity = 0.0 if level == "dense" or level.startswith("slimming") else float(level.rsplit("-", 1)[1])
        target = {"train_acc": 1.0, "test_acc": 0.9, "sparsity": sparsity, "parameters": 1000}
        files[f"results/none/{level}.json"] = {"target": target, "attacks": {"none": {"loss_global": _m(0.55)}}}
    files["models/none/slimming-0.7/target/info.json"] = {"channel_fraction": 0.6875, "bn_channels": 32}
    files["models/none/filter_l1-0.5/target/info.json"] = {"filter_fraction": 0.5}
    g = _gathered(study, {("digits", "methods"): _source(study, "digits", "methods", raw_params, files)})
    text = st.render_report(g)[0]
    assert "| slimming-0.7 | 0.000 | 0.688 | 0.900 |" in text
    assert "| filter_l1-0.5 | 0.500 | 0.500 | 0.900 |" in text
    assert "| finetune_l1-0.5 | 0.500 | - | 0.900 |" in text  # unstructured: no filters or channels
    assert "| slimming-0.9 | 0.000 | - |" in text  # record not in the cache: said, not guessed


def _posteriors_npz(sens_members, sens_nonmembers, n=200, seed=0):
    rng = np.random.default_rng(seed)
    member = np.arange(2 * n) < n
    sens = np.zeros((2 * n, 10))
    sens[:, 0] = np.where(member, sens_members, sens_nonmembers) + rng.normal(0, 0.01, 2 * n)
    logits = np.zeros((2 * n, 10), np.float32)
    logits[:, 0] = np.where(member, 3.0, 1.0)
    buf = io.BytesIO()
    np.savez(buf, logits=logits, labels=np.zeros(2 * n, np.int64), member=member, sens=sens)
    return buf.getvalue()


def test_seed002_sensitivity_gap_that_shrinks_is_not_called_wider(raw_params):
    study = st.load_study("seed002", ROOT)
    files = {"posteriors/none/dense/target.npz": _posteriors_npz(0.1, 0.3),  # members 0.2 below
             "posteriors/none/finetune_l1-0.7/target.npz": _posteriors_npz(0.2, 0.3, seed=1)}  # 0.1 below: narrower
    g = _gathered(study, {("digits", "methods"): _source(study, "digits", "methods", raw_params, files)})
    line = _verdict(st.render_report(g)[0], "pruning widens the sensitivity gap")
    assert "difference -0.09" in line and line.endswith("-> **disagrees**"), line  # |gap| 0.1 vs 0.2


def test_seed002_gaps_are_means_over_seeds_judged_within_a_share_of_the_dense_gap(raw_params):
    """Each seed's posteriors give its gaps; the line shows their means, and "no wider" is judged
    within report.gap_margin (a quarter) of the dense model's |gap|, not the AUC margin."""
    import re

    study = st.load_study("seed002", ROOT)
    per_seed = [{"posteriors/none/dense/target.npz": _posteriors_npz(0.1, 0.3, seed=k),
                 "posteriors/none/finetune_l1-0.7/target.npz": _posteriors_npz(0.3 - gap, 0.3, seed=10 + k)}
                for k, gap in enumerate((0.20, 0.21, 0.22))]
    g = _gathered(study, {("digits", "methods"): _seeded_source(study, "digits", "methods", raw_params, per_seed)})
    line = _verdict(st.render_report(g)[0], "pruning widens the sensitivity gap")
    ours = re.search(r"ours finetune_l1-0.7 ([\d.]+) vs dense ([\d.]+) \(means over seeds\), difference ([+-][\d.]+)", line)
    assert ours, line
    pruned, dense, diff = map(float, ours.groups())
    assert pruned == pytest.approx(0.21, abs=0.002) and dense == pytest.approx(0.20, abs=0.002)
    assert diff == pytest.approx(pruned - dense, abs=0.0015)
    margin = float(re.search(r"margin ([\d.]+): 0.25 of the dense \|gap\|", line).group(1))
    assert margin == pytest.approx(0.25 * dense, rel=0.01)
    assert "over 3 training seeds" in line and line.endswith("-> **disagrees**"), line  # +0.01 is within 0.05


def _blind_transfer(matching_acc, blind_acc):
    """A transfer record of dense and two methods at 0.5: every source gives the same AUC (0.58,
    the ranking), the threshold from the matching shadows ``matching_acc``, any other ``blind_acc``."""
    levels = ["dense", "finetune_l1-0.5", "filter_l1-0.5"]
    cell = lambda s, t: {"accuracy": matching_acc if s == t else blind_acc, "auc": 0.58}  # noqa: E731
    return {"results/none/transfer.json": {
        "levels": levels, "blind": {},
        "matrix": {"shokri_sorted": {s: {t: cell(s, t) for t in levels} for s in levels},
                   "loss_global": {s: {t: {"accuracy": 0.55, "auc": 0.57} for t in levels} for s in levels}}}}


def test_seed002_blind_attacker_is_judged_on_its_calibrated_accuracy_too(raw_params):
    """Shadows of another pruning method leave the AUC (a ranking) unchanged; what they change is the
    shadow-calibrated threshold. The report shows both, and judges what not knowing the method costs."""
    study = st.load_study("seed002", ROOT)
    per_seed = [_blind_transfer(0.60 + d, 0.50 + d) for d in (0.0, 0.005, -0.005)]
    g = _gathered(study, {("digits", "methods"): _seeded_source(study, "digits", "methods", raw_params, per_seed)})
    text = st.render_report(g)[0]
    assert "| finetune_l1-0.5 | 0.580 | 0.580 | 0.580 | 0.600 | 0.500 | 0.500 |" in text
    assert "The three AUC columns differ by at most 0.000 and from the loss attack's AUC, which no shadow model changes, by at most 0.010" in text
    assert _verdict(text, "the attack succeeds (AUC above 0.5) without knowing").endswith(
        "2 of 2 comparisons agree, 0 no evidence either way, 0 disagree (not independent: all 2 rest on the same 3 training seeds "
        "and evaluation samples) -> **agrees**")
    # at chance with other methods' shadows: within the margin of 0.5 on every seed
    assert _verdict(text, "the attack succeeds (balanced accuracy above 0.5").endswith("-> **disagrees**")
    assert _verdict(text, "knowing the pruning method helps the attacker").endswith("-> **agrees**")


def test_report_keeps_runs_it_was_written_from_unless_told(tmp_path, raw_params, monkeypatch):
    """A report written from a run is not rewritten with that run "not found" (a clone has no
    experiment refs): one line, the file untouched; --allow-missing writes it anyway."""
    import shutil

    from ticketleak_studies import cli

    shutil.copytree(ROOT / "studies", tmp_path / "studies")
    study = st.load_study("seed003", ROOT)
    found = _gathered(study, {("digits", "base"): _source(study, "digits", "base", raw_params, _seed003_files(0.7, 0.55))})
    out = st.write_report(found, tmp_path)
    assert st.found_in(out) == {"seed003-digits-base"}
    before = out.read_text()
    nothing = _gathered(study, {})
    monkeypatch.setattr(cli.studies, "exp_show_json", lambda root: "[]")
    monkeypatch.setattr(cli.studies, "gather", lambda *a, **k: nothing)
    args = SimpleNamespace(study="seed003", dataset=["digits"], scale="cpu", source=[], allow_missing=False)
    with pytest.raises(st.StudyError, match=r"reports/seed003.md was written from 1 run\(s\) not found now \(seed003-digits-base\)"):
        cli.cmd_report(args, tmp_path)
    assert out.read_text() == before
    args.allow_missing = True
    cli.cmd_report(args, tmp_path)
    assert st.found_in(out) == set() and "not found" in out.read_text()


def test_a_clone_without_the_experiments_rebuilds_the_report_from_its_committed_inputs(tmp_path, raw_params, monkeypatch):
    """`report` keeps every file it read from a run under reports/<study>/inputs/<experiment>/;
    where the experiment is not found (a clone has no refs/exps) it reads those instead, and the
    report comes out byte for byte the same."""
    import shutil

    from ticketleak_studies import cli

    shutil.copytree(ROOT / "studies", tmp_path / "studies")
    study = st.load_study("seed003", ROOT)
    run = _seeded_source(study, "digits", "base", raw_params, [_seed003_files(0.70, 0.55), _seed003_files(0.68, 0.56),
                                                                 _seed003_files(0.71, 0.52)])
    run.label = "exp seed003-digits-base (abc1234)"
    args = SimpleNamespace(study="seed003", dataset=["digits"], scale="cpu", source=[], allow_missing=False)
    monkeypatch.setattr(cli.studies, "exp_show_json", lambda root: "[]")
    real = cli.studies.exp_sources
    monkeypatch.setattr(cli.studies, "exp_sources", lambda *a, **k: lambda d, r, n: run if (d, r) == ("digits", "base") else None)
    cli.cmd_report(args, tmp_path)
    report = (tmp_path / "reports/seed003.md").read_text()
    inputs = tmp_path / "reports/seed003/inputs/seed003-digits-base"
    assert (inputs / "source.txt").read_text() == "exp seed003-digits-base (abc1234)\n"
    kept = sorted(str(p.relative_to(inputs / "files")) for p in (inputs / "files").rglob("*") if p.is_file())
    assert kept == ["params.yaml", *(f"results/seed-{k}/{d}/dense.json" for k in range(3) for d in ("dropout", "none"))]
    assert "over 3 training seeds" in report
    monkeypatch.setattr(cli.studies, "exp_sources", real)
    (tmp_path / "reports/seed003.md").unlink()
    cli.cmd_report(args, tmp_path)  # no experiment refs: the committed inputs
    assert (tmp_path / "reports/seed003.md").read_text() == report


def test_run_with_jobs_sets_params_then_runs_the_parallel_runner_and_saves_the_experiment(tmp_path, monkeypatch):
    """`study run -j N`: each run's keys go into params.yaml (comments kept), then `ticketleak
    repro -j N` and `dvc exp save -n <experiment>`; a failing run stops the study in one line."""
    import shutil

    from ticketleak_studies import cli

    shutil.copytree(ROOT / "studies", tmp_path / "studies")
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.setattr(cli, "_baselines", lambda study, root: (yaml.safe_load((ROOT / "params.yaml").read_text()), None,
                                                                 yaml.safe_load((ROOT / "params.yaml").read_text())))
    calls, seen = [], []

    def call(cmd, cwd=None, env=None):
        calls.append([Path(cmd[0]).name, *cmd[1:]])
        if cmd[1] == "repro":
            seen.append(yaml.safe_load((tmp_path / "params.yaml").read_text()))
            Path(cmd[cmd.index("--summary") + 1]).write_text('{"ran": 40, "restored": 39, "unchanged": 0, "command_s": 300.0}')
            calls[-1][-1] = "SUMMARY"
        return 0

    monkeypatch.setattr(subprocess, "call", call)
    monkeypatch.setattr(cli, "_new_git_outputs", lambda root: ["results/seed-0/none/lth_oneshot-0.8.json"])
    args = SimpleNamespace(study="seed004", dataset="digits", scale="cpu", only=["lam1e-1"], dry_run=False, force=False,
                           allow_dirty_params=False, jobs=2, queue=False)
    cli.cmd_run(args, tmp_path)
    assert calls == [["ticketleak", "repro", "-j", "2", "--summary", "SUMMARY"],
                     ["dvc", "exp", "save", "-n", "seed004-digits-lam1e-1", "-I", "results/seed-0/none/lth_oneshot-0.8.json"]]
    (params,) = seen
    assert params["defense"]["variants"]["l2"]["lam"] == 0.1 and params["seeds"] == [0, 1, 2]
    assert params["model"]["arch"] == "lenet5" and params["train"]["epochs"] == 100
    assert "# training seeds: each trains its own target" in (tmp_path / "params.yaml").read_text()  # comments kept
    log = json.loads((tmp_path / "reports/seed004/runs.json").read_text())
    assert log["seed004-digits-lam1e-1"]["rc"] == 0 and log["seed004-digits-lam1e-1"]["jobs"] == 2
    # the report says the wall time is not the run's cost from nothing
    assert log["seed004-digits-lam1e-1"]["stages"]["restored"] == 39
    assert st.wall_note(log["seed004-digits-lam1e-1"]) == " (40 stages ran, 39 restored from the run cache)"
    monkeypatch.setattr(subprocess, "call", lambda cmd, cwd=None, env=None: 1)
    with pytest.raises(StudyError, match="ticketleak repro / dvc exp save failed for seed004-digits-lam1e-1 \\(exit 1\\)"):
        cli.cmd_run(args, tmp_path)


def test_new_git_outputs_are_the_untracked_outputs_kept_in_git(tmp_path):
    """What `study run -j` adds to `dvc exp save`: untracked files inside `cache: false` outputs
    and DVC's .gitignore files, not other untracked files."""
    from ticketleak_studies import cli

    def sh(*cmd):
        subprocess.run(cmd, cwd=tmp_path, check=True, capture_output=True)

    sh("git", "init", "-q")
    sh(cli.studies.dvc_executable(), "init", "-q")
    (tmp_path / "dvc.yaml").write_text("stages:\n  s:\n    cmd: 'true'\n    outs:\n      - results/a.json:\n          cache: false\n"
                                       "      - models/m\n")
    for path in ("results/a.json", "models/.gitignore", "models/m", "notes.txt"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("x")
    found = sorted(cli._new_git_outputs(tmp_path))
    assert "results/a.json" in found and "models/.gitignore" in found and "notes.txt" not in found



def test_wall_note_says_what_a_wall_time_covers():
    assert st.wall_note({"wall_s": 600.0, "rc": 0}) == ""
    assert st.wall_note({"wall_s": 600.0, "stages": {"ran": 79, "restored": 0, "unchanged": 0}}) == ""
    later = {"wall_s": 1648.2, "stages": {"ran": 35, "restored": 0, "unchanged": 43}}
    assert st.wall_note(later) == " (35 stages ran, 43 already up to date from an earlier run)"
    rerun = {"wall_s": 5244.4, "rerun": {"wall_s": 1427.5, "what": "to record X", "stages": {"ran": 63, "restored": 159}}}
    assert st.wall_note(rerun) == " (rerun later in 23m48s to record X: 63 stages ran, 159 restored from the run cache)"


def test_seed004_lists_each_seeds_accuracy_beside_the_means(raw_params):
    """A seed that trained differently (0.777 train accuracy against 1.0) is visible, not only
    folded into the mean."""
    study = st.load_study("seed004", ROOT)
    target = lambda train, test: {"target": {"train_acc": train, "test_acc": test, "sparsity": 0.0, "parameters": 62006}, "attacks": {"none": {}}}  # noqa: E731
    per_seed = [{"results/none/greybox.json": _greybox(0.66, 0.5), "results/l2/greybox.json": _greybox(0.51, -0.5),
                 "results/none/dense.json": target(train, 0.48), "results/l2/dense.json": target(0.47, 0.46)} for train in (1.0, 0.777, 1.0)]
    g = _gathered(study, {("digits", "lam1e-2"): _seeded_source(study, "digits", "lam1e-2", raw_params, per_seed)})
    text = st.render_report(g)[0]
    assert "| undefended | 0.926 | 0.928 |" in text
    assert ("Per training seed (0, 1, 2), train / test: undefended 1.000 / 0.480, 0.777 / 0.480, 1.000 / 0.480; "
            "L2 lambda 0.01 0.470 / 0.460, 0.470 / 0.460, 0.470 / 0.460.") in text
