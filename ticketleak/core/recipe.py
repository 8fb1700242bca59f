"""The training recipe: what shapes one plain training run. The ``train`` params extend it
(:class:`ticketleak.core.params.TrainParams`), the trainer (:mod:`ticketleak.training`) reads it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Recipe:
    optimizer: str  # sgd | adam
    lr: float
    momentum: float  # sgd only
    weight_decay: float  # the optimizer's weight decay
    epochs: int
    batch_size: int
    schedule: str  # constant | cosine | step (x0.1 at 50% and 75% of the epochs)
    augment: bool  # random crop (pad 4) and horizontal flip
