"""Stage greybox: the grey-box attack with a leaked fraction of the target's data, every level.

For one training-time defense and every model variant (dense and each <method>-<sparsity>):
seed 004's sweep over the leaked fractions attack.greybox.fractions, attack.greybox.repeats draws
each, on the target's full released posterior (ticketleak.greybox.greybox_sweep: KDE attacks on
three loss signals, a logistic-regression classifier, and the Wasserstein distance of the losses).
The attacker calibrates on the target itself, so shadows are not read. Writes
results/seed-<k>/<defense>/greybox.json: {"seed", "defense", "levels", "sweep": {level: sweep}}
(kept in Git).
"""

import argparse

from ticketleak.core import layout, params, store
from ticketleak.attacks import Observed
from ticketleak.core.cli import add_seed_arg, run
from ticketleak.greybox import greybox_sweep
from ticketleak.tensors import softmax

MAIN_ATTACK = "kde_cross_entropy"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_seed_arg(parser)
    parser.add_argument("--defense", required=True)
    args = parser.parse_args()
    p = params.load()
    g = p.attack.greybox
    levels = layout.levels(p.prune.methods, p.prune.sparsities)
    sweeps = {}
    for level in levels:
        a = store.load_arrays(layout.posteriors_dir(args.seed, args.defense, level) / "target.npz")
        target = Observed(softmax(a["logits"]), a["labels"], a["member"])
        sweep = greybox_sweep(target, list(g.fractions), g.repeats, g.seed)
        sweeps[level] = sweep
        top = sweep["results"][f"{max(g.fractions):g}"]
        main, clf = top["attacks"][MAIN_ATTACK], top["attacks"]["classifier_logreg"]
        print(
            f"[greybox seed {args.seed} {args.defense} {level}] f={max(g.fractions):g}: {MAIN_ATTACK} acc "
            f"{main['accuracy']['mean']:.3f}+-{main['accuracy']['std']:.3f}, classifier acc "
            f"{clf['accuracy']['mean']:.3f}, W1(ce) {top['wasserstein_ce']['mean']:.3f}",
            flush=True,
        )
    store.write_json(layout.greybox_path(args.seed, args.defense), {"seed": args.seed, "defense": args.defense, "levels": levels, "sweep": sweeps})


if __name__ == "__main__":
    run(main)
