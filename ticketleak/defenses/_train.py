"""Training under a training-time defense variant: the one entry point for dense training and
retraining (pruning), :func:`fit_defended`."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ticketleak.core.params import Variant
from ticketleak.core.registry import DEFENSES
from ticketleak.tensors import Tensors
from ticketleak.training import EpochCallback, Logger, Recipe, fit


PHASES = ("dense", "retrain")


@dataclass(frozen=True)
class Data:
    """What a defended run trains on: ``train`` (members), ``test`` (evaluated every epoch),
    ``val`` (early stopping; AdvReg's non-member reference set) and ``teacher`` (distillation:
    the undefended model's logits on ``train``, row by row)."""

    train: Tensors
    test: Tensors
    val: Tensors | None = None
    teacher: torch.Tensor | None = None


def fit_defended(
    model: nn.Module,
    data: Data,
    recipe: Recipe,
    variant: Variant,
    gen: torch.Generator,
    device: torch.device,
    *,
    logger: Logger | None = None,
    label: str = "train",
    on_epoch_end: EpochCallback | None = None,
    patience: int | None = None,
    phase: str = "dense",
) -> dict[str, float]:
    """Train ``model`` in place under ``variant``; return the final figures.

    ``phase`` is ``"dense"`` (training from scratch) or ``"retrain"`` (a pruned model's
    fine-tuning or retraining); a kind whose ``PHASES`` leaves the phase out trains undefended
    in it, exactly as ``none`` does. ``patience`` (fine-tuning's early stopping) applies when the
    variant sets none of its own; early stopping watches ``data.val``."""
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {', '.join(PHASES)}, got {phase!r}")
    module, settings = DEFENSES.get(variant.kind), variant.settings
    if module.WHEN != "train":
        raise ValueError(f"defense '{variant.kind}' is not a training-time defense")
    if phase not in getattr(module, "PHASES", PHASES):
        module, settings = DEFENSES.get("none"), None
    own = getattr(module, "patience", None)
    patience = (own(settings) if own is not None else None) or patience
    kw = dict(logger=logger, label=label, val=data.val if patience else None, patience=patience, on_epoch_end=on_epoch_end)
    if hasattr(module, "fit"):
        return module.fit(model, data, recipe, settings, gen, device, **kw)
    hooks = [module.hook(settings, data, recipe, gen, device)] if hasattr(module, "hook") else []
    return fit(model, data.train, data.test, recipe, gen, device, hooks=hooks, **kw)
