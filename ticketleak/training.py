"""The training loop: one recipe for target, shadows and ticket retraining.

:func:`fit` trains with cross-entropy; a defense (:mod:`ticketleak.defenses`) plugs in through
:class:`Hook` objects: a hook may replace the cross-entropy (:meth:`Hook.loss`, the first one
that returns a loss wins), add a term to it (:meth:`Hook.term`, added in hook order) and act
before every step (:meth:`Hook.before_step`). Early stopping on a validation split (``val`` +
``patience``) and an epoch-end callback complete the interface. Everything works while a
pruning mask is held through ``torch.nn.utils.prune``: losses are computed on the masked forward
pass, so pruned weights get zero gradient and stay zero.
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ticketleak.core import machine
from ticketleak.core.recipe import Recipe
from ticketleak.tensors import Tensors

__all__ = ["Recipe", "fit"]  # Recipe is re-exported: the trainer's input


class Logger(Protocol):
    def log_metric(self, name: str, value: float) -> None: ...
    def next_step(self) -> None: ...


EpochCallback = Callable[[int, nn.Module], None]


class Hook:
    """One defense's part in :func:`fit`. Every method is optional: the base changes nothing.

    ``idx`` is the batch's row indices into the training set (for per-sample side data such as
    a teacher's logits)."""

    def before_step(self, model: nn.Module) -> None:
        """Runs before the classifier's forward pass of every batch."""

    def loss(self, logits: torch.Tensor, y: torch.Tensor, idx: torch.Tensor) -> torch.Tensor | None:
        """The batch loss in place of the cross-entropy (None: keep it)."""
        return None

    def term(self, model: nn.Module, logits: torch.Tensor, y: torch.Tensor, idx: torch.Tensor) -> torch.Tensor | None:
        """A term added to the batch loss (None: nothing)."""
        return None


def select_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; asking for CUDA without one is an error.

    On the CPU, torch uses ``$TICKETLEAK_THREADS`` threads (default 1): the default models are
    small, and several threads per process fight over a 2-core machine (measured here: 10 epochs
    of the digits CNN took 1.8 s with 1 thread, 4.0 s with 2, on a loaded machine).
    """
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device: 'cuda' requested but no CUDA device is available")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        torch.set_num_threads(machine.threads())
    return torch.device(name)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a generator for batch order and augmentation."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def to_tensor(x: np.ndarray, mean: list[float], std: list[float]) -> torch.Tensor:
    """uint8 images (N, C, H, W), read as ``x / 255``, or float tabular records (N, D, 1, 1), read
    as they are -> tensor standardised per channel."""
    t = torch.from_numpy(np.ascontiguousarray(x)).float()
    if x.dtype == np.uint8:
        t.div_(255.0)
    m = torch.tensor(mean).view(1, -1, 1, 1)
    s = torch.tensor(std).view(1, -1, 1, 1)
    return (t - m) / s


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random crop with 4-pixel zero padding and random horizontal flip, per sample."""
    n, _, h, w = x.shape
    padded = F.pad(x, (4, 4, 4, 4))
    dy = torch.randint(0, 9, (n,), generator=gen)
    dx = torch.randint(0, 9, (n,), generator=gen)
    flip = torch.rand(n, generator=gen) < 0.5
    out = torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])
    out[flip] = out[flip].flip(-1)
    return out


def make_optimizer(model: nn.Module, r: Recipe) -> torch.optim.Optimizer:
    if r.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=r.lr, momentum=r.momentum, weight_decay=r.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=r.lr, weight_decay=r.weight_decay)


def make_scheduler(opt: torch.optim.Optimizer, r: Recipe) -> torch.optim.lr_scheduler.LRScheduler | None:
    if r.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=r.epochs)
    if r.schedule == "step":
        milestones = [max(1, r.epochs // 2), max(1, (3 * r.epochs) // 4)]
        return torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=0.1)
    return None


def batch_loss(
    model: nn.Module, logits: torch.Tensor, y: torch.Tensor, idx: torch.Tensor, hooks: Sequence[Hook] = ()
) -> torch.Tensor:
    """The training loss of one batch: cross-entropy (or the first hook's replacement), plus
    every hook's term, in hook order."""
    loss = next((out for out in (h.loss(logits, y, idx) for h in hooks) if out is not None), None)
    if loss is None:
        loss = F.cross_entropy(logits, y)
    for hook in hooks:
        term = hook.term(model, logits, y, idx)
        if term is not None:
            loss = loss + term
    return loss


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Logits of ``model`` in eval mode, on the CPU."""
    model.eval()
    device = next(model.parameters()).device
    return torch.cat([model(x[i : i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)])


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Mean cross-entropy and accuracy."""
    logits = predict_logits(model, x)
    return F.cross_entropy(logits, y).item(), (logits.argmax(1) == y).float().mean().item()


class EpochTracker:
    """Per-epoch bookkeeping shared by :func:`fit` and DP-SGD (:mod:`ticketleak.defenses.dpsgd`):
    evaluate, log, print, keep the best-validation weights and decide on early stopping."""

    def __init__(
        self,
        model: nn.Module,
        train: Tensors,
        test: Tensors,
        epochs: int,
        logger: Logger | None,
        label: str,
        val: Tensors | None,
        patience: int | None,
    ) -> None:
        self.model, self.train, self.test, self.epochs = model, train, test, epochs
        self.logger, self.label, self.val, self.patience = logger, label, val, patience
        self.every = max(1, math.ceil(epochs / 5))
        self.last: dict[str, float] = {}
        self.best_loss, self.best_epoch, self.best_state = math.inf, 0, None

    def end_epoch(self, epoch: int, extra: dict[str, float] | None = None) -> bool:
        """Record epoch ``epoch``; ``extra`` metrics ({'group/name': value}) are logged too.
        Returns True when training should stop early."""
        model = self.model
        train_loss, train_acc = evaluate(model, *self.train)
        test_loss, test_acc = evaluate(model, *self.test)
        last = {"train_loss": train_loss, "train_acc": train_acc, "test_loss": test_loss, "test_acc": test_acc}
        if self.val is not None:
            last["val_loss"], last["val_acc"] = evaluate(model, *self.val)
            if last["val_loss"] < self.best_loss:
                self.best_loss, self.best_epoch = last["val_loss"], epoch
                self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.last = last
        if self.logger is not None:
            for key, value in last.items():
                split, metric = key.split("_")
                self.logger.log_metric(f"{split}/{metric}", value)
            for key, value in (extra or {}).items():
                self.logger.log_metric(key, value)
            self.logger.next_step()
        if epoch % self.every == 0 or epoch == self.epochs:
            print(
                f"[{self.label}] epoch {epoch}/{self.epochs}  train loss {train_loss:.3f} acc {train_acc:.3f}"
                f"  test loss {test_loss:.3f} acc {test_acc:.3f}",
                file=sys.stderr,
                flush=True,
            )
        if self.val is not None and self.patience is not None and epoch - self.best_epoch >= self.patience:
            print(
                f"[{self.label}] early stop at epoch {epoch}: best validation loss at epoch {self.best_epoch}",
                file=sys.stderr,
            )
            return True
        return False

    def finish(self) -> dict[str, float]:
        """Restore the best-validation weights (if any) and return the final figures."""
        last = self.last
        if self.best_state is not None:
            assert self.val is not None
            self.model.load_state_dict(self.best_state)
            last = dict(zip(("train_loss", "train_acc"), evaluate(self.model, *self.train)))
            last.update(zip(("test_loss", "test_acc"), evaluate(self.model, *self.test)))
            last.update(zip(("val_loss", "val_acc"), evaluate(self.model, *self.val)), best_epoch=self.best_epoch)
        return last


def fit(
    model: nn.Module,
    train: Tensors,
    test: Tensors,
    recipe: Recipe,
    gen: torch.Generator,
    device: torch.device,
    *,
    hooks: Sequence[Hook] = (),
    logger: Logger | None = None,
    label: str = "train",
    val: Tensors | None = None,
    patience: int | None = None,
    on_epoch_end: EpochCallback | None = None,
) -> dict[str, float]:
    """Train ``model`` in place; log per-epoch train/test loss and accuracy; return the final figures.

    The batch loss is :func:`batch_loss` under ``hooks``. With ``val``, the weights of the epoch
    with the lowest validation loss are kept, and training stops after ``patience`` epochs
    without improvement (early stopping). ``on_epoch_end(epoch, model)`` runs after every epoch.
    """
    x, y = train
    model.to(device)
    opt = make_optimizer(model, recipe)
    sched = make_scheduler(opt, recipe)
    tracker = EpochTracker(model, train, test, recipe.epochs, logger, label, val, patience)
    for epoch in range(1, recipe.epochs + 1):
        model.train()
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), recipe.batch_size):
            idx = order[start : start + recipe.batch_size]
            xb, yb = x[idx], y[idx]
            if recipe.augment:
                xb = augment(xb, gen)
            xb, yb = xb.to(device), yb.to(device)
            for hook in hooks:
                hook.before_step(model)
            loss = batch_loss(model, model(xb), yb, idx, hooks)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if sched is not None:
            sched.step()
        if on_epoch_end is not None:
            on_epoch_end(epoch, model)
        if tracker.end_epoch(epoch):
            break
    return tracker.finish()
