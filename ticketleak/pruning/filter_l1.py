"""Seed 002: remove whole Conv filters by L1 norm (Li et al. 2017), then fine-tune."""

from __future__ import annotations

from ticketleak import masks as M
from ticketleak.pruning._common import FinetuneSettings, Job, Result, finetuned

Settings = FinetuneSettings  # ``epochs`` (null: train.epochs // 2), ``patience``


def prune(job: Job, sparsity: float) -> Result:
    return finetuned(job, *M.filter_masks(job.dense, sparsity, 1))
