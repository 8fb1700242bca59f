"""ticketleak/report.py: the headline attack, the paired dense-vs-pruned verdicts and the summary."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from ticketleak import plots, report, stats
from ticketleak.core import layout, store
from ticketleak.report import Row

PREFERENCE = ["lira_offline_fixed", "loss_class"]
PRUNED = "lth_oneshot-0.9"
N = 60  # members, and as many non-members


def _metrics(auc: float) -> dict:
    return {"auc": auc, "accuracy": auc, "tpr_at_1pct_fpr": auc / 10, "tpr_at_0.1pct_fpr": 0.0}


def _row(defense="none", level="dense", release="none", test_acc=0.9, lira=True, seed=0, auc=0.6) -> Row:
    attacks = {"shokri_sorted": _metrics(0.52), "loss_global": _metrics(0.53), "loss_class": _metrics(0.55)}
    if lira:
        attacks["lira_offline_fixed"] = _metrics(auc)
    target = {"train_acc": 1.0, "test_acc": test_acc, "sparsity": layout.parse_level(level)[1], "epsilon": None}
    return Row(defense, release, level, target["sparsity"], target, attacks, None, seed)


def _write_scores(defense: str, level: str, seed: int, member: np.ndarray, releases=("none", "topk"), lira=True,
                  train_seed: int = 0) -> dict:
    """Per-sample scores as stages/attack.py and stages/reference.py save them (under training seed
    ``train_seed``; ``seed`` draws them); returns them by name."""
    rng = np.random.default_rng(seed)
    arrays = {"member": member, "labels": rng.integers(0, 10, member.size)}
    for rel in releases:
        for name in ("shokri_sorted", "loss_global", "loss_class"):
            arrays[f"{rel}/{name}"] = rng.normal(size=member.size) + 0.3 * member
    scores_path = layout.result_paths(train_seed, defense, level)[1]
    scores_path.parent.mkdir(parents=True, exist_ok=True)
    store.save_arrays(scores_path, arrays)
    if lira:
        ref = {"member": member, "labels": arrays["labels"], "lira_offline_fixed": rng.normal(size=member.size) + 0.5 * member}
        store.save_arrays(layout.reference_paths(train_seed, defense, level)[1], ref)
        arrays["lira_offline_fixed"] = ref["lira_offline_fixed"]
    return arrays


@pytest.fixture
def scored(tmp_path, monkeypatch):
    """Dense and pruned undefended targets scored on the same samples, in a scratch results/."""
    monkeypatch.chdir(tmp_path)
    member = np.repeat([True, False], N)
    return {level: _write_scores("none", level, seed, member) for seed, level in enumerate(("dense", PRUNED))}


def test_headline_is_the_first_preferred_attack_the_row_has():
    assert report.Row.headline(_row(), PREFERENCE)[0] == "lira_offline_fixed"
    name, metrics = _row(lira=False).headline(PREFERENCE)
    assert name == "loss_class" and metrics["auc"] == 0.55  # falls back, even though it is not the best
    assert _row().headline(["loss_global", "lira_offline_fixed"])[0] == "loss_global"
    with pytest.raises(ValueError, match="none of the headline attacks"):
        _row().headline(["rmia_offline"])


def test_paired_difference_is_the_paired_bootstrap_of_the_same_arrays(scored):
    rows = [_row(), _row(level=PRUNED)]
    (c,) = report.comparisons(rows, PREFERENCE, num_classes=10, n=200)
    member = scored["dense"]["member"]
    expected = stats.paired_bootstrap(member, scored["dense"]["lira_offline_fixed"], scored[PRUNED]["lira_offline_fixed"],
                                      stats.auc, n=200, seed=0)
    assert c.attack == "lira_offline_fixed" and c.n_samples == 2 * N
    assert c.paired == expected


def test_release_rows_use_the_released_scores(scored):
    rows = [_row(release="topk", lira=False), _row(level=PRUNED, release="topk", lira=False)]
    (c,) = report.comparisons(rows, PREFERENCE, num_classes=10, n=50)
    member = scored["dense"]["member"]
    expected = stats.paired_bootstrap(member, scored["dense"]["topk/loss_class"], scored[PRUNED]["topk/loss_class"],
                                      stats.auc, n=50, seed=0)
    assert c.variant == "none+topk" and c.attack == "loss_class" and c.paired == expected


def test_one_training_seed_gives_no_evidence_either_way(scored):
    rows = [_row(), _row(level=PRUNED), _row(release="topk", lira=False), _row(level=PRUNED, release="topk", lira=False)]
    lines = report.verdicts(rows, PREFERENCE, 0.02, num_classes=10, n=100)
    text = "\n".join(lines)
    assert f"- none, {PRUNED} (lira_offline_fixed): AUC 0.600 vs dense 0.600 (mean over 1 seed)" in text
    assert f"paired-bootstrap interval over the {2 * N} shared samples: seed 0 " in text
    claims = [line for line in lines if line.startswith("  - seed")]
    assert len(claims) == 4  # two claims per comparison
    assert all("no evidence either way" in line and "fewer than 3 training seeds" in line for line in claims)
    assert any("(expected equal)" in line for line in claims) and any("(expected greater)" in line for line in claims)
    tallies = [line for line in lines if line.startswith("Tally")]
    # none and none+topk release the same two trained models: one independent baseline
    assert tallies and all("0 agree, 0 disagree, 2 no evidence (2 comparisons sharing 1 independent baseline)" in t
                           for t in tallies)


def test_models_below_the_utility_floor_are_left_out_with_a_line(scored, tmp_path):
    member = scored["dense"]["member"]
    _write_scores("dpsgd", "dense", 5, member, releases=("none",), lira=False)
    _write_scores("dpsgd", PRUNED, 6, member, releases=("none",), lira=False)
    rows = [_row(), _row(level=PRUNED), _row("dpsgd", lira=False), _row("dpsgd", PRUNED, test_acc=0.12, lira=False)]
    assert report.floor_excluded(rows, 10) == {("dpsgd", PRUNED): 0.12}  # floor 0.15
    lines = report.verdicts(rows, PREFERENCE, 0.02, num_classes=10, n=50)
    assert not any(line.startswith("- dpsgd") for line in lines)
    (left,) = [line for line in lines if line.startswith("Left out")]
    assert f"dpsgd {PRUNED} (0.120)" in left and "1.5 x chance = 0.150 for 10 classes" in left
    assert "(1 comparison)" in lines[-1] or "(1 independent comparison)" in lines[-1]
    # above the floor (1.5 / 100 classes), the same model is compared
    assert any(line.startswith("- dpsgd") for line in report.verdicts(rows, PREFERENCE, 0.02, num_classes=100, n=50))


def test_dense_and_pruned_must_share_their_samples(scored):
    member = scored["dense"]["member"]
    _write_scores("none", PRUNED, 9, member[::-1].copy())
    with pytest.raises(ValueError, match="same samples"):
        report.comparisons([_row(), _row(level=PRUNED)], PREFERENCE, num_classes=10, n=10)


def test_summary_metrics_headline_and_cross_fitted_best(scored):
    rows = [_row(), _row(level=PRUNED), _row(release="topk", lira=False), _row(level=PRUNED, release="topk", lira=False)]
    crossfit = report.cross_fitted(rows)
    summary = report.summary_metrics(rows, PREFERENCE, crossfit)
    assert set(summary) == {"none", "none+topk"}
    entry = summary["none"]["dense"]
    assert entry["headline_attack"] == "lira_offline_fixed" and entry["headline_auc"] == 0.6
    assert entry["headline_tpr_at_1pct_fpr"] == 0.06
    expected = stats.cross_fitted_best(scored["dense"]["member"], {
        "lira_offline_fixed": scored["dense"]["lira_offline_fixed"],
        **{a: scored["dense"][f"none/{a}"] for a in ("shokri_sorted", "loss_global", "loss_class")},
    })
    assert entry["crossfit_best_auc"] == round(expected.auc, 4)
    assert entry["crossfit_best_attacks"] == list(expected.picks)
    assert summary["none+topk"][PRUNED]["headline_attack"] == "loss_class"
    assert not any(k.startswith("best_") for v in summary.values() for e in v.values() for k in e)
    md = report.markdown(rows, None, PREFERENCE, crossfit, report.verdicts(rows, PREFERENCE, 0.02, 10, n=20))
    assert "| headline attack |" in md and "cross-fitted best AUC" in md and "no evidence either way" in md


def test_attack_vs_sparsity_table_has_the_headline_column(scored, tmp_path):
    rows = [_row(), _row(level=PRUNED)]
    out = tmp_path / "plots"
    out.mkdir()
    plots.data_tables(rows, out, PREFERENCE)
    with (out / "attack_vs_sparsity.csv").open() as f:
        table = list(csv.DictReader(f))
    assert [float(r["headline"]) for r in table] == [0.6, 0.6]
    assert "best" not in table[0]


@pytest.mark.parametrize(
    "key, value",
    [("headline", []), ("headline", [3]), ("margin", 0.0), ("margin", 0.5), ("margin", -0.01)],
)
def test_headline_and_margin_params_are_checked(raw_params, key, value):
    from ticketleak.core import params

    assert params.validate(raw_params).attack.headline[0] == "lira_offline_fixed"
    raw_params["attack"][key] = value
    with pytest.raises(params.ParamsError, match=f"attack.{key}"):
        params.validate(raw_params)


def _three_seeds(member: np.ndarray, pruned_shift: float) -> list[Row]:
    """Dense and pruned undefended rows on training seeds 0-2, the pruned scores the dense ones
    plus ``pruned_shift`` x membership (0: the same ranking, so every paired difference is 0)."""
    rows = []
    for k in range(3):
        dense = _write_scores("none", "dense", 10 + k, member, releases=("none",), train_seed=k)
        pruned = {"member": member, "labels": dense["labels"], "lira_offline_fixed": dense["lira_offline_fixed"] + pruned_shift * member}
        for name in ("shokri_sorted", "loss_global", "loss_class"):
            pruned[f"none/{name}"] = dense[f"none/{name}"]
        store.save_arrays(layout.result_paths(k, "none", PRUNED)[1], {x: v for x, v in pruned.items() if x != "lira_offline_fixed"})
        store.save_arrays(layout.reference_paths(k, "none", PRUNED)[1],
                          {"member": member, "labels": dense["labels"], "lira_offline_fixed": pruned["lira_offline_fixed"]})
        d_auc = stats.auc(member, dense["lira_offline_fixed"])
        p_auc = stats.auc(member, pruned["lira_offline_fixed"])
        rows += [_row(seed=k, auc=d_auc), _row(level=PRUNED, seed=k, auc=p_auc)]
    return rows


def test_verdicts_are_drawn_over_training_seeds(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    member = np.repeat([True, False], N)
    same = report.verdicts(_three_seeds(member, 0.0), PREFERENCE, 0.02, num_classes=10, n=50)
    (line,) = [x for x in same if x.startswith("- none,")]
    assert "mean over 3 seeds" in line and all(f"seed {k} +0.000" in line for k in range(3))
    claims = {x.split(" claims")[0].strip("- "): x for x in same if x.startswith("  - seed")}
    assert claims["seed 000"].split(": ", 1)[1].startswith("agrees: +0.000 [+0.000, +0.000] over 3 seeds")
    assert "disagrees" in claims["seed 002"]  # no effect, shown by the equivalence test
    more = report.verdicts(_three_seeds(member, 1.5), PREFERENCE, 0.02, num_classes=10, n=50)
    claims = {x.split(" claims")[0].strip("- "): x for x in more if x.startswith("  - seed")}
    assert ": agrees:" in claims["seed 002"] and ": disagrees:" in claims["seed 000"]
    assert [x for x in more if x.startswith("Tally, seed 002")][0].endswith("1 agrees, 0 disagree, 0 no evidence (1 independent comparison)")


def test_seed_means_average_every_number_and_give_the_sd_over_seeds():
    rows = [_row(seed=0, auc=0.6), _row(seed=1, auc=0.7), _row(seed=2, auc=0.8), _row(level=PRUNED, seed=0)]
    dense, pruned = report.seed_means(rows)
    assert (dense.n_seeds, dense.seed, pruned.n_seeds) == (3, 0, 1)
    assert dense.attacks["lira_offline_fixed"]["auc"] == pytest.approx(0.7)
    assert dense.attacks["lira_offline_fixed"]["auc_seed_sd"] == pytest.approx(0.1)
    assert report.auc_spread(dense.attacks["lira_offline_fixed"]) == (pytest.approx(0.1), "sd over seeds")
    assert "auc_seed_sd" not in pruned.attacks["lira_offline_fixed"]
    assert report.mean_tree([{"a": 1, "b": [1.0, 2.0], "c": "x", "n": 5}, {"a": 2, "b": [3.0, 4.0], "c": "y", "n": 5}]) == \
        {"a": 1.5, "b": [2.0, 3.0], "c": "x", "n": 5}


def test_collect_reads_every_training_seed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for k in (0, 3):
        for level in ("dense", PRUNED):
            store.write_json(layout.result_paths(k, "none", level)[0], {
                "target": {"sparsity": 0.0, "train_acc": 1.0, "test_acc": 0.9 + k / 100},
                "attacks": {"none": {"loss_class": _metrics(0.5 + k / 10)}}})
    rows = report.collect([0, 3], ["none"], [], ["lth_oneshot"], [0.9])
    assert [(r.seed, r.level) for r in rows] == [(0, "dense"), (0, PRUNED), (3, "dense"), (3, PRUNED)]
    assert rows[2].attacks["loss_class"]["auc"] == 0.8 and rows[2].target["test_acc"] == 0.93
    with pytest.raises(FileNotFoundError):
        report.collect([1], ["none"], [], [], [])
