import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ticketleak.core import schema
from ticketleak.defenses import Data, dropout_rate, fit_defended, needs_teacher, release
from ticketleak.defenses.distill import distillation_loss
from ticketleak.defenses.l2 import l2_penalty
from ticketleak.defenses.ppb import ppb_penalty
from ticketleak.defenses.round import round_posteriors
from ticketleak.defenses.topk import top_k
from ticketleak.models import build_model
from ticketleak.core.params import DefenseParams, ParamsError, Variant
from ticketleak.core.registry import DEFENSES
from ticketleak.tensors import softmax
from ticketleak.training import Hook, Recipe, batch_loss, seed_everything


def variant(kind: str, **settings) -> Variant:
    """A checked variant, as params builds it (``defense.variants.v``)."""
    return Variant(kind, schema.build(DEFENSES.settings(kind), settings, "defense.variants.v"))


def hook(kind: str, data: Data | None = None, **settings) -> Hook:
    v = variant(kind, **settings)
    data = data or Data((torch.zeros(4, 1), torch.zeros(4).long()), (torch.zeros(4, 1), torch.zeros(4).long()))
    return DEFENSES.get(kind).hook(v.settings, data, BASE, torch.Generator().manual_seed(0), torch.device("cpu"))


BASE = Recipe("sgd", 0.1, 0.9, 0.0, 3, 16, "none", False)


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
    assert np.allclose(release(logits), softmax(logits)) and np.array_equal(release(logits, "none"), release(logits))
    assert np.allclose(release(logits, variant("topk", k=2)), [[0, np.e / (np.e + np.e**2), np.e**2 / (np.e + np.e**2)]])
    assert release(logits.astype(np.float32), variant("topk", k=2)).dtype == np.float32  # dtype of the softmax
    with pytest.raises(ValueError, match="not a release-time"):
        release(logits, variant("l2", lam=0.1))


def test_release_imports_no_torch():
    import subprocess

    code = ("import sys, numpy as np; from ticketleak.defenses import release; from ticketleak.core.params import Variant; "
            "from ticketleak.core import schema; from ticketleak.core.registry import DEFENSES; "
            "v = Variant('round', schema.build(DEFENSES.settings('round'), {'decimals': 1}, 'x')); "
            "release(np.zeros((2, 3)), v); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_each_kind_declares_when_and_what_training_needs():
    when = {k: DEFENSES.get(k).WHEN for k in DEFENSES.names()}
    assert {k for k, w in when.items() if w == "release"} == {"topk", "round"}
    assert {k for k, w in when.items() if w == "train"} == {
        "none", "l2", "dropout", "early_stop", "label_smoothing", "distill", "advreg", "ppb", "ppb_finetune", "dpsgd"}
    assert dropout_rate(variant("dropout", rate=0.5), 0.1) == 0.5 and dropout_rate(variant("l2", lam=0.1), 0.1) == 0.1
    assert needs_teacher(variant("distill", alpha=0.5, temperature=2.0)) and not needs_teacher(variant("none"))
    assert DEFENSES.get("early_stop").patience(variant("early_stop", patience=3).settings) == 3
    assert hasattr(DEFENSES.get("dpsgd"), "fit") and not hasattr(DEFENSES.get("none"), "hook")


@pytest.mark.parametrize("kind, bad, key", [
    ("l2", {"lam": 0.0}, "lam"), ("dropout", {"rate": 1.0}, "rate"), ("label_smoothing", {"epsilon": 1.0}, "epsilon"),
    ("ppb", {"lam": -1}, "lam"), ("distill", {"alpha": 2, "temperature": 1}, "alpha"),
    ("distill", {"alpha": 0.5, "temperature": 0}, "temperature"), ("advreg", {"theta": 1, "steps": 0}, "steps"),
    ("early_stop", {"patience": 0}, "patience"), ("dpsgd", {"clip": 1, "noise": 1, "delta": 0}, "delta"),
    ("dpsgd", {"clip": 1, "noise": 0, "delta": 1e-5}, "noise"), ("topk", {"k": 0}, "k"), ("round", {"decimals": -1}, "decimals"),
])
def test_settings_reject_bad_strengths_naming_the_key(kind, bad, key):
    with pytest.raises(ParamsError, match=rf"^defense\.variants\.v\.{key}: must be"):
        variant(kind, **bad)


def test_l2_penalty_is_the_sum_of_squared_weights():
    model = build_model("mlp", 1, 10, 8)
    expected = sum((m.weight**2).sum() for m in model.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)))
    assert torch.isclose(l2_penalty(model), expected)


def test_rounding_keeps_at_most_decimals_decimals_without_renormalising():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(200, 10)) * 3
    probs = softmax(logits)
    for d in (0, 1, 2, 4):
        out = release(logits, variant("round", decimals=d))
        scaled = out * 10**d
        assert np.allclose(scaled, np.round(scaled), atol=1e-6)  # at most d decimals
        assert np.abs(out - probs).max() <= 0.5 * 10**-d + 1e-12  # nearest value
        assert (out >= 0).all() and (out <= 1).all()
    out = release(logits, variant("round", decimals=1))
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


# ---------------------------------------------------------------------------------------------
# Each training-time defense's hook changes the batch loss exactly as its formula says.


def _batch(n: int = 8, c: int = 5):
    gen = torch.Generator().manual_seed(0)
    return torch.randn(n, c, generator=gen), torch.randint(0, c, (n,), generator=gen), torch.arange(n)


def test_hooks_change_the_loss_by_their_formula():
    logits, y, idx = _batch()
    model = build_model("mlp", 1, 5, 4)
    ce = F.cross_entropy(logits, y)
    assert torch.equal(batch_loss(model, logits, y, idx), ce)
    # l2: + lam * sum of squared Conv/Linear weights
    squares = sum((m.weight**2).sum() for m in model.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)))
    assert torch.equal(batch_loss(model, logits, y, idx, [hook("l2", lam=0.01)]), ce + 0.01 * l2_penalty(model))
    assert torch.isclose(batch_loss(model, logits, y, idx, [hook("l2", lam=0.01)]) - ce, 0.01 * squares)
    # ppb: + lam * KL(sorted second half || sorted first half); lam = 0 adds nothing
    assert torch.equal(batch_loss(model, logits, y, idx, [hook("ppb", lam=4.0)]), ce + 4.0 * ppb_penalty(logits))
    assert torch.equal(batch_loss(model, logits, y, idx, [hook("ppb", lam=0.0)]), ce)
    # label smoothing: (1 - eps) * NLL + eps * mean over classes of -log p
    logp = F.log_softmax(logits, 1)
    nll, uniform = -logp[torch.arange(8), y].mean(), -logp.mean(1).mean()
    assert torch.isclose(batch_loss(model, logits, y, idx, [hook("label_smoothing", epsilon=0.2)]), 0.8 * nll + 0.2 * uniform)
    # distill: the distillation loss against the batch's rows of the teacher's logits
    teacher = torch.randn(20, 5, generator=torch.Generator().manual_seed(1))
    rows = torch.tensor([3, 1, 4, 15, 9, 2, 6, 5])
    data = Data((torch.zeros(20, 1), torch.zeros(20).long()), (torch.zeros(4, 1), torch.zeros(4).long()), teacher=teacher)
    got = batch_loss(model, logits, y, rows, [hook("distill", data, alpha=0.7, temperature=3.0)])
    assert torch.equal(got, distillation_loss(logits, teacher[rows], y, 0.7, 3.0))
    with pytest.raises(ValueError, match="teacher"):
        hook("distill", alpha=0.7, temperature=3.0)
    # the kinds without a hook leave the cross-entropy as it is
    assert not any(hasattr(DEFENSES.get(k), "hook") for k in ("none", "dropout", "early_stop", "dpsgd"))


def test_advreg_hook_trains_h_before_the_step_and_adds_minus_theta_bce():
    x = torch.randn(32, 1, 4, 4, generator=torch.Generator().manual_seed(2))
    yy = torch.randint(0, 5, (32,), generator=torch.Generator().manual_seed(3))
    data = Data((x[:16], yy[:16]), (x[16:], yy[16:]), val=(x[16:], yy[16:]))
    model = build_model("mlp", 1, 5, 4)
    h = hook("advreg", data, theta=0.5, steps=2)
    h.before_step(model)  # builds and trains the inference model
    logits, y, idx = model(x[:8]), yy[:8], torch.arange(8)
    out = h.attack(torch.cat([F.softmax(logits, 1), F.one_hot(y, 5).float()], 1)).squeeze(1)
    expected = F.cross_entropy(logits, y) - 0.5 * F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
    assert torch.isclose(batch_loss(model, logits, y, idx, [h]), expected)
    assert type(hook("advreg", data, theta=0.0, steps=1)) is Hook  # theta = 0: plain training
    with pytest.raises(ValueError, match="reference"):
        hook("advreg", Data(data.train, data.test), theta=1.0, steps=1)


def test_hooks_compose_in_order():
    logits, y, idx = _batch()
    model = build_model("mlp", 1, 5, 4)
    hooks = [hook("label_smoothing", epsilon=0.1), hook("ppb", lam=2.0), hook("l2", lam=1e-3)]
    expected = F.cross_entropy(logits, y, label_smoothing=0.1) + 2.0 * ppb_penalty(logits) + 1e-3 * l2_penalty(model)
    assert torch.equal(batch_loss(model, logits, y, idx, hooks), expected)


def test_fit_defended_uses_the_variants_patience_and_teacher():
    x = torch.randn(64, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    y = (x.mean((1, 2, 3)) > 0).long()
    data = Data((x[:40], y[:40]), (x[40:], y[40:]), val=(x[40:], y[40:]))
    recipe = Recipe("sgd", 0.05, 0.9, 0.0, 3, 16, "none", False)
    last = fit_defended(build_model("mlp", 1, 2, 8), data, recipe, variant("early_stop", patience=1), seed_everything(0),
                        torch.device("cpu"))
    assert 1 <= last["best_epoch"] <= 3
    assert "best_epoch" not in fit_defended(build_model("mlp", 1, 2, 8), data, recipe, variant("none"), seed_everything(0), torch.device("cpu"))
    with pytest.raises(ValueError, match="teacher"):
        fit_defended(build_model("mlp", 1, 2, 8), data, recipe, variant("distill", alpha=0.5, temperature=2.0),
                     seed_everything(0), torch.device("cpu"))
    with pytest.raises(ValueError, match="not a training-time"):
        fit_defended(build_model("mlp", 1, 2, 8), data, recipe, variant("topk", k=1), seed_everything(0), torch.device("cpu"))



def test_ppb_finetune_trains_dense_models_undefended_and_retrains_pruned_ones_with_ppb():
    """Seed 002's PPB: in the dense phase the weights are exactly those of ``none``; in the
    retraining phase exactly those of ``ppb`` (the same penalty and strength)."""
    x = torch.randn(64, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    y = (x.mean((1, 2, 3)) > 0).long()
    data = Data((x[:40], y[:40]), (x[40:], y[40:]))

    def trained(kind: str, phase: str, **settings) -> dict[str, torch.Tensor]:
        model = build_model("mlp", 1, 2, 8)
        fit_defended(model, data, BASE, variant(kind, **settings), seed_everything(0), torch.device("cpu"), phase=phase)
        return model.state_dict()

    def same(a: dict, b: dict) -> bool:
        return all(torch.equal(a[k], b[k]) for k in a)

    none, ppb = trained("none", "dense"), trained("ppb", "dense", lam=4.0)
    assert not same(none, ppb)  # the penalty does change training
    assert same(trained("ppb_finetune", "dense", lam=4.0), none)
    assert same(trained("ppb_finetune", "retrain", lam=4.0), trained("ppb", "retrain", lam=4.0))
    with pytest.raises(ValueError, match="phase must be one of dense, retrain"):
        trained("none", "finetune")


# ---------------------------------------------------------------------------------------------
# Adding a release-time defense is one file.

NEW_KIND = '''"""A test release-time defense: probabilities scaled by a factor."""
from dataclasses import dataclass

from ticketleak.core.schema import Section, at_least

WHEN = "release"


@dataclass(frozen=True)
class Settings(Section):
    scale: float

    def check(self) -> None:
        at_least(self, "scale", 0, strict=True)


def release(probs, s):
    return probs * s.scale
'''


def test_a_release_variant_is_one_file(raw_params):
    path = Path(sys.modules["ticketleak.defenses"].__file__).parent / "zz_test.py"
    try:
        path.write_text(NEW_KIND)
        DEFENSES.names.cache_clear()
        raw = raw_params["defense"]
        raw["release_variants"]["half"] = {"kind": "zz_test", "scale": 0.5}
        raw["release"] = [*raw["release"], "half"]
        d = schema.build(DefenseParams, raw, "defense")
        assert d.release == ["topk", "round", "half"] and d.release_variants["half"].when == "release"
        logits = np.array([[0.0, 1.0]])
        assert np.allclose(release(logits, d.release_variants["half"]), 0.5 * softmax(logits))
        raw["release_variants"]["half"]["scale"] = -1
        with pytest.raises(ParamsError, match=r"defense\.release_variants\.half\.scale: must be > 0"):
            schema.build(DefenseParams, raw, "defense")
        raw["release_variants"]["half"]["scale"] = 0.5
        raw["variants"]["half"] = {"kind": "zz_test", "scale": 0.5}  # a release kind among training variants
        with pytest.raises(ParamsError, match="not a train-time defense"):
            schema.build(DefenseParams, raw, "defense")
    finally:
        path.unlink(missing_ok=True)
        sys.modules.pop("ticketleak.defenses.zz_test", None)
        DEFENSES.names.cache_clear()
    assert "zz_test" not in DEFENSES.names()
