"""DenseNet-121 (torchvision), CIFAR stem (3x3 stride-1 conv0, no pool0), pools kept >= 1x1."""

from __future__ import annotations

from torch import nn

from ticketleak.models._blocks import cifar_stem
from ticketleak.models._blocks import dropout as _dropout

BATCHNORM = True


def build(in_channels: int, num_classes: int, image_size: int, dropout: float) -> nn.Module:
    from torchvision import models

    model = models.densenet121(weights=None, num_classes=num_classes)
    model.features.conv0 = cifar_stem(in_channels)
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
