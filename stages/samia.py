"""Stage samia_dense / samia: the SAMIA attack (seed 002) on one defense and level.

SAMIA's Transformer is trained on the shadows' (posterior, sensitivity, label, member) of the
same defense and level (the attacker adapts) and scores the target's members against as many
non-members, full posterior. The sensitivities come from the posteriors stage. Writes
results/seed-<k>/<defense>/<level>-samia.json (kept in Git): {"defense", "level", "skipped": false,
"samia": attack_metrics}, or {"samia": null, "skipped": true} when attack.samia.enabled is false.
"""

import time

import numpy as np
import torch

from ticketleak.core import layout, params, store
from ticketleak.core.cli import defense_level_args, run
from ticketleak.metrics import attack_metrics
from ticketleak.samia import samia_attack
from ticketleak.tensors import softmax


def main() -> None:
    args = defense_level_args(__doc__)
    p = params.load()
    s = p.attack.samia
    level = args.level
    out = layout.samia_path(args.seed, args.defense, level)
    if not s.enabled:
        store.write_json(out, {"defense": args.defense, "level": level, "samia": None, "skipped": True})
        print(f"[samia seed {args.seed} {args.defense} {level}] skipped (attack.samia.enabled is false)")
        return
    torch.set_num_threads(1)  # a tiny Transformer: one intra-op thread avoids spin contention
    src = layout.posteriors_dir(args.seed, args.defense, level)
    target = store.load_arrays(src / "target.npz")
    shadows = [store.load_arrays(src / f"{role}.npz") for role in layout.shadows(p.shadow.ids)]
    for role, a in zip([layout.TARGET, *layout.shadows(p.shadow.ids)], [target, *shadows]):
        if "sens" not in a:
            raise FileNotFoundError(f"{src / role.name}.npz: no sensitivities ('sens'); rerun the posteriors stage (dvc repro)")

    def cat(key: str) -> np.ndarray:
        return np.concatenate([a[key] for a in shadows])

    start = time.perf_counter()
    scored = samia_attack(
        softmax(cat("logits").astype(np.float64)), cat("sens"), cat("labels"), cat("member"),
        softmax(target["logits"].astype(np.float64)), target["sens"], target["labels"],
        epochs=s.epochs, batch_size=s.batch_size, lr=s.lr, seed=s.seed,
    )
    metrics = attack_metrics(target["member"], scored.score, scored.decision, p.attack.bootstrap)
    store.write_json(out, {"defense": args.defense, "level": level, "skipped": False, "samia": metrics})
    print(
        f"[samia seed {args.seed} {args.defense} {level}] AUC {metrics['auc']:.3f} acc {metrics['accuracy']:.3f} "
        f"TPR@1%FPR {metrics['tpr_at_1pct_fpr']:.3f} ({s.epochs} epochs, {time.perf_counter() - start:.1f}s)"
    )


if __name__ == "__main__":
    run(main)
