"""Defenses against membership inference.

Training-time defenses change how target and shadows are trained (the attacker adapts):
``l2`` adds ``lam * sum w^2`` over Conv/Linear weights to the loss (seed 004); ``dropout`` sets
the hidden-layer dropout rate (seed 003). Release-time defenses change only what the model
releases: ``topk`` keeps the k largest probabilities, renormalised (k = 1 releases the label).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TrainingDefense:
    """What one training-time defense changes: the L2 penalty weight and/or the dropout rate."""

    l2: float = 0.0
    dropout: float | None = None  # None keeps model.dropout


def training_defense(name: str, settings: object) -> TrainingDefense:
    """The change that defense ``name`` (with its params section ``settings``) makes to training."""
    if name == "none":
        return TrainingDefense()
    if name == "l2":
        return TrainingDefense(l2=settings.lam)  # type: ignore[attr-defined]
    if name == "dropout":
        return TrainingDefense(dropout=settings.rate)  # type: ignore[attr-defined]
    raise ValueError(f"defense.train: unknown training-time defense '{name}'")


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def top_k(probs: np.ndarray, k: int) -> np.ndarray:
    """Keep each row's k largest probabilities (ties by class index), zero the rest, renormalise."""
    k = min(k, probs.shape[1])
    order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    out = np.zeros_like(probs)
    rows = np.arange(len(probs))[:, None]
    out[rows, order] = probs[rows, order]
    return out / out.sum(axis=1, keepdims=True)


def release(logits: np.ndarray, name: str, settings: object | None = None) -> np.ndarray:
    """The posteriors a model releases under release-time defense ``name`` (``none``: all of them)."""
    probs = softmax(logits)
    if name == "none":
        return probs
    if name == "topk":
        return top_k(probs, settings.k)  # type: ignore[attr-defined]
    raise ValueError(f"defense.release: unknown release-time defense '{name}'")
