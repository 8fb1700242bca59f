"""Label smoothing (Szegedy et al. 2016): cross-entropy against ``(1 - eps) * onehot + eps / C``."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ticketleak.core.schema import Section, within
from ticketleak.training import Hook

WHEN = "train"


@dataclass(frozen=True)
class Settings(Section):
    epsilon: float

    def check(self) -> None:
        within(self, "epsilon", 0, 1, "[)")


class LabelSmoothing(Hook):
    def __init__(self, epsilon: float) -> None:
        self.epsilon = epsilon

    def loss(self, logits: torch.Tensor, y: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, y, label_smoothing=self.epsilon)


def hook(s: Settings, *_: object) -> Hook:
    return LabelSmoothing(s.epsilon)
