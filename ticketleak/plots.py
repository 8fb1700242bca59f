"""Figures: attack success and accuracy against sparsity, ROC curves, confidence histograms.

PNG figures for people, plus small CSV/JSON tables that `dvc plots show/diff` draws across
commits and experiments. ``rows`` are the means over training seeds (:func:`ticketleak.report.seed_means`);
what needs per-sample files (ROC curves, confidence histograms) reads the first seed's.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

from ticketleak.core import layout, store  # noqa: E402
from ticketleak.figure_layout import figure_legend, legend_below, panels, save  # noqa: E402
from ticketleak.reference import ATTACKS as REFERENCE_ATTACKS  # noqa: E402
from ticketleak.report import Row, auc_spread  # noqa: E402
from ticketleak.tensors import softmax  # noqa: E402

FLOOR = 1e-3  # log-log ROC floor: below 1/N non-members nothing is measured


def _x(row: Row) -> float:
    return row.asked


def _method_rows(rows: list[Row], method: str, variant: str = "none") -> list[Row]:
    """Dense, then ``method``'s levels by sparsity, for one variant."""
    group = [r for r in rows if r.variant == variant and r.method in (layout.DENSE, method)]
    return sorted(group, key=_x)


def _methods(rows: list[Row]) -> list[str]:
    return [m for m in dict.fromkeys(r.method for r in rows) if m != layout.DENSE]


def _first(methods: list[str]) -> str:
    """The method the single-method tables and figures follow (dense only when none is run)."""
    return methods[0] if methods else layout.DENSE


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def data_tables(rows: list[Row], out: Path, preference: Sequence[str]) -> None:
    """Tables behind the `dvc plots` definitions: undefended target, full posterior.

    attack_vs_sparsity.csv and accuracy_vs_sparsity.csv follow the first pruning method;
    best_auc_by_method.csv (the headline attack's AUC, under its old file name) and
    test_acc_by_method.csv have one column per method; roc.json holds the headline attack's ROC
    (the first of ``preference`` each row has) for dense and the first method's levels.
    """
    methods = _methods(rows)
    base = _method_rows(rows, _first(methods))
    attacks = list(base[0].attacks)
    _write_csv(
        out / "attack_vs_sparsity.csv",
        ["sparsity", *attacks, "headline"],
        [[_x(r), *(round(r.attacks[a]["auc"], 4) for a in attacks), round(r.headline(preference)[1]["auc"], 4)] for r in base],
    )
    _write_csv(
        out / "accuracy_vs_sparsity.csv",
        ["sparsity", "train_acc", "test_acc"],
        [[_x(r), round(r.target["train_acc"], 4), round(r.target["test_acc"], 4)] for r in base],
    )
    for name, value in (("best_auc_by_method", lambda r: r.headline(preference)[1]["auc"]), ("test_acc_by_method", lambda r: r.target["test_acc"])):
        table: dict[float, dict[str, float]] = {}
        for m in methods:
            for r in _method_rows(rows, m):
                table.setdefault(_x(r), {})[m] = round(value(r), 4)
        _write_csv(out / f"{name}.csv", ["sparsity", *methods], [[x, *(v.get(m, "") for m in methods)] for x, v in sorted(table.items())])
    _write_csv(
        out / "privacy_utility.csv",
        ["variant", "level", "sparsity", "test_acc", "headline_auc", "headline_tpr_at_1pct_fpr"],
        [[r.variant, r.level, _x(r), round(r.target["test_acc"], 4), round(r.headline(preference)[1]["auc"], 4),
          round(r.headline(preference)[1]["tpr_at_1pct_fpr"], 4)] for r in rows],
    )
    points = []
    for r, fpr, tpr in _headline_rocs(base, preference):
        keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), 200)).astype(int))
        points += [{"level": r.level, "fpr": max(float(fpr[i]), FLOOR), "tpr": max(float(tpr[i]), FLOOR)} for i in keep]
    (out / "roc.json").write_text(json.dumps(points))


def _headline_rocs(rows: list[Row], preference: Sequence[str]):
    for r in rows:
        name, _ = r.headline(preference)
        if name in REFERENCE_ATTACKS:  # LiRA / RMIA keep their scores beside their own results
            with np.load(layout.reference_paths(r.seed, r.defense, r.level)[1]) as f:
                fpr, tpr, _ = roc_curve(f["member"], f[name])
        else:
            with np.load(layout.result_paths(r.seed, r.defense, r.level)[1]) as f:
                fpr, tpr, _ = roc_curve(f["member"], f[f"{r.release}/{name}"])
        yield r, fpr, tpr


def figures(rows: list[Row], transfer: dict, out: Path, preference: Sequence[str]) -> None:
    """The PNG figures; ``transfer`` is the undefended transfer.json; ``preference`` names the
    headline attack (the first of it each row has)."""
    _transfer_heatmap(transfer, out / "transfer_heatmap.png")
    _privacy_utility(rows, out / "privacy_utility.png", preference)
    _attack_vs_sparsity(rows, out / "attack_vs_sparsity.png", preference)
    _accuracy_vs_sparsity(rows, out / "accuracy_vs_sparsity.png")
    _roc(rows, out / "roc.png", preference)
    _confidence_histograms(rows, out / "confidence_histograms.png")


def _errorbar(ax, group: list[Row], label: str, preference: Sequence[str]) -> None:
    auc = np.array([r.headline(preference)[1]["auc"] for r in group])
    sd = np.array([auc_spread(r.headline(preference)[1])[0] for r in group])
    ax.errorbar([_x(r) for r in group], auc, yerr=2 * sd, marker="o", capsize=3, label=label)


def _attack_vs_sparsity(rows: list[Row], path: Path, preference: Sequence[str]) -> None:
    methods = _methods(rows)
    first = _first(methods)
    base = _method_rows(rows, first)
    fig, axes = panels(4, panel=(5.2, 4.0))
    xs = [_x(r) for r in base]
    colors = plt.get_cmap("tab20").colors
    for ax in (*axes[:2], axes[3]):  # more lines than tab10's colours
        ax.set_prop_cycle(color=colors)
    for name in base[0].attacks:
        axes[0].plot(xs, [r.attacks[name]["auc"] for r in base], marker="o", label=name)
        axes[1].plot(xs, [r.attacks[name]["accuracy"] for r in base], marker="o", label=name)
    axes[0].set_title(f"Attack AUC, undefended, {first}")
    axes[1].set_title(f"Attack balanced accuracy, undefended, {first}")
    for m in methods:
        _errorbar(axes[2], _method_rows(rows, m), m, preference)
    axes[2].set_title("Headline-attack AUC per pruning method, undefended")
    for variant in dict.fromkeys(r.variant for r in rows):
        _errorbar(axes[3], _method_rows(rows, first, variant), variant, preference)
    axes[3].set_title(f"Headline-attack AUC per defense, {first}")
    for ax in axes:
        ax.axhline(0.5, color="grey", lw=0.8, ls="--")
        ax.set_xlabel("sparsity (0 = dense)")
        ax.grid(alpha=0.3)
    legend_below(axes[0], ncol=3)
    legend_below(axes[1], ncol=3)
    what = auc_spread(base[0].headline(preference)[1])[1]
    for ax in axes[2:]:  # no pruning method: the per-method panel is empty
        legend_below(ax, title=f"bars: 2 x {what}", title_fontsize=7)
    save(fig, path)


def _accuracy_vs_sparsity(rows: list[Row], path: Path) -> None:
    """Seed 000, Fig. 1: test accuracy against sparsity, per method (random controls beside the
    tickets), and train / test accuracy per defense."""
    methods = _methods(rows)
    fig, axes = panels(2, panel=(5.2, 4.0))
    for m in methods:
        group = _method_rows(rows, m)
        axes[0].plot([_x(r) for r in group], [r.target["test_acc"] for r in group], marker="o", label=m)
    axes[0].set_title("Target test accuracy per pruning method, undefended")
    for defense in dict.fromkeys(r.defense for r in rows):
        group = _method_rows(rows, _first(methods), defense)
        x = [_x(r) for r in group]
        line = axes[1].plot(x, [r.target["test_acc"] for r in group], marker="o", label=f"{defense} test")[0]
        axes[1].plot(x, [r.target["train_acc"] for r in group], marker="s", ls="--", color=line.get_color(), label=f"{defense} train")
    axes[1].set_title(f"Target train / test accuracy per defense, {_first(methods)}")
    for ax in axes:
        ax.set_xlabel("sparsity (0 = dense)")
        ax.set_ylabel("target accuracy")
        ax.grid(alpha=0.3)
        legend_below(ax)
    save(fig, path)


def _roc(rows: list[Row], path: Path, preference: Sequence[str]) -> None:
    fig, (ax,) = panels(1, panel=(5.5, 5.0))
    for r, fpr, tpr in _headline_rocs(_method_rows(rows, _first(_methods(rows))), preference):
        name, head = r.headline(preference)
        ax.plot(np.maximum(fpr, FLOOR), np.maximum(tpr, FLOOR), label=f"{r.level}: {name} (AUC {head['auc']:.3f})")
    ax.plot([FLOOR, 1], [FLOOR, 1], color="grey", lw=0.8, ls="--")
    ax.set(xscale="log", yscale="log", xlabel="false positive rate", ylabel="true positive rate")
    seed = f", training seed {rows[0].seed}" if rows[0].n_seeds > 1 else ""
    ax.set_title(f"ROC of the headline attack, undefended{seed} (log-log)", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    legend_below(ax, ncol=1)
    save(fig, path)


def _confidence_histograms(rows: list[Row], path: Path) -> None:
    """Seed 002, Fig. 1: the target's confidence in the true label, members vs non-members."""
    levels = [r.level for r in _method_rows(rows, _first(_methods(rows)))]
    seed = rows[0].seed
    fig, axes = panels(len(levels), panel=(3.4, 3.0), ncols=3, sharey=True)
    bins = np.linspace(0, 1, 21)
    for ax, level in zip(axes, levels):
        arrays = store.load_arrays(layout.posteriors_dir(seed, "none", level) / "target.npz")
        p_y = softmax(arrays["logits"].astype(np.float64))[np.arange(len(arrays["labels"])), arrays["labels"]]
        m = arrays["member"]
        ax.hist(p_y[m], bins=bins, alpha=0.6, label="members")
        ax.hist(p_y[~m], bins=bins, alpha=0.6, label="non-members")
        ax.set_title(f"{level}")
        ax.set_xlabel("confidence in true label")
    axes[0].set_ylabel("samples")
    figure_legend(fig, axes[0].get_legend_handles_labels()[0], ncol=2)
    fig.suptitle(f"Undefended target (training seed {seed}): member vs non-member confidence, dense vs pruned", fontsize=10)
    save(fig, path)


def _transfer_heatmap(transfer: dict, path: Path) -> None:
    """Seed 000, Fig. 4: attack accuracy with the attack fitted on one variant's shadows (rows)
    and applied to another variant's target (columns); the diagonal is the matching attack."""
    levels = transfer["levels"]
    side = 2.5 + 0.45 * len(levels)
    fig, axes = panels(len(transfer["matrix"]), panel=(side, side - 0.7))  # one column when two do not fit
    for ax, (attack, matrix) in zip(axes, transfer["matrix"].items()):
        grid = np.array([[matrix[s][t]["accuracy"] for t in levels] for s in levels])
        im = ax.imshow(grid, cmap="viridis", vmin=0.5, vmax=max(0.6, float(grid.max())))
        ax.set_xticks(range(len(levels)), levels, rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(len(levels)), levels, fontsize=7)
        if len(levels) <= 12:
            for i in range(len(levels)):
                for j in range(len(levels)):
                    ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=7, color="w")
        ax.set_xlabel("target (attacked)")
        ax.set_ylabel("source (attack fitted on its shadows)")
        ax.set_title(f"Transfer, {attack}: attack accuracy", fontsize=10)
        fig.colorbar(im, ax=ax, fraction=0.046)
    save(fig, path)


def _privacy_utility(rows: list[Row], path: Path, preference: Sequence[str]) -> None:
    """Every defense variant x pruning level: test accuracy against the headline attack's AUC and its
    TPR at 1% FPR (lower-right is better: accurate and private). Undefended points are black."""
    variants = list(dict.fromkeys(r.variant for r in rows))
    levels = list(dict.fromkeys(r.level for r in rows))
    markers = dict(zip(levels, "osD^v<>pP*Xhd" * 4))
    colors = dict(zip(variants, plt.get_cmap("tab20").colors * 2))
    colors["none"] = (0, 0, 0)
    fig, axes = panels(2, panel=(5.2, 4.4), sharey=True)
    for r in rows:
        _, head = r.headline(preference)
        for ax, x in zip(axes, (head["auc"], head["tpr_at_1pct_fpr"])):
            ax.scatter(x, r.target["test_acc"], color=colors[r.variant], marker=markers[r.level], s=45, alpha=0.85)
    axes[0].set_xlabel("headline-attack AUC (0.5 = chance)")
    axes[1].set_xlabel("headline-attack TPR at 1% FPR")
    axes[0].set_ylabel("target test accuracy")
    axes[0].axvline(0.5, color="grey", lw=0.8, ls="--")
    for ax in axes:
        ax.grid(alpha=0.3)
    handles = [plt.Line2D([], [], color=colors[v], marker="o", ls="", label=v) for v in variants]
    handles += [plt.Line2D([], [], color="grey", marker=markers[lv], ls="", label=lv) for lv in levels]
    figure_legend(fig, handles, ncol=5)
    fig.suptitle("Privacy-utility trade-off: every defense x pruning level")
    save(fig, path)
