"""L2 penalty (seed 004): ``loss + lam * sum w^2`` over the Conv/Linear weights (the masked
weights while a pruning mask is held)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ticketleak.models import prunable_layers
from ticketleak.core.schema import Section, at_least
from ticketleak.training import Hook

WHEN = "train"


@dataclass(frozen=True)
class Settings(Section):
    lam: float

    def check(self) -> None:
        at_least(self, "lam", 0, strict=True)


def l2_penalty(model: nn.Module) -> torch.Tensor:
    """Sum of squared Conv/Linear weights (masked weights when pruning is applied)."""
    return sum((m.weight**2).sum() for _, m in prunable_layers(model))  # type: ignore[return-value]


class L2(Hook):
    def __init__(self, lam: float) -> None:
        self.lam = lam

    def term(self, model: nn.Module, logits: torch.Tensor, y: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return self.lam * l2_penalty(model)


def hook(s: Settings, *_: object) -> Hook:
    return L2(s.lam)
