"""Statistics behind the study verdicts: paired comparisons of two models over shared samples and seeds.

Conventions. ``member`` is a boolean vector (True = training member, the positive class) and a
score is higher for samples the attack believes are members. Two models ("a", e.g. the dense
network, and "b", e.g. the pruned ticket) are always scored on the same evaluation samples, so a
comparison is paired; a difference is always ``metric(b) - metric(a)``. Independent training seeds
each give one such difference, and the verdict is drawn from those seed-level differences, not from
the sample-level bootstrap (which only sees the randomness of the evaluation set).

numpy and scipy only: this module must stay importable without torch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

AGREES = "agrees"
DISAGREES = "disagrees"
NO_EVIDENCE = "no evidence either way"
OUTCOMES = (AGREES, DISAGREES, NO_EVIDENCE)
EXPECTATIONS = ("greater", "less", "equal")
MIN_SEEDS = 3

Metric = Callable[[np.ndarray, np.ndarray], float]


def _check(member: np.ndarray, *scores: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Validate one membership vector and the score vectors that go with it."""
    member = np.asarray(member)
    if member.ndim != 1 or (member.dtype != bool and not np.isin(member, (0, 1)).all()):
        raise ValueError("member must be a 1-D boolean (or 0/1) vector")
    member = member.astype(bool)
    if member.all() or not member.any():
        raise ValueError("need both members and non-members")
    out = []
    for s in scores:
        s = np.asarray(s, dtype=float)
        if s.shape != member.shape:
            raise ValueError(f"score shape {s.shape} does not match member shape {member.shape}")
        if not np.isfinite(s).all():
            raise ValueError("scores must be finite")
        out.append(s)
    return member, out


def auc(member: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic: P(member score > non-member score), a tie counting 1/2."""
    member, (score,) = _check(member, score)
    n1, n0 = int(member.sum()), int((~member).sum())
    ranks = _st.rankdata(score)  # average ranks: a tie contributes one half
    return float((ranks[member].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def tpr_at_fpr(member: np.ndarray, score: np.ndarray, fpr: float) -> float:
    """Largest true-positive rate among thresholds taken from the scores whose FPR is <= ``fpr``.

    A sample is called a member when its score is >= the threshold. Samples with tied scores are
    always called together (a tie is never split in the attack's favour), so a non-member tied with
    members costs false positives. Returns 0.0 when even the highest score exceeds the FPR budget.
    """
    if not 0.0 <= fpr <= 1.0:
        raise ValueError(f"fpr must lie in [0, 1], got {fpr}")
    member, (score,) = _check(member, score)
    order = np.argsort(-score, kind="stable")
    s, m = score[order], member[order]
    tp, fp = np.cumsum(m), np.cumsum(~m)
    last = np.append(s[1:] != s[:-1], True)  # the end of each group of tied scores
    tprs, fprs = tp[last] / m.sum(), fp[last] / (~m).sum()
    ok = fprs <= fpr + 1e-12  # tolerance only for floating-point noise in fpr itself
    return float(tprs[ok].max()) if ok.any() else 0.0


def _auc_members_first(scores: np.ndarray, n1: int) -> np.ndarray:
    """:func:`auc` of each row of ``scores``, whose first ``n1`` columns are the members: the same
    ranks and sums, row by row, so each value equals the one :func:`auc` gives for that row."""
    n0 = scores.shape[1] - n1
    ranks = _st.rankdata(scores, axis=1)
    return (ranks[:, :n1].sum(axis=1) - n1 * (n1 + 1) / 2) / (n1 * n0)


def _blocks(rows: np.ndarray, cells: int = 1 << 20) -> Iterable[np.ndarray]:
    """``rows`` in consecutive blocks of at most ``cells`` elements (at least one row each)."""
    step = max(1, cells // max(rows.shape[1], 1))
    return (rows[i : i + step] for i in range(0, len(rows), step))


@dataclass(frozen=True)
class Paired:
    """A paired bootstrap of metric(b) - metric(a) over the evaluation samples."""

    diff: float  # observed difference on the full evaluation set
    sd: float  # bootstrap standard deviation of the difference
    ci: tuple[float, float]  # percentile interval
    n: int  # number of resamples
    level: float = 0.95


def paired_bootstrap(member: np.ndarray, score_a: np.ndarray, score_b: np.ndarray, metric: Metric,
                     n: int = 1000, seed: int = 0, alpha: float = 0.05) -> Paired:
    """Bootstrap the difference ``metric(b) - metric(a)`` with the same resampled indices for both.

    Members and non-members are resampled separately (with replacement, each to its own count), so
    every resample keeps the evaluation set's balance. Sharing the indices is what makes the test
    paired: sample difficulty common to both models cancels. Deterministic for a given ``seed``.
    """
    if n < 2:
        raise ValueError("need at least 2 bootstrap resamples")
    member, (score_a, score_b) = _check(member, score_a, score_b)
    pos, neg = np.flatnonzero(member), np.flatnonzero(~member)
    rng = np.random.default_rng(seed)
    draws = [np.concatenate([rng.choice(pos, pos.size), rng.choice(neg, neg.size)]) for _ in range(n)]
    if metric is auc:  # the same numbers as the loop below, computed a block of resamples at a time
        diffs = np.concatenate([_auc_members_first(score_b[block], pos.size) - _auc_members_first(score_a[block], pos.size)
                                for block in _blocks(np.stack(draws))])
    else:
        diffs = np.empty(n)
        for i, idx in enumerate(draws):
            m = member[idx]
            diffs[i] = metric(m, score_b[idx]) - metric(m, score_a[idx])
    low, high = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    observed = metric(member, score_b) - metric(member, score_a)
    return Paired(float(observed), float(diffs.std(ddof=1)), (float(low), float(high)), n, 1 - alpha)


@dataclass(frozen=True)
class SeedLevel:
    """Mean of the per-seed differences with its standard error and t interval."""

    mean: float
    se: float
    ci: tuple[float, float]
    n: int  # number of seeds
    level: float = 0.95


def _diffs(diffs: Sequence[float] | np.ndarray) -> np.ndarray:
    d = np.asarray(diffs, dtype=float).ravel()
    if not np.isfinite(d).all():
        raise ValueError("seed differences must be finite")
    return d


def seed_level(diffs: Sequence[float] | np.ndarray, alpha: float = 0.05) -> SeedLevel:
    """t-based (1 - alpha) confidence interval for the mean difference, n - 1 degrees of freedom."""
    d = _diffs(diffs)
    if d.size < 2:
        raise ValueError(f"a seed-level interval needs at least 2 seeds, got {d.size}")
    mean, se = float(d.mean()), float(d.std(ddof=1) / np.sqrt(d.size))
    half = float(_st.t.ppf(1 - alpha / 2, d.size - 1)) * se
    return SeedLevel(mean, se, (mean - half, mean + half), int(d.size), 1 - alpha)


@dataclass(frozen=True)
class Tost:
    """Two one-sided tests for |mean difference| < margin."""

    p: float  # the larger of the two one-sided p-values
    equivalent: bool  # p < alpha, i.e. the (1 - 2 alpha) interval lies inside (-margin, margin)
    ci: tuple[float, float]  # that (1 - 2 alpha) interval
    margin: float


def tost(diffs: Sequence[float] | np.ndarray, margin: float, alpha: float = 0.05) -> Tost:
    """Equivalence test over seeds: reject both mean <= -margin and mean >= +margin.

    With zero spread between seeds the test is decided by the mean alone (p = 0 inside the margin,
    1 otherwise).
    """
    if not (np.isfinite(margin) and margin > 0):
        raise ValueError(f"margin must be a positive number, got {margin}")
    s = seed_level(diffs, alpha=2 * alpha)
    df = s.n - 1
    if s.se == 0:
        p = 0.0 if abs(s.mean) < margin else 1.0
    else:
        p_low = float(_st.t.sf((s.mean + margin) / s.se, df))  # H0: mean <= -margin
        p_high = float(_st.t.cdf((s.mean - margin) / s.se, df))  # H0: mean >= +margin
        p = max(p_low, p_high)
    return Tost(p, p < alpha, s.ci, float(margin))


@dataclass(frozen=True)
class Verdict:
    """Whether the seed-level evidence agrees with a claim about b versus a."""

    outcome: str  # one of OUTCOMES
    expected: str  # "greater", "less" or "equal"
    mean: float
    ci: tuple[float, float]  # 95% (1 - alpha) t interval over seeds
    n_seeds: int
    margin: float
    tost_p: float
    reason: str
    text: str
    tost_ci: tuple[float, float] = (float("nan"), float("nan"))  # the (1 - 2 alpha) interval TOST reads


def verdict(diffs: Sequence[float] | np.ndarray, margin: float, expected: str,
            alpha: float = 0.05) -> Verdict:
    """Classify the per-seed differences b - a against the claim ``expected``.

    "greater" (claimed b > a) / "less" (claimed b < a):
      agrees when the (1 - alpha) interval excludes 0 on the claimed side (checked first, so a
      significant effect in the claimed direction agrees even if it is smaller than the margin);
      disagrees when it excludes 0 on the other side, or when TOST shows the difference lies within
      +-margin (the claimed effect is absent); otherwise no evidence either way.
    "equal":
      agrees when TOST shows equivalence within +-margin (checked first); disagrees when the
      interval excludes 0; otherwise no evidence either way.
    Fewer than 3 seeds always gives "no evidence either way".
    """
    if expected not in EXPECTATIONS:
        raise ValueError(f"expected must be one of {EXPECTATIONS}, got {expected!r}")
    if not (np.isfinite(margin) and margin > 0):
        raise ValueError(f"margin must be a positive number, got {margin}")
    d = _diffs(diffs)
    n = int(d.size)
    mean = float(d.mean()) if n else float("nan")
    ci, tost_p, equivalent = (float("nan"), float("nan")), float("nan"), False
    tost_ci = ci
    if n >= 2:
        ci = seed_level(d, alpha).ci
        t = tost(d, margin, alpha)
        tost_p, equivalent, tost_ci = t.p, t.equivalent, t.ci
    low, high = ci
    if n < MIN_SEEDS:
        outcome, reason = NO_EVIDENCE, f"fewer than {MIN_SEEDS} training seeds"
    elif expected == "equal":
        if equivalent:
            outcome, reason = AGREES, f"equivalent within +-{margin:g} (TOST p={tost_p:.3g})"
        elif low > 0 or high < 0:
            outcome, reason = DISAGREES, "the interval excludes 0: a difference was found"
        else:
            outcome, reason = NO_EVIDENCE, "interval contains 0 but equivalence is not shown"
    else:
        sign = 1.0 if expected == "greater" else -1.0
        near, far = (low, high) if sign > 0 else (-high, -low)  # oriented so the claim is "> 0"
        if near > 0:
            outcome, reason = AGREES, "the interval excludes 0 on the claimed side"
            if equivalent:
                reason += f" (but the effect is within +-{margin:g})"
        elif far < 0:
            outcome, reason = DISAGREES, "the interval excludes 0 on the opposite side"
        elif equivalent:
            outcome, reason = DISAGREES, f"no effect: equivalent within +-{margin:g} (TOST p={tost_p:.3g})"
        else:
            outcome, reason = NO_EVIDENCE, "the interval contains 0 and equivalence is not shown"
    if n >= 2:
        level = round(100 * (1 - 2 * alpha))
        text = (f"{outcome}: {mean:+.3f} [{low:+.3f}, {high:+.3f}] over {n} seeds (margin {margin:g}; "
                f"equivalence: TOST p={tost_p:.2g}, {level}% interval [{tost_ci[0]:+.3f}, {tost_ci[1]:+.3f}])")
    else:
        text = f"{outcome}: {mean:+.3f} over {n} seed{'s' * (n != 1)} (margin {margin:g})"
    if n < MIN_SEEDS:
        text += f"; {reason}"
    return Verdict(outcome, expected, mean, ci, n, float(margin), tost_p, reason, text, tost_ci)


def tally(verdicts: Iterable[Verdict], independent: int) -> str:
    """One count line over verdicts, stating how many independent comparisons it rests on.

    Comparisons that share a baseline model (e.g. several pruning rates each set against the same
    dense network) are not independent, and the counts must not be read as that many separate
    confirmations. The caller knows the design, so it passes ``independent``: the number of
    independent baselines (or comparisons) behind the verdicts, between 1 and their count.
    """
    vs = list(verdicts)
    total = len(vs)
    if not (isinstance(independent, (int, np.integer)) and (1 if total else 0) <= independent <= total):
        raise ValueError(f"independent must be an integer between 1 and {total}, got {independent!r}")
    counts = {o: sum(v.outcome == o for v in vs) for o in OUTCOMES}
    a, d, x = counts[AGREES], counts[DISAGREES], counts[NO_EVIDENCE]
    line = (f"{a} {'agrees' if a == 1 else 'agree'}, {d} {'disagrees' if d == 1 else 'disagree'}, "
            f"{x} no evidence")
    noun = "comparison" if total == 1 else "comparisons"
    if independent == total:
        return f"{line} ({total} independent {noun})"
    base = "baseline" if independent == 1 else "baselines"
    return f"{line} ({total} {noun} sharing {independent} independent {base})"


@dataclass(frozen=True)
class CrossFit:
    """The best attack chosen on one half of the samples and scored on the other, both ways."""

    auc: float  # mean of the two held-out AUCs
    held_out: tuple[float, float]  # AUC on half 2 (chosen on half 1), AUC on half 1 (chosen on half 2)
    picks: tuple[str, str]  # attack chosen on half 1, attack chosen on half 2
    naive_auc: float  # max over attacks on all samples: optimistic, for comparison only
    label: str = "cross-fitted"
    accuracy: float | None = None  # mean held-out balanced accuracy of the picked attacks' own decisions


def balanced_accuracy(member: np.ndarray, decision: np.ndarray) -> float:
    """Mean of the true-positive and true-negative rates of 0/1 membership decisions."""
    member, (decision,) = _check(member, decision)
    called = decision > 0.5
    return float(0.5 * (called[member].mean() + (~called[~member]).mean()))


def cross_fitted_best(member: np.ndarray, scores: dict[str, np.ndarray], seed: int = 0,
                      decisions: dict[str, np.ndarray] | None = None) -> CrossFit:
    """Report the best of several attacks without the optimism of picking and scoring on one set.

    The samples are split into two halves, each holding half of the members and half of the
    non-members; the attack with the highest AUC on one half is scored on the other, in both
    directions, and the two held-out AUCs are averaged. Ties in the choice go to the attack first
    in sorted name order. With ``decisions`` (each attack's 0/1 calls, thresholds set without the
    target's labels), the picked attack's balanced accuracy on the held-out half is averaged too.
    """
    if not scores:
        raise ValueError("need at least one attack")
    names = sorted(scores)
    member, arrays = _check(member, *(scores[k] for k in names))
    pos, neg = np.flatnonzero(member), np.flatnonzero(~member)
    if pos.size < 2 or neg.size < 2:
        raise ValueError("cross-fitting needs at least 2 members and 2 non-members")
    rng = np.random.default_rng(seed)
    pos, neg = rng.permutation(pos), rng.permutation(neg)
    h1 = np.concatenate([pos[: pos.size // 2], neg[: neg.size // 2]])
    h2 = np.concatenate([pos[pos.size // 2:], neg[neg.size // 2:]])
    if decisions is not None and set(decisions) != set(names):
        raise ValueError("decisions must name the same attacks as scores")
    held, picks, accs = [], [], []
    for fit, test in ((h1, h2), (h2, h1)):
        best = int(np.argmax([auc(member[fit], s[fit]) for s in arrays]))
        picks.append(names[best])
        held.append(auc(member[test], arrays[best][test]))
        if decisions is not None:
            accs.append(balanced_accuracy(member[test], np.asarray(decisions[names[best]])[test]))
    naive = max(auc(member, s) for s in arrays)
    return CrossFit(float(np.mean(held)), (held[0], held[1]), (picks[0], picks[1]), float(naive),
                    accuracy=float(np.mean(accs)) if accs else None)
