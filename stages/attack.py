"""Stage attack_dense / attack: every membership-inference attack on one defense and level.

Attacks are fitted on the shadows (same defense and pruning level: the attacker adapts) and
evaluated on the target's members against as many of its non-members, once per release
(the full posterior, then each release-time defense such as top-k). Writes
results/<defense>/<level>.json (metrics, kept in Git) and <level>-scores.npz (per-sample scores).
"""

import argparse

import numpy as np

from ticketleak import params, store
from ticketleak.attacks import Observed, shokri_attacks, threshold_attacks
from ticketleak.cli import run
from ticketleak.defenses import release
from ticketleak.metrics import attack_metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--defense", required=True)
    parser.add_argument("--level", required=True, help="dense, or <method>-<sparsity> such as lth_oneshot-0.9")
    args = parser.parse_args()
    p = params.load()
    level = args.level
    store.parse_level(level)  # dense, or <method>-<sparsity>
    src = store.posteriors_dir(args.defense, level)
    target = store.load_arrays(src / "target.npz")
    shadows = [store.load_arrays(src / f"{store.role_name(i)}.npz") for i in p.shadow.ids]
    if target["member"].sum() != (~target["member"]).sum():
        raise ValueError("the target's evaluation set must hold as many members as non-members")
    results, scores = {}, {"member": target["member"], "labels": target["labels"]}
    for rel in ["none", *p.defense.release]:
        settings = None if rel == "none" else getattr(p.defense, rel)

        def observe(arrays: dict) -> Observed:
            return Observed(release(arrays["logits"], rel, settings), arrays["labels"], arrays["member"])

        shadow_obs, target_obs = Observed.concat([observe(s) for s in shadows]), observe(target)
        attacks = threshold_attacks(shadow_obs, target_obs)
        s = p.attack.shokri
        attacks.update(shokri_attacks(shadow_obs, target_obs, s.hidden, s.max_iter, s.seed))
        results[rel] = {
            name: attack_metrics(target_obs.member, a.score, a.decision, p.attack.bootstrap)
            for name, a in attacks.items()
        }
        scores.update({f"{rel}/{name}": a.score for name, a in attacks.items()})
        best = max(results[rel].items(), key=lambda kv: kv[1]["auc"])
        print(f"[attack {args.defense} {level} release={rel}] best AUC {best[1]['auc']:.3f} ({best[0]})")
    models = store.read_json(src / "models.json")
    metrics_path, scores_path = store.result_paths(args.defense, level)
    scores_path.parent.mkdir(parents=True, exist_ok=True)
    store.save_arrays(scores_path, scores)
    store.write_json(metrics_path, {"defense": args.defense, "level": level, "target": models["target"], "attacks": results})


if __name__ == "__main__":
    run(main)
