"""Seeded, class-balanced, disjoint splits of one image pool.

The target gets members (``in``), as many non-members (``out``) and a validation split; what is
left forms the shadow pool, from which every shadow draws its own ``in``/``out``/validation split
(disjoint inside one shadow; shadows may share samples, as in seed 002). Shadow ``i``'s split
depends only on the seed, the pool and ``i``, so adding a shadow leaves the others unchanged.
LiRA's reference models split the target's candidates (members + non-members) into halves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ticketleak.core import store
from ticketleak.core.errors import UserError


class SplitError(UserError, ValueError):
    """The requested split sizes do not fit the data."""


@dataclass(frozen=True)
class Split:
    """Pool indices of one model's data: members, non-members and (target only) validation."""

    members: np.ndarray
    nonmembers: np.ndarray
    val: np.ndarray | None = None


def _quotas(total: int, num_classes: int) -> np.ndarray:
    """Per-class counts summing to ``total``, as equal as possible (earlier classes take the rest)."""
    q = np.full(num_classes, total // num_classes)
    q[: total % num_classes] += 1
    return q


def _take(by_class: list[np.ndarray], quotas: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Take the first ``quotas[c]`` indices of each class; return them and what is left."""
    taken = np.concatenate([idx[:q] for idx, q in zip(by_class, quotas)])
    return np.sort(taken), [idx[q:] for idx, q in zip(by_class, quotas)]


def _by_class(labels: np.ndarray, indices: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    num_classes = int(labels.max()) + 1
    return [rng.permutation(indices[labels[indices] == c]) for c in range(num_classes)]


def _check_fits(by_class: list[np.ndarray], need: np.ndarray, what: str, names: list[str] | None) -> None:
    for c, (idx, n) in enumerate(zip(by_class, need)):
        if len(idx) < n:
            name = f"class '{names[c]}'" if names else f"class {c}"
            raise SplitError(
                f"data: {what} needs {n} samples of {name} but only {len(idx)} are available; "
                "lower data.target_size / data.shadow_size / data.val_size"
            )


def check_pool(x: np.ndarray, y: np.ndarray, names: list[str], dataset: str) -> None:
    """What training needs of a pool, checked before any split is written: uint8 images
    (N, C, H, W), square (the models take ``image_size`` x ``image_size``), one label per image,
    at least two classes, each with samples."""
    if x.ndim != 4 or len(x) != len(y):
        raise SplitError(f"data: {dataset} gave images of shape {x.shape} for {len(y)} labels; expected (N, C, H, W)")
    if x.shape[2] != x.shape[3]:
        raise SplitError(
            f"data: {dataset} images are {x.shape[2]} high and {x.shape[3]} wide; the models take square images "
            "(resize or crop them to one square size first)")
    if len(names) < 2:
        raise SplitError(f"data: {dataset} has {len(names)} class ({', '.join(map(repr, names)) or 'none'}); "
                         "membership inference needs a classifier of two or more classes")
    counts = np.bincount(y, minlength=len(names))
    empty = [names[c] for c in range(len(names)) if counts[c] == 0]
    if empty:
        raise SplitError(f"data: {dataset} has no samples of class {', '.join(map(repr, empty))}")


def target_split(labels: np.ndarray, target_size: int, val_size: int, seed: int,
                 names: list[str] | None = None) -> tuple[Split, np.ndarray]:
    """The target's members, non-members and validation split, and the remaining shadow pool."""
    rng = np.random.default_rng([seed, 0])
    num_classes = int(labels.max()) + 1
    by_class = _by_class(labels, np.arange(len(labels)), rng)
    q_target, q_val = _quotas(target_size, num_classes), _quotas(val_size, num_classes)
    _check_fits(by_class, 2 * q_target + q_val, "the target (members + non-members + validation)", names)
    members, by_class = _take(by_class, q_target)
    nonmembers, by_class = _take(by_class, q_target)
    val, by_class = _take(by_class, q_val)
    pool = np.sort(np.concatenate(by_class))
    return Split(members, nonmembers, val), pool


def shadow_split(labels: np.ndarray, pool: np.ndarray, shadow_size: int, val_size: int, seed: int, shadow_id: int,
                 names: list[str] | None = None) -> Split:
    """Shadow ``shadow_id``'s members, non-members and validation split, drawn from the shadow pool."""
    rng = np.random.default_rng([seed, 1, shadow_id])
    num_classes = int(labels.max()) + 1
    by_class = _by_class(labels, pool, rng)
    q, q_val = _quotas(shadow_size, num_classes), _quotas(val_size, num_classes)
    _check_fits(by_class, 2 * q + q_val, f"shadow {shadow_id} (members + non-members + validation, from the shadow pool)", names)
    members, by_class = _take(by_class, q)
    nonmembers, by_class = _take(by_class, q)
    val, _ = _take(by_class, q_val)
    return Split(members, nonmembers, val)


def reference_half(ref_id: int, n_samples: int, seed: int) -> np.ndarray:
    """Which of ``n_samples`` candidates reference model ``ref_id`` trains on (bool, n_samples).

    Models come in pairs: model ``2k`` takes a seeded random half, model ``2k + 1`` the other half,
    so with M models (M even) every candidate is IN for exactly M/2, as in LiRA, and adding a
    pair leaves the existing models' halves unchanged."""
    if ref_id < 0:
        raise ValueError(f"reference ids are non-negative, got {ref_id}")
    perm = np.random.default_rng([seed, ref_id // 2]).permutation(n_samples)
    inside = np.zeros(n_samples, dtype=bool)
    inside[perm[: n_samples // 2]] = True
    return inside if ref_id % 2 == 0 else ~inside


def save_split(path: Path, split: Split, x: np.ndarray, y: np.ndarray) -> None:
    """Write one model's split (pool indices, uint8 images, labels) as an .npz file."""
    arrays = {}
    for name in ("members", "nonmembers", "val"):
        idx = getattr(split, name)
        if idx is not None:
            arrays[f"{name}_idx"], arrays[f"{name}_x"], arrays[f"{name}_y"] = idx, x[idx], y[idx]
    store.save_arrays(path, arrays)


def load_split(path: Path) -> dict[str, np.ndarray]:
    """Read a split written by :func:`save_split`."""
    return store.load_arrays(path)
