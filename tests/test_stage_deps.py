"""Every stage in dvc.yaml lists exactly the code it runs, so an edit reruns what it affects.

A stage's code is its script and every module of the package the script imports, transitively
(imports inside functions count; ``if TYPE_CHECKING:`` blocks do not). A registry package
(``ticketleak/pruning``, ``models``, ``datasets``, ``defenses``, ``classifiers``) loads its entries by name, so a
stage that reaches any of its modules, or declares params that are built from its entries,
depends on the whole folder. ``ticketleak/core`` (params, layout, stores, CLI: what every stage
starts with) is listed as one folder too, which loses nothing only while every stage runs every
module in it; a test holds that. ``ticketleak/__init__.py`` is empty and not listed.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ticketleak.core.params import PruneParams

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ticketleak", "ticketleak_studies")
REGISTRY_PACKAGES = (
    "ticketleak/classifiers", "ticketleak/datasets", "ticketleak/defenses", "ticketleak/models", "ticketleak/pruning",
)
CORE = "ticketleak/core"  # listed whole: every stage imports every module in it
FOLDER_PACKAGES = (*REGISTRY_PACKAGES, CORE)
PRUNE_FIELDS = tuple(f.name for f in dataclasses.fields(PruneParams))  # prune.<other> is a method's settings
EVERY_KEY = "*"  # a stage that declares the whole params file


def _module_file(root: Path, dotted: str) -> Path | None:
    base = root.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imported(path: Path, root: Path) -> set[Path]:
    """Files of our packages that ``path`` imports (directly)."""
    tree = ast.parse(path.read_text())
    skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and _is_type_checking(node) for n in ast.walk(node)}
    found: set[Path] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] not in PACKAGES:
                continue
            for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__, a/b/__init__, ...
                f = _module_file(root, ".".join(parts[:i]))
                if f is not None:
                    found.add(f)
    return found


def code_closure(script: Path, root: Path = ROOT) -> set[Path]:
    seen: set[Path] = set()
    todo = [script]
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        todo.extend(_imported(f, root) - seen)
    return seen


def required_deps(script: str, params: list[str], root: Path = ROOT) -> set[str]:
    """What a stage running ``script`` with ``params`` must list: files, and registry folders."""
    files = {p.relative_to(root).as_posix() for p in code_closure(root / script, root)}
    files.discard("ticketleak/__init__.py")
    folders = {pkg for pkg in FOLDER_PACKAGES if any(f.startswith(pkg + "/") for f in files)}
    for key in params:
        parts = key.split(".")
        if key == EVERY_KEY:  # the whole file: every section is built, every registry consulted
            folders.update(REGISTRY_PACKAGES)
        elif parts[0] == "prune" and (len(parts) == 1 or parts[1] not in PRUNE_FIELDS):
            folders.add("ticketleak/pruning")
        elif parts[0] == "defense" and (len(parts) == 1 or parts[1] in ("variants", "release_variants")):
            folders.add("ticketleak/defenses")
    files = {f for f in files if not any(f.startswith(d + "/") for d in folders)}
    return files | folders


def _stages() -> dict[str, dict]:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def _params(stage: dict) -> list[str]:
    out = []
    for entry in stage.get("params", []):
        if isinstance(entry, str):
            out.append(entry)
        else:  # {file: [keys]}, or {file: None} for all of it
            for keys in entry.values():
                out.extend(keys if keys else [EVERY_KEY])
    return out


def _code_deps(stage: dict) -> set[str]:
    deps = [d if isinstance(d, str) else next(iter(d)) for d in stage.get("deps", [])]
    return {d.rstrip("/") for d in deps if d.split("/")[0] in ("stages", *PACKAGES)}


STAGES = _stages()


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_lists_exactly_the_code_it_runs(name):
    stage = STAGES[name]
    scripts = re.findall(r"stages/\w+\.py", stage["cmd"])
    assert scripts, f"{name}: no stages/<script>.py in its cmd"
    required = set().union(*(required_deps(s, _params(stage)) for s in scripts))
    listed = _code_deps(stage)
    missing, extra = sorted(required - listed), sorted(listed - required)
    assert not missing and not extra, f"{name}: dvc.yaml deps miss {missing} and list unused {extra}"


@pytest.mark.parametrize("name", sorted(STAGES))
def test_every_stage_runs_all_of_core(name):
    """Listing ticketleak/core as one folder reruns a stage on an edit to any of its modules: right
    only while the stage imports them all. A module some stage does not need belongs outside."""
    core = {p.relative_to(ROOT).as_posix() for p in (ROOT / CORE).glob("*.py")}
    for script in re.findall(r"stages/\w+\.py", STAGES[name]["cmd"]):
        used = {p.relative_to(ROOT).as_posix() for p in code_closure(ROOT / script)}
        assert core <= used, f"{name} does not import {sorted(core - used)}: move it out of {CORE}"


def test_the_package_init_stays_empty():
    assert (ROOT / "ticketleak/__init__.py").read_text().strip() == ""


def test_a_missed_import_is_caught(tmp_path):
    """The check itself: a module that starts importing another adds it to the requirement."""
    pkg = tmp_path / "ticketleak"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from ticketleak import b\n")
    (pkg / "b.py").write_text("from ticketleak.c import g\n")
    (pkg / "c.py").write_text("g = 1\n")
    (pkg / "d.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ticketleak import c\n")
    (tmp_path / "stages").mkdir()
    (tmp_path / "stages/s.py").write_text("from ticketleak import a, d\n")
    assert required_deps("stages/s.py", [], tmp_path) == {
        "stages/s.py", "ticketleak/a.py", "ticketleak/b.py", "ticketleak/c.py", "ticketleak/d.py"}
    (tmp_path / "stages/s.py").write_text("from ticketleak import d\n")
    assert required_deps("stages/s.py", [], tmp_path) == {"stages/s.py", "ticketleak/d.py"}


def test_bytecode_caches_do_not_rerun_stages(tmp_path):
    """Code dependencies are folders, and importing them writes __pycache__ inside unless
    PYTHONDONTWRITEBYTECODE is set: the project's .dvcignore keeps those files out of the hash."""
    dvc = Path(sys.executable).parent / "dvc"
    if not dvc.exists():
        pytest.skip("dvc is not installed beside this interpreter")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}

    def run(*cmd: str) -> str:
        return subprocess.run(cmd, cwd=tmp_path, env=env, check=True, capture_output=True, text=True).stdout

    run("git", "init", "-q")
    run(str(dvc), "init", "-q")
    shutil.copy(ROOT / ".dvcignore", tmp_path / ".dvcignore")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg/m.py").write_text("X = 1\n")
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n  s:\n    cmd: python -c \"open('out.txt', 'w').write('1')\"\n"
        "    deps: [pkg]\n    outs: [out.txt]\n")
    run(str(dvc), "repro", "-q")
    (tmp_path / "pkg/__pycache__").mkdir()
    (tmp_path / "pkg/__pycache__/m.cpython-311.pyc").write_bytes(b"\x00bytecode")
    assert json.loads(run(str(dvc), "status", "--json")) == {}
    (tmp_path / "pkg/m.py").write_text("X = 2\n")  # the check itself: a real edit is still seen
    assert "s" in json.loads(run(str(dvc), "status", "--json"))
