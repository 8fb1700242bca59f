"""Stage aggregate: the summary table, DVC metrics, Markdown report and plots.

Writes metrics/summary.json (compact, for `dvc metrics diff` and `dvc exp show`),
reports/summary.md (every attack on every variant, the dense-vs-pruned verdicts, the attacker
without knowledge of the pruning method) and plots/ (PNG figures, including the transfer
heatmap, and the tables behind the `dvc plots` definitions in dvc.yaml).
"""

import argparse
from pathlib import Path

from ticketleak import params, plots, report, store
from ticketleak.cli import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metrics", type=Path, default=Path("metrics/summary.json"))
    parser.add_argument("--report", type=Path, default=Path("reports/summary.md"))
    parser.add_argument("--plots", type=Path, default=Path("plots"))
    args = parser.parse_args()
    p = params.load()
    rows = report.collect(p.defense.train, p.defense.release, p.prune.methods, p.prune.sparsities)
    transfer = store.read_json(store.transfer_path("none"))
    with store.staged_dir(args.plots) as tmp:
        plots.data_tables(rows, tmp)
        plots.figures(rows, transfer, tmp)
    store.write_json(args.metrics, report.summary_metrics(rows))
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(report.markdown(rows, transfer))
    print("\n".join(report.verdicts(rows)))


if __name__ == "__main__":
    run(main)
