import torch

from ticketleak.models import build_model
from ticketleak.training import Recipe, evaluate, fit, seed_everything


def _run(seed: int, recipe: Recipe, **kwargs) -> dict:
    gen = seed_everything(seed)
    model = build_model("cnn", 1, 4, 8)
    x = torch.randn(96, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    y = (x.mean((1, 2, 3)) > 0).long() + 2 * (x[:, 0, 0, 0] > 0).long()
    fit(model, (x, y), (x, y), recipe, gen, torch.device("cpu"), **kwargs)
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
    from ticketleak.defenses import l2

    plain = _run(0, RECIPE)["state"]
    shrunk = _run(0, RECIPE, hooks=[l2.hook(l2.Settings(lam=0.1))])["state"]
    norm = lambda s: sum((v**2).sum() for k, v in s.items() if k.endswith("weight"))  # noqa: E731
    assert norm(shrunk) < 0.8 * norm(plain)


# ---------------------------------------------------------------------------------------------
# Training-time defenses inside fit (through their hooks): each changes training only when
# switched on, and all of them compose with a held pruning mask and with early stopping.

import pytest  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from ticketleak import masks as M  # noqa: E402
from ticketleak.defenses import (  # noqa: E402
    Data,  # noqa: E402
    advreg,
    distill,
    l2,
    label_smoothing,
    ppb,
)
from ticketleak.defenses.advreg import AdvReg, features  # noqa: E402
from ticketleak.training import Hook, predict_logits  # noqa: E402

torch.set_num_threads(1)
SHORT = Recipe("sgd", 0.05, 0.9, 0.0, epochs=3, batch_size=16, schedule="none", augment=False)
CPU = torch.device("cpu")


def _data(n: int = 96, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed))
    return x, (x.mean((1, 2, 3)) > 0).long() + 2 * (x[:, 0, 0, 0] > 0).long()


def _hook(module, recipe: Recipe = SHORT, val=None, teacher=None, **settings) -> Hook:
    """The hook of defense ``module`` with ``settings``, on the data :func:`_train` trains on
    (``gen`` only seeds AdvReg's private generator: its initial seed is what matters)."""
    data = Data(_data(), _data(48, 2), val, teacher)
    return module.hook(module.Settings(**settings), data, recipe, torch.Generator().manual_seed(0), CPU)


def _train(recipe: Recipe, masks: float = 0.0, dropout: float = 0.0, hooks=(), **kwargs) -> dict:
    gen = seed_everything(0)
    model = build_model("cnn", 1, 4, 8, dropout)
    held = M.magnitude_masks(model, masks) if masks else None
    if held:
        M.apply_masks(model, held)
    last = fit(model, _data(), _data(48, 2), recipe, gen, CPU, hooks=hooks, **kwargs)
    return {"model": model, "state": model.state_dict(), "last": last, "masks": held}


def _same(a: dict, b: dict) -> bool:
    return all(torch.equal(a["state"][k], b["state"][k]) for k in a["state"])


def _with(**changes) -> Recipe:
    return Recipe(**{**SHORT.__dict__, **changes})


def test_advreg_off_is_plain_training_and_on_changes_it():
    reference = _data(64, 3)
    plain = _train(SHORT, dropout=0.3)
    off = _train(SHORT, dropout=0.3, hooks=[_hook(advreg, val=reference, theta=0.0, steps=3)])
    on = _train(SHORT, dropout=0.3, hooks=[_hook(advreg, val=reference, theta=1.0, steps=2)])
    assert _same(plain, off)
    assert not _same(plain, on)
    assert _same(on, _train(SHORT, dropout=0.3, hooks=[_hook(advreg, val=reference, theta=1.0, steps=2)]))  # seeded
    with pytest.raises(ValueError, match="reference"):
        _hook(advreg, theta=1.0, steps=1)


def test_advreg_attack_learns_without_touching_the_training_rng():
    members, reference = _data(64, 1), _data(64, 2)
    gen = seed_everything(0)
    model = build_model("mlp", 1, 4, 8)
    fit(model, members, members, _with(epochs=30, lr=0.1), gen, CPU)  # overfit: members separable
    state, global_state = gen.get_state(), torch.get_rng_state()
    adv = AdvReg(members, reference, theta=1.0, steps=1, batch_size=32, gen=gen, device=CPU)

    def attack_loss() -> float:  # BCE of h on all members (1) and all reference samples (0)
        feats = torch.cat([features(predict_logits(model, d[0]), d[1]) for d in (members, reference)])
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
    teacher = torch.randn(96, 4, generator=torch.Generator().manual_seed(5))
    off = [_hook(label_smoothing, epsilon=0.0), _hook(ppb, lam=0.0), _hook(distill, teacher=teacher, alpha=0.0, temperature=2.0)]
    assert _same(plain, _train(SHORT, hooks=off))  # alpha = 0 ignores the teacher
    assert not _same(plain, _train(SHORT, hooks=[_hook(label_smoothing, epsilon=0.2)]))
    assert not _same(plain, _train(SHORT, hooks=[_hook(ppb, lam=4.0)]))
    assert not _same(plain, _train(SHORT, hooks=[_hook(distill, teacher=teacher, alpha=0.5, temperature=2.0)]))
    with pytest.raises(ValueError, match="teacher"):
        _hook(distill, alpha=0.5, temperature=2.0)


def test_distillation_alpha_one_follows_the_teacher_not_the_labels():
    x, y = _data()
    taught = (x[:, 0, 3, 3] > 0).long() + 2 * (x[:, 0, 5, 2] > 0).long()  # another rule than y
    teacher = 8.0 * F.one_hot(taught, 4).float()
    for alpha, target in ((1.0, taught), (0.0, y)):
        run = _train(_with(optimizer="adam", lr=1e-2, epochs=15),
                     hooks=[_hook(distill, teacher=teacher, alpha=alpha, temperature=2.0)])
        assert (predict_logits(run["model"], x).argmax(1) == target).float().mean() > 0.9


def test_all_defenses_compose_with_masks_and_early_stopping():
    teacher = torch.randn(96, 4, generator=torch.Generator().manual_seed(5))
    recipe = _with(epochs=4)
    hooks = [_hook(distill, teacher=teacher, alpha=0.5, temperature=2.0), _hook(ppb, lam=4.0), _hook(l2, lam=1e-3),
             _hook(advreg, recipe, val=_data(64, 3), theta=0.5, steps=1)]
    run = _train(recipe, masks=0.6, dropout=0.3, hooks=hooks, val=_data(32, 4), patience=2)
    modules = dict(run["model"].named_modules())
    for name, keep in run["masks"].items():
        assert hasattr(modules[name], "weight_mask")  # still held
        assert (modules[name].weight[~keep] == 0).all()
    assert "best_epoch" in run["last"] and 1 <= run["last"]["best_epoch"] <= 4


def test_epoch_callback_sees_every_epoch():
    seen = []
    _train(SHORT, on_epoch_end=lambda epoch, model: seen.append(epoch))
    assert seen == [1, 2, 3]
