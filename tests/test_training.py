import torch

from ticketleak.models import build_model
from ticketleak.training import Recipe, evaluate, fit, seed_everything


def _run(seed: int, recipe: Recipe) -> dict:
    gen = seed_everything(seed)
    model = build_model("cnn", 1, 4, 8)
    x = torch.randn(96, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    y = (x.mean((1, 2, 3)) > 0).long() + 2 * (x[:, 0, 0, 0] > 0).long()
    fit(model, (x, y), (x, y), recipe, gen, torch.device("cpu"))
    return {"state": model.state_dict(), "acc": evaluate(model, x, y)[1]}


RECIPE = Recipe("adam", 1e-2, 0.9, 0.0, epochs=12, batch_size=16, schedule="cosine", augment=False)


def test_same_seed_same_model():
    augmented = Recipe(**{**RECIPE.__dict__, "augment": True})
    a, b = _run(0, augmented), _run(0, augmented)
    assert all(torch.equal(a["state"][k], b["state"][k]) for k in a["state"])


def test_other_seed_other_model_and_training_learns():
    a, b = _run(0, RECIPE), _run(1, RECIPE)
    assert not all(torch.equal(a["state"][k], b["state"][k]) for k in a["state"])
    assert a["acc"] > 0.5  # four balanced classes: chance is 0.25


def test_l2_penalty_shrinks_weights():
    plain = _run(0, RECIPE)["state"]
    shrunk = _run(0, Recipe(**{**RECIPE.__dict__, "l2": 0.1}))["state"]
    norm = lambda s: sum((v**2).sum() for k, v in s.items() if k.endswith("weight"))  # noqa: E731
    assert norm(shrunk) < 0.8 * norm(plain)


# ---------------------------------------------------------------------------------------------
# Training-time defenses inside fit: each changes training only when switched on, and all of
# them compose with a held pruning mask and with early stopping.

import pytest  # noqa: E402

from ticketleak import masks as M  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from ticketleak.training import AdvReg, _advreg_features, predict_logits  # noqa: E402

torch.set_num_threads(1)
SHORT = Recipe("sgd", 0.05, 0.9, 0.0, epochs=3, batch_size=16, schedule="none", augment=False)


def _data(n: int = 96, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed))
    return x, (x.mean((1, 2, 3)) > 0).long() + 2 * (x[:, 0, 0, 0] > 0).long()


def _train(recipe: Recipe, masks: float = 0.0, dropout: float = 0.0, **kwargs) -> dict:
    gen = seed_everything(0)
    model = build_model("cnn", 1, 4, 8, dropout)
    held = M.magnitude_masks(model, masks) if masks else None
    if held:
        M.apply_masks(model, held)
    last = fit(model, _data(), _data(48, 2), recipe, gen, torch.device("cpu"), **kwargs)
    return {"model": model, "state": model.state_dict(), "last": last, "masks": held}


def _same(a: dict, b: dict) -> bool:
    return all(torch.equal(a["state"][k], b["state"][k]) for k in a["state"])


def _with(**changes) -> Recipe:
    return Recipe(**{**SHORT.__dict__, **changes})


def test_advreg_off_is_plain_training_and_on_changes_it():
    reference = _data(64, 3)
    plain = _train(SHORT, dropout=0.3)
    off = _train(_with(advreg_theta=0.0, advreg_steps=3), dropout=0.3, reference=reference)
    on = _train(_with(advreg_theta=1.0, advreg_steps=2), dropout=0.3, reference=reference)
    assert _same(plain, off)
    assert not _same(plain, on)
    assert _same(on, _train(_with(advreg_theta=1.0, advreg_steps=2), dropout=0.3, reference=reference))  # seeded
    with pytest.raises(ValueError, match="reference"):
        _train(_with(advreg_theta=1.0))


def test_advreg_attack_learns_without_touching_the_training_rng():
    members, reference = _data(64, 1), _data(64, 2)
    gen = seed_everything(0)
    model = build_model("mlp", 1, 4, 8)
    fit(model, members, members, _with(epochs=30, lr=0.1), gen, torch.device("cpu"))  # overfit: members separable
    state, global_state = gen.get_state(), torch.get_rng_state()
    adv = AdvReg(members, reference, theta=1.0, steps=1, batch_size=32, gen=gen, device=torch.device("cpu"))

    def attack_loss() -> float:  # BCE of h on all members (1) and all reference samples (0)
        feats = torch.cat([_advreg_features(predict_logits(model, d[0]), d[1]) for d in (members, reference)])
        with torch.no_grad():
            return F.binary_cross_entropy_with_logits(adv.attack(feats).squeeze(1), torch.arange(128).lt(64).float()).item()

    adv.train_attack(model)
    before = attack_loss()
    adv.steps = 300
    adv.train_attack(model)
    assert torch.equal(gen.get_state(), state) and torch.equal(torch.get_rng_state(), global_state)
    assert attack_loss() < before - 0.05  # the inference model learns to separate members
    adv.opt.zero_grad(set_to_none=True)
    logits = predict_logits(model, members[0][:8])
    pen = adv.penalty(logits.requires_grad_(), members[1][:8])
    assert pen.item() < 0  # -theta * BCE
    pen.backward()
    assert all(p.grad is None for p in adv.attack.parameters())  # classifier step does not train h


def test_label_smoothing_ppb_and_distillation_change_training_only_when_on():
    plain = _train(SHORT)
    assert _same(plain, _train(_with(label_smoothing=0.0, ppb=0.0, distill_alpha=0.0)))
    assert not _same(plain, _train(_with(label_smoothing=0.2)))
    assert not _same(plain, _train(_with(ppb=4.0)))
    teacher = torch.randn(96, 4, generator=torch.Generator().manual_seed(5))
    assert _same(plain, _train(SHORT, teacher_logits=teacher))  # alpha = 0 ignores the teacher
    assert not _same(plain, _train(_with(distill_alpha=0.5, distill_temperature=2.0), teacher_logits=teacher))
    with pytest.raises(ValueError, match="teacher"):
        _train(_with(distill_alpha=0.5))


def test_distillation_alpha_one_follows_the_teacher_not_the_labels():
    x, y = _data()
    taught = (x[:, 0, 3, 3] > 0).long() + 2 * (x[:, 0, 5, 2] > 0).long()  # another rule than y
    teacher = 8.0 * F.one_hot(taught, 4).float()
    for alpha, target in ((1.0, taught), (0.0, y)):
        run = _train(_with(optimizer="adam", lr=1e-2, epochs=15, distill_alpha=alpha, distill_temperature=2.0),
                     teacher_logits=teacher)
        assert (predict_logits(run["model"], x).argmax(1) == target).float().mean() > 0.9


def test_all_defenses_compose_with_masks_and_early_stopping():
    teacher = torch.randn(96, 4, generator=torch.Generator().manual_seed(5))
    recipe = _with(epochs=4, l2=1e-3, label_smoothing=0.1, ppb=4.0, distill_alpha=0.5, distill_temperature=2.0,
                   advreg_theta=0.5, advreg_steps=1)
    run = _train(recipe, masks=0.6, dropout=0.3, teacher_logits=teacher, reference=_data(64, 3),
                 val=_data(32, 4), patience=2)
    modules = dict(run["model"].named_modules())
    for name, keep in run["masks"].items():
        assert hasattr(modules[name], "weight_mask")  # still held
        assert (modules[name].weight[~keep] == 0).all()
    assert "best_epoch" in run["last"] and 1 <= run["last"]["best_epoch"] <= 4
