"""Control: a random mask with the ticket's per-layer counts, rewound and retrained."""

from __future__ import annotations

from dataclasses import dataclass

from ticketleak import masks as M
from ticketleak.pruning._common import Job, Result, RetrainSettings, retrain, rewound


@dataclass(frozen=True)
class Settings(RetrainSettings):
    pass


def prune(job: Job, sparsity: float) -> Result:
    masks = M.random_masks_like(M.magnitude_masks(job.dense, sparsity, job.scope, output_layer=job.output_layer), job.seed + 7)
    model = rewound(job)
    return model, masks, retrain(job, model, masks, job.settings.retrain_epochs)
