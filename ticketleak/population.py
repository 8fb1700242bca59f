"""RMIA's population: samples that neither the target nor any reference model trained on.

The reference models train on halves of the target's candidates (its members and non-members),
so every other sample qualifies: the target's validation split and the shadow pool. ``prepare``
draws up to ``attack.reference.population`` of them (a seeded draw from ``data.seed``, ordered by
pool index) into ``data/prepared/population.npz``. The draw does not depend on the shadows
(``shadow.ids``), so adding a shadow leaves the population, and the reference stages, as they are.
"""

from __future__ import annotations

import numpy as np

FILE = "population.npz"  # in data/prepared/: idx, x, y


def choose(target_idx: np.ndarray, val_idx: np.ndarray, pool_idx: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Sorted pool indices of at most ``size`` population samples, from the validation split and
    the shadow pool, never a target candidate (``target_idx``)."""
    if size < 1:
        raise ValueError(f"population size must be at least 1, got {size}")
    found = np.union1d(val_idx, pool_idx)
    clash = np.intersect1d(found, target_idx)
    if clash.size:
        raise ValueError(f"pool index {int(clash[0])} is a target candidate and in the population's sources")
    if len(found) > size:
        found = np.sort(np.random.default_rng([seed, 3]).choice(found, size, replace=False))
    return found
