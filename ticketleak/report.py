"""Gather the attack results into one table, the DVC summary metrics and a Markdown report."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ticketleak import layout, store

HEADLINE = ("auc", "accuracy", "tpr_at_1pct_fpr")


@dataclass(frozen=True)
class Row:
    """One model variant: a training-time defense, a release, a pruning level, and its results."""

    defense: str
    release: str
    level: str  # dense, or <method>-<sparsity>
    sparsity: float  # measured on the target's weights
    target: dict
    attacks: dict[str, dict]
    nonadaptive: dict[str, dict] | None = None  # undefended shadows attacking a defended target

    @property
    def method(self) -> str:
        return layout.parse_level(self.level)[0]

    @property
    def asked(self) -> float:
        """The asked sparsity (0 for the dense model)."""
        return layout.parse_level(self.level)[1]

    @property
    def variant(self) -> str:
        return self.defense if self.release == "none" else f"{self.defense}+{self.release}"

    @property
    def best(self) -> tuple[str, dict]:
        """The attack with the highest AUC."""
        return max(self.attacks.items(), key=lambda kv: kv[1]["auc"])


def collect(
    defenses: list[str], releases: list[str], methods: list[str], sparsities: list[float], reference_defenses: list[str] = ()
) -> list[Row]:
    """Read results/<defense>/<level>.json for every configured variant, dense first; for the
    defenses in ``reference_defenses``, LiRA and RMIA (<level>-reference.json) join the full-posterior row."""
    rows = []
    levels = layout.levels(methods, sparsities)
    for defense in defenses:
        for level in levels:
            result = store.read_json(layout.result_paths(defense, level)[0])
            extra = store.read_json(layout.reference_paths(defense, level)[0])["attacks"]["none"] if defense in reference_defenses else {}
            for rel in ["none", *releases]:
                nonadaptive = result.get("nonadaptive") if rel == "none" else None
                attacks = {**result["attacks"][rel], **extra} if rel == "none" else result["attacks"][rel]
                rows.append(Row(defense, rel, level, result["target"]["sparsity"], result["target"], attacks, nonadaptive))
    return rows


def summary_metrics(rows: list[Row]) -> dict:
    """Compact numbers for `dvc metrics show` / `dvc exp show`: per variant and level."""
    out: dict = {}
    for r in rows:
        name, best = r.best
        entry = {
            "sparsity": round(r.sparsity, 4),
            "train_acc": round(r.target["train_acc"], 4),
            "test_acc": round(r.target["test_acc"], 4),
            "best_auc": round(best["auc"], 4),
            "best_accuracy": round(max(a["accuracy"] for a in r.attacks.values()), 4),
            "best_tpr_at_1pct_fpr": round(max(a["tpr_at_1pct_fpr"] for a in r.attacks.values()), 4),
            "shokri_auc": round(r.attacks["shokri_sorted"]["auc"], 4),
            "loss_auc": round(r.attacks["loss_global"]["auc"], 4),
        }
        if "lira_online" in r.attacks:
            entry["lira_auc"] = round(r.attacks["lira_online"]["auc"], 4)
            entry["lira_tpr_at_1pct_fpr"] = round(r.attacks["lira_online"]["tpr_at_1pct_fpr"], 4)
        out.setdefault(r.variant, {})[r.level] = entry
    return out


def _fmt(x: float) -> str:
    return f"{x:.3f}"


def markdown(rows: list[Row], transfer: dict | None = None) -> str:
    """The summary table (variant x attack) and the dense-vs-ticket comparison, as Markdown."""
    attacks = list(rows[0].attacks)
    lines = [
        "# TicketLeak summary",
        "",
        "Attack AUC (balanced accuracy in brackets) on the target's members against as many",
        "non-members. Attacks are fitted on shadow models trained, pruned and defended like the",
        "target. `level` is `dense` or `<method>-<asked sparsity>`; `sparsity` is measured from the target's weights.",
        "",
        "## Dense network vs lottery tickets",
        "",
        "`best attack` is the highest AUC among all attacks, picked on the evaluation set itself:",
        "an optimistic summary; every attack's own figure is in the second table.",
        "",
        "| variant | level | sparsity | train acc | test acc | best attack | AUC (bootstrap sd) | acc | TPR@1%FPR |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        name, b = r.best
        sd = f" ({b['auc_std']:.3f})" if "auc_std" in b else ""
        lines.append(
            f"| {r.variant} | {r.level} | {r.sparsity:.3f} | {_fmt(r.target['train_acc'])} | {_fmt(r.target['test_acc'])} "
            f"| {name} | {_fmt(b['auc'])}{sd} | {_fmt(b['accuracy'])} | {_fmt(b['tpr_at_1pct_fpr'])} |"
        )
    lines += ["", "## Every attack", "", "| variant | level | " + " | ".join(attacks) + " |", "|---|---|" + "---|" * len(attacks)]
    for r in rows:
        cells = [f"{r.attacks[a]['auc']:.3f} ({r.attacks[a]['accuracy']:.3f})" if a in r.attacks else "-" for a in attacks]
        lines.append(f"| {r.variant} | {r.level} | " + " | ".join(cells) + " |")
    lines += low_fpr_lines(rows)
    lines += ["", "## Verdict per variant (best-attack AUC, pruned minus dense)", ""]
    lines += verdicts(rows) or ["No pruned level in this run (`prune.methods: []`): dense models only."]
    lines += ["", *tradeoff_lines(rows)]
    if transfer and transfer["blind"]:
        lines += [
            "",
            "## Attacker without knowledge of the pruning method (undefended, Shokri MLP AUC)",
            "",
            "Shadows pruned like the target (`matching`), left dense, or pruned by each other method",
            "at the same sparsity (mean). The full source x target matrix is `plots/transfer_heatmap.png`.",
            "",
            "| target | matching | dense shadows | other methods (mean) |",
            "|---|---|---|---|",
        ]
        for target, row in transfer["blind"].items():
            other = f"{row['other_methods_mean']:.3f}" if "other_methods_mean" in row else "-"
            lines.append(f"| {target} | {row['matching']:.3f} | {row['dense_shadows']:.3f} | {other} |")
    return "\n".join(lines) + "\n"


def low_fpr_lines(rows: list[Row]) -> list[str]:
    """Every attack judged where it matters for privacy: TPR at 1% and 0.1% FPR (full posterior)."""
    lines = [
        "",
        "## Every attack at low false-positive rates (full posterior)",
        "",
        "AUC / TPR@1%FPR / TPR@0.1%FPR. LiRA and RMIA use reference models trained and pruned like the",
        "target (`attack.reference`); with fewer than 1,000 non-members TPR@0.1%FPR is the TPR at zero false positives.",
        "",
        "| variant | level | attack | AUC | TPR@1%FPR | TPR@0.1%FPR |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r.release != "none":
            continue
        for name, a in r.attacks.items():
            lines.append(f"| {r.variant} | {r.level} | {name} | {a['auc']:.3f} | {a['tpr_at_1pct_fpr']:.3f} | {a['tpr_at_0.1pct_fpr']:.3f} |")
    return lines


def per_class_lines(per_class: dict[str, dict[str, dict]], classes: list[str]) -> list[str]:
    """Per-class AUC of each attack (``per_class``: level -> attack -> class -> metrics) as a table:
    which classes leak most, dense vs pruned."""
    lines = ["", "## Per-class breakdown (undefended, full posterior, AUC)", ""]
    lines += ["| level | attack | " + " | ".join(classes) + " |", "|---|---|" + "---|" * len(classes)]
    for level, attacks in per_class.items():
        for name, by_class in attacks.items():
            cells = [f"{by_class[str(c)]['auc']:.3f}" if str(c) in by_class else "-" for c in range(len(classes))]
            lines.append(f"| {level} | {name} | " + " | ".join(cells) + " |")
    return lines


def verdicts(rows: list[Row]) -> list[str]:
    """Is each pruned model more, less or equally vulnerable than its dense parent? Judged against
    2 bootstrap sd of the difference (no bootstrap: any difference counts)."""
    out = []
    for variant in dict.fromkeys(r.variant for r in rows):
        group = [r for r in rows if r.variant == variant]
        dense = next(r for r in group if r.level == layout.DENSE)
        _, d = dense.best
        for r in group:
            if r is dense:
                continue
            _, t = r.best
            diff = t["auc"] - d["auc"]
            spread = 2 * float(np.hypot(d.get("auc_std", 0.0), t.get("auc_std", 0.0)))
            word = "equally vulnerable" if abs(diff) <= spread else ("more vulnerable" if diff > 0 else "less vulnerable")
            out.append(f"- {variant}, {r.level}: AUC {t['auc']:.3f} vs dense {d['auc']:.3f} ({diff:+.3f}, 2 sd = {spread:.3f}): {word}")
    return out


def tradeoff_lines(rows: list[Row]) -> list[str]:
    """The privacy-utility table: per variant and level, utility beside the best attack."""
    lines = [
        "## Privacy-utility trade-off",
        "",
        "Adaptive attacker (shadows defended like the target) unless noted; `non-adaptive` fits the",
        "attacks on undefended shadows. epsilon: DP-SGD's privacy budget at its delta.",
        "",
        "| variant | level | test acc | train-test gap | best AUC | best TPR@1%FPR | non-adaptive best AUC | epsilon |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        t = r.target
        na = f"{max(a['auc'] for a in r.nonadaptive.values()):.3f}" if r.nonadaptive else "-"
        eps = f"{t['epsilon']:.2f}" if t.get("epsilon") is not None else "-"
        lines.append(
            f"| {r.variant} | {r.level} | {t['test_acc']:.3f} | {t['train_acc'] - t['test_acc']:+.3f} | {r.best[1]['auc']:.3f} "
            f"| {max(a['tpr_at_1pct_fpr'] for a in r.attacks.values()):.3f} | {na} | {eps} |"
        )
    return lines
