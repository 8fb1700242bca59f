"""Grey-box membership inference with a leaked fraction of the target's data (seeds 000 and 004).

The attacker knows the membership of a fraction ``f`` of the target's members and of its
non-members, calibrates the attack on the target's own outputs for those points, and is
evaluated on the rest (docs/algorithms.md sections 1.5 and 3.8).

- KDE loss attack (seed 004): a Gaussian kernel density of a loss signal over the known members
  and one over the known non-members; member iff ``f_in / (f_in + f_out) > 0.5``.
- Classifier attack: a logistic regression on the sorted posterior plus the three loss signals.
- Wasserstein-1 distance between the known members' and the private non-members' losses.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import expit
from scipy.stats import norm

from ticketleak.attacks import Observed, Scored, shokri_features
from ticketleak.metrics import attack_metrics

CLAMP = 1e-12
REPORTED = ("accuracy", "fpr", "recall", "auc")
_KDE_BLOCK = 1 << 22  # kernel terms evaluated at once (32 MB of float64)


def gaussian_kde_logpdf(points: np.ndarray):
    """The log-density of scipy's 1-D ``gaussian_kde(points)`` (Scott's bandwidth: the points'
    sd, ddof 1, times n^(-1/5)), evaluated exactly in blocks of numpy arithmetic: a log-sum-exp
    over the points, shifted by each query's nearest kernel so far tails stay finite. Equal to
    scipy's ``logpdf`` within floating-point rounding and several times faster (scipy takes a
    log and an exp per kernel term). Raises ``np.linalg.LinAlgError`` where scipy would (no
    spread)."""
    points = np.sort(np.asarray(points, dtype=float).ravel())
    n = points.size
    h = float(np.std(points, ddof=1)) * n ** (-1 / 5)
    if not h > 0 or not np.isfinite(h):
        raise np.linalg.LinAlgError("the points have no spread")
    const = -math.log(n) - 0.5 * math.log(2 * math.pi) - math.log(h)
    scaled = points / h

    def logpdf(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        flat = x.ravel() / h
        out = np.empty(flat.size)
        step = max(1, _KDE_BLOCK // n)
        for i in range(0, flat.size, step):
            z = flat[i:i + step, None] - scaled[None, :]
            np.square(z, out=z)
            z *= -0.5
            top = z.max(axis=1, keepdims=True)
            z -= top
            np.exp(z, out=z)
            out[i:i + step] = np.log(z.sum(axis=1)) + top[:, 0]
        return (out + const).reshape(x.shape)

    return logpdf


def leak_split(member: np.ndarray, fraction: float, rng: np.random.Generator | int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified leak (seeds 000/004): ``round(fraction * n)`` of the members and of the
    non-members, at least 1 and at most n - 1 of each, are known; the rest is evaluated.
    Returns sorted index arrays ``(known_idx, eval_idx)``."""
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must lie in (0, 1), got {fraction}")
    rng = np.random.default_rng(rng)
    member = np.asarray(member, dtype=bool)
    known = []
    for side in (np.flatnonzero(member), np.flatnonzero(~member)):
        if len(side) < 2:
            raise ValueError("need at least 2 members and 2 non-members to leak some and evaluate the rest")
        k = min(max(1, round(fraction * len(side))), len(side) - 1)
        known.append(rng.choice(side, size=k, replace=False))
    known_idx = np.sort(np.concatenate(known))
    return known_idx, np.setdiff1d(np.arange(len(member)), known_idx)


def loss_signals(probs: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """Seed 004's three loss signals of the true-class probability ``p_y`` (clamped to
    [1e-12, 1 - 1e-12]): ``probability`` p_y, ``cross_entropy`` -log p_y and ``logit_scaled``
    log(p_y / (1 - p_y)). Orientation does not matter to the KDE attack."""
    # float64 first: in float32, 1 - 1e-12 rounds to 1 and a confident p_y would give log(0)
    p_y = np.clip(np.asarray(probs, dtype=np.float64)[np.arange(len(labels)), labels], CLAMP, 1 - CLAMP)
    return {"probability": p_y, "cross_entropy": -np.log(p_y), "logit_scaled": np.log(p_y) - np.log1p(-p_y)}


def _log_density(points: np.ndarray, spread: float, floor: float):
    """Log-density of a 1-D Gaussian KDE (scipy's, Scott's bandwidth) on ``points``. Degenerate cases,
    where scipy's KDE fails: a single point gets one Gaussian of std ``spread`` (the std of all known
    scores: Scott's factor n^(-1/5) is 1 at n = 1); points with (near) zero variance get one Gaussian
    N(mean, floor^2)."""
    points = np.asarray(points, dtype=float)
    if len(points) >= 2 and points.std() > floor:
        try:
            return gaussian_kde_logpdf(points)
        except np.linalg.LinAlgError:
            pass
    mu, sd = points.mean(), max(spread if len(points) == 1 else points.std(), floor)
    return lambda x: norm.logpdf(x, mu, sd)


def kde_attack(known_scores: np.ndarray, known_member: np.ndarray, eval_scores: np.ndarray) -> Scored:
    """Seed 004's KDE attack: score = f_in / (f_in + f_out) of Gaussian KDEs fitted on the known
    members' and known non-members' signal values (computed as expit(log f_in - log f_out), so that
    far tails do not give 0/0); member iff score > 0.5. For the degenerate fallbacks see
    ``_log_density``; the variance floor is 1e-3 times the std of all known scores (1e-6 if zero)."""
    known_scores = np.asarray(known_scores, dtype=float)
    known_member = np.asarray(known_member, dtype=bool)
    spread = known_scores.std()
    floor = 1e-3 * spread or 1e-6
    log_in = _log_density(known_scores[known_member], spread, floor)
    log_out = _log_density(known_scores[~known_member], spread, floor)
    score = np.nan_to_num(expit(log_in(eval_scores) - log_out(eval_scores)), nan=0.5)
    return Scored(score, score > 0.5)


def greybox_features(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Posterior features of the classifier attack: sorted posterior, then the three loss signals."""
    return np.column_stack([shokri_features(probs, labels, "sorted"), *loss_signals(probs, labels).values()])


def classifier_attack(
    known_features: np.ndarray, known_member: np.ndarray, eval_features: np.ndarray, seed: int
) -> Scored:
    """Grey-box classifier (seed 000 trains its attack on leaked target data): a standardised,
    L2-regularised, class-balanced logistic regression (chosen over an MLP: the known set can hold
    a handful of points at f = 1%); score = its member probability, member iff > 0.5."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=1000, random_state=seed))
    clf.fit(known_features, np.asarray(known_member, dtype=int))
    score = clf.predict_proba(eval_features)[:, 1]
    return Scored(score, score > 0.5)


def wasserstein(member_losses: np.ndarray, nonmember_losses: np.ndarray) -> float:
    """Wasserstein-1 distance between two loss samples (seed 004): the integral of |F_u - F_v|, as
    scipy.stats.wasserstein_distance computes it, but summed exactly (math.fsum) instead of by a
    BLAS dot product whose last bits depend on the OpenBLAS kernel."""
    u, v = np.sort(np.asarray(member_losses, dtype=float)), np.sort(np.asarray(nonmember_losses, dtype=float))
    pooled = np.sort(np.concatenate([u, v]), kind="mergesort")
    u_cdf = np.searchsorted(u, pooled[:-1], side="right") / len(u)
    v_cdf = np.searchsorted(v, pooled[:-1], side="right") / len(v)
    return math.fsum(np.abs(u_cdf - v_cdf) * np.diff(pooled))


def _mean_std(values: list[float]) -> dict[str, float]:
    return {"mean": float(np.mean(values)), "std": float(np.std(values))}


def greybox_sweep(target: Observed, fractions: list[float], repeats: int, seed: int) -> dict:
    """Seed 004's sweep: for each leaked fraction f and each of ``repeats`` draws (draw r uses
    ``default_rng((seed, r))``, so draws are shared across fractions), run the KDE attack on each loss
    signal (``kde_<signal>``) and the classifier attack (``classifier_logreg``) and evaluate on the
    unleaked part. Reports mean/std over draws of accuracy, FPR, recall (TPR) and AUC, the mean
    confusion matrix, and the Wasserstein-1 distance between the known members' and the evaluated
    non-members' cross-entropy losses. JSON-serialisable; fractions are keys as ``f"{f:g}"``."""
    member = np.asarray(target.member, dtype=bool)
    signals = loss_signals(target.probs, target.labels)
    features = greybox_features(target.probs, target.labels)
    out: dict = {"fractions": [float(f) for f in fractions], "repeats": repeats, "seed": seed, "results": {}}
    for f in fractions:
        runs: dict[str, list[dict]] = {}
        distances, sizes = [], []
        for r in range(repeats):
            known, ev = leak_split(member, f, np.random.default_rng((seed, r)))
            sizes.append((len(known), len(ev)))
            attacks = {f"kde_{name}": kde_attack(s[known], member[known], s[ev]) for name, s in signals.items()}
            attacks["classifier_logreg"] = classifier_attack(features[known], member[known], features[ev], seed + r)
            for name, a in attacks.items():
                runs.setdefault(name, []).append(attack_metrics(member[ev], a.score, a.decision))
            ce = signals["cross_entropy"]
            distances.append(wasserstein(ce[known][member[known]], ce[ev][~member[ev]]))
        out["results"][f"{f:g}"] = {
            "n_known": int(sizes[0][0]),
            "n_eval": int(sizes[0][1]),
            "attacks": {
                name: {
                    **{k: _mean_std([m[k] for m in ms]) for k in REPORTED},
                    "confusion": {k: float(np.mean([m["confusion"][k] for m in ms])) for k in ("tp", "fp", "fn", "tn")},
                }
                for name, ms in runs.items()
            },
            "wasserstein_ce": _mean_std(distances),
        }
    return out
