"""End-to-end tests of the DVC pipeline on a tiny configuration.

One module-scoped fixture copies the pipeline (dvc.yaml, params.yaml, stages/, ticketleak/, the
custom plot template) into a fresh git + DVC repository, shrinks params.yaml and runs it once
with the parallel runner (`ticketleak repro -j 2`). The tests then run in file order on that
same repository: outputs, a no-op `dvc repro` (the runner's dvc.lock is complete), stages forced
through `dvc repro` giving the runner's outputs byte for byte, which stages a params edit reruns
(granularity; mostly through the runner, whose decisions are DVC's `Stage.changed`), bad params
stopping at `validate`, and `dvc exp run`. Never run against /work/main itself: a run would
overwrite committed results.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

pytest.importorskip("dvc")
torch = pytest.importorskip("torch")

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent  # stage commands' `python` must be this interpreter
DVC = str(VENV_BIN / "dvc") if (VENV_BIN / "dvc").exists() else shutil.which("dvc") or "dvc"
TICKETLEAK = str(VENV_BIN / "ticketleak") if (VENV_BIN / "ticketleak").exists() else shutil.which("ticketleak") or "ticketleak"
STAGE_LINE = re.compile(r"^Running stage '([^']+)':", re.MULTILINE)
TIMEOUT = 900

ATTACKS = (
    "shokri_sorted", "shokri_label", "confidence_global", "confidence_class",
    "entropy_global", "mentropy_global", "loss_global", "loss_class",
)
ATTACK_METRICS = ("accuracy", "precision", "recall", "auc", "advantage", "tpr_at_1pct_fpr", "tpr_at_0.1pct_fpr")

TINY = {
    ("data", "target_size"): 60,
    ("data", "shadow_size"): 60,
    ("data", "val_size"): 20,
    ("train", "epochs"): 2,
    ("shadow", "ids"): [0],
    ("prune", "sparsities"): [0.5],
    ("defense", "train"): ["none"],
    ("defense", "release"): ["topk"],
    ("attack", "bootstrap"): 0,
    ("attack", "shokri", "max_iter"): 50,
    ("attack", "greybox", "fractions"): [0.05, 0.2],
    ("attack", "greybox", "repeats"): 2,
    ("attack", "samia", "epochs"): 2,
    ("attack", "reference", "ids"): [0, 1, 2, 3],
    ("seeds",): [0],
}
REFS = range(4)


def reference_stages(levels: tuple[str, ...], refs=REFS, dense: bool = True, attack: bool = True) -> set[str]:
    """LiRA / RMIA stages (undefended, lth_oneshot unless ``levels`` name another method) for
    reference models ``refs`` at the pruned ``levels`` (``<method>-<sparsity>``)."""
    out = {f"train_reference@0-none-{r}" for r in refs} if dense else set()
    for level in levels:
        method, sparsity = level.rsplit("-", 1)
        out |= {f"prune_reference@0-none-{method}-{r}-{sparsity}" for r in refs}
        if attack:
            out.add(f"reference@0-none-{level}")
    if attack and dense:
        out.add("reference_dense@0-none")
    return out


def _set(params: dict, key: tuple[str, ...], value: Any) -> None:
    node = params
    for k in key[:-1]:
        node = node[k]
    node[key[-1]] = value


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _tree_hashes(root: Path, *dirs: str) -> dict[str, str]:
    """relative path -> md5 of every file under ``dirs`` (what a failed run must leave alone)."""
    return {
        str(f.relative_to(root)): _md5(f)
        for d in dirs
        for f in sorted((root / d).rglob("*"))
        if f.is_file() and f.name != ".gitignore"  # DVC rewrites these as outputs come and go
    }


@dataclass
class Pipeline:
    """The temporary pipeline repository and how to run commands in it."""

    root: Path
    env: dict[str, str]
    first_repro: subprocess.CompletedProcess

    def run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            list(cmd), cwd=self.root, env=self.env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=TIMEOUT,
        )
        if check and proc.returncode != 0:
            pytest.fail(f"`{' '.join(cmd)}` exited with {proc.returncode}:\n{proc.stdout[-8000:]}", pytrace=False)
        return proc

    def dvc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run(DVC, *args, check=check)

    @property
    def params_path(self) -> Path:
        return self.root / "params.yaml"

    def params(self) -> dict:
        return yaml.safe_load(self.params_path.read_text())

    def write_params(self, params: dict) -> None:
        self.params_path.write_text(yaml.safe_dump(params, sort_keys=False))

    def edit_params(self, edit: Callable[[dict], None]) -> None:
        params = self.params()
        edit(params)
        self.write_params(params)

    def parallel(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """`ticketleak repro -j 2`: the runner, which prints DVC's "Running stage" lines."""
        return self.run(TICKETLEAK, "repro", "-j", "2", *args, check=check)

    def repro_with(self, edit: Callable[[dict], None], dvc: bool = False) -> set[str]:
        """Edit params.yaml, run the runner (or `dvc repro`; must succeed), return the names of
        the stages it ran."""
        self.edit_params(edit)
        return stages_run(self.dvc("repro") if dvc else self.parallel())

    def json(self, rel: str) -> Any:
        return json.loads((self.root / rel).read_text())


def stages_run(proc: subprocess.CompletedProcess) -> set[str]:
    return set(STAGE_LINE.findall(proc.stdout))


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DVC_", "GIT_"))}
    env["DVC_NO_ANALYTICS"] = "1"
    env["PATH"] = str(VENV_BIN) + os.pathsep + env.get("PATH", "")
    return env


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    root = tmp_path_factory.mktemp("ticketleak-pipeline")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy2(REPO / name, root / name)
    for name in ("stages", "ticketleak"):
        shutil.copytree(REPO / name, root / name, ignore=ignore)
    (root / "data" / "external").mkdir(parents=True)  # a dependency of prepare; imported data left out
    shutil.copy2(REPO / "data" / "external" / "README.md", root / "data" / "external" / "README.md")
    params = yaml.safe_load((root / "params.yaml").read_text())
    for key, value in TINY.items():
        _set(params, key, value)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    env = _clean_env()
    p = Pipeline(root, env, subprocess.CompletedProcess([], 0, ""))
    p.run("git", "init", "-q")
    p.run("git", "config", "user.email", "tests@ticketleak.invalid")
    p.run("git", "config", "user.name", "TicketLeak tests")
    p.run("git", "config", "commit.gpgsign", "false")
    p.dvc("init", "-q")
    shutil.copytree(REPO / ".dvc" / "plots", root / ".dvc" / "plots", dirs_exist_ok=True)
    p.run("git", "add", "-A")
    p.run("git", "commit", "-q", "-m", "tiny pipeline")  # dvclive needs a commit to exist
    p.first_repro = p.parallel()
    yield p


# ---------------------------------------------------------------------------------------------
# 1. The first run's outputs


def test_first_repro_ran_every_stage(pipeline: Pipeline) -> None:
    expected = {
        "validate", "prepare", "train_target@0-none", "train_shadow@0-none-0",
        "prune_target@0-none-lth_oneshot-0.5", "prune_shadow@0-none-lth_oneshot-0-0.5", "posteriors_dense@0-none",
        "posteriors@0-none-lth_oneshot-0.5", "defend_dense@0-none", "defend@0-none-lth_oneshot-0.5",
        "attack_dense@0-none", "attack@0-none-lth_oneshot-0.5", "transfer@0",
        "greybox@0-none", "samia_dense@0-none", "samia@0-none-lth_oneshot-0.5", "aggregate",
        *reference_stages(("lth_oneshot-0.5",)),
    }
    assert stages_run(pipeline.first_repro) == expected, pipeline.first_repro.stdout


def test_summary_metrics(pipeline: Pipeline) -> None:
    summary = pipeline.json("metrics/summary.json")
    assert set(summary) == {"none", "none+topk"}
    for variant, levels in summary.items():
        assert set(levels) == {"dense", "lth_oneshot-0.5"}, variant
        for level, entry in levels.items():
            for key in ("headline_auc", "headline_tpr_at_1pct_fpr", "crossfit_best_auc", "shokri_auc", "loss_auc",
                        "train_acc", "test_acc"):
                assert 0.0 <= entry[key] <= 1.0, (variant, level, key, entry[key])
            assert not any(key.startswith("best_") for key in entry), (variant, level)
            # the headline is named in advance: the first of attack.headline this variant ran
            preference = pipeline.params()["attack"]["headline"]
            ran = set(pipeline.json(f"results/seed-0/none/{level}.json")["attacks"]["none" if variant == "none" else "topk"])
            if variant == "none":
                ran |= set(pipeline.json(f"results/seed-0/none/{level}-reference.json")["attacks"]["none"])
            assert entry["headline_attack"] == next(a for a in preference if a in ran), (variant, level)
            assert len(entry["crossfit_best_attacks"]) == 2 and set(entry["crossfit_best_attacks"]) <= ran, (variant, level)
        assert levels["dense"]["sparsity"] == 0.0
        assert abs(levels["lth_oneshot-0.5"]["sparsity"] - 0.5) < 1e-3


def test_ticket_is_really_pruned(pipeline: Pipeline) -> None:
    run_dir = pipeline.root / "models/seed-0/none/lth_oneshot-0.5/target"
    info = pipeline.json("models/seed-0/none/lth_oneshot-0.5/target/info.json")
    assert info["sparsity_asked"] == 0.5
    assert abs(info["sparsity"] - 0.5) < 1e-3, info["sparsity"]
    state = torch.load(run_dir / "model.pt", map_location="cpu", weights_only=True)
    masks = torch.load(run_dir / "mask.pt", map_location="cpu", weights_only=True)
    assert masks, "mask.pt holds no masks"
    assert not any(k.endswith(("_orig", "_mask")) for k in state), "pruning reparametrisation was not removed"
    pruned = total = 0
    for layer, mask in masks.items():
        weight = state[f"{layer}.weight"]
        assert mask.dtype == torch.bool and mask.shape == weight.shape, layer
        assert torch.all(weight[~mask] == 0), f"{layer}: pruned weights are not zero"
        pruned, total = pruned + int((~mask).sum()), total + mask.numel()
    assert abs(pruned / total - 0.5) < 1e-3, pruned / total
    # the measured sparsity counts zeros in the weights: it must agree with the mask
    zeros = sum(int((state[f"{layer}.weight"] == 0).sum()) for layer in masks)
    assert abs(zeros / total - info["sparsity"]) < 1e-9


def test_attack_results(pipeline: Pipeline) -> None:
    result = pipeline.json("results/seed-0/none/dense.json")
    assert result["defense"] == "none" and result["level"] == "dense"
    assert set(result["attacks"]) == {"none", "topk"}  # full posterior, then each release defense
    for release, attacks in result["attacks"].items():
        missing = set(ATTACKS) - set(attacks)
        assert not missing, f"release {release}: attacks missing: {sorted(missing)}"
        for name in ATTACKS:
            for metric in ATTACK_METRICS:
                value = attacks[name][metric]
                assert 0.0 <= value <= 1.0, (release, name, metric, value)


def test_report_and_plots(pipeline: Pipeline) -> None:
    report = (pipeline.root / "reports/summary.md").read_text()
    assert report.startswith("# TicketLeak summary")
    assert "none+topk" in report
    pngs = sorted((pipeline.root / "plots").glob("*.png"))
    assert {p.name for p in pngs} >= {
        "attack_vs_sparsity.png", "accuracy_vs_sparsity.png", "roc.png", "confidence_histograms.png", "transfer_heatmap.png"
    }
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png.name
    assert "## Per-sample exposure (undefended, full posterior, `lira_offline_fixed`)" in report
    assert (pipeline.root / "plots/most_exposed.png").is_file()
    table = (pipeline.root / "reports/exposure/seed-0/none-dense.csv").read_text().splitlines()
    assert len(table) == 1 + 2 * TINY[("data", "target_size")]  # header, members, as many non-members
    header = table[0].split(",")
    assert header[:5] == ["position", "dataset_index", "class", "member", "correct"]
    assert {"loss_global", "shokri_sorted", "lira_offline_fixed", "lira_offline_fixed_p", "rmia_offline_p"} <= set(header)


def test_dvc_plots_render(pipeline: Pipeline) -> None:
    """Every plot in dvc.yaml renders; the ROC uses the custom log-log template (.dvc/plots)."""
    proc = pipeline.dvc("plots", "show", "--json")
    shown = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert not shown.get("errors"), shown.get("errors")
    declared = yaml.safe_load((pipeline.root / "dvc.yaml").read_text())["plots"]
    ids = {next(iter(p)) if isinstance(p, dict) else p for p in declared}
    assert set(shown["data"]) == ids
    roc = shown["data"]["plots/roc.json"][0]
    assert roc["type"] == "vega"
    assert roc["content"]["encoding"]["x"]["scale"]["type"] == "log"
    assert roc["content"]["data"]["values"], "the ROC plot has no data"


# ---------------------------------------------------------------------------------------------
# 2. Nothing to do


def test_second_repro_runs_nothing(pipeline: Pipeline) -> None:
    proc = pipeline.dvc("repro")
    assert "Running stage" not in proc.stdout, proc.stdout
    assert "Data and pipelines are up to date." in proc.stdout, proc.stdout


def test_dvc_repro_forced_gives_the_runners_outputs(pipeline: Pipeline) -> None:
    """The runner forks stage scripts from a preloaded interpreter; DVC runs each in a new
    process. Forced through `dvc repro`, a training, a pruning, a posteriors and an attack stage
    rewrite their outputs byte for byte, and dvc.lock does not change."""
    watched = ("models/seed-0/none/dense/target", "models/seed-0/none/lth_oneshot-0.5/target", "posteriors/seed-0/none/dense", "results/seed-0/none")
    before = _tree_hashes(pipeline.root, *watched)
    lock = (pipeline.root / "dvc.lock").read_text()
    stages = ("train_target@0-none", "prune_target@0-none-lth_oneshot-0.5", "posteriors_dense@0-none", "attack_dense@0-none")
    assert stages_run(pipeline.dvc("repro", "-f", "-s", *stages)) == set(stages)
    assert _tree_hashes(pipeline.root, *watched) == before
    assert (pipeline.root / "dvc.lock").read_text() == lock


def test_a_killed_stage_leaves_nothing_that_changes_the_lock(pipeline: Pipeline) -> None:
    """A stage killed mid-write leaves its staging copy under .staging/ (never inside an output's
    folder): DVC sees no change, and the next stage to start removes it."""
    lock = (pipeline.root / "dvc.lock").read_text()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    half = pipeline.root / ".staging" / f"{dead.pid}-0-dense"
    (half / "live").mkdir(parents=True)
    (half / "target.npz").write_bytes(b"half-written")
    status = pipeline.dvc("status")
    assert "up to date" in status.stdout, status.stdout
    pipeline.dvc("repro", "-f", "-s", "validate")
    assert not half.exists()
    assert (pipeline.root / "dvc.lock").read_text() == lock


# ---------------------------------------------------------------------------------------------
# 3. Granularity: a params edit reruns exactly the stages that read the edited key.
#    These tests run in order on the same repository; each expectation assumes the previous ones.


def _check_ran(ran: set[str], expected: set[str]) -> None:
    assert ran == expected, (
        f"unexpected stages ran: {sorted(ran - expected)}; expected but not run: {sorted(expected - ran)}"
    )


def test_new_training_seed_trains_only_that_seed(pipeline: Pipeline) -> None:
    """Seed 1 trains its own target, shadow, reference models and tickets, and runs every stage
    after them; seed 0's stages and files are left alone. Removing it again reruns only the
    summary."""
    seed0 = ("models/seed-0", "models/reference-models/seed-0", "posteriors/seed-0", "results/seed-0")
    before = _tree_hashes(pipeline.root, *seed0)
    first = stages_run(pipeline.first_repro) - {"validate", "prepare", "aggregate"}
    ran = pipeline.repro_with(lambda p: _set(p, ("seeds",), [0, 1]))
    _check_ran(ran, {"validate", "aggregate", *(s.replace("@0", "@1", 1) for s in first)})
    assert _tree_hashes(pipeline.root, *seed0) == before
    weights = [_md5(pipeline.root / f"models/seed-{k}/none/dense/target/model.pt") for k in (0, 1)]
    assert weights[0] != weights[1]  # another initialisation and batch order, the same data
    assert pipeline.json("models/seed-1/none/dense/target/info.json")["seed"] == 1_000_000
    summary = pipeline.json("metrics/summary.json")
    assert summary["none"]["dense"]["seeds"] == 2 and "headline_auc_seed_sd" in summary["none"]["dense"]
    report = (pipeline.root / "reports/summary.md").read_text()
    assert "Training seeds 0, 1" in report and "fewer than 3 training seeds" in report
    ran = pipeline.repro_with(lambda p: _set(p, ("seeds",), [0]))
    _check_ran(ran, {"validate", "aggregate"})
    assert pipeline.json("metrics/summary.json")["none"]["dense"]["seeds"] == 1
    for d in ("models/seed-1", "models/reference-models/seed-1", "posteriors/seed-1", "released/seed-1", "results/seed-1"):
        shutil.rmtree(pipeline.root / d)  # outputs of stages no longer in dvc.yaml: DVC leaves them
    pipeline.dvc("repro")


def test_attack_param_reruns_only_attacks(pipeline: Pipeline) -> None:
    before = _tree_hashes(pipeline.root, "models", "posteriors")
    ran = pipeline.repro_with(lambda p: _set(p, ("attack", "shokri", "max_iter"), 60), dvc=True)  # as DVC decides
    # the transfer stage fits the same Shokri attack across variants: it reruns too
    _check_ran(ran, {"validate", "attack_dense@0-none", "attack@0-none-lth_oneshot-0.5", "transfer@0", "aggregate"})
    assert _tree_hashes(pipeline.root, "models", "posteriors") == before


def test_each_attack_family_reruns_alone(pipeline: Pipeline) -> None:
    ran = pipeline.repro_with(lambda p: _set(p, ("attack", "greybox", "repeats"), 3))
    _check_ran(ran, {"validate", "greybox@0-none", "aggregate"})
    ran = pipeline.repro_with(lambda p: _set(p, ("attack", "samia", "epochs"), 3))
    _check_ran(ran, {"validate", "samia_dense@0-none", "samia@0-none-lth_oneshot-0.5", "aggregate"})
    ran = pipeline.repro_with(lambda p: _set(p, ("attack", "reference", "mirror"), True))
    _check_ran(ran, {"validate", "reference_dense@0-none", "reference@0-none-lth_oneshot-0.5", "aggregate"})


def test_new_release_variant_reruns_only_defend_and_attack(pipeline: Pipeline) -> None:
    before = _tree_hashes(pipeline.root, "models", "posteriors")
    ran = pipeline.repro_with(lambda p: _set(p, ("defense", "release"), ["topk", "round"]))
    _check_ran(ran, {"validate", "defend_dense@0-none", "defend@0-none-lth_oneshot-0.5",
                     "attack_dense@0-none", "attack@0-none-lth_oneshot-0.5", "aggregate"})
    assert (pipeline.root / "released/seed-0/none/dense/round/target.npz").is_file()
    assert set(pipeline.json("results/seed-0/none/dense.json")["attacks"]) == {"none", "topk", "round"}
    assert _tree_hashes(pipeline.root, "models", "posteriors") == before
    pipeline.repro_with(lambda p: _set(p, ("defense", "release"), ["topk"]))  # back, from the run cache
    assert set(pipeline.json("results/seed-0/none/dense.json")["attacks"]) == {"none", "topk"}


def test_reference_attacks(pipeline: Pipeline) -> None:
    result = pipeline.json("results/seed-0/none/lth_oneshot-0.5-reference.json")
    assert result["references"]["count"] == 4 and result["references"]["mirror"] is True
    assert set(result["attacks"]["none"]) == {"lira_online", "lira_online_fixed", "lira_offline", "lira_offline_fixed", "rmia_offline", "rmia_offline_ratio"}
    for name, metrics in result["attacks"]["none"].items():
        for metric in ATTACK_METRICS:
            assert 0.0 <= metrics[metric] <= 1.0, (name, metric)
        assert set(result["per_class"][name]) <= {str(c) for c in range(10)}
    ref = torch.load(pipeline.root / "models/reference-models/seed-0/none/lth_oneshot-0.5/ref-0/mask.pt", weights_only=True)
    assert ref, "the pruned reference model holds no masks"
    halves = [np.load(pipeline.root / f"models/reference-models/seed-0/none/dense/ref-{r}/in.npy") for r in REFS]
    assert (np.sum(halves, axis=0) == 2).all()  # every candidate IN for exactly half the references
    per_class = pipeline.json("results/seed-0/none/dense.json")["per_class"]
    assert set(per_class) >= set(ATTACKS)
    assert "## Per-class breakdown" in (pipeline.root / "reports/summary.md").read_text()


def test_new_sparsity_runs_only_that_level(pipeline: Pipeline) -> None:
    before = _tree_hashes(pipeline.root, "models/seed-0/none/dense", "models/seed-0/none/lth_oneshot-0.5", "posteriors")
    ran = pipeline.repro_with(lambda p: p["prune"]["sparsities"].append(0.8))
    _check_ran(ran, {
        "validate", "prune_target@0-none-lth_oneshot-0.8", "prune_shadow@0-none-lth_oneshot-0-0.8", "posteriors@0-none-lth_oneshot-0.8",
        "defend@0-none-lth_oneshot-0.8", "attack@0-none-lth_oneshot-0.8", "transfer@0", "greybox@0-none", "samia@0-none-lth_oneshot-0.8", "aggregate",
        *reference_stages(("lth_oneshot-0.8",), dense=False),
    })
    after = _tree_hashes(pipeline.root, "models/seed-0/none/dense", "models/seed-0/none/lth_oneshot-0.5", "posteriors")
    assert {k: after.get(k) for k in before} == before  # dense, 0.5 and their posteriors untouched
    summary = pipeline.json("metrics/summary.json")
    assert set(summary["none"]) == {"dense", "lth_oneshot-0.5", "lth_oneshot-0.8"}
    assert abs(summary["none"]["lth_oneshot-0.8"]["sparsity"] - 0.8) < 1e-3


def test_train_epochs_reruns_training_not_prepare(pipeline: Pipeline) -> None:
    ran = pipeline.repro_with(lambda p: _set(p, ("train", "epochs"), 3))
    _check_ran(ran, {
        "validate",
        "train_target@0-none", "train_shadow@0-none-0",
        "prune_target@0-none-lth_oneshot-0.5", "prune_target@0-none-lth_oneshot-0.8",
        "prune_shadow@0-none-lth_oneshot-0-0.5", "prune_shadow@0-none-lth_oneshot-0-0.8",
        "posteriors_dense@0-none", "posteriors@0-none-lth_oneshot-0.5", "posteriors@0-none-lth_oneshot-0.8",
        "defend_dense@0-none", "defend@0-none-lth_oneshot-0.5", "defend@0-none-lth_oneshot-0.8",
        "attack_dense@0-none", "attack@0-none-lth_oneshot-0.5", "attack@0-none-lth_oneshot-0.8",
        "transfer@0", "greybox@0-none", "samia_dense@0-none", "samia@0-none-lth_oneshot-0.5", "samia@0-none-lth_oneshot-0.8",
        "aggregate", *reference_stages(("lth_oneshot-0.5", "lth_oneshot-0.8")),
    })
    assert pipeline.json("models/seed-0/none/lth_oneshot-0.5/target/info.json")["train_epochs"] == 3


def test_new_shadow_trains_only_that_shadow(pipeline: Pipeline) -> None:
    kept = ("models/seed-0/none/dense/target", "models/seed-0/none/dense/shadow-0", "models/seed-0/none/lth_oneshot-0.5", "models/seed-0/none/lth_oneshot-0.8")
    before = _tree_hashes(pipeline.root, *kept)
    ran = pipeline.repro_with(lambda p: _set(p, ("shadow", "ids"), [0, 1]))
    _check_ran(ran, {
        "validate", "prepare",
        "train_shadow@0-none-1", "prune_shadow@0-none-lth_oneshot-1-0.5", "prune_shadow@0-none-lth_oneshot-1-0.8",
        "posteriors_dense@0-none", "posteriors@0-none-lth_oneshot-0.5", "posteriors@0-none-lth_oneshot-0.8",
        "defend_dense@0-none", "defend@0-none-lth_oneshot-0.5", "defend@0-none-lth_oneshot-0.8",
        "attack_dense@0-none", "attack@0-none-lth_oneshot-0.5", "attack@0-none-lth_oneshot-0.8",
        "transfer@0", "greybox@0-none", "samia_dense@0-none", "samia@0-none-lth_oneshot-0.5", "samia@0-none-lth_oneshot-0.8",
        "aggregate",
    })
    after = _tree_hashes(pipeline.root, *kept)
    assert {k: v for k, v in after.items() if "shadow-1" not in k} == before
    models = pipeline.json("posteriors/seed-0/none/dense/models.json")
    assert set(models) == {"target", "shadow-0", "shadow-1"}  # the attack now sees both shadows


def test_new_method_runs_only_that_method(pipeline: Pipeline) -> None:
    kept = ("models/seed-0/none/dense", "models/seed-0/none/lth_oneshot-0.5", "models/seed-0/none/lth_oneshot-0.8", "posteriors/seed-0/none")
    before = _tree_hashes(pipeline.root, *kept)
    ran = pipeline.repro_with(lambda p: p["prune"]["methods"].append("random_prune"))
    new = {
        f"{stage}@0-none-random_prune-{rest}"
        for stage, rests in (
            ("prune_target", ("0.5", "0.8")),
            ("prune_shadow", ("0-0.5", "0-0.8", "1-0.5", "1-0.8")),
            ("posteriors", ("0.5", "0.8")),
            ("defend", ("0.5", "0.8")),
            ("attack", ("0.5", "0.8")),
            ("samia", ("0.5", "0.8")),
        )
        for rest in rests
    } | reference_stages(("random_prune-0.5", "random_prune-0.8"), dense=False)
    _check_ran(ran, {"validate", "transfer@0", "greybox@0-none", "aggregate", *new})
    after = _tree_hashes(pipeline.root, *kept)
    assert {k: after[k] for k in before} == before  # lth_oneshot and dense files untouched
    info = pipeline.json("models/seed-0/none/random_prune-0.8/target/info.json")
    assert info["method"] == "random_prune" and abs(info["sparsity"] - 0.8) < 1e-3
    summary = pipeline.json("metrics/summary.json")["none"]
    assert {"random_prune-0.5", "random_prune-0.8"} <= set(summary)


def test_new_reference_pair_trains_only_that_pair(pipeline: Pipeline) -> None:
    kept = ("models/reference-models", "models/seed-0/none", "posteriors")
    before = _tree_hashes(pipeline.root, *kept)
    ran = pipeline.repro_with(lambda p: _set(p, ("attack", "reference", "ids"), [0, 1, 2, 3, 4, 5]))
    levels = tuple(f"{m}-{s}" for m in ("lth_oneshot", "random_prune") for s in ("0.5", "0.8"))
    new = reference_stages(levels, refs=(4, 5), attack=False)
    attacks = {"reference_dense@0-none", *(f"reference@0-none-{lv}" for lv in levels)}
    _check_ran(ran, {"validate", "aggregate", *new, *attacks})
    after = _tree_hashes(pipeline.root, *kept)
    assert {k: after[k] for k in before} == before  # references 0-3, targets and shadows untouched
    assert pipeline.json("results/seed-0/none/dense-reference.json")["references"]["count"] == 6


def test_dense_only_trains_nothing_and_pruned_levels_come_back_from_the_cache(pipeline: Pipeline) -> None:
    good = pipeline.params_path.read_text()
    kept = ("models", "posteriors")
    before = _tree_hashes(pipeline.root, *kept)
    heavy = ("train", "prune", "prepare", "posteriors", "defend", "attack", "samia", "reference")
    try:
        ran = pipeline.repro_with(lambda p: _set(p, ("prune", "methods"), []))
        assert "aggregate" in ran and not any(s.startswith(heavy) for s in ran), ran
        summary = pipeline.json("metrics/summary.json")
        assert summary and all(set(levels) == {"dense"} for levels in summary.values()), summary
        assert "dense models only" in (pipeline.root / "reports/summary.md").read_text()
        assert _tree_hashes(pipeline.root, *kept) == before
    finally:
        pipeline.params_path.write_text(good)
    ran = stages_run(pipeline.dvc("repro"))  # the pruned levels again: DVC restores them, nothing retrains
    assert not any(s.startswith(("train", "prune")) for s in ran), ran
    assert "lth_oneshot-0.5" in pipeline.json("metrics/summary.json")["none"]


# ---------------------------------------------------------------------------------------------
# 4. Bad params stop at `validate`, with one line naming the key, and change nothing (three
#    kinds here; tests/test_params.py checks every rule without running DVC)


BAD_PARAMS = [
    pytest.param(lambda p: _set(p, ("train", "epochs"), 0),
                 "train.epochs: must be a positive integer, got 0", id="epochs-zero"),
    pytest.param(lambda p: _set(p, ("train", "epoch"), 3),
                 "unknown key 'train.epoch' (did you mean 'train.epochs'?)", id="misspelt-key"),
    pytest.param(lambda p: _set(p, ("attack", "reference", "ids"), [0, 1, 2]),
                 "attack.reference.ids: need 0, 1, ..., M-1 with M even", id="odd-references"),
]


@pytest.mark.parametrize(("edit", "message"), BAD_PARAMS)
def test_bad_params_stop_at_validate(pipeline: Pipeline, edit: Callable[[dict], None], message: str) -> None:
    good = pipeline.params_path.read_text()
    model = pipeline.root / "models/seed-0/none/dense/target/model.pt"
    model_md5 = _md5(model)
    watched = ("models", "posteriors", "results", "metrics", "reports", "plots", "data/prepared")
    before = _tree_hashes(pipeline.root, *watched)
    try:
        pipeline.edit_params(edit)
        proc = pipeline.dvc("repro", check=False)
    finally:
        pipeline.params_path.write_text(good)
    assert proc.returncode != 0, proc.stdout
    assert stages_run(proc) == {"validate"}, proc.stdout
    errors = [line for line in proc.stdout.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, f"expected one error line from validate:\n{proc.stdout}"
    assert message in errors[0], errors[0]
    assert "Traceback" not in proc.stdout, proc.stdout
    assert "failed to reproduce 'validate'" in proc.stdout, proc.stdout
    assert model.is_file() and _md5(model) == model_md5
    assert _tree_hashes(pipeline.root, *watched) == before


# ---------------------------------------------------------------------------------------------
# 5. Experiments (last: `dvc exp run` commits experiment refs)


def _summaries(node: Any) -> Iterator[dict]:
    """Every metrics/summary.json payload anywhere in `dvc exp show --json` output."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "metrics/summary.json" and isinstance(value, dict):
                yield value.get("data", value)
            else:
                yield from _summaries(value)
    elif isinstance(node, list):
        for value in node:
            yield from _summaries(value)


def test_exp_run(pipeline: Pipeline) -> None:
    # baseline commit: one pruning level, reproduced; the experiment adds 0.8 back
    def baseline(p: dict) -> None:
        _set(p, ("prune", "sparsities"), [0.5])
        _set(p, ("prune", "methods"), ["lth_oneshot"])

    ran = pipeline.repro_with(baseline)
    assert "aggregate" in ran and not any(s.startswith(("train", "prune", "prepare")) for s in ran), ran
    assert set(pipeline.json("metrics/summary.json")["none"]) == {"dense", "lth_oneshot-0.5"}
    pipeline.run("git", "add", "-A")
    pipeline.run("git", "commit", "-q", "-m", "baseline for dvc exp run")

    pipeline.dvc("exp", "run", "-S", "prune.sparsities=[0.5,0.8]")
    assert pipeline.params()["prune"]["sparsities"] == [0.5, 0.8]
    assert set(pipeline.json("metrics/summary.json")["none"]) == {"dense", "lth_oneshot-0.5", "lth_oneshot-0.8"}

    show = pipeline.dvc("exp", "show", "--json")
    assert "metrics/summary.json" in show.stdout, show.stdout[-4000:]
    levels = [set(s.get("none", {})) for s in _summaries(json.loads(show.stdout))]
    assert {"dense", "lth_oneshot-0.5"} in levels, levels  # the baseline
    assert {"dense", "lth_oneshot-0.5", "lth_oneshot-0.8"} in levels, levels  # the experiment
