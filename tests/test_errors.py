"""Failures leave nothing behind and say one line: staging, corrupt files, OS errors, bad datasets."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import ROOT

from ticketleak import splits
from ticketleak.core import layout, store


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_failed_stage_leaves_nothing_in_the_folders_other_stages_hash(in_tmp):
    out = in_tmp / "posteriors/seed-0/none/dense"
    with pytest.raises(RuntimeError):
        with store.staged_dir(out) as tmp:
            (tmp / "target.npz").write_bytes(b"half")
            assert not tmp.is_relative_to(out.parent)  # staged outside the output's folder
            raise RuntimeError("killed")
    assert not out.exists() and not (in_tmp / "posteriors").exists()
    assert list(layout.STAGING.iterdir()) == []
    store.write_json(in_tmp / "results/seed-0/none/dense.json", {"a": 1})
    assert sorted(p.name for p in (in_tmp / "results/seed-0/none").iterdir()) == ["dense.json"]


def test_stale_staging_of_dead_processes_is_cleared_and_live_ones_kept(in_tmp):
    layout.STAGING.mkdir()
    dead = layout.STAGING / f"{_dead_pid()}-0-dense"
    dead.mkdir()
    (dead / "target.npz").write_bytes(b"half")
    (layout.STAGING / f"{_dead_pid()}-1-dense.json").write_text("{")
    live = layout.STAGING / f"{os.getppid()}-0-other"
    live.mkdir()
    store.clear_stale()
    assert sorted(p.name for p in layout.STAGING.iterdir()) == [live.name]


def test_corrupt_and_tampered_files_are_refused_in_one_line(tmp_path):
    torch = pytest.importorskip("torch")
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"not a zip at all")
    with pytest.raises(store.CorruptFileError) as err:
        store.load_torch(bad)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)

    class Payload:  # an object whose unpickling would run code: weights-only loading refuses it
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    torch.save({"w": Payload()}, bad)
    with pytest.raises(store.CorruptFileError, match="refused") as err:
        store.load_torch(bad)
    assert "\n" not in str(err.value)
    (tmp_path / "x.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(store.CorruptFileError, match="x.npz"):
        store.load_arrays(tmp_path / "x.npz")
    (tmp_path / "x.json").write_text("{")
    with pytest.raises(store.CorruptFileError, match="not valid JSON"):
        store.read_json(tmp_path / "x.json")


@pytest.mark.parametrize("error, expected", [
    ("OSError(28, 'No space left on device', 'results/seed-0/none/dense.json')", "error: results/seed-0/none/dense.json: No space left on device"),
    ("PermissionError(13, 'Permission denied', 'models/seed-0/none')", "error: models/seed-0/none: Permission denied"),
    ("store.CorruptFileError('models/x/model.pt: not a plain tensor file, refused (bad)')", "error: models/x/model.pt: not a plain tensor file"),
])
def test_stage_errors_print_one_line_and_nothing_at_exit(tmp_path, error, expected):
    script = tmp_path / "stage.py"
    script.write_text(textwrap.dedent(f"""
        import torch  # a stage dies with its heavy imports loaded
        from ticketleak.core import store
        from ticketleak.core.cli import run

        def main():
            raise {error}

        run(main)
    """))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith(expected) and proc.stderr.strip().count("\n") == 0, proc.stderr


def _pool(n=40, h=8, w=8, classes=2):
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (n, 1, h, w), dtype=np.uint8), np.arange(n) % classes


def test_prepare_checks_the_pool_before_any_split():
    x, y = _pool(h=8, w=12)
    with pytest.raises(splits.SplitError, match="8 high and 12 wide"):
        splits.check_pool(x, y, ["a", "b"], "mine")
    x, y = _pool(classes=1)
    with pytest.raises(splits.SplitError, match="has 1 class .*'cat'.* two or more"):
        splits.check_pool(x, y, ["cat"], "mine")
    x, y = _pool()
    with pytest.raises(splits.SplitError, match="no samples of class 'dog'"):
        splits.check_pool(x, y, ["cat", "bird", "dog"], "mine")
    splits.check_pool(x, y, ["cat", "bird"], "mine")


def test_split_errors_name_the_class_by_its_folder_name():
    y = np.r_[np.zeros(30, int), np.ones(30, int), np.full(3, 2)]  # class 2 only in test/: three images
    with pytest.raises(splits.SplitError, match="class 'truck'"):
        splits.target_split(y, 30, 6, 0, ["cat", "dog", "truck"])
