"""Per-sample exposure tables (ticketleak.exposure) on data made here."""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest
from scipy.stats import norm

from ticketleak import exposure
from ticketleak.reference import one_sided_log_odds


def _split(n=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "members_idx": np.arange(n) * 10, "members_y": np.arange(n) % classes,
        "members_x": rng.integers(0, 255, (n, 1, 4, 4), dtype=np.uint8),
        "nonmembers_idx": np.arange(n) * 10 + 1, "nonmembers_y": (np.arange(n) + 1) % classes,
        "nonmembers_x": rng.integers(0, 255, (n, 1, 4, 4), dtype=np.uint8),
    }


def _logits(split, correct: np.ndarray) -> np.ndarray:
    labels = np.concatenate([split["members_y"], split["nonmembers_y"]])
    pred = np.where(correct, labels, (labels + 1) % 3)
    return np.eye(3)[pred] * 5.0


def test_table_columns_order_and_p_values():
    split = _split()
    correct = np.r_[np.ones(6, bool), np.zeros(6, bool)]
    z = np.linspace(-3, 3, 12)
    scores = {"loss_global": -np.arange(12.0), "lira_offline_fixed": one_sided_log_odds(z), "rmia_offline": np.linspace(0, 1, 12)}
    t = exposure.table(split, _logits(split, correct), scores)
    assert list(t)[:5] == ["position", "dataset_index", "class", "member", "correct"]
    assert t["member"].tolist() == [True] * 6 + [False] * 6
    assert t["dataset_index"].tolist() == [0, 10, 20, 30, 40, 50, 1, 11, 21, 31, 41, 51]
    assert t["correct"].tolist() == correct.tolist()
    np.testing.assert_allclose(t["lira_offline_fixed_p"], norm.sf(z), rtol=1e-9)  # the one-sided test's p
    np.testing.assert_allclose(t["rmia_offline_p"], 1 - scores["rmia_offline"])
    assert "loss_global_p" not in t
    with pytest.raises(ValueError, match="13 logits for 12"):
        exposure.table(split, np.zeros((13, 3)), scores)
    with pytest.raises(ValueError, match="attack x"):
        exposure.table(split, _logits(split, correct), {"x": np.zeros(5)})


def test_csv_round_trips_and_most_exposed_ranks_by_score():
    split = _split()
    score = np.array([0.1, 0.9, 0.5, 0.9, 0.2, 0.0, 0.3, 0.95, 0.4, 0.1, 0.2, 0.6])
    t = exposure.table(split, _logits(split, np.ones(12, bool)), {"a": score})
    rows = list(csv.DictReader(io.StringIO(exposure.to_csv(t))))
    assert len(rows) == 12 and rows[7]["member"] == "0" and rows[1]["a"] == "0.9" and rows[3]["class"] == "0"
    assert exposure.most_exposed(t, "a", 4).tolist() == [7, 1, 3, 11]  # ties by position


def test_slices_isolate_a_leaky_class_and_misclassified_samples():
    split = _split(n=30, classes=3)
    member = np.r_[np.ones(30, bool), np.zeros(30, bool)]
    labels = np.concatenate([split["members_y"], split["nonmembers_y"]])
    score = np.where(labels == 2, member.astype(float), 0.5)  # class 2 separates perfectly, others not at all
    correct = np.r_[np.ones(30, bool), np.zeros(30, bool)]  # misclassified = non-members only
    t = exposure.table(split, _logits(split, correct), {"s": score})
    by = {name: (n, a) for name, n, a in exposure.slices(t, "s")}
    assert by["class 2"][1] == 1.0 and by["class 0"][1] == 0.5
    assert sum(by[f"class {c}"][0] for c in range(3)) == 60
    assert math.isnan(by["misclassified"][1]) and math.isnan(by["classified correctly"][1])


def test_report_lines_and_figure(tmp_path):
    split = _split()
    t1 = exposure.table(split, _logits(split, np.ones(12, bool)), {"a": np.arange(12.0)})
    t2 = exposure.table(split, _logits(split, np.ones(12, bool)), {"a": -np.arange(12.0)})
    lines = exposure.report_lines({"dense": t1, "lth-0.9": t2}, "a", ["zero", "one", "two"])
    text = "\n".join(lines)
    assert "### dense" in text and "### lth-0.9" in text and "rank at lth-0.9" in text
    first = next(line for line in lines if line.startswith("| 1 |"))
    assert first.split("|")[2].strip() == "11" and first.split("|")[8].strip() == "12"  # dense's top is lth's last
    exposure.exposed_images({"dense": t1, "lth-0.9": t2}, split, "a", ["zero", "one", "two"], tmp_path / "e.png", k=4)
    assert (tmp_path / "e.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
