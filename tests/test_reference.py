import math

import numpy as np
import pytest
import torch
from scipy.stats import norm

from ticketleak.metrics import auc
from ticketleak.reference import (
    ATTACKS,
    attack_scores,
    calibrated_thresholds,
    lira_offline,
    lira_online,
    lira_statistic,
    membership_matrix,
    mirror,
    one_sided_log_odds,
    rmia_offline,
    tune_rmia_a,
)
from ticketleak.tensors import softmax


def null_tolerance(n1: int, n0: int) -> float:
    return 4 * np.sqrt((n1 + n0 + 1) / (12 * n1 * n0))


def log_normal(x, mu, s):
    return -0.5 * ((x - mu) / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi)


def test_membership_matrix_is_half_in_per_sample_and_seeded():
    m = membership_matrix(8, 50, seed=3)
    assert m.dtype == bool and m.shape == (8, 50) and (m.sum(0) == 4).all()
    np.testing.assert_array_equal(m, membership_matrix(8, 50, seed=3))
    assert not np.array_equal(m, membership_matrix(8, 50, seed=4))
    with pytest.raises(ValueError):
        membership_matrix(5, 10, 0)


def test_adding_a_reference_pair_keeps_the_existing_halves():
    small, large = membership_matrix(4, 51, seed=1), membership_matrix(8, 51, seed=1)
    np.testing.assert_array_equal(large[:4], small)
    np.testing.assert_array_equal(small[0], ~small[1])  # a pair splits the candidates
    assert small[0].sum() == 25 and small[1].sum() == 26
    assert not np.array_equal(small[0], small[2])


def test_lira_statistic_is_the_logit_of_the_true_class():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(6, 4)) * 5
    y = rng.integers(0, 4, 6)
    p = softmax(z)[np.arange(6), y]
    np.testing.assert_allclose(lira_statistic(z, y), np.log(p / (1 - p)), rtol=1e-10)
    za = np.stack([z, z + 1.0, -z], axis=1)  # (N, A, C)
    phi = lira_statistic(za, y)
    assert phi.shape == (6, 3)
    np.testing.assert_allclose(phi[:, 0], phi[:, 1])  # shift-invariant
    assert np.isfinite(lira_statistic(np.array([[1000.0, -1000.0]]), np.array([0]))).all()


# 4 reference models, 2 samples; sample 0 IN for models 0, 1; sample 1 IN for models 2, 3
REF_IN = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], bool)
REF_PHI = np.array([[1.0, 0.0], [3.0, 2.0], [-1.0, 4.0], [0.0, 6.0]])
TARGET_PHI = np.array([2.5, 3.0])


def test_lira_online_matches_a_hand_computation():
    # sample 0: IN {1, 3} -> N(2, 1), OUT {-1, 0} -> N(-0.5, 0.5); sample 1: IN {4, 6} -> N(5, 1), OUT {0, 2} -> N(1, 1)
    expected = [log_normal(2.5, 2, 1) - log_normal(2.5, -0.5, 0.5), log_normal(3, 5, 1) - log_normal(3, 1, 1)]
    np.testing.assert_allclose(lira_online(TARGET_PHI, REF_PHI, REF_IN, False), expected)
    # fixed variance: pooled within-sample variances, IN (1 + 1) / 2, OUT (0.25 + 1) / 2
    s_out = math.sqrt(0.625)
    fixed = [log_normal(2.5, 2, 1) - log_normal(2.5, -0.5, s_out), log_normal(3, 5, 1) - log_normal(3, 1, s_out)]
    np.testing.assert_allclose(lira_online(TARGET_PHI, REF_PHI, REF_IN, True), fixed)
    # augmentations: the mean over the per-augmentation scores
    aug_ref = np.stack([REF_PHI, REF_PHI], axis=2)
    aug_target = np.stack([TARGET_PHI, np.array([2.0, 5.0])], axis=1)
    second = [log_normal(2.0, 2, 1) - log_normal(2.0, -0.5, 0.5), log_normal(5, 5, 1) - log_normal(5, 1, 1)]
    np.testing.assert_allclose(lira_online(aug_target, aug_ref, REF_IN, False), (np.array(expected) + second) / 2)


def test_lira_offline_is_the_one_sided_test_on_out_models():
    phi_cdf = lambda t: 0.5 * (1 + math.erf(t / math.sqrt(2)))
    log_odds = lambda t: math.log(phi_cdf(t) / (1 - phi_cdf(t)))
    expected = [log_odds((2.5 + 0.5) / 0.5), log_odds((3 - 1) / 1)]
    np.testing.assert_allclose(lira_offline(TARGET_PHI, REF_PHI, REF_IN, False), expected)


def test_lira_offline_does_not_saturate_for_confident_members():
    """Two OUT models with nearly equal phi: a tiny per-sample sd puts confident members at z in
    the tens or hundreds, where log Phi(z) is exactly 0 in float64; the log-odds keeps them apart
    and in the order of z, on both tails."""
    z = np.array([-300.0, -40.0, -12.0, -9.0, 0.0, 9.0, 12.0, 40.0, 300.0])
    assert (norm.logcdf(z[5:]) == 0).sum() == 2  # what saturated before: z = 40 and 300
    score = one_sided_log_odds(z)
    assert np.all(np.diff(score) > 0) and np.isfinite(score).all()
    np.testing.assert_allclose(score[4], 0.0)
    np.testing.assert_allclose(score, -score[::-1])  # symmetric: log-odds of Phi(-z) = -log-odds of Phi(z)
    ref_phi = np.array([[1.0, 2.0, 3.0, 4.0], [1.01, 2.01, 3.01, 4.01]])  # OUT for every sample, sd 0.005
    target = np.array([1.5, 2.6, 3.7, 4.2])  # z = 99, 119, 139, 39 from each sample's own OUT mean
    scores = lira_offline(target, ref_phi, np.zeros_like(ref_phi, dtype=bool), False)
    assert np.argsort(scores).tolist() == [3, 0, 1, 2] and len(set(scores.tolist())) == 4


def test_lira_falls_back_to_global_gaussians_without_in_or_out_references():
    ref_in = np.array([[1, 0, 1], [1, 0, 1], [0, 0, 1], [0, 0, 0]], bool)  # sample 1 never IN, sample 2 one OUT
    ref_phi = np.array([[1.0, 0.0, 2.0], [3.0, 2.0, 1.0], [-1.0, 4.0, 0.0], [0.0, 6.0, 5.0]])
    # IN: global mean (1 + 3 + 2 + 1 + 0) / 5 = 1.4, pooled variance (1 + 2/3) / 2
    # OUT: sample 0 N(-0.5, 0.5), sample 1 N(3, sqrt 5), sample 2 N(5, pooled (0.25 + 5) / 2)
    s_in, s_out = math.sqrt(5 / 6), math.sqrt(2.625)
    expected = [
        log_normal(1.0, 2, 1) - log_normal(1.0, -0.5, 0.5),
        log_normal(2.0, 1.4, s_in) - log_normal(2.0, 3, math.sqrt(5)),
        log_normal(3.0, 1, math.sqrt(2 / 3)) - log_normal(3.0, 5, s_out),
    ]
    score = lira_online(np.array([1.0, 2.0, 3.0]), ref_phi, ref_in, False)
    np.testing.assert_allclose(score, expected)
    assert np.isfinite(lira_online(np.array([1.0, 2.0, 3.0]), ref_phi, ref_in, True)).all()
    with pytest.raises(ValueError):
        lira_offline(np.array([1.0, 2.0, 3.0]), ref_phi, np.ones_like(ref_in), False)


def _reference_world(rng, n_models, n, gap):
    """phi = difficulty + gap * (IN) + noise, for reference models and the target."""
    ref_in = membership_matrix(n_models, n, int(rng.integers(1 << 30)))
    difficulty = rng.normal(size=n) * 2
    ref_phi = difficulty + gap * ref_in + rng.normal(size=(n_models, n)) * 0.5
    member = np.r_[np.ones(n // 2, bool), np.zeros(n - n // 2, bool)]
    target_phi = difficulty + gap * member + rng.normal(size=n) * 0.5
    return target_phi, ref_phi, ref_in, member


@pytest.mark.parametrize("gap", [3.0, 0.0])
def test_lira_separates_or_guesses(gap):
    target_phi, ref_phi, ref_in, member = _reference_world(np.random.default_rng(0), 8, 600, gap)
    for name, score in {
        "online": lira_online(target_phi, ref_phi, ref_in, False),
        "online_fixed": lira_online(target_phi, ref_phi, ref_in, True),
        "offline": lira_offline(target_phi, ref_phi, ref_in, False),
        "offline_fixed": lira_offline(target_phi, ref_phi, ref_in, True),
    }.items():
        value = auc(member, score)
        if gap:
            assert value > 0.95, name
        else:
            assert abs(value - 0.5) <= null_tolerance(300, 300), name


def test_rmia_matches_a_hand_computation():
    ref_py = np.array([[0.2, 0.6, 0.4], [0.4, 0.2, 0.4]])
    ref_in = np.array([[0, 1, 0], [0, 0, 0]], bool)  # candidate 1 is OUT for model 1 only
    pop_ref_py, pop_ref_in = np.full((2, 4), 0.3), np.zeros((2, 4), bool)
    target_py, pop_target_py = np.array([0.9, 0.5, 0.1]), np.array([0.1, 0.4, 0.7, 0.95])
    # a = 0.5: p_hat = 0.75 * mean_OUT + 0.25 -> [0.475, 0.4, 0.55]; r(x) = [1.895, 1.25, 0.182]
    # population: p_hat = 0.475, r(z) = [0.211, 0.842, 1.474, 2.0]
    r_x = target_py / (0.75 * np.array([0.3, 0.2, 0.4]) + 0.25)
    r_z = pop_target_py / 0.475
    for gamma, expected in ((1.0, [0.75, 0.5, 0.0]), (2.0, [0.5, 0.25, 0.0])):
        score = rmia_offline(target_py, ref_py, ref_in, pop_target_py, pop_ref_py, pop_ref_in, 0.5, gamma)
        np.testing.assert_allclose(score, expected)  # the paper's score: the fraction itself
        np.testing.assert_allclose(score, [(rx / r_z > gamma).mean() for rx in r_x])
        broken = rmia_offline(target_py, ref_py, ref_in, pop_target_py, pop_ref_py, pop_ref_in, 0.5, gamma, tie_break=True)
        fraction = np.floor(broken * len(r_z)) / len(r_z)  # the tie-break term stays below 1 / Z
        np.testing.assert_allclose(fraction, expected)
        t = r_x / gamma
        np.testing.assert_allclose(broken - fraction, t / (1 + t) / len(r_z))


def test_rmia_breaks_ties_by_the_ratio_without_reordering_fractions():
    # a = 1: p_hat = mean_OUT = 0.5; population r(z) = [0.2, 0.4]; candidates r(x) = 2 * p_y
    pop = (np.array([0.1, 0.2]), np.full((2, 2), 0.5), np.zeros((2, 2), bool))
    target_py = np.array([0.45, 0.9, 0.6, 0.15, 0.05])  # r(x) = [0.9, 1.8, 1.2, 0.3, 0.1]
    paper = rmia_offline(target_py, np.full((2, 5), 0.5), np.zeros((2, 5), bool), *pop, a=1.0)
    assert (paper * 2).tolist() == [2, 2, 2, 1, 0]  # the paper's score: three tie at the top fraction, 1.0
    score = rmia_offline(target_py, np.full((2, 5), 0.5), np.zeros((2, 5), bool), *pop, a=1.0, tie_break=True)
    assert np.floor(score * 2).tolist() == [2, 2, 2, 1, 0]
    assert np.argsort(-score).tolist() == [1, 2, 0, 3, 4]  # ties ordered by r(x)
    assert len(set(score.tolist())) == 5


def test_rmia_gamma_is_a_strict_inequality():
    # a = 1: p_hat = mean_OUT = 0.5 exactly; r(x) = 1, r(z) = [0.5, 1]: ratios [2, 1]
    candidates = (np.array([0.5]), np.full((2, 1), 0.5), np.zeros((2, 1), bool))
    args = (*candidates, np.array([0.25, 0.5]), np.full((2, 2), 0.5), np.zeros((2, 2), bool), 1.0)
    fraction = lambda gamma: np.floor(rmia_offline(*args, gamma=gamma) * 2).tolist()
    assert fraction(1.0) == [1]
    assert fraction(2.0) == [0]
    assert fraction(0.5) == [2]


def _rmia_world(rng, n_models, n, gap):
    """p_y = sigmoid(difficulty + gap * IN + noise): members of a model get a higher p_y."""
    sig = lambda v: 1 / (1 + np.exp(-v))
    ref_in = membership_matrix(n_models, n, int(rng.integers(1 << 30)))
    difficulty = rng.normal(size=n)
    ref_py = sig(difficulty + gap * ref_in + rng.normal(size=(n_models, n)) * 0.3)
    member = np.r_[np.ones(n // 2, bool), np.zeros(n - n // 2, bool)]
    target_py = sig(difficulty + gap * member + rng.normal(size=n) * 0.3)
    pop_diff = rng.normal(size=n)
    pop_ref_py = sig(pop_diff + rng.normal(size=(n_models, n)) * 0.3)
    pop_target_py = sig(pop_diff + rng.normal(size=n) * 0.3)
    return target_py, ref_py, ref_in, pop_target_py, pop_ref_py, np.zeros_like(ref_in), member


@pytest.mark.parametrize("gap", [4.0, 0.0])
def test_rmia_separates_or_guesses(gap):
    t, r, ri, pt, pr, pri, member = _rmia_world(np.random.default_rng(1), 4, 600, gap)
    value = auc(member, rmia_offline(t, r, ri, pt, pr, pri, a=0.5))
    if gap:
        assert value > 0.95
    else:
        assert abs(value - 0.5) <= null_tolerance(300, 300)


def test_tune_rmia_a_picks_the_best_auc_on_a_reference_model():
    _, r, ri, _, pr, pri, _ = _rmia_world(np.random.default_rng(2), 4, 300, 2.0)
    a, aucs = tune_rmia_a(r, ri, pr, pri, grid=np.array([0.0, 0.5, 1.0]))
    assert set(aucs) == {0.0, 0.5, 1.0} and aucs[a] == max(aucs.values())
    expected = auc(ri[0], rmia_offline(r[0], r[1:], ri[1:], pr[0], pr[1:], pri[1:], 0.5))
    assert aucs[0.5] == pytest.approx(expected)
    with pytest.raises(ValueError):
        tune_rmia_a(r[:1], ri[:1], pr[:1], pri[:1])


def test_mirror_flips_the_width():
    x = torch.arange(12.0).view(1, 1, 3, 4)
    assert mirror(x)[0, 0, 0].tolist() == [3.0, 2.0, 1.0, 0.0]
    assert torch.equal(mirror(mirror(x)), x)


def _logit_world(rng, n_models, n, z, gap, classes=4, queries=2):
    """Logits (models, N, queries, C) whose true-class logit is difficulty + gap * IN + noise."""
    labels = rng.integers(0, classes, n)
    difficulty = rng.normal(size=n)

    def logits(inside):
        out = rng.normal(size=inside.shape + (queries, classes)) * 0.3
        true = difficulty[: inside.shape[-1]] + gap * inside
        np.put_along_axis(out, np.broadcast_to(labels[: inside.shape[-1], None, None], out.shape[:-1] + (1,)),
                          (true[..., None] + rng.normal(size=inside.shape + (queries,)) * 0.3)[..., None], axis=-1)
        return out

    ref_in = membership_matrix(n_models, n, int(rng.integers(1 << 30)))
    member = np.r_[np.ones(n // 2, bool), np.zeros(n - n // 2, bool)]
    pop_labels, pop_in = labels[:z], np.zeros((n_models, z), bool)
    return dict(target=logits(member), ref=logits(ref_in), ref_in=ref_in, labels=labels,
                pop_target=logits(np.zeros(z, bool)), pop_ref=logits(pop_in), pop_labels=pop_labels), member


@pytest.mark.parametrize("gap", [3.0, 0.0])
def test_every_reference_attack_separates_or_guesses_and_thresholds_calibrate(gap):
    world, member = _logit_world(np.random.default_rng(1), 8, 600, 300, gap)
    scores = attack_scores(**world, a=0.5)
    assert set(scores) == set(ATTACKS)
    t = calibrated_thresholds(world["ref"], world["ref_in"], world["labels"], world["pop_ref"], world["pop_labels"], 0.5)
    for name, score in scores.items():
        decision = score >= t[name]
        balanced = 0.5 * (decision[member].mean() + (~decision[~member]).mean())
        if gap:
            assert auc(member, score) > 0.9 and balanced > 0.8, name
        else:
            assert abs(auc(member, score) - 0.5) <= null_tolerance(300, 300), name
    with pytest.raises(ValueError, match="three reference models"):
        calibrated_thresholds(world["ref"][:2], world["ref_in"][:2], world["labels"], world["pop_ref"][:2], world["pop_labels"], 0.5)
