"""The CPU kernel pins (ticketleak.core.machine): what they set, what they leave alone, and that a
stage pinned late (after torch is imported) trains the same bits as one pinned from the start."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap

import pytest

from ticketleak.core import machine

TRAIN = textwrap.dedent("""
    import hashlib, io, os, sys
    import torch
    from sklearn.datasets import load_digits
    if sys.argv[1] == "late":
        from ticketleak.core import machine
        machine.pin()  # what cli.run does: after torch is imported, before any work
    from ticketleak.models import build_model
    from ticketleak.training import Recipe, fit, seed_everything
    torch.set_num_threads(1)
    d = load_digits()
    x = torch.tensor(d.images[:240, None] / 16.0, dtype=torch.float32)
    y = torch.tensor(d.target[:240])
    gen = seed_everything(0)
    model = build_model("cnn", 1, 10, 8, 0.0)
    recipe = Recipe("adam", 1e-3, 0.9, 0.0, 2, 32, "constant", False)
    fit(model, (x[:160], y[:160]), (x[160:], y[160:]), recipe, gen, torch.device("cpu"))
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    print(torch.backends.cpu.get_cpu_capability(), hashlib.sha256(buf.getvalue()).hexdigest())
""")


def test_pin_sets_the_three_libraries_once_and_respects_the_environment():
    env: dict[str, str] = {}
    assert machine.pin(env, "x86_64") == machine.PINS and env == machine.PINS
    assert machine.pin(env, "x86_64") == {}  # already set: nothing more
    mine = {"ATEN_CPU_CAPABILITY": "default"}
    machine.pin(mine, "AMD64")
    assert mine["ATEN_CPU_CAPABILITY"] == "default" and mine["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    native = {"TICKETLEAK_CPU": "native"}
    assert machine.pin(native, "x86_64") == {} and set(native) == {"TICKETLEAK_CPU"}
    arm: dict[str, str] = {}
    assert machine.pin(arm, "aarch64") == {} and arm == {}


def _train(mode: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in machine.PINS and k != "TICKETLEAK_CPU"}
    proc = subprocess.run([sys.executable, "-c", TRAIN, mode], env={**clean, **env}, text=True,
                          capture_output=True, check=True, timeout=300)
    return proc.stdout.strip().splitlines()[-1]


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="x86-64 pins only")
def test_pinned_late_trains_the_same_bits_as_pinned_from_the_start():
    early = _train("early", **machine.PINS)
    late = _train("late")
    assert early == late
    capability = early.split()[0]
    assert capability in ("AVX2", "DEFAULT")  # never the AVX-512 kernels once pinned


STAGE = textwrap.dedent("""
    import numpy, scipy.linalg, torch  # loaded before the cap, as in the preloaded runner
    from threadpoolctl import threadpool_info
    from ticketleak.core.cli import run

    def main():
        pools = sorted({pool["num_threads"] for pool in threadpool_info()})
        print(pools, torch.get_num_threads())

    run(main)
""")


def _stage(threads: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in (*machine.THREAD_VARIABLES, "TICKETLEAK_THREADS")}
    if threads is not None:
        env["TICKETLEAK_THREADS"] = threads
    return subprocess.run([sys.executable, "-c", STAGE], env=env, text=True, capture_output=True, timeout=120)


def test_a_stage_computes_with_one_thread_unless_told_otherwise():
    """Every BLAS/OpenMP pool and torch's intra-op pool, loaded before cli.run or not, is capped:
    at 1 by default, at $TICKETLEAK_THREADS when set; a bad value is one line, before any work."""
    assert _stage(None).stdout.strip() == "[1] 1"
    assert _stage("2").stdout.strip() == "[2] 2"
    bad = _stage("two")
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.strip() == "error: TICKETLEAK_THREADS: expected a whole number of threads >= 1, got 'two'"
