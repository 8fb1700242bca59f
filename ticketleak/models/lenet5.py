"""LeNet-5: two conv(5x5)-tanh-avgpool blocks (6, 16 channels), tanh MLP 120 -> 84 -> classes."""

from __future__ import annotations

import torch
from torch import nn

from ticketleak.models._blocks import head

BATCHNORM = False


def build(in_channels: int, num_classes: int, image_size: int, dropout: float) -> nn.Module:
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
    return nn.Sequential(*features, *head([flat, 120, 84, num_classes], nn.Tanh, dropout))
