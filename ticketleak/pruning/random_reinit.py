"""Control: the lottery-ticket mask on a fresh random initialisation."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ticketleak import masks as M
from ticketleak.pruning._common import Job, Result, RetrainSettings, retrain


@dataclass(frozen=True)
class Settings(RetrainSettings):
    pass


def prune(job: Job, sparsity: float) -> Result:
    masks = M.magnitude_masks(job.dense, sparsity, job.scope, output_layer=job.output_layer)
    torch.manual_seed(job.seed + 100_003)
    model = job.build()
    return model, masks, retrain(job, model, masks, job.settings.retrain_epochs)
