"""Stage reference_dense / reference: LiRA and RMIA against one defense and level.

The reference models (attack.reference.ids) are trained and pruned exactly like the target, each
on its half of the target's candidates (members + non-members); RMIA's population z is up to
attack.reference.population samples no model trained on, from the target's validation split and
the shadow pool, drawn by prepare (data/prepared/population.npz; ticketleak.population).
Scores: LiRA online and offline (the paper's
one-sided test), each with per-sample or fixed variance, over the original query and, with
attack.reference.mirror, its horizontal flip; RMIA offline on p_y with its `a` tuned on reference
model 0. Decisions (accuracy, precision, recall) use thresholds calibrated the same way, without
the target's membership. Target and reference models are those of one training seed. Writes
results/seed-<k>/<defense>/<level>-reference.json (kept in Git) and
results/seed-<k>/<defense>/<level>-reference-scores.npz (per-sample scores and the membership matrix).
"""

import numpy as np
import torch

from ticketleak import population, runs
from ticketleak.core import layout, params, store
from ticketleak.core.cli import defense_level_args, run
from ticketleak.metrics import attack_metrics, per_class_metrics
from ticketleak.reference import (
    attack_scores,
    calibrated_thresholds,
    mirror,
    true_class_prob,
    tune_rmia_a,
)
from ticketleak.splits import load_split
from ticketleak.training import predict_logits, select_device, to_tensor


def main() -> None:
    args = defense_level_args(__doc__)
    p = params.load()
    settings = p.attack.reference
    device = select_device(p.train.device)
    meta = store.read_json(layout.PREPARED / "meta.json")
    split = load_split(layout.PREPARED / "target.npz")
    cand_x, labels = runs.candidates(split)
    member = np.r_[np.ones(len(split["members_y"]), bool), np.zeros(len(split["nonmembers_y"]), bool)]
    x = to_tensor(cand_x, meta["mean"], meta["std"])
    pop = store.load_arrays(layout.PREPARED / population.FILE)
    pop_labels = pop["y"]
    if len(pop_labels) < settings.population:
        print(f"[reference seed {args.seed} {args.defense} {args.level}] population: {len(pop_labels)} samples, all that no "
              f"model trained on (attack.reference.population asks {settings.population})")
    pop_x = to_tensor(pop["x"], meta["mean"], meta["std"])

    def queries(model: torch.nn.Module, images: torch.Tensor) -> np.ndarray:
        """(N, A, C) logits: the image and, with the mirror query, its flip."""
        views = [images, mirror(images)] if settings.mirror else [images]
        return np.stack([predict_logits(model, v).numpy() for v in views], axis=1)

    def outputs(role: str) -> tuple[np.ndarray, np.ndarray]:
        model, _ = runs.load_run(layout.model_dir(args.seed, args.defense, args.level, role))
        model.to(device)  # train.device, as training used
        return queries(model, x), queries(model, pop_x)

    roles = [layout.reference(i) for i in settings.ids]
    ref_in = np.stack([runs.reference_membership(r, len(labels), settings.seed) for r in roles])
    target, pop_target = outputs(layout.TARGET)
    ref, pop_ref = (np.stack(a) for a in zip(*(outputs(r) for r in roles)))
    pop_in = np.zeros(pop_ref.shape[:2], dtype=bool)
    a, a_aucs = tune_rmia_a(true_class_prob(ref, labels), ref_in, true_class_prob(pop_ref, pop_labels), pop_in)
    scores = attack_scores(target, ref, ref_in, labels, pop_target, pop_ref, pop_labels, a)
    thresholds = calibrated_thresholds(ref, ref_in, labels, pop_ref, pop_labels, a)
    metrics = {name: attack_metrics(member, s, s >= thresholds[name], p.attack.bootstrap) for name, s in scores.items()}
    per_class = {name: per_class_metrics(member, s, s >= thresholds[name], labels) for name, s in scores.items()}

    def accuracy(logits: np.ndarray, keep: np.ndarray) -> float:
        return float((logits[keep, 0].argmax(-1) == labels[keep]).mean())

    record = {
        "defense": args.defense,
        "level": args.level,
        "target": {"train_acc": accuracy(target, member), "test_acc": accuracy(target, ~member)},
        "references": {
            "count": len(roles),
            "mirror": settings.mirror,
            "population": len(pop_labels),
            "test_acc_mean": float(np.mean([accuracy(r, ~i) for r, i in zip(ref, ref_in)])),
            "rmia_a": a,
            "rmia_a_auc": a_aucs,
            "thresholds": thresholds,
        },
        "attacks": {"none": metrics},
        "per_class": per_class,
    }
    path, scores_path = layout.reference_paths(args.seed, args.defense, args.level)
    store.save_arrays(scores_path, {"member": member, "labels": labels, "ref_in": ref_in, **scores})
    store.write_json(path, record)
    best = max(metrics.items(), key=lambda kv: kv[1]["auc"])
    print(f"[reference seed {args.seed} {args.defense} {args.level}] {len(roles)} reference models; best AUC {best[1]['auc']:.3f} ({best[0]}), "
          f"TPR@1%FPR {best[1]['tpr_at_1pct_fpr']:.3f}")


if __name__ == "__main__":
    run(main)
