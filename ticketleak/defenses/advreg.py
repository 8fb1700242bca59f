"""Adversarial regularisation (Nasr, Shokri & Houmansadr, CCS 2018): min-max training against an
inference model, with the validation split (``Data.val``) as the non-member reference set."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ticketleak.core.schema import Section, at_least
from ticketleak.tensors import Tensors
from ticketleak.training import Hook

WHEN = "train"


@dataclass(frozen=True)
class Settings(Section):
    theta: float
    steps: int

    def check(self) -> None:
        at_least(self, "theta", 0)
        at_least(self, "steps", 1)


def features(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The inference model's input: the full posterior p and the one-hot label y, side by side."""
    return torch.cat([F.softmax(logits, 1), F.one_hot(y, logits.shape[1]).to(logits.dtype)], 1)


class AdvReg(Hook):
    """Min-max training against an inference model h.

    h (MLP on ``[p, onehot(y)]``: 2C -> 64 -> 64 -> 1, Adam lr 1e-3) learns to tell members
    (training batch, label 1) from non-members (the ``reference`` set, label 0). Before every
    classifier step (:meth:`before_step`), :meth:`train_attack` runs ``steps`` steps of h on
    freshly drawn member and reference batches (the classifier in eval mode, its posteriors
    detached); the classifier then minimises ``CE - theta * BCE(h([p, y]), 1)`` on its own batch
    (:meth:`term`), i.e. it maximises h's loss on members (Nasr's ``CE + lambda * log h``).

    Deterministic and side-effect free for the rest of training: h is initialised and its
    batches drawn from a private generator seeded from ``gen.initial_seed()``, so neither ``gen``
    nor the global RNG (dropout masks) is consumed.
    """

    def __init__(
        self, train: Tensors, reference: Tensors, theta: float, steps: int, batch_size: int,
        gen: torch.Generator, device: torch.device,
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

    def _draw(self, data: Tensors) -> Tensors:
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
                feats = torch.cat([features(model(xm), ym), features(model(xr), yr)])
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
            out = self.attack(features(logits, y)).squeeze(1)
        finally:
            for p in self.attack.parameters():
                p.requires_grad_(True)
        return -self.theta * F.binary_cross_entropy_with_logits(out, torch.ones_like(out))

    def before_step(self, model: nn.Module) -> None:
        self.train_attack(model)

    def term(self, model: nn.Module, logits: torch.Tensor, y: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return self.penalty(logits, y)


def hook(s: Settings, data, recipe, gen: torch.Generator, device: torch.device) -> Hook:  # noqa: ANN001
    """The AdvReg hook; theta = 0 is plain training (no hook, no inference model)."""
    if s.theta == 0:
        return Hook()
    if data.val is None:
        raise ValueError("adversarial regularisation needs a non-member reference set (Data.val)")
    return AdvReg(data.train, data.val, s.theta, s.steps, recipe.batch_size, gen, device)
