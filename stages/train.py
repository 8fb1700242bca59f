"""Stage train_target / train_shadow / train_reference: train one dense model under one defense variant.

Writes models/seed-<k>/<defense>/dense/<role>/ (reference models:
models/reference-models/seed-<k>/<defense>/dense/ref-<id>/):
init.pt (the initial weights), rewind.pt (the weights after epoch prune.rewind_epoch, which lottery
tickets rewind to; a copy of init.pt for epoch 0), model.pt, info.json (accuracies; DP-SGD's
epsilon), live/ (per-epoch loss and accuracy, drawn by `dvc plots show`), for distillation
teacher.pt (the undefended teacher's logits on the training set, which pruned students reuse) and,
for a reference model, in.npy (which of the target's candidates it trained on).
"""

import argparse

import numpy as np
import torch

from ticketleak import runs
from ticketleak.core import layout, params, store
from ticketleak.core.cli import add_role_args, add_seed_arg, role_of, run
from ticketleak.defenses import Data, dropout_rate, fit_defended, needs_teacher
from ticketleak.models import build_model
from ticketleak.training import fit, predict_logits, seed_everything, select_device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_seed_arg(parser)
    parser.add_argument("--defense", required=True, help="a training-time variant from defense.variants")
    add_role_args(parser)
    args = parser.parse_args()
    p = params.load()
    rewind_epoch = p.prune.rewind_epoch
    if rewind_epoch > p.train.epochs:
        raise params.ParamsError(f"prune.rewind_epoch: {rewind_epoch} is past train.epochs ({p.train.epochs})")
    role = role_of(args)
    variant = p.defense.variants[args.defense]
    device = select_device(p.train.device)
    meta, members, nonmembers, val = runs.load_stage_data(role, p)
    seed = role.seed(args.seed)
    dropout = dropout_rate(variant, p.model.dropout)
    recipe = p.train.recipe()

    def fresh_model(rate: float) -> torch.nn.Module:
        return build_model(p.model.arch, meta["channels"], meta["num_classes"], meta["image_size"], rate)

    teacher_logits = None
    if needs_teacher(variant):  # the undefended model, trained exactly as the `none` variant trains it
        gen = seed_everything(seed)
        teacher = fresh_model(p.model.dropout)
        fit(teacher, members, nonmembers, recipe, gen, device, label=f"{role} teacher")
        teacher_logits = predict_logits(teacher, members[0])

    gen = seed_everything(seed)
    model = fresh_model(dropout)
    init_state = {k: v.clone() for k, v in model.state_dict().items()}
    rewind: dict = {"state": init_state}

    def snapshot(epoch: int, trained: torch.nn.Module) -> None:
        if epoch == rewind_epoch:
            rewind["state"] = {k: v.detach().cpu().clone() for k, v in trained.state_dict().items()}

    with store.staged_dir(layout.model_dir(args.seed, args.defense, layout.DENSE, role)) as tmp:
        live = runs.live_logger(tmp)
        data = Data(members, nonmembers, val, teacher_logits)
        last = fit_defended(
            model, data, recipe, variant, gen, device, logger=live, label=f"{role} {args.defense} dense", on_epoch_end=snapshot
        )
        live.end()
        info = {
            "role": role.name, "defense": args.defense, "defense_kind": variant.kind, "level": layout.DENSE,
            "training_seed": args.seed, "seed": seed,
            "arch": p.model.arch, "dropout": dropout, "channels": meta["channels"],
            "num_classes": meta["num_classes"], "image_size": meta["image_size"],
            "sparsity": 0.0, "rewind_epoch": rewind_epoch, **last,
        }
        extra = {"init": init_state, "rewind": rewind["state"]}
        if teacher_logits is not None:
            extra["teacher"] = {"logits": teacher_logits}
        runs.save_run(tmp, model, info, **extra)
        if role.is_reference:  # LiRA's membership row, beside the model: which candidates it saw
            n = len(members[1]) + len(nonmembers[1])
            np.save(tmp / "in.npy", runs.reference_membership(role, n, p.attack.reference.seed))


if __name__ == "__main__":
    run(main)
