"""Stage posteriors_dense / posteriors: query every model of one defense and level.

For the target and each shadow, on its own members and non-members: logits, labels,
membership and per-sample loss (posteriors/<defense>/<level>/<role>.npz), plus models.json
with each model's accuracies and measured sparsity.
"""

import argparse

from ticketleak import params, posteriors, runs, store
from ticketleak.cli import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--defense", required=True)
    parser.add_argument("--level", required=True, help="dense, or <method>-<sparsity> such as lth_oneshot-0.9")
    args = parser.parse_args()
    p = params.load()
    level = args.level
    store.parse_level(level)  # dense, or <method>-<sparsity>
    roles = ["target"] + [store.role_name(i) for i in p.shadow.ids]
    summary = {}
    with store.staged_dir(store.posteriors_dir(args.defense, level)) as tmp:
        for role in roles:
            model, info = runs.load_run(store.model_dir(args.defense, level, role))
            _, members, nonmembers, _ = runs.load_role_data(role)
            arrays = posteriors.query(model, members, nonmembers)
            store.save_arrays(tmp / f"{role}.npz", arrays)
            correct = arrays["logits"].argmax(1) == arrays["labels"]
            summary[role] = {
                "train_acc": float(correct[arrays["member"]].mean()),
                "test_acc": float(correct[~arrays["member"]].mean()),
                "sparsity": info["sparsity"],
                "parameters": info["parameters"],
            }
        store.write_json(tmp / "models.json", summary)
    t = summary["target"]
    print(f"[posteriors {args.defense} {level}] target train acc {t['train_acc']:.3f} test acc {t['test_acc']:.3f}")


if __name__ == "__main__":
    run(main)
