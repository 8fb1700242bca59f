"""Pruning at initialisation (SNIP, GraSP): score the initial weights on one batch, then train."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ticketleak import masks as M
from ticketleak.pruning._common import Job, Result, positive_or_null, retrain
from ticketleak.core.schema import ParamsError, Section, declared

Score = Callable[[list[nn.Parameter], Callable[..., tuple[torch.Tensor, ...]]], list[torch.Tensor]]


@dataclass(frozen=True)
class InitSettings(Section):
    batch: int  # training samples in the scoring batch
    retrain_epochs: int | None

    def check(self) -> None:
        if declared(self, "batch") and self.batch < 2:
            raise ParamsError(f"{self._section}.batch: must be at least 2, got {self.batch}")
        positive_or_null(self, "retrain_epochs")


def init_masks(model: nn.Module, x: torch.Tensor, y: torch.Tensor, sparsity: float, score: Score,
               output_layer: bool = True) -> M.Masks:
    """Keep the ``1 - sparsity`` highest-scoring weights over the prunable layers (all, or all but
    the output layer: ``masks.ranked_layers``). ``score(weights,
    grad)`` gets the layers' weights and ``grad(create_graph=False)``, the gradient of the
    batch's loss with respect to them; it returns one CPU score tensor per layer."""
    layers, kept = M.ranked_layers(model, output_layer)
    weights = [m.weight for _, m in layers]

    def grad(create_graph: bool = False) -> tuple[torch.Tensor, ...]:
        return torch.autograd.grad(batch_loss(model, x, y), weights, create_graph=create_graph)

    scores = score(weights, grad)
    return {**{name: k for (name, _), k in zip(layers, M.keep_largest(scores, sparsity, "global"))}, **kept}


def prune_at_init(job: Job, sparsity: float, score: Score) -> Result:
    """Score the initial weights on a random batch of ``job.train``, then train from them."""
    model = copy.deepcopy(job.dense)
    model.load_state_dict(job.init_state)
    gen = torch.Generator().manual_seed(job.seed)
    x, y = job.train
    idx = torch.randperm(len(x), generator=gen)[: job.settings.batch]  # type: ignore[attr-defined]
    masks = init_masks(model, x[idx], y[idx], sparsity, score, job.output_layer)
    model.load_state_dict(job.init_state)  # the scoring pass may touch BatchNorm statistics
    return model, masks, retrain(job, model, masks, job.settings.retrain_epochs)  # type: ignore[attr-defined]


def batch_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    model.train()
    return F.cross_entropy(model(x), y)
