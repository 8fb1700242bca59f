"""Figures and report lines of the grey-box, shadow-count and SAMIA attacks.

Called by the aggregate stage with what the attack stages wrote (JSON already read):

- ``results/<defense>/greybox.json`` (stage greybox) -> :func:`greybox_figure`, :func:`confusion_figure`
- ``results/<defense>/<level>.json`` with ``shadow_curve`` (attack stages) -> :func:`shadow_curve_figure`
- ``results/<defense>/<level>-samia.json`` (stages samia_dense / samia) -> :func:`samia_rows`

Every figure function writes one PNG and returns nothing; with nothing to draw it still writes a
PNG that says why, so the aggregate stage's declared plots always exist.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ticketleak.figure_layout import legend_below, panels, save  # noqa: E402

DENSE = "dense"
BASELINE = "none"  # the undefended model
MAIN_ATTACK = "kde_cross_entropy"  # seed 004's main signal
SIGNAL_ATTACKS = ("kde_probability", "kde_cross_entropy", "kde_logit_scaled", "classifier_logreg")
CURVE_SHOKRI = "shokri_sorted"


def _placeholder(path: str | Path, text: str) -> None:
    fig, ax = plt.subplots(figsize=(6, 2))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=10, wrap=True)
    save(fig, path)


def _fractions(sweep: dict) -> list[float]:
    return sorted(float(f) for f in sweep["fractions"])


def _series(sweep: dict, attack: str | None, metric: str) -> tuple[list[float], np.ndarray, np.ndarray]:
    """x (leaked fractions), mean and std over the draws of one attack's metric; ``attack`` None
    reads the Wasserstein distance of the cross-entropy losses."""
    xs = _fractions(sweep)
    cells = [sweep["results"][f"{f:g}"] for f in xs]
    stats = [c["wasserstein_ce"] if attack is None else c["attacks"][attack][metric] for c in cells]
    return xs, np.array([s["mean"] for s in stats]), np.array([s["std"] for s in stats])


def _baseline(greybox_by_defense: dict[str, dict]) -> str:
    return BASELINE if BASELINE in greybox_by_defense else next(iter(greybox_by_defense))


def greybox_figure(greybox_by_defense: dict[str, dict], path: str | Path) -> None:
    """Seed 004's figure: grey-box attack accuracy, FPR and the Wasserstein-1 distance of the
    cross-entropy losses against the leaked fraction (log x axis), error bars 1 std over the draws.

    Top row: the KDE attack on the cross-entropy loss, one solid line per level of the undefended
    model (``none``, else the first defense), and one dashed line per other defense's dense model
    (before/after L2, dropout, ...). Bottom row: the undefended dense model, the KDE attack on each
    of the three loss signals and the logistic-regression classifier (accuracy, FPR, AUC).
    ``greybox_by_defense``: defense -> the content of results/<defense>/greybox.json."""
    if not greybox_by_defense:
        _placeholder(path, "no grey-box results")
        return
    base = _baseline(greybox_by_defense)
    fig, axes = panels(6, panel=(5.2, 3.6))
    axes = [axes[0::2], axes[1::2]]  # the page's left column: the cross-entropy attack per model; right: per signal
    top = (("accuracy", MAIN_ATTACK, "attack balanced accuracy"), ("fpr", MAIN_ATTACK, "false positive rate"),
           (None, None, "Wasserstein-1, members vs non-members (CE loss)"))
    lines: list[tuple[str, dict, dict]] = [(f"{base} {lv}", greybox_by_defense[base]["sweep"][lv], {"ls": "-", "marker": "o"})
                                           for lv in greybox_by_defense[base]["levels"]]
    lines += [(f"{d} {DENSE}", g["sweep"][DENSE], {"ls": "--", "marker": "s"})
              for d, g in greybox_by_defense.items() if d != base and DENSE in g["sweep"]]
    for ax, (metric, attack, title) in zip(axes[0], top):
        for label, sweep, style in lines:
            xs, mean, sd = _series(sweep, attack, metric or "")
            ax.errorbar(xs, mean, yerr=sd, capsize=3, label=label, **style)
        ax.set_title(title + (f" ({attack})" if attack else ""))
        ax.set_ylabel("W1 distance" if metric is None else metric)
    base_dense = greybox_by_defense[base]["sweep"].get(DENSE) or greybox_by_defense[base]["sweep"][greybox_by_defense[base]["levels"][0]]
    for ax, metric in zip(axes[1], ("accuracy", "fpr", "auc")):
        for attack in SIGNAL_ATTACKS:
            if attack not in base_dense["results"][f"{_fractions(base_dense)[0]:g}"]["attacks"]:
                continue
            xs, mean, sd = _series(base_dense, attack, metric)
            ax.errorbar(xs, mean, yerr=sd, capsize=3, marker="o", label=attack)
        ax.set_title(f"{base} {DENSE}: {metric} per signal")
        ax.set_ylabel(metric)
    for ax in (*axes[0], *axes[1]):
        ax.set_xscale("log")
        ax.set_xlabel("leaked fraction of members and of non-members")
        ax.grid(alpha=0.3, which="both")
        legend_below(ax, ncol=2)
    for ax in (axes[0][0], axes[1][0], axes[1][2]):
        ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    fig.suptitle("Grey-box attack with a leaked fraction of the target's data (bars: 1 sd over draws)")
    save(fig, path)


def confusion_figure(greybox: dict, path: str | Path) -> None:
    """Mean confusion matrices over the draws at the largest leaked fraction, the dense model
    against the first pruned level, for the KDE cross-entropy attack and the classifier.
    ``greybox``: the content of one defense's results/<defense>/greybox.json."""
    levels = list(greybox.get("levels", []))
    if not levels:
        _placeholder(path, "no grey-box results")
        return
    shown = [lv for lv in levels if lv == DENSE][:1] + [lv for lv in levels if lv != DENSE][:1]
    shown = shown or levels[:1]
    first = greybox["sweep"][shown[0]]
    f = max(_fractions(first))
    attacks = [a for a in (MAIN_ATTACK, "classifier_logreg") if a in first["results"][f"{f:g}"]["attacks"]]
    fig, flat = panels(len(attacks) * len(shown), panel=(4.2, 3.8), ncols=len(shown))
    axes = [flat[i * len(shown):(i + 1) * len(shown)] for i in range(len(attacks))]
    for j, level in enumerate(shown):
        cell = greybox["sweep"][level]["results"][f"{f:g}"]
        for i, attack in enumerate(attacks):
            c = cell["attacks"][attack]["confusion"]
            grid = np.array([[c["tp"], c["fn"]], [c["fp"], c["tn"]]], dtype=float)
            rates = grid / np.maximum(grid.sum(1, keepdims=True), 1e-12)
            ax = axes[i][j]
            ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
            for r in range(2):
                for k in range(2):
                    ax.text(k, r, f"{grid[r, k]:.1f}\n({rates[r, k]:.2f})", ha="center", va="center",
                            color="white" if rates[r, k] > 0.6 else "black", fontsize=9)
            ax.set_xticks([0, 1], ["member", "non-member"])
            ax.set_yticks([0, 1], ["member", "non-member"])
            ax.set_xlabel("predicted")
            ax.set_ylabel("true")
            ax.set_title(f"{level}, {attack}\nf = {f:g}, {cell['n_eval']} evaluated", fontsize=9)
    fig.suptitle(f"Grey-box confusion, {greybox.get('defense', '')} (mean over draws; row rates)", fontsize=10)
    save(fig, path)


def _curve(record: dict) -> dict[int, dict]:
    return {int(k): v for k, v in record.get("shadow_curve", {}).items()}


def shadow_curve_figure(results_by_level: dict[str, dict], path: str | Path) -> None:
    """Seed 003, Fig. 1: attack accuracy and AUC against the number of shadow models, for the
    Shokri MLP on the sorted posterior (solid) and the best metric (threshold) attack (dashed: the
    one with the highest AUC at the largest shadow count, averaged over levels), one colour per
    level. ``results_by_level``: level -> the content of results/<defense>/<level>.json; levels
    without ``shadow_curve`` (attack.shadow_curve false) are left out."""
    curves = {lv: _curve(r) for lv, r in results_by_level.items() if r.get("shadow_curve")}
    if not curves:
        _placeholder(path, "no shadow-count curve (attack.shadow_curve is false)")
        return
    last = {lv: c[max(c)] for lv, c in curves.items()}
    metric_names = [a for a in next(iter(last.values())) if not a.startswith("shokri")]
    best_metric = max(metric_names, key=lambda a: np.mean([v[a]["auc"] for v in last.values() if a in v])) if metric_names else None
    fig, axes = panels(2, panel=(5.2, 4.0))
    colors = plt.get_cmap("tab10").colors
    ks_all: set[int] = set()
    for n, (level, curve) in enumerate(curves.items()):
        ks = sorted(curve)
        ks_all.update(ks)
        for attack, ls in ((CURVE_SHOKRI, "-"), (best_metric, "--")):
            if attack is None or attack not in curve[ks[0]]:
                continue
            for ax, metric in zip(axes, ("accuracy", "auc")):
                ax.plot(ks, [curve[k][attack][metric] for k in ks], ls=ls, marker="o", color=colors[n % 10], label=f"{level} {attack}")
    for ax, metric in zip(axes, ("attack balanced accuracy", "attack AUC")):
        ax.axhline(0.5, color="grey", lw=0.8, ls=":")
        ax.set_xticks(sorted(ks_all))
        ax.set_xlabel("number of shadow models")
        ax.set_ylabel(metric)
        ax.set_title(f"{metric[0].upper()}{metric[1:]} against the number of shadows", fontsize=10)
        ax.grid(alpha=0.3)
        legend_below(ax, ncol=2)
    save(fig, path)


def samia_rows(samia_by_level: dict[str, dict | None]) -> list[str]:
    """Markdown table lines for the report: level, AUC (bootstrap sd when present), balanced
    accuracy and TPR at 1% FPR of SAMIA. ``samia_by_level``: label (a level, or a variant and
    level) -> the content of results/<defense>/<level>-samia.json (its ``samia`` metrics, or None
    / ``skipped`` when attack.samia.enabled was false)."""
    lines = ["| level | AUC | accuracy | TPR@1%FPR |", "|---|---|---|---|"]
    for level, record in samia_by_level.items():
        m = record.get("samia") if isinstance(record, dict) and "samia" in record else record
        if not m or (isinstance(record, dict) and record.get("skipped")):
            lines.append(f"| {level} | skipped | - | - |")
            continue
        sd = f" ({m['auc_std']:.3f})" if "auc_std" in m else ""
        lines.append(f"| {level} | {m['auc']:.3f}{sd} | {m['accuracy']:.3f} | {m['tpr_at_1pct_fpr']:.3f} |")
    return lines
