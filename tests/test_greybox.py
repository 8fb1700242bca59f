import json

import numpy as np
import pytest
from scipy.stats import gaussian_kde

from ticketleak.attacks import Observed
from ticketleak.greybox import (
    classifier_attack,
    greybox_features,
    greybox_sweep,
    kde_attack,
    leak_split,
    loss_signals,
    wasserstein,
)
from ticketleak.metrics import auc
from ticketleak.tensors import softmax


def null_tolerance(n1: int, n0: int) -> float:
    return 4 * np.sqrt((n1 + n0 + 1) / (12 * n1 * n0))


def _target(rng, n, gap, num_classes=10):
    labels = rng.integers(0, num_classes, n)
    member = np.r_[np.ones(n // 2, bool), np.zeros(n - n // 2, bool)]
    logits = rng.normal(size=(n, num_classes))
    logits[np.arange(n), labels] += 1 + gap * member
    return Observed(softmax(logits), labels, member)


def test_leak_split_is_stratified_disjoint_and_seeded():
    member = np.r_[np.ones(100, bool), np.zeros(300, bool)]
    known, ev = leak_split(member, 0.1, 0)
    assert member[known].sum() == 10 and (~member[known]).sum() == 30
    assert np.intersect1d(known, ev).size == 0 and np.union1d(known, ev).tolist() == list(range(400))
    np.testing.assert_array_equal(known, leak_split(member, 0.1, np.random.default_rng(0))[0])
    tiny, _ = leak_split(member, 0.001, 1)
    assert member[tiny].sum() == 1 and (~member[tiny]).sum() == 1
    with pytest.raises(ValueError):
        leak_split(member, 0.0, 0)


def test_loss_signals_match_their_formulas():
    s = loss_signals(np.array([[0.8, 0.2], [0.0, 1.0]]), np.array([0, 0]))
    assert s["probability"][0] == pytest.approx(0.8)
    assert s["cross_entropy"][0] == pytest.approx(-np.log(0.8))
    assert s["logit_scaled"][0] == pytest.approx(np.log(4.0))
    assert s["cross_entropy"][1] == pytest.approx(-np.log(1e-12))  # clamped, finite
    assert np.isfinite(s["logit_scaled"]).all()


def test_kde_attack_matches_scipy_by_hand():
    known = np.array([0.1, 0.2, 0.4, 0.5, 0.7, 0.8, 1.0])
    member = np.array([1, 1, 1, 0, 0, 0, 0], bool)
    ev = np.array([0.3, 0.45, 0.6, 2.0])
    f_in, f_out = gaussian_kde(known[member])(ev), gaussian_kde(known[~member])(ev)
    expected = f_in / (f_in + f_out)
    a = kde_attack(known, member, ev)
    np.testing.assert_allclose(a.score, expected, rtol=1e-9)
    np.testing.assert_array_equal(a.decision, expected > 0.5)
    assert a.decision[:3].tolist() == [True, True, False]


def test_kde_attack_survives_degenerate_sides():
    known = np.array([0.0, 1.0, 1.0, 1.0])  # one member; non-members with zero variance
    member = np.array([1, 0, 0, 0], bool)
    a = kde_attack(known, member, np.array([-0.5, 0.0, 1.0, 50.0]))
    assert np.isfinite(a.score).all()
    assert a.decision[:3].tolist() == [True, True, False]


def test_wasserstein_of_a_shift_is_the_shift():
    x = np.random.default_rng(0).normal(size=500)
    assert wasserstein(x, x + 0.7) == pytest.approx(0.7)
    assert wasserstein(np.array([0.0, 1.0]), np.array([3.0, 4.0])) == pytest.approx(3.0)


@pytest.mark.parametrize("gap", [8.0, 0.0])
def test_greybox_attacks_separate_or_guess(gap):
    rng = np.random.default_rng(1)
    t = _target(rng, 1200, gap)
    known, ev = leak_split(t.member, 0.25, 0)
    sig = loss_signals(t.probs, t.labels)
    feats = greybox_features(t.probs, t.labels)
    attacks = {name: kde_attack(s[known], t.member[known], s[ev]) for name, s in sig.items()}
    attacks["classifier"] = classifier_attack(feats[known], t.member[known], feats[ev], 0)
    m = t.member[ev]
    for name, a in attacks.items():
        value = auc(m, a.score)
        if gap:
            assert value > 0.95, name
        else:
            assert abs(value - 0.5) <= null_tolerance(m.sum(), (~m).sum()), name


def test_greybox_sweep_reports_every_attack_and_is_json():
    t = _target(np.random.default_rng(2), 400, 6.0)
    out = greybox_sweep(t, [0.05, 0.2], repeats=3, seed=0)
    json.dumps(out)
    assert list(out["results"]) == ["0.05", "0.2"]
    r = out["results"]["0.2"]
    assert r["n_known"] == 80 and r["n_eval"] == 320
    assert set(r["attacks"]) == {"kde_probability", "kde_cross_entropy", "kde_logit_scaled", "classifier_logreg"}
    for a in r["attacks"].values():
        assert set(a) == {"accuracy", "fpr", "recall", "auc", "confusion"}
        assert a["accuracy"]["mean"] > 0.9 and a["accuracy"]["std"] >= 0
        assert sum(a["confusion"].values()) == pytest.approx(320)
    assert r["wasserstein_ce"]["mean"] > 1.0
    assert greybox_sweep(t, [0.2], repeats=3, seed=0)["results"]["0.2"] == r  # seeded


def test_confident_float32_posteriors_give_finite_signals_and_scores():
    # a float32 p_y of exactly 1 (an overfit model) must not become log(0) = inf in the logit signal
    probs = np.zeros((40, 3), dtype=np.float32)
    labels = np.arange(40) % 3
    probs[np.arange(40), labels] = 1.0
    probs[20:, :] = np.float32(1 / 3)
    signals = loss_signals(probs, labels)
    for name, values in signals.items():
        assert np.isfinite(values).all(), name
    member = np.arange(40) < 20
    scored = kde_attack(signals["logit_scaled"], member, signals["logit_scaled"])
    assert np.isfinite(scored.score).all() and scored.decision[member].all() and not scored.decision[~member].any()


def test_wasserstein_matches_scipy():
    from scipy.stats import wasserstein_distance

    rng = np.random.default_rng(1)
    for n, m in [(1, 2), (40, 300), (350, 343)]:
        u, v = rng.exponential(size=n), rng.exponential(size=m)
        assert wasserstein(u, v) == pytest.approx(wasserstein_distance(u, v), rel=1e-12)


@pytest.mark.parametrize("n", [2, 7, 300, 2500])
def test_kde_log_density_equals_scipys(n):
    """The blocked numpy evaluation gives scipy's gaussian_kde log-density, far tails included."""
    from ticketleak.greybox import gaussian_kde_logpdf

    rng = np.random.default_rng(n)
    points = rng.exponential(size=n)
    queries = np.concatenate([rng.exponential(size=3000), [-40.0, 0.0, 55.0, 1e3]]).reshape(-1, 1)
    ours = gaussian_kde_logpdf(points)(queries)
    assert ours.shape == queries.shape and np.isfinite(ours).all()
    np.testing.assert_allclose(ours.ravel(), gaussian_kde(points).logpdf(queries.ravel()), rtol=1e-12, atol=1e-12)
    with pytest.raises(np.linalg.LinAlgError):
        gaussian_kde_logpdf(np.full(5, 0.3))
