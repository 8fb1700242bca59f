"""Attack transfer: fit on the shadows of one model variant, attack the target of another.

Seed 000 (Fig. 4) fits the attack on one architecture and sparsity and applies it to others;
seed 002 shows the attacker succeeds without knowing the pruning method. Each source variant's
shadows train one attack; every target variant is then scored with it, giving a source x target
matrix whose diagonal is the usual (matching) attack.
"""

from __future__ import annotations

import warnings

import numpy as np

from ticketleak import classifiers
from ticketleak.attacks import Observed, best_threshold, shokri_features, signals
from ticketleak.metrics import auc


def _balanced_accuracy(member: np.ndarray, decision: np.ndarray) -> float:
    return float(0.5 * (decision[member].mean() + (~decision[~member]).mean()))


def transfer_matrix(
    shadows: dict[str, Observed], targets: dict[str, Observed], hidden: list[int], max_iter: int, seed: int
) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
    """``{attack: {source: {target: {accuracy, auc}}}}`` for the Shokri MLP (sorted posterior) and
    the global loss threshold, each fitted once per source, its decision threshold calibrated on
    the source's shadows (balanced accuracy)."""
    from sklearn.exceptions import ConvergenceWarning

    out: dict = {"shokri_sorted": {}, "loss_global": {}}
    for source, shadow in shadows.items():
        clf = classifiers.make("mlp", hidden, max_iter, seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(shokri_features(shadow.probs, shadow.labels, "sorted"), shadow.member.astype(int))
        fit_score = clf.predict_proba(shokri_features(shadow.probs, shadow.labels, "sorted"))[:, 1]
        cut = best_threshold(fit_score[shadow.member], fit_score[~shadow.member])  # calibrated on the source's shadows
        loss = signals(shadow.probs, shadow.labels)["loss"]
        threshold = best_threshold(loss[shadow.member], loss[~shadow.member])
        for name in out:
            out[name][source] = {}
        for target_name, target in targets.items():
            member = target.member.astype(bool)
            score = clf.predict_proba(shokri_features(target.probs, target.labels, "sorted"))[:, 1]
            out["shokri_sorted"][source][target_name] = {"accuracy": _balanced_accuracy(member, score >= cut), "auc": auc(member, score)}
            t_loss = signals(target.probs, target.labels)["loss"]
            out["loss_global"][source][target_name] = {"accuracy": _balanced_accuracy(member, t_loss >= threshold), "auc": auc(member, t_loss)}
    return out


def blind_summary(matrix: dict[str, dict[str, dict[str, float]]], method_of: dict[str, str],
                  metric: str = "auc") -> dict[str, dict[str, float]]:
    """Per target: the matching attack's ``metric`` (``auc`` or ``accuracy``), the same with dense
    shadows, and its mean with shadows pruned by every other method at the same sparsity (the
    attacker does not know it)."""
    out = {}
    for target in matrix:
        if target == "dense":
            continue
        method, sparsity = method_of[target], target.rpartition("-")[2]
        others = [s for s in matrix if s not in ("dense", target) and s.endswith(f"-{sparsity}") and method_of[s] != method]
        row = {"matching": matrix[target][target][metric], "dense_shadows": matrix["dense"][target][metric]}
        if others:
            row["other_methods_mean"] = float(np.mean([matrix[s][target][metric] for s in others]))
        out[target] = row
    return out
