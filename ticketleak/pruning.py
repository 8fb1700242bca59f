"""Magnitude pruning masks, the one-shot lottery ticket, and sparsity measured from weights.

Prunable weights are the ``weight`` tensors of every Conv2d and Linear layer (biases and
BatchNorm stay dense, as in open_lth). Masks are held with ``torch.nn.utils.prune`` during
retraining, so pruned weights stay exactly zero, and made permanent before saving.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import prune

from ticketleak.models import prunable_layers

Masks = dict[str, torch.Tensor]


def _counts(sizes: list[int], sparsity: float) -> list[int]:
    return [round(sparsity * n) for n in sizes]


def magnitude_masks(model: nn.Module, sparsity: float, scope: str = "global") -> Masks:
    """Keep-masks removing the smallest-magnitude ``sparsity`` fraction of prunable weights.

    ``global`` ranks all prunable weights together and removes exactly round(sparsity * N) of
    them; ``layer`` removes round(sparsity * n_l) from each layer. Ties break by position.
    """
    layers = prunable_layers(model)
    weights = [m.weight.detach().abs().flatten().cpu() for _, m in layers]
    if scope == "global":
        flat = torch.cat(weights)
        (k,) = _counts([flat.numel()], sparsity)
        keep = torch.ones_like(flat, dtype=torch.bool)
        keep[torch.argsort(flat, stable=True)[:k]] = False
        chunks = torch.split(keep, [w.numel() for w in weights])
    elif scope == "layer":
        chunks = []
        for w, k in zip(weights, _counts([w.numel() for w in weights], sparsity)):
            keep = torch.ones_like(w, dtype=torch.bool)
            keep[torch.argsort(w, stable=True)[:k]] = False
            chunks.append(keep)
    else:
        raise ValueError(f"prune.scope: unknown value '{scope}' (choose from global, layer)")
    return {name: c.view_as(m.weight) for (name, m), c in zip(layers, chunks)}


def apply_masks(model: nn.Module, masks: Masks) -> None:
    """Hold ``masks`` on the model's prunable weights (torch.nn.utils.prune reparametrisation)."""
    for name, module in prunable_layers(model):
        prune.custom_from_mask(module, "weight", masks[name].to(module.weight.device))


def make_permanent(model: nn.Module) -> None:
    """Fold the masks into plain weights (pruned entries become stored zeros)."""
    for _, module in prunable_layers(model):
        if prune.is_pruned(module):
            prune.remove(module, "weight")


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


def one_shot_ticket(model: nn.Module, init_state: dict, sparsity: float, scope: str) -> Masks:
    """Seed 000, Algorithm 1, steps 3-4, in place: mask ``model``'s trained weights by magnitude,
    rewind the survivors to ``init_state`` and hold the mask. The model is then ready for step 5
    (retraining); the masks are returned."""
    masks = magnitude_masks(model, sparsity, scope)
    model.load_state_dict(init_state)
    apply_masks(model, masks)
    return masks
