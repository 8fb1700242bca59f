"""Shared fixtures: the repository's own params.yaml as a mutable dict."""

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def raw_params() -> dict:
    """A fresh copy of the default params.yaml."""
    return yaml.safe_load((ROOT / "params.yaml").read_text())
