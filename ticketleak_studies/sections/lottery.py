"""Report sections of a ``lottery`` study (seed 000, lottery tickets): Table 1, attack classifiers,
Figs. 1-4 per dataset, and the number of classes across datasets and runs."""

from __future__ import annotations

import numpy as np

from ticketleak import stats
from ticketleak.core import layout
from ticketleak_studies.document import Report
from ticketleak_studies.formatting import diff, fmt, fmt_diff, fmt_ref, fmt_sd, table
from ticketleak_studies.gathered import RunData
from ticketleak_studies.verdicts import binomial_sd, floor_line, judge, metric_sd, verdict_line


def sections(rep: Report, dataset: str) -> list[str]:
    """Table 1, the attack classifiers and Figs. 1-4 on one dataset."""
    g, o = rep.gathered, rep.opts
    base, arch2 = g.get(dataset, o.get("base_run")), g.get(dataset, o.get("arch_run"))
    attack = o.get("attack", "shokri_sorted")
    lines: list[str] = []
    if base is not None:
        lines += _table1(rep, base, attack)
        lines += _classifiers(rep, base)
    pair = [r for r in (base, arch2) if r is not None]
    if pair:
        lines += _sparsity(rep, pair, attack)
        lines += _samples(rep, pair, attack)
    if base is not None:
        lines += _transfer(rep, base)
    return lines


def _ticket_level(rep: Report) -> str:
    return layout.level_name("lth_oneshot", float(rep.opts.get("ticket_sparsity", 0.8)))


def _table1(rep: Report, r: RunData, attack: str) -> list[str]:
    row_name = rep.opts.get("reference_row", {}).get(r.dataset)
    ref = rep.ref("table1", "rows", row_name) if row_name else None
    ticket = _ticket_level(rep)
    lines = [f"### Table 1: attack accuracy and precision, dense vs lottery ticket ({attack}, ticket = {ticket})", ""]
    lines += rep.seed_setting("table1")
    rows, got = [], {}
    for i, (label, level) in enumerate((("baseline (dense)", layout.DENSE), (f"lottery ticket ({ticket})", ticket))):
        m = r.attack("none", level, attack)
        got[level] = m
        acc, prec = (m or {}).get("accuracy"), (m or {}).get("precision")
        ref_acc = ref["accuracy"][i] if ref else None
        ref_prec = ref["precision"][i] if ref else None
        rows.append([label, fmt_sd(acc, metric_sd(m, "accuracy", r.eval_n) if m else None), fmt(ref_acc), fmt_diff(diff(acc, ref_acc)),
                     fmt(prec), fmt(ref_prec), fmt_diff(diff(prec, ref_prec)), fmt_sd((m or {}).get("auc"), (m or {}).get("auc_std"))])
    lines += table(["model", "attack acc ours (sd)", f"seed ({row_name or '-'})", "diff", "precision ours", "seed", "diff", "AUC ours (sd)"], rows)
    d, t = got[layout.DENSE], got[ticket]
    a, b = (d or {}).get("accuracy"), (t or {}).get("accuracy")
    left = floor_line(r, [("none", layout.DENSE), ("none", ticket)])
    if left:
        return lines + [""] + left + [""]
    lines += ["", verdict_line("lottery tickets are as vulnerable as the dense network", rep.source("table1"),
                               f"ours ticket {fmt(b)} vs dense {fmt(a)}", b, a,
                               metric_sd(t, "accuracy", r.eval_n) if t else None, metric_sd(d, "accuracy", r.eval_n) if d else None, "equal"), ""]
    return lines


def _classifiers(rep: Report, r: RunData) -> list[str]:
    classifiers = rep.opts.get("classifiers", {})
    if not classifiers:
        return []
    ticket = _ticket_level(rep)
    lines = [f"### Sec. 3.2.2: attack classifiers (dense and ticket {ticket})", ""] + rep.seed_setting("classifiers")
    rows, dense = [], {}
    for short, name in classifiers.items():
        m_d, m_t = r.attack("none", layout.DENSE, name), r.attack("none", ticket, name)
        ref = rep.ref("classifiers", "accuracy", short)
        dense[short] = m_d
        acc_d = (m_d or {}).get("accuracy")
        rows.append([f"{short} (`{name}`)", fmt(acc_d), fmt((m_t or {}).get("accuracy")), fmt(ref), fmt_diff(diff(acc_d, ref))])
    lines += table(["classifier", "dense acc ours", "ticket acc ours", "seed", "diff (dense)"], rows)
    others = {k: v for k, v in dense.items() if k != "mlp" and v}
    if dense.get("mlp") and others:
        best = max(others, key=lambda k: others[k]["accuracy"])
        m, b = dense["mlp"], others[best]
        lines += ["", verdict_line("the MLP attack beats the SVM and random-forest attacks", rep.source("classifiers"),
                                   f"ours dense MLP {fmt(m['accuracy'])} vs best other ({best}) {fmt(b['accuracy'])}",
                                   m["accuracy"], b["accuracy"], metric_sd(m, "accuracy", r.eval_n), metric_sd(b, "accuracy", r.eval_n), "higher")]
    return lines + [""]


def _arch_label(r: RunData) -> str:
    t = r.target("none", layout.DENSE) or {}
    params_n = t.get("parameters")
    return f"{r.p('model.arch')}" + (f", {params_n:,} params" if params_n else "")


def _sparsity(rep: Report, runs: list[RunData], attack: str) -> list[str]:
    refs = rep.ref("sparsity", "accuracy_range") or {}
    lines = ["### Figs. 1-2: test accuracy and attack accuracy against sparsity", ""]
    lines += rep.seed_setting("sparsity")
    header = ["sparsity"]
    for i, r in enumerate(runs):
        key = "first" if i == 0 else "second"
        header += [f"test acc `{r.run}` ({_arch_label(r)})", f"attack acc `{r.run}` (sd)", f"seed ({key} arch)", "diff"]
    levels = runs[0].levels()
    rows = []
    for level in levels:
        row = [f"{layout.parse_level(level)[1]:g}"]
        for i, r in enumerate(runs):
            t, m = r.target("none", level), r.attack("none", level, attack)
            ref = refs.get("first" if i == 0 else "second")
            acc = (m or {}).get("accuracy")
            row += [fmt((t or {}).get("test_acc")), fmt_sd(acc, metric_sd(m, "accuracy", r.eval_n) if m else None), fmt_ref(ref), fmt_diff(diff(acc, ref))]
        rows.append(row)
    lines += table(header, rows)
    lines += ["", f"Seed, Fig. 1 ({rep.source('accuracy')}): {rep.ref('accuracy', 'trend') or '-'}; the seed prints no values. "
              f"Seed, Fig. 2: {rep.ref('sparsity', 'trend') or '-'}.", ""]
    for r in runs:
        lines.append(_rise_then_drop(rep, r, attack))
    if len(runs) == 2:
        lines.append(_larger_leaks_more(rep, runs, attack))
    for r in runs:
        lines += floor_line(r, [("none", lv) for lv in r.levels()])
    return lines + [""]


def _usable(r: RunData) -> list[str]:
    """The run's levels whose targets clear the utility floor (the others are left out of verdicts)."""
    return [lv for lv in r.levels() if r.below_floor("none", lv) is None]


def _rise_then_drop(rep: Report, r: RunData, attack: str) -> str:
    """Seed 000, Fig. 2: the attack accuracy peaks at an intermediate sparsity, then drops.

    The peak is a best of several levels, so it is cross-fitted over training seeds: each seed's
    rise and drop are measured at the level that peaks on the mean of the other seeds (the shown
    peak is the one on all seeds' mean)."""
    levels = [lv for lv in _usable(r) if r.attack("none", lv, attack)]
    claim = f"attack accuracy rises with sparsity, then drops at very high sparsity (`{r.run}`)"
    if len(levels) < 3:
        return f"- {claim} ({rep.source('sparsity')}): not measured"
    all_seeds = list(r.p("seeds") or [0])
    others = [k for k in all_seeds if k != r.only_seed] if r.only_seed is not None and len(all_seeds) > 1 else all_seeds
    views = [r.seed_view(k) for k in others]

    def chosen_on(lv: str) -> float:
        accs = [m["accuracy"] for m in (v.attack("none", lv, attack) for v in views) if m]
        return float(np.mean(accs)) if accs else -1.0

    peak_i = max(range(len(levels)), key=lambda i: chosen_on(levels[i]))
    peak, first, last = (r.attack("none", levels[i], attack) for i in (peak_i, 0, -1))
    rise = judge(peak["accuracy"], first["accuracy"], metric_sd(peak, "accuracy", r.eval_n), metric_sd(first, "accuracy", r.eval_n), "higher")[0]
    drop = judge(last["accuracy"], peak["accuracy"], metric_sd(last, "accuracy", r.eval_n), metric_sd(peak, "accuracy", r.eval_n), "lower")[0]
    interior = 0 < peak_i < len(levels) - 1
    # both parts must hold; either part contradicted contradicts the claim; otherwise nothing is shown
    word = (stats.AGREES if interior and rise == stats.AGREES and drop == stats.AGREES
            else stats.DISAGREES if stats.DISAGREES in (rise, drop) else stats.NO_EVIDENCE)
    return (f"- {claim} ({rep.source('sparsity')}): ours peak {peak['accuracy']:.3f} at sparsity {layout.parse_level(levels[peak_i])[1]:g} "
            f"(dense {first['accuracy']:.3f}: rise {rise}; highest sparsity {last['accuracy']:.3f}: drop {drop}; each seed's peak "
            f"chosen on the other seeds) -> **{word}**")


def _mean_attack(r: RunData, attack: str) -> tuple[float | None, float | None]:
    accs = [m["accuracy"] for m in (r.attack("none", lv, attack) for lv in _usable(r)) if m]
    if not accs:
        return None, None
    mean = float(np.mean(accs))
    return mean, binomial_sd(mean, r.eval_n)  # the levels share one evaluation set: one cell's sd


def _larger_leaks_more(rep: Report, runs: list[RunData], attack: str) -> str:
    """Seed 000, Sec. 4.2: the larger architecture (ResNet-50) is attacked more successfully."""
    sizes = [((r.target("none", layout.DENSE) or {}).get("parameters") or 0) for r in runs]
    big, small = (runs[0], runs[1]) if sizes[0] >= sizes[1] else (runs[1], runs[0])
    (a, sd_a), (b, sd_b) = _mean_attack(big, attack), _mean_attack(small, attack)
    return verdict_line("the larger network is more vulnerable (mean over sparsities)", "seed 000, Sec. 4.2",
                        f"ours {big.p('model.arch')} {fmt(a)} vs {small.p('model.arch')} {fmt(b)}", a, b, sd_a, sd_b, "higher")


def _samples(rep: Report, runs: list[RunData], attack: str) -> list[str]:
    ticket = _ticket_level(rep)
    lines = [f"### Fig. 3: attack accuracy against the number of attack-training samples (ticket {ticket})", ""]
    lines += rep.seed_setting("samples")
    curves = {r.run: r.curve("none", ticket) for r in runs}
    ks = sorted(set().union(*[set(c) for c in curves.values()]))
    if not ks:
        return lines + ["No shadow-count curve recorded (attack.shadow_curve false).", ""]
    header = ["shadows k"] + [f"samples `{r.run}` (2 k S)" for r in runs] + [f"attack acc `{r.run}`" for r in runs]
    rows = []
    for k in ks:
        row = [str(k)] + [str(2 * k * int(r.p("data.shadow_size", 0))) for r in runs]
        row += [fmt(curves[r.run].get(k, {}).get(attack, {}).get("accuracy")) for r in runs]
        rows.append(row)
    lines += table(header, rows)
    lines += ["", f"Seed: {rep.ref('samples', 'trend') or '-'} (values only in its figure)."]
    for r in runs:
        accs = [(k, curves[r.run][k][attack]["accuracy"]) for k in ks if attack in curves[r.run].get(k, {})]
        if len(accs) >= 2:
            hi, lo = max(accs, key=lambda x: x[1]), min(accs, key=lambda x: x[1])
            sd = binomial_sd(hi[1], r.eval_n)
            lines.append(verdict_line(f"more attack-training samples change the attack little (`{r.run}`)", rep.source("samples"),
                                      f"ours max {hi[1]:.3f} (k={hi[0]}) vs min {lo[1]:.3f} (k={lo[0]}); the difference "
                                      "is each seed's own max minus min (a range, never below 0: conservative for "
                                      "a claim of little change)", hi[1], lo[1], sd, sd, "equal"))
    return lines + [""]


def _transfer(rep: Report, r: RunData) -> list[str]:
    tr = r.transfer()
    lines = ["### Fig. 4: attack transfer (accuracy; rows: the source whose shadows fit the attack, columns: the attacked target)", ""]
    lines += rep.seed_setting("transfer")
    if not tr:
        return lines + ["No transfer results.", ""]
    attack = rep.opts.get("attack", "shokri_sorted")
    matrix = tr["matrix"].get(attack) or next(iter(tr["matrix"].values()))
    levels = tr["levels"]
    rows = [[f"**{s}**"] + [fmt(matrix[s][t]["accuracy"]) for t in levels] for s in levels]
    lines += table(["source \\ target", *levels], rows)
    wins = sum(max(levels, key=lambda s: matrix[s][t]["accuracy"]) == t for t in levels)
    diag = float(np.mean([matrix[t][t]["accuracy"] for t in levels]))
    off = [matrix[s][t]["accuracy"] for s in levels for t in levels if s != t]
    lines += ["", f"Seed: {rep.ref('transfer', 'trend') or '-'}. Ours: the diagonal is the best source for {wins} of {len(levels)} targets."]
    if off:
        off_mean = float(np.mean(off))
        sd_d, sd_o = binomial_sd(diag, r.eval_n), binomial_sd(off_mean, r.eval_n)  # cells share evaluation samples
        lines.append(verdict_line("the matching attack (diagonal) beats the transferred ones", rep.source("transfer"),
                                  f"ours diagonal mean {diag:.3f} vs off-diagonal mean {off_mean:.3f}", diag, off_mean, sd_d, sd_o, "higher"))
    return lines + [""]


def across(rep: Report) -> list[str]:
    """Sec. 4.1.1 and Table 1: every run and dataset by number of classes, beside the seed's rows."""
    g = rep.gathered
    attack, ticket = rep.opts.get("attack", "shokri_sorted"), _ticket_level(rep)
    lines = [f"### Number of classes (Sec. 4.1.1) and Table 1 across datasets ({attack}, ticket {ticket})", ""]
    lines += rep.seed_setting("classes")
    entries = []
    for r in g.present():
        d, t = r.attack("none", layout.DENSE, attack), r.attack("none", ticket, attack)
        if d or t:
            entries.append((r, d, t))
    rows = []
    for r, d, t in sorted(entries, key=lambda e: (e[0].num_classes or 0, e[0].dataset)):
        ref = rep.ref("classes", "accuracy", str(r.num_classes)) if r.num_classes else None
        acc_t = (t or {}).get("accuracy")
        rows.append([r.dataset, f"`{r.run}`", str(r.num_classes or "?"), r.p("model.arch") or "?", fmt((d or {}).get("accuracy")), fmt(acc_t), fmt(ref), fmt_diff(diff(acc_t, ref))])
    measured = {r.num_classes for r, _, _ in entries}
    for name, row in (rep.ref("table1", "rows") or {}).items():
        if row.get("classes") not in measured:
            rows.append([f"{name} (seed only: not run here)", "-", str(row.get("classes")), "-", "-", "-", fmt(row["accuracy"][1]), "-"])
    lines += table(["dataset", "run", "classes", "arch", "dense acc ours", "ticket acc ours", "seed (ticket)", "diff"], rows)
    lines.append("")
    for a, b in _class_pairs([e[0] for e in entries]):
        ta, tb = a.attack("none", ticket, attack), b.attack("none", ticket, attack)
        if ta and tb:
            lines.append(verdict_line(
                "more classes, higher attack accuracy", rep.source("classes"),
                f"ours {b.dataset}/{b.run} ({b.num_classes} classes) {tb['accuracy']:.3f} vs {a.dataset}/{a.run} ({a.num_classes} classes) {ta['accuracy']:.3f}",
                tb["accuracy"], ta["accuracy"], metric_sd(tb, "accuracy", b.eval_n), metric_sd(ta, "accuracy", a.eval_n), "higher"))
    return lines


def _class_pairs(runs: list[RunData]) -> list[tuple[RunData, RunData]]:
    """Pairs (fewer classes, more classes) comparable enough to judge: the same architecture, and
    the same dataset or the same run name on different datasets (paper scale: CIFAR-10 vs
    CIFAR-100). A LeNet-5 run set against a CNN run would measure the architecture, not the classes."""
    pairs = []
    for a in runs:
        for b in runs:
            if a.num_classes and b.num_classes and a.num_classes < b.num_classes and (a.dataset == b.dataset or a.run == b.run) \
                    and a.p("model.arch") == b.p("model.arch"):
                pairs.append((a, b))
    return pairs
