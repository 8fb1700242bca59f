"""Report sections of a ``shadow`` study (seed 003, shadow models): Tables 1-4, Fig. 1 and the
number of classes, all read from the shadow-count curve."""

from __future__ import annotations

import numpy as np

from ticketleak.core import layout
from ticketleak_studies.document import Report
from ticketleak_studies.formatting import diff, fmt, fmt_diff, fmt_ref, table
from ticketleak_studies.gathered import RunData
from ticketleak_studies.verdicts import binomial_sd, verdict_line


def _attack(rep: Report) -> str:
    short = rep.opts.get("attack", "linear_svm")
    return rep.opts.get("classifiers", {}).get(short, f"shokri_sorted_{short}")


def _curve_acc(r: RunData | None, k: int, attack: str, defense: str = "none") -> dict | None:
    if r is None:
        return None
    return r.curve(defense, layout.DENSE).get(k, {}).get(attack)


def sections(rep: Report, dataset: str) -> list[str]:
    """Tables 1-4, Fig. 1 and the number of classes on one dataset."""
    g, o = rep.gathered, rep.opts
    base, more, five = g.get(dataset, o.get("base_run")), g.get(dataset, o.get("more_data_run")), g.get(dataset, o.get("classes_run"))
    lines: list[str] = []
    if base is not None:
        lines += _table1(rep, base)
        lines += _table2(rep, base)
        lines += _fig1(rep, base)
    if base is not None and more is not None:
        lines += _table3(rep, base, more)
    if base is not None and five is not None:
        lines += _classes(rep, base, five)
    if base is not None:
        lines += _table4(rep, base)
    return lines


def _table1(rep: Report, r: RunData) -> list[str]:
    ks = [4, 5, 6, 7]
    lines = ["### Table 1: attack accuracy per classifier and number of shadows (undefended, dense)", ""] + rep.seed_setting("table1")
    rows = []
    for short, name in rep.opts.get("classifiers", {}).items():
        row = [f"{short}"]
        for k in ks:
            m, ref = _curve_acc(r, k, name), rep.ref("table1", "accuracy", short, str(k))
            acc = (m or {}).get("accuracy")
            row.append(f"{fmt(acc)} / {fmt(ref)} ({fmt_diff(diff(acc, ref))})")
        rows.append(row)
    lines += table(["classifier", *[f"k={k}: ours / seed (diff)" for k in ks]], rows)
    sd = binomial_sd(0.5, r.eval_n)
    lines += ["", f"Accuracy sd (binomial, n = {r.eval_n}) is at most {fmt(sd)} per cell.", ""]
    return lines


def _table2(rep: Report, r: RunData) -> list[str]:
    ref = rep.ref("table2", "metrics") or {}
    clf, k_ref = rep.ref("table2", "classifier"), rep.ref("table2", "shadows")
    cells = [(short, k, m) for short, name in rep.opts.get("classifiers", {}).items()
             for k, by_attack in r.curve("none", layout.DENSE).items() for a, m in by_attack.items() if a == name]
    if not cells:
        return []
    best = max(cells, key=lambda c: c[2]["accuracy"])
    at_seed = next((c for c in cells if c[0] == clf and c[1] == k_ref), None)
    lines = ["### Table 2: accuracy, precision and recall of the best attack", ""] + rep.seed_setting("table2")
    rows = []
    for label, cell in ((f"ours best: {best[0]}, k={best[1]}", best), (f"ours at the seed's cell: {clf}, k={k_ref}", at_seed)):
        if cell is None:
            continue
        m = cell[2]
        rows.append([label] + [f"{fmt(m.get(key))} / {fmt(ref.get(key))} ({fmt_diff(diff(m.get(key), ref.get(key)))})" for key in ("accuracy", "precision", "recall")])
    lines += table(["attack", "accuracy: ours / seed (diff)", "precision", "recall"], rows)
    return lines + ["", "The best cell is picked on the evaluation set, as the seed picked its own (optimistic).", ""]


def _fig1(rep: Report, r: RunData) -> list[str]:
    attack = _attack(rep)
    curve = r.curve("none", layout.DENSE)
    ks = sorted(k for k in curve if attack in curve[k])
    lines = [f"### Fig. 1: attack accuracy against the number of shadows (`{attack}`)", ""] + rep.seed_setting("shadows")
    if not ks:
        return lines + ["No shadow-count curve recorded.", ""]
    lines += table(["shadows k", *map(str, ks)], [["attack acc", *[fmt(curve[k][attack]["accuracy"]) for k in ks]]])
    a, b = curve[ks[-1]][attack]["accuracy"], curve[ks[0]][attack]["accuracy"]
    lines += ["", f"Seed: {rep.ref('shadows', 'trend') or '-'}.",
              verdict_line("more shadows, higher attack accuracy", rep.source("shadows"), f"ours k={ks[-1]} {a:.3f} vs k={ks[0]} {b:.3f}",
                           a, b, binomial_sd(a, r.eval_n), binomial_sd(b, r.eval_n), "higher"), ""]
    return lines


def _mean_curve(r: RunData, ks: list[int], attack: str, defense: str = "none") -> tuple[float | None, float | None]:
    """Mean accuracy over shadow counts, with the binomial sd of one cell (the refits share
    shadows, so averaging does not shrink the spread much)."""
    accs = [m["accuracy"] for m in (_curve_acc(r, k, attack, defense) for k in ks) if m]
    if not accs:
        return None, None
    mean = float(np.mean(accs))
    return mean, binomial_sd(mean, r.eval_n)


def _table3(rep: Report, base: RunData, more: RunData) -> list[str]:
    attack = _attack(rep)
    ks = [4, 5, 6, 7, 8]
    lines = [f"### Table 3: less vs more training data (`{attack}`)", ""] + rep.seed_setting("table3")
    rows = []
    for k in ks:
        ref = rep.ref("table3", "accuracy", str(k)) or [None, None]
        a, b = (_curve_acc(base, k, attack) or {}).get("accuracy"), (_curve_acc(more, k, attack) or {}).get("accuracy")
        rows.append([str(k), fmt(a), fmt(ref[0]), fmt_diff(diff(a, ref[0])), fmt(b), fmt(ref[1]), fmt_diff(diff(b, ref[1]))])
    lines += table(["shadows k", f"ours {base.p('data.target_size')} samples", "seed 3,000", "diff", f"ours {more.p('data.target_size')} samples", "seed 6,000", "diff"], rows)
    (a, sd_a), (b, sd_b) = _mean_curve(base, ks, attack), _mean_curve(more, ks, attack)
    lines += ["", verdict_line("more training data, lower attack accuracy (mean over k)", rep.source("table3"),
                               f"ours {base.p('data.target_size')} samples {fmt(a)} vs {more.p('data.target_size')} samples {fmt(b)}", a, b, sd_a, sd_b, "higher"), ""]
    return lines


def _classes(rep: Report, base: RunData, five: RunData) -> list[str]:
    attack = _attack(rep)
    ks = sorted(k for k in base.curve("none", layout.DENSE) if k >= 2)
    lines = [f"### Sec. 5.4: {base.num_classes} vs {five.num_classes} classes (`{attack}`, range over k = {ks[0] if ks else '-'}..{ks[-1] if ks else '-'})", ""]
    lines += rep.seed_setting("classes")
    rows = []
    for r in (base, five):
        accs = [m["accuracy"] for m in (_curve_acc(r, k, attack) for k in ks) if m]
        ref = rep.ref("classes", "range", str(r.num_classes))
        lo, hi = (min(accs), max(accs)) if accs else (None, None)
        rows.append([f"`{r.run}`", str(r.num_classes), f"{fmt(lo)}-{fmt(hi)}", fmt_ref(ref), fmt_diff(diff(lo, ref)), fmt_diff(diff(hi, ref))])
    lines += table(["run", "classes", "ours (min-max)", "seed (min-max)", "diff (min)", "diff (max)"], rows)
    (a, sd_a), (b, sd_b) = _mean_curve(base, ks, attack), _mean_curve(five, ks, attack)
    lines += ["", verdict_line("fewer classes, lower attack accuracy (mean over k)", rep.source("classes"),
                               f"ours {base.num_classes} classes {fmt(a)} vs {five.num_classes} classes {fmt(b)}", a, b, sd_a, sd_b, "higher"), ""]
    return lines


def _table4(rep: Report, r: RunData) -> list[str]:
    attack = _attack(rep)
    dropout = next((d for d in r.p("defense.train", []) or [] if r.p(f"defense.variants.{d}.kind") == "dropout"), None)
    if dropout is None:
        return []
    ks = [2, 3, 4, 5, 6, 7, 8, 9]
    lines = [f"### Table 4: the network without and with dropout ({r.p(f'defense.variants.{dropout}.rate')}) (`{attack}`)", ""] + rep.seed_setting("table4")
    rows = []
    for k in ks:
        ref = rep.ref("table4", "accuracy", str(k)) or [None, None]
        a, b = (_curve_acc(r, k, attack) or {}).get("accuracy"), (_curve_acc(r, k, attack, dropout) or {}).get("accuracy")
        rows.append([str(k), fmt(a), fmt(ref[0]), fmt_diff(diff(a, ref[0])), fmt(b), fmt(ref[1]), fmt_diff(diff(b, ref[1]))])
    lines += table(["shadows k", "ours no dropout", "seed", "diff", "ours dropout", "seed", "diff"], rows)
    t_none, t_drop = r.target("none", layout.DENSE) or {}, r.target(dropout, layout.DENSE) or {}
    lines += ["", f"Target train / test accuracy: no dropout {fmt(t_none.get('train_acc'))} / {fmt(t_none.get('test_acc'))}, "
              f"dropout {fmt(t_drop.get('train_acc'))} / {fmt(t_drop.get('test_acc'))}."]
    (a, sd_a), (b, sd_b) = _mean_curve(r, ks, attack), _mean_curve(r, ks, attack, dropout)
    lines += [verdict_line("dropout lowers the attack accuracy (mean over k)", rep.source("table4"), f"ours no dropout {fmt(a)} vs dropout {fmt(b)}", a, b, sd_a, sd_b, "higher"), ""]
    return lines
