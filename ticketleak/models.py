"""Image-classifier architectures, built by name through :func:`build_model`.

Every model maps float inputs of shape (N, in_channels, image_size, image_size) to
logits of shape (N, num_classes). Its prunable layers are its ``nn.Conv2d`` and
``nn.Linear`` modules (see :func:`prunable_layers`); no parametrizations are attached.
A dropout rate of 0 puts an ``nn.Identity`` where the ``nn.Dropout`` would go, so
layer names do not depend on the rate. torchvision is imported only by the builders
that need it, so the small models load quickly.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

ARCHITECTURES: tuple[str, ...] = (
    "mlp",
    "cnn",
    "cnn_bn",
    "lenet5",
    "resnet18",
    "resnet50",
    "vgg16_bn",
    "densenet121",
)


def _dropout(p: float) -> nn.Module:
    return nn.Dropout(p) if p > 0 else nn.Identity()


def _cifar_stem(in_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)


def _mlp(in_channels: int, num_classes: int, image_size: int, dropout: float) -> nn.Module:
    """MLP: flatten -> 256 -> 128 -> classes, ReLU and dropout after each hidden layer."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(in_channels * image_size * image_size, 256),
        nn.ReLU(),
        _dropout(dropout),
        nn.Linear(256, 128),
        nn.ReLU(),
        _dropout(dropout),
        nn.Linear(128, num_classes),
    )


def _small_cnn(in_channels: int, num_classes: int, image_size: int, dropout: float, batchnorm: bool) -> nn.Module:
    side = image_size // 4
    norm = (lambda c: nn.BatchNorm2d(c)) if batchnorm else (lambda c: nn.Identity())
    return nn.Sequential(
        nn.Conv2d(in_channels, 32, 3, padding=1),
        norm(32),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        norm(64),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        _dropout(dropout),
        nn.Linear(64 * side * side, 128),
        nn.ReLU(),
        _dropout(dropout),
        nn.Linear(128, num_classes),
    )


def _cnn(in_channels: int, num_classes: int, image_size: int, dropout: float) -> nn.Module:
    """Small CNN: two conv(3x3)-ReLU-maxpool blocks (32, 64 channels), then a 128-unit MLP head."""
    return _small_cnn(in_channels, num_classes, image_size, dropout, batchnorm=False)


def _cnn_bn(in_channels: int, num_classes: int, image_size: int, dropout: float) -> nn.Module:
    """The small CNN with BatchNorm after each conv (for network slimming on small data)."""
    return _small_cnn(in_channels, num_classes, image_size, dropout, batchnorm=True)


def _lenet5(in_channels: int, num_classes: int, image_size: int, dropout: float) -> nn.Module:
    """LeNet-5: two conv(5x5)-tanh-avgpool blocks (6, 16 channels), tanh MLP 120 -> 84 -> classes."""
    pad1 = 2 if image_size < 32 else 0
    pad2 = 2 if image_size < 28 else 0
    features = nn.Sequential(
        nn.Conv2d(in_channels, 6, 5, padding=pad1),
        nn.Tanh(),
        nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5, padding=pad2),
        nn.Tanh(),
        nn.AvgPool2d(2),
        nn.Flatten(),
    )
    with torch.no_grad():
        flat = features(torch.zeros(1, in_channels, image_size, image_size)).shape[1]
    return nn.Sequential(
        *features,
        nn.Linear(flat, 120),
        nn.Tanh(),
        _dropout(dropout),
        nn.Linear(120, 84),
        nn.Tanh(),
        _dropout(dropout),
        nn.Linear(84, num_classes),
    )


def _resnet(depth: int, in_channels: int, num_classes: int, dropout: float) -> nn.Module:
    from torchvision import models

    factory = models.resnet18 if depth == 18 else models.resnet50
    model = factory(weights=None, num_classes=num_classes)
    model.conv1 = _cifar_stem(in_channels)
    model.maxpool = nn.Identity()
    model.fc = nn.Sequential(_dropout(dropout), model.fc)
    return model


def _resnet18(in_channels: int, num_classes: int, image_size: int, dropout: float) -> nn.Module:
    """ResNet-18 (torchvision) with the CIFAR stem: 3x3 stride-1 conv1, no max-pool."""
    return _resnet(18, in_channels, num_classes, dropout)


def _resnet50(in_channels: int, num_classes: int, image_size: int, dropout: float) -> nn.Module:
    """ResNet-50 (torchvision) with the CIFAR stem: 3x3 stride-1 conv1, no max-pool."""
    return _resnet(50, in_channels, num_classes, dropout)


class _VGG(nn.Module):
    def __init__(self, features: nn.Sequential, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(_dropout(dropout), nn.Linear(512, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def _vgg16_bn(in_channels: int, num_classes: int, image_size: int, dropout: float) -> nn.Module:
    """VGG-16-BN (torchvision) features, max-pools dropped below 1x1, global avg-pool, linear head."""
    from torchvision.models.vgg import cfgs, make_layers

    # Same features as vgg16_bn(weights=None), without building its 120M-weight classifier.
    features = make_layers(cfgs["D"], batch_norm=True)
    features[0] = nn.Conv2d(in_channels, 64, 3, padding=1)
    size = image_size
    for i, layer in enumerate(features):
        if isinstance(layer, nn.MaxPool2d):
            if size // 2 < 1:
                features[i] = nn.Identity()
            else:
                size //= 2
    model = _VGG(features, num_classes, dropout)
    for m in model.modules():  # torchvision's VGG initialisation
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)
    return model


def _densenet121(in_channels: int, num_classes: int, image_size: int, dropout: float) -> nn.Module:
    """DenseNet-121 (torchvision), CIFAR stem (3x3 stride-1 conv0, no pool0), pools kept >= 1x1."""
    from torchvision import models

    model = models.densenet121(weights=None, num_classes=num_classes)
    model.features.conv0 = _cifar_stem(in_channels)
    model.features.pool0 = nn.Identity()
    size = image_size
    for name, module in model.features.named_children():
        if name.startswith("transition"):
            if size // 2 < 1:
                module.pool = nn.Identity()
            else:
                size //= 2
    model.classifier = nn.Sequential(_dropout(dropout), model.classifier)
    return model


_BUILDERS: dict[str, Callable[[int, int, int, float], nn.Module]] = {
    "mlp": _mlp,
    "cnn": _cnn,
    "cnn_bn": _cnn_bn,
    "lenet5": _lenet5,
    "resnet18": _resnet18,
    "resnet50": _resnet50,
    "vgg16_bn": _vgg16_bn,
    "densenet121": _densenet121,
}


def build_model(
    arch: str, in_channels: int, num_classes: int, image_size: int, dropout: float = 0.0
) -> nn.Module:
    """Build architecture ``arch`` for (N, in_channels, image_size, image_size) inputs."""
    if arch not in _BUILDERS:
        raise ValueError(f"unknown arch {arch!r}; valid choices: {', '.join(ARCHITECTURES)}")
    if in_channels < 1:
        raise ValueError(f"in_channels must be >= 1, got {in_channels}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    if image_size < 4:
        raise ValueError(f"image_size must be >= 4, got {image_size}")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    return _BUILDERS[arch](in_channels, num_classes, image_size, float(dropout))


def prunable_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The (name, module) pairs of every Conv2d and Linear, in ``named_modules()`` order."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def count_parameters(model: nn.Module) -> int:
    """Total number of parameter elements (trainable or not)."""
    return sum(p.numel() for p in model.parameters())
