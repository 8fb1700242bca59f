"""Packaging: the wheel built from the repository holds every module of the library
(``ticketleak`` and all its subpackages) and of the study tool (``ticketleak_studies``), and
nothing else; the editable install (``make setup``: ``pip install --no-deps -e .``) maps both.

The build runs offline through ``setuptools.build_meta`` (no pip, no build isolation), on a copy
of the repository's code and build configuration, so no ``build/`` or egg-info lands in the
working tree. Nothing is installed.
"""

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT

PACKAGES = ("ticketleak", "ticketleak_studies")
BUILD_FILES = ("pyproject.toml", "setup.cfg", "setup.py", "MANIFEST.in")
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist", ".*")


def _copy_code(dest: Path) -> Path:
    """The build configuration and every top-level folder holding Python code (the packages, and
    tests/, stages/ ... which must stay out of the wheel), without caches or build leftovers."""
    dest.mkdir()
    for name in BUILD_FILES:
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, dest / name)
    for folder in sorted(ROOT.iterdir()):
        if folder.is_dir() and folder.name.isidentifier() and not folder.name.startswith(".") and not folder.is_symlink():
            if any(True for _ in folder.rglob("*.py")):
                shutil.copytree(folder, dest / folder.name, ignore=_SKIP)
    return dest


def _build(src: Path, out: Path, hook: str) -> Path:
    """Run a PEP 517 hook of setuptools (``build_wheel``, ``build_editable``) in ``src``."""
    out.mkdir()
    script = f"import json, sys, setuptools.build_meta as b; print(json.dumps(b.{hook}(sys.argv[1])))"
    proc = subprocess.run([sys.executable, "-c", script, str(out)], cwd=src, capture_output=True, text=True)
    assert proc.returncode == 0, f"{hook} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return out / json.loads(proc.stdout.strip().splitlines()[-1])


def _modules(src: Path) -> set[str]:
    """Every .py file of the packages in the source tree, as wheel paths."""
    return {
        p.relative_to(src).as_posix()
        for pkg in PACKAGES
        for p in (src / pkg).rglob("*.py")
        if "__pycache__" not in p.parts
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    pytest.importorskip("setuptools.build_meta", reason="setuptools is needed to build the package (make setup)")
    tmp = tmp_path_factory.mktemp("packaging")
    src = _copy_code(tmp / "src")
    return src, _build(src, tmp / "wheel", "build_wheel"), _build(src, tmp / "editable", "build_editable")


def test_wheel_holds_every_module(built: tuple[Path, Path, Path]) -> None:
    src, wheel, _ = built
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = _modules(src)
    assert len(expected) > 20 and f"{PACKAGES[0]}/__init__.py" in expected and f"{PACKAGES[1]}/__init__.py" in expected
    missing = sorted(expected - names)
    assert not missing, f"modules missing from the wheel (a package folder without __init__.py?): {', '.join(missing)}"


def test_wheel_holds_only_the_packages(built: tuple[Path, Path, Path]) -> None:
    _, wheel, _ = built
    tops = {n.split("/")[0] for n in zipfile.ZipFile(wheel).namelist() if not n.split("/")[0].endswith(".dist-info")}
    assert tops == set(PACKAGES), f"the wheel holds {sorted(tops)}; expected only {list(PACKAGES)} (not tests/, stages/ ...)"


def test_editable_install_maps_both_packages(built: tuple[Path, Path, Path]) -> None:
    src, _, editable = built
    with zipfile.ZipFile(editable) as z:
        texts = {n: z.read(n).decode() for n in z.namelist() if n.endswith((".py", ".pth"))}
    on_path = any(line.strip() == str(src) for n, text in texts.items() if n.endswith(".pth") for line in text.splitlines())
    finders = "\n".join(text for n, text in texts.items() if n.endswith(".py"))
    for pkg in PACKAGES:
        assert on_path or repr(pkg) in finders, f"the editable install (make setup) would not import {pkg}"


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The modules of ``modules`` that the file imports (anywhere in it; parent packages that
    Python imports on the way are not counted)."""
    import ast

    name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                parent = name.split(".")[: len(name.split(".")) - node.level + (path.name == "__init__.py")]
                base = ".".join(parent + ([base] if base else []))
            found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names}
    return {m for m in found if m in modules and m != name}


def _package_modules(package: str) -> dict[str, Path]:
    return {
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
        for p in (ROOT / package).rglob("*.py")
        if "__pycache__" not in p.parts
    }


def test_studies_have_no_import_circle() -> None:
    """ticketleak_studies imports the library, never the other way round, and its own modules
    form no circle (the report kinds import the shared ``document``, not ``report``)."""
    modules = _package_modules("ticketleak_studies")
    graph = {m: _imports(p, set(modules)) for m, p in modules.items()}
    assert "ticketleak_studies.report" not in set().union(*(graph[m] for m in modules if m.startswith("ticketleak_studies.sections")))
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph[m]):
            assert state.get(n) != 1, f"import circle: {' -> '.join(path[path.index(n):] + [n])}"
            if n not in state:
                visit(n, path + [n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    library = [p.relative_to(ROOT).as_posix() for p in _package_modules("ticketleak").values() if "ticketleak_studies" in p.read_text()]
    assert not library, f"the library must not import the study tool: {', '.join(library)}"
