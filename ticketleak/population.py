"""RMIA's population: samples that neither the target nor any reference model trained on.

The reference models train on halves of the target's candidates (its members and non-members),
so every sample outside the candidates qualifies: the target's validation split and the shadow
pool, which the shadow splits draw from. The population is their union, each pool index once,
up to ``size`` samples (a seeded draw when there are more), ordered by pool index.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

PARTS = ("members", "nonmembers", "val")


def draw(target: Mapping[str, np.ndarray], shadows: Iterable[Mapping[str, np.ndarray]], size: int,
         seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pool indices, inputs, labels) of at most ``size`` population samples: the target's
    validation split and every shadow split's samples, none of them a target candidate."""
    if size < 1:
        raise ValueError(f"population size must be at least 1, got {size}")
    candidates = set(np.concatenate([target["members_idx"], target["nonmembers_idx"]]).tolist())
    found: dict[int, tuple[np.ndarray, int]] = {}
    for split in [{"val_idx": target["val_idx"], "val_x": target["val_x"], "val_y": target["val_y"]}, *shadows]:
        for part in PARTS:
            if f"{part}_idx" not in split:
                continue
            for i, x, y in zip(split[f"{part}_idx"].tolist(), split[f"{part}_x"], split[f"{part}_y"].tolist()):
                if i in candidates:
                    raise ValueError(f"pool index {i} is a target candidate and in the population's sources")
                found.setdefault(i, (x, y))
    order = np.array(sorted(found), dtype=np.int64)
    if len(order) > size:
        order = np.sort(np.random.default_rng([seed, 2]).choice(order, size, replace=False))
    xs = np.stack([found[i][0] for i in order.tolist()])
    ys = np.array([found[i][1] for i in order.tolist()], dtype=np.int64)
    return order, xs, ys
