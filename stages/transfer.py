"""Stage transfer: attacks fitted on one variant's shadows, applied to every variant's target.

For one training-time defense, every pair (source, target) of model variants (dense and each
<method>-<sparsity>): the Shokri MLP and the loss threshold are fitted on the source's shadows
and evaluated on the target, all of one training seed. Writes
results/seed-<k>/<defense>/transfer.json: the source x target
matrix (seed 000, Fig. 4) and, per pruned target, the AUC when the attacker's shadows are dense
or pruned by another method (seed 002's attacker without knowledge of the pruning method).
"""

import argparse

from ticketleak.core import layout, params, store
from ticketleak.attacks import Observed
from ticketleak.core.cli import add_seed_arg, run
from ticketleak.tensors import softmax
from ticketleak.transfer import blind_summary, transfer_matrix


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_seed_arg(parser)
    parser.add_argument("--defense", required=True)
    args = parser.parse_args()
    p = params.load()
    levels = layout.levels(p.prune.methods, p.prune.sparsities)
    shadows, targets = {}, {}
    for level in levels:
        src = layout.posteriors_dir(args.seed, args.defense, level)

        def observe(role: str) -> Observed:
            a = store.load_arrays(src / f"{role}.npz")
            return Observed(softmax(a["logits"]), a["labels"], a["member"])

        targets[level] = observe("target")
        shadows[level] = Observed.concat([observe(role.name) for role in layout.shadows(p.shadow.ids)])
    s = p.attack.shokri
    matrix = transfer_matrix(shadows, targets, s.hidden, s.max_iter, s.seed)
    blind = blind_summary(matrix["shokri_sorted"], {lv: layout.parse_level(lv)[0] for lv in levels})
    store.write_json(layout.transfer_path(args.seed, args.defense), {"seed": args.seed, "levels": levels, "matrix": matrix, "blind": blind})
    for target, row in blind.items():
        print(f"[transfer seed {args.seed} {args.defense}] {target}: " + ", ".join(f"{k} AUC {v:.3f}" for k, v in row.items()))


if __name__ == "__main__":
    run(main)
