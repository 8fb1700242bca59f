"""Stage train_target / train_shadow: train one dense model and keep its initial weights.

Writes models/<defense>/dense/<role>/: init.pt (the initial weights), rewind.pt (the weights after
epoch prune.rewind_epoch, which lottery tickets rewind to; a copy of init.pt for epoch 0),
model.pt, info.json, and live/ (per-epoch loss and accuracy, drawn by `dvc plots show`).
"""

import argparse

from ticketleak import params, runs, store
from ticketleak.cli import run
from ticketleak.defenses import training_defense
from ticketleak.models import build_model
from ticketleak.training import fit, seed_everything, select_device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--defense", required=True)
    parser.add_argument("--shadow", type=int, default=None, help="shadow id; omit for the target")
    args = parser.parse_args()
    p = params.load()
    role = store.role_name(args.shadow)
    defense = training_defense(args.defense, getattr(p.defense, args.defense))
    device = select_device(p.train.device)
    meta, members, nonmembers, _ = runs.load_role_data(role)
    rewind_epoch = p.prune.rewind_epoch
    if rewind_epoch > p.train.epochs:
        raise params.ParamsError(f"prune.rewind_epoch: {rewind_epoch} is past train.epochs ({p.train.epochs})")
    seed = store.role_seed(p.train.seed, role)
    gen = seed_everything(seed)
    dropout = p.model.dropout if defense.dropout is None else defense.dropout
    model = build_model(p.model.arch, meta["channels"], meta["num_classes"], meta["image_size"], dropout)
    init_state = {k: v.clone() for k, v in model.state_dict().items()}
    rewind: dict = {"state": init_state}

    def snapshot(epoch: int, trained) -> None:
        if epoch == rewind_epoch:
            rewind["state"] = {k: v.detach().cpu().clone() for k, v in trained.state_dict().items()}

    out = store.model_dir(args.defense, store.DENSE, role)
    with store.staged_dir(out) as tmp:
        live = runs.live_logger(tmp)
        recipe = runs.recipe(p.train, defense)
        label = f"{role} {args.defense} dense"
        last = fit(model, members, nonmembers, recipe, gen, device, live, label, on_epoch_end=snapshot)
        live.end()
        info = {
            "role": role, "defense": args.defense, "level": store.DENSE, "seed": seed,
            "arch": p.model.arch, "dropout": dropout, "l2": defense.l2,
            "channels": meta["channels"], "num_classes": meta["num_classes"], "image_size": meta["image_size"],
            "sparsity": 0.0, "rewind_epoch": rewind_epoch, **last,
        }
        runs.save_run(tmp, model, info, init=init_state, rewind=rewind["state"])


if __name__ == "__main__":
    run(main)
