"""Training under a training-time defense: one entry point for dense training and retraining.

Picks DP-SGD (Opacus) or plain SGD/Adam, and passes each defense what it needs: the
validation split for early stopping, the teacher's logits for distillation, a non-member
reference set (the validation split) for adversarial regularisation. The loss-side knobs
(L2, label smoothing, PPB, distillation, adversarial regularisation) are already in the
recipe (:func:`ticketleak.defenses.recipe_with`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ticketleak.defenses import TrainingDefense
from ticketleak.training import Logger, Recipe, fit

Tensors = tuple[torch.Tensor, torch.Tensor]


def fit_defended(
    model: nn.Module,
    train: Tensors,
    test: Tensors,
    val: Tensors | None,
    recipe: Recipe,
    defense: TrainingDefense,
    gen: torch.Generator,
    device: torch.device,
    logger: Logger | None = None,
    label: str = "train",
    on_epoch_end: Callable[[int, nn.Module], None] | None = None,
    teacher_logits: torch.Tensor | None = None,
    patience: int | None = None,
) -> dict[str, float]:
    """Train ``model`` in place under ``defense``; ``patience`` (fine-tuning's early stopping)
    applies when the defense sets none of its own."""
    patience = defense.patience or patience
    early = val if patience else None
    if defense.private:
        from ticketleak.privacy import fit_private

        return fit_private(
            model, train, test, recipe, gen, device, defense.dp_clip, defense.dp_noise, defense.dp_delta,
            logger, label, early, patience, on_epoch_end,
        )
    if defense.needs_teacher and teacher_logits is None:
        raise ValueError("distillation needs the teacher's logits on the training set")
    return fit(
        model, train, test, recipe, gen, device, logger, label, early, patience, on_epoch_end,
        teacher_logits=teacher_logits if defense.needs_teacher else None,
        reference=val if defense.needs_reference else None,
    )
