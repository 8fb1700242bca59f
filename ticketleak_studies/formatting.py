"""Cells of the report's tables: our numbers (with their sd), the seed's, their difference;
Markdown tables and durations."""

from __future__ import annotations

Ref = float | list[float] | tuple[float, float] | None


def fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def fmt_sd(x: float | None, sd: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.3f} ({sd:.3f})" if sd is not None else f"{x:.3f}"


def fmt_ref(ref: Ref) -> str:
    if ref is None:
        return "-"
    if isinstance(ref, (list, tuple)):
        return f"{ref[0]:.3f}-{ref[1]:.3f}"
    return f"{ref:.3f}" if isinstance(ref, (int, float)) else str(ref)


def diff(ours: float | None, ref: Ref) -> float | None:
    """Ours minus the seed's number; against a range, the distance outside it (0 inside)."""
    if ours is None or ref is None:
        return None
    if isinstance(ref, (list, tuple)):
        lo, hi = min(ref), max(ref)
        return 0.0 if lo <= ours <= hi else ours - (lo if ours < lo else hi)
    return ours - float(ref)


def fmt_diff(d: float | None) -> str:
    return "-" if d is None else f"{d:+.3f}"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table."""
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "not recorded"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"
