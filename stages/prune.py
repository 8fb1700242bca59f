"""Stage prune_target / prune_shadow / prune_reference: prune one dense model with one method at one sparsity.

Methods are the modules of ticketleak/pruning/ (lottery tickets, IMP, random controls, prune and
fine-tune, structured filter pruning, network slimming, SNIP, GraSP). Writes
models/seed-<k>/<defense>/<method>-<sparsity>/<role>/: model.pt (pruned weights stored as zeros),
mask.pt, info.json (asked and measured sparsity, global and per layer), live/ (reference models:
models/reference-models/seed-<k>/<defense>/<method>-<sparsity>/ref-<id>/). The dense model's
torch seed (from its training seed and role) seeds the retraining.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from ticketleak import pruning, runs
from ticketleak.core import layout, params, store
from ticketleak.core.cli import add_role_args, add_seed_arg, role_of, run
from ticketleak.defenses import Data, fit_defended, needs_teacher
from ticketleak.core.params import ParamsError, Variant
from ticketleak.core.registry import PRUNING_METHODS
from ticketleak.training import Logger, Recipe, seed_everything, select_device

IMP_CACHE = Path(".cache/imp")  # finished IMP rounds, reused when higher sparsities are asked for


def defended_fit(
    data: Data, recipe: Recipe, variant: Variant, seed: int, device: torch.device, logger: Logger | None, label: str
) -> pruning.Fit:
    """The job's ``fit``: retrain a masked model as the dense one was trained (``recipe`` under
    ``variant``), for ``epochs`` (None: the recipe's) with fine-tuning's ``patience``, seeded
    afresh with ``seed``."""

    def fit(model: nn.Module, epochs: int | None, patience: int | None) -> dict:
        r = replace(recipe, epochs=epochs or recipe.epochs)
        last = fit_defended(model, data, r, variant, seed_everything(seed), device, logger=logger, label=label, patience=patience,
                            phase="retrain")
        return {**last, "train_epochs": r.epochs}

    return fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_seed_arg(parser)
    parser.add_argument("--defense", required=True)
    parser.add_argument("--method", required=True)
    parser.add_argument("--sparsity", type=float, required=True)
    add_role_args(parser)
    args = parser.parse_args()
    if not 0 <= args.sparsity < 1:
        raise ParamsError(f"prune.sparsities: sparsity {args.sparsity} is outside [0, 1)")
    if args.method not in PRUNING_METHODS.names():
        raise ParamsError(f"prune.methods: unknown method '{args.method}' (choose from {', '.join(PRUNING_METHODS.names())})")
    p = params.load()
    role = role_of(args)
    level = layout.level_name(args.method, args.sparsity)
    variant = p.defense.variants[args.defense]
    _, members, nonmembers, val = runs.load_stage_data(role, p)
    dense_dir = layout.model_dir(args.seed, args.defense, layout.DENSE, role)
    dense, info = runs.load_run(dense_dir)
    recipe = p.train.recipe()
    out = layout.model_dir(args.seed, args.defense, level, role)
    with store.staged_dir(out) as tmp:
        live = runs.live_logger(tmp)
        label = f"{role} {args.defense} {level}"
        teacher = runs.load_teacher(dense_dir) if needs_teacher(variant) else None
        data = Data(members, nonmembers, val, teacher)
        fit = defended_fit(data, recipe, variant, info["seed"], select_device(p.train.device), live, label)
        job = pruning.Job(
            dense=dense,
            init_state=runs.load_run(dense_dir, "init")[0].state_dict(),
            rewind_state=runs.load_run(dense_dir, "rewind")[0].state_dict(),
            build=lambda: runs.build_from_info(info),
            train=members, fit=fit, recipe_epochs=recipe.epochs, tag=f"{recipe!r} {variant!r}",
            settings=p.prune.entry(args.method),
            scope=p.prune.scope, output_layer=p.prune.output_layer, seed=info["seed"], label=label, cache=IMP_CACHE,
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
