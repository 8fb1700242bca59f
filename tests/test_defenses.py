import numpy as np
import torch

from ticketleak.defenses import release, softmax, top_k, training_defense
from ticketleak.params import Variant
from ticketleak.models import build_model
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
    l2 = training_defense("l2", Variant("l2", lam=0.01))
    assert l2.l2 == 0.01 and l2.dropout is None
    drop = training_defense("dropout", Variant("dropout", rate=0.5))
    assert drop.dropout == 0.5 and drop.l2 == 0


def test_l2_penalty_is_the_sum_of_squared_weights():
    model = build_model("mlp", 1, 10, 8)
    expected = sum((m.weight**2).sum() for m in model.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)))
    assert torch.isclose(l2_penalty(model), expected)


# ---------------------------------------------------------------------------------------------
# New training-time defenses, rounding, and the name -> defense mapping.

from types import SimpleNamespace as NS  # noqa: E402

import pytest  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from ticketleak.defenses import TrainingDefense, recipe_with, round_posteriors  # noqa: E402
from ticketleak.training import Recipe, batch_loss, distillation_loss, ppb_penalty  # noqa: E402

BASE = Recipe("sgd", 0.1, 0.9, 0.0, 3, 16, "none", False)


def test_training_defense_maps_every_name_to_its_knobs_only():
    cases = [
        ("none", None, TrainingDefense()),
        ("l2", NS(lam=0.01), TrainingDefense(l2=0.01)),
        ("dropout", NS(rate=0.5), TrainingDefense(dropout=0.5)),
        ("label_smoothing", NS(epsilon=0.1), TrainingDefense(label_smoothing=0.1)),
        ("ppb", NS(lam=4), TrainingDefense(ppb=4.0)),
        ("distill", NS(alpha=0.7, temperature=3), TrainingDefense(distill_alpha=0.7, distill_temperature=3.0)),
        ("advreg", NS(theta=1.0, steps=5), TrainingDefense(advreg_theta=1.0, advreg_steps=5)),
        ("early_stop", NS(patience=3), TrainingDefense(patience=3)),
        ("dpsgd", NS(clip=1.0, noise=1.1, delta=1e-5), TrainingDefense(dp_clip=1.0, dp_noise=1.1, dp_delta=1e-5)),
    ]
    for name, settings, expected in cases:
        assert training_defense(name, settings) == expected, name
    assert training_defense("dpsgd", NS(clip=1.0, noise=1.1, delta=1e-5)).private
    assert not any(d.private for n, _, d in cases if n != "dpsgd")
    assert training_defense("distill", NS(alpha=0.5, temperature=2)).needs_teacher
    assert training_defense("advreg", NS(theta=1, steps=1)).needs_reference
    for name, bad in [
        ("label_smoothing", NS(epsilon=1.0)), ("ppb", NS(lam=-1)), ("distill", NS(alpha=2, temperature=1)),
        ("advreg", NS(theta=1, steps=0)), ("early_stop", NS(patience=0)), ("dpsgd", NS(clip=1, noise=1, delta=0)), ("dpsgd", NS(clip=1, noise=0, delta=1e-5)),
        ("nope", NS()),
    ]:
        with pytest.raises(ValueError):
            training_defense(name, bad)


def test_recipe_with_applies_the_loss_knobs_and_keeps_the_rest():
    d = TrainingDefense(l2=0.01, label_smoothing=0.1, ppb=4, distill_alpha=0.5, distill_temperature=2,
                        advreg_theta=1.0, advreg_steps=3, patience=5, dp_clip=1.0)
    r = recipe_with(BASE, d)
    assert (r.l2, r.label_smoothing, r.ppb, r.distill_alpha, r.distill_temperature, r.advreg_theta, r.advreg_steps) == (
        0.01, 0.1, 4, 0.5, 2, 1.0, 3)
    assert r.__dict__ | {k: BASE.__dict__[k] for k in ("l2", "label_smoothing", "ppb", "distill_alpha",
                                                      "distill_temperature", "advreg_theta", "advreg_steps")} == BASE.__dict__
    assert recipe_with(BASE, TrainingDefense()) == BASE


def test_rounding_keeps_at_most_decimals_decimals_without_renormalising():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(200, 10)) * 3
    probs = softmax(logits)
    for d in (0, 1, 2, 4):
        out = release(logits, "round", NS(decimals=d))
        scaled = out * 10**d
        assert np.allclose(scaled, np.round(scaled), atol=1e-6)  # at most d decimals
        assert np.abs(out - probs).max() <= 0.5 * 10**-d + 1e-12  # nearest value
        assert (out >= 0).all() and (out <= 1).all()
    out = release(logits, "round", NS(decimals=1))
    assert not np.allclose(out.sum(1), 1)  # not renormalised (some rows drift by the rounding)
    assert np.allclose(out.sum(1), 1, atol=10 * 0.05)
    assert np.array_equal(round_posteriors(np.array([[0.123456, 0.876544]]), 3), [[0.123, 0.877]])
    with pytest.raises(ValueError):
        round_posteriors(probs, -1)


def test_ppb_penalty_is_zero_for_rows_that_are_permutations_and_positive_otherwise():
    base = torch.tensor([3.0, 1.0, -2.0, 0.5])
    perm = torch.stack([base[torch.randperm(4, generator=torch.Generator().manual_seed(i))] for i in range(6)])
    assert ppb_penalty(perm).abs().item() < 1e-7
    other = perm.clone()
    other[4] = torch.tensor([0.1, 0.0, -0.1, 0.2])  # second half differs from its partner (row 1)
    assert ppb_penalty(other).item() > 1e-3
    assert ppb_penalty(torch.randn(1, 4)).item() == 0  # no pair


def test_ppb_penalty_matches_a_hand_computation_and_has_gradients():
    z = np.array([[2.0, 0.0, 1.0], [0.0, 0.0, 3.0], [1.0, 1.0, 1.0], [-1.0, 2.0, 0.0]])
    ranked = -np.sort(-z, axis=1)
    a, b = softmax(ranked[:2]), softmax(ranked[2:])
    expected = np.mean([(b[i] * np.log(b[i] / a[i])).sum() for i in range(2)])  # KL(B_i || A_i)
    t = torch.tensor(z, requires_grad=True)
    got = ppb_penalty(t)
    assert np.isclose(got.item(), expected)
    got.backward()
    assert t.grad is not None and t.grad[:2].abs().sum() > 0 and t.grad[2:].abs().sum() > 0  # no detach
    odd = torch.cat([t.detach(), torch.randn(1, 3)])
    assert torch.isclose(ppb_penalty(odd), got.detach())  # the odd last row is dropped


def test_label_smoothing_changes_the_loss_by_the_formula():
    gen = torch.Generator().manual_seed(0)
    logits, y = torch.randn(8, 5, generator=gen), torch.randint(0, 5, (8,), generator=gen)
    model = torch.nn.Linear(2, 2)
    eps = 0.2
    logp = F.log_softmax(logits, 1)
    nll = -logp[torch.arange(8), y].mean()
    uniform = -logp.mean(1).mean()
    smoothed = batch_loss(model, logits, y, Recipe(**{**BASE.__dict__, "label_smoothing": eps}))
    assert torch.isclose(smoothed, (1 - eps) * nll + eps * uniform)
    assert torch.equal(batch_loss(model, logits, y, BASE), F.cross_entropy(logits, y))


def test_distillation_loss_is_the_formula_and_reduces_to_ce():
    gen = torch.Generator().manual_seed(0)
    s, t = torch.randn(6, 4, generator=gen), torch.randn(6, 4, generator=gen)
    y = torch.randint(0, 4, (6,), generator=gen)
    alpha, temp = 0.7, 3.0
    p_t, log_p_s = F.softmax(t / temp, 1), F.log_softmax(s / temp, 1)
    kl = (p_t * (p_t.log() - log_p_s)).sum(1).mean()
    expected = kl * temp**2 * alpha + F.cross_entropy(s, y) * (1 - alpha)
    assert torch.isclose(distillation_loss(s, t, y, alpha, temp), expected)
    assert torch.equal(distillation_loss(s, t, y, 0.0, temp), F.cross_entropy(s, y))
    assert distillation_loss(t, t, y, 1.0, temp).abs() < 1e-6  # the teacher itself: no loss
    r = Recipe(**{**BASE.__dict__, "distill_alpha": alpha, "distill_temperature": temp})
    assert torch.isclose(batch_loss(torch.nn.Linear(1, 1), s, y, r, teacher=t), expected)
