"""Seed 002: network slimming (Liu et al. 2017), channels with the smallest BatchNorm scales,
then fine-tuning. BatchNorm architectures only."""

from __future__ import annotations

from torch import nn

from ticketleak import masks as M
from ticketleak.pruning._common import FinetuneSettings, Job, Result, finetuned
from ticketleak.core.registry import ARCHITECTURES

NEEDS_BATCHNORM = True  # params check: model.arch must have BatchNorm layers


Settings = FinetuneSettings


def batchnorm_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)]


def slimming_masks(model: nn.Module, sparsity: float, scope: str = "layer") -> tuple[M.Masks, dict]:
    """Drop the channels with the smallest |BatchNorm scale|. Keys are BatchNorm module names.
    The paper ranks all layers together (``global``) after training with an L1 penalty on the
    scales, which makes them comparable; without that penalty a global ranking can empty a whole
    layer (seen here: the digits cnn_bn lost all 32 channels of its first layer at 50%), so the
    default ranks within each layer. A layer always keeps its strongest channel."""
    bns = batchnorm_layers(model)
    if not bns:
        with_bn = [a for a in ARCHITECTURES.names() if getattr(ARCHITECTURES.get(a), "BATCHNORM", False)]
        raise ValueError(f"network slimming needs BatchNorm layers ({', '.join(with_bn)})")
    keeps = M.keep_largest([m.weight.detach().abs().cpu() for _, m in bns], sparsity, scope)
    for keep, (_, m) in zip(keeps, bns):  # never cut a layer off entirely: keep its strongest channel
        if not keep.any():
            keep[m.weight.detach().abs().argmax()] = True
    removed = sum(int((~k).sum()) for k in keeps)
    total = sum(k.numel() for k in keeps)
    counts = {"bn_channels_removed": removed, "bn_channels": total, "channel_fraction": removed / total}
    return {n: k for (n, _), k in zip(bns, keeps)}, counts


def prune(job: Job, sparsity: float) -> Result:
    return finetuned(job, *slimming_masks(job.dense, sparsity))
