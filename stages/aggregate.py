"""Stage aggregate: the summary table, DVC metrics, Markdown report and plots.

Writes metrics/summary.json (compact, for `dvc metrics diff` and `dvc exp show`),
reports/summary.md (every attack on every variant, the dense-vs-pruned verdicts on the headline
attack named in `attack.headline`, paired over the shared samples, the attacker
without knowledge of the pruning method) and plots/ (PNG figures, including the transfer
heatmap, and the tables behind the `dvc plots` definitions in dvc.yaml).
"""

import argparse
from pathlib import Path

from ticketleak import attack_plots, layout, params, plots, report, store
from ticketleak.cli import run

PER_CLASS_ATTACKS = ("shokri_sorted", "loss_global")  # plus LiRA online where it runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metrics", type=Path, default=Path("metrics/summary.json"))
    parser.add_argument("--report", type=Path, default=Path("reports/summary.md"))
    parser.add_argument("--plots", type=Path, default=Path("plots"))
    args = parser.parse_args()
    p = params.load()
    refs = p.attack.reference.defenses
    rows = report.collect(p.defense.train, p.defense.release, p.prune.methods, p.prune.sparsities, refs)
    levels = layout.levels(p.prune.methods, p.prune.sparsities)
    headline = p.attack.headline
    classes = store.read_json(layout.PREPARED / "meta.json")["classes"]
    crossfit = report.cross_fitted(rows)
    verdicts = report.verdicts(rows, headline, p.attack.margin, len(classes))
    transfer = store.read_json(layout.transfer_path("none"))
    greybox = {d: store.read_json(layout.greybox_path(d)) for d in p.defense.train}
    samia = {f"{d} {lv}": store.read_json(layout.samia_path(d, lv)) for d in p.attack.samia.defenses for lv in levels}
    with store.staged_dir(args.plots) as tmp:
        plots.data_tables(rows, tmp, headline)
        plots.figures(rows, transfer, tmp, headline)
        attack_plots.greybox_figure(greybox, tmp / "greybox.png")
        attack_plots.confusion_figure(greybox["none"], tmp / "greybox_confusion.png")
        curves = {lv: store.read_json(layout.result_paths("none", lv)[0]) for lv in levels}
        attack_plots.shadow_curve_figure(curves, tmp / "shadow_curve.png")
    store.write_json(args.metrics, report.summary_metrics(rows, headline, crossfit))
    args.report.parent.mkdir(parents=True, exist_ok=True)
    samia_table = "\n## SAMIA (seed 002)\n\n" + "\n".join(attack_plots.samia_rows(samia)) + "\n"
    per_class = {}
    for lv in levels:
        per_class[lv] = {a: curves[lv]["per_class"][a] for a in PER_CLASS_ATTACKS}
        if "none" in refs:
            per_class[lv]["lira_online"] = store.read_json(layout.reference_paths("none", lv)[0])["per_class"]["lira_online"]
    per_class_table = "\n".join(report.per_class_lines(per_class, [str(c) for c in classes])) + "\n"
    scope = report.scope_line(p.prune.scope, p.prune.output_layer)
    args.report.write_text(report.markdown(rows, transfer, headline, crossfit, verdicts, scope) + samia_table + per_class_table)
    print("\n".join(verdicts))


if __name__ == "__main__":
    run(main)
