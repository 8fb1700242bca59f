"""Membership-inference metrics. Members are the positive class (label 1); higher score = member."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import roc_curve


def auc(member: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC via the rank-sum (Mann-Whitney) statistic; ties count one half."""
    member = np.asarray(member, dtype=bool)
    n1, n0 = member.sum(), (~member).sum()
    if n1 == 0 or n0 == 0:
        raise ValueError("AUC needs both members and non-members")
    ranks = rankdata(score)
    return float((ranks[member].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def tpr_at_fpr(fpr: np.ndarray, tpr: np.ndarray, max_fpr: float) -> float:
    """The largest TPR reached with FPR <= ``max_fpr``."""
    ok = fpr <= max_fpr
    return float(tpr[ok].max()) if ok.any() else 0.0


def bootstrap_auc(member: np.ndarray, score: np.ndarray, n: int, seed: int = 0) -> tuple[float, float]:
    """Mean and standard deviation of the AUC over ``n`` resamples (members and non-members apart)."""
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(member), np.flatnonzero(~np.asarray(member, dtype=bool))
    values = []
    for _ in range(n):
        idx = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        values.append(auc(member[idx], score[idx]))
    return float(np.mean(values)), float(np.std(values))


def attack_metrics(member: np.ndarray, score: np.ndarray, decision: np.ndarray, bootstrap: int = 0) -> dict:
    """Every figure the project reports for one attack on one balanced evaluation set.

    ``score`` is threshold-free (AUC, ROC, TPR at low FPR, advantage); ``decision`` is the
    attack's own member/non-member call (accuracy, precision, recall, F1).
    """
    member = np.asarray(member, dtype=bool)
    decision = np.asarray(decision, dtype=bool)
    tp = int((decision & member).sum())
    fp = int((decision & ~member).sum())
    fn = int((~decision & member).sum())
    tn = int((~decision & ~member).sum())
    tpr, tnr = tp / max(tp + fn, 1), tn / max(tn + fp, 1)
    precision = tp / (tp + fp) if tp + fp else 0.0
    fpr_curve, tpr_curve, _ = roc_curve(member, score)
    out = {
        "accuracy": 0.5 * (tpr + tnr),  # balanced accuracy
        "precision": precision,
        "recall": tpr,
        "f1": 2 * precision * tpr / (precision + tpr) if precision + tpr else 0.0,
        "fpr": 1 - tnr,
        "auc": auc(member, score),
        "advantage": float(np.max(tpr_curve - fpr_curve)),
        "tpr_at_1pct_fpr": tpr_at_fpr(fpr_curve, tpr_curve, 0.01),
        "tpr_at_0.1pct_fpr": tpr_at_fpr(fpr_curve, tpr_curve, 0.001),
        "confusion": {"tp": tp, "fp": fp, "fn": fn, "tn": tn},
    }
    if bootstrap:
        out["auc_mean"], out["auc_std"] = bootstrap_auc(member, score, bootstrap)
    return out


def per_class_metrics(member: np.ndarray, score: np.ndarray, decision: np.ndarray, labels: np.ndarray) -> dict[str, dict]:
    """Balanced accuracy, AUC and advantage of one attack on each true class's samples alone
    (classes holding members and non-members both; keys are class indices as strings)."""
    member, labels = np.asarray(member, dtype=bool), np.asarray(labels)
    out = {}
    for c in np.unique(labels):
        keep = labels == c
        if member[keep].all() or not member[keep].any():
            continue
        m = attack_metrics(member[keep], np.asarray(score)[keep], np.asarray(decision)[keep])
        out[str(int(c))] = {k: m[k] for k in ("accuracy", "auc", "advantage")}
    return out
