"""RMIA's population (ticketleak.population): data no model trained on, each sample once."""

from __future__ import annotations

import numpy as np
import pytest

from ticketleak.population import draw


def _split(idx: dict[str, list[int]]) -> dict[str, np.ndarray]:
    """A split whose sample i has input i * 10 (shape (1, 2, 2)) and label i % 3."""
    out = {}
    for part, ids in idx.items():
        a = np.array(ids, dtype=np.int64)
        out[f"{part}_idx"], out[f"{part}_x"], out[f"{part}_y"] = a, np.repeat(a * 10, 4).reshape(-1, 1, 2, 2), a % 3
    return out


TARGET = _split({"members": [0, 1, 2], "nonmembers": [3, 4, 5], "val": [6, 7]})
SHADOWS = [_split({"members": [8, 9], "nonmembers": [10, 11], "val": [12]}),
           _split({"members": [9, 13], "nonmembers": [11, 14], "val": [8]})]  # overlaps the first


def test_population_is_validation_and_shadow_data_each_once_in_index_order():
    idx, x, y = draw(TARGET, SHADOWS, 100, seed=0)
    assert idx.tolist() == [6, 7, 8, 9, 10, 11, 12, 13, 14]
    assert np.array_equal(x[:, 0, 0, 0], idx * 10) and np.array_equal(y, idx % 3)


def test_a_smaller_population_is_a_seeded_subset():
    first, again, other = (draw(TARGET, SHADOWS, 4, seed=s)[0] for s in (0, 0, 1))
    assert len(first) == 4 and np.array_equal(first, again) and np.all(np.diff(first) > 0)
    assert set(first) <= {6, 7, 8, 9, 10, 11, 12, 13, 14}
    assert not np.array_equal(first, other)


def test_without_shadows_the_population_is_the_validation_split():
    assert draw(TARGET, [], 1000, seed=0)[0].tolist() == [6, 7]


def test_a_target_candidate_never_enters_the_population():
    leaky = _split({"members": [2, 20], "nonmembers": [21], "val": [22]})
    with pytest.raises(ValueError, match="pool index 2 is a target candidate"):
        draw(TARGET, [leaky], 10, seed=0)
    with pytest.raises(ValueError, match="at least 1"):
        draw(TARGET, [], 0, seed=0)
