"""Stage attack_dense / attack: every membership-inference attack on one defense and level.

Attacks are fitted on the shadows (same defense and pruning level: the attacker adapts) and
evaluated on the target's members against as many of its non-members, once per release: the
full posterior (the softmax of posteriors/seed-<k>/<defense>/<level>/), then each release-time
defense such as top-k, as the defend stage released it (released/seed-<k>/<defense>/<level>/<release>/). With attack.shadow_curve,
the attacks are also refitted with the first k shadows, k = 1..K (full posterior). Under a
training-time defense the non-adaptive attacker (undefended shadows at the same level) is
evaluated too (the undefended shadows of the same training seed). Each attack on the full posterior is also broken down by true class.
The best of the attacks is recorded only cross-fitted (``crossfit``, and ``nonadaptive_crossfit``):
picked by AUC on one half of the evaluation set and scored on the other, both ways. Writes
results/seed-<k>/<defense>/<level>.json (metrics, kept in Git) and <level>-scores.npz (per-sample scores).
"""

from ticketleak import stats
from ticketleak.core import layout, params, store
from ticketleak.attacks import (
    Observed,
    Scored,
    shadow_count_curve,
    shokri_attacks,
    threshold_attacks,
)
from ticketleak.core.cli import defense_level_args, run
from ticketleak.metrics import attack_metrics, per_class_metrics
from ticketleak.tensors import softmax

CURVE_METRICS = ("accuracy", "auc", "precision", "recall")


def crossfit_record(member, attacks: dict[str, Scored]) -> dict:
    """The best attack chosen on one half of the evaluation set and scored on the other (both
    ways, averaged): its held-out AUC, the held-out balanced accuracy of its shadow-calibrated
    decisions, and the two picks."""
    cf = stats.cross_fitted_best(member, {n: a.score for n, a in attacks.items()}, seed=0,
                                 decisions={n: a.decision for n, a in attacks.items()})
    return {"auc": cf.auc, "accuracy": cf.accuracy, "picks": list(cf.picks), "held_out_auc": list(cf.held_out)}


def main() -> None:
    args = defense_level_args(__doc__)
    p = params.load()
    shokri = p.attack.shokri

    def fit_attacks(shadow_obs: Observed, target_obs: Observed) -> dict[str, Scored]:
        attacks = threshold_attacks(shadow_obs, target_obs)
        attacks.update(shokri_attacks(
            shadow_obs, target_obs, shokri.hidden, shokri.max_iter, shokri.seed,
            tuple(shokri.classifiers), tuple(shokri.variants), shokri.per_class,
        ))
        return attacks

    level = args.level
    src = layout.posteriors_dir(args.seed, args.defense, level)
    target = store.load_arrays(src / "target.npz")
    shadows = [store.load_arrays(src / f"{role}.npz") for role in layout.shadows(p.shadow.ids)]
    if target["member"].sum() != (~target["member"]).sum():
        raise ValueError("the target's evaluation set must hold as many members as non-members")
    results, scores, curves, nonadaptive = {}, {"member": target["member"], "labels": target["labels"]}, None, None
    crossfit, nonadaptive_crossfit = {}, None
    for rel in ["none", *p.defense.release]:
        if rel == "none":
            shadow_list = [Observed(softmax(a["logits"]), a["labels"], a["member"]) for a in shadows]
            target_obs = Observed(softmax(target["logits"]), target["labels"], target["member"])
        else:
            released = layout.released_dir(args.seed, args.defense, level, rel)
            shadow_list = [Observed(**store.load_arrays(released / f"{role}.npz")) for role in layout.shadows(p.shadow.ids)]
            target_obs = Observed(**store.load_arrays(released / "target.npz"))
        attacks = fit_attacks(Observed.concat(shadow_list), target_obs)
        results[rel] = {
            name: attack_metrics(target_obs.member, a.score, a.decision, p.attack.bootstrap)
            for name, a in attacks.items()
        }
        if rel == "none":
            per_class = {name: per_class_metrics(target_obs.member, a.score, a.decision, target_obs.labels) for name, a in attacks.items()}
        if rel == "none" and p.attack.shadow_curve:  # k = K is the attack just fitted
            curve = {**shadow_count_curve(shadow_list, target_obs, range(1, len(shadow_list)), fit_attacks), len(shadow_list): results[rel]}
            curves = {k: {name: {m: v[m] for m in CURVE_METRICS} for name, v in c.items()} for k, c in curve.items()}
        scores.update({f"{rel}/{name}": a.score for name, a in attacks.items()})
        crossfit[rel] = crossfit_record(target_obs.member, attacks)
        best = max(results[rel].items(), key=lambda kv: kv[1]["auc"])
        print(f"[attack seed {args.seed} {args.defense} {level} release={rel}] best AUC {best[1]['auc']:.3f} ({best[0]})")
    if args.defense != "none":  # non-adaptive attacker: shadows trained without the defense
        undefended = layout.posteriors_dir(args.seed, "none", level)
        plain = [Observed(softmax(a["logits"]), a["labels"], a["member"])
                 for a in (store.load_arrays(undefended / f"{role}.npz") for role in layout.shadows(p.shadow.ids))]
        target_obs = Observed(softmax(target["logits"]), target["labels"], target["member"])
        attacks = fit_attacks(Observed.concat(plain), target_obs)
        nonadaptive = {name: attack_metrics(target_obs.member, a.score, a.decision, p.attack.bootstrap) for name, a in attacks.items()}
        nonadaptive_crossfit = crossfit_record(target_obs.member, attacks)
        best = max(nonadaptive.items(), key=lambda kv: kv[1]["auc"])
        print(f"[attack seed {args.seed} {args.defense} {level} non-adaptive] best AUC {best[1]['auc']:.3f} ({best[0]})")
    models = store.read_json(src / "models.json")
    metrics_path, scores_path = layout.result_paths(args.seed, args.defense, level)
    scores_path.parent.mkdir(parents=True, exist_ok=True)
    store.save_arrays(scores_path, scores)
    record = {"seed": args.seed, "defense": args.defense, "level": level, "target": models["target"], "attacks": results, "crossfit": crossfit, "per_class": per_class}
    if curves is not None:
        record["shadow_curve"] = curves
    if nonadaptive is not None:
        record["nonadaptive"] = nonadaptive
        record["nonadaptive_crossfit"] = nonadaptive_crossfit
    store.write_json(metrics_path, record)


if __name__ == "__main__":
    run(main)
