"""Pruning masks: the toolbox the pruning methods share (magnitude, random and filter masks,
holding masks while training, folding them in) and sparsity measured from the weights. Scores
used by one method alone live in that method's module (:mod:`ticketleak.pruning`).

Prunable weights are the ``weight`` tensors of every Conv2d and Linear layer (biases and
BatchNorm stay dense, as in open_lth). A mask is a dict ``{module name: bool keep-tensor}``.
Masks are held with ``torch.nn.utils.prune`` while training, so pruned weights stay exactly
zero, and folded into plain weights before saving. BatchNorm masks (network slimming) hold
the BatchNorm ``weight`` and ``bias`` of pruned channels at zero.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import prune

from ticketleak.models import prunable_layers

Masks = dict[str, torch.Tensor]


def keep_largest(scores: list[torch.Tensor], sparsity: float, scope: str) -> list[torch.Tensor]:
    """Keep-masks dropping the lowest-scoring ``sparsity`` fraction, globally or per tensor.

    ``global`` removes exactly round(sparsity * N) entries over all tensors; ``layer`` removes
    round(sparsity * n) from each tensor. Ties break by position (stable sort).
    """
    if scope == "global":
        flat = torch.cat([s.flatten() for s in scores])
        keep = torch.ones(flat.numel(), dtype=torch.bool)
        keep[torch.argsort(flat, stable=True)[: round(sparsity * flat.numel())]] = False
        return [k.view_as(s) for k, s in zip(torch.split(keep, [s.numel() for s in scores]), scores)]
    if scope == "layer":
        out = []
        for s in scores:
            keep = torch.ones(s.numel(), dtype=torch.bool)
            keep[torch.argsort(s.flatten(), stable=True)[: round(sparsity * s.numel())]] = False
            out.append(keep.view_as(s))
        return out
    raise ValueError(f"prune.scope: unknown value '{scope}' (choose from global, layer)")


def ranked_layers(model: nn.Module, output_layer: bool = True) -> tuple[list[tuple[str, nn.Module]], Masks]:
    """The prunable layers a mask is chosen over, and keep-all masks for the ones left out: with
    ``output_layer`` false (``prune.output_layer``), the last Conv2d / Linear (the classifier's
    output layer) is never pruned and ``sparsity`` is a fraction of the other layers' weights."""
    layers = prunable_layers(model)
    if output_layer or len(layers) < 2:
        return layers, {}
    name, last = layers[-1]
    return layers[:-1], {name: torch.ones_like(last.weight, dtype=torch.bool).cpu()}


def magnitude_masks(model: nn.Module, sparsity: float, scope: str = "global", previous: Masks | None = None,
                    output_layer: bool = True) -> Masks:
    """Remove the smallest-magnitude weights until ``sparsity`` of the prunable weights are gone
    (of every Conv2d / Linear, or all but the output layer: :func:`ranked_layers`).

    With ``previous`` (iterative pruning), already-pruned weights rank lowest and stay pruned.
    """
    layers, kept = ranked_layers(model, output_layer)
    scores = []
    for name, m in layers:
        s = m.weight.detach().abs().cpu().clone()
        if previous is not None:
            s[~previous[name]] = -1.0
        scores.append(s)
    return {**{name: k for (name, _), k in zip(layers, keep_largest(scores, sparsity, scope))}, **kept}


def random_masks_like(masks: Masks, seed: int) -> Masks:
    """Random masks with the same number of pruned weights in every layer (lottery-ticket control)."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for name, m in masks.items():
        keep = torch.zeros(m.numel(), dtype=torch.bool)
        keep[torch.randperm(m.numel(), generator=gen)[: int(m.sum())]] = True
        out[name] = keep.view_as(m)
    return out


def filter_masks(model: nn.Module, sparsity: float, norm: int) -> tuple[Masks, dict]:
    """Structured pruning (Li et al. 2017): drop the ``sparsity`` fraction of filters with the
    smallest L1 or L2 norm in every Conv2d layer; networks without convolutions lose hidden Linear
    neurons instead. The classifier's output layer is never pruned. Returns masks and filter counts."""
    layers = prunable_layers(model)
    convs = [(n, m) for n, m in layers if isinstance(m, nn.Conv2d)]
    targets = convs or [(n, m) for n, m in layers[:-1]]
    masks = {name: torch.ones_like(m.weight, dtype=torch.bool).cpu() for name, m in layers}
    removed = total = 0
    for name, m in targets:
        w = m.weight.detach().cpu()
        norms = w.flatten(1).norm(p=norm, dim=1)
        drop = torch.argsort(norms, stable=True)[: round(sparsity * len(norms))]
        masks[name][drop] = False
        removed, total = removed + len(drop), total + len(norms)
    return masks, {"filters_removed": removed, "filters": total, "filter_fraction": removed / max(total, 1)}


def apply_masks(model: nn.Module, masks: Masks) -> None:
    """Hold ``masks`` (torch.nn.utils.prune); BatchNorm masks hold both scale and shift."""
    modules = dict(model.named_modules())
    for name, keep in masks.items():
        module = modules[name]
        names = ("weight", "bias") if isinstance(module, nn.BatchNorm2d) else ("weight",)
        for param in names:
            if prune.is_pruned(module) and hasattr(module, f"{param}_mask"):
                prune.remove(module, param)
            prune.custom_from_mask(module, param, keep.to(getattr(module, param).device))


def make_permanent(model: nn.Module) -> None:
    """Fold the masks into plain tensors (pruned entries become stored zeros)."""
    for module in model.modules():
        for param in ("weight", "bias"):
            if hasattr(module, f"{param}_mask"):
                prune.remove(module, param)


def measure_sparsity(model: nn.Module) -> dict:
    """Fraction of zero prunable weights, global and per layer, read from the weights themselves."""
    layers = {}
    zeros = total = 0
    for name, module in prunable_layers(model):
        w = module.weight.detach()
        z = int((w == 0).sum())
        layers[name] = {"sparsity": z / w.numel(), "zeros": z, "weights": w.numel()}
        zeros, total = zeros + z, total + w.numel()
    return {"global": zeros / total, "zeros": zeros, "prunable": total, "layers": layers}
