"""VGG-16-BN (torchvision) features, max-pools dropped below 1x1, global avg-pool, linear head."""

from __future__ import annotations

import torch
from torch import nn

from ticketleak.models._blocks import dropout as _dropout

BATCHNORM = True


class _VGG(nn.Module):
    def __init__(self, features: nn.Sequential, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(_dropout(dropout), nn.Linear(512, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def build(in_channels: int, num_classes: int, image_size: int, dropout: float) -> nn.Module:
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
