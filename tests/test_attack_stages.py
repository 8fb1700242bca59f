"""The grey-box, SAMIA and posteriors stage scripts run outside DVC on hand-made inputs, and the
attack figures. Fast: no `dvc repro` (outside DVC a stage reads the whole params.yaml)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

torch = pytest.importorskip("torch")

from ticketleak import attack_plots, runs  # noqa: E402
from ticketleak.core import layout, store
from ticketleak.attacks import Observed  # noqa: E402
from ticketleak.greybox import greybox_sweep  # noqa: E402
from ticketleak.models import build_model  # noqa: E402
from ticketleak.posteriors import sensitivity  # noqa: E402
from ticketleak.tensors import softmax  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"
LEVELS = ("dense", "lth_oneshot-0.5")
NUM_CLASSES = 10
PER_SIDE = 300


def _params(root: Path, **edits) -> dict:
    """The repository's params.yaml, shrunk, written to ``root``."""
    p = yaml.safe_load((REPO / "params.yaml").read_text())
    p["attack"]["greybox"].update(fractions=[0.1, 0.2], repeats=2)
    p["attack"]["samia"].update(epochs=3)
    p["attack"]["bootstrap"] = 10
    p["prune"].update(methods=["lth_oneshot"], sparsities=[0.5])
    p["shadow"]["ids"] = [0]
    for key, value in edits.items():
        node = p
        *path, last = key.split(".")
        for k in path:
            node = node[k]
        node[last] = value
    (root / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    return p


def _posteriors(seed: int, leaky: bool, with_sens: bool = True) -> dict[str, np.ndarray]:
    """Members first, then as many non-members; a leaky model is far more confident on members."""
    rng = np.random.default_rng(seed)
    n = 2 * PER_SIDE
    labels = rng.integers(0, NUM_CLASSES, n)
    member = np.r_[np.ones(PER_SIDE, bool), np.zeros(PER_SIDE, bool)]
    logits = rng.normal(0, 1, (n, NUM_CLASSES))
    logits[np.arange(n), labels] += 2.0 + (4.0 * member if leaky else 0.0)
    probs = softmax(logits)
    out = {
        "logits": logits.astype(np.float32),
        "labels": labels,
        "member": member,
        "loss": -np.log(probs[np.arange(n), labels]).astype(np.float32),
    }
    if with_sens:
        out["sens"] = rng.uniform(0, 1, (n, NUM_CLASSES)).astype(np.float32)
    return out


def _write_posteriors(root: Path, leaky: dict[str, bool], with_sens: bool = True) -> None:
    for i, (level, is_leaky) in enumerate(leaky.items()):
        for j, role in enumerate(("target", "shadow-0")):
            store.save_arrays(root / "posteriors/seed-0/none" / level / f"{role}.npz", _posteriors(10 * i + j, is_leaky, with_sens))


def _run_stage(root: Path, script: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DVC_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, str(REPO / "stages" / script), *args], cwd=root, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300,
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    _params(tmp_path)
    _write_posteriors(tmp_path, {"dense": True, "lth_oneshot-0.5": False})
    return tmp_path


# ---------------------------------------------------------------------------------------------
# stages/greybox.py


def test_greybox_stage_structure_and_signal(workdir: Path) -> None:
    proc = _run_stage(workdir, "greybox.py", "--seed", "0", "--defense", "none")
    assert proc.returncode == 0, proc.stdout
    progress = [line for line in proc.stdout.splitlines() if line.startswith("[greybox seed 0 none ")]
    assert len(progress) == len(LEVELS), proc.stdout
    out = json.loads((workdir / "results/seed-0/none/greybox.json").read_text())
    assert out["levels"] == list(LEVELS)
    assert set(out["sweep"]) == set(LEVELS)
    for level in LEVELS:
        sweep = out["sweep"][level]
        assert sweep["fractions"] == [0.1, 0.2] and sweep["repeats"] == 2
        assert set(sweep["results"]) == {"0.1", "0.2"}
        for cell in sweep["results"].values():
            assert cell["n_known"] + cell["n_eval"] == 2 * PER_SIDE
            assert set(cell["attacks"]) == {"kde_probability", "kde_cross_entropy", "kde_logit_scaled", "classifier_logreg"}
            for stats in cell["attacks"].values():
                for metric in ("accuracy", "fpr", "recall", "auc"):
                    assert 0.0 <= stats[metric]["mean"] <= 1.0 and stats[metric]["std"] >= 0.0
                assert set(stats["confusion"]) == {"tp", "fp", "fn", "tn"}
            assert cell["wasserstein_ce"]["mean"] >= 0.0
    for f in ("0.1", "0.2"):
        leaky = out["sweep"]["dense"]["results"][f]["attacks"]
        clean = out["sweep"]["lth_oneshot-0.5"]["results"][f]["attacks"]
        assert leaky["kde_cross_entropy"]["accuracy"]["mean"] > 0.7, leaky["kde_cross_entropy"]
        assert leaky["classifier_logreg"]["accuracy"]["mean"] > 0.7, leaky["classifier_logreg"]
        assert abs(clean["kde_cross_entropy"]["accuracy"]["mean"] - 0.5) < 0.1, clean["kde_cross_entropy"]
        assert (out["sweep"]["dense"]["results"][f]["wasserstein_ce"]["mean"]
                > 5 * out["sweep"]["lth_oneshot-0.5"]["results"][f]["wasserstein_ce"]["mean"])


def test_greybox_stage_missing_level_is_one_error_line(tmp_path: Path) -> None:
    _params(tmp_path)
    _write_posteriors(tmp_path, {"dense": True})  # lth_oneshot-0.5 missing
    proc = _run_stage(tmp_path, "greybox.py", "--seed", "0", "--defense", "none")
    assert proc.returncode == 1
    assert "error: posteriors/seed-0/none/lth_oneshot-0.5/target.npz: missing" in proc.stdout, proc.stdout
    assert "Traceback" not in proc.stdout
    assert not (tmp_path / "results/seed-0/none/greybox.json").exists()


# ---------------------------------------------------------------------------------------------
# stages/samia.py


@pytest.mark.parametrize("level", LEVELS)
def test_samia_stage_writes_metrics(workdir: Path, level: str) -> None:
    proc = _run_stage(workdir, "samia.py", "--seed", "0", "--defense", "none", "--level", level)
    assert proc.returncode == 0, proc.stdout
    assert f"[samia seed 0 none {level}] AUC" in proc.stdout
    out = json.loads((workdir / f"results/seed-0/none/{level}-samia.json").read_text())
    assert out["skipped"] is False and out["defense"] == "none" and out["level"] == level
    m = out["samia"]
    for key in ("accuracy", "auc", "precision", "recall", "tpr_at_1pct_fpr", "advantage"):
        assert 0.0 <= m[key] <= 1.0, (key, m[key])
    assert sum(m["confusion"].values()) == 2 * PER_SIDE
    assert "auc_std" in m  # attack.bootstrap > 0


def test_samia_stage_disabled_skips_training(workdir: Path) -> None:
    _params(workdir, **{"attack.samia.enabled": False})
    proc = _run_stage(workdir, "samia.py", "--seed", "0", "--defense", "none", "--level", "dense")
    assert proc.returncode == 0, proc.stdout
    out = json.loads((workdir / "results/seed-0/none/dense-samia.json").read_text())
    assert out["samia"] is None and out["skipped"] is True


def test_samia_stage_without_sensitivities_is_one_error_line(tmp_path: Path) -> None:
    _params(tmp_path)
    _write_posteriors(tmp_path, {"dense": True}, with_sens=False)
    proc = _run_stage(tmp_path, "samia.py", "--seed", "0", "--defense", "none", "--level", "dense")
    assert proc.returncode == 1
    assert "error: " in proc.stdout and "rerun the posteriors stage" in proc.stdout, proc.stdout
    assert "Traceback" not in proc.stdout


# ---------------------------------------------------------------------------------------------
# stages/posteriors.py: the sensitivities, in the order of the logits


def test_posteriors_stage_saves_sensitivities(tmp_path: Path) -> None:
    p = _params(tmp_path, **{"attack.samia.queries": 3})
    rng = np.random.default_rng(0)
    prepared = tmp_path / "data/prepared"
    prepared.mkdir(parents=True)
    (prepared / "meta.json").write_text(json.dumps({"mean": [0.3], "std": [0.4], "num_classes": 4}))

    def images(n: int) -> tuple[np.ndarray, np.ndarray]:
        return rng.integers(0, 256, (n, 1, 8, 8), dtype=np.uint8), rng.integers(0, 4, n)

    for role in ("target", "shadow-0"):
        arrays = {}
        for name, n in (("members", 12), ("nonmembers", 12), ("val", 4)):
            arrays[f"{name}_x"], arrays[f"{name}_y"] = images(n)
            arrays[f"{name}_idx"] = np.arange(n)
        store.save_arrays(prepared / f"{role}.npz", arrays)
        run_dir = tmp_path / layout.model_dir(0, "none", "dense", layout.Role.parse(role))
        run_dir.mkdir(parents=True)
        torch.manual_seed(layout.Role.parse(role).seed(0))
        model = build_model("mlp", 1, 4, 8)
        info = {"arch": "mlp", "channels": 1, "num_classes": 4, "image_size": 8, "dropout": 0.0, "sparsity": 0.0}
        runs.save_run(run_dir, model, info)
    proc = _run_stage(tmp_path, "posteriors.py", "--seed", "0", "--defense", "none", "--level", "dense")
    assert proc.returncode == 0, proc.stdout
    cwd = os.getcwd()
    os.chdir(tmp_path)  # runs.load_* read relative paths, as stages do
    try:
        for role in ("target", "shadow-0"):
            out = store.load_arrays(Path("posteriors/seed-0/none/dense") / f"{role}.npz")
            assert set(out) == {"logits", "labels", "member", "loss", "sens"}
            assert out["sens"].shape == out["logits"].shape and out["sens"].dtype == np.float32
            assert (out["sens"] >= 0).all() and out["sens"].sum() > 0
            model, _ = runs.load_run(layout.model_dir(0, "none", "dense", layout.Role.parse(role)))
            _, members, nonmembers, _ = runs.load_role_data(layout.Role.parse(role))
            expected = sensitivity(model, torch.cat([members[0], nonmembers[0]]), m=p["attack"]["samia"]["queries"],
                                   eps=p["attack"]["samia"]["eps"], seed=layout.Role.parse(role).seed(0))
            np.testing.assert_allclose(out["sens"], expected, rtol=1e-5, atol=1e-6)
    finally:
        os.chdir(cwd)


# ---------------------------------------------------------------------------------------------
# ticketleak/attack_plots.py


def _sweep(seed: int, gap: float) -> dict:
    rng = np.random.default_rng(seed)
    n = 120
    labels = rng.integers(0, 5, n)
    member = np.r_[np.ones(n // 2, bool), np.zeros(n // 2, bool)]
    logits = rng.normal(0, 1, (n, 5))
    logits[np.arange(n), labels] += 1.0 + gap * member
    return greybox_sweep(Observed(softmax(logits), labels, member), [0.05, 0.1, 0.2], 2, 0)


def _greybox_file(defense: str, levels: tuple[str, ...]) -> dict:
    return {"defense": defense, "levels": list(levels), "sweep": {lv: _sweep(i, 3.0 - i) for i, lv in enumerate(levels)}}


def _metrics(auc: float) -> dict:
    return {"accuracy": auc - 0.02, "auc": auc, "precision": 0.6, "recall": 0.5}


def _png(path: Path) -> None:
    assert path.is_file() and path.read_bytes()[:8] == PNG, path


def test_greybox_figures(tmp_path: Path) -> None:
    by_defense = {
        "none": _greybox_file("none", ("dense", "lth_oneshot-0.5", "lth_oneshot-0.9")),
        "l2": _greybox_file("l2", ("dense", "lth_oneshot-0.5")),
    }
    by_defense = json.loads(json.dumps(by_defense))  # as the aggregate stage reads it
    attack_plots.greybox_figure(by_defense, tmp_path / "greybox.png")
    _png(tmp_path / "greybox.png")
    attack_plots.confusion_figure(by_defense["none"], tmp_path / "confusion.png")
    _png(tmp_path / "confusion.png")
    attack_plots.confusion_figure(_greybox_file("none", ("dense",)), tmp_path / "confusion_dense.png")
    _png(tmp_path / "confusion_dense.png")
    attack_plots.greybox_figure({}, tmp_path / "empty.png")
    _png(tmp_path / "empty.png")


def test_shadow_curve_figure(tmp_path: Path) -> None:
    def record(base: float, curve: bool = True) -> dict:
        out = {"attacks": {}}
        if curve:  # JSON keys are strings
            out["shadow_curve"] = {
                str(k): {"shokri_sorted": _metrics(base + 0.01 * k), "loss_global": _metrics(base + 0.02),
                         "mentropy_class": _metrics(base + 0.03 * k)}
                for k in (1, 2, 3)
            }
        return out

    results = {"dense": record(0.6), "lth_oneshot-0.5": record(0.58), "lth_oneshot-0.9": record(0.5, curve=False)}
    attack_plots.shadow_curve_figure(results, tmp_path / "curve.png")
    _png(tmp_path / "curve.png")
    attack_plots.shadow_curve_figure({"dense": record(0.6, curve=False)}, tmp_path / "none.png")
    _png(tmp_path / "none.png")


def test_samia_rows() -> None:
    rows = attack_plots.samia_rows({
        "dense": {"skipped": False, "samia": {**_metrics(0.61), "tpr_at_1pct_fpr": 0.03, "auc_std": 0.02}},
        "lth_oneshot-0.5": {"skipped": False, "samia": {**_metrics(0.55), "tpr_at_1pct_fpr": 0.01}},
        "lth_oneshot-0.9": {"samia": None, "skipped": True},
    })
    assert rows[0] == "| level | AUC | accuracy | TPR@1%FPR |" and rows[1] == "|---|---|---|---|"
    assert rows[2] == "| dense | 0.610 (0.020) | 0.590 | 0.030 |"
    assert rows[3] == "| lth_oneshot-0.5 | 0.550 | 0.530 | 0.010 |"
    assert rows[4] == "| lth_oneshot-0.9 | skipped | - | - |"
