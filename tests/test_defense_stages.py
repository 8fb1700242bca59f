"""Training-time defenses through the real stage scripts (outside DVC, shrunk params)."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml
from conftest import ROOT

from ticketleak.defenses.topk import top_k
from ticketleak.tensors import softmax

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("defended")
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["data"].update(target_size=60, shadow_size=60, val_size=20)
    raw["train"]["epochs"] = 3
    raw["shadow"]["ids"] = [0]
    raw["attack"].update(bootstrap=0, shadow_curve=False)
    raw["attack"]["shokri"].update(max_iter=50, variants=["sorted"])
    (root / "params.yaml").write_text(yaml.safe_dump(raw))
    _stage(root, "prepare.py")
    return root


def _stage(root, script, *args):
    proc = subprocess.run([sys.executable, str(ROOT / "stages" / script), *args], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.mark.parametrize("defense", ["distill", "dpsgd", "early_stop", "advreg", "ppb", "label_smoothing"])
def test_defended_dense_and_ticket(workdir, defense):
    for shadow in ([], ["--shadow", "0"]):
        _stage(workdir, "train.py", "--seed", "0", "--defense", defense, *shadow)
        _stage(workdir, "prune.py", "--seed", "0", "--defense", defense, "--method", "lth_oneshot", "--sparsity", "0.8", *shadow)
    dense = json.loads((workdir / f"models/seed-0/{defense}/dense/target/info.json").read_text())
    ticket_dir = workdir / f"models/seed-0/{defense}/lth_oneshot-0.8/target"
    ticket = json.loads((ticket_dir / "info.json").read_text())
    assert dense["defense_kind"] == defense and abs(ticket["sparsity"] - 0.8) < 1e-3
    state = torch.load(ticket_dir / "model.pt", weights_only=True)
    mask = torch.load(ticket_dir / "mask.pt", weights_only=True)
    assert all((state[f"{name}.weight"][~keep] == 0).all() for name, keep in mask.items())  # mask kept
    if defense == "dpsgd":
        assert 0 < dense["epsilon"] < float("inf") and 0 < ticket["epsilon"] < float("inf")
    if defense == "distill":
        assert (workdir / f"models/seed-0/{defense}/dense/target/teacher.pt").is_file()
    if defense == "early_stop":
        assert 1 <= dense["best_epoch"] <= 3
    _stage(workdir, "posteriors.py", "--seed", "0", "--defense", defense, "--level", "lth_oneshot-0.8")


def test_attack_reports_the_non_adaptive_attacker(workdir):
    for shadow in ([], ["--shadow", "0"]):
        _stage(workdir, "train.py", "--seed", "0", "--defense", "none", *shadow)
        _stage(workdir, "prune.py", "--seed", "0", "--defense", "none", "--method", "lth_oneshot", "--sparsity", "0.8", *shadow)
    _stage(workdir, "posteriors.py", "--seed", "0", "--defense", "none", "--level", "lth_oneshot-0.8")
    _stage(workdir, "defend.py", "--seed", "0", "--defense", "early_stop", "--level", "lth_oneshot-0.8")
    assert sorted(p.name for p in (workdir / "released/seed-0/early_stop/lth_oneshot-0.8").iterdir()) == ["round", "topk"]
    for role in ("target", "shadow-0"):  # topk with k = 1 (params.yaml): the label only
        released = np.load(workdir / f"released/seed-0/early_stop/lth_oneshot-0.8/topk/{role}.npz")
        posterior = np.load(workdir / f"posteriors/seed-0/early_stop/lth_oneshot-0.8/{role}.npz")
        assert sorted(released.files) == ["labels", "member", "probs"]
        assert np.array_equal(released["probs"], top_k(softmax(posterior["logits"]), 1))
        assert np.array_equal(released["member"], posterior["member"]) and np.array_equal(released["labels"], posterior["labels"])
    _stage(workdir, "attack.py", "--seed", "0", "--defense", "early_stop", "--level", "lth_oneshot-0.8")
    result = json.loads((workdir / "results/seed-0/early_stop/lth_oneshot-0.8.json").read_text())
    assert set(result["attacks"]) == {"none", "topk", "round"}
    assert "shokri_sorted" in result["nonadaptive"] and 0 <= result["nonadaptive"]["loss_global"]["auc"] <= 1
