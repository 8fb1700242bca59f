"""Stage aggregate: the summary table, DVC metrics, Markdown report and plots.

Writes metrics/summary.json (compact, for `dvc metrics diff` and `dvc exp show`),
reports/summary.md (every attack on every variant, the dense-vs-pruned verdicts on the headline
attack named in `attack.headline`, paired over the shared samples, the attacker
without knowledge of the pruning method, the most exposed samples), reports/exposure/ (every
attack's score for every evaluation sample, per defense and level) and plots/ (PNG figures,
including the transfer heatmap and the most exposed samples' images, and the tables behind the
`dvc plots` definitions in dvc.yaml).
"""

import argparse
from pathlib import Path

import numpy as np

from ticketleak import attack_plots, exposure, layout, params, plots, report, store
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
    split = dict(np.load(layout.PREPARED / "target.npz"))
    names = [str(c) for c in classes]
    tables = {}
    with store.staged_dir(layout.EXPOSURE) as tmp:
        for d in p.defense.train:
            for lv in levels:
                tables[d, lv] = exposure_table(split, d, lv, refs)
                (tmp / layout.exposure_path(d, lv).name).write_text(exposure.to_csv(tables[d, lv]))
    undefended = {lv: tables["none", lv] for lv in levels if ("none", lv) in tables}
    exposed_attack = next((r.headline(headline)[0] for r in rows if r.variant == "none" and r.level == layout.DENSE), None)
    with store.staged_dir(args.plots) as tmp:
        plots.data_tables(rows, tmp, headline)
        plots.figures(rows, transfer, tmp, headline)
        attack_plots.greybox_figure(greybox, tmp / "greybox.png")
        attack_plots.confusion_figure(greybox["none"], tmp / "greybox_confusion.png")
        curves = {lv: store.read_json(layout.result_paths("none", lv)[0]) for lv in levels}
        attack_plots.shadow_curve_figure(curves, tmp / "shadow_curve.png")
        if undefended and exposed_attack and split["members_x"].ndim == 4:  # images: show them
            exposure.exposed_images(undefended, split, exposed_attack, names, tmp / "most_exposed.png")
    store.write_json(args.metrics, report.summary_metrics(rows, headline, crossfit))
    args.report.parent.mkdir(parents=True, exist_ok=True)
    samia_table = "\n## SAMIA (seed 002)\n\n" + "\n".join(attack_plots.samia_rows(samia)) + "\n"
    per_class = {}
    for lv in levels:
        per_class[lv] = {a: curves[lv]["per_class"][a] for a in PER_CLASS_ATTACKS}
        if "none" in refs:
            per_class[lv]["lira_online"] = store.read_json(layout.reference_paths("none", lv)[0])["per_class"]["lira_online"]
    per_class_table = "\n".join(report.per_class_lines(per_class, [str(c) for c in classes])) + "\n"
    if undefended and exposed_attack:
        per_class_table += "\n".join(exposure.report_lines(undefended, exposed_attack, names)) + "\n"
    scope = report.scope_line(p.prune.scope, p.prune.output_layer)
    args.report.write_text(report.markdown(rows, transfer, headline, crossfit, verdicts, scope) + samia_table + per_class_table)
    print("\n".join(verdicts))


def exposure_table(split: dict, defense: str, level: str, refs: list[str]) -> dict:
    """The per-sample table of one (defense, level): the full-posterior attacks, plus LiRA and
    RMIA where reference models ran for this defense."""
    scored = np.load(layout.result_paths(defense, level)[1])
    scores = {k.split("/", 1)[1]: scored[k] for k in scored.files if k.startswith("none/")}
    if defense in refs:
        ref = np.load(layout.reference_paths(defense, level)[1])
        scores |= {k: ref[k] for k in ref.files if k not in ("member", "labels", "ref_in")}
    logits = np.load(layout.posteriors_file(defense, level, layout.Role("target")))["logits"]
    return exposure.table(split, logits, scores)


if __name__ == "__main__":
    run(main)
