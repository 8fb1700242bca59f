"""Seed 000, Algorithm 1: magnitude mask of the trained weights, rewind, retrain."""

from __future__ import annotations

from dataclasses import dataclass

from ticketleak import masks as M
from ticketleak.pruning._common import Job, Result, RetrainSettings, retrain, rewound


@dataclass(frozen=True)
class Settings(RetrainSettings):
    """``retrain_epochs``: null = train.epochs (Algorithm 1's N)."""


def prune(job: Job, sparsity: float) -> Result:
    masks = M.magnitude_masks(job.dense, sparsity, job.scope, output_layer=job.output_layer)
    model = rewound(job)
    return model, masks, retrain(job, model, masks, job.settings.retrain_epochs)
