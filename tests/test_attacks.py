import numpy as np
import pytest

from ticketleak.attacks import (
    Observed,
    best_threshold,
    class_thresholds,
    shokri_attacks,
    signals,
    threshold_attacks,
)
from ticketleak.defenses import softmax
from ticketleak.metrics import auc


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
