"""Data a study reads from outside the repository, brought in the DVC way.

A preset's ``imports`` maps a path under ``data/external/`` to where the data lives outside the
repository (the CIFAR-10 JPEG copy at ``../shared/data/cifar10-jpeg.zip``). Before its runs start,
``ticketleak study run`` imports each one the runs read with ``dvc import-url``: the file goes into
the DVC cache, its ``.dvc`` file records the source and its hash, and both are staged in Git. Every
copy of the repository then finds the data: a run in the workspace, ``dvc exp run --temp``, and
the experiment queue, whose temporary copies check it out from the shared cache. The experiments
commit the ``.dvc`` file; main does not carry it, so a fresh clone never needs the data.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ticketleak.datasets import DatasetError
from ticketleak.core.registry import DATASETS
from ticketleak_studies.commands import Command
from ticketleak_studies.presets import Study, StudyError, get_dotted


def needed(study: Study, commands: list[Command]) -> dict[str, str]:
    """The study's imports that these runs read (as their ``data.path``), in the preset's order."""
    paths = {value for c in commands for key, value in c.settings if key == "data.path"}
    return {target: source for target, source in study.imports.items() if target in paths}


def check_in_place(commands: list[Command], baseline: dict, root: Path) -> None:
    """Data read where it lies (a dataset module's ``check``: the published tabular files under
    ``data/raw/<name>``, a user's table) must be there before the first run starts: its absence
    is the dataset's one-line error, not a failure minutes into a run."""
    for c in commands:
        settings = dict(c.settings)
        name = settings.get("data.name", get_dotted(baseline, "data.name"))
        check = getattr(DATASETS.get(name), "check", None) if name in DATASETS.names() else None
        if check is not None:
            data_root = settings.get("data.root", get_dotted(baseline, "data.root", "data/raw"))
            path = settings.get("data.path", get_dotted(baseline, "data.path"))
            try:
                check(root / data_root, None if path is None else str(root / path))
            except DatasetError as exc:
                raise StudyError(f"run {c.exp}: {exc}") from None


def source_path(root: Path, source: str) -> Path:
    """Where ``source`` is: relative to the repository root, or absolute."""
    path = Path(source)
    return path if path.is_absolute() else (root / path).resolve()


def import_argv(root: Path, target: str, source: str, dvc: str = "dvc") -> list[str]:
    """``dvc import-url`` for one import. DVC reads a relative source from the ``.dvc`` file's
    folder, so the source is given relative to that folder: clones placed beside the same data
    share the ``.dvc`` file."""
    folder = (root / target).parent
    url = source if Path(source).is_absolute() else os.path.relpath(source_path(root, source), folder.resolve())
    return [dvc, "import-url", url, target]


def ensure(root: Path, target: str, source: str, dvc: str = "dvc", env: dict[str, str] | None = None) -> bool:
    """Import ``source`` to ``target`` unless its ``.dvc`` file exists, and stage the ``.dvc``
    file either way (the queue copies only what Git tracks or has staged); True when it imported.

    A missing source is a one-line error naming the path looked for, before any DVC work."""
    if (root / f"{target}.dvc").is_file():
        _stage(root, target)
        return False
    where = source_path(root, source)
    if not where.exists():
        raise StudyError(f"imports: {target} comes from {source}, which does not exist (looked for {where})")
    (root / target).parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(import_argv(root, target, source, dvc), cwd=root, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        lines = [line for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
        raise StudyError(f"dvc import-url {source} {target} failed: {lines[-1] if lines else f'exit {proc.returncode}'}")
    _stage(root, target)
    return True


def _stage(root: Path, target: str) -> None:
    staged = [f"{target}.dvc", (Path(target).parent / ".gitignore").as_posix()]
    subprocess.run(["git", "add", "--", *staged], cwd=root, check=True, capture_output=True)
