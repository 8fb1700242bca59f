"""Black-box membership-inference attacks fitted on shadow models.

An attack sees what the target releases: posteriors ``p`` (N, C) and true labels ``y``. Every
attack is fitted on the shadows' members (1) and non-members (0), then scores the target's
samples: a membership score (higher = member) and a member/non-member decision.

- Metric attacks (Yeom 2018; Song & Mittal 2021): confidence ``p_y``, negative prediction
  entropy, negative modified entropy, negative loss; one threshold for all classes (``global``)
  or one per class (``class``), each chosen to maximise the shadows' balanced accuracy.
- Correctness ("gap") attack: member iff the prediction is right; needs no fitting.
- Shokri shadow attack (Shokri 2017): a scikit-learn classifier (MLP by default; logistic
  regression, linear / RBF SVM, decision tree, random forest as in seed 003) on the posterior sorted
  in descending order (``sorted``), its three largest values (``top3``, Salem 2018 ML-Leaks) or the
  posterior with the one-hot true label (``label``); one model over all classes or one per class.
- ``shadow_count_curve``: an attack's metrics against the number of shadows used (seed 003, Fig. 1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from ticketleak import classifiers as attack_models

EPS = 1e-30


@dataclass(frozen=True)
class Observed:
    """Released posteriors, true labels and (for fitting or scoring) membership of some samples."""

    probs: np.ndarray
    labels: np.ndarray
    member: np.ndarray

    @staticmethod
    def concat(parts: list["Observed"]) -> "Observed":
        return Observed(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("probs", "labels", "member")))


def signals(probs: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """The per-sample metric signals, each oriented so that members score higher."""
    n = np.arange(len(labels))
    p_y = probs[n, labels]
    log_p = np.log(np.maximum(probs, EPS))
    log_1mp = np.log(np.maximum(1 - probs, EPS))
    entropy = -(probs * log_p).sum(1)
    others = probs * log_1mp
    others[n, labels] = 0.0
    mentropy = -(1 - p_y) * log_p[n, labels] - others.sum(1)
    return {"confidence": p_y, "entropy": -entropy, "mentropy": -mentropy, "loss": log_p[n, labels]}


def best_threshold(in_scores: np.ndarray, out_scores: np.ndarray) -> float:
    """The t among the scores maximising 0.5 * (mean(in >= t) + mean(out < t)); the smallest on ties."""
    candidates = np.unique(np.concatenate([in_scores, out_scores]))
    in_sorted, out_sorted = np.sort(in_scores), np.sort(out_scores)
    in_ge = 1 - np.searchsorted(in_sorted, candidates, side="left") / len(in_sorted)
    out_lt = np.searchsorted(out_sorted, candidates, side="left") / len(out_sorted)
    return float(candidates[np.argmax(in_ge + out_lt)])


def class_thresholds(scores: np.ndarray, labels: np.ndarray, member: np.ndarray, num_classes: int) -> np.ndarray:
    """One threshold per class; a class without both members and non-members gets the global one."""
    fallback = best_threshold(scores[member], scores[~member])
    out = np.full(num_classes, fallback)
    for c in range(num_classes):
        sel = labels == c
        if (sel & member).any() and (sel & ~member).any():
            out[c] = best_threshold(scores[sel & member], scores[sel & ~member])
    return out


@dataclass(frozen=True)
class Scored:
    """An attack's output on the target: threshold-free score and the attack's own decision."""

    score: np.ndarray
    decision: np.ndarray


def threshold_attacks(shadow: Observed, target: Observed) -> dict[str, Scored]:
    """All metric attacks, global and class-dependent, plus the correctness attack."""
    num_classes = shadow.probs.shape[1]
    fit_signals, eval_signals = signals(shadow.probs, shadow.labels), signals(target.probs, target.labels)
    m = shadow.member.astype(bool)
    out = {}
    for name, s in fit_signals.items():
        t = best_threshold(s[m], s[~m])
        e = eval_signals[name]
        out[f"{name}_global"] = Scored(e, e >= t)
        tc = class_thresholds(s, shadow.labels, m, num_classes)[target.labels]
        out[f"{name}_class"] = Scored(e - tc, e >= tc)
    correct = target.probs.argmax(1) == target.labels
    out["correctness"] = Scored(correct.astype(float), correct)
    return out


FEATURES = {  # Shokri attack features (seed 002's baselines) by variant name
    "sorted": lambda probs, labels: -np.sort(-probs, axis=1),  # the posterior, descending ("NN")
    "top3": lambda probs, labels: -np.sort(-probs, axis=1)[:, :3],  # its three largest (Salem 2018, "Top3-NN")
    "label": lambda probs, labels: np.hstack([probs, np.eye(probs.shape[1])[labels]]),  # posterior, one-hot label ("NNCls")
}


def shokri_features(probs: np.ndarray, labels: np.ndarray, variant: str) -> np.ndarray:
    """The attack features of ``variant`` (a key of :data:`FEATURES`)."""
    if variant not in FEATURES:
        raise ValueError(f"unknown Shokri feature variant '{variant}'")
    return FEATURES[variant](probs, labels)


def _fit_score(clf, x_fit: np.ndarray, y_fit: np.ndarray, x_eval: np.ndarray) -> Scored:
    """Fit on the shadows, then score the target: SVMs give the signed margin
    (``decision_function``, no Platt scaling), the others the member probability. The decision
    threshold is calibrated on the shadows, like the metric attacks': the one that maximises
    the balanced accuracy of the classifier's own scores on its shadow training points
    (:func:`best_threshold`), not the classifier's fixed cut (0.5, or a margin of 0), which under
    a defense can call almost nothing a member."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x_fit, y_fit)
    if hasattr(clf, "predict_proba"):
        member_column = list(clf.classes_).index(1)
        score_of = lambda x: clf.predict_proba(x)[:, member_column]  # noqa: E731
    else:  # the SVMs (no probability=True)
        score_of = clf.decision_function
    fit_score = score_of(x_fit)
    threshold = best_threshold(fit_score[y_fit == 1], fit_score[y_fit == 0])
    score = score_of(x_eval)
    return Scored(score, score >= threshold)


def shokri_attacks(
    shadow: Observed,
    target: Observed,
    hidden: list[int],
    max_iter: int,
    seed: int,
    classifiers: tuple[str, ...] = ("mlp",),
    variants: tuple[str, ...] = ("sorted", "label"),
    per_class: bool = False,
) -> dict[str, Scored]:
    """Shokri's shadow attack (Shokri 2017; seeds 000, 002, 003), trained on the shadows' in (1) /
    out (0) points. For each classifier and feature variant: one all-class model, named
    ``shokri_<variant>`` for the MLP and ``shokri_<variant>_<classifier>`` otherwise; with
    ``per_class`` also one model per true class (Shokri's original), ``shokri_<variant>_<classifier>_perclass``,
    where a class whose shadow samples lack members or non-members falls back to the all-class model."""
    y_fit = shadow.member.astype(int)
    out = {}
    for name in classifiers:
        for variant in variants:
            x_fit = shokri_features(shadow.probs, shadow.labels, variant)
            x_eval = shokri_features(target.probs, target.labels, variant)
            key = f"shokri_{variant}" if name == "mlp" else f"shokri_{variant}_{name}"
            pooled = _fit_score(attack_models.make(name, hidden, max_iter, seed), x_fit, y_fit, x_eval)
            out[key] = pooled
            if not per_class:
                continue
            score, decision = pooled.score.astype(float), pooled.decision.copy()
            for c in np.unique(target.labels):
                fit_c, eval_c = shadow.labels == c, target.labels == c
                if len(np.unique(y_fit[fit_c])) < 2:
                    continue  # only one membership label in the shadows' class c: keep the pooled model
                clf = attack_models.make(name, hidden, max_iter, seed)
                s = _fit_score(clf, x_fit[fit_c], y_fit[fit_c], x_eval[eval_c])
                score[eval_c], decision[eval_c] = s.score, s.decision
            out[f"shokri_{variant}_{name}_perclass"] = Scored(score, decision)
    return out


def shadow_count_curve(
    shadows: list[Observed],
    target: Observed,
    k_values: Iterable[int],
    fit: Callable[[Observed, Observed], dict[str, Scored]],
) -> dict[int, dict]:
    """Attack metrics against the number of shadows (seed 003, Fig. 1): for each k, refit ``fit``
    on the first k shadows pooled and evaluate every attack it returns on ``target``."""
    from ticketleak.metrics import attack_metrics

    curve = {}
    for k in k_values:
        if not 1 <= k <= len(shadows):
            raise ValueError(f"k={k} outside 1..{len(shadows)} shadows")
        attacks = fit(Observed.concat(shadows[:k]), target)
        curve[int(k)] = {name: attack_metrics(target.member, a.score, a.decision) for name, a in attacks.items()}
    return curve
