"""Verdicts on the seed papers' claims: drawn over training seeds, never from one run's spread.

A study's sections compute two of our numbers per claim (``a`` and ``b``, e.g. the ticket's and
the dense network's attack accuracy) from the run's files, and :func:`judge` turns them into one
of three outcomes (:data:`ticketleak.stats.OUTCOMES`). One pair of numbers is one training seed's
worth of evidence; the outcome comes from the per-seed differences ``a - b``
(:func:`ticketleak.stats.verdict`: a t interval over seeds, and an equivalence test within the
run's ``attack.margin`` for "no difference"), so fewer than 3 seeds are always "no evidence either
way".

The per-seed numbers come from rendering the report once per training seed: the report
(:func:`ticketleak_studies.report.render_report`) renders every section on each seed's files
inside :func:`recording`, which keeps the ``(a, b)`` of every :func:`judge` call in call order,
then renders on the means over seeds inside :func:`replaying`, where call ``i`` is judged on the
``i``-th pair of every seed. Sections stay written in terms of one set of numbers.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from ticketleak import stats


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
_STATS_EXPECT = {"higher": "greater", "lower": "less", "equal": "equal"}
NOT_MEASURED = "not measured"
DEFAULT_MARGIN = 0.02


@dataclass
class _Recording:
    calls: list[tuple[float | None, float | None, str]] = field(default_factory=list)


@dataclass
class _Replay:
    seeds: list[int]
    per_seed: list[list[tuple[float | None, float | None, str]]]  # one call list per seed
    margin: float
    index: int = 0


_CONTEXT: contextvars.ContextVar[_Recording | _Replay | None] = contextvars.ContextVar("ticketleak_verdicts", default=None)


@contextlib.contextmanager
def recording() -> Iterator[list[tuple[float | None, float | None, str]]]:
    """Keep the ``(a, b, expect)`` of every :func:`judge` call made inside, in order."""
    rec = _Recording()
    token = _CONTEXT.set(rec)
    try:
        yield rec.calls
    finally:
        _CONTEXT.reset(token)


@contextlib.contextmanager
def replaying(seeds: Sequence[int], per_seed: Sequence[Sequence[tuple]], margin: float = DEFAULT_MARGIN) -> Iterator[None]:
    """Judge the calls made inside on the recorded per-seed pairs (``per_seed[i]``: training seed
    ``seeds[i]``'s calls, from :func:`recording`), equivalence margin ``margin``."""
    if len(seeds) != len(per_seed):
        raise ValueError(f"{len(seeds)} seeds but {len(per_seed)} recordings")
    token = _CONTEXT.set(_Replay(list(seeds), [list(c) for c in per_seed], float(margin)))
    try:
        yield
    finally:
        _CONTEXT.reset(token)


class Judged(NamedTuple):
    """A judged claim: the outcome, the difference ``a - b`` of the numbers shown (the means over
    seeds), 2 sd of it from the sample-level spreads, and the verdict over seeds."""

    word: str
    diff: float | None
    spread: float
    verdict: stats.Verdict | None


def judge(a: float | None, b: float | None, sd_a: float | None, sd_b: float | None, expect: str,
          margin: float | None = None) -> Judged:
    """Judge the claim ``expect`` (``higher``, ``lower`` or ``equal``: ``a`` relative to ``b``),
    with the equivalence margin ``margin`` where the numbers are not on the run's own scale
    (``attack.margin``, AUC and accuracy).

    Outside :func:`replaying`, ``a`` and ``b`` are one run's numbers: one training seed, never
    enough to decide. Inside it, the verdict is drawn from the recorded per-seed pairs of this call;
    when a seed lacks them (a file missing for one seed), from the seeds that have them."""
    if expect not in EXPECTS:
        raise ValueError(f"expect must be one of {EXPECTS}, got {expect!r}")
    ctx = _CONTEXT.get()
    if isinstance(ctx, _Recording):
        ctx.calls.append((a, b, expect))
    if a is None or b is None:
        return Judged(NOT_MEASURED, None, 0.0, None)
    d = a - b
    spread = 2 * math.hypot(sd_a or 0.0, sd_b or 0.0)
    diffs, run_margin = [d], DEFAULT_MARGIN
    if isinstance(ctx, _Replay):
        i = ctx.index
        ctx.index += 1
        pairs = [calls[i] if i < len(calls) else None for calls in ctx.per_seed]
        diffs = [p[0] - p[1] for p in pairs if p is not None and p[2] == expect and p[0] is not None and p[1] is not None]
        run_margin = ctx.margin
    v = stats.verdict(diffs, run_margin if margin is None else margin, _STATS_EXPECT[expect]) if diffs else None
    return Judged(v.outcome if v else stats.NO_EVIDENCE, d, spread, v)


def verdict_line(claim: str, source: str, ours: str, a: float | None, b: float | None, sd_a: float | None, sd_b: float | None, expect: str,
                 margin: float | None = None, margin_note: str = "") -> str:
    """One computed verdict: the claim, our two numbers, the difference over training seeds (its
    95% interval) beside its sample-level 2 sd, and the outcome (``margin``: see :func:`judge`;
    ``margin_note`` says where it comes from)."""
    j = judge(a, b, sd_a, sd_b, expect, margin)
    if j.diff is None:
        return f"- {claim} ({source}): {ours}: {NOT_MEASURED}"
    v = j.verdict
    if v is None or v.n_seeds < 2:
        seeds = f"{v.n_seeds if v else 0} training seed{'s' if not v or v.n_seeds != 1 else ''}: fewer than {stats.MIN_SEEDS}"
        return f"- {claim} ({source}): {ours}, difference {j.diff:+.3f}, 2 sd = {j.spread:.3f} ({seeds}) -> **{j.word}**"
    low, high = v.ci
    tost = f", TOST p = {v.tost_p:.3g}"
    return (f"- {claim} ({source}): {ours} (means over seeds), difference {v.mean:+.3f} [95% {low:+.3f}, {high:+.3f}] "
            f"over {v.n_seeds} training seeds (margin {v.margin:.3g}{margin_note}{tost}; one seed's 2 sd = {j.spread:.3f}) -> **{j.word}**")


def tally_line(claim: str, source: str, words: list[str], seeds: int, expect_word: str = stats.AGREES) -> str:
    """A verdict over several comparisons: how many agree, give no evidence either way, or
    disagree. Comparisons sharing a baseline (several levels against one dense model) are not
    independent: the count is not that many confirmations, and the line says how many training
    seeds (``seeds``, the independent replicates) they all rest on."""
    if not words:
        return f"- {claim} ({source}): {NOT_MEASURED}"
    agree = sum(w == expect_word for w in words)
    against = sum(w == stats.DISAGREES for w in words)
    none = len(words) - agree - against
    word = stats.AGREES if agree > len(words) / 2 else stats.DISAGREES if against > len(words) / 2 else "mixed or no evidence either way"
    rests = (f"not independent: all {len(words)} rest on the same {seeds} training seed{'s' if seeds != 1 else ''} "
             "and evaluation samples") if len(words) > 1 else f"resting on {seeds} training seed{'s' if seeds != 1 else ''}"
    return (f"- {claim} ({source}): {agree} of {len(words)} comparisons agree, {none} no evidence either way, "
            f"{against} disagree ({rests}) -> **{word}**")


def floor_line(r, cells: Iterable[tuple[str, str]]) -> list[str]:
    """The line saying which of ``cells`` ((defense, level) of run ``r``) are left out of the
    verdicts for a test accuracy below the utility floor; [] when none is."""
    from ticketleak.report import UTILITY_FLOOR

    low = {cell: acc for cell in dict.fromkeys(cells) if (acc := r.below_floor(*cell)) is not None}
    if not low:
        return []
    k = r.num_classes
    left = ", ".join(f"{d} {lv} ({acc:.3f})" for (d, lv), acc in low.items())
    return [f"Left out of the verdicts (`{r.run}`: test accuracy below {UTILITY_FLOOR:g} x chance = {UTILITY_FLOOR / k:.3f} "
            f"for {k} classes on at least one training seed, the lowest in brackets; too poor a model for its leakage to "
            f"say anything): {left}."]
