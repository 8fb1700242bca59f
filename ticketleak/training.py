"""Training and evaluation: one recipe for target, shadows and ticket retraining."""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ticketleak.models import prunable_layers


@dataclass(frozen=True)
class Recipe:
    """Everything that shapes one training run (built from ``train`` params and the defense)."""

    optimizer: str
    lr: float
    momentum: float
    weight_decay: float
    epochs: int
    batch_size: int
    schedule: str
    augment: bool
    l2: float = 0.0  # explicit L2 penalty on Conv/Linear weights (seed 004's defense)


class Logger(Protocol):
    def log_metric(self, name: str, value: float) -> None: ...
    def next_step(self) -> None: ...


def select_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; asking for CUDA without one is an error."""
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device: 'cuda' requested but no CUDA device is available")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a generator for batch order and augmentation."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def to_tensor(x: np.ndarray, mean: list[float], std: list[float]) -> torch.Tensor:
    """uint8 images (N, C, H, W) -> normalised float tensor."""
    t = torch.from_numpy(np.ascontiguousarray(x)).float().div_(255.0)
    m = torch.tensor(mean).view(1, -1, 1, 1)
    s = torch.tensor(std).view(1, -1, 1, 1)
    return (t - m) / s


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random crop with 4-pixel zero padding and random horizontal flip, per sample."""
    n, _, h, w = x.shape
    padded = F.pad(x, (4, 4, 4, 4))
    dy = torch.randint(0, 9, (n,), generator=gen)
    dx = torch.randint(0, 9, (n,), generator=gen)
    flip = torch.rand(n, generator=gen) < 0.5
    out = torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])
    out[flip] = out[flip].flip(-1)
    return out


def l2_penalty(model: nn.Module) -> torch.Tensor:
    """Sum of squared Conv/Linear weights (masked weights when pruning is applied)."""
    return sum((m.weight**2).sum() for _, m in prunable_layers(model))  # type: ignore[return-value]


def _optimizer(model: nn.Module, r: Recipe) -> torch.optim.Optimizer:
    if r.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=r.lr, momentum=r.momentum, weight_decay=r.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=r.lr, weight_decay=r.weight_decay)


def _scheduler(opt: torch.optim.Optimizer, r: Recipe) -> torch.optim.lr_scheduler.LRScheduler | None:
    if r.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=r.epochs)
    if r.schedule == "step":
        milestones = [max(1, r.epochs // 2), max(1, (3 * r.epochs) // 4)]
        return torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=0.1)
    return None


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


def fit(
    model: nn.Module,
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    recipe: Recipe,
    gen: torch.Generator,
    device: torch.device,
    logger: Logger | None = None,
    label: str = "train",
    val: tuple[torch.Tensor, torch.Tensor] | None = None,
    patience: int | None = None,
    on_epoch_end: Callable[[int, nn.Module], None] | None = None,
) -> dict[str, float]:
    """Train ``model`` in place; log per-epoch train/test loss and accuracy; return the final figures.

    With ``val``, the weights of the epoch with the lowest validation loss are kept, and
    training stops after ``patience`` epochs without improvement (early stopping).
    """
    model.to(device)
    opt = _optimizer(model, recipe)
    sched = _scheduler(opt, recipe)
    x, y = train
    every = max(1, math.ceil(recipe.epochs / 5))
    last: dict[str, float] = {}
    best_loss, best_epoch, best_state = math.inf, 0, None
    for epoch in range(1, recipe.epochs + 1):
        model.train()
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), recipe.batch_size):
            idx = order[start : start + recipe.batch_size]
            xb, yb = x[idx], y[idx]
            if recipe.augment:
                xb = _augment(xb, gen)
            xb, yb = xb.to(device), yb.to(device)
            loss = F.cross_entropy(model(xb), yb)
            if recipe.l2 > 0:
                loss = loss + recipe.l2 * l2_penalty(model)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if sched is not None:
            sched.step()
        if on_epoch_end is not None:
            on_epoch_end(epoch, model)
        train_loss, train_acc = evaluate(model, x, y)
        test_loss, test_acc = evaluate(model, *test)
        last = {"train_loss": train_loss, "train_acc": train_acc, "test_loss": test_loss, "test_acc": test_acc}
        if val is not None:
            last["val_loss"], last["val_acc"] = evaluate(model, *val)
            if last["val_loss"] < best_loss:
                best_loss, best_epoch = last["val_loss"], epoch
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if logger is not None:
            for key, value in last.items():
                split, metric = key.split("_")
                logger.log_metric(f"{split}/{metric}", value)
            logger.next_step()
        if epoch % every == 0 or epoch == recipe.epochs:
            print(
                f"[{label}] epoch {epoch}/{recipe.epochs}  train loss {train_loss:.3f} acc {train_acc:.3f}"
                f"  test loss {test_loss:.3f} acc {test_acc:.3f}",
                file=sys.stderr,
                flush=True,
            )
        if val is not None and patience is not None and epoch - best_epoch >= patience:
            print(f"[{label}] early stop at epoch {epoch}: best validation loss at epoch {best_epoch}", file=sys.stderr)
            break
    if best_state is not None:
        model.load_state_dict(best_state)
        last = dict(zip(("train_loss", "train_acc"), evaluate(model, *train)))
        last.update(zip(("test_loss", "test_acc"), evaluate(model, *test)))
        last.update(zip(("val_loss", "val_acc"), evaluate(model, *val)), best_epoch=best_epoch)
    return last
