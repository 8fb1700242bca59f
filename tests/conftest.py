"""Shared fixtures: the repository's own params.yaml as a mutable dict.

The test process pins PyTorch's CPU kernels as every stage does (``ticketleak.core.machine.pin``),
before any test runs a kernel: a test that compares a number computed here with one a stage wrote
then compares the same kernels. (Unpinned, on an AVX-512 machine with AVX512-FP16, SAMIA's
finite-difference sensitivities computed here differed from the stage's by up to 0.6%.)
"""

from pathlib import Path

import pytest
import yaml

from ticketleak.core import machine

machine.pin()

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def raw_params() -> dict:
    """A fresh copy of the default params.yaml."""
    return yaml.safe_load((ROOT / "params.yaml").read_text())
