"""Training and evaluation: one recipe for target, shadows and ticket retraining.

Besides plain cross-entropy training, :func:`fit` runs the training-time defenses of
ALGORITHMS.md section 4 when the recipe turns them on (all default off and compose freely):

* ``l2``: ``+ l2 * sum w^2`` over Conv/Linear weights (:func:`l2_penalty`, seed 004);
* ``label_smoothing``: cross-entropy against ``(1 - eps) * onehot + eps / C`` (Szegedy et al. 2016);
* ``ppb``: pair-based posterior balancing, ``+ lam * ppb_penalty(z)`` (:func:`ppb_penalty`, seed 002);
* ``distill_alpha``/``distill_temperature``: knowledge distillation from precomputed teacher
  logits (:func:`distillation_loss`, Hinton et al. 2015 as used by ML-Doctor, seed 004);
* ``advreg_theta``/``advreg_steps``: adversarial regularisation (:class:`AdvReg`, Nasr et al. 2018);
* early stopping on a validation split (``val`` + ``patience``; seed 002).

DP-SGD needs per-sample gradients and lives in :mod:`ticketleak.privacy`.
All of them work while a pruning mask is held through ``torch.nn.utils.prune``: losses are
computed on the masked forward pass, so pruned weights get zero gradient and stay zero.
"""

from __future__ import annotations

import math
import os
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
    label_smoothing: float = 0.0  # epsilon of label-smoothed cross-entropy (0: plain CE)
    ppb: float = 0.0  # lambda of the PPB penalty (0: off; seed 002 uses 4)
    distill_alpha: float = 0.0  # weight of the distillation term (0: off; needs fit(teacher_logits=))
    distill_temperature: float = 1.0  # softmax temperature T of distillation
    advreg_theta: float = 0.0  # weight of the adversarial-regularisation term (0: off; needs fit(reference=))
    advreg_steps: int = 1  # inference-model steps k per classifier step


class Logger(Protocol):
    def log_metric(self, name: str, value: float) -> None: ...
    def next_step(self) -> None: ...


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
        torch.set_num_threads(int(os.environ.get("TICKETLEAK_THREADS", "1")))
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


def ppb_penalty(logits: torch.Tensor) -> torch.Tensor:
    """Pair-based posterior balancing (seed 002, per the authors' ``train_defend_ppb``).

    Sort every row of the batch logits ``z`` (B x C) in descending order, split the batch into
    its first half A and second half B (an odd last row is dropped) and return
    ``mean_i KL(softmax(B_i) || softmax(A_i))``: small when all samples' sorted posteriors look
    alike, whichever class they favour. Not detached: gradients flow into both halves.
    Batches of fewer than two rows give 0. The caller multiplies by lambda (``Recipe.ppb``).
    """
    half = logits.shape[0] // 2
    if half == 0:
        return logits.new_zeros(())
    ranked = logits.sort(dim=1, descending=True).values
    a, b = ranked[:half], ranked[half : 2 * half]
    # F.kl_div(log q, log p, log_target=True) = sum p (log p - log q) = KL(p || q); batchmean: / half
    return F.kl_div(F.log_softmax(a, 1), F.log_softmax(b, 1), reduction="batchmean", log_target=True)


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    y: torch.Tensor,
    alpha: float,
    temperature: float,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Knowledge distillation (Hinton et al. 2015; ML-Doctor's defense, seed 004):

    ``KL(softmax(t/T) || softmax(s/T)) * T^2 * alpha + CE(s, y) * (1 - alpha)``, the KL averaged
    over the batch. ``alpha = 0`` is plain cross-entropy; the teacher is not trained (detached).
    """
    ce = F.cross_entropy(student_logits, y, label_smoothing=label_smoothing)
    if alpha == 0:
        return ce
    t = teacher_logits.detach()
    kl = F.kl_div(
        F.log_softmax(student_logits / temperature, 1), F.log_softmax(t / temperature, 1),
        reduction="batchmean", log_target=True,
    )
    return kl * (temperature**2 * alpha) + ce * (1 - alpha)


def _advreg_features(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The inference model's input: the full posterior p and the one-hot label y, side by side."""
    return torch.cat([F.softmax(logits, 1), F.one_hot(y, logits.shape[1]).to(logits.dtype)], 1)


class AdvReg:
    """Adversarial regularisation (Nasr, Shokri & Houmansadr, CCS 2018), min-max training.

    An inference model h (MLP on ``[p, onehot(y)]``: 2C -> 64 -> 64 -> 1, Adam lr 1e-3) learns to
    tell members (training batch, label 1) from non-members (the ``reference`` set, label 0).
    Before every classifier step, :meth:`train_attack` runs ``steps`` steps of h on freshly
    drawn member and reference batches (the classifier in eval mode, its posteriors detached);
    the classifier then minimises ``CE - theta * BCE(h([p, y]), 1)`` on its own batch
    (:meth:`penalty`), i.e. it maximises h's loss on members (Nasr's ``CE + lambda * log h``).

    Deterministic and side-effect free for the rest of training: h is initialised and its
    batches drawn from a private generator seeded from ``gen.initial_seed()``, so neither ``gen``
    nor the global RNG (dropout masks) is consumed.
    """

    def __init__(
        self,
        train: tuple[torch.Tensor, torch.Tensor],
        reference: tuple[torch.Tensor, torch.Tensor],
        theta: float,
        steps: int,
        batch_size: int,
        gen: torch.Generator,
        device: torch.device,
    ) -> None:
        self.train, self.reference = train, reference
        self.theta, self.steps, self.batch_size, self.device = theta, steps, batch_size, device
        self.seed = (gen.initial_seed() * 1_000_003 + 0xADF) % 2**63
        self.gen = torch.Generator().manual_seed(self.seed)
        self.attack: nn.Module | None = None
        self.opt: torch.optim.Optimizer | None = None

    def _build(self, num_classes: int) -> None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.attack = nn.Sequential(
                nn.Linear(2 * num_classes, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1)
            ).to(self.device)
        self.opt = torch.optim.Adam(self.attack.parameters(), lr=1e-3)

    def _draw(self, data: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(0, len(data[0]), (min(self.batch_size, len(data[0])),), generator=self.gen)
        return data[0][idx].to(self.device), data[1][idx].to(self.device)

    def train_attack(self, model: nn.Module) -> float:
        """``steps`` updates of h on (member batch -> 1, reference batch -> 0); returns the last loss."""
        was_training = model.training
        model.eval()
        loss = torch.zeros(())
        for _ in range(self.steps):
            (xm, ym), (xr, yr) = self._draw(self.train), self._draw(self.reference)
            with torch.no_grad():
                feats = torch.cat([_advreg_features(model(xm), ym), _advreg_features(model(xr), yr)])
            if self.attack is None:
                self._build(feats.shape[1] // 2)
            target = torch.cat([torch.ones(len(xm)), torch.zeros(len(xr))]).to(self.device)
            loss = F.binary_cross_entropy_with_logits(self.attack(feats).squeeze(1), target)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
        model.train(was_training)
        return float(loss.detach())

    def penalty(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``-theta * BCE(h([p, y]), 1)`` on the classifier's batch (gradients reach the classifier only)."""
        assert self.attack is not None, "train_attack first"
        for p in self.attack.parameters():
            p.requires_grad_(False)
        try:
            out = self.attack(_advreg_features(logits, y)).squeeze(1)
        finally:
            for p in self.attack.parameters():
                p.requires_grad_(True)
        return -self.theta * F.binary_cross_entropy_with_logits(out, torch.ones_like(out))


def check_recipe(r: Recipe) -> None:
    """Reject defense settings outside their range (a clear error instead of odd training)."""
    if not 0 <= r.label_smoothing < 1:
        raise ValueError(f"recipe.label_smoothing must be in [0, 1), got {r.label_smoothing}")
    if r.ppb < 0 or r.l2 < 0 or r.advreg_theta < 0:
        raise ValueError(f"recipe: l2, ppb and advreg_theta must be >= 0, got {r.l2}, {r.ppb}, {r.advreg_theta}")
    if not 0 <= r.distill_alpha <= 1:
        raise ValueError(f"recipe.distill_alpha must be in [0, 1], got {r.distill_alpha}")
    if r.distill_temperature <= 0:
        raise ValueError(f"recipe.distill_temperature must be > 0, got {r.distill_temperature}")
    if r.advreg_steps < 1:
        raise ValueError(f"recipe.advreg_steps must be >= 1, got {r.advreg_steps}")


def batch_loss(
    model: nn.Module,
    logits: torch.Tensor,
    y: torch.Tensor,
    recipe: Recipe,
    teacher: torch.Tensor | None = None,
    advreg: AdvReg | None = None,
) -> torch.Tensor:
    """The training loss of one batch under ``recipe``: (label-smoothed) CE or the distillation
    loss, plus the PPB, L2 and adversarial-regularisation terms that are switched on."""
    if recipe.distill_alpha > 0:
        assert teacher is not None
        loss = distillation_loss(
            logits, teacher, y, recipe.distill_alpha, recipe.distill_temperature, recipe.label_smoothing
        )
    else:
        loss = F.cross_entropy(logits, y, label_smoothing=recipe.label_smoothing)
    if recipe.ppb > 0:
        loss = loss + recipe.ppb * ppb_penalty(logits)
    if recipe.l2 > 0:
        loss = loss + recipe.l2 * l2_penalty(model)
    if advreg is not None:
        loss = loss + advreg.penalty(logits, y)
    return loss


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


class EpochTracker:
    """Per-epoch bookkeeping shared by :func:`fit` and :func:`ticketleak.privacy.fit_private`:
    evaluate, log, print, keep the best-validation weights and decide on early stopping."""

    def __init__(
        self,
        model: nn.Module,
        train: tuple[torch.Tensor, torch.Tensor],
        test: tuple[torch.Tensor, torch.Tensor],
        epochs: int,
        logger: Logger | None,
        label: str,
        val: tuple[torch.Tensor, torch.Tensor] | None,
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
    teacher_logits: torch.Tensor | None = None,
    reference: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> dict[str, float]:
    """Train ``model`` in place; log per-epoch train/test loss and accuracy; return the final figures.

    With ``val``, the weights of the epoch with the lowest validation loss are kept, and
    training stops after ``patience`` epochs without improvement (early stopping).
    The loss is :func:`batch_loss` under ``recipe``. ``teacher_logits`` (N x C, aligned row by row
    with ``train``; indexed with the same batch indices) is required when
    ``recipe.distill_alpha > 0``; ``reference`` (non-member x, y, e.g. the validation split) when
    ``recipe.advreg_theta > 0``. With augmentation the teacher's logits stay those of the
    un-augmented images (precomputed soft labels).
    """
    check_recipe(recipe)
    x, y = train
    teacher = None
    if recipe.distill_alpha > 0:
        if teacher_logits is None or len(teacher_logits) != len(x):
            raise ValueError("recipe.distill_alpha > 0 needs teacher_logits with one row per training sample")
        teacher = teacher_logits.detach()
    model.to(device)
    advreg = None
    if recipe.advreg_theta > 0:
        if reference is None:
            raise ValueError("recipe.advreg_theta > 0 needs a non-member reference set (fit(reference=(x, y)))")
        advreg = AdvReg(train, reference, recipe.advreg_theta, recipe.advreg_steps, recipe.batch_size, gen, device)
    opt = _optimizer(model, recipe)
    sched = _scheduler(opt, recipe)
    tracker = EpochTracker(model, train, test, recipe.epochs, logger, label, val, patience)
    for epoch in range(1, recipe.epochs + 1):
        model.train()
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), recipe.batch_size):
            idx = order[start : start + recipe.batch_size]
            xb, yb = x[idx], y[idx]
            if recipe.augment:
                xb = _augment(xb, gen)
            xb, yb = xb.to(device), yb.to(device)
            if advreg is not None:
                advreg.train_attack(model)
            tb = teacher[idx].to(device) if teacher is not None else None
            loss = batch_loss(model, model(xb), yb, recipe, tb, advreg)
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
