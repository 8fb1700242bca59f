import numpy as np
import pytest
from sklearn.metrics import precision_score, recall_score, roc_auc_score, roc_curve

from ticketleak.metrics import attack_metrics, auc, per_class_metrics, tpr_at_fpr


def test_separable_scores_are_perfect():
    member = np.r_[np.ones(100, bool), np.zeros(100, bool)]
    score = np.r_[np.linspace(2, 3, 100), np.linspace(0, 1, 100)]
    m = attack_metrics(member, score, score > 1.5)
    assert m["auc"] == 1.0 and m["accuracy"] == 1.0 and m["advantage"] == 1.0
    assert m["tpr_at_1pct_fpr"] == 1.0 and m["tpr_at_0.1pct_fpr"] == 1.0
    assert m["precision"] == 1.0 and m["recall"] == 1.0 and m["fpr"] == 0.0


def test_identical_distributions_are_near_chance():
    rng = np.random.default_rng(0)
    member = np.r_[np.ones(5000, bool), np.zeros(5000, bool)]
    score = rng.normal(size=10000)
    m = attack_metrics(member, score, score > 0)
    assert abs(m["auc"] - 0.5) < 0.02 and abs(m["accuracy"] - 0.5) < 0.02
    assert m["tpr_at_1pct_fpr"] < 0.03


def test_agrees_with_scikit_learn():
    rng = np.random.default_rng(1)
    member = rng.random(400) < 0.5
    score = rng.normal(size=400) + member * 0.7
    score[:50] = np.round(score[:50])  # ties
    decision = score > 0.3
    m = attack_metrics(member, score, decision)
    assert m["auc"] == pytest.approx(roc_auc_score(member, score))
    assert m["precision"] == pytest.approx(precision_score(member, decision))
    assert m["recall"] == pytest.approx(recall_score(member, decision))
    fpr, tpr, _ = roc_curve(member, score)
    assert m["advantage"] == pytest.approx(np.max(tpr - fpr))
    tn = (~decision & ~member).sum() / (~member).sum()
    assert m["accuracy"] == pytest.approx(0.5 * (m["recall"] + tn))


def test_tpr_at_fpr_takes_the_largest_tpr_under_the_cap():
    fpr = np.array([0.0, 0.005, 0.01, 0.02, 1.0])
    tpr = np.array([0.0, 0.2, 0.3, 0.6, 1.0])
    assert tpr_at_fpr(fpr, tpr, 0.01) == 0.3
    assert tpr_at_fpr(fpr, tpr, 0.001) == 0.0


def test_bootstrap_spread_is_reported():
    rng = np.random.default_rng(2)
    member = np.r_[np.ones(200, bool), np.zeros(200, bool)]
    score = rng.normal(size=400) + member
    m = attack_metrics(member, score, score > 0.5, bootstrap=50)
    assert 0 < m["auc_std"] < 0.05 and abs(m["auc_mean"] - m["auc"]) < 0.02
    assert auc(member, score) == m["auc"]


def test_per_class_breakdown_isolates_the_leaky_class():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 200)
    member = np.tile(np.r_[np.ones(100, bool), np.zeros(100, bool)], 3)
    score = rng.normal(size=600) + 5.0 * (member & (labels == 1))  # only class 1 leaks
    per = per_class_metrics(member, score, score > 2.5, labels)
    assert set(per) == {"0", "1", "2"}
    assert per["1"]["auc"] > 0.99 and per["1"]["accuracy"] > 0.95
    for c in ("0", "2"):
        assert abs(per[c]["auc"] - 0.5) < 0.1
    assert per["0"]["auc"] == pytest.approx(roc_auc_score(member[:200], score[:200]))
    # a class with members only is left out (no non-members to compare with)
    assert "3" not in per_class_metrics(np.r_[member, True], np.r_[score, 0.0], np.r_[score > 2.5, True], np.r_[labels, 3])
