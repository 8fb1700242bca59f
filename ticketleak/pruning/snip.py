"""SNIP (Lee et al. 2019): keep the weights with the largest |g * w| on one batch at init, then train."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ticketleak.pruning._at_init import InitSettings, prune_at_init
from ticketleak.pruning._common import Job, Result


@dataclass(frozen=True)
class Settings(InitSettings):
    pass


def snip_scores(weights: list[nn.Parameter], grad: Callable[..., tuple[torch.Tensor, ...]]) -> list[torch.Tensor]:
    """|g * w| per weight."""
    return [(g * w).abs().detach().cpu() for g, w in zip(grad(), weights)]


def prune(job: Job, sparsity: float) -> Result:
    return prune_at_init(job, sparsity, snip_scores)
