"""Stage prune_target / prune_shadow / prune_reference: prune one dense model with one method at one sparsity.

Methods are in ticketleak/pruning.py (lottery tickets, IMP, random controls, prune and
fine-tune, structured filter pruning, network slimming, SNIP, GraSP). Writes
models/<defense>/<method>-<sparsity>/<role>/: model.pt (pruned weights stored as zeros),
mask.pt, info.json (asked and measured sparsity, global and per layer), live/ (reference models:
models/reference/<defense>/<method>-<sparsity>/ref-<id>/).
"""

import argparse
from pathlib import Path

from ticketleak import layout, params, pruning, runs, store
from ticketleak.cli import add_role_args, role_of, run
from ticketleak.defenses import training_defense
from ticketleak.params import ParamsError
from ticketleak.training import select_device

IMP_CACHE = Path(".cache/imp")  # finished IMP rounds, reused when higher sparsities are asked for


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--defense", required=True)
    parser.add_argument("--method", required=True)
    parser.add_argument("--sparsity", type=float, required=True)
    add_role_args(parser)
    args = parser.parse_args()
    if not 0 <= args.sparsity < 1:
        raise ParamsError(f"prune.sparsities: sparsity {args.sparsity} is outside [0, 1)")
    if args.method not in pruning.METHODS:
        raise ParamsError(f"prune.methods: unknown method '{args.method}' (choose from {', '.join(pruning.METHODS)})")
    p = params.load()
    role = role_of(args)
    level = layout.level_name(args.method, args.sparsity)
    variant = p.defense.variants[args.defense]
    defense = training_defense(variant.kind, variant)
    _, members, nonmembers, val = runs.load_stage_data(role, p)
    dense_dir = layout.model_dir(args.defense, layout.DENSE, role)
    dense, info = runs.load_run(dense_dir)
    out = layout.model_dir(args.defense, level, role)
    with store.staged_dir(out) as tmp:
        live = runs.live_logger(tmp)
        job = pruning.Job(
            dense=dense,
            init_state=runs.load_run(dense_dir, "init")[0].state_dict(),
            rewind_state=runs.load_run(dense_dir, "rewind")[0].state_dict(),
            build=lambda: runs.build_from_info(info),
            train=members, test=nonmembers, val=val,
            recipe=runs.recipe(p.train, defense),
            settings=getattr(p.prune, args.method),
            scope=p.prune.scope, seed=info["seed"], device=select_device(p.train.device),
            logger=live, label=f"{role} {args.defense} {level}", cache=IMP_CACHE,
            defense=defense, teacher_logits=runs.load_teacher(dense_dir) if defense.needs_teacher else None,
        )
        model, record = pruning.run(args.method, job, args.sparsity)
        live.end()
        masks = record.pop("masks")
        clash = {"arch", "channels", "num_classes", "image_size", "dropout"} & set(record)
        assert not clash, f"a pruning record would overwrite the architecture keys {clash}"
        runs.save_run(tmp, model, {**info, **record, "level": level}, mask={k: v.cpu() for k, v in masks.items()})
    print(f"[{role} {args.defense} {level}] asked sparsity {args.sparsity}, measured {record['sparsity']:.4f}")


if __name__ == "__main__":
    run(main)
