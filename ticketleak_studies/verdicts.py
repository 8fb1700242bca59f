"""Verdicts: the spread of our numbers, and the lines judging a seed's claim against 2 sd."""

from __future__ import annotations

import math
from collections.abc import Mapping


def binomial_sd(acc: float | None, n: int) -> float | None:
    """Standard deviation of a balanced accuracy measured on ``n`` evaluation samples."""
    if acc is None or n <= 0:
        return None
    return math.sqrt(max(acc * (1 - acc), 0.0) / n)


def metric_sd(metrics: Mapping, key: str, n: int) -> float | None:
    """The spread of an attack metric: bootstrap sd for AUC, binomial sd otherwise (n from the
    confusion counts when recorded)."""
    if key == "auc":
        return metrics.get("auc_std")
    confusion = metrics.get("confusion")
    if isinstance(confusion, Mapping) and all(k in confusion for k in ("tp", "fp", "fn", "tn")):
        n = int(round(sum(float(confusion[k]) for k in ("tp", "fp", "fn", "tn"))))
    return binomial_sd(metrics.get(key), n)


EXPECTS = ("higher", "lower", "equal")


def judge(a: float | None, b: float | None, sd_a: float | None, sd_b: float | None, expect: str) -> tuple[str, float | None, float]:
    """Compare ``a`` with ``b`` against 2 sd of their difference.

    ``expect``: the seed's claim about ``a`` relative to ``b`` (``higher``, ``lower``, ``equal``).
    Returns (verdict word, difference a - b, 2 sd). A difference inside 2 sd is no evidence of a
    direction: it agrees with ``equal`` and is "inside the spread" for a direction."""
    if expect not in EXPECTS:
        raise ValueError(f"expect must be one of {EXPECTS}, got {expect!r}")
    if a is None or b is None:
        return "not measured", None, 0.0
    d = a - b
    spread = 2 * math.hypot(sd_a or 0.0, sd_b or 0.0)
    inside = abs(d) <= spread
    if expect == "equal":
        return ("agrees" if inside else "disagrees"), d, spread
    if inside:
        return "inside the spread (no evidence either way)", d, spread
    sign_ok = d > 0 if expect == "higher" else d < 0
    return ("agrees" if sign_ok else "disagrees"), d, spread


def verdict_line(claim: str, source: str, ours: str, a: float | None, b: float | None, sd_a: float | None, sd_b: float | None, expect: str) -> str:
    """One computed verdict: the claim, our two numbers, their difference against 2 sd, the word."""
    word, d, spread = judge(a, b, sd_a, sd_b, expect)
    if d is None:
        return f"- {claim} ({source}): {ours}: not measured"
    return f"- {claim} ({source}): {ours}, difference {d:+.3f}, 2 sd = {spread:.3f} -> **{word}**"


def tally_line(claim: str, source: str, words: list[str], expect_word: str = "agrees") -> str:
    """A verdict over several comparisons: how many agree, sit inside the spread, or disagree."""
    agree = sum(w == expect_word for w in words)
    against = sum(w == "disagrees" for w in words)
    inside = len(words) - agree - against
    if not words:
        return f"- {claim} ({source}): not measured"
    word = "agrees" if agree > len(words) / 2 else "disagrees" if against > len(words) / 2 else "mixed or inside the spread"
    return f"- {claim} ({source}): {agree} of {len(words)} comparisons agree, {inside} inside the spread, {against} disagree -> **{word}**"
