"""MLP: flatten -> 256 -> 128 -> classes, ReLU and dropout after each hidden layer; on images and
on tabular records alike."""

from __future__ import annotations

from torch import nn

from ticketleak.models._blocks import head

BATCHNORM = False
TABULAR = True


def build(in_channels: int, num_classes: int, image_size: int, dropout: float) -> nn.Module:
    return nn.Sequential(nn.Flatten(), *head([in_channels * image_size * image_size, 256, 128, num_classes], nn.ReLU, dropout))
