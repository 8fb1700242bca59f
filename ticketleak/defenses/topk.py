"""Top-k release: keep each row's k largest probabilities, renormalised (k = 1 releases the label)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ticketleak.core.schema import Section, at_least

WHEN = "release"


@dataclass(frozen=True)
class Settings(Section):
    k: int

    def check(self) -> None:
        at_least(self, "k", 1)


def top_k(probs: np.ndarray, k: int) -> np.ndarray:
    """Keep each row's k largest probabilities (ties by class index), zero the rest, renormalise."""
    k = min(k, probs.shape[1])
    order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    out = np.zeros_like(probs)
    rows = np.arange(len(probs))[:, None]
    out[rows, order] = probs[rows, order]
    return out / out.sum(axis=1, keepdims=True)


def release(probs: np.ndarray, s: Settings) -> np.ndarray:
    return top_k(probs, s.k)
