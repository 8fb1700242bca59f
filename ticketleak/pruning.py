"""Pruning methods: each one short strategy from a trained dense model to a pruned, trained model.

| method          | mask from                                | then                                  |
|-----------------|------------------------------------------|---------------------------------------|
| lth_oneshot     | magnitude of the trained weights         | rewind survivors, retrain (seed 000)  |
| lth_imp         | magnitude, 20% of the rest per round     | rewind and retrain every round        |
| random_reinit   | the lth_oneshot mask                     | fresh random init, retrain (control)  |
| random_prune    | random, same count per layer             | rewind, retrain (control)             |
| finetune_l1     | magnitude (L1 unstructured)              | fine-tune, early stopping (seed 002)  |
| filter_l1 / _l2 | whole Conv filters by L1 / L2 norm       | fine-tune, early stopping (seed 002)  |
| slimming        | channels by |BatchNorm scale|            | fine-tune, early stopping (seed 002)  |
| snip / grasp    | saliency at initialisation, one batch    | train from init                       |

"Rewind" restores the weights at ``prune.rewind_epoch`` (0: the initial weights, Algorithm 1;
k > 0: late rewinding). Each method returns the masks it holds and what it measured.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch import nn

from ticketleak import masks as M
from ticketleak.defended import fit_defended
from ticketleak.defenses import TrainingDefense
from ticketleak.store import staged_dir
from ticketleak.training import Logger, Recipe, seed_everything

Tensors = tuple[torch.Tensor, torch.Tensor]
METHODS = (
    "lth_oneshot", "lth_imp", "random_reinit", "random_prune", "finetune_l1",
    "filter_l1", "filter_l2", "slimming", "snip", "grasp",
)
NEEDS_BATCHNORM = ("slimming",)


@dataclass
class Job:
    """Everything a method may use. ``dense`` holds the trained weights and is not modified."""

    dense: nn.Module
    init_state: dict
    rewind_state: dict
    build: Callable[[], nn.Module]  # a fresh network of the same architecture (random init)
    train: Tensors
    test: Tensors
    val: Tensors | None
    recipe: Recipe  # the dense training recipe (with the defense's loss-side knobs)
    settings: object  # this method's params section (prune.<method>)
    scope: str
    seed: int
    device: torch.device
    logger: Logger | None = None
    label: str = "prune"
    cache: Path | None = None  # lth_imp: where finished rounds are kept for reuse
    defense: TrainingDefense = field(default_factory=TrainingDefense)  # retraining is defended too
    teacher_logits: torch.Tensor | None = None  # distillation: the undefended teacher on ``train``


def _retrain(job: Job, model: nn.Module, masks: M.Masks, epochs: int | None, early_stopping: bool = False) -> dict:
    """Train the masked ``model`` under the job's defense (fine-tuning methods stop early)."""
    M.apply_masks(model, masks)
    recipe = replace(job.recipe, epochs=epochs or job.recipe.epochs)
    patience = getattr(job.settings, "patience", None) if early_stopping else None
    last = fit_defended(
        model, job.train, job.test, job.val, recipe, job.defense, seed_everything(job.seed), job.device,
        job.logger, job.label, teacher_logits=job.teacher_logits, patience=patience,
    )
    M.make_permanent(model)
    return {**last, "train_epochs": recipe.epochs}


def _rewound(job: Job) -> nn.Module:
    model = copy.deepcopy(job.dense)
    model.load_state_dict(job.rewind_state)
    return model


def _retrain_epochs(job: Job) -> int | None:
    return getattr(job.settings, "retrain_epochs", None)


def _finetune_epochs(job: Job) -> int:
    return getattr(job.settings, "epochs", None) or max(1, job.recipe.epochs // 2)


def lth_oneshot(job: Job, sparsity: float) -> tuple[nn.Module, M.Masks, dict]:
    """Seed 000, Algorithm 1: magnitude mask of the trained weights, rewind, retrain."""
    masks = M.magnitude_masks(job.dense, sparsity, job.scope)
    model = _rewound(job)
    return model, masks, _retrain(job, model, masks, _retrain_epochs(job))


def random_reinit(job: Job, sparsity: float) -> tuple[nn.Module, M.Masks, dict]:
    """Control: the lottery-ticket mask on a fresh random initialisation."""
    masks = M.magnitude_masks(job.dense, sparsity, job.scope)
    torch.manual_seed(job.seed + 100_003)
    model = job.build()
    return model, masks, _retrain(job, model, masks, _retrain_epochs(job))


def random_prune(job: Job, sparsity: float) -> tuple[nn.Module, M.Masks, dict]:
    """Control: a random mask with the ticket's per-layer counts, rewound and retrained."""
    masks = M.random_masks_like(M.magnitude_masks(job.dense, sparsity, job.scope), job.seed + 7)
    model = _rewound(job)
    return model, masks, _retrain(job, model, masks, _retrain_epochs(job))


def finetune_l1(job: Job, sparsity: float) -> tuple[nn.Module, M.Masks, dict]:
    """Seed 002: one-shot L1 unstructured pruning of the trained weights, then fine-tuning."""
    masks = M.magnitude_masks(job.dense, sparsity, job.scope)
    model = copy.deepcopy(job.dense)
    return model, masks, _retrain(job, model, masks, _finetune_epochs(job), early_stopping=True)


def _filters(norm: int):
    def method(job: Job, sparsity: float) -> tuple[nn.Module, M.Masks, dict]:
        masks, counts = M.filter_masks(job.dense, sparsity, norm)
        model = copy.deepcopy(job.dense)
        return model, masks, {**_retrain(job, model, masks, _finetune_epochs(job), early_stopping=True), **counts}

    method.__doc__ = f"Seed 002: remove whole Conv filters by L{norm} norm, then fine-tune."
    return method


def slimming(job: Job, sparsity: float) -> tuple[nn.Module, M.Masks, dict]:
    """Seed 002: network slimming, channels with the smallest BatchNorm scales, then fine-tune."""
    masks, counts = M.slimming_masks(job.dense, sparsity)
    model = copy.deepcopy(job.dense)
    return model, masks, {**_retrain(job, model, masks, _finetune_epochs(job), early_stopping=True), **counts}


def _at_init(score: Callable[..., M.Masks]):
    def method(job: Job, sparsity: float) -> tuple[nn.Module, M.Masks, dict]:
        model = copy.deepcopy(job.dense)
        model.load_state_dict(job.init_state)
        gen = torch.Generator().manual_seed(job.seed)
        x, y = job.train
        idx = torch.randperm(len(x), generator=gen)[: getattr(job.settings, "batch", 256)]
        masks = score(model, x[idx], y[idx], sparsity)
        model.load_state_dict(job.init_state)  # the scoring pass may touch BatchNorm statistics
        return model, masks, _retrain(job, model, masks, _retrain_epochs(job))

    method.__doc__ = f"Pruning at initialisation ({score.__name__}), then training from the initial weights."
    return method


# ---------------------------------------------------------------------------------------------
# Iterative magnitude pruning with rewinding: rounds are cached and reused.


def imp_rounds(sparsity: float, rate: float) -> int:
    """The first round k whose sparsity 1 - (1 - rate)^k reaches ``sparsity``."""
    if sparsity <= 0:
        return 0
    return math.ceil(math.log(1 - sparsity) / math.log(1 - rate) - 1e-9)


def _fingerprint(job: Job) -> str:
    h = hashlib.sha256()
    for state in (job.dense.state_dict(), job.rewind_state):
        for k, v in sorted(state.items()):
            h.update(k.encode())
            h.update(v.detach().cpu().numpy().tobytes())
    h.update(job.train[0].numpy().tobytes())
    h.update(json.dumps([repr(job.recipe), repr(job.settings), repr(job.defense), job.scope, job.seed]).encode())
    return h.hexdigest()[:16]


def lth_imp(job: Job, sparsity: float) -> tuple[nn.Module, M.Masks, dict]:
    """Frankle & Carbin: per round, prune ``rate`` of the remaining weights by global magnitude,
    rewind, retrain. Round k is built from round k-1's saved result (``job.cache``), so asking for
    a higher sparsity only adds rounds; the request is served by the first round that reaches it."""
    rate = job.settings.rate  # type: ignore[attr-defined]
    target = imp_rounds(sparsity, rate)
    cache = job.cache / _fingerprint(job) if job.cache else None
    trained, masks, last, start = job.dense, None, {}, 1
    if cache is not None:
        done = [k for k in range(target, 0, -1) if (cache / f"round-{k}" / "done").is_file()]
        if done:
            start = done[0] + 1
            trained, masks, last = _load_round(job, cache / f"round-{done[0]}")
            print(f"[{job.label}] reusing IMP round {done[0]} from {cache}", file=sys.stderr)
    for k in range(start, target + 1):
        masks = M.magnitude_masks(trained, 1 - (1 - rate) ** k, "global", previous=masks)
        model = _rewound(job)
        last = _retrain(job, model, masks, _retrain_epochs(job))
        trained = model
        if cache is not None:
            _save_round(cache / f"round-{k}", model, masks, last)
    return trained, masks, {**last, "imp_round": target, "imp_rate": rate}


def _save_round(path: Path, model: nn.Module, masks: M.Masks, last: dict) -> None:
    with staged_dir(path) as tmp:
        torch.save(model.state_dict(), tmp / "model.pt")
        torch.save(masks, tmp / "mask.pt")
        (tmp / "last.json").write_text(json.dumps(last))
        (tmp / "done").write_text("")


def _load_round(job: Job, path: Path) -> tuple[nn.Module, M.Masks, dict]:
    model = copy.deepcopy(job.dense)
    model.load_state_dict(torch.load(path / "model.pt", weights_only=True))
    return model, torch.load(path / "mask.pt", weights_only=True), json.loads((path / "last.json").read_text())


REGISTRY: dict[str, Callable[[Job, float], tuple[nn.Module, M.Masks, dict]]] = {
    "lth_oneshot": lth_oneshot,
    "lth_imp": lth_imp,
    "random_reinit": random_reinit,
    "random_prune": random_prune,
    "finetune_l1": finetune_l1,
    "filter_l1": _filters(1),
    "filter_l2": _filters(2),
    "slimming": slimming,
    "snip": _at_init(M.snip_masks),
    "grasp": _at_init(M.grasp_masks),
}
assert tuple(REGISTRY) == METHODS


def run(method: str, job: Job, sparsity: float) -> tuple[nn.Module, dict]:
    """Prune with ``method`` at ``sparsity``; return the trained pruned model and its record."""
    if method not in REGISTRY:
        raise ValueError(f"prune.methods: unknown method '{method}' (choose from {', '.join(METHODS)})")
    model, masks, record = REGISTRY[method](job, sparsity)
    measured = M.measure_sparsity(model)
    return model, {
        **record,
        "method": method,
        "sparsity_asked": sparsity,
        "sparsity": measured["global"],
        "sparsity_detail": measured,
        "masks": masks,
    }
