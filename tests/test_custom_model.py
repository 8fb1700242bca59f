"""A user's own network in model.arch (package.module:function): built, checked, pruned, trained."""

from __future__ import annotations

import re
import sys
import textwrap

import pytest

torch = pytest.importorskip("torch")

from ticketleak import masks as M  # noqa: E402
from ticketleak.core import params  # noqa: E402
from ticketleak.models import build_model, prunable_layers  # noqa: E402
from ticketleak.core.schema import ParamsError  # noqa: E402
from ticketleak.training import Recipe, fit, seed_everything  # noqa: E402

USER_MODELS = '''
from torch import nn


def tiny(input_shape, num_classes):
    c, h, w = input_shape
    return nn.Sequential(nn.Conv2d(c, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * h * w, num_classes))


def with_dropout(input_shape, num_classes, dropout):
    c, h, w = input_shape
    return nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(c * h * w, num_classes))


def broken(input_shape, num_classes):
    raise RuntimeError("no GPU here")


def not_a_model(input_shape, num_classes):
    return "resnet"
'''


@pytest.fixture
def user_models(tmp_path, monkeypatch):
    (tmp_path / "user_models.py").write_text(textwrap.dedent(USER_MODELS))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "user_models"
    sys.modules.pop("user_models", None)


def test_own_model_is_accepted_built_pruned_and_trained(user_models, raw_params):
    raw_params["model"]["arch"] = f"{user_models}:tiny"
    assert params.validate(raw_params).model.arch == "user_models:tiny"
    model = build_model("user_models:tiny", 1, 10, 8)
    assert [n for n, _ in prunable_layers(model)] == ["0", "3"]
    masks = M.magnitude_masks(model, 0.5)
    M.apply_masks(model, masks)
    x, y = torch.randn(64, 1, 8, 8), torch.arange(64) % 10
    fit(model, (x, y), (x, y), Recipe("adam", 1e-2, 0.9, 0.0, 2, 16, "constant", False), seed_everything(0), torch.device("cpu"))
    M.make_permanent(model)
    assert abs(M.measure_sparsity(model)["global"] - 0.5) < 1e-3
    assert isinstance(build_model("user_models:with_dropout", 1, 10, 8, 0.3)[1], torch.nn.Dropout)


@pytest.mark.parametrize("arch, message", [
    ("no_such_module:tiny", "model.arch: cannot import 'no_such_module' (ModuleNotFoundError"),
    ("user_models:nope", "model.arch: module 'user_models' has no function 'nope'"),
    ("user models:tiny", "is neither a registered name nor package.module:function"),
    ("alexnet", "model.arch: unknown architecture 'alexnet'"),
])
def test_bad_own_model_is_one_line(user_models, raw_params, arch, message):
    raw_params["model"]["arch"] = arch
    with pytest.raises(ParamsError) as err:
        params.validate(raw_params)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("arch, dropout, message", [
    ("user_models:broken", 0.0, "failed (RuntimeError: no GPU here)"),
    ("user_models:not_a_model", 0.0, "returned str, not a torch.nn.Module"),
    ("user_models:tiny", 0.5, "takes no 'dropout' argument"),
])
def test_factory_failures_are_one_line(user_models, arch, dropout, message):
    with pytest.raises(ParamsError, match=re.escape(message)):
        build_model(arch, 1, 10, 8, dropout)
