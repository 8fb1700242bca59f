"""RMIA's population (ticketleak.population): data no model trained on, each sample once."""

from __future__ import annotations

import numpy as np
import pytest

from ticketleak.population import choose

CANDIDATES = np.arange(6)  # the target's members and non-members
VAL, POOL = np.array([6, 7]), np.arange(8, 15)


def test_population_is_the_validation_split_and_the_shadow_pool_in_index_order():
    assert choose(CANDIDATES, VAL, POOL, 100, seed=0).tolist() == list(range(6, 15))


def test_a_smaller_population_is_a_seeded_subset():
    first, again, other = (choose(CANDIDATES, VAL, POOL, 4, seed=s) for s in (0, 0, 1))
    assert len(first) == 4 and np.array_equal(first, again) and np.all(np.diff(first) > 0)
    assert set(first.tolist()) <= set(range(6, 15))
    assert not np.array_equal(first, other)


def test_a_target_candidate_never_enters_the_population():
    with pytest.raises(ValueError, match="pool index 2 is a target candidate"):
        choose(CANDIDATES, VAL, np.array([2, 20]), 10, seed=0)
    with pytest.raises(ValueError, match="at least 1"):
        choose(CANDIDATES, VAL, POOL, 0, seed=0)
