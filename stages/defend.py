"""Stage defend_dense / defend: what the target and every shadow of one defense and level release
under each release-time variant of defense.release (defense.release_variants), such as top-k or rounding.

Reads posteriors/seed-<k>/<defense>/<level>/<role>.npz and writes
released/seed-<k>/<defense>/<level>/<release>/<role>.npz
for every release and for the target and each shadow: probs (the released posteriors, the dtype of
the softmax of the logits), labels and member. The attack stages fit and evaluate the attacks on
them. One stage per level, not per release: with defense.release empty (as in the studies) the
level's folder is still made (empty), so the attack stage that depends on it can run.
"""

from ticketleak.core import layout, params, store
from ticketleak.core.cli import defense_level_args, run
from ticketleak.defenses import release


def main() -> None:
    args = defense_level_args(__doc__)
    p = params.load()
    src = layout.posteriors_dir(args.seed, args.defense, args.level)
    roles = [layout.TARGET, *layout.shadows(p.shadow.ids)]
    level_dir = layout.released_level_dir(args.seed, args.defense, args.level)
    with store.staged_dir(level_dir) as tmp:
        for name in p.defense.release:
            variant = p.defense.release_variants[name]
            (tmp / name).mkdir()
            for role in roles:
                arrays = store.load_arrays(src / f"{role}.npz")
                probs = release(arrays["logits"], variant)
                store.save_arrays(tmp / name / f"{role}.npz", {"probs": probs, "labels": arrays["labels"], "member": arrays["member"]})
            print(f"[defend seed {args.seed} {args.defense} {args.level} release={name}] {len(roles)} models released")


if __name__ == "__main__":
    run(main)
