import numpy as np

from ticketleak.attacks import Observed
from ticketleak.tensors import softmax
from ticketleak.transfer import blind_summary, transfer_matrix


def _observed(rng, n, gap):
    labels = rng.integers(0, 5, n)
    member = np.r_[np.ones(n // 2, bool), np.zeros(n // 2, bool)]
    logits = rng.normal(size=(n, 5))
    logits[np.arange(n), labels] += 1 + gap * member
    return Observed(softmax(logits), labels, member)


def test_matrix_shape_diagonal_and_blind_summary():
    rng = np.random.default_rng(0)
    gaps = {"dense": 4.0, "a-0.5": 4.0, "b-0.5": 0.0}
    shadows = {k: _observed(rng, 600, g) for k, g in gaps.items()}
    targets = {k: _observed(rng, 400, g) for k, g in gaps.items()}
    m = transfer_matrix(shadows, targets, [16], 200, 0)
    assert set(m) == {"shokri_sorted", "loss_global"}
    for attack in m.values():
        assert set(attack) == set(gaps) and all(set(row) == set(gaps) for row in attack.values())
        assert attack["dense"]["dense"]["auc"] > 0.9  # leaky target, matching shadows
        assert abs(attack["dense"]["b-0.5"]["auc"] - 0.5) < 0.1  # nothing to find in a non-leaky target
    blind = blind_summary(m["shokri_sorted"], {"dense": "dense", "a-0.5": "a", "b-0.5": "b"})
    assert set(blind) == {"a-0.5", "b-0.5"}
    assert blind["a-0.5"]["matching"] == m["shokri_sorted"]["a-0.5"]["a-0.5"]["auc"]
    assert blind["a-0.5"]["other_methods_mean"] == m["shokri_sorted"]["b-0.5"]["a-0.5"]["auc"]
    assert blind["a-0.5"]["dense_shadows"] > 0.9  # seed 002: dense shadows still attack a pruned target
