"""GraSP (Wang et al. 2020): score S = -w * (H g) at init; remove the weights with the largest S
(those whose removal reduces gradient flow least), then train."""

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


def grasp_scores(weights: list[nn.Parameter], grad: Callable[..., tuple[torch.Tensor, ...]]) -> list[torch.Tensor]:
    """-S = w * (H g): the weights with the largest -S are kept."""
    grads = grad()
    grads_graph = grad(create_graph=True)
    dot = sum((g.detach() * gg).sum() for g, gg in zip(grads, grads_graph))
    hg = torch.autograd.grad(dot, weights)
    return [(w * h).detach().cpu() for w, h in zip(weights, hg)]


def prune(job: Job, sparsity: float) -> Result:
    return prune_at_init(job, sparsity, grasp_scores)
