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
