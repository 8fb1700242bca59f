import copy
from dataclasses import replace

import pytest
import torch

from ticketleak import masks as M
from ticketleak import pruning
from ticketleak.models import build_model, prunable_layers
from ticketleak.pruning.slimming import batchnorm_layers, slimming_masks
from ticketleak.core.registry import PRUNING_METHODS
from ticketleak.training import Recipe, fit, seed_everything

RECIPE = Recipe("adam", 1e-2, 0.9, 0.0, epochs=2, batch_size=32, schedule="constant", augment=False)


def _trained(arch="cnn"):
    torch.manual_seed(0)
    model = build_model(arch, 1, 10, 8)
    init = copy.deepcopy(model.state_dict())
    with torch.no_grad():  # stand-in for training: move every weight away from its init
        for p in model.parameters():
            p.add_(torch.randn_like(p))
    return model, init


def _data(n=96):
    gen = torch.Generator().manual_seed(3)
    return torch.randn(n, 1, 8, 8, generator=gen), torch.randint(0, 10, (n,), generator=gen)


def _fit(data, seed=0):
    """The job's ``fit`` as the prune stage builds it, without a defense: plain training."""

    def fit_job(model, epochs, patience):
        recipe = replace(RECIPE, epochs=epochs or RECIPE.epochs)
        last = fit(model, data, data, recipe, seed_everything(seed), torch.device("cpu"), val=data if patience else None, patience=patience)
        return {**last, "train_epochs": recipe.epochs}

    return fit_job


def _job(method, arch="cnn", cache=None, settings=None, fit=None):
    dense, init = _trained(arch)
    data = _data()
    defaults = {
        "lth_imp": dict(rate=0.5, retrain_epochs=1),
        "finetune_l1": dict(epochs=2, patience=1),
        "filter_l1": dict(epochs=2, patience=1),
        "filter_l2": dict(epochs=2, patience=1),
        "slimming": dict(epochs=2, patience=1),
        "snip": dict(batch=32, retrain_epochs=1),
        "grasp": dict(batch=32, retrain_epochs=1),
    }
    return pruning.Job(
        dense=dense, init_state=init, rewind_state=init, build=lambda: build_model(arch, 1, 10, 8),
        train=data, fit=fit or _fit(data), recipe_epochs=RECIPE.epochs, tag=repr(RECIPE),
        settings=settings or PRUNING_METHODS.settings(method)(**defaults.get(method, dict(retrain_epochs=1))),
        scope="global", seed=0, cache=cache,
    )


@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.8, 0.95])
@pytest.mark.parametrize("scope", ["global", "layer"])
def test_measured_sparsity_matches_the_request(sparsity, scope):
    model, _ = _trained()
    masks = M.magnitude_masks(model, sparsity, scope)
    M.apply_masks(model, masks)
    M.make_permanent(model)
    measured = M.measure_sparsity(model)
    if scope == "global":
        assert measured["zeros"] == round(sparsity * measured["prunable"])
    for name, layer in measured["layers"].items():
        if scope == "layer":
            assert abs(layer["zeros"] - sparsity * layer["weights"]) <= 1  # within one weight per layer
        assert layer["zeros"] == int((~masks[name]).sum())


def test_global_masks_remove_the_smallest_magnitudes():
    model, _ = _trained()
    masks = M.magnitude_masks(model, 0.7, "global")
    kept = torch.cat([m.weight.abs()[masks[n]].flatten() for n, m in prunable_layers(model)])
    dropped = torch.cat([m.weight.abs()[~masks[n]].flatten() for n, m in prunable_layers(model)])
    assert dropped.max() <= kept.min()


@pytest.mark.parametrize("method", ["lth_oneshot", "snip"])
def test_output_layer_false_keeps_the_classifier_whole(method):
    """prune.output_layer: false leaves the last layer unpruned and takes the asked sparsity from
    the others (magnitude and at-initialisation methods alike); true ranks it with them."""
    job = replace(_job(method), output_layer=False)
    model, record = pruning.run(method, job, 0.8)
    layers = prunable_layers(model)
    last, hidden = layers[-1][0], [n for n, _ in layers[:-1]]
    masks = record["masks"]
    assert bool(masks[last].all())
    pruned = sum(int((~masks[n]).sum()) for n in hidden)
    total = sum(masks[n].numel() for n in hidden)
    assert pruned == round(0.8 * total)
    ranked = M.magnitude_masks(job.dense, 0.8, "global", output_layer=True)
    assert not bool(ranked[last].all())  # on this net the global ranking does cut into the output layer


def test_ticket_rewinds_survivors_to_init_before_retraining():
    job = _job("lth_oneshot")
    masks = M.magnitude_masks(job.dense, 0.8, "global")
    rewound = pruning.rewound(job)
    M.apply_masks(rewound, masks)
    for name, module in prunable_layers(rewound):
        w, m = module.weight.detach(), masks[name]
        assert torch.equal(w[m], job.init_state[f"{name}.weight"][m])
        assert (w[~m] == 0).all()


def test_pruned_weights_stay_zero_through_retraining():
    model, _ = _trained()
    masks = M.magnitude_masks(model, 0.9, "global")
    M.apply_masks(model, masks)
    before = {n: m.weight.detach().clone() for n, m in prunable_layers(model)}
    # weight decay pulls on the masked weights too
    recipe = Recipe("sgd", 0.01, 0.9, 5e-4, epochs=2, batch_size=16, schedule="constant", augment=False)
    fit(model, _data(), _data(), recipe, seed_everything(0), torch.device("cpu"))
    M.make_permanent(model)
    for name, module in prunable_layers(model):
        w = module.weight.detach()
        assert (w[~masks[name]] == 0).all()
        assert not torch.equal(w[masks[name]], before[name][masks[name]])  # survivors did train
    assert abs(M.measure_sparsity(model)["global"] - 0.9) < 1e-3


@pytest.mark.parametrize("method", ["lth_oneshot", "random_reinit", "random_prune", "finetune_l1", "snip", "grasp"])
def test_unstructured_methods_hit_the_asked_sparsity(method):
    model, record = pruning.run(method, _job(method), 0.8)
    assert abs(record["sparsity"] - 0.8) < 1e-3
    for name, module in prunable_layers(model):
        assert (module.weight.detach()[~record["masks"][name]] == 0).all()
    assert model(torch.randn(3, 1, 8, 8)).shape == (3, 10)


def test_random_controls_differ_from_the_ticket_as_specified():
    job = _job("lth_oneshot")
    ticket = M.magnitude_masks(job.dense, 0.8, "global")
    random = M.random_masks_like(ticket, seed=1)
    for name in ticket:
        assert int(random[name].sum()) == int(ticket[name].sum())  # same count per layer
    assert any(not torch.equal(random[n], ticket[n]) for n in ticket)
    _, record = pruning.run("random_reinit", job, 0.8)
    assert all(torch.equal(record["masks"][n], ticket[n]) for n in ticket)  # same mask as the ticket


@pytest.mark.parametrize("method, norm", [("filter_l1", 1), ("filter_l2", 2)])
def test_filter_pruning_removes_whole_filters_with_the_smallest_norm(method, norm):
    job = _job(method)
    masks, counts = M.filter_masks(job.dense, 0.5, norm)
    assert counts["filter_fraction"] == pytest.approx(0.5, abs=0.02)
    for name, module in prunable_layers(job.dense):
        if isinstance(module, torch.nn.Conv2d):
            keep = masks[name].flatten(1)
            assert (keep.all(1) | (~keep).all(1)).all()  # each filter kept or dropped whole
            norms = module.weight.detach().flatten(1).norm(p=norm, dim=1)
            dropped, kept = norms[~keep.all(1)], norms[keep.all(1)]
            assert dropped.max() <= kept.min()
        else:
            assert masks[name].all()  # Linear layers untouched in a CNN
    model, record = pruning.run(method, job, 0.5)
    assert record["filter_fraction"] == pytest.approx(0.5, abs=0.02) and 0 < record["sparsity"] < 0.5
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 10)


def test_slimming_prunes_batchnorm_channels():
    job = _job("slimming", arch="resnet18")
    masks, counts = slimming_masks(job.dense, 0.3)
    assert counts["channel_fraction"] == pytest.approx(0.3, abs=0.01)
    model, record = pruning.run("slimming", job, 0.3)
    bns = dict(batchnorm_layers(model))
    zero = sum(int(((bns[n].weight == 0) & (bns[n].bias == 0)).sum()) for n in masks)
    assert zero == counts["bn_channels_removed"]
    assert record["bn_channels"] == counts["bn_channels"]
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    with pytest.raises(ValueError, match="BatchNorm"):
        slimming_masks(_trained("cnn")[0], 0.3)


def test_slimming_keeps_every_layer_alive():
    model = build_model("cnn_bn", 1, 10, 8)
    with torch.no_grad():
        model[1].weight.fill_(1e-3)  # the first BatchNorm's scales are all the smallest
    masks, _ = slimming_masks(model, 0.4, scope="global")
    assert masks["1"].sum() == 1 and masks["5"].sum() > 0
    masks, _ = slimming_masks(model, 0.5)  # per layer (the default): half of each layer
    assert masks["1"].sum() == 16 and masks["5"].sum() == 32


def test_imp_rounds_follow_the_schedule():
    assert [pruning.imp_rounds(s, 0.2) for s in (0.0, 0.2, 0.5, 0.9, 0.95)] == [0, 1, 4, 11, 14]


def test_imp_round_k_reuses_round_k_minus_1(tmp_path, capsys):
    job = _job("lth_imp", cache=tmp_path)
    model2, rec2 = pruning.run("lth_imp", job, 0.75)  # rate 0.5: two rounds
    assert rec2["imp_round"] == 2 and abs(rec2["sparsity"] - 0.75) < 1e-3
    (cache,) = tmp_path.iterdir()
    assert sorted(p.name for p in cache.iterdir()) == ["round-1", "round-2"]
    calls = []
    counted = lambda *a, fit=_fit(_data()): calls.append(1) or fit(*a)  # noqa: E731
    model3, rec3 = pruning.run("lth_imp", _job("lth_imp", cache=tmp_path, fit=counted), 0.85)
    assert "reusing IMP round 2" in capsys.readouterr().err
    assert len(calls) == 1 and rec3["imp_round"] == 3  # only round 3 trained
    assert abs(rec3["sparsity"] - 0.875) < 1e-3
    for name in rec2["masks"]:
        assert not (rec3["masks"][name] & ~rec2["masks"][name]).any()  # pruned stays pruned
