"""ResNet-18 (torchvision) with the CIFAR stem: 3x3 stride-1 conv1, no max-pool."""

from __future__ import annotations

from torch import nn

from ticketleak.models._blocks import torchvision_resnet

BATCHNORM = True


def build(in_channels: int, num_classes: int, image_size: int, dropout: float) -> nn.Module:
    return torchvision_resnet(18, in_channels, num_classes, dropout)
