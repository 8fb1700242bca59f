"""What the pruning methods share: the :class:`Job`, rewinding, retraining and their settings."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ticketleak import masks as M
from ticketleak.core.schema import ParamsError, Section, declared

Result = tuple[nn.Module, M.Masks, dict]
Fit = Callable[[nn.Module, "int | None", "int | None"], dict]


@dataclass
class Job:
    """Everything a method may use. ``dense`` holds the trained weights and is not modified."""

    dense: nn.Module
    init_state: dict
    rewind_state: dict
    build: Callable[[], nn.Module]  # a fresh network of the same architecture (random init)
    train: tuple[torch.Tensor, torch.Tensor]  # the members (SNIP and GraSP score one batch of them)
    # fit(model, epochs, patience): train the masked model in place under the run's defense
    # (epochs None: the dense recipe's; patience None: no early stopping unless the defense has
    # its own) and return the last epoch's record with "train_epochs"
    fit: Fit
    recipe_epochs: int  # the dense recipe's epoch count (fine-tuning defaults to half of it)
    tag: str  # describes the recipe and defense behind ``fit`` (part of lth_imp's cache key)
    settings: Section  # this method's params section (prune.<method>)
    scope: str
    seed: int
    output_layer: bool = True  # prune.output_layer: the classifier's output layer is in the ranking
    label: str = "prune"
    cache: Path | None = None  # lth_imp: where finished rounds are kept for reuse


def retrain(job: Job, model: nn.Module, masks: M.Masks, epochs: int | None, patience: int | None = None) -> dict:
    """Hold ``masks`` on ``model``, train it through ``job.fit`` and fold the masks in."""
    M.apply_masks(model, masks)
    last = job.fit(model, epochs, patience)
    M.make_permanent(model)
    return last


def rewound(job: Job) -> nn.Module:
    """The dense network with the rewind weights loaded."""
    model = copy.deepcopy(job.dense)
    model.load_state_dict(job.rewind_state)
    return model


def finetune_epochs(job: Job) -> int:
    """Fine-tuning's epochs: ``settings.epochs``, or half the dense recipe's."""
    return job.settings.epochs or max(1, job.recipe_epochs // 2)  # type: ignore[attr-defined]


def finetuned(job: Job, masks: M.Masks, counts: dict | None = None) -> Result:
    """Seed 002's prune-then-fine-tune: a copy of the trained network under ``masks``, fine-tuned
    with early stopping (``FinetuneSettings``); ``counts`` (filters, channels removed) join the record."""
    model = copy.deepcopy(job.dense)
    last = retrain(job, model, masks, finetune_epochs(job), job.settings.patience)  # type: ignore[attr-defined]
    return model, masks, {**last, **(counts or {})}


def positive_or_null(section: Section, key: str) -> None:
    value = getattr(section, key) if declared(section, key) else None
    if value is not None and value < 1:
        raise ParamsError(f"{section._section}.{key}: must be a positive integer or null, got {value}")


@dataclass(frozen=True)
class RetrainSettings(Section):
    """Methods that retrain the masked network for ``retrain_epochs`` (null: train.epochs)."""

    retrain_epochs: int | None

    def check(self) -> None:
        positive_or_null(self, "retrain_epochs")


@dataclass(frozen=True)
class FinetuneSettings(Section):
    """Methods that fine-tune the trained network, stopping early on the validation split."""

    epochs: int | None
    patience: int

    def check(self) -> None:
        positive_or_null(self, "epochs")
        if declared(self, "patience") and self.patience < 1:
            raise ParamsError(f"{self._section}.patience: must be a positive integer, got {self.patience}")
