"""The small CNN with BatchNorm after each conv (for network slimming on small data)."""

from __future__ import annotations

from torch import nn

from ticketleak.models._blocks import small_cnn

BATCHNORM = True


def build(in_channels: int, num_classes: int, image_size: int, dropout: float) -> nn.Module:
    return small_cnn(in_channels, num_classes, image_size, dropout, batchnorm=True)
