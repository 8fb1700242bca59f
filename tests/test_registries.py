"""Every family is a registry of modules: each entry has its entry function (and, for pruning
methods, its settings), params.yaml has a block per pruning method, and a new module is picked
up by the params check without editing anything else."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields, is_dataclass
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from ticketleak.core import params
from ticketleak.core.registry import (
    ARCHITECTURES,
    DATASETS,
    DEFENSES,
    PRUNING_METHODS,
    Registry,
)
from ticketleak.core.schema import NoSettings, ParamsError, Section

FAMILIES = [(DATASETS, "load"), (ARCHITECTURES, "build"), (PRUNING_METHODS, "prune")]
if (spec := importlib.util.find_spec(DEFENSES.package)) is not None and spec.submodule_search_locations:
    FAMILIES.append((DEFENSES, "WHEN"))  # a package (another family's rewrite): its entries say when they act
ENTRIES = [(registry, name, attr) for registry, attr in FAMILIES for name in registry.names()]


@pytest.mark.parametrize("registry, name, attr", ENTRIES, ids=[f"{r.what}:{n}" for r, n, _ in ENTRIES])
def test_every_entry_imports_with_its_entry_point(registry: Registry, name: str, attr: str) -> None:
    module = registry.get(name)
    assert module.__name__ == f"{registry.package}.{name}"
    assert hasattr(module, attr), f"{module.__name__} has no {attr}"
    settings = registry.settings(name)
    assert issubclass(settings, Section) and is_dataclass(settings)
    if registry is PRUNING_METHODS:
        assert callable(module.prune)
        assert "Settings" in vars(module), f"{module.__name__} has no Settings of its own"
    if registry is ARCHITECTURES:
        assert isinstance(module.BATCHNORM, bool)
    if registry is DATASETS:
        assert module.NUM_CLASSES is None or module.NUM_CLASSES >= 2


def test_names_are_the_public_modules_sorted() -> None:
    for registry, _ in FAMILIES:
        names = registry.names()
        assert names == tuple(sorted(names)) and names
        assert not any(n.startswith("_") for n in names)
    assert "lth_oneshot" in PRUNING_METHODS.names() and "_common" not in PRUNING_METHODS.names()
    assert {"mlp", "cnn", "resnet18"} <= set(ARCHITECTURES.names())
    assert {"digits", "imagefolder"} <= set(DATASETS.names())


def test_unknown_name_is_one_line() -> None:
    with pytest.raises(ParamsError, match="unknown pruning method 'magic'") as info:
        PRUNING_METHODS.get("magic")
    assert "lth_oneshot" in str(info.value) and "\n" not in str(info.value)


def test_params_yaml_has_a_block_for_every_pruning_method_and_no_other() -> None:
    prune = yaml.safe_load((ROOT / "params.yaml").read_text())["prune"]
    grid = {f.name for f in fields(params.PruneParams)}
    blocks = set(prune) - grid
    assert blocks == set(PRUNING_METHODS.names())
    for method in blocks:  # each block builds into that method's own settings
        settings = PRUNING_METHODS.settings(method)
        assert set(prune[method] or {}) == {f.name for f in fields(settings)}


def test_only_slimming_needs_batchnorm() -> None:
    needs = [m for m in PRUNING_METHODS.names() if getattr(PRUNING_METHODS.get(m), "NEEDS_BATCHNORM", False)]
    assert needs == ["slimming"]


@contextmanager
def _extra_entry(registry: Registry, name: str, source: str, tmp_path: Path) -> Iterator[None]:
    """Register module ``name`` in ``registry`` for the duration: the file lives in ``tmp_path``,
    which joins the package's search path (the working tree is left alone)."""
    folder = tmp_path / registry.package.replace(".", "_")
    folder.mkdir()
    (folder / f"{name}.py").write_text(source)
    package = importlib.import_module(registry.package)
    package.__path__.append(str(folder))  # the spec's submodule_search_locations is this list
    Registry.names.cache_clear()
    try:
        assert name in registry.names()
        yield
    finally:
        package.__path__.remove(str(folder))
        sys.modules.pop(f"{registry.package}.{name}", None)
        Registry.names.cache_clear()
        assert name not in registry.names()


NEW_METHOD = '''
from dataclasses import dataclass

from ticketleak.pruning import lth_oneshot
from ticketleak.core.schema import Section, at_least


@dataclass(frozen=True)
class Settings(Section):
    level: int

    def check(self) -> None:
        at_least(self, "level", 1)


def prune(job, sparsity):
    return lth_oneshot.prune(job, sparsity)
'''


def test_a_new_pruning_method_file_is_picked_up_by_the_params_check(tmp_path: Path, raw_params: dict) -> None:
    params.validate(raw_params)
    with _extra_entry(PRUNING_METHODS, "zz_test_method", NEW_METHOD, tmp_path):
        with pytest.raises(ParamsError, match=r"missing key 'prune\.zz_test_method'"):
            params.validate(raw_params)
        raw_params["prune"]["zz_test_method"] = {"level": 0}
        with pytest.raises(ParamsError, match=r"prune\.zz_test_method\.level: must be >= 1, got 0"):
            params.validate(raw_params)
        raw_params["prune"]["zz_test_method"] = {"level": 2}
        raw_params["prune"]["methods"] = ["lth_oneshot", "zz_test_method"]
        p = params.validate(raw_params)
        assert p.prune.entry("zz_test_method").level == 2
        params.check_key("prune.zz_test_method.level")
    with pytest.raises(ParamsError, match=r"unknown key 'prune\.zz_test_method'"):
        params.validate(raw_params)  # gone again: its block is now an unknown key


NEW_ARCH = '''
from torch import nn

BATCHNORM = False


def build(in_channels, num_classes, image_size, dropout):
    return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * image_size * image_size, num_classes))
'''


def test_a_new_architecture_file_is_accepted_by_model_arch(tmp_path: Path, raw_params: dict) -> None:
    raw_params["model"]["arch"] = "zz_test_arch"
    with pytest.raises(ParamsError, match="model.arch: unknown architecture 'zz_test_arch'"):
        params.validate(raw_params)
    with _extra_entry(ARCHITECTURES, "zz_test_arch", NEW_ARCH, tmp_path):
        assert params.validate(raw_params).model.arch == "zz_test_arch"
        from ticketleak.models import build_model

        model = build_model("zz_test_arch", 1, 3, 4)
        assert model[1].out_features == 3
        raw_params["prune"]["methods"] = ["slimming"]  # no BatchNorm: slimming is refused
        with pytest.raises(ParamsError, match="slimming prunes BatchNorm channels"):
            params.validate(raw_params)


def test_settings_default_to_no_settings_without_a_settings_class(tmp_path: Path) -> None:
    with _extra_entry(ARCHITECTURES, "zz_plain", NEW_ARCH, tmp_path):
        assert ARCHITECTURES.settings("zz_plain") is NoSettings


NEW_DATASET = '''
from pathlib import Path

import numpy as np

from ticketleak.datasets import ImagePool

NUM_CLASSES = 3


def load(root: Path, path, download: bool) -> ImagePool:
    rng = np.random.default_rng(0)
    y = np.arange(90) % 3
    return ImagePool(rng.integers(0, 255, (90, 1, 6, 6), dtype=np.uint8), y.astype(np.int64), ("a", "b", "c"))
'''


def test_a_new_dataset_file_is_accepted_by_data_name_and_loads(tmp_path: Path, raw_params: dict) -> None:
    raw_params["data"]["name"] = "zz_test_data"
    with pytest.raises(ParamsError, match="data.name: unknown dataset 'zz_test_data'"):
        params.validate(raw_params)
    with _extra_entry(DATASETS, "zz_test_data", NEW_DATASET, tmp_path):
        assert params.validate(raw_params).data.name == "zz_test_data"
        from ticketleak.datasets import load_pool

        pool = load_pool("zz_test_data", root=tmp_path)
        assert pool.x.shape == (90, 1, 6, 6) and pool.classes == ("a", "b", "c")
