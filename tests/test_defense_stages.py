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


def test_ppb_finetune_leaves_the_dense_model_undefended_and_fine_tunes_with_ppb(workdir):
    """Seed 002's PPB through the stages: its dense target is the undefended one, weight for
    weight; its pruned target is fine-tuned with the penalty, so it differs from the undefended
    ticket that starts from the same weights and mask."""
    def state(defense: str, level: str) -> dict:
        return torch.load(workdir / f"models/seed-0/{defense}/{level}/target/model.pt", weights_only=True)

    for defense in ("none", "ppb_finetune"):
        _stage(workdir, "train.py", "--seed", "0", "--defense", defense)
        _stage(workdir, "prune.py", "--seed", "0", "--defense", defense, "--method", "finetune_l1", "--sparsity", "0.5")
    dense, ppb_dense = state("none", "dense"), state("ppb_finetune", "dense")
    assert all(torch.equal(dense[k], ppb_dense[k]) for k in dense)
    ticket, ppb_ticket = state("none", "finetune_l1-0.5"), state("ppb_finetune", "finetune_l1-0.5")
    masks = [torch.load(workdir / f"models/seed-0/{d}/finetune_l1-0.5/target/mask.pt", weights_only=True) for d in ("none", "ppb_finetune")]
    assert all(torch.equal(masks[0][k], masks[1][k]) for k in masks[0])  # same pruning of the same model
    assert not all(torch.equal(ticket[k], ppb_ticket[k]) for k in ticket)  # fine-tuned differently
