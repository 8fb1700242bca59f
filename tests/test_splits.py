import numpy as np
import pytest
import torch

from ticketleak import splits


@pytest.fixture
def labels():
    rng = np.random.default_rng(0)
    return rng.permutation(np.repeat(np.arange(10), 120))


def test_target_splits_are_disjoint_balanced_and_sized(labels):
    target, pool = splits.target_split(labels, target_size=300, val_size=50, seed=1)
    parts = [target.members, target.nonmembers, target.val, pool]
    assert sum(len(p) for p in parts) == len(labels)
    assert len(np.unique(np.concatenate(parts))) == len(labels)  # disjoint and covering
    assert len(target.members) == len(target.nonmembers) == 300 and len(target.val) == 50
    for idx in (target.members, target.nonmembers):
        counts = np.bincount(labels[idx], minlength=10)
        assert counts.max() - counts.min() == 0  # 300 / 10 classes


def test_shadow_splits_avoid_target_data_and_are_stable(labels):
    target, pool = splits.target_split(labels, 300, 50, seed=1)
    s0 = splits.shadow_split(labels, pool, 200, 20, seed=1, shadow_id=0)
    s1 = splits.shadow_split(labels, pool, 200, 20, seed=1, shadow_id=1)
    target_idx = np.concatenate([target.members, target.nonmembers, target.val])
    for s in (s0, s1):
        own = [s.members, s.nonmembers, s.val]
        assert len(np.unique(np.concatenate(own))) == sum(len(o) for o in own)
        assert not np.intersect1d(np.concatenate(own), target_idx).size
        counts = np.bincount(labels[s.members], minlength=10)
        assert counts.max() - counts.min() == 0
    assert not np.array_equal(s0.members, s1.members)
    again = splits.shadow_split(labels, pool, 200, 20, seed=1, shadow_id=0)
    assert np.array_equal(again.members, s0.members)  # adding shadows never moves shadow 0


def test_uneven_sizes_stay_within_one_per_class(labels):
    target, _ = splits.target_split(labels, 305, 7, seed=0)
    counts = np.bincount(labels[target.members], minlength=10)
    assert counts.sum() == 305 and counts.max() - counts.min() <= 1


def test_too_large_request_names_the_params(labels):
    with pytest.raises(splits.SplitError, match="data.target_size"):
        splits.target_split(labels, 700, 10, seed=0)
    _, pool = splits.target_split(labels, 300, 50, seed=0)
    with pytest.raises(splits.SplitError, match="shadow 3"):
        splits.shadow_split(labels, pool, 400, 10, seed=0, shadow_id=3)


def test_save_and_load_round_trip(tmp_path, labels):
    x = np.arange(len(labels) * 4, dtype=np.uint8).reshape(len(labels), 1, 2, 2)
    target, _ = splits.target_split(labels, 100, 10, seed=0)
    splits.save_split(tmp_path / "t.npz", target, x, labels)
    back = splits.load_split(tmp_path / "t.npz")
    assert np.array_equal(back["members_x"], x[target.members])
    assert np.array_equal(back["val_y"], labels[target.val])


def test_reference_model_data_is_its_half_of_the_targets_candidates(tmp_path):
    from ticketleak import runs
    from ticketleak.core import layout, store
    from ticketleak.splits import Split, save_split

    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, size=(40, 1, 4, 4), dtype=np.uint8)
    y = np.arange(40) % 4
    save_split(tmp_path / "target.npz", Split(np.arange(0, 10), np.arange(10, 20), np.arange(20, 24)), x, y)
    store.write_json(tmp_path / "meta.json", {"mean": [0.5], "std": [0.25]})
    _, t_in, t_out, t_val = runs.load_role_data(layout.TARGET, tmp_path)
    candidates = torch.cat([t_in[0], t_out[0]])
    halves = []
    for ref in (layout.reference(0), layout.reference(1)):
        _, r_in, r_out, r_val = runs.load_role_data(ref, tmp_path, reference_seed=3)
        assert len(r_in[1]) == len(r_out[1]) == 10
        assert torch.equal(r_val[0], t_val[0])  # validation: the target's, which no model trains on
        inside = runs.reference_membership(ref, 20, 3)
        assert torch.equal(r_in[0], candidates[inside]) and torch.equal(r_out[0], candidates[~inside])
        halves.append(inside)
    assert (halves[0] ^ halves[1]).all()  # a pair splits the candidates
    with pytest.raises(ValueError, match="reference seed"):
        runs.load_role_data(layout.reference(0), tmp_path)
