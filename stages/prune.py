"""Stage prune_target / prune_shadow: the one-shot lottery ticket of one dense model.

Seed 000, Algorithm 1: take the trained weights, remove the smallest-magnitude fraction,
rewind the survivors to the initial weights, retrain with the mask held. Writes
models/<defense>/<sparsity>/<role>/: model.pt (pruned weights stored as zeros), mask.pt,
info.json with the asked and the measured sparsity, live/.
"""

import argparse

from ticketleak import params, pruning, runs, store
from ticketleak.cli import run
from ticketleak.defenses import training_defense
from ticketleak.params import ParamsError
from ticketleak.training import fit, seed_everything, select_device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--defense", required=True)
    parser.add_argument("--sparsity", type=float, required=True)
    parser.add_argument("--shadow", type=int, default=None, help="shadow id; omit for the target")
    args = parser.parse_args()
    if not 0 <= args.sparsity < 1:
        raise ParamsError(f"prune.sparsities: sparsity {args.sparsity} is outside [0, 1)")
    p = params.load()
    role = store.role_name(args.shadow)
    level = store.level_name(args.sparsity)
    defense = training_defense(args.defense, getattr(p.defense, args.defense))
    device = select_device(p.train.device)
    _, members, nonmembers = runs.load_role_data(role)
    dense_dir = store.model_dir(args.defense, store.DENSE, role)
    model, info = runs.load_run(dense_dir)
    init_state = runs.load_run(dense_dir, "init")[0].state_dict()
    masks = pruning.one_shot_ticket(model, init_state, args.sparsity, p.prune.scope)
    gen = seed_everything(info["seed"])
    out = store.model_dir(args.defense, level, role)
    with store.staged_dir(out) as tmp:
        live = runs.live_logger(tmp)
        recipe = runs.recipe(p.train, defense, p.prune.retrain_epochs)
        last = fit(model, members, nonmembers, recipe, gen, device, live, label=f"{role} {args.defense} {level}")
        live.end()
        pruning.make_permanent(model)
        measured = pruning.measure_sparsity(model)
        info = {
            **info, **last, "level": level, "method": p.prune.method, "scope": p.prune.scope,
            "sparsity_asked": args.sparsity, "sparsity": measured["global"], "sparsity_detail": measured,
            "retrain_epochs": recipe.epochs,
        }
        runs.save_run(tmp, model, info, mask={k: v.cpu() for k, v in masks.items()})
    print(f"[{role} {args.defense} {level}] asked sparsity {args.sparsity}, measured {measured['global']:.4f}")


if __name__ == "__main__":
    run(main)
