"""Black-box membership-inference attacks fitted on shadow models.

An attack sees what the target releases: posteriors ``p`` (N, C) and true labels ``y``. Every
attack is fitted on the shadows' members (1) and non-members (0), then scores the target's
samples: a membership score (higher = member) and a member/non-member decision.

- Metric attacks (Yeom 2018; Song & Mittal 2021): confidence ``p_y``, negative prediction
  entropy, negative modified entropy, negative loss; one threshold for all classes (``global``)
  or one per class (``class``), each chosen to maximise the shadows' balanced accuracy.
- Correctness ("gap") attack: member iff the prediction is right; needs no fitting.
- Shokri shadow attack (Shokri 2017): a scikit-learn MLP on the posterior sorted in descending
  order (``sorted``) or on the posterior with the one-hot true label (``label``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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


def shokri_features(probs: np.ndarray, labels: np.ndarray, variant: str) -> np.ndarray:
    """``sorted``: posterior in descending order; ``label``: posterior then the one-hot label."""
    if variant == "sorted":
        return -np.sort(-probs, axis=1)
    if variant == "label":
        return np.hstack([probs, np.eye(probs.shape[1])[labels]])
    raise ValueError(f"unknown Shokri feature variant '{variant}'")


def shokri_attacks(shadow: Observed, target: Observed, hidden: list[int], max_iter: int, seed: int) -> dict[str, Scored]:
    """Shokri's attack, one all-class MLP per feature variant, trained on the shadows' in/out points."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    out = {}
    for variant in ("sorted", "label"):
        clf = MLPClassifier(hidden_layer_sizes=tuple(hidden), max_iter=max_iter, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(shokri_features(shadow.probs, shadow.labels, variant), shadow.member.astype(int))
        score = clf.predict_proba(shokri_features(target.probs, target.labels, variant))[:, 1]
        out[f"shokri_{variant}"] = Scored(score, score > 0.5)
    return out
