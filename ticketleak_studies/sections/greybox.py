"""Report sections of a ``greybox`` study (seed 004, grey-box leak): utility under L2, the attack
before and after L2 against the leaked fraction, Wasserstein distances, confusion matrices, tickets."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from ticketleak.core import layout
from ticketleak_studies.document import Report
from ticketleak_studies.formatting import diff, fmt, fmt_diff, fmt_sd, table
from ticketleak_studies.gathered import RunData
from ticketleak_studies.verdicts import binomial_sd, floor_line, verdict_line


def _gb_cells(r: RunData | None, defense: str, level: str = layout.DENSE) -> dict[float, dict]:
    """Leaked fraction -> that fraction's grey-box results (one level of one defense)."""
    gb = (r.greybox(defense) if r else None) or {}
    sweep = gb.get("sweep", {}).get(level) or {}
    return {float(f): cell for f, cell in (sweep.get("results") or {}).items()}


def _gb(cell: Mapping | None, signal: str, key: str) -> tuple[float | None, float | None]:
    v = ((cell or {}).get("attacks", {}).get(signal) or {}).get(key)
    return (v.get("mean"), v.get("std")) if isinstance(v, Mapping) else (None, None)


def _lambda_runs(rep: Report, dataset: str) -> dict[float, RunData]:
    out = {}
    for run, lam in (rep.opts.get("lambda_runs") or {}).items():
        r = rep.gathered.get(dataset, run)
        if r is not None:
            out[float(lam)] = r
    return dict(sorted(out.items()))


def _l2_name(r: RunData) -> str | None:
    return next((d for d in r.p("defense.train", []) or [] if r.p(f"defense.variants.{d}.kind") == "l2"), None)


def sections(rep: Report, dataset: str) -> list[str]:
    """Utility, the attack before and after L2, Wasserstein, confusion and tickets on one dataset."""
    runs = _lambda_runs(rep, dataset)
    main = rep.gathered.get(dataset, rep.opts.get("main_run")) or next(iter(runs.values()), None)
    if main is None:
        return []
    lines = _utility(rep, main, runs)
    lines += _before(rep, main)
    lines += _after(rep, main, runs)
    lines += _wasserstein(rep, main, runs)
    lines += _confusion(rep, main, runs)
    lines += _ticket(rep, main)
    return lines


def _utility(rep: Report, main: RunData, runs: dict[float, RunData]) -> list[str]:
    lines = ["### The target's recipe and L2: train and test accuracy", ""] + rep.seed_setting("utility")
    entries: list[tuple[str, dict]] = [("none", main.target("none", layout.DENSE) or {})]
    models: list[tuple[str, RunData, str]] = [("undefended", main, "none")]  # whose per-seed figures to list
    usable, left = {"none": main.below_floor("none", layout.DENSE) is None}, floor_line(main, [("none", layout.DENSE)])
    for lam, r in runs.items():
        name = _l2_name(r)
        label = np.format_float_positional(lam, trim="-")
        entries.append((label, (r.target(name, layout.DENSE) if name else None) or {}))
        if name:
            models.append((f"L2 lambda {label}", r, name))
        usable[label] = name is not None and r.below_floor(name, layout.DENSE) is None
        left += floor_line(r, [(name, layout.DENSE)]) if name else []
    rows = []
    for label, t in entries:
        ref = rep.ref("utility", "rows", label) or {}
        rows.append([f"L2 lambda {label}" if label != "none" else "undefended", fmt(t.get("train_acc")), fmt(ref.get("train_acc")), fmt_diff(diff(t.get("train_acc"), ref.get("train_acc"))),
                     fmt(t.get("test_acc")), fmt(ref.get("test_acc")), fmt_diff(diff(t.get("test_acc"), ref.get("test_acc")))])
    lines += table(["model", "train acc ours", "seed", "diff", "test acc ours", "seed", "diff"], rows)
    per_seed = _per_seed_accuracy(models)
    lines += [""] + (per_seed + [""] if per_seed else [])
    base = entries[0][1]
    n = main.eval_n // 2
    for label, t in entries[1:]:
        if base and t and usable["none"] and usable[label]:  # a model at chance has no gap to narrow
            gap_a, gap_b = base["train_acc"] - base["test_acc"], t["train_acc"] - t["test_acc"]
            sd = math.hypot(binomial_sd(base["train_acc"], n) or 0, binomial_sd(base["test_acc"], n) or 0)
            lines.append(verdict_line(f"L2 (lambda {label}) narrows the train-test gap", rep.source("utility"),
                                      f"ours gap {gap_b:+.3f} vs undefended {gap_a:+.3f}", gap_b, gap_a, sd, sd, "lower"))
    return lines + left + [""]


def _per_seed_accuracy(models: list[tuple[str, RunData, str]]) -> list[str]:
    """One line giving each model's train / test accuracy on every training seed (the table shows
    their means, which can hide a seed that trained differently); [] for a single seed."""
    cells = []
    for label, r, name in models:
        if len(r.seeds) < 2:
            continue
        per = [r.seed_view(k).target(name, layout.DENSE) or {} for k in r.seeds]
        cells.append(f"{label} " + ", ".join(f"{fmt(t.get('train_acc'))} / {fmt(t.get('test_acc'))}" for t in per))
    return [f"Per training seed ({', '.join(map(str, models[0][1].seeds))}), train / test: " + "; ".join(cells) + "."] if cells else []


def _before(rep: Report, main: RunData) -> list[str]:
    signals, main_sig = rep.opts.get("signals", []), rep.opts.get("main_signal", "kde_cross_entropy")
    cells = _gb_cells(main, "none")
    lines = ["### Before the defense: attack accuracy, FPR and TPR against the leaked fraction (undefended, dense)", ""] + rep.seed_setting("before")
    if not cells:
        return lines + ["No grey-box results.", ""]
    ref_acc, ref_fpr, ref_tpr = rep.ref("before", "accuracy_min"), rep.ref("before", "fpr"), rep.ref("before", "tpr")
    rows = []
    for f, cell in cells.items():
        row = [f"{f:g}"]
        for sig in signals:
            acc, sd = _gb(cell, sig, "accuracy")
            row.append(fmt_sd(acc, sd))
        acc, _ = _gb(cell, main_sig, "accuracy")
        fpr, tpr = _gb(cell, main_sig, "fpr")[0], _gb(cell, main_sig, "recall")[0]
        row += [fmt_diff(diff(acc, [ref_acc, 1.0] if ref_acc is not None else None)), fmt(fpr), fmt_diff(diff(fpr, ref_fpr)), fmt(tpr), fmt_diff(diff(tpr, ref_tpr))]
        rows.append(row)
    lines += table(["leaked", *[f"{s} acc (sd)" for s in signals], f"diff vs seed's >{fmt(ref_acc)}", f"{main_sig} FPR", f"diff vs {fmt(ref_fpr)}", "TPR", f"diff vs {fmt(ref_tpr)}"], rows)
    lines.append("")
    accs = [(f, *_gb(c, main_sig, "accuracy")) for f, c in cells.items() if _gb(c, main_sig, "accuracy")[0] is not None]
    if accs:
        mean = float(np.mean([a for _, a, _ in accs]))
        sd = float(np.mean([s or 0 for _, _, s in accs]))  # the draws share one model: no 1/sqrt(n)
        lines.append(verdict_line("the attack exceeds 64% before the defense (mean over leaked fractions)", rep.source("before"),
                                  f"ours {mean:.3f} vs 0.64", mean, ref_acc if ref_acc is not None else 0.64, sd, 0.0, "higher"))
        later = [(f, a, s) for f, a, s in accs if f >= 0.02]
        if len(later) >= 2:
            hi, lo = max(later, key=lambda x: x[1]), min(later, key=lambda x: x[1])
            lines.append(verdict_line("beyond 2% leaked, the fraction no longer changes the accuracy", rep.source("fraction"),
                                      f"ours max {hi[1]:.3f} (f={hi[0]:g}) vs min {lo[1]:.3f} (f={lo[0]:g}), sd over draws", hi[1], lo[1], hi[2], lo[2], "equal"))
    return lines + [""]


def _after(rep: Report, main: RunData, runs: dict[float, RunData]) -> list[str]:
    main_sig = rep.opts.get("main_signal", "kde_cross_entropy")
    before = _gb_cells(main, "none")
    after = {lam: _gb_cells(r, _l2_name(r) or "l2") for lam, r in runs.items()}
    lines = [f"### After L2: attack accuracy against the leaked fraction (`{main_sig}`; all three signals for lambda 1e-2)", ""] + rep.seed_setting("after")
    if not before and not any(after.values()):
        return lines + ["No grey-box results.", ""]
    ref = rep.ref("after", "accuracy")
    signals = rep.opts.get("signals", [])
    chosen = after.get(0.01) or {}
    header = ["leaked", "undefended"] + [f"lambda {lam:g}" for lam in after] + [f"lambda 0.01 {s}" for s in signals if s != main_sig] + ["seed (1e-2)", "diff (1e-2)"]
    rows = []
    for f in sorted(set(before) | set().union(*[set(c) for c in after.values()])):
        row = [f"{f:g}", fmt_sd(*_gb(before.get(f), main_sig, "accuracy"))]
        row += [fmt_sd(*_gb(cells.get(f), main_sig, "accuracy")) for cells in after.values()]
        row += [fmt_sd(*_gb(chosen.get(f), s, "accuracy")) for s in signals if s != main_sig]
        row += [fmt(ref), fmt_diff(diff(_gb(chosen.get(f), main_sig, "accuracy")[0], ref))]
        rows.append(row)
    lines += table(header, rows)
    lines.append("")
    r_chosen = runs.get(0.01)
    left = floor_line(r_chosen, [(_l2_name(r_chosen) or "l2", layout.DENSE)]) if r_chosen is not None else []
    if chosen and not left:
        accs = [_gb(c, main_sig, "accuracy") for c in chosen.values()]
        accs = [(a, s) for a, s in accs if a is not None]
        if accs:
            mean = float(np.mean([a for a, _ in accs]))
            sd = float(np.mean([s or 0 for _, s in accs]))  # the draws share one model: no 1/sqrt(n)
            lines.append(verdict_line("after L2 with lambda 1e-2 the attack is at about 50% (mean over leaked fractions)", rep.source("after"),
                                      f"ours {mean:.3f} vs {fmt(ref)}", mean, ref if ref is not None else 0.5, sd, 0.0, "equal"))
            b = [_gb(c, main_sig, "accuracy") for c in before.values()]
            b = [(a, s) for a, s in b if a is not None]
            if b:
                mb = float(np.mean([a for a, _ in b]))
                sdb = float(np.mean([s or 0 for _, s in b]))
                lines.append(verdict_line("L2 with lambda 1e-2 lowers the attack", rep.source("after"), f"ours after {mean:.3f} vs before {mb:.3f}",
                                          mean, mb, sd, sdb, "lower"))
    return lines + left + [""]


def _wasserstein(rep: Report, main: RunData, runs: dict[float, RunData]) -> list[str]:
    before = _gb_cells(main, "none")
    r_after = runs.get(0.01)
    after = _gb_cells(r_after, _l2_name(r_after) or "l2") if r_after else {}
    lines = ["### Wasserstein distance (cross-entropy) between known members and private non-members", ""] + rep.seed_setting("wasserstein")
    if not before:
        return lines + ["No grey-box results.", ""]

    def w(cell: Mapping | None) -> tuple[float | None, float | None]:
        v = (cell or {}).get("wasserstein_ce") or {}
        return v.get("mean"), v.get("std")

    rows = [[f"{f:g}", fmt_sd(*w(before.get(f))), fmt_sd(*w(after.get(f)))] for f in sorted(before)]
    lines += table(["leaked", "undefended W1 (sd)", "L2 1e-2 W1 (sd)"], rows)
    lines += ["", f"Seed: {rep.ref('wasserstein', 'claim') or '-'} (values only in its figures)."]
    share = float(rep.opts.get("distance_margin", DISTANCE_MARGIN))
    for label, cells, expect in (("before the defense the distance grows with the leaked fraction", before, "higher"),
                                 ("after L2 the distance shrinks with the leaked fraction", after, "lower")):
        fs = sorted(f for f in cells if w(cells[f])[0] is not None)
        if len(fs) >= 2:
            (a, sa), (b, sb) = w(cells[fs[-1]]), w(cells[fs[0]])
            # distances are not AUCs: "no change" is judged within a share of the smallest fraction's distance
            lines.append(verdict_line(label, rep.source("wasserstein"), f"ours f={fs[-1]:g} {a:.4f} vs f={fs[0]:g} {b:.4f}", a, b, sa, sb, expect,
                                      margin=share * abs(b) or None, margin_note=f": {share:g} of the f={fs[0]:g} distance"))
    return lines + [""]


DISTANCE_MARGIN = 0.25  # default report.distance_margin: a share of the distance at the smallest leaked fraction


def _confusion(rep: Report, main: RunData, runs: dict[float, RunData]) -> list[str]:
    main_sig = rep.opts.get("main_signal", "kde_cross_entropy")
    before = _gb_cells(main, "none")
    if not before:
        return []
    f = max(before)
    entries = [("undefended", before.get(f))]
    for lam, r in runs.items():
        entries.append((f"L2 lambda {lam:g}", _gb_cells(r, _l2_name(r) or "l2").get(f)))
    lines = [f"### Confusion matrices (`{main_sig}`, leaked {f:g}, mean counts over draws)", ""]
    rows = []
    for label, cell in entries:
        c = ((cell or {}).get("attacks", {}).get(main_sig) or {}).get("confusion")
        if not c:
            continue
        tpr, fpr = c["tp"] / max(c["tp"] + c["fn"], 1e-12), c["fp"] / max(c["fp"] + c["tn"], 1e-12)
        ref_t, ref_f = (rep.ref("before", "tpr"), rep.ref("before", "fpr")) if label == "undefended" else (None, None)
        rows.append([label, f"{c['tp']:.1f}", f"{c['fn']:.1f}", f"{c['fp']:.1f}", f"{c['tn']:.1f}", f"{fmt(tpr)} / {fmt(ref_t)}", f"{fmt(fpr)} / {fmt(ref_f)}"])
    lines += table(["model", "TP", "FN", "FP", "TN", "TPR ours / seed", "FPR ours / seed"], rows)
    return lines + ["", f"Seed ({rep.source('before')}): TPR about 0.40, FPR about 0.24 before the defense; after it, FPR close to TPR.", ""]


def _ticket(rep: Report, main: RunData) -> list[str]:
    main_sig = rep.opts.get("main_signal", "kde_cross_entropy")
    pruned = [lv for lv in main.levels() if lv != layout.DENSE]
    if not pruned:
        return []
    dense = _gb_cells(main, "none")
    tickets = {lv: _gb_cells(main, "none", lv) for lv in pruned}
    if not any(tickets.values()):
        return []
    lines = [f"### Grey-box attack on lottery tickets (`{main_sig}`, undefended; seed 000's angle, no seed number)", ""]
    rows = [[f"{f:g}", fmt_sd(*_gb(dense.get(f), main_sig, "accuracy"))] + [fmt_sd(*_gb(t.get(f), main_sig, "accuracy")) for t in tickets.values()] for f in sorted(dense)]
    return lines + table(["leaked", "dense", *pruned], rows) + [""]
