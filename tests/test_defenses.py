import numpy as np
import torch

from ticketleak.defenses import release, softmax, top_k, training_defense
from ticketleak.models import build_model
from ticketleak.params import DropoutParams, L2Params
from ticketleak.training import l2_penalty


def test_top_k_keeps_k_entries_in_order_and_renormalises():
    rng = np.random.default_rng(0)
    probs = softmax(rng.normal(size=(50, 10)))
    for k in (1, 3):
        out = top_k(probs, k)
        assert ((out > 0).sum(1) == k).all()
        assert np.allclose(out.sum(1), 1)
        order = np.argsort(-probs, 1)[:, :k]
        assert np.array_equal(np.argsort(-out, 1, kind="stable")[:, :k], order)
    assert np.array_equal(top_k(probs, 1).argmax(1), probs.argmax(1))
    assert set(np.unique(top_k(probs, 1))) == {0.0, 1.0}  # k = 1 releases the label only


def test_release_none_is_the_softmax():
    logits = np.array([[1.0, 2.0, 3.0]])
    assert np.allclose(release(logits, "none"), softmax(logits))
    assert np.allclose(release(logits, "topk", type("S", (), {"k": 2})()), [[0, np.e / (np.e + np.e**2), np.e**2 / (np.e + np.e**2)]])


def test_training_defenses_change_only_their_knob():
    assert training_defense("none", None).l2 == 0 and training_defense("none", None).dropout is None
    l2 = training_defense("l2", L2Params(lam=0.01))
    assert l2.l2 == 0.01 and l2.dropout is None
    drop = training_defense("dropout", DropoutParams(rate=0.5))
    assert drop.dropout == 0.5 and drop.l2 == 0


def test_l2_penalty_is_the_sum_of_squared_weights():
    model = build_model("mlp", 1, 10, 8)
    expected = sum((m.weight**2).sum() for m in model.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)))
    assert torch.isclose(l2_penalty(model), expected)
