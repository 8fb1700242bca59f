"""Seed 002: one-shot L1 unstructured pruning of the trained weights, then fine-tuning."""

from __future__ import annotations

from ticketleak import masks as M
from ticketleak.pruning._common import FinetuneSettings, Job, Result, finetuned

Settings = FinetuneSettings  # ``epochs`` (null: train.epochs // 2), ``patience``: early stopping on validation


def prune(job: Job, sparsity: float) -> Result:
    return finetuned(job, M.magnitude_masks(job.dense, sparsity, job.scope, output_layer=job.output_layer))
