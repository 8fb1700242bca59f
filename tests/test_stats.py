"""ticketleak.stats on simulated data whose answer is known."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from ticketleak.stats import (
    AGREES,
    DISAGREES,
    NO_EVIDENCE,
    auc,
    balanced_accuracy,
    cross_fitted_best,
    paired_bootstrap,
    seed_level,
    tally,
    tost,
    tpr_at_fpr,
    verdict,
)


def balanced(n: int) -> np.ndarray:
    """n members followed by n non-members."""
    return np.r_[np.ones(n, bool), np.zeros(n, bool)]


def seed_diffs(rng, n_seeds: int, effect_a: float, effect_b: float, n: int = 300) -> list[float]:
    """AUC(b) - AUC(a) for independent seeds; each model's score is effect * member + noise."""
    member = balanced(n)
    out = []
    for _ in range(n_seeds):
        a = effect_a * member + rng.normal(size=2 * n)
        b = effect_b * member + rng.normal(size=2 * n)
        out.append(auc(member, b) - auc(member, a))
    return out


# --- point metrics -------------------------------------------------------------------------------

def test_auc_matches_sklearn_with_ties():
    rng = np.random.default_rng(1)
    for _ in range(5):
        member = rng.random(301) < 0.4
        score = np.round(rng.normal(size=301) + member, 1)  # rounding makes plenty of ties
        assert auc(member, score) == pytest.approx(roc_auc_score(member, score), abs=1e-12)
    assert auc([True, False], [0.3, 0.3]) == 0.5


def test_auc_rejects_one_class():
    with pytest.raises(ValueError, match="both"):
        auc(np.ones(4, bool), np.arange(4.0))


def test_tpr_at_fpr_hand_made():
    member = np.array([1, 1, 1, 0, 0, 0, 0], bool)
    score = np.array([0.9, 0.8, 0.4, 0.7, 0.3, 0.2, 0.1])
    assert tpr_at_fpr(member, score, 0.0) == pytest.approx(2 / 3)  # threshold 0.8
    assert tpr_at_fpr(member, score, 0.2) == pytest.approx(2 / 3)  # one false positive is 0.25
    assert tpr_at_fpr(member, score, 0.25) == 1.0  # threshold 0.4 lets in the non-member at 0.7
    assert tpr_at_fpr(member, score, 1.0) == 1.0


def test_tpr_at_fpr_never_splits_a_tie():
    member = np.array([1, 1, 0, 0], bool)
    score = np.array([0.9, 0.5, 0.9, 0.1])  # the top member is tied with a non-member
    assert tpr_at_fpr(member, score, 0.0) == 0.0
    assert tpr_at_fpr(member, score, 0.5) == 1.0


# --- paired bootstrap ----------------------------------------------------------------------------

def test_identical_scores_give_zero_difference_and_zero_width():
    rng = np.random.default_rng(2)
    member = balanced(100)
    score = member + rng.normal(size=200)
    p = paired_bootstrap(member, score, score.copy(), auc, n=200)
    assert p.diff == 0 and p.sd == 0 and p.ci == (0.0, 0.0)


def test_paired_bootstrap_is_deterministic_and_keeps_balance():
    rng = np.random.default_rng(3)
    member = balanced(80)
    a, b = member + rng.normal(size=160), 1.5 * member + rng.normal(size=160)
    seen = []

    def metric(m, s):
        seen.append(int(m.sum()))
        return auc(m, s)

    p1 = paired_bootstrap(member, a, b, metric, n=100, seed=7)
    p2 = paired_bootstrap(member, a, b, auc, n=100, seed=7)
    assert p1 == p2
    assert set(seen) == {80}  # every resample holds exactly the 80 members
    assert p1.diff == pytest.approx(auc(member, b) - auc(member, a))
    assert p1.ci[0] < p1.diff < p1.ci[1]


def test_paired_bootstrap_of_auc_in_blocks_equals_one_resample_at_a_time():
    """The block computation for :func:`auc` gives the loop's numbers exactly, ties and an
    interleaved membership vector included (members are not stored first)."""
    rng = np.random.default_rng(11)
    member = rng.permutation(balanced(70))
    a = np.round(member + rng.normal(size=140), 1)  # rounded: many tied scores
    b = np.round(0.5 * member + rng.normal(size=140), 1)
    looped = paired_bootstrap(member, a, b, lambda m, s: auc(m, s), n=150, seed=5)
    blocked = paired_bootstrap(member, a, b, auc, n=150, seed=5)
    assert blocked == looped


def test_paired_sd_much_smaller_than_unpaired_when_scores_correlate():
    rng = np.random.default_rng(4)
    member = balanced(300)
    a = member + rng.normal(size=600)
    b = a + 0.05 * rng.normal(size=600)
    paired = paired_bootstrap(member, a, b, auc, n=300, seed=0)
    # unpaired: each model's AUC bootstrapped with its own resamples
    sd_a = paired_bootstrap(member, np.zeros(600), a, auc, n=300, seed=1).sd
    sd_b = paired_bootstrap(member, np.zeros(600), b, auc, n=300, seed=2).sd
    unpaired = np.hypot(sd_a, sd_b)
    assert paired.sd < unpaired / 5


def test_paired_bootstrap_with_tpr_metric():
    rng = np.random.default_rng(5)
    member = balanced(200)
    a = member + rng.normal(size=400)
    p = paired_bootstrap(member, a, a + 2.0 * member, lambda m, s: tpr_at_fpr(m, s, 0.05), n=100)
    assert p.diff > 0 and p.ci[0] > 0


# --- seed level ----------------------------------------------------------------------------------

def test_seed_level_known_values():
    s = seed_level([1.0, 2.0, 3.0])
    assert s.mean == 2.0 and s.se == pytest.approx(1 / np.sqrt(3)) and s.n == 3
    half = 4.302652729911275 / np.sqrt(3)  # t(0.975, df=2) * se
    assert s.ci == pytest.approx((2 - half, 2 + half))


def test_seed_level_needs_two_seeds():
    with pytest.raises(ValueError, match="at least 2 seeds"):
        seed_level([0.1])


def test_seed_level_coverage_when_true_difference_is_zero():
    rng = np.random.default_rng(6)
    hits = 0
    for _ in range(200):
        low, high = seed_level(rng.normal(0.0, 0.02, size=5)).ci
        hits += low <= 0 <= high
    assert 0.88 <= hits / 200 <= 0.99


def test_tost_known_values():
    t = tost([-0.01, 0.0, 0.01], margin=0.1)
    assert t.equivalent and t.p < 0.05
    lo, hi = seed_level([-0.01, 0.0, 0.01], alpha=0.10).ci
    assert t.ci == pytest.approx((lo, hi)) and -0.1 < lo and hi < 0.1
    assert not tost([-0.01, 0.0, 0.01], margin=0.005).equivalent
    assert tost([0.0, 0.0, 0.0], margin=0.01).p == 0.0
    with pytest.raises(ValueError, match="margin"):
        tost([0.0, 0.1, 0.2], margin=0)


# --- verdicts ------------------------------------------------------------------------------------

def test_strong_effect_agrees_with_greater_and_disagrees_with_less():
    diffs = seed_diffs(np.random.default_rng(7), 5, effect_a=0.2, effect_b=1.0)
    assert all(d > 0.1 for d in diffs)
    up = verdict(diffs, margin=0.02, expected="greater")
    assert up.outcome == AGREES and up.ci[0] > 0 and up.n_seeds == 5
    assert up.text.startswith("agrees: +0.") and "over 5 seeds (margin 0.02; equivalence: TOST p=" in up.text
    assert verdict(diffs, margin=0.02, expected="less").outcome == DISAGREES
    assert verdict(diffs, margin=0.02, expected="equal").outcome == DISAGREES


def test_pure_noise_equal_claim_depends_on_margin():
    diffs = seed_diffs(np.random.default_rng(8), 5, effect_a=0.5, effect_b=0.5)
    generous = verdict(diffs, margin=0.1, expected="equal")
    assert generous.outcome == AGREES and generous.tost_p < 0.05
    # the text shows the 90% interval TOST reads, inside the margin where the 95% one may not be
    low, high = generous.tost_ci
    assert -0.1 < low < generous.mean < high < 0.1 and generous.ci[0] < low and high < generous.ci[1]
    assert f"90% interval [{low:+.3f}, {high:+.3f}]" in generous.text and f"TOST p={generous.tost_p:.2g}" in generous.text
    tiny = verdict(diffs, margin=0.001, expected="equal")
    assert tiny.outcome == NO_EVIDENCE and tiny.ci[0] < 0 < tiny.ci[1]
    # a directional claim with equivalence shown: the claimed effect is absent
    assert verdict(diffs, margin=0.1, expected="greater").outcome == DISAGREES
    assert verdict(diffs, margin=0.001, expected="greater").outcome == NO_EVIDENCE


def test_two_seeds_never_give_a_verdict():
    rng = np.random.default_rng(9)
    strong = seed_diffs(rng, 2, effect_a=0.0, effect_b=2.0)
    noise = seed_diffs(rng, 2, effect_a=0.5, effect_b=0.5)
    for diffs in (strong, noise, [0.0, 0.0], [0.3]):
        for expected in ("greater", "less", "equal"):
            v = verdict(diffs, margin=0.5, expected=expected)
            assert v.outcome == NO_EVIDENCE
            assert v.reason == "fewer than 3 training seeds" and v.reason in v.text


def test_verdict_rejects_unknown_claim():
    with pytest.raises(ValueError, match="expected"):
        verdict([0.1, 0.2, 0.3], margin=0.1, expected="bigger")


def test_tally_states_independence():
    v = {o: verdict(d, 0.02, e) for o, d, e in [
        (AGREES, [0.1, 0.11, 0.12], "greater"),
        (DISAGREES, [0.1, 0.11, 0.12], "less"),
        (NO_EVIDENCE, [0.1, 0.2], "greater"),
    ]}
    vs = [v[AGREES]] * 3 + [v[DISAGREES]] + [v[NO_EVIDENCE]] * 2
    assert tally(vs, independent=2) == \
        "3 agree, 1 disagrees, 2 no evidence (6 comparisons sharing 2 independent baselines)"
    assert tally(iter(vs[:2]), independent=2) == "2 agree, 0 disagree, 0 no evidence (2 independent comparisons)"
    for bad in (0, 7):
        with pytest.raises(ValueError, match="independent"):
            tally(vs, independent=bad)


# --- cross-fitted choice of attack ---------------------------------------------------------------

def test_cross_fitting_removes_max_over_attacks_optimism():
    member = balanced(200)
    naive, fitted = [], []
    for seed in range(20):
        rng = np.random.default_rng(100 + seed)
        scores = {f"attack{i}": rng.normal(size=400) for i in range(10)}  # all pure noise
        cf = cross_fitted_best(member, scores, seed=seed)
        assert cf.label == "cross-fitted" and set(cf.picks) <= set(scores)
        naive.append(cf.naive_auc)
        fitted.append(cf.auc)
    assert np.mean(naive) > 0.53  # the best of 10 noise attacks looks like leakage
    assert abs(np.mean(fitted) - 0.5) < 0.02


def test_cross_fitting_finds_a_real_attack():
    rng = np.random.default_rng(11)
    member = balanced(200)
    scores = {"noise": rng.normal(size=400), "real": member + rng.normal(size=400)}
    cf = cross_fitted_best(member, scores)
    assert cf.picks == ("real", "real") and cf.auc > 0.7


def test_cross_fitting_scores_the_picked_attacks_decisions_on_the_held_out_half():
    rng = np.random.default_rng(12)
    member = balanced(200)
    scores = {"noise": rng.normal(size=400), "real": member + rng.normal(size=400)}
    decisions = {"noise": np.ones(400), "real": (scores["real"] > 0.5).astype(float)}
    cf = cross_fitted_best(member, scores, decisions=decisions)
    # "real" is picked on both halves, so the held-out accuracies average to its accuracy on all
    # samples (each half holds half of the members and half of the non-members)
    assert cf.picks == ("real", "real")
    called = decisions["real"] > 0.5
    assert cf.accuracy == pytest.approx(0.5 * (called[member].mean() + (~called[~member]).mean()), abs=1e-12)
    assert cross_fitted_best(member, scores).accuracy is None
    with pytest.raises(ValueError, match="same attacks"):
        cross_fitted_best(member, scores, decisions={"real": decisions["real"]})


def test_balanced_accuracy_weighs_members_and_non_members_alike():
    member = np.array([1, 1, 1, 1, 0, 0], bool)
    assert balanced_accuracy(member, np.array([1, 1, 1, 1, 1, 1])) == 0.5
    assert balanced_accuracy(member, np.array([1, 1, 0, 0, 0, 0])) == 0.75
