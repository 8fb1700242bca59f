"""Report sections of a ``pruning`` study (seed 002, pruning, SAMIA, PPB): pruned vs dense, SAMIA,
PPB against the other defenses, Fig. 1's confidence and sensitivity gaps, the blind attacker."""

from __future__ import annotations

from ticketleak.core import layout
from ticketleak.transfer import blind_summary
from ticketleak_studies.document import Report
from ticketleak_studies.formatting import diff, fmt, fmt_diff, fmt_sd, table
from ticketleak_studies.gathered import RunData
from ticketleak_studies.verdicts import binomial_sd, floor_line, judge, metric_sd, tally_line, verdict_line


def _best_baseline(r: RunData, defense: str, level: str, key: str = "nonadaptive") -> tuple[str | None, dict | None]:
    """The best non-SAMIA attack on one model: cross-fitted where the run recorded it (picked by
    AUC on one half of the evaluation set, scored on the other), else, in runs made before that
    record existed, the most accurate on the whole evaluation set (optimistic)."""
    res = r.result(defense, level) or {}
    fitted = (res.get("crossfit") or {}).get("none") if key == "attacks" else res.get("nonadaptive_crossfit")
    if fitted and fitted.get("accuracy") is not None:
        return CROSSFIT, {"accuracy": fitted["accuracy"], "auc": fitted["auc"]}
    attacks = res.get("attacks", {}).get("none", {}) if key == "attacks" else (res.get("nonadaptive") or {})
    if not attacks:
        return None, None
    name = max(attacks, key=lambda a: attacks[a]["accuracy"])
    return name, attacks[name]


CROSSFIT = "(cross-fitted)"


def _baseline_note(r: RunData) -> str:
    """How the run's best baseline attack was chosen, in one sentence."""
    res = r.result("none", layout.DENSE) or {}
    if res.get("crossfit"):
        return ("The best baseline attack is cross-fitted: picked by AUC on one half of the evaluation set and scored "
                "(AUC, and the balanced accuracy of its shadow-calibrated threshold) on the other, both ways, averaged.")
    return "The best baseline attack is picked on the evaluation set (optimistic: this run predates the cross-fitted record)."


def sections(rep: Report, dataset: str) -> list[str]:
    """Pruned vs dense, SAMIA, PPB, the gaps and the blind attacker on one dataset."""
    g, o = rep.gathered, rep.opts
    methods, defenses = g.get(dataset, o.get("methods_run")), g.get(dataset, o.get("defenses_run"))
    lines: list[str] = []
    if methods is not None:
        lines += _methods(rep, methods)
        lines += _samia(rep, methods)
    if defenses is not None:
        lines += _defenses(rep, defenses)
    hist = [r for r in (methods, defenses) if r is not None and o.get("histogram_level") in r.levels()]
    if hist:
        lines += _gaps(rep, hist[0])
    if methods is not None:
        lines += _blind(rep, methods)
    return lines


def _methods(rep: Report, r: RunData) -> list[str]:
    lines = ["### Pruned vs original: the four pruning methods at five sparsities (undefended, shadows pruned alike)", ""]
    lines += rep.seed_setting("pruned")
    d_name, d = _best_baseline(r, "none", layout.DENSE, "attacks")
    d_samia = r.samia("none", layout.DENSE)
    rows, words = [], {}
    for level in r.levels():
        t = r.target("none", level) or {}
        name, m = _best_baseline(r, "none", level, "attacks")
        s = r.samia("none", level)
        acc = (m or {}).get("accuracy")
        rows.append([level, fmt(t.get("sparsity")), fmt(r.structure("none", level)) if level != layout.DENSE else "-", fmt(t.get("test_acc")), fmt_diff(None if not t else t["train_acc"] - t["test_acc"]),
                     f"{fmt_sd(acc, metric_sd(m, 'accuracy', r.eval_n) if m else None)} {name or ''}", fmt((s or {}).get("accuracy")),
                     fmt_diff(diff(acc, (d or {}).get("accuracy"))) if level != layout.DENSE else "-",
                     fmt_diff(diff((s or {}).get("accuracy"), (d_samia or {}).get("accuracy"))) if level != layout.DENSE else "-"])
        if level != layout.DENSE and m and d and _usable(r, "none", level):
            method = layout.parse_level(level)[0]
            words.setdefault(method, []).append(judge(m["accuracy"], d["accuracy"], metric_sd(m, "accuracy", r.eval_n), metric_sd(d, "accuracy", r.eval_n), "higher")[0])
    lines += table(["level", "weight sparsity (measured)", "filters / channels removed", "test acc", "train-test gap", "best baseline attack acc (sd)", "SAMIA acc",
                    "diff vs dense (baseline)", "diff vs dense (SAMIA)"], rows)
    lines += ["", f"Seed: {rep.ref('pruned', 'claim')} (no numbers in the seed text). {_baseline_note(r)}",
              "Weight sparsity counts zero Conv/Linear weights; slimming zeroes BatchNorm scales instead, so its cut shows as channels removed "
              "(read from the pruning record, a DVC-cached output: '-' where the cache does not hold it).", ""]
    lines += [tally_line(f"{method}: pruned models are more vulnerable than the dense one", rep.source("pruned"), w, len(r.seeds)) for method, w in words.items()]
    lines += floor_line(r, [("none", lv) for lv in r.levels()])
    return lines + [""]


def _usable(r: RunData, defense: str, level: str) -> bool:
    """Whether a pruned target and its dense model both clear the utility floor on every seed."""
    return r.below_floor(defense, level) is None and r.below_floor(defense, layout.DENSE) is None


def _samia(rep: Report, r: RunData) -> list[str]:
    lines = ["### SAMIA against the baseline attacks", ""] + rep.seed_setting("samia")
    rows, words = [], []
    for level in r.levels():
        s = r.samia("none", level)
        name, m = _best_baseline(r, "none", level, "attacks")
        rows.append([level, fmt_sd((s or {}).get("accuracy"), metric_sd(s, "accuracy", r.eval_n) if s else None), fmt_sd((s or {}).get("auc"), (s or {}).get("auc_std")),
                     f"{fmt((m or {}).get('accuracy'))} {name or ''}", fmt((m or {}).get("auc")), fmt_diff(diff((s or {}).get("accuracy"), (m or {}).get("accuracy")))])
        if s and m and level != layout.DENSE and _usable(r, "none", level):
            words.append(judge(s["accuracy"], m["accuracy"], metric_sd(s, "accuracy", r.eval_n), metric_sd(m, "accuracy", r.eval_n), "higher")[0])
    lines += table(["level", "SAMIA acc (sd)", "SAMIA AUC (sd)", "best baseline acc", "its AUC", "SAMIA - baseline (acc)"], rows)
    lines += ["", _baseline_note(r), tally_line("SAMIA beats the best baseline attack on pruned models", rep.source("samia"), words, len(r.seeds))]
    return lines + floor_line(r, [("none", lv) for lv in r.levels()]) + [""]


def _defenses(rep: Report, r: RunData) -> list[str]:
    lines = ["### PPB against the other defenses", ""] + rep.seed_setting("ppb")
    ref = rep.ref("ppb", "accuracy")
    pruned = [lv for lv in r.levels() if lv != layout.DENSE]
    rows, nonadaptive = [], {}
    ppb = _seed_ppb(r)
    for defense in r.p("defense.train", []) or []:
        for level in [layout.DENSE, *pruned]:
            t = r.target(defense, level) or {}
            _, adaptive = _best_baseline(r, defense, level, "attacks")
            _, na = _best_baseline(r, defense, level) if defense != "none" else (None, adaptive)
            s = r.samia(defense, level)
            na_acc = (na or {}).get("accuracy")
            if level != layout.DENSE and _usable(r, defense, level):
                nonadaptive[defense] = na
            is_ppb = defense == ppb and level != layout.DENSE  # the seed's figure is of pruned models
            rows.append([_defense_label(r, defense, ppb), level, fmt(t.get("test_acc")), fmt((adaptive or {}).get("accuracy")), fmt(na_acc), fmt((s or {}).get("accuracy")),
                         fmt(ref) if is_ppb else "-", fmt_diff(diff(na_acc, ref)) if is_ppb else "-"])
    lines += table(["defense", "level", "test acc", "adaptive best acc", "non-adaptive best acc", "SAMIA acc (adaptive)", "seed", "diff"], rows)
    lines += ["", "Non-adaptive: the attack fitted on undefended shadows (the seed's main PPB setting); adaptive: shadows trained with the same defense.",
              _baseline_note(r), ""]
    if ppb and nonadaptive.get(ppb):
        m = nonadaptive[ppb]
        lines.append(verdict_line("PPB brings the attack to about 50% (non-adaptive, pruned)", rep.source("ppb"),
                                  f"ours {m['accuracy']:.3f} vs 0.5", m["accuracy"], 0.5, metric_sd(m, "accuracy", r.eval_n), 0.0, "equal"))
        others = {d: v for d, v in nonadaptive.items() if d != "none" and _kind(r, d) not in PPB_KINDS and v}
        if others:
            best = min(others, key=lambda d: others[d]["accuracy"])
            lines.append(verdict_line("PPB protects better than the other defenses (non-adaptive, pruned)", rep.source("ppb"),
                                      f"ours PPB {m['accuracy']:.3f} vs best other ({best}) {others[best]['accuracy']:.3f}",
                                      m["accuracy"], others[best]["accuracy"], metric_sd(m, "accuracy", r.eval_n), metric_sd(others[best], "accuracy", r.eval_n), "lower"))
    lines += floor_line(r, [(d, lv) for d in r.p("defense.train", []) or [] for lv in [layout.DENSE, *pruned]])
    return lines + [""]


PPB_KINDS = ("ppb_finetune", "ppb")  # seed 002's PPB (fine-tuning only) first; then ours on dense training too


def _kind(r: RunData, defense: str) -> str | None:
    return r.p(f"defense.variants.{defense}.kind")


def _seed_ppb(r: RunData) -> str | None:
    """The variant that stands for seed 002's PPB: one applied while fine-tuning only, else (in
    runs made before that variant existed) the one applied to the dense training too."""
    defenses = r.p("defense.train", []) or []
    for kind in PPB_KINDS:
        found = next((d for d in defenses if _kind(r, d) == kind), None)
        if found:
            return found
    return None


def _defense_label(r: RunData, defense: str, seed_ppb: str | None) -> str:
    kind = _kind(r, defense)
    if kind == "ppb_finetune":
        return f"{defense} (fine-tuning only, as the seed)"
    if kind == "ppb":
        stands = "; stands for the seed's, which this run lacks" if defense == seed_ppb else ""
        return f"{defense} (dense training too{stands})"
    return defense


def _gaps(rep: Report, r: RunData) -> list[str]:
    level = rep.opts["histogram_level"]
    lines = [f"### Fig. 1: member vs non-member confidence and sensitivity of the true class (`{r.run}`, undefended)", ""]
    lines += rep.seed_setting("gaps")
    gaps = {lv: r.gaps("none", lv) for lv in (layout.DENSE, level)}
    if any(v is None for v in gaps.values()):
        return lines + ["Not available: these come from the target's posteriors (`posteriors/`, DVC cache only), which the "
                        "local DVC cache does not hold for this run. The histogram figure is linked below.", ""]
    rows = []
    for lv, g in gaps.items():
        for sig, v in g.items():
            rows.append([lv, sig, fmt(v["members"]), fmt(v["nonmembers"]), fmt_sd(v["gap"], v["gap_sd"])])
    lines += table(["level", "signal", "members (mean)", "non-members (mean)", "gap (sd)"], rows)
    lines.append("")
    share = float(rep.opts.get("gap_margin", GAP_MARGIN))
    for sig in gaps[layout.DENSE]:
        a, b = gaps[level].get(sig), gaps[layout.DENSE][sig]
        if a:
            # members sit below non-members in sensitivity (a negative gap): wider means a larger |gap|;
            # the gaps are not AUCs, so "no wider" is judged within a share of the dense model's |gap|
            lines.append(verdict_line(f"pruning widens the {sig} gap (|members - non-members|)", rep.source("gaps"),
                                      f"ours {level} {abs(a['gap']):.4f} vs dense {abs(b['gap']):.4f}",
                                      abs(a["gap"]), abs(b["gap"]), a["gap_sd"], b["gap_sd"], "higher",
                                      margin=share * abs(b["gap"]) or None, margin_note=f": {share:g} of the dense |gap|"))
    return lines + [""]


GAP_MARGIN = 0.25  # default report.gap_margin: "no wider" means within this share of the dense model's |gap|


def _blind(rep: Report, r: RunData) -> list[str]:
    matrices = (r.transfer() or {}).get("matrix") or {}
    matrix, loss = matrices.get("shokri_sorted") or {}, matrices.get("loss_global") or {}
    lines = ["### The attacker who does not know the pruning method (Shokri MLP)", ""] + rep.seed_setting("blind")
    if layout.DENSE not in matrix:
        return lines + ["No transfer results.", ""]
    method_of = {lv: layout.parse_level(lv)[0] for lv in matrix}
    by_auc, by_acc = blind_summary(matrix, method_of, "auc"), blind_summary(matrix, method_of, "accuracy")
    levels = list(by_auc)
    rows, auc_words, acc_words, cost_words, spread, to_loss = [], [], [], [], 0.0, []
    n = r.eval_n
    for level in levels:
        auc, acc = ({"matching": row["matching"], "dense": row["dense_shadows"], "other": row.get("other_methods_mean")}
                    for row in (by_auc[level], by_acc[level]))
        rows.append([level, fmt(auc["matching"]), fmt(auc["dense"]), fmt(auc["other"]),
                     fmt(acc["matching"]), fmt(acc["dense"]), fmt(acc["other"])])
        shown = [v for v in auc.values() if v is not None]
        spread = max(spread, max(shown) - min(shown))
        if level in loss:
            to_loss += [abs(v - loss[level][level]["auc"]) for v in shown]
        if auc["other"] is None or r.below_floor("none", level) is not None:
            continue
        sd = (r.attack("none", level, "shokri_sorted") or {}).get("auc_std")
        auc_words.append(judge(auc["other"], 0.5, sd, 0.0, "higher")[0])
        acc_words.append(judge(acc["other"], 0.5, binomial_sd(acc["other"], n), 0.0, "higher")[0])
        cost_words.append(judge(acc["matching"], acc["other"], binomial_sd(acc["matching"], n), binomial_sd(acc["other"], n), "higher")[0])
    lines += table(["target", "AUC: matching shadows", "dense shadows", "other methods' shadows (mean)",
                    "balanced accuracy: matching", "dense", "other methods (mean)"], rows)
    near_loss = (f" and from the loss attack's AUC, which no shadow model changes, by at most {max(to_loss):.3f}: the MLP on sorted "
                 "posteriors ranks the samples about as their loss does, whichever shadows fitted it") if to_loss else ""
    lines += ["", (f"The AUC ranks the evaluation samples and needs no threshold. The three AUC columns differ by at most {spread:.3f}"
                   f"{near_loss}. What the attacker's shadows change is the decision threshold, calibrated on those shadows: the "
                   "balanced-accuracy columns show what not knowing the method costs."), ""]
    lines += [tally_line("the attack succeeds (AUC above 0.5) without knowing the pruning method", rep.source("blind"), auc_words, len(r.seeds)),
              tally_line("the attack succeeds (balanced accuracy above 0.5, shadow-calibrated threshold) without knowing the pruning method",
                         rep.source("blind"), acc_words, len(r.seeds)),
              tally_line("knowing the pruning method helps the attacker (balanced accuracy, matching vs other methods' shadows)",
                         "our check, not a claim of the seed", cost_words, len(r.seeds))]
    lines += floor_line(r, [("none", lv) for lv in levels]) + [""]
    return lines
