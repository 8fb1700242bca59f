"""Stage posteriors_dense / posteriors: query every model of one defense and level.

For the target and each shadow, on its own members and non-members: logits, labels,
membership, per-sample loss and SAMIA's sensitivity ``sens`` (the mean absolute change of the
posterior under attack.samia.queries Gaussian input perturbations of scale attack.samia.eps,
divided by eps; same sample order as ``logits``) in posteriors/seed-<k>/<defense>/<level>/<role>.npz, plus
models.json with each model's accuracies and measured sparsity. The sensitivity needs the model,
which only this stage loads; it is extracted even when attack.samia.enabled is false.
"""


import numpy as np
import torch

from ticketleak import posteriors, runs
from ticketleak.core import layout, params, store
from ticketleak.core.cli import defense_level_args, run
from ticketleak.training import select_device

SENS_BATCH = 1024  # samples per sensitivity batch (each batch is queried queries + 1 times)


def main() -> None:
    args = defense_level_args(__doc__)
    p = params.load()
    samia = p.attack.samia
    level = args.level
    roles = [layout.TARGET, *layout.shadows(p.shadow.ids)]
    device = select_device(p.train.device)
    summary = {}
    with store.staged_dir(layout.posteriors_dir(args.seed, args.defense, level)) as tmp:
        for role in roles:
            model, info = runs.load_run(layout.model_dir(args.seed, args.defense, level, role))
            model.to(device)  # train.device: the queries and the sensitivity run where training did
            _, members, nonmembers, _ = runs.load_role_data(role)
            arrays = posteriors.query(model, members, nonmembers)
            x = torch.cat([members[0], nonmembers[0]])  # the order of posteriors.query: members first
            # a fixed noise seed per model (its torch seed), independent of the attack's seed
            arrays["sens"] = posteriors.sensitivity(
                model, x, m=samia.queries, eps=samia.eps, seed=role.seed(args.seed), batch_size=SENS_BATCH, device=device
            ).astype(np.float32)
            store.save_arrays(tmp / f"{role}.npz", arrays)
            correct = arrays["logits"].argmax(1) == arrays["labels"]
            summary[role.name] = {
                "train_acc": float(correct[arrays["member"]].mean()),
                "test_acc": float(correct[~arrays["member"]].mean()),
                "sparsity": info["sparsity"],
                "parameters": info["parameters"],
                "epsilon": info.get("epsilon"),  # DP-SGD only
            }
        store.write_json(tmp / "models.json", summary)
    t = summary["target"]
    print(f"[posteriors seed {args.seed} {args.defense} {level}] target train acc {t['train_acc']:.3f} test acc {t['test_acc']:.3f}")


if __name__ == "__main__":
    run(main)
