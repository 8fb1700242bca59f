"""Gather the attack results into one table, the DVC summary metrics and a Markdown report.

Every summary number and verdict follows one *headline* attack per row, named in params
(``attack.headline``) before the target's membership labels are looked at: the first attack of
that list the row has. The best of all attacks is reported only cross-fitted (chosen on one half
of the samples, scored on the other). Dense and pruned targets are compared paired, on the same
evaluation samples, and a verdict about a published claim is drawn from training seeds
(:mod:`ticketleak.stats`), never from the sample-level bootstrap alone.

:func:`collect` gives one row per training seed; the tables and plots read :func:`seed_means`
(every number the mean over seeds, with the headline AUC's sd over seeds), the verdicts the
per-seed rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ticketleak import stats
from ticketleak.core import layout, store

HEADLINE = ("auc", "accuracy", "tpr_at_1pct_fpr")
UTILITY_FLOOR = 1.5  # verdicts leave out models whose test accuracy is below this multiple of chance
BOOTSTRAP = 1000  # paired bootstrap resamples of the evaluation set
BOOTSTRAP_SEED = 0
# The seed papers' claims the dense-vs-pruned verdicts are set against: (who, claim, expected sign
# of pruned minus dense headline AUC).
CLAIMS = (
    ("seed 000", "tickets are as vulnerable as the dense model", "equal"),
    ("seed 002", "pruning makes a network more vulnerable", "greater"),
)


@dataclass(frozen=True)
class Row:
    """One model variant: a training-time defense, a release, a pruning level, and its results."""

    defense: str
    release: str
    level: str  # dense, or <method>-<sparsity>
    sparsity: float  # measured on the target's weights
    target: dict
    attacks: dict[str, dict]
    nonadaptive: dict[str, dict] | None = None  # undefended shadows attacking a defended target
    seed: int = 0  # the training seed (of a mean over seeds: the first, whose files plots read)
    n_seeds: int = 1  # how many training seeds the numbers are the mean of

    @property
    def method(self) -> str:
        return layout.parse_level(self.level)[0]

    @property
    def asked(self) -> float:
        """The asked sparsity (0 for the dense model)."""
        return layout.parse_level(self.level)[1]

    @property
    def variant(self) -> str:
        return self.defense if self.release == "none" else f"{self.defense}+{self.release}"

    def headline(self, preference: Sequence[str]) -> tuple[str, dict]:
        """(name, metrics) of the first attack in ``preference`` this row has: named in advance,
        never picked on the evaluation set."""
        return _first_of(self.attacks, preference, f"{self.variant} {self.level}")


def _first_of(attacks: dict[str, dict], preference: Sequence[str], what: str) -> tuple[str, dict]:
    for name in preference:
        if name in attacks:
            return name, attacks[name]
    raise ValueError(f"{what}: none of the headline attacks {list(preference)} was run (it has {', '.join(attacks)})")


Scores = tuple[np.ndarray, dict[str, np.ndarray]]  # member vector, attack name -> per-sample score
Loader = Callable[["Row"], Scores]


def row_scores(row: Row) -> Scores:
    """The per-sample scores of every attack of ``row``, in the order of its ``member`` vector:
    results/seed-<k>/<defense>/<level>-scores.npz (``<release>/<attack>``), and for LiRA / RMIA
    <level>-reference-scores.npz (same samples, same order: checked)."""
    arrays = store.load_arrays(layout.result_paths(row.seed, row.defense, row.level)[1])
    member = arrays["member"].astype(bool)
    prefix = f"{row.release}/"
    scores = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
    if any(a not in scores for a in row.attacks):
        path = layout.reference_paths(row.seed, row.defense, row.level)[1]
        ref = store.load_arrays(path)
        if not np.array_equal(ref["member"].astype(bool), member):
            raise ValueError(f"{path}: its members differ from the attack scores' ({row.variant} {row.level})")
        scores.update({k: v for k, v in ref.items() if k in row.attacks and k not in scores})
    missing = [a for a in row.attacks if a not in scores]
    if missing:
        raise ValueError(f"{row.variant} {row.level}: no per-sample scores for {missing}")
    return member, {a: np.asarray(scores[a], dtype=float) for a in row.attacks}


def cross_fitted(rows: list[Row], load: Loader = row_scores) -> dict[tuple[str, str], stats.CrossFit]:
    """The best attack of each (variant, level), cross-fitted over every attack it has on each
    training seed's row; over several seeds the AUCs are their mean and the picks every seed's."""
    per: dict[tuple[str, str], list[stats.CrossFit]] = {}
    for r in rows:
        member, scores = load(r)
        per.setdefault((r.variant, r.level), []).append(stats.cross_fitted_best(member, scores, seed=0))
    out = {}
    for key, fits in per.items():
        held = tuple(float(np.mean([f.held_out[i] for f in fits])) for i in (0, 1))
        label = "cross-fitted" if len(fits) == 1 else f"cross-fitted, mean over {len(fits)} seeds"
        out[key] = stats.CrossFit(float(np.mean([f.auc for f in fits])), held, tuple(p for f in fits for p in f.picks),
                                  float(np.mean([f.naive_auc for f in fits])), label)
    return out


def collect(
    seeds: Sequence[int], defenses: list[str], releases: list[str], methods: list[str], sparsities: list[float],
    reference_defenses: Sequence[str] = (),
) -> list[Row]:
    """Read results/seed-<k>/<defense>/<level>.json for every training seed and configured
    variant, dense first; for the defenses in ``reference_defenses``, LiRA and RMIA
    (<level>-reference.json) join the full-posterior row. One row per seed, seeds outermost."""
    rows = []
    levels = layout.levels(methods, sparsities)
    for seed in seeds:
        for defense in defenses:
            for level in levels:
                result = store.read_json(layout.result_paths(seed, defense, level)[0])
                extra = (store.read_json(layout.reference_paths(seed, defense, level)[0])["attacks"]["none"]
                         if defense in reference_defenses else {})
                for rel in ["none", *releases]:
                    nonadaptive = result.get("nonadaptive") if rel == "none" else None
                    attacks = {**result["attacks"][rel], **extra} if rel == "none" else result["attacks"][rel]
                    rows.append(Row(defense, rel, level, result["target"]["sparsity"], result["target"], attacks,
                                    nonadaptive, seed))
    return rows


def mean_tree(trees: Sequence):
    """The element-wise mean of JSON-like values of the same shape (one per training seed).

    Numbers are averaged unless all are equal (then the value itself: counts stay integers, and a
    number every seed shares is not rounded by the division), mappings and equal-length lists are
    averaged entry by entry; anything else (strings, booleans, None, shapes that differ) is taken
    from the first value."""
    first = trees[0]
    if len(trees) == 1:
        return first
    if isinstance(first, dict) and all(isinstance(t, dict) for t in trees):
        return {k: mean_tree([t[k] for t in trees]) if all(k in t for t in trees) else v for k, v in first.items()}
    if isinstance(first, list) and all(isinstance(t, list) and len(t) == len(first) for t in trees):
        return [mean_tree([t[i] for t in trees]) for i in range(len(first))]
    numbers = [t for t in trees if isinstance(t, (int, float)) and not isinstance(t, bool)]
    if len(numbers) == len(trees):
        if all(t == first for t in numbers):
            return first
        return float(np.mean(numbers))
    return first


def mean_over_seeds(records: Sequence[dict]) -> dict:
    """One JSON record per training seed (a stage's results file), averaged by :func:`mean_tree`;
    the records' own ``seed`` key is dropped."""
    return mean_tree([{k: v for k, v in r.items() if k != "seed"} for r in records])


def seed_means(rows: list[Row]) -> list[Row]:
    """One row per (variant, level): every number the mean over its training seeds, in the first
    seed's order; each attack gains ``auc_seed_sd`` (the sd of its AUC over seeds) when there are
    two or more."""
    groups: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        groups.setdefault((r.variant, r.level), []).append(r)
    out = []
    for group in groups.values():
        first = group[0]
        if len(group) == 1:
            out.append(first)
            continue
        attacks = mean_tree([r.attacks for r in group])
        for name in attacks:
            if all(name in r.attacks for r in group):
                attacks[name] = {**attacks[name], "auc_seed_sd": float(np.std([r.attacks[name]["auc"] for r in group], ddof=1))}
        nonadaptive = mean_tree([r.nonadaptive for r in group]) if all(r.nonadaptive for r in group) else first.nonadaptive
        out.append(Row(first.defense, first.release, first.level, float(np.mean([r.sparsity for r in group])),
                       mean_tree([r.target for r in group]), attacks, nonadaptive, first.seed, len(group)))
    return out


def auc_spread(metrics: dict) -> tuple[float, str]:
    """The spread shown beside a mean AUC: its sd over training seeds when there are several, else
    the bootstrap sd over the evaluation set (0 when neither was computed), and which it is."""
    if "auc_seed_sd" in metrics:
        return metrics["auc_seed_sd"], "sd over seeds"
    return metrics.get("auc_std", 0.0), "bootstrap sd"


def summary_metrics(rows: list[Row], preference: Sequence[str],
                    crossfit: dict[tuple[str, str], stats.CrossFit]) -> dict:
    """Compact numbers for `dvc metrics show` / `dvc exp show`: per variant and level, the headline
    attack (``preference``) and the cross-fitted best of every attack (``crossfit``, from
    :func:`cross_fitted`), means over the training seeds (``rows`` per seed, from :func:`collect`)."""
    out: dict = {}
    for r in seed_means(rows):
        name, head = r.headline(preference)
        cf = crossfit[(r.variant, r.level)]
        entry = {
            "sparsity": round(r.sparsity, 4),
            "train_acc": round(r.target["train_acc"], 4),
            "test_acc": round(r.target["test_acc"], 4),
            "headline_attack": name,
            "seeds": r.n_seeds,
            "headline_auc": round(head["auc"], 4),
            **({"headline_auc_seed_sd": round(head["auc_seed_sd"], 4)} if "auc_seed_sd" in head else {}),
            "headline_tpr_at_1pct_fpr": round(head["tpr_at_1pct_fpr"], 4),
            "crossfit_best_auc": round(cf.auc, 4),
            "crossfit_best_attacks": list(cf.picks),
            "shokri_auc": round(r.attacks["shokri_sorted"]["auc"], 4),
            "loss_auc": round(r.attacks["loss_global"]["auc"], 4),
        }
        if "lira_online" in r.attacks:
            entry["lira_auc"] = round(r.attacks["lira_online"]["auc"], 4)
            entry["lira_tpr_at_1pct_fpr"] = round(r.attacks["lira_online"]["tpr_at_1pct_fpr"], 4)
        out.setdefault(r.variant, {})[r.level] = entry
    return out


def _fmt(x: float) -> str:
    return f"{x:.3f}"


def scope_line(scope: str, output_layer: bool) -> str:
    """What the unstructured methods rank (``prune.scope``, ``prune.output_layer``), in words."""
    where = "one magnitude ranking over" if scope == "global" else "a separate ranking in each of"
    layers = "every Conv2d and Linear layer, the output layer included" if output_layer else \
        "every Conv2d and Linear layer except the output layer, which is kept whole"
    return (f"Pruning scope: {where} {layers} (`prune.scope: {scope}`, `prune.output_layer: "
            f"{str(output_layer).lower()}`); structured methods prune filters or channels.")


def markdown(rows: list[Row], transfer: dict | None, preference: Sequence[str],
             crossfit: dict[tuple[str, str], stats.CrossFit], verdict_lines: list[str], scope: str = "") -> str:
    """The summary table (variant x attack) and the dense-vs-ticket comparison, as Markdown;
    ``rows`` per training seed (:func:`collect`; the tables show their means), ``verdict_lines``
    from :func:`verdicts`, ``scope`` from :func:`scope_line`."""
    seeds = list(dict.fromkeys(r.seed for r in rows))
    rows = seed_means(rows)
    attacks = list(rows[0].attacks)
    spread = "sd over seeds" if len(seeds) > 1 else "bootstrap sd"
    lines = [
        "# TicketLeak summary",
        "",
        "Attack AUC (balanced accuracy in brackets) on the target's members against as many",
        "non-members. Attacks are fitted on shadow models trained, pruned and defended like the",
        "target. `level` is `dense` or `<method>-<asked sparsity>`; `sparsity` is measured from the target's weights.",
        (f"Training seeds {', '.join(map(str, seeds))}: every model is trained once per seed on the same data splits; "
         f"each figure below is the mean over the {len(seeds)} seed{'s' * (len(seeds) != 1)}, and the verdicts are drawn "
         "from the per-seed differences."),
        *([scope] if scope else []),
        "",
        "## Dense network vs lottery tickets",
        "",
        "`headline attack` is named before looking at the results (`attack.headline`): the first of",
        f"{', '.join(f'`{a}`' for a in preference)} the variant has. `cross-fitted best` is the best of every",
        "attack chosen on one half of the evaluation samples and scored on the other (both ways,",
        "averaged; the two picks in brackets); every attack's own figure is in the second table.",
        "",
        (f"| variant | level | sparsity | train acc | test acc | headline attack | AUC ({spread}) | acc | TPR@1%FPR "
         "| cross-fitted best AUC |"),
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        name, b = r.headline(preference)
        sd = f" ({auc_spread(b)[0]:.3f})" if "auc_std" in b or "auc_seed_sd" in b else ""
        cf = crossfit[(r.variant, r.level)]
        picks = ", ".join(dict.fromkeys(cf.picks))
        lines.append(
            f"| {r.variant} | {r.level} | {r.sparsity:.3f} | {_fmt(r.target['train_acc'])} | {_fmt(r.target['test_acc'])} "
            f"| {name} | {_fmt(b['auc'])}{sd} | {_fmt(b['accuracy'])} | {_fmt(b['tpr_at_1pct_fpr'])} | {_fmt(cf.auc)} ({picks}) |"
        )
    lines += ["", "## Every attack", "", "| variant | level | " + " | ".join(attacks) + " |", "|---|---|" + "---|" * len(attacks)]
    for r in rows:
        cells = [f"{r.attacks[a]['auc']:.3f} ({r.attacks[a]['accuracy']:.3f})" if a in r.attacks else "-" for a in attacks]
        lines.append(f"| {r.variant} | {r.level} | " + " | ".join(cells) + " |")
    lines += low_fpr_lines(rows)
    lines += ["", "## Verdict per variant (headline-attack AUC, pruned minus dense, paired)", ""]
    lines += verdict_lines
    lines += ["", *tradeoff_lines(rows, preference)]
    if transfer and transfer["blind"]:
        lines += [
            "",
            "## Attacker without knowledge of the pruning method (undefended, Shokri MLP AUC)",
            "",
            "Shadows pruned like the target (`matching`), left dense, or pruned by each other method",
            "at the same sparsity (mean). The full source x target matrix is `plots/transfer_heatmap.png`.",
            "",
            "| target | matching | dense shadows | other methods (mean) |",
            "|---|---|---|---|",
        ]
        for target, row in transfer["blind"].items():
            other = f"{row['other_methods_mean']:.3f}" if "other_methods_mean" in row else "-"
            lines.append(f"| {target} | {row['matching']:.3f} | {row['dense_shadows']:.3f} | {other} |")
    return "\n".join(lines) + "\n"


def low_fpr_lines(rows: list[Row]) -> list[str]:
    """Every attack judged where it matters for privacy: TPR at 1% and 0.1% FPR (full posterior)."""
    lines = [
        "",
        "## Every attack at low false-positive rates (full posterior)",
        "",
        "AUC / TPR@1%FPR / TPR@0.1%FPR. LiRA and RMIA use reference models trained and pruned like the",
        "target (`attack.reference`); with fewer than 1,000 non-members TPR@0.1%FPR is the TPR at zero false positives.",
        "",
        "| variant | level | attack | AUC | TPR@1%FPR | TPR@0.1%FPR |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r.release != "none":
            continue
        for name, a in r.attacks.items():
            lines.append(f"| {r.variant} | {r.level} | {name} | {a['auc']:.3f} | {a['tpr_at_1pct_fpr']:.3f} | {a['tpr_at_0.1pct_fpr']:.3f} |")
    return lines


def per_class_lines(per_class: dict[str, dict[str, dict]], classes: list[str]) -> list[str]:
    """Per-class AUC of each attack (``per_class``: level -> attack -> class -> metrics) as a table:
    which classes leak most, dense vs pruned."""
    lines = ["", "## Per-class breakdown (undefended, full posterior, AUC)", ""]
    lines += ["| level | attack | " + " | ".join(classes) + " |", "|---|---|" + "---|" * len(classes)]
    for level, attacks in per_class.items():
        for name, by_class in attacks.items():
            cells = [f"{by_class[str(c)]['auc']:.3f}" if str(c) in by_class else "-" for c in range(len(classes))]
            lines.append(f"| {level} | {name} | " + " | ".join(cells) + " |")
    return lines


@dataclass(frozen=True)
class Comparison:
    """One pruned level against its dense parent (same variant and training seed), headline AUC, paired."""

    variant: str
    level: str
    attack: str
    dense_auc: float
    pruned_auc: float
    paired: stats.Paired  # pruned minus dense over the shared evaluation samples
    n_samples: int
    seed: int = 0


def floor_excluded(rows: list[Row], num_classes: int) -> dict[tuple[str, str], float]:
    """(defense, level) -> the lowest test accuracy over its training seeds, for every target
    whose accuracy on some seed is below ``UTILITY_FLOOR`` x chance."""
    floor = UTILITY_FLOOR / num_classes
    low: dict[tuple[str, str], float] = {}
    for r in rows:
        if r.target["test_acc"] < floor:
            key = (r.defense, r.level)
            low[key] = min(low.get(key, 1.0), r.target["test_acc"])
    return low


def comparisons(rows: list[Row], preference: Sequence[str], num_classes: int, load: Loader = row_scores,
                n: int = BOOTSTRAP, seed: int = BOOTSTRAP_SEED) -> list[Comparison]:
    """Every pruned level against the dense model of its variant and training seed, on the
    headline attack: the paired bootstrap of the AUC difference over the samples both targets were
    scored on. Models below the utility floor (:func:`floor_excluded`) are left out, with their
    dense or pruned partner."""
    low = floor_excluded(rows, num_classes)
    out = []
    for train_seed, variant in dict.fromkeys((r.seed, r.variant) for r in rows):
        group = [r for r in rows if r.variant == variant and r.seed == train_seed]
        dense = next(r for r in group if r.level == layout.DENSE)
        if (dense.defense, dense.level) in low:
            continue
        name, d = dense.headline(preference)
        member, dense_scores = load(dense)
        for r in group:
            if r is dense or (r.defense, r.level) in low:
                continue
            pname, t = r.headline(preference)
            if pname != name:
                raise ValueError(f"{variant}: the headline attack is {name} for dense but {pname} for {r.level}")
            pmember, pruned_scores = load(r)
            if not np.array_equal(member, pmember):
                raise ValueError(f"{variant}: dense and {r.level} were not scored on the same samples in the same order")
            paired = stats.paired_bootstrap(member, dense_scores[name], pruned_scores[name], stats.auc, n=n, seed=seed)
            out.append(Comparison(variant, r.level, name, d["auc"], t["auc"], paired, int(member.size), train_seed))
    return out


def verdicts(rows: list[Row], preference: Sequence[str], margin: float, num_classes: int,
             load: Loader = row_scores, n: int = BOOTSTRAP, seed: int = BOOTSTRAP_SEED) -> list[str]:
    """Is each pruned model more, less or equally vulnerable than its dense parent? Per training
    seed, the paired difference of the headline AUC over the shared samples; then, per seed paper's
    claim (:data:`CLAIMS`), the verdict over the training seeds (:func:`stats.verdict`: fewer than
    3 seeds never decide) and a tally that counts the comparisons sharing a dense model once."""
    if not any(r.level != layout.DENSE for r in rows):
        return ["No pruned level in this run (`prune.methods: []`): dense models only."]
    low = floor_excluded(rows, num_classes)
    comps = comparisons(rows, preference, num_classes, load, n, seed)
    out = []
    found: dict[str, list[stats.Verdict]] = {who: [] for who, _, _ in CLAIMS}
    pairs: dict[tuple[str, str], list[Comparison]] = {}
    for c in comps:
        pairs.setdefault((c.variant, c.level), []).append(c)
    for (variant, level), cs in pairs.items():
        k = len(cs)
        out.append(
            f"- {variant}, {level} ({cs[0].attack}): AUC {np.mean([c.pruned_auc for c in cs]):.3f} vs dense "
            f"{np.mean([c.dense_auc for c in cs]):.3f} (mean over {k} seed{'s' * (k != 1)}); per seed, pruned minus "
            f"dense with its {cs[0].paired.level:.0%} paired-bootstrap interval over the {cs[0].n_samples} shared samples: "
            + "; ".join(f"seed {c.seed} {c.paired.diff:+.3f} [{c.paired.ci[0]:+.3f}, {c.paired.ci[1]:+.3f}]" for c in cs)
        )
        diffs = [c.paired.diff for c in cs]
        for who, claim, expected in CLAIMS:
            v = stats.verdict(diffs, margin, expected)
            found[who].append(v)
            out.append(f"  - {who} claims {claim} (expected {expected}): {v.text}")
    if low:
        chance = 1 / num_classes
        left = ", ".join(f"{d} {lv} ({acc:.3f})" for (d, lv), acc in low.items())
        out += ["", (f"Left out of the verdicts (test accuracy below {UTILITY_FLOOR:g} x chance = "
                     f"{UTILITY_FLOOR * chance:.3f} for {num_classes} classes on at least one training seed, the "
                     f"lowest in brackets; too poor a model for its leakage to say anything about pruning; with it, "
                     f"its dense or pruned partner): {left}.")]
    if comps:
        # Pruned levels of one training-time defense share its dense models, and its release-time
        # variants only change what those same models release: one independent baseline each.
        independent = len({variant.split("+")[0] for variant, _ in pairs})
        out.append("")
        for who, claim, expected in CLAIMS:
            out.append(f"Tally, {who} ({claim}): {stats.tally(found[who], independent)}")
    else:
        out.append("No dense-vs-pruned comparison is left above the utility floor.")
    return out


def tradeoff_lines(rows: list[Row], preference: Sequence[str]) -> list[str]:
    """The privacy-utility table: per variant and level, utility beside the headline attack."""
    lines = [
        "## Privacy-utility trade-off",
        "",
        "Adaptive attacker (shadows defended like the target) unless noted; `non-adaptive` fits the",
        "attacks on undefended shadows. epsilon: DP-SGD's privacy budget at its delta.",
        "",
        "| variant | level | test acc | train-test gap | headline AUC | headline TPR@1%FPR | non-adaptive headline AUC | epsilon |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        t = r.target
        _, head = r.headline(preference)
        na_name = next((a for a in preference if a in (r.nonadaptive or {})), None)
        na = f"{r.nonadaptive[na_name]['auc']:.3f}" if na_name else "-"
        eps = f"{t['epsilon']:.2f}" if t.get("epsilon") is not None else "-"
        lines.append(
            f"| {r.variant} | {r.level} | {t['test_acc']:.3f} | {t['train_acc'] - t['test_acc']:+.3f} | {head['auc']:.3f} "
            f"| {head['tpr_at_1pct_fpr']:.3f} | {na} | {eps} |"
        )
    return lines
