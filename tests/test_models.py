"""Tests for ticketleak.models."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from ticketleak.models import build_model, count_parameters, prunable_layers
from ticketleak.core.registry import ARCHITECTURES as ARCHITECTURE_REGISTRY

ARCHITECTURES = ARCHITECTURE_REGISTRY.names()

REPO = Path(__file__).resolve().parents[1]
SHAPES = [(1, 8), (3, 32)]


# Every case, the torchvision 32x32 ones included, runs in well under 2 s on a CPU: no slow marks.
@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("channels,size", SHAPES)
def test_forward_shape(arch: str, channels: int, size: int) -> None:
    model = build_model(arch, channels, 10, size).eval()
    with torch.no_grad():
        out = model(torch.randn(2, channels, size, size))
    assert out.shape == (2, 10)


@pytest.mark.parametrize("arch", ["cnn", "lenet5", "vgg16_bn", "densenet121"])
def test_smallest_image_size(arch: str) -> None:
    model = build_model(arch, 1, 3, 4).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, 4, 4)).shape == (2, 3)


def test_lenet5_mnist_is_classic() -> None:
    model = build_model("lenet5", 1, 10, 28)
    assert [m.in_features for m in model if isinstance(m, nn.Linear)][0] == 16 * 5 * 5


def test_unknown_arch_raises() -> None:
    with pytest.raises(ValueError, match="alexnet") as info:
        build_model("alexnet", 1, 10, 8)
    assert "cnn" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(in_channels=0),
        dict(num_classes=1),
        dict(image_size=3),
        dict(dropout=-0.1),
        dict(dropout=1.0),
    ],
)
def test_invalid_arguments_raise(kwargs: dict) -> None:
    args = dict(arch="cnn", in_channels=1, num_classes=10, image_size=8) | kwargs
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        build_model(**args)


def test_small_models_do_not_import_torchvision() -> None:
    code = (
        "import sys; from ticketleak.models import build_model; "
        "[build_model(a, 1, 10, 8) for a in ('mlp', 'cnn', 'lenet5')]; "
        "print('torchvision' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_dropout(arch: str) -> None:
    rates = [m.p for m in build_model(arch, 1, 10, 8, dropout=0.3).modules() if isinstance(m, nn.Dropout)]
    assert rates and all(p == 0.3 for p in rates)
    assert not any(isinstance(m, nn.Dropout) for m in build_model(arch, 1, 10, 8).modules())


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_prunable_layers(arch: str) -> None:
    model = build_model(arch, 1, 10, 8, dropout=0.5)
    layers = prunable_layers(model)
    expected = [n for n, m in model.named_modules() if type(m) in (nn.Conv2d, nn.Linear)]
    assert [n for n, _ in layers] == expected
    assert all(isinstance(m, (nn.Conv2d, nn.Linear)) for _, m in layers)
    assert isinstance(layers[-1][1], nn.Linear) and layers[-1][1].out_features == 10
    assert not any(hasattr(m, "parametrizations") for m in model.modules())


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_same_seed_same_weights(arch: str) -> None:
    torch.manual_seed(0)
    first = build_model(arch, 1, 10, 8).state_dict()
    torch.manual_seed(0)
    second = build_model(arch, 1, 10, 8).state_dict()
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_count_parameters() -> None:
    model = build_model("mlp", 1, 10, 8)
    assert count_parameters(model) == (64 * 256 + 256) + (256 * 128 + 128) + (128 * 10 + 10)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_batchnorm_flag_says_whether_the_model_has_batchnorm(arch: str) -> None:
    has = any(isinstance(m, nn.BatchNorm2d) for m in build_model(arch, 1, 10, 8).modules())
    assert ARCHITECTURE_REGISTRY.get(arch).BATCHNORM is has
