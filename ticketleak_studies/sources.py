"""Where a run's files are read: an experiment's commit, any git rev, the workspace, memory, or
the run's committed inputs.

Named experiments are found with ``dvc exp show --json -A``; a commit's git-tracked files are
read with ``git show``, its DVC-cached ones through ``dvc.api``. Experiment refs stay in the
repository that ran them (a clone has none), so ``report`` keeps every file it read from a run in
``reports/<study>[-paper]/inputs/<experiment>/`` (:func:`save_inputs`), which is committed; where
the experiment is not found, the report reads those (:class:`InputsSource`) and comes out the same.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ticketleak_studies.presets import StudyError

WORKSPACE = "workspace"


class Source:
    """Where one run's files are read: an experiment commit, another git rev, or the workspace."""

    label: str = ""

    def read_bytes(self, path: str) -> bytes | None:
        """A git-tracked file (results, metrics, plots, params.yaml), or None when absent."""
        raise NotImplementedError

    def read_cached(self, path: str) -> bytes | None:
        """A file inside a DVC-cached output (e.g. posteriors), or None when not available."""
        return self.read_bytes(path)

    def read_json(self, path: str) -> Any:
        data = self.read_bytes(path)
        if data is None:
            return None
        try:
            return json.loads(data)
        except ValueError:
            raise StudyError(f"{self.label}: {path} is not valid JSON") from None

    def read_yaml(self, path: str) -> Any:
        data = self.read_bytes(path)
        return None if data is None else yaml.safe_load(data)


class DiskSource(Source):
    """The workspace: files as they are on disk (e.g. right after ``dvc repro``)."""

    def __init__(self, root: Path = Path(".")) -> None:
        self.root = Path(root)
        self.label = WORKSPACE

    def read_bytes(self, path: str) -> bytes | None:
        p = self.root / path
        return p.read_bytes() if p.is_file() else None


class GitSource(Source):
    """A commit (an experiment's or any rev): git-tracked files via ``git show``; DVC-cached
    files through ``dvc.api.open`` at that rev (works while the local cache holds them)."""

    def __init__(self, root: Path, rev: str, label: str | None = None) -> None:
        self.root, self.rev = Path(root), rev
        self.label = label or rev

    def read_bytes(self, path: str) -> bytes | None:
        proc = subprocess.run(["git", "show", f"{self.rev}:{path}"], cwd=self.root, capture_output=True)
        return proc.stdout if proc.returncode == 0 else None

    def read_cached(self, path: str) -> bytes | None:
        try:
            import dvc.api

            with dvc.api.open(path, repo=str(self.root), rev=self.rev, mode="rb") as f:
                return f.read()
        except Exception:  # not in the cache, not tracked, or DVC missing: the table says so
            return None


class MemorySource(Source):
    """Files held in memory (tests and tools): path -> bytes, text, or a JSON-able object."""

    def __init__(self, files: Mapping[str, Any], label: str = "memory") -> None:
        self.files, self.label = dict(files), label

    def read_bytes(self, path: str) -> bytes | None:
        if path not in self.files:
            return None
        value = self.files[path]
        if isinstance(value, bytes):
            return value
        if isinstance(value, str):
            return value.encode()
        return json.dumps(value).encode()


class RecordingSource(Source):
    """Another source, keeping every file read through it (path -> bytes) for :func:`save_inputs`."""

    def __init__(self, inner: Source) -> None:
        self.inner, self.label = inner, inner.label
        self.files: dict[str, bytes] = {}

    def read_bytes(self, path: str) -> bytes | None:
        return self._keep(path, self.inner.read_bytes(path))

    def read_cached(self, path: str) -> bytes | None:
        return self._keep(path, self.inner.read_cached(path))

    def _keep(self, path: str, data: bytes | None) -> bytes | None:
        if data is not None:
            self.files[path] = data
        return data


INPUTS = "inputs"
LABEL_FILE = "source.txt"


class InputsSource(DiskSource):
    """A run's committed inputs (:func:`save_inputs`): the files its report read, under the label
    of where they were first read from."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder / "files")
        self.label = (folder / LABEL_FILE).read_text().strip()


def inputs_dir(report_dir: Path, exp: str) -> Path:
    """Where the inputs of experiment ``exp`` are kept, in the study's report folder."""
    return report_dir / INPUTS / exp


def save_inputs(report_dir: Path, exp: str, source: RecordingSource) -> None:
    """Replace the committed inputs of ``exp`` with the files ``source`` has read."""
    import shutil

    folder = inputs_dir(report_dir, exp)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    for path, data in sorted(source.files.items()):
        target = tmp / "files" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / LABEL_FILE).write_text(source.label + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


@dataclass(frozen=True)
class ExpRef:
    """A named experiment found by ``dvc exp show --json``."""

    name: str
    rev: str
    timestamp: str
    baseline: str


def parse_exp_show(text: str) -> dict[str, ExpRef]:
    """Name -> experiment from ``dvc exp show --json`` output (DVC 3: a list of baseline commits,
    each with ``experiments: [{name, executor, revs: [{rev, name, data: {timestamp, ...}, error}]}]``).

    Queued, running and failed experiments are skipped (one the queue ran to the end keeps its
    executor, in state "success", and counts); when a name exists on several baselines
    (``-A``), the newest one wins."""
    try:
        data = json.loads(text)
    except ValueError:
        raise StudyError("dvc exp show --json: the output is not JSON") from None
    if not isinstance(data, list):
        raise StudyError("dvc exp show --json: expected a list of commits (DVC 3 format)")
    found: dict[str, ExpRef] = {}
    for commit in data:
        baseline = str(commit.get("rev", ""))
        for exp in commit.get("experiments") or []:
            executor = exp.get("executor")
            if executor and not (isinstance(executor, dict) and executor.get("state") == "success"):
                continue  # queued, running or failed; a run the queue finished keeps its executor
            for rev in exp.get("revs") or []:
                body = rev.get("data") or {}
                name = rev.get("name") or exp.get("name")
                if rev.get("error") or not body or not name or not rev.get("rev"):
                    continue
                ref = ExpRef(name, rev["rev"], str(body.get("timestamp") or ""), baseline)
                if name not in found or ref.timestamp > found[name].timestamp:
                    found[name] = ref
    return found


def dvc_executable() -> str:
    """The ``dvc`` beside the running Python (the project's virtualenv), else ``dvc`` on PATH."""
    candidate = Path(sys.executable).parent / "dvc"
    return str(candidate) if candidate.is_file() else "dvc"


def exp_show_json(root: Path = Path(".")) -> str:
    """Run ``dvc exp show --json -A`` (experiments on every baseline commit) and return its output."""
    cmd = [dvc_executable(), "exp", "show", "--json", "-A"]
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env={**os.environ, "DVC_NO_ANALYTICS": "1"})
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise StudyError(f"dvc exp show --json failed (exit {proc.returncode}): {last}")
    return proc.stdout


def git_params(root: Path, rev: str = "HEAD") -> dict | None:
    """params.yaml as committed at ``rev``, or None outside git / without the file."""
    data = GitSource(root, rev).read_bytes("params.yaml")
    return None if data is None else (yaml.safe_load(data) or {})


def is_commit(root: Path, rev: str) -> bool:
    proc = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], cwd=root, capture_output=True)
    return proc.returncode == 0


def exp_sources(
    root: Path, refs: Mapping[str, ExpRef], overrides: Mapping[str, str] | None = None, report_dir: Path | None = None,
) -> Callable[[str, str, str], Source | None]:
    """``source_of`` for :func:`gather`: the named experiment's commit, unless ``overrides``
    (``dataset/run`` -> ``workspace``, an experiment name or a git rev) says otherwise; an
    experiment not found is read from its committed inputs in ``report_dir``, when there are some."""
    overrides = dict(overrides or {})

    def source_of(dataset: str, run: str, name: str) -> Source | None:
        ref = overrides.get(f"{dataset}/{run}", name)
        if ref == WORKSPACE:
            return DiskSource(root)
        if ref in refs:
            return GitSource(root, refs[ref].rev, f"exp {ref} ({refs[ref].rev[:7]})")
        if ref != name:
            if not is_commit(root, ref):
                raise StudyError(f"--source {dataset}/{run}={ref}: neither an experiment nor a git revision")
            return GitSource(root, ref, f"rev {ref}")
        if report_dir is not None and (inputs_dir(report_dir, name) / LABEL_FILE).is_file():
            return InputsSource(inputs_dir(report_dir, name))
        return None

    return source_of
