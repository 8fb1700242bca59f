"""Small CNN: two conv(3x3)-ReLU-maxpool blocks (32, 64 channels), then a 128-unit MLP head."""

from __future__ import annotations

from torch import nn

from ticketleak.models._blocks import small_cnn

BATCHNORM = False


def build(in_channels: int, num_classes: int, image_size: int, dropout: float) -> nn.Module:
    return small_cnn(in_channels, num_classes, image_size, dropout, batchnorm=False)
