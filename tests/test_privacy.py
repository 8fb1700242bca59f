"""DP-SGD through Opacus: accounting, pruning masks held during private training, and the
model handed back as a plain nn.Module."""

import math
from dataclasses import replace

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from ticketleak import masks as M
from ticketleak.core import schema
from ticketleak.defenses import Data, fit_defended
from ticketleak.defenses.dpsgd import fit_private
from ticketleak.models import build_model
from ticketleak.core.params import ParamsError, Variant
from ticketleak.core.registry import DEFENSES
from ticketleak.training import Recipe, fit, seed_everything

pytest.importorskip("opacus")
torch.set_num_threads(1)
CPU = torch.device("cpu")
RECIPE = Recipe("sgd", 0.1, 0.9, 5e-4, epochs=2, batch_size=32, schedule="cosine", augment=False)


def _data(n: int = 128, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed))
    return x, (x.mean((1, 2, 3)) > 0).long() + 2 * (x[:, 0, 0, 0] > 0).long()


def _private(arch="mlp", recipe=RECIPE, clip=1.0, noise=1.0, sparsity=0.0, seed=0, model=None, **kw):
    gen = seed_everything(seed)
    model = model if model is not None else build_model(arch, 1, 4, 8)
    masks = M.magnitude_masks(model, sparsity) if sparsity else None
    if masks:
        M.apply_masks(model, masks)
    last = fit_private(model, _data(), _data(64, 2), recipe, gen, CPU, clip=clip, noise=noise, delta=1e-5, **kw)
    return model, masks, last


def test_epsilon_is_finite_grows_with_epochs_and_shrinks_with_noise():
    _, _, one = _private(recipe=replace(RECIPE, epochs=1))
    _, _, three = _private(recipe=replace(RECIPE, epochs=3))
    _, _, noisier = _private(recipe=replace(RECIPE, epochs=3), noise=2.0)
    assert all(math.isfinite(r["epsilon"]) and r["epsilon"] > 0 for r in (one, three, noisier))
    assert one["epsilon"] < three["epsilon"]
    assert noisier["epsilon"] < three["epsilon"]
    assert three["sample_rate"] == 0.25 and three["dp_steps"] == 12 and three["delta"] == 1e-5
    assert {"train_loss", "train_acc", "test_loss", "test_acc"} <= set(three)
    assert _private(noise=0.0)[2]["epsilon"] == math.inf


@pytest.mark.parametrize("arch", ["mlp", "cnn", "lenet5"])
def test_masks_held_stay_exactly_zero_and_the_model_comes_back_plain(arch):
    recipe = replace(RECIPE, augment=True, optimizer="adam", lr=1e-2)
    model, masks, _ = _private(arch, recipe, sparsity=0.7)
    assert type(model) is nn.Sequential  # not a GradSampleModule
    modules = dict(model.named_modules())
    for name, keep in masks.items():
        module = modules[name]
        assert prune.is_pruned(module) and torch.equal(module.weight_mask.bool(), keep)  # still held
        assert (module.weight[~keep] == 0).all() and (module.weight[keep] != 0).any()
    for module in model.modules():  # no Opacus hooks or per-sample attributes left
        assert not module._forward_hooks and not module._backward_hooks
        assert all(isinstance(h, prune.BasePruningMethod) for h in module._forward_pre_hooks.values())
    assert not any(hasattr(p, "grad_sample") or hasattr(p, "summed_grad") for p in model.parameters())
    M.make_permanent(model)
    plain = build_model(arch, 1, 4, 8)
    assert sorted(model.state_dict()) == sorted(plain.state_dict())
    assert M.measure_sparsity(model)["global"] >= 0.7 - 1e-3
    plain.load_state_dict(model.state_dict())


def test_dense_model_keeps_its_keys_and_same_seed_gives_same_weights():
    a, _, _ = _private("cnn", replace(RECIPE, augment=True))
    b, _, _ = _private("cnn", replace(RECIPE, augment=True))
    c, _, _ = _private("cnn", replace(RECIPE, augment=True), seed=1)
    assert list(a.state_dict()) == list(build_model("cnn", 1, 4, 8).state_dict())
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    assert not all(torch.equal(a.state_dict()[k], c.state_dict()[k]) for k in a.state_dict())


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_without_noise_or_clipping_it_is_plain_full_batch_training(arch):
    # batch = N: Poisson sampling with q = 1 takes every sample; with clip = inf and noise 0 the
    # DP-SGD step is the plain step on the masked model (momentum and weight decay included).
    recipe = replace(RECIPE, batch_size=128, epochs=3, lr=0.5)
    private, masks, _ = _private(arch, recipe, clip=1e6, noise=0.0, sparsity=0.6)
    gen = seed_everything(0)
    plain = build_model(arch, 1, 4, 8)
    M.apply_masks(plain, masks)
    fit(plain, _data(), _data(64, 2), recipe, gen, CPU)
    M.make_permanent(plain)  # compare effective weights (weight_orig under a mask is not used)
    M.make_permanent(private)
    for k, v in plain.state_dict().items():
        assert torch.allclose(private.state_dict()[k], v, atol=1e-5), k
    noisy, _, _ = _private(arch, recipe, clip=0.1, noise=1.0, sparsity=0.6)
    M.make_permanent(noisy)
    assert not all(torch.allclose(noisy.state_dict()[k], v, atol=1e-3) for k, v in plain.state_dict().items())


def test_batchnorm_is_replaced_by_groupnorm_in_place():
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.Linear(512, 4))
    with pytest.warns(UserWarning, match="GroupNorm"):
        _, _, last = _private(model=model, sparsity=0.5)
    assert isinstance(model[1], nn.GroupNorm) and math.isfinite(last["epsilon"])
    assert "1.running_mean" not in model.state_dict()


def test_rejects_bad_settings():
    with pytest.raises(ValueError):
        _private(clip=0.0)
    for bad, key in (({"clip": 0.0, "noise": 1.0, "delta": 1e-5}, "clip"), ({"clip": 1.0, "noise": 1.0, "delta": 1.0}, "delta")):
        with pytest.raises(ParamsError, match=rf"defense\.variants\.dpsgd\.{key}"):
            schema.build(DEFENSES.settings("dpsgd"), bad, "defense.variants.dpsgd")


def test_the_dpsgd_variant_trains_privately_through_fit_defended():
    settings = schema.build(DEFENSES.settings("dpsgd"), {"clip": 1.0, "noise": 1.0, "delta": 1e-5}, "defense.variants.dpsgd")
    gen = seed_everything(0)
    model = build_model("mlp", 1, 4, 8)
    last = fit_defended(model, Data(_data(), _data(64, 2)), RECIPE, Variant("dpsgd", settings), gen, CPU)
    _, _, direct = _private()
    assert last == direct and math.isfinite(last["epsilon"])  # the same run as fit_private's


def test_early_stopping_and_epoch_callback_compose():
    seen = []
    _, _, last = _private(recipe=replace(RECIPE, epochs=3), val=_data(32, 3), patience=1,
                          on_epoch_end=lambda e, m: seen.append(e))
    assert "best_epoch" in last and seen == list(range(1, len(seen) + 1))


def test_clipping_sees_the_masked_per_sample_gradients():
    # One full-batch step (q = 1), no noise, clip 0.05: equals a hand-made DP-SGD step whose
    # per-sample gradients are those of the masked model (pruned entries contribute no norm).
    recipe = replace(RECIPE, batch_size=128, epochs=1, momentum=0.0, weight_decay=0.0, schedule="none", lr=0.5)
    private, masks, _ = _private("mlp", recipe, clip=0.05, noise=0.0, sparsity=0.6)
    seed_everything(0)
    ref = build_model("mlp", 1, 4, 8)
    M.apply_masks(ref, masks)
    x, y = _data()
    params = [p for p in ref.parameters()]
    total = [torch.zeros_like(p) for p in params]
    for i in range(len(x)):
        grads = torch.autograd.grad(nn.functional.cross_entropy(ref(x[i : i + 1]), y[i : i + 1]), params)
        norm = torch.sqrt(sum((g**2).sum() for g in grads))
        factor = min(1.0, 0.05 / (norm.item() + 1e-6))
        total = [t + g * factor for t, g in zip(total, grads)]
    with torch.no_grad():
        for p, t in zip(params, total):
            p.sub_(0.5 * t / len(x))
    M.make_permanent(ref)
    M.make_permanent(private)
    for k, v in ref.state_dict().items():
        assert torch.allclose(private.state_dict()[k], v, atol=1e-6), k
