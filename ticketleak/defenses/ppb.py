"""Pair-based posterior balancing (seed 002): ``loss + lam * ppb_penalty(z)``."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ticketleak.core.schema import Section, at_least
from ticketleak.training import Hook

WHEN = "train"


@dataclass(frozen=True)
class Settings(Section):
    lam: float

    def check(self) -> None:
        at_least(self, "lam", 0)


def ppb_penalty(logits: torch.Tensor) -> torch.Tensor:
    """Pair-based posterior balancing (seed 002, per the authors' ``train_defend_ppb``).

    Sort every row of the batch logits ``z`` (B x C) in descending order, split the batch into
    its first half A and second half B (an odd last row is dropped) and return
    ``mean_i KL(softmax(B_i) || softmax(A_i))``: small when all samples' sorted posteriors look
    alike, whichever class they favour. Not detached: gradients flow into both halves.
    Batches of fewer than two rows give 0. The caller multiplies by lambda.
    """
    half = logits.shape[0] // 2
    if half == 0:
        return logits.new_zeros(())
    ranked = logits.sort(dim=1, descending=True).values
    a, b = ranked[:half], ranked[half : 2 * half]
    # F.kl_div(log q, log p, log_target=True) = sum p (log p - log q) = KL(p || q); batchmean: / half
    return F.kl_div(F.log_softmax(a, 1), F.log_softmax(b, 1), reduction="batchmean", log_target=True)


class PPB(Hook):
    def __init__(self, lam: float) -> None:
        self.lam = lam

    def term(self, model: nn.Module, logits: torch.Tensor, y: torch.Tensor, idx: torch.Tensor) -> torch.Tensor | None:
        return self.lam * ppb_penalty(logits) if self.lam > 0 else None


def hook(s: Settings, *_: object) -> Hook:
    return PPB(s.lam)
