import numpy as np
import pytest

from ticketleak.attacks import (
    FEATURES,
    Observed,
    best_threshold,
    class_thresholds,
    shadow_count_curve,
    shokri_attacks,
    shokri_features,
    signals,
    threshold_attacks,
)
from ticketleak.metrics import attack_metrics, auc
from ticketleak.core.params import SHOKRI_FEATURES
from ticketleak.core.registry import CLASSIFIERS
from ticketleak.tensors import softmax


def test_signals_match_their_formulas():
    p = np.array([[0.7, 0.2, 0.1]])
    y = np.array([1])
    s = signals(p, y)
    assert s["confidence"][0] == pytest.approx(0.2)
    assert s["loss"][0] == pytest.approx(np.log(0.2))
    assert s["entropy"][0] == pytest.approx(0.7 * np.log(0.7) + 0.2 * np.log(0.2) + 0.1 * np.log(0.1))
    mentr = -(1 - 0.2) * np.log(0.2) - 0.7 * np.log(0.3) - 0.1 * np.log(0.9)
    assert s["mentropy"][0] == pytest.approx(-mentr)


def test_best_threshold_maximises_balanced_accuracy():
    members = np.array([0.9, 0.8, 0.75, 0.3])
    nonmembers = np.array([0.1, 0.2, 0.5, 0.6])
    t = best_threshold(members, nonmembers)
    # brute force over the candidates, as the formula says
    cands = np.unique(np.r_[members, nonmembers])
    accs = [0.5 * ((members >= c).mean() + (nonmembers < c).mean()) for c in cands]
    assert t == cands[int(np.argmax(accs))] == 0.75


def test_class_thresholds_fit_each_class():
    scores = np.array([0.9, 0.5, 0.2, 0.1, 0.4, 0.3])
    labels = np.array([0, 0, 1, 1, 1, 1])
    member = np.array([True, False, True, False, True, False])
    t = class_thresholds(scores, labels, member, 3)
    assert t[0] == 0.9 and t[1] == 0.2
    assert t[2] == best_threshold(scores[member], scores[~member])  # absent class: global fallback


def _observed(rng, n, gap, num_classes=10):
    """Synthetic posteriors: members' true-class logit is raised by ``gap``."""
    labels = rng.integers(0, num_classes, n)
    member = np.r_[np.ones(n // 2, bool), np.zeros(n - n // 2, bool)]
    logits = rng.normal(size=(n, num_classes))
    logits[np.arange(n), labels] += 2 + gap * member
    return Observed(softmax(logits), labels, member)


@pytest.mark.parametrize("gap, lo, hi", [(6.0, 0.97, 1.0), (0.0, 0.44, 0.56)])
def test_every_attack_separates_or_guesses(gap, lo, hi):
    rng = np.random.default_rng(0)
    shadow, target = _observed(rng, 2000, gap), _observed(rng, 1000, gap)
    attacks = threshold_attacks(shadow, target)
    attacks.update(shokri_attacks(shadow, target, [32], 200, 0))
    for name, a in attacks.items():
        if name == "correctness":
            continue
        assert lo <= auc(target.member, a.score) <= hi, name
        acc = 0.5 * (a.decision[target.member].mean() + (~a.decision[~target.member]).mean())
        assert lo - 0.05 <= acc <= hi, name


def test_correctness_attack_equals_the_generalisation_gap():
    labels = np.array([0, 1, 0, 1])
    member = np.array([True, True, False, False])
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])  # members right, non-members wrong
    obs = Observed(probs, labels, member)
    a = threshold_attacks(obs, obs)["correctness"]
    assert a.decision.tolist() == [True, True, False, False]


def null_tolerance(n1: int, n0: int) -> float:
    """Four standard deviations of the AUC of a random score (Mann-Whitney null)."""
    return 4 * np.sqrt((n1 + n0 + 1) / (12 * n1 * n0))


def test_top3_features_are_the_three_largest_sorted():
    p = np.array([[0.1, 0.5, 0.05, 0.3, 0.05]])
    assert shokri_features(p, np.array([0]), "top3").tolist() == [[0.5, 0.3, 0.1]]


@pytest.mark.parametrize("gap", [6.0, 0.0])
def test_every_classifier_variant_runs_names_and_separates(gap):
    rng = np.random.default_rng(1)
    shadow, target = _observed(rng, 800, gap, num_classes=4), _observed(rng, 400, gap, num_classes=4)
    variants = ("sorted", "top3", "label")
    attacks = shokri_attacks(shadow, target, [16], 300, 0, classifiers=CLASSIFIERS.names(), variants=variants, per_class=True)
    expected = set()
    for c in CLASSIFIERS.names():
        for v in variants:
            expected |= {f"shokri_{v}" if c == "mlp" else f"shokri_{v}_{c}", f"shokri_{v}_{c}_perclass"}
    assert set(attacks) == expected
    tol = null_tolerance(200, 200)
    for name, a in attacks.items():
        assert a.score.shape == a.decision.shape == (400,), name
        assert a.decision.dtype == bool, name
        value = auc(target.member, a.score)
        if gap and name in ("shokri_label_logreg", "shokri_label_linear_svm"):
            continue  # a linear model of [p, onehot(y)] over all classes cannot express p_y (a product)
        if gap:
            assert value > 0.95, name
        else:
            assert abs(value - 0.5) <= tol, name


def test_default_shokri_keeps_its_names():
    rng = np.random.default_rng(2)
    shadow, target = _observed(rng, 200, 3.0), _observed(rng, 100, 3.0)
    assert set(shokri_attacks(shadow, target, [8], 50, 0)) == {"shokri_sorted", "shokri_label"}


def test_svm_score_is_the_margin():
    rng = np.random.default_rng(3)
    shadow, target = _observed(rng, 400, 3.0), _observed(rng, 200, 3.0)
    for name in ("linear_svm", "rbf_svm"):
        out = shokri_attacks(shadow, target, [8], 50, 0, classifiers=(name,), variants=("sorted",))
        a = out[f"shokri_sorted_{name}"]
        assert (a.score < 0).any() and (a.score > 0).any()


@pytest.mark.parametrize("name", ["mlp", "logreg", "linear_svm"])
def test_shokri_decisions_use_a_threshold_calibrated_on_the_shadows(name):
    """The decision is the classifier's score against the threshold that maximises balanced
    accuracy on its own shadow training points, not its fixed cut (0.5 or a margin of 0): with
    one shadow member in ten the fixed cut calls few members, the calibrated one balances."""
    from ticketleak import classifiers
    from ticketleak.attacks import best_threshold, shokri_features

    rng = np.random.default_rng(6)
    shadow, target = _observed(rng, 2000, 1.0), _observed(rng, 1000, 1.0)
    keep = ~shadow.member | (np.arange(2000) % 10 == 0)  # 100 members against 1,000 non-members
    shadow = Observed(shadow.probs[keep], shadow.labels[keep], shadow.member[keep])
    a = shokri_attacks(shadow, target, [8], 200, 0, classifiers=(name,), variants=("sorted",))
    a = a["shokri_sorted" if name == "mlp" else f"shokri_sorted_{name}"]
    clf = classifiers.make(name, [8], 200, 0)
    x = shokri_features(shadow.probs, shadow.labels, "sorted")
    clf.fit(x, shadow.member.astype(int))
    fit = clf.predict_proba(x)[:, 1] if hasattr(clf, "predict_proba") else clf.decision_function(x)
    t = best_threshold(fit[shadow.member], fit[~shadow.member])
    np.testing.assert_array_equal(a.decision, a.score >= t)
    fixed = a.score > (0.5 if hasattr(clf, "predict_proba") else 0.0)
    balanced = lambda d: 0.5 * (d[target.member].mean() + (~d[~target.member]).mean())  # noqa: E731
    assert fixed[target.member].mean() < 0.2  # the fixed cut: few members called
    assert balanced(a.decision) > balanced(fixed) + 0.05


def test_per_class_falls_back_to_the_pooled_model_where_a_class_has_one_label():
    rng = np.random.default_rng(4)
    shadow, target = _observed(rng, 600, 3.0, num_classes=3), _observed(rng, 300, 3.0, num_classes=3)
    member = shadow.member.copy()
    member[shadow.labels == 0] = True  # class 0: members only
    shadow = Observed(shadow.probs, shadow.labels, member)
    out = shokri_attacks(shadow, target, [8], 100, 0, classifiers=("logreg",), variants=("sorted",), per_class=True)
    pooled, per = out["shokri_sorted_logreg"], out["shokri_sorted_logreg_perclass"]
    c0 = target.labels == 0
    np.testing.assert_array_equal(per.score[c0], pooled.score[c0])
    np.testing.assert_array_equal(per.decision[c0], pooled.decision[c0])
    assert not np.allclose(per.score[~c0], pooled.score[~c0])


def test_shadow_count_curve_refits_on_the_first_k_shadows():
    rng = np.random.default_rng(5)
    shadows = [_observed(rng, 200, 2.0) for _ in range(3)]
    target = _observed(rng, 200, 2.0)
    seen = []

    def fit(shadow_obs, target_obs):
        seen.append(len(shadow_obs.labels))
        return threshold_attacks(shadow_obs, target_obs)

    curve = shadow_count_curve(shadows, target, [1, 2, 3], fit)
    assert list(curve) == [1, 2, 3] and seen == [200, 400, 600]
    direct = threshold_attacks(Observed.concat(shadows[:2]), target)["loss_global"]
    assert curve[2]["loss_global"] == attack_metrics(target.member, direct.score, direct.decision)
    with pytest.raises(ValueError):
        shadow_count_curve(shadows, target, [4], fit)


def test_the_params_schema_knows_every_feature_variant():
    assert sorted(SHOKRI_FEATURES) == sorted(FEATURES)


def test_fixed_order_dot_is_the_matrix_product():
    from ticketleak.classifiers.mlp import fixed_order_dot

    rng = np.random.default_rng(0)
    for dtype, (n, k, m) in [(np.float64, (300, 20, 64)), (np.float64, (64, 300, 1)), (np.float32, (5, 1, 3))]:
        a, b = rng.standard_normal((n, k)).astype(dtype), rng.standard_normal((k, m)).astype(dtype)
        out = fixed_order_dot(a, b)
        assert out.dtype == dtype and out.shape == (n, m)
        np.testing.assert_allclose(out, a.astype(np.float64) @ b.astype(np.float64),
                                   rtol=1e-4 if dtype == np.float32 else 1e-12, atol=1e-5)


def test_fixed_order_dot_sums_in_the_same_order_whichever_way_it_loops(monkeypatch):
    """The per-k loop (small k against n, C-contiguous b) and the blocked reduction give the same
    bits: the loop is a shortcut, not another summation order."""
    from ticketleak.classifiers import mlp

    rng = np.random.default_rng(1)
    cases = [(200, 20, 64), (1400, 20, 64), (300, 3, 10), (200, 1, 64), (37, 150, 20)]
    for n, k, m in cases:
        a, b = rng.standard_normal((n, k)), rng.standard_normal((k, m))
        for a_layout in (a, np.asfortranarray(a), a[:, ::-1]):
            fast = mlp.fixed_order_dot(a_layout, b)
            blocked = np.empty_like(fast)
            for i in range(n):  # one row at a time: the reduction over k, never the loop
                np.add.reduce(a_layout[i : i + 1, :, None] * b[None], axis=1, out=blocked[i : i + 1])
            assert fast.tobytes() == blocked.tobytes(), (n, k, m)
    loops = []
    monkeypatch.setattr(mlp, "_k_loop", lambda a, b: loops.append(a.shape) or np.zeros((a.shape[0], b.shape[1])))
    mlp.fixed_order_dot(rng.standard_normal((200, 20)), rng.standard_normal((20, 64)))
    mlp.fixed_order_dot(rng.standard_normal((20, 200)), rng.standard_normal((200, 64)))  # k large: blocks
    mlp.fixed_order_dot(rng.standard_normal((200, 20)), np.asfortranarray(rng.standard_normal((20, 64))))  # F-order b
    mlp.fixed_order_dot(rng.standard_normal((200, 64)), rng.standard_normal((64, 1)))  # m = 1: pairwise
    assert loops == [(200, 20)]


KERNEL_PROBE = """
import hashlib, numpy as np
from ticketleak.attacks import Observed, shokri_attacks
rng = np.random.default_rng(0)
def draw(n, gap):
    z = rng.normal(size=(n, 10)); y = rng.integers(0, 10, n); z[np.arange(n), y] += gap
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    return p.astype(np.float32), y
(pi, yi), (po, yo) = draw(300, 3.0), draw(300, 2.0)
obs = Observed(np.vstack([pi, po]), np.r_[yi, yo], np.r_[np.ones(300, bool), np.zeros(300, bool)])
out = shokri_attacks(obs, obs, [16], 100, 0)
print(hashlib.sha256(b"".join(a.score.tobytes() for a in out.values())).hexdigest())
"""


def test_shokri_mlp_does_not_depend_on_the_openblas_kernel():
    """The MLP attack's scores are the same bits whichever kernel OpenBLAS uses."""
    import os
    import platform
    import subprocess
    import sys
    from pathlib import Path

    if platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("OPENBLAS_CORETYPE names x86 kernels")
    root = str(Path(__file__).resolve().parents[1])
    digests = set()
    for core in ("Haswell", "Prescott"):  # AVX2 and SSE3 kernels: both run on any x86-64 CPU
        env = {**os.environ, "OPENBLAS_CORETYPE": core, "PYTHONPATH": root}
        probe = subprocess.run([sys.executable, "-c", KERNEL_PROBE], env=env, check=True, capture_output=True, text=True)
        digests.add(probe.stdout)
    assert len(digests) == 1
