"""The whole DVC pipeline on a user's own CSV table (tabular records, the MLP): every stage from
prepare to aggregate runs through the parallel runner, and its outputs are those of records,
not images. Slow: it runs a small pipeline in a temporary repository."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("dvc")
pytest.importorskip("torch")

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
TICKETLEAK = str(VENV_BIN / "ticketleak") if (VENV_BIN / "ticketleak").exists() else shutil.which("ticketleak") or "ticketleak"
FEATURES, CLASSES, ROWS = 8, 3, 420


def _table(path: Path) -> None:
    """A learnable table: each class shifts two of eight noisy features; a text label column."""
    rng = np.random.default_rng(0)
    y = np.arange(ROWS) % CLASSES
    x = rng.normal(0, 1, (ROWS, FEATURES))
    x[np.arange(ROWS), 2 * y] += 2.5
    lines = [",".join([*(f"f{i}" for i in range(FEATURES)), "species"])]
    lines += [",".join([*(f"{v:.4f}" for v in row), ["ash", "birch", "cedar"][c]]) for row, c in zip(x, y)]
    path.write_text("\n".join(lines) + "\n")


def test_pipeline_runs_on_a_csv_table(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy2(REPO / name, root / name)
    for name in ("stages", "ticketleak"):
        shutil.copytree(REPO / name, root / name, ignore=ignore)
    (root / "data" / "external").mkdir(parents=True)
    shutil.copy2(REPO / "data" / "external" / "README.md", root / "data" / "external" / "README.md")
    _table(root / "data" / "external" / "trees.csv")
    p = yaml.safe_load((root / "params.yaml").read_text())
    p["seeds"] = [0]
    p["data"].update(name="tabular", path="data/external/trees.csv", label="species",
                     target_size=60, shadow_size=60, val_size=21)
    p["model"]["arch"] = "mlp"
    p["train"]["epochs"] = 5
    p["shadow"]["ids"] = [0]
    p["prune"].update(methods=["lth_oneshot", "filter_l1"], sparsities=[0.5])
    p["defense"].update(train=["none"], release=[])
    p["attack"]["samia"]["enabled"] = False
    p["attack"]["reference"]["defenses"] = []
    p["attack"]["bootstrap"] = 0
    p["attack"]["greybox"].update(fractions=[0.1], repeats=2)
    (root / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DVC_", "GIT_"))}
    env.update(DVC_NO_ANALYTICS="1", PATH=str(VENV_BIN) + os.pathsep + env.get("PATH", ""))

    def run(*cmd: str) -> str:
        proc = subprocess.run(cmd, cwd=root, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=600)
        assert proc.returncode == 0, f"{' '.join(cmd)}:\n{proc.stdout[-6000:]}"
        return proc.stdout

    for cmd in (("git", "init", "-q"), ("git", "config", "user.email", "t@ticketleak.invalid"),
                ("git", "config", "user.name", "t"), ("git", "config", "commit.gpgsign", "false"),
                (str(VENV_BIN / "dvc"), "init", "-q"), ("git", "add", "-A"), ("git", "commit", "-q", "-m", "table")):
        run(*cmd)
    out = run(TICKETLEAK, "repro", "-j", "2")
    ran = set(re.findall(r"^Running stage '([^']+)':", out, re.MULTILINE))
    assert {"prepare", "train_target@0-none", "prune_target@0-none-filter_l1-0.5", "attack@0-none-lth_oneshot-0.5",
            "greybox@0-none", "aggregate"} <= ran, out

    meta = json.loads((root / "data/prepared/meta.json").read_text())
    assert (meta["channels"], meta["image_size"], meta["num_classes"]) == (FEATURES, 1, CLASSES)
    assert meta["classes"] == ["ash", "birch", "cedar"]
    target = np.load(root / "data/prepared/target.npz")
    assert target["members_x"].dtype == np.float32 and target["members_x"].shape == (60, FEATURES, 1, 1)
    summary = json.loads((root / "metrics/summary.json").read_text())
    assert set(summary["none"]) == {"dense", "lth_oneshot-0.5", "filter_l1-0.5"}
    dense = summary["none"]["dense"]
    assert dense["test_acc"] > 0.6, dense  # well above chance (1/3): the MLP learned the records
    assert 0.0 <= dense["headline_auc"] <= 1.0
    assert abs(summary["none"]["lth_oneshot-0.5"]["sparsity"] - 0.5) < 0.01  # the records' MLP was pruned
    assert not (root / "plots" / "most_exposed.png").exists()  # records are not pictured
    assert "(tabular records: no pictures)" in (root / "reports" / "summary.md").read_text()
