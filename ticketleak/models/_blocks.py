"""Blocks shared by several architectures."""

from __future__ import annotations

from torch import nn


def dropout(p: float) -> nn.Module:
    """``nn.Dropout(p)``, or ``nn.Identity`` at rate 0 (layer names do not depend on the rate)."""
    return nn.Dropout(p) if p > 0 else nn.Identity()


def head(widths: list[int], activation: type[nn.Module], p: float) -> list[nn.Module]:
    """A fully connected head ``widths[0] -> ... -> widths[-1]``: Linear, activation and dropout
    after every layer but the last (the layers, to be spliced into an ``nn.Sequential``)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers += [activation(), dropout(p)]
    return layers


def cifar_stem(in_channels: int) -> nn.Conv2d:
    """The CIFAR stem of the torchvision ResNets and DenseNet: a 3x3 stride-1 conv."""
    return nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)


def small_cnn(in_channels: int, num_classes: int, image_size: int, p: float, batchnorm: bool) -> nn.Module:
    """Two conv(3x3)-[BatchNorm]-ReLU-maxpool blocks (32, 64 channels), then a 128-unit MLP head."""
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
        dropout(p),
        nn.Linear(64 * side * side, 128),
        nn.ReLU(),
        dropout(p),
        nn.Linear(128, num_classes),
    )


def torchvision_resnet(depth: int, in_channels: int, num_classes: int, p: float) -> nn.Module:
    """A torchvision ResNet with the CIFAR stem: 3x3 stride-1 conv1, no max-pool."""
    from torchvision import models

    factory = models.resnet18 if depth == 18 else models.resnet50
    model = factory(weights=None, num_classes=num_classes)
    model.conv1 = cifar_stem(in_channels)
    model.maxpool = nn.Identity()
    model.fc = nn.Sequential(dropout(p), model.fc)
    return model
