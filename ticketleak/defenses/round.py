"""Posterior rounding (coarsening), a confidence-masking release-time defense."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ticketleak.core.schema import Section, within

WHEN = "release"


@dataclass(frozen=True)
class Settings(Section):
    decimals: int

    def check(self) -> None:
        within(self, "decimals", 0, 12, "[]")


def round_posteriors(probs: np.ndarray, decimals: int) -> np.ndarray:
    """Round every probability to ``decimals`` decimals (e.g. decimals = 1 releases 0.0, 0.1, ..., 1.0).

    Not renormalised: renormalising would bring the dropped digits back. Rows therefore sum to 1
    only up to C * 0.5 * 10^-decimals, and a row whose entries all round to 0 stays all zero."""
    if int(decimals) != decimals or decimals < 0:
        raise ValueError(f"defense.round: decimals must be a non-negative integer, got {decimals}")
    return np.round(probs, int(decimals))


def release(probs: np.ndarray, s: Settings) -> np.ndarray:
    return round_posteriors(probs, s.decimals)
