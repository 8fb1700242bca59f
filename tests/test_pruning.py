import pytest
import torch

from ticketleak import pruning
from ticketleak.models import build_model, prunable_layers
from ticketleak.training import Recipe, fit, seed_everything


def _trained_cnn():
    torch.manual_seed(0)
    model = build_model("cnn", 1, 10, 8)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():  # stand-in for training: move every weight away from its init
        for p in model.parameters():
            p.add_(torch.randn_like(p))
    return model, init


@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.8, 0.95])
@pytest.mark.parametrize("scope", ["global", "layer"])
def test_measured_sparsity_matches_the_request(sparsity, scope):
    model, _ = _trained_cnn()
    masks = pruning.magnitude_masks(model, sparsity, scope)
    pruning.apply_masks(model, masks)
    pruning.make_permanent(model)
    measured = pruning.measure_sparsity(model)
    if scope == "global":
        assert measured["zeros"] == round(sparsity * measured["prunable"])
    for name, layer in measured["layers"].items():
        if scope == "layer":
            assert abs(layer["zeros"] - sparsity * layer["weights"]) <= 1  # within one weight per layer
        assert layer["zeros"] == int((~masks[name]).sum())


def test_global_masks_remove_the_smallest_magnitudes():
    model, _ = _trained_cnn()
    masks = pruning.magnitude_masks(model, 0.7, "global")
    kept = torch.cat([m.weight.abs()[masks[n]].flatten() for n, m in prunable_layers(model)])
    dropped = torch.cat([m.weight.abs()[~masks[n]].flatten() for n, m in prunable_layers(model)])
    assert dropped.max() <= kept.min()


def test_ticket_rewinds_survivors_to_init_and_zeroes_the_rest():
    model, init = _trained_cnn()
    masks = pruning.one_shot_ticket(model, init, 0.8, "global")
    for name, module in prunable_layers(model):
        w, m = module.weight.detach(), masks[name]
        assert torch.equal(w[m], init[f"{name}.weight"][m])
        assert (w[~m] == 0).all()
    biases = [k for k in init if k.endswith("bias")]
    assert all(torch.equal(model.state_dict()[k], init[k]) for k in biases)


def test_pruned_weights_stay_zero_through_retraining():
    model, init = _trained_cnn()
    masks = pruning.one_shot_ticket(model, init, 0.9, "global")
    before = {n: m.weight.detach().clone() for n, m in prunable_layers(model)}
    gen = seed_everything(0)
    x, y = torch.randn(64, 1, 8, 8), torch.randint(0, 10, (64,))
    recipe = Recipe("sgd", 0.1, 0.9, 5e-4, epochs=2, batch_size=16, schedule="constant", augment=False, l2=1e-3)
    fit(model, (x, y), (x, y), recipe, gen, torch.device("cpu"))
    pruning.make_permanent(model)
    for name, module in prunable_layers(model):
        w = module.weight.detach()
        assert (w[~masks[name]] == 0).all()
        assert not torch.equal(w[masks[name]], before[name][masks[name]])  # survivors did train
    assert abs(pruning.measure_sparsity(model)["global"] - 0.9) < 1e-3
