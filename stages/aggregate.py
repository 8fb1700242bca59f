"""Stage aggregate: the summary table, DVC metrics, Markdown report and plots.

Writes metrics/summary.json (compact, for `dvc metrics diff` and `dvc exp show`),
reports/summary.md (every attack on every variant as the mean over the training seeds, the
dense-vs-pruned verdicts on the headline attack named in `attack.headline`, paired over the
shared samples within each seed and drawn over the seeds, the attacker without knowledge of the
pruning method, the most exposed samples), reports/exposure/seed-<k>/ (every attack's score for
every evaluation sample, per defense and level) and plots/ (PNG figures,
including the transfer heatmap and the most exposed samples' images, and the tables behind the
`dvc plots` definitions in dvc.yaml).
"""

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ticketleak import attack_plots, exposure, plots, report
from ticketleak.core import layout, params, store
from ticketleak.core.cli import run

PER_CLASS_ATTACKS = ("shokri_sorted", "loss_global")  # plus LiRA online where it runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metrics", type=Path, default=Path("metrics/summary.json"))
    parser.add_argument("--report", type=Path, default=Path("reports/summary.md"))
    parser.add_argument("--plots", type=Path, default=Path("plots"))
    args = parser.parse_args()
    p = params.load()
    seeds, first = p.seeds, p.seeds[0]
    refs = p.attack.reference.defenses
    rows = report.collect(seeds, p.defense.train, p.defense.release, p.prune.methods, p.prune.sparsities, refs)
    means = report.seed_means(rows)
    levels = layout.levels(p.prune.methods, p.prune.sparsities)
    headline = p.attack.headline
    classes = store.read_json(layout.PREPARED / "meta.json")["classes"]
    crossfit = report.cross_fitted(rows)
    verdicts = report.verdicts(rows, headline, p.attack.margin, len(classes))
    transfer = over_seeds(lambda k: layout.transfer_path(k, "none"), seeds)
    greybox = {d: over_seeds(lambda k, d=d: layout.greybox_path(k, d), seeds) for d in p.defense.train}
    samia = {f"{d} {lv}": over_seeds(lambda k, d=d, lv=lv: layout.samia_path(k, d, lv), seeds)
             for d in p.attack.samia.defenses for lv in levels}
    split = dict(np.load(layout.PREPARED / "target.npz"))
    names = [str(c) for c in classes]
    tables = {}
    with store.staged_dir(layout.EXPOSURE) as tmp:
        for k in seeds:
            (tmp / layout.seed_dir(k)).mkdir()
            for d in p.defense.train:
                for lv in levels:
                    tables[k, d, lv] = exposure_table(split, k, d, lv, refs)
                    (tmp / layout.exposure_path(k, d, lv).relative_to(layout.EXPOSURE)).write_text(exposure.to_csv(tables[k, d, lv]))
    undefended = {lv: tables[first, "none", lv] for lv in levels if (first, "none", lv) in tables}
    exposed_attack = next((r.headline(headline)[0] for r in means if r.variant == "none" and r.level == layout.DENSE), None)
    curves = {lv: over_seeds(lambda k, lv=lv: layout.result_paths(k, "none", lv)[0], seeds) for lv in levels}
    with store.staged_dir(args.plots) as tmp:
        plots.data_tables(means, tmp, headline)
        plots.figures(means, transfer, tmp, headline)
        attack_plots.greybox_figure(greybox, tmp / "greybox.png")
        attack_plots.confusion_figure(greybox["none"], tmp / "greybox_confusion.png")
        attack_plots.shadow_curve_figure(curves, tmp / "shadow_curve.png")
        if undefended and exposed_attack and split["members_x"].shape[-1] > 1:  # images (not tabular records): show them
            exposure.exposed_images(undefended, split, exposed_attack, names, tmp / "most_exposed.png")
    store.write_json(args.metrics, report.summary_metrics(rows, headline, crossfit))
    args.report.parent.mkdir(parents=True, exist_ok=True)
    samia_table = "\n## SAMIA (seed 002)\n\n" + "\n".join(attack_plots.samia_rows(samia)) + "\n"
    per_class = {}
    for lv in levels:
        per_class[lv] = {a: curves[lv]["per_class"][a] for a in PER_CLASS_ATTACKS}
        if "none" in refs:
            per_class[lv]["lira_online"] = over_seeds(
                lambda k, lv=lv: layout.reference_paths(k, "none", lv)[0], seeds)["per_class"]["lira_online"]
    per_class_table = "\n".join(report.per_class_lines(per_class, [str(c) for c in classes])) + "\n"
    if undefended and exposed_attack:
        per_class_table += "\n".join(exposure.report_lines(undefended, exposed_attack, names, first if len(seeds) > 1 else None,
                                                              images=split["members_x"].shape[-1] > 1)) + "\n"
    scope = report.scope_line(p.prune.scope, p.prune.output_layer)
    args.report.write_text(report.markdown(rows, transfer, headline, crossfit, verdicts, scope) + samia_table + per_class_table)
    print("\n".join(verdicts))


def over_seeds(path: Callable[[int], Path], seeds: list[int]) -> dict:
    """The JSON record at ``path(k)`` for every training seed ``k``, averaged (:func:`report.mean_over_seeds`)."""
    return report.mean_over_seeds([store.read_json(path(k)) for k in seeds])


def exposure_table(split: dict, seed: int, defense: str, level: str, refs: list[str]) -> dict:
    """The per-sample table of one (seed, defense, level): the full-posterior attacks, plus LiRA and
    RMIA where reference models ran for this defense."""
    scored = np.load(layout.result_paths(seed, defense, level)[1])
    scores = {k.split("/", 1)[1]: scored[k] for k in scored.files if k.startswith("none/")}
    if defense in refs:
        ref = np.load(layout.reference_paths(seed, defense, level)[1])
        scores |= {k: ref[k] for k in ref.files if k not in ("member", "labels", "ref_in")}
    logits = np.load(layout.posteriors_file(seed, defense, level, layout.Role("target")))["logits"]
    return exposure.table(split, logits, scores)


if __name__ == "__main__":
    run(main)
