"""Seed studies: named DVC experiments per seed paper, and the report comparing their numbers with the seed's.

A study is a YAML preset in ``studies/<name>.yaml`` (``seed000`` .. ``seed004``): the dotted
``params.yaml`` overrides common to every run (``base``), per dataset at CPU scale (``datasets``)
and at the seed's own scale (``paper``), a list of named ``runs`` with their own overrides, how
the report reads the runs (``report``) and the seed's numbers with their source (``reference``).

Three jobs live here, so that the CLI (``stages/study.py``) stays thin:

- load and check a study: every dotted key is checked against the params schema
  (``ticketleak/params.py``), and every run is resolved on a copy of ``params.yaml`` and
  validated, so a typo fails in one line before any DVC work;
- build the ``dvc exp run -n <study>-<dataset>[-paper]-<run> -S key=value ...`` commands. Each
  command sets every key that *any* run of the study sets (the study's key set), so the runs do
  not depend on their order even though ``dvc exp run`` leaves its params in the workspace;
- gather the results of the named experiments (their commit from ``dvc exp show --json``, the
  git-tracked result files of that commit through ``git show``; or the workspace's files) and
  render ``reports/<study>[-paper].md``: the study's tables with our number, the seed's number
  and the difference side by side, the settings of every run, and computed verdict lines.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import io
import json
import math
import os
import re
import shlex
import subprocess
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ticketleak import params as schema
from ticketleak import store

STUDIES_DIR = "studies"
SCALES = ("cpu", "paper")
STUDY_FIELDS = ("title", "seed", "cites", "reproduces", "cannot_match", "base", "datasets", "paper", "runs", "report", "reference")
RUN_FIELDS = ("name", "about", "set", "datasets", "paper", "scales")
REPORT_KINDS = ("lottery", "pruning", "shadow", "greybox")
WORKSPACE = "workspace"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_PLAIN = re.compile(r"[A-Za-z_./][A-Za-z0-9_./-]*")
_HYDRA_WORDS = {"null", "true", "false", "nan", "inf", "-inf"}
DATASET_CLASSES = {"digits": 10, "cifar10": 10, "cifar100": 100, "mnist": 10, "fashion_mnist": 10, "svhn": 10}


class StudyError(ValueError):
    """A bad study file, key, run or experiment: the message is one line and names the problem."""


# --------------------------------------------------------------------------------------------
# Loading and checking
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One named experiment of a study and its own overrides (``sets[scale][dataset]``)."""

    name: str
    about: str
    set: dict[str, Any]
    sets: dict[str, dict[str, dict[str, Any]]]
    scales: tuple[str, ...]


@dataclass(frozen=True)
class Study:
    """A loaded study preset (see the module docstring for the fields)."""

    name: str
    path: Path
    title: str
    seed: str
    cites: str
    reproduces: tuple[str, ...]
    cannot_match: tuple[str, ...]
    base: dict[str, Any]
    scales: dict[str, dict[str, dict[str, Any]]]  # "cpu" -> datasets, "paper" -> datasets
    runs: tuple[Run, ...]
    report: dict[str, Any]
    reference: dict[str, Any]

    def datasets(self, scale: str) -> list[str]:
        """The datasets a study runs at ``scale``."""
        return list(self.scales[scale])

    def runs_at(self, scale: str) -> list[Run]:
        """The runs that exist at ``scale`` (a run may be CPU-only, e.g. a class subset)."""
        return [r for r in self.runs if scale in r.scales]

    def run(self, name: str) -> Run:
        for r in self.runs:
            if r.name == name:
                return r
        raise StudyError(f"{self.path}: no run '{name}' (runs: {', '.join(r.name for r in self.runs)})")


def available(root: Path = Path(".")) -> list[str]:
    """The study names: the stems of ``studies/*.yaml``."""
    return sorted(p.stem for p in (root / STUDIES_DIR).glob("*.yaml"))


def load_study(name: str, root: Path = Path(".")) -> Study:
    """Read ``studies/<name>.yaml`` and check its structure (keys are checked by :func:`check_study`)."""
    path = root / STUDIES_DIR / f"{name}.yaml"
    if not _NAME.fullmatch(name) or not path.is_file():
        names = available(root)
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise StudyError(f"unknown study '{name}'{hint}; studies: {', '.join(names) or 'none'} (in {root / STUDIES_DIR})")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise StudyError(f"{path}: not valid YAML{f' at line {mark.line + 1}' if mark else ''}") from None
    return _parse_study(name, Path(STUDIES_DIR) / f"{name}.yaml", raw)


def _parse_study(name: str, path: Path, raw: Any) -> Study:
    """Build a :class:`Study` from the parsed YAML, with one-line errors naming the field."""
    if not isinstance(raw, dict):
        raise StudyError(f"{path}: expected a mapping of study fields, got {type(raw).__name__}")
    for key in raw:
        if key not in STUDY_FIELDS:
            raise StudyError(f"{path}: unknown field '{key}'{_suggest(str(key), STUDY_FIELDS)}")
    for key in STUDY_FIELDS:
        if key not in raw:
            raise StudyError(f"{path}: missing field '{key}'")
    base = _overrides(raw["base"], f"{path}: base")
    scales = {"cpu": _per_dataset(raw["datasets"], f"{path}: datasets"), "paper": _per_dataset(raw["paper"], f"{path}: paper")}
    if not isinstance(raw["runs"], list) or not raw["runs"]:
        raise StudyError(f"{path}: runs: expected a non-empty list of runs")
    runs = tuple(_parse_run(r, i, path, scales) for i, r in enumerate(raw["runs"]))
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise StudyError(f"{path}: runs: duplicate run names in {names}")
    report = raw["report"]
    if not isinstance(report, dict) or report.get("kind") not in REPORT_KINDS:
        raise StudyError(f"{path}: report.kind: expected one of {', '.join(REPORT_KINDS)}, got {report.get('kind') if isinstance(report, dict) else report!r}")
    _check_report_runs(report, names, path)
    if not isinstance(raw["reference"], dict):
        raise StudyError(f"{path}: reference: expected a mapping of the seed's numbers")
    return Study(
        name=name, path=path, title=str(raw["title"]), seed=str(raw["seed"]), cites=str(raw["cites"]),
        reproduces=tuple(map(str, raw["reproduces"] or ())), cannot_match=tuple(map(str, raw["cannot_match"] or ())),
        base=base, scales=scales, runs=runs, report=report, reference=raw["reference"],
    )


def _parse_run(raw: Any, index: int, path: Path, scales: dict[str, dict]) -> Run:
    where = f"{path}: runs[{index}]"
    if not isinstance(raw, dict) or "name" not in raw:
        raise StudyError(f"{where}: expected a mapping with a 'name'")
    for key in raw:
        if key not in RUN_FIELDS:
            raise StudyError(f"{where}: unknown field '{key}'{_suggest(str(key), RUN_FIELDS)}")
    name = str(raw["name"])
    if not _NAME.fullmatch(name) or ".." in name:
        raise StudyError(f"{where}: run name '{name}' must be letters, digits, '_', '-' or '.' (it becomes a DVC experiment name)")
    where = f"{path}: run '{name}'"
    run_scales = tuple(raw.get("scales") or SCALES)
    for s in run_scales:
        if s not in SCALES:
            raise StudyError(f"{where}: scales: unknown scale '{s}' (choose from {', '.join(SCALES)})")
    sets = {"cpu": _per_dataset(raw.get("datasets") or {}, f"{where}: datasets"), "paper": _per_dataset(raw.get("paper") or {}, f"{where}: paper")}
    for scale, per in sets.items():
        for dataset in per:
            if dataset not in scales[scale]:
                raise StudyError(f"{where}: {'datasets' if scale == 'cpu' else 'paper'}: '{dataset}' is not a dataset of the study at {scale} scale ({', '.join(scales[scale])})")
    return Run(name, str(raw.get("about", "")), _overrides(raw.get("set") or {}, f"{where}: set"), sets, run_scales)


def _overrides(raw: Any, where: str) -> dict[str, Any]:
    """A mapping of dotted params keys to values."""
    if not isinstance(raw, dict):
        raise StudyError(f"{where}: expected a mapping of dotted params keys to values, got {raw!r}")
    for key in raw:
        if not isinstance(key, str) or not all(_NAME.fullmatch(p) for p in key.split(".")):
            raise StudyError(f"{where}: '{key}' is not a dotted params key")
    return dict(raw)


def _per_dataset(raw: Any, where: str) -> dict[str, dict[str, Any]]:
    if not isinstance(raw, dict):
        raise StudyError(f"{where}: expected a mapping of dataset names to overrides")
    for name in raw:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise StudyError(f"{where}: '{name}' is not a dataset name (letters, digits, '_', '-', '.')")
    return {name: _overrides(v or {}, f"{where}.{name}") for name, v in raw.items()}


def _check_report_runs(report: dict, names: list[str], path: Path) -> None:
    """Every ``*_run`` value and every key of a ``*_runs`` mapping in ``report`` must name a run."""
    for key, value in report.items():
        wanted = [value] if key.endswith("_run") else list(value) if key.endswith("_runs") and isinstance(value, dict) else []
        for name in wanted:
            if name not in names:
                raise StudyError(f"{path}: report.{key}: '{name}' is not a run of the study ({', '.join(names)})")


def _suggest(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean '{close[0]}'?)" if close else f" (valid: {', '.join(options)})"


def check_key(key: str) -> None:
    """Raise :class:`StudyError` unless ``key`` is a dotted path of the params schema.

    Walks the dataclasses of ``ticketleak/params.py``; below a ``dict[str, ...]`` field (defense
    variants) and inside a variant any name is allowed here (the full validation judges it)."""
    tp: Any = schema.Params
    parts = key.split(".")
    for i, part in enumerate(parts):
        tp = _unwrap_optional(tp)
        if isinstance(tp, type) and issubclass(tp, schema.Section) and dataclasses.is_dataclass(tp):
            names = [f.name for f in dataclasses.fields(tp)]
            if part not in names:
                prefix = ".".join(parts[:i])
                options = [f"{prefix}.{n}" if prefix else n for n in names]
                raise StudyError(f"unknown params key '{key}'{_suggest('.'.join(parts[: i + 1]), options)}")
            tp = typing.get_type_hints(tp)[part]
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        elif tp is schema.Variant:
            return
        else:
            raise StudyError(f"params key '{key}': '{'.'.join(parts[:i])}' is a value, not a section")


def _unwrap_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return inner[0] if len(inner) == 1 else tp
    return tp


def set_dotted(raw: dict, key: str, value: Any) -> None:
    """Set ``raw[a][b][c] = value`` for ``key`` ``a.b.c``, creating missing mappings."""
    node = raw
    parts = key.split(".")
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise StudyError(f"params key '{key}': '{'.'.join(parts[: i + 1])}' holds a value, not a mapping")
        node = child
    node[parts[-1]] = copy.deepcopy(value)


def get_dotted(raw: Mapping, key: str, default: Any = None) -> Any:
    """``raw[a][b][c]`` for ``a.b.c``, or ``default`` when any part is missing."""
    node: Any = raw
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node


def has_dotted(raw: Mapping, key: str) -> bool:
    sentinel = object()
    return get_dotted(raw, key, sentinel) is not sentinel


def overrides_for(study: Study, scale: str, dataset: str, run: Run) -> dict[str, Any]:
    """The merged overrides of one run: base, then the dataset at this scale, then the run's own."""
    if scale not in SCALES:
        raise StudyError(f"unknown scale '{scale}' (choose from {', '.join(SCALES)})")
    if dataset not in study.scales[scale]:
        raise StudyError(f"{study.path}: no dataset '{dataset}' at {scale} scale (choose from {', '.join(study.scales[scale])})")
    if scale not in run.scales:
        raise StudyError(f"{study.path}: run '{run.name}' does not exist at {scale} scale")
    merged: dict[str, Any] = {}
    for layer in (study.base, study.scales[scale][dataset], run.set, run.sets[scale].get(dataset, {})):
        merged.update(layer)
    return merged


def study_keys(study: Study) -> list[str]:
    """Every key any run of the study sets, at any scale and dataset, in order of first appearance.

    Each command sets all of them (the run's value, else the clean baseline's), so a run never
    inherits a value that an earlier experiment left in the workspace's params.yaml."""
    keys: dict[str, None] = dict.fromkeys(study.base)
    for per in study.scales.values():
        for layer in per.values():
            keys.update(dict.fromkeys(layer))
    for run in study.runs:
        keys.update(dict.fromkeys(run.set))
        for per in run.sets.values():
            for layer in per.values():
                keys.update(dict.fromkeys(layer))
    return list(keys)


def resolve(study: Study, scale: str, dataset: str, run: Run, baseline: dict) -> dict:
    """The full params of one run: a copy of ``baseline`` with the run's overrides, validated."""
    where = f"{study.path}: run '{run.name}' on {dataset} ({scale} scale)"
    merged = overrides_for(study, scale, dataset, run)
    raw = copy.deepcopy(baseline)
    for key, value in merged.items():
        try:
            check_key(key)
            set_dotted(raw, key, value)
        except StudyError as exc:
            raise StudyError(f"{where}: {exc}") from None
    try:
        schema.validate(raw)
    except schema.ParamsError as exc:
        raise StudyError(f"{where}: {str(exc).removeprefix('params.yaml: ')}") from None
    return raw


def check_study(study: Study, baseline: dict, scales: Iterable[str] = SCALES) -> None:
    """Resolve and validate every run on every dataset of ``scales`` (raises StudyError)."""
    for scale in scales:
        for dataset in study.datasets(scale):
            for run in study.runs_at(scale):
                resolve(study, scale, dataset, run, baseline)


def clean_baseline(workspace: dict, head: dict | None, keys: Iterable[str]) -> dict:
    """The workspace params with each study key put back to its committed (HEAD) value, where
    HEAD has it: the values a run falls back to for the keys it does not set."""
    base = copy.deepcopy(workspace)
    if head is None:
        return base
    for key in keys:
        if has_dotted(head, key):
            set_dotted(base, key, get_dotted(head, key))
    return base


def flatten(raw: Mapping, prefix: str = "") -> dict[str, Any]:
    """Dotted leaves of a nested mapping (lists and empty mappings are leaves)."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, dotted))
        else:
            out[dotted] = value
    return out


def stray_keys(workspace: dict, head: dict, keys: Iterable[str]) -> list[str]:
    """Params outside the study's keys where the workspace differs from HEAD: values an earlier
    experiment (or an edit) left behind, which the study's runs would silently inherit."""
    keys = list(keys)
    w, h = flatten(workspace), flatten(head)
    missing = object()

    def covered(k: str) -> bool:
        return any(k == u or k.startswith(u + ".") for u in keys)

    return sorted(k for k in set(w) | set(h) if not covered(k) and w.get(k, missing) != h.get(k, missing))


# --------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------


def exp_name(study: Study, scale: str, dataset: str, run: str) -> str:
    """``<study>-<dataset>-<run>`` at CPU scale, ``<study>-<dataset>-paper-<run>`` at paper scale."""
    return f"{study.name}-{dataset}-{run}" if scale == "cpu" else f"{study.name}-{dataset}-paper-{run}"


def hydra_value(value: Any) -> str:
    """Render a params value as DVC's ``-S`` (Hydra override) syntax: ``[0.5,0.8]``, ``null``,
    ``{kind:l2,lam:0.1}``; floats positional (``0.00001``, not ``1e-05``, which YAML would read
    back as a string); strings quoted unless plain."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise StudyError(f"cannot pass the non-finite value {value} with -S")
        return np.format_float_positional(value, trim="0")
    if isinstance(value, str):
        plain = _PLAIN.fullmatch(value) and value.lower() not in _HYDRA_WORDS and not _is_number(value)
        return value if plain else json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{hydra_value(v)}" for k, v in value.items()) + "}"
    raise StudyError(f"cannot pass a {type(value).__name__} value with -S: {value!r}")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Command:
    """One ``dvc exp run`` of a study: the experiment name and every ``-S`` it passes."""

    study: str
    scale: str
    dataset: str
    run: str
    exp: str
    settings: tuple[tuple[str, Any], ...]
    new_keys: frozenset[str] = frozenset()  # absent from the workspace params: passed as ++key

    def argv(self, dvc: str = "dvc", force: bool = False) -> list[str]:
        out = [dvc, "exp", "run", "-n", self.exp] + (["-f"] if force else [])
        for key, value in self.settings:
            out += ["-S", f"{'++' if key in self.new_keys else ''}{key}={hydra_value(value)}"]
        return out

    def shell(self, force: bool = False) -> str:
        """The command as one shell line (``-S 'prune.sparsities=[0.5,0.8]'``)."""
        return shlex.join(self.argv(force=force))


def build_commands(study: Study, scale: str, dataset: str, baseline: dict, only: Iterable[str] | None = None) -> list[Command]:
    """The runs' ``dvc exp run`` commands on one dataset, each setting the whole study key set.

    ``baseline`` is the clean params (:func:`clean_baseline`); every run is validated first."""
    keys = study_keys(study)
    wanted = list(only) if only else None
    runs = study.runs_at(scale)
    if wanted:
        for name in wanted:
            if name not in [r.name for r in runs]:
                raise StudyError(f"{study.path}: no run '{name}' at {scale} scale (runs: {', '.join(r.name for r in runs)})")
        runs = [r for r in runs if r.name in wanted]
    commands = []
    for run in runs:
        resolved = resolve(study, scale, dataset, run, baseline)
        settings = tuple((k, get_dotted(resolved, k)) for k in keys if has_dotted(resolved, k))
        new = frozenset(k for k, _ in settings if not has_dotted(baseline, k))
        commands.append(Command(study.name, scale, dataset, run.name, exp_name(study, scale, dataset, run.name), settings, new))
    return commands


# --------------------------------------------------------------------------------------------
# Gathering: where each run's files come from
# --------------------------------------------------------------------------------------------


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

    Queued, running and failed experiments are skipped; when a name exists on several baselines
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
            if exp.get("executor"):
                continue
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
    import sys

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


# --------------------------------------------------------------------------------------------
# One run's results
# --------------------------------------------------------------------------------------------


@dataclass
class RunData:
    """The files of one run of a study (one dataset), read lazily from its source."""

    dataset: str
    run: str
    exp: str
    source: Source
    wall_s: float | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    def _json(self, path: str) -> Any:
        if path not in self._cache:
            self._cache[path] = self.source.read_json(path)
        return self._cache[path]

    @property
    def params(self) -> dict:
        if "params.yaml" not in self._cache:
            self._cache["params.yaml"] = self.source.read_yaml("params.yaml") or {}
        return self._cache["params.yaml"]

    def p(self, key: str, default: Any = None) -> Any:
        """A params value of this run (dotted key)."""
        return get_dotted(self.params, key, default)

    def result(self, defense: str, level: str) -> dict | None:
        return self._json(f"results/{defense}/{level}.json")

    def greybox(self, defense: str) -> dict | None:
        return self._json(f"results/{defense}/greybox.json")

    def transfer(self) -> dict | None:
        return self._json("results/none/transfer.json")

    def samia(self, defense: str, level: str) -> dict | None:
        record = self._json(f"results/{defense}/{level}-samia.json")
        return None if not record or record.get("skipped") else record.get("samia")

    def attack(self, defense: str, level: str, attack: str, release: str = "none") -> dict | None:
        r = self.result(defense, level)
        return (r or {}).get("attacks", {}).get(release, {}).get(attack)

    def target(self, defense: str, level: str) -> dict | None:
        r = self.result(defense, level)
        return None if r is None else r.get("target")

    def curve(self, defense: str, level: str) -> dict[int, dict]:
        """The shadow-count curve: k -> attack -> {accuracy, auc, precision, recall}."""
        r = self.result(defense, level) or {}
        return {int(k): v for k, v in (r.get("shadow_curve") or {}).items()}

    @property
    def eval_n(self) -> int:
        """Evaluation samples of the target: its members and as many non-members."""
        return 2 * int(self.p("data.target_size", 0) or 0)

    @property
    def num_classes(self) -> int | None:
        classes = self.p("data.classes")
        if classes:
            return len(classes)
        name = self.p("data.name")
        return DATASET_CLASSES.get(name if name != "imagefolder" else self.dataset)

    def levels(self) -> list[str]:
        """Dense, then every ``<method>-<sparsity>`` of this run's params."""
        methods, sparsities = self.p("prune.methods", []) or [], sorted(self.p("prune.sparsities", []) or [])
        return [store.DENSE] + [store.level_name(m, s) for m in methods for s in sparsities]

    def gaps(self, defense: str, level: str) -> dict | None:
        """Seed 002, Fig. 1: mean confidence and sensitivity of the true class, members vs
        non-members, from the target's posteriors (a DVC-cached output; None when unavailable)."""
        key = f"gaps/{defense}/{level}"
        if key not in self._cache:
            data = self.source.read_cached(f"posteriors/{defense}/{level}/target.npz")
            self._cache[key] = None if data is None else posterior_gaps(np.load(io.BytesIO(data)))
        return self._cache[key]


def posterior_gaps(arrays: Mapping[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Mean true-class confidence and sensitivity of members and non-members, their gap and the
    gap's standard error (``logits``, ``labels``, ``member``, ``sens`` as the posteriors stage writes)."""
    from ticketleak.defenses import softmax

    labels, member = np.asarray(arrays["labels"]), np.asarray(arrays["member"], dtype=bool)
    rows = np.arange(len(labels))
    out = {}
    signals = {"confidence": softmax(np.asarray(arrays["logits"], dtype=np.float64))[rows, labels]}
    if "sens" in arrays:
        signals["sensitivity"] = np.asarray(arrays["sens"], dtype=np.float64)[rows, labels]
    for name, values in signals.items():
        m, n = values[member], values[~member]
        out[name] = {
            "members": float(m.mean()), "nonmembers": float(n.mean()), "gap": float(m.mean() - n.mean()),
            "gap_sd": float(math.sqrt(m.var(ddof=1) / len(m) + n.var(ddof=1) / len(n))) if len(m) > 1 and len(n) > 1 else 0.0,
        }
    return out


@dataclass
class Gathered:
    """Every run of a study at one scale, per dataset: RunData, or None when not found."""

    study: Study
    scale: str
    runs: dict[tuple[str, str], RunData | None]

    def get(self, dataset: str, run: str | None) -> RunData | None:
        return self.runs.get((dataset, run)) if run else None

    def datasets(self) -> list[str]:
        return list(dict.fromkeys(d for d, _ in self.runs))

    def present(self, dataset: str | None = None) -> list[RunData]:
        return [r for (d, _), r in self.runs.items() if r is not None and (dataset is None or d == dataset)]

    def missing(self) -> list[str]:
        return [exp_name(self.study, self.scale, d, r) for (d, r), v in self.runs.items() if v is None]


def gather(
    study: Study, scale: str, datasets: Iterable[str], source_of: Callable[[str, str, str], Source | None],
    wall_times: Mapping[str, float] | None = None,
) -> Gathered:
    """Collect every run of ``study`` at ``scale`` on ``datasets``; ``source_of(dataset, run,
    exp_name)`` says where its files are (None: not run yet)."""
    runs: dict[tuple[str, str], RunData | None] = {}
    for dataset in datasets:
        if dataset not in study.scales[scale]:
            raise StudyError(f"{study.path}: no dataset '{dataset}' at {scale} scale (choose from {', '.join(study.scales[scale])})")
        for run in study.runs_at(scale):
            name = exp_name(study, scale, dataset, run.name)
            src = source_of(dataset, run.name, name)
            runs[(dataset, run.name)] = None if src is None else RunData(dataset, run.name, name, src, (wall_times or {}).get(name))
    return Gathered(study, scale, runs)


def exp_sources(
    root: Path, refs: Mapping[str, ExpRef], overrides: Mapping[str, str] | None = None,
) -> Callable[[str, str, str], Source | None]:
    """``source_of`` for :func:`gather`: the named experiment's commit, unless ``overrides``
    (``dataset/run`` -> ``workspace``, an experiment name or a git rev) says otherwise."""
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
        return None

    return source_of


# --------------------------------------------------------------------------------------------
# Numbers, differences, verdicts
# --------------------------------------------------------------------------------------------

Ref = float | list[float] | tuple[float, float] | None


def fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def fmt_sd(x: float | None, sd: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.3f} ({sd:.3f})" if sd is not None else f"{x:.3f}"


def fmt_ref(ref: Ref) -> str:
    if ref is None:
        return "-"
    if isinstance(ref, (list, tuple)):
        return f"{ref[0]:.3f}-{ref[1]:.3f}"
    return f"{ref:.3f}" if isinstance(ref, (int, float)) else str(ref)


def diff(ours: float | None, ref: Ref) -> float | None:
    """Ours minus the seed's number; against a range, the distance outside it (0 inside)."""
    if ours is None or ref is None:
        return None
    if isinstance(ref, (list, tuple)):
        lo, hi = min(ref), max(ref)
        return 0.0 if lo <= ours <= hi else ours - (lo if ours < lo else hi)
    return ours - float(ref)


def fmt_diff(d: float | None) -> str:
    return "-" if d is None else f"{d:+.3f}"


def binomial_sd(acc: float | None, n: int) -> float | None:
    """Standard deviation of a balanced accuracy measured on ``n`` evaluation samples."""
    if acc is None or n <= 0:
        return None
    return math.sqrt(max(acc * (1 - acc), 0.0) / n)


def metric_sd(metrics: Mapping, key: str, n: int) -> float | None:
    """The spread of an attack metric: bootstrap sd for AUC, binomial sd otherwise (n from the
    confusion counts when recorded)."""
    if key == "auc":
        return metrics.get("auc_std")
    confusion = metrics.get("confusion")
    if isinstance(confusion, Mapping) and all(k in confusion for k in ("tp", "fp", "fn", "tn")):
        n = int(round(sum(float(confusion[k]) for k in ("tp", "fp", "fn", "tn"))))
    return binomial_sd(metrics.get(key), n)


EXPECTS = ("higher", "lower", "equal")


def judge(a: float | None, b: float | None, sd_a: float | None, sd_b: float | None, expect: str) -> tuple[str, float | None, float]:
    """Compare ``a`` with ``b`` against 2 sd of their difference.

    ``expect``: the seed's claim about ``a`` relative to ``b`` (``higher``, ``lower``, ``equal``).
    Returns (verdict word, difference a - b, 2 sd). A difference inside 2 sd is no evidence of a
    direction: it agrees with ``equal`` and is "inside the spread" for a direction."""
    if expect not in EXPECTS:
        raise ValueError(f"expect must be one of {EXPECTS}, got {expect!r}")
    if a is None or b is None:
        return "not measured", None, 0.0
    d = a - b
    spread = 2 * math.hypot(sd_a or 0.0, sd_b or 0.0)
    inside = abs(d) <= spread
    if expect == "equal":
        return ("agrees" if inside else "disagrees"), d, spread
    if inside:
        return "inside the spread (no evidence either way)", d, spread
    sign_ok = d > 0 if expect == "higher" else d < 0
    return ("agrees" if sign_ok else "disagrees"), d, spread


def verdict_line(claim: str, source: str, ours: str, a: float | None, b: float | None, sd_a: float | None, sd_b: float | None, expect: str) -> str:
    """One computed verdict: the claim, our two numbers, their difference against 2 sd, the word."""
    word, d, spread = judge(a, b, sd_a, sd_b, expect)
    if d is None:
        return f"- {claim} ({source}): {ours}: not measured"
    return f"- {claim} ({source}): {ours}, difference {d:+.3f}, 2 sd = {spread:.3f} -> **{word}**"


def tally_line(claim: str, source: str, words: list[str], expect_word: str = "agrees") -> str:
    """A verdict over several comparisons: how many agree, sit inside the spread, or disagree."""
    agree = sum(w == expect_word for w in words)
    against = sum(w == "disagrees" for w in words)
    inside = len(words) - agree - against
    if not words:
        return f"- {claim} ({source}): not measured"
    word = "agrees" if agree > len(words) / 2 else "disagrees" if against > len(words) / 2 else "mixed or inside the spread"
    return f"- {claim} ({source}): {agree} of {len(words)} comparisons agree, {inside} inside the spread, {against} disagree -> **{word}**"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table."""
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "not recorded"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def settings_line(r: RunData) -> str:
    """Our setting of one run, from its own params.yaml: dataset, model, sizes, recipe, spread."""
    name = r.p("data.name")
    data = f"{name} ({r.p('data.path')})" if name == "imagefolder" else str(name)
    classes = r.p("data.classes")
    ids = r.p("shadow.ids", []) or []
    boot = r.p("attack.bootstrap")
    parts = [
        f"{data}{f', classes {classes}' if classes else ''}",
        f"{r.p('model.arch')}",
        f"target {r.p('data.target_size')} members / {r.p('data.target_size')} non-members, validation {r.p('data.val_size')}",
        f"{len(ids)} shadow{'s' if len(ids) != 1 else ''} of {r.p('data.shadow_size')} / {r.p('data.shadow_size')}",
        f"{r.p('train.epochs')} epochs ({r.p('train.optimizer')} lr {r.p('train.lr')}, batch {r.p('train.batch_size')}, {r.p('train.schedule')}{', augmented' if r.p('train.augment') else ''})",
        f"defenses {', '.join(r.p('defense.train', []) or [])}",
        "1 training seed; spread: accuracy sd binomial over the evaluation set"
        + (f", AUC sd over {boot} bootstrap resamples" if boot else "")
        + f", grey-box sd over {r.p('attack.greybox.repeats')} leak draws",
        f"wall time {duration(r.wall_s)}",
    ]
    return f"- `{r.run}` ({r.source.label}): " + "; ".join(parts)


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------


@dataclass
class Report:
    """Rendering state: the gathered runs, and the figures the Markdown links to (copied by
    :func:`write_report` from each run's source)."""

    gathered: Gathered
    figure_dir: str  # relative to the report file
    figures: list[tuple[Source, str, str]] = field(default_factory=list)  # (source, path in run, file name)

    @property
    def study(self) -> Study:
        return self.gathered.study

    @property
    def opts(self) -> dict:
        return self.study.report

    def ref(self, *keys: str) -> Any:
        node: Any = self.study.reference
        for k in keys:
            if not isinstance(node, Mapping):
                return None
            node = node.get(k, node.get(int(k)) if isinstance(k, str) and k.isdigit() else None)
        return node

    def source(self, table_key: str) -> str:
        return str(self.ref(table_key, "source") or "seed")

    def seed_setting(self, table_key: str) -> list[str]:
        setting = self.ref(table_key, "setting")
        return [f"Seed's setting ({self.source(table_key)}): {setting}.", ""] if setting else []

    def figure(self, r: RunData, name: str) -> str:
        """Register a figure of run ``r`` (``plots/<name>``) and return its Markdown link."""
        file = f"{r.dataset}-{r.run}-{name}"
        self.figures.append((r.source, f"plots/{name}", file))
        return f"[{r.run}: {name}]({self.figure_dir}/{file})"


def render_report(gathered: Gathered, figure_dir: str = "figures", seed_link: str | None = None) -> tuple[str, list[tuple[Source, str, str]]]:
    """The Markdown report of a gathered study and the figures it links to."""
    rep = Report(gathered, figure_dir)
    study = gathered.study
    scale_word = "CPU scale" if gathered.scale == "cpu" else "the seed's (paper) scale"
    lines = [
        f"# {study.name}: {study.title} ({scale_word})",
        "",
        f"Generated by `python stages/study.py report {study.name}{' --scale paper' if gathered.scale == 'paper' else ''}` "
        f"from the study preset `{study.path}` and the named DVC experiments below; do not edit by hand.",
        "",
        f"Seed: [{study.seed}]({seed_link or study.seed}). {study.cites}",
        "",
        "Reproduces:",
        *[f"- {x}" for x in study.reproduces],
        "",
        "Where our setting cannot match the seed's:",
        *[f"- {x}" for x in study.cannot_match],
        "",
        "How to read the tables: `ours` is our number, `seed` the seed's reported number and `diff` ours minus",
        "the seed's (against a range: the distance outside it, 0 inside). Accuracy is balanced accuracy on the",
        "target's members and as many non-members; its sd is binomial over that evaluation set, AUC's sd is the",
        "bootstrap's. A verdict compares two of our numbers against 2 sd of their difference: inside it is no",
        "evidence of a direction. A mean over several cells (sparsities, shadow counts, leaked fractions) keeps one",
        "cell's sd, since the cells share their evaluation samples; grey-box sds are over the leak draws.",
        "The settings differ from the seed's (see each run's settings line), so",
        "`diff` is context, not a test; the verdicts judge the seed's claims on our own runs.",
        "",
        "## Runs",
        "",
    ]
    rows = []
    for (dataset, run), data in gathered.runs.items():
        about = study.run(run).about
        name = exp_name(study, gathered.scale, dataset, run)
        rows.append([dataset, f"`{run}`", f"`{name}`", data.source.label if data else "not found", duration(data.wall_s) if data else "-", about])
    lines += table(["dataset", "run", "experiment", "read from", "wall time", "what it is for"], rows)
    missing = gathered.missing()
    if missing:
        lines += ["", f"Not found (not run yet, or run under another name): {', '.join(f'`{m}`' for m in missing)}. "
                  f"Run them with `python stages/study.py run {study.name} --dataset <dataset>{' --scale paper' if gathered.scale == 'paper' else ''}`."]
    builder = _BUILDERS[study.report["kind"]]
    for dataset in gathered.datasets():
        present = gathered.present(dataset)
        lines += ["", f"## {dataset}", ""]
        if not present:
            lines += ["No run of this dataset was found."]
            continue
        lines += ["Our settings:", "", *[settings_line(r) for r in present], ""]
        lines += builder.dataset(rep, dataset)
        figs = [rep.figure(r, name) for r in present for name in study.report.get("figures", [])]
        if figs:
            lines += ["", "Figures (from each run's `plots/`): " + ", ".join(figs)]
    across = builder.across(rep)
    if across:
        lines += ["", "## Across datasets and runs", "", *across]
    return "\n".join(lines).rstrip() + "\n", rep.figures


@dataclass(frozen=True)
class _Builder:
    dataset: Callable[[Report, str], list[str]]
    across: Callable[[Report], list[str]]


def _nothing(rep: Report) -> list[str]:
    return []


# ---- seed 000: lottery tickets --------------------------------------------------------------


def _lottery_dataset(rep: Report, dataset: str) -> list[str]:
    g, o = rep.gathered, rep.opts
    base, arch2 = g.get(dataset, o.get("base_run")), g.get(dataset, o.get("arch_run"))
    attack = o.get("attack", "shokri_sorted")
    lines: list[str] = []
    if base is not None:
        lines += _lottery_table1(rep, base, attack)
        lines += _lottery_classifiers(rep, base)
    pair = [r for r in (base, arch2) if r is not None]
    if pair:
        lines += _lottery_sparsity(rep, pair, attack)
        lines += _lottery_samples(rep, pair, attack)
    if base is not None:
        lines += _lottery_transfer(rep, base)
    return lines


def _ticket_level(rep: Report) -> str:
    return store.level_name("lth_oneshot", float(rep.opts.get("ticket_sparsity", 0.8)))


def _lottery_table1(rep: Report, r: RunData, attack: str) -> list[str]:
    row_name = rep.opts.get("reference_row", {}).get(r.dataset)
    ref = rep.ref("table1", "rows", row_name) if row_name else None
    ticket = _ticket_level(rep)
    lines = [f"### Table 1: attack accuracy and precision, dense vs lottery ticket ({attack}, ticket = {ticket})", ""]
    lines += rep.seed_setting("table1")
    rows, got = [], {}
    for i, (label, level) in enumerate((("baseline (dense)", store.DENSE), (f"lottery ticket ({ticket})", ticket))):
        m = r.attack("none", level, attack)
        got[level] = m
        acc, prec = (m or {}).get("accuracy"), (m or {}).get("precision")
        ref_acc = ref["accuracy"][i] if ref else None
        ref_prec = ref["precision"][i] if ref else None
        rows.append([label, fmt_sd(acc, metric_sd(m, "accuracy", r.eval_n) if m else None), fmt(ref_acc), fmt_diff(diff(acc, ref_acc)),
                     fmt(prec), fmt(ref_prec), fmt_diff(diff(prec, ref_prec)), fmt_sd((m or {}).get("auc"), (m or {}).get("auc_std"))])
    lines += table(["model", "attack acc ours (sd)", f"seed ({row_name or '-'})", "diff", "precision ours", "seed", "diff", "AUC ours (sd)"], rows)
    d, t = got[store.DENSE], got[ticket]
    a, b = (d or {}).get("accuracy"), (t or {}).get("accuracy")
    lines += ["", verdict_line("lottery tickets are as vulnerable as the dense network", rep.source("table1"),
                               f"ours ticket {fmt(b)} vs dense {fmt(a)}", b, a,
                               metric_sd(t, "accuracy", r.eval_n) if t else None, metric_sd(d, "accuracy", r.eval_n) if d else None, "equal"), ""]
    return lines


def _lottery_classifiers(rep: Report, r: RunData) -> list[str]:
    classifiers = rep.opts.get("classifiers", {})
    if not classifiers:
        return []
    ticket = _ticket_level(rep)
    lines = [f"### Sec. 3.2.2: attack classifiers (dense and ticket {ticket})", ""] + rep.seed_setting("classifiers")
    rows, dense = [], {}
    for short, name in classifiers.items():
        m_d, m_t = r.attack("none", store.DENSE, name), r.attack("none", ticket, name)
        ref = rep.ref("classifiers", "accuracy", short)
        dense[short] = m_d
        acc_d = (m_d or {}).get("accuracy")
        rows.append([f"{short} (`{name}`)", fmt(acc_d), fmt((m_t or {}).get("accuracy")), fmt(ref), fmt_diff(diff(acc_d, ref))])
    lines += table(["classifier", "dense acc ours", "ticket acc ours", "seed", "diff (dense)"], rows)
    others = {k: v for k, v in dense.items() if k != "mlp" and v}
    if dense.get("mlp") and others:
        best = max(others, key=lambda k: others[k]["accuracy"])
        m, b = dense["mlp"], others[best]
        lines += ["", verdict_line("the MLP attack beats the SVM and random-forest attacks", rep.source("classifiers"),
                                   f"ours dense MLP {fmt(m['accuracy'])} vs best other ({best}) {fmt(b['accuracy'])}",
                                   m["accuracy"], b["accuracy"], metric_sd(m, "accuracy", r.eval_n), metric_sd(b, "accuracy", r.eval_n), "higher")]
    return lines + [""]


def _arch_label(r: RunData) -> str:
    t = r.target("none", store.DENSE) or {}
    params_n = t.get("parameters")
    return f"{r.p('model.arch')}" + (f", {params_n:,} params" if params_n else "")


def _lottery_sparsity(rep: Report, runs: list[RunData], attack: str) -> list[str]:
    refs = rep.ref("sparsity", "accuracy_range") or {}
    lines = ["### Figs. 1-2: test accuracy and attack accuracy against sparsity", ""]
    lines += rep.seed_setting("sparsity")
    header = ["sparsity"]
    for i, r in enumerate(runs):
        key = "first" if i == 0 else "second"
        header += [f"test acc `{r.run}` ({_arch_label(r)})", f"attack acc `{r.run}` (sd)", f"seed ({key} arch)", "diff"]
    levels = runs[0].levels()
    rows = []
    for level in levels:
        row = [f"{store.parse_level(level)[1]:g}"]
        for i, r in enumerate(runs):
            t, m = r.target("none", level), r.attack("none", level, attack)
            ref = refs.get("first" if i == 0 else "second")
            acc = (m or {}).get("accuracy")
            row += [fmt((t or {}).get("test_acc")), fmt_sd(acc, metric_sd(m, "accuracy", r.eval_n) if m else None), fmt_ref(ref), fmt_diff(diff(acc, ref))]
        rows.append(row)
    lines += table(header, rows)
    lines += ["", f"Seed, Fig. 1 ({rep.source('accuracy')}): {rep.ref('accuracy', 'trend') or '-'}; the seed prints no values. "
              f"Seed, Fig. 2: {rep.ref('sparsity', 'trend') or '-'}.", ""]
    for r in runs:
        lines.append(_rise_then_drop(rep, r, attack))
    if len(runs) == 2:
        lines.append(_larger_leaks_more(rep, runs, attack))
    return lines + [""]


def _rise_then_drop(rep: Report, r: RunData, attack: str) -> str:
    """Seed 000, Fig. 2: the attack accuracy peaks at an intermediate sparsity, then drops."""
    points = [(lv, r.attack("none", lv, attack)) for lv in r.levels()]
    points = [(lv, m) for lv, m in points if m]
    claim = f"attack accuracy rises with sparsity, then drops at very high sparsity (`{r.run}`)"
    if len(points) < 3:
        return f"- {claim} ({rep.source('sparsity')}): not measured"
    peak_i = max(range(len(points)), key=lambda i: points[i][1]["accuracy"])
    peak, first, last = points[peak_i][1], points[0][1], points[-1][1]
    rise = judge(peak["accuracy"], first["accuracy"], metric_sd(peak, "accuracy", r.eval_n), metric_sd(first, "accuracy", r.eval_n), "higher")[0]
    drop = judge(last["accuracy"], peak["accuracy"], metric_sd(last, "accuracy", r.eval_n), metric_sd(peak, "accuracy", r.eval_n), "lower")[0]
    interior = 0 < peak_i < len(points) - 1
    word = "agrees" if interior and rise == "agrees" and drop == "agrees" else (
        "inside the spread (no evidence either way)" if "inside" in rise or "inside" in drop else "disagrees")
    return (f"- {claim} ({rep.source('sparsity')}): ours peak {peak['accuracy']:.3f} at sparsity {store.parse_level(points[peak_i][0])[1]:g} "
            f"(dense {first['accuracy']:.3f}: rise {rise}; highest sparsity {last['accuracy']:.3f}: drop {drop}) -> **{word}**")


def _mean_attack(r: RunData, attack: str) -> tuple[float | None, float | None]:
    accs = [m["accuracy"] for m in (r.attack("none", lv, attack) for lv in r.levels()) if m]
    if not accs:
        return None, None
    mean = float(np.mean(accs))
    return mean, binomial_sd(mean, r.eval_n)  # the levels share one evaluation set: one cell's sd


def _larger_leaks_more(rep: Report, runs: list[RunData], attack: str) -> str:
    """Seed 000, Sec. 4.2: the larger architecture (ResNet-50) is attacked more successfully."""
    sizes = [((r.target("none", store.DENSE) or {}).get("parameters") or 0) for r in runs]
    big, small = (runs[0], runs[1]) if sizes[0] >= sizes[1] else (runs[1], runs[0])
    (a, sd_a), (b, sd_b) = _mean_attack(big, attack), _mean_attack(small, attack)
    return verdict_line("the larger network is more vulnerable (mean over sparsities)", "seed 000, Sec. 4.2",
                        f"ours {big.p('model.arch')} {fmt(a)} vs {small.p('model.arch')} {fmt(b)}", a, b, sd_a, sd_b, "higher")


def _lottery_samples(rep: Report, runs: list[RunData], attack: str) -> list[str]:
    ticket = _ticket_level(rep)
    lines = [f"### Fig. 3: attack accuracy against the number of attack-training samples (ticket {ticket})", ""]
    lines += rep.seed_setting("samples")
    curves = {r.run: r.curve("none", ticket) for r in runs}
    ks = sorted(set().union(*[set(c) for c in curves.values()]))
    if not ks:
        return lines + ["No shadow-count curve recorded (attack.shadow_curve false).", ""]
    header = ["shadows k"] + [f"samples `{r.run}` (2 k S)" for r in runs] + [f"attack acc `{r.run}`" for r in runs]
    rows = []
    for k in ks:
        row = [str(k)] + [str(2 * k * int(r.p("data.shadow_size", 0))) for r in runs]
        row += [fmt(curves[r.run].get(k, {}).get(attack, {}).get("accuracy")) for r in runs]
        rows.append(row)
    lines += table(header, rows)
    lines += ["", f"Seed: {rep.ref('samples', 'trend') or '-'} (values only in its figure)."]
    for r in runs:
        accs = [(k, curves[r.run][k][attack]["accuracy"]) for k in ks if attack in curves[r.run].get(k, {})]
        if len(accs) >= 2:
            hi, lo = max(accs, key=lambda x: x[1]), min(accs, key=lambda x: x[1])
            sd = binomial_sd(hi[1], r.eval_n)
            lines.append(verdict_line(f"more attack-training samples change the attack little (`{r.run}`)", rep.source("samples"),
                                      f"ours max {hi[1]:.3f} (k={hi[0]}) vs min {lo[1]:.3f} (k={lo[0]})", hi[1], lo[1], sd, sd, "equal"))
    return lines + [""]


def _lottery_transfer(rep: Report, r: RunData) -> list[str]:
    tr = r.transfer()
    lines = ["### Fig. 4: attack transfer (accuracy; rows: the source whose shadows fit the attack, columns: the attacked target)", ""]
    lines += rep.seed_setting("transfer")
    if not tr:
        return lines + ["No transfer results.", ""]
    attack = rep.opts.get("attack", "shokri_sorted")
    matrix = tr["matrix"].get(attack) or next(iter(tr["matrix"].values()))
    levels = tr["levels"]
    rows = [[f"**{s}**"] + [fmt(matrix[s][t]["accuracy"]) for t in levels] for s in levels]
    lines += table(["source \\ target", *levels], rows)
    wins = sum(max(levels, key=lambda s: matrix[s][t]["accuracy"]) == t for t in levels)
    diag = float(np.mean([matrix[t][t]["accuracy"] for t in levels]))
    off = [matrix[s][t]["accuracy"] for s in levels for t in levels if s != t]
    lines += ["", f"Seed: {rep.ref('transfer', 'trend') or '-'}. Ours: the diagonal is the best source for {wins} of {len(levels)} targets."]
    if off:
        off_mean = float(np.mean(off))
        sd_d, sd_o = binomial_sd(diag, r.eval_n), binomial_sd(off_mean, r.eval_n)  # cells share evaluation samples
        lines.append(verdict_line("the matching attack (diagonal) beats the transferred ones", rep.source("transfer"),
                                  f"ours diagonal mean {diag:.3f} vs off-diagonal mean {off_mean:.3f}", diag, off_mean, sd_d, sd_o, "higher"))
    return lines + [""]


def _lottery_across(rep: Report) -> list[str]:
    """Sec. 4.1.1 and Table 1: every run and dataset by number of classes, beside the seed's rows."""
    g = rep.gathered
    attack, ticket = rep.opts.get("attack", "shokri_sorted"), _ticket_level(rep)
    lines = [f"### Number of classes (Sec. 4.1.1) and Table 1 across datasets ({attack}, ticket {ticket})", ""]
    lines += rep.seed_setting("classes")
    entries = []
    for r in g.present():
        d, t = r.attack("none", store.DENSE, attack), r.attack("none", ticket, attack)
        if d or t:
            entries.append((r, d, t))
    rows = []
    for r, d, t in sorted(entries, key=lambda e: (e[0].num_classes or 0, e[0].dataset)):
        ref = rep.ref("classes", "accuracy", str(r.num_classes)) if r.num_classes else None
        acc_t = (t or {}).get("accuracy")
        rows.append([r.dataset, f"`{r.run}`", str(r.num_classes or "?"), r.p("model.arch") or "?", fmt((d or {}).get("accuracy")), fmt(acc_t), fmt(ref), fmt_diff(diff(acc_t, ref))])
    measured = {r.num_classes for r, _, _ in entries}
    for name, row in (rep.ref("table1", "rows") or {}).items():
        if row.get("classes") not in measured:
            rows.append([f"{name} (seed only: not run here)", "-", str(row.get("classes")), "-", "-", "-", fmt(row["accuracy"][1]), "-"])
    lines += table(["dataset", "run", "classes", "arch", "dense acc ours", "ticket acc ours", "seed (ticket)", "diff"], rows)
    lines.append("")
    for a, b in _class_pairs([e[0] for e in entries]):
        ta, tb = a.attack("none", ticket, attack), b.attack("none", ticket, attack)
        if ta and tb:
            lines.append(verdict_line(
                "more classes, higher attack accuracy", rep.source("classes"),
                f"ours {b.dataset}/{b.run} ({b.num_classes} classes) {tb['accuracy']:.3f} vs {a.dataset}/{a.run} ({a.num_classes} classes) {ta['accuracy']:.3f}",
                tb["accuracy"], ta["accuracy"], metric_sd(tb, "accuracy", b.eval_n), metric_sd(ta, "accuracy", a.eval_n), "higher"))
    return lines


def _class_pairs(runs: list[RunData]) -> list[tuple[RunData, RunData]]:
    """Pairs (fewer classes, more classes) comparable enough to judge: the same dataset, or the
    same run name on different datasets (paper scale: CIFAR-10 vs CIFAR-100)."""
    pairs = []
    for a in runs:
        for b in runs:
            if a.num_classes and b.num_classes and a.num_classes < b.num_classes and (a.dataset == b.dataset or a.run == b.run):
                pairs.append((a, b))
    return pairs


# ---- seed 002: pruning, SAMIA, PPB ----------------------------------------------------------


def _best_baseline(r: RunData, defense: str, level: str, key: str = "nonadaptive") -> tuple[str | None, dict | None]:
    """The most accurate non-SAMIA attack on one model (picked on the evaluation set: optimistic)."""
    res = r.result(defense, level) or {}
    attacks = res.get("attacks", {}).get("none", {}) if key == "attacks" else (res.get("nonadaptive") or {})
    if not attacks:
        return None, None
    name = max(attacks, key=lambda a: attacks[a]["accuracy"])
    return name, attacks[name]


def _pruning_dataset(rep: Report, dataset: str) -> list[str]:
    g, o = rep.gathered, rep.opts
    methods, defenses = g.get(dataset, o.get("methods_run")), g.get(dataset, o.get("defenses_run"))
    lines: list[str] = []
    if methods is not None:
        lines += _pruning_methods(rep, methods)
        lines += _pruning_samia(rep, methods)
    if defenses is not None:
        lines += _pruning_defenses(rep, defenses)
    hist = [r for r in (methods, defenses) if r is not None and o.get("histogram_level") in r.levels()]
    if hist:
        lines += _pruning_gaps(rep, hist[0])
    if methods is not None:
        lines += _pruning_blind(rep, methods)
    return lines


def _pruning_methods(rep: Report, r: RunData) -> list[str]:
    lines = ["### Pruned vs original: the four pruning methods at five sparsities (undefended, shadows pruned alike)", ""]
    lines += rep.seed_setting("pruned")
    d_name, d = _best_baseline(r, "none", store.DENSE, "attacks")
    d_samia = r.samia("none", store.DENSE)
    rows, words = [], {}
    for level in r.levels():
        t = r.target("none", level) or {}
        name, m = _best_baseline(r, "none", level, "attacks")
        s = r.samia("none", level)
        acc = (m or {}).get("accuracy")
        rows.append([level, fmt(t.get("sparsity")), fmt(t.get("test_acc")), fmt_diff(None if not t else t["train_acc"] - t["test_acc"]),
                     f"{fmt_sd(acc, metric_sd(m, 'accuracy', r.eval_n) if m else None)} {name or ''}", fmt((s or {}).get("accuracy")),
                     fmt_diff(diff(acc, (d or {}).get("accuracy"))) if level != store.DENSE else "-",
                     fmt_diff(diff((s or {}).get("accuracy"), (d_samia or {}).get("accuracy"))) if level != store.DENSE else "-"])
        if level != store.DENSE and m and d:
            method = store.parse_level(level)[0]
            words.setdefault(method, []).append(judge(m["accuracy"], d["accuracy"], metric_sd(m, "accuracy", r.eval_n), metric_sd(d, "accuracy", r.eval_n), "higher")[0])
    lines += table(["level", "sparsity (measured)", "test acc", "train-test gap", "best baseline attack acc (sd)", "SAMIA acc",
                    "diff vs dense (baseline)", "diff vs dense (SAMIA)"], rows)
    lines += ["", f"Seed: {rep.ref('pruned', 'claim')} (no numbers in the seed text). The best baseline attack is picked on the evaluation set (optimistic).", ""]
    lines += [tally_line(f"{method}: pruned models are more vulnerable than the dense one", rep.source("pruned"), w) for method, w in words.items()]
    return lines + [""]


def _pruning_samia(rep: Report, r: RunData) -> list[str]:
    lines = ["### SAMIA against the baseline attacks", ""] + rep.seed_setting("samia")
    rows, words = [], []
    for level in r.levels():
        s = r.samia("none", level)
        name, m = _best_baseline(r, "none", level, "attacks")
        rows.append([level, fmt_sd((s or {}).get("accuracy"), metric_sd(s, "accuracy", r.eval_n) if s else None), fmt_sd((s or {}).get("auc"), (s or {}).get("auc_std")),
                     f"{fmt((m or {}).get('accuracy'))} {name or ''}", fmt((m or {}).get("auc")), fmt_diff(diff((s or {}).get("accuracy"), (m or {}).get("accuracy")))])
        if s and m and level != store.DENSE:
            words.append(judge(s["accuracy"], m["accuracy"], metric_sd(s, "accuracy", r.eval_n), metric_sd(m, "accuracy", r.eval_n), "higher")[0])
    lines += table(["level", "SAMIA acc (sd)", "SAMIA AUC (sd)", "best baseline acc", "its AUC", "SAMIA - baseline (acc)"], rows)
    lines += ["", tally_line("SAMIA beats the best baseline attack on pruned models", rep.source("samia"), words), ""]
    return lines


def _pruning_defenses(rep: Report, r: RunData) -> list[str]:
    lines = ["### PPB against the other defenses", ""] + rep.seed_setting("ppb")
    ref = rep.ref("ppb", "accuracy")
    pruned = [lv for lv in r.levels() if lv != store.DENSE]
    rows, nonadaptive = [], {}
    for defense in r.p("defense.train", []) or []:
        for level in [store.DENSE, *pruned]:
            t = r.target(defense, level) or {}
            _, adaptive = _best_baseline(r, defense, level, "attacks")
            na_name, na = _best_baseline(r, defense, level) if defense != "none" else (None, adaptive)
            s = r.samia(defense, level)
            na_acc = (na or {}).get("accuracy")
            if level != store.DENSE:
                nonadaptive[defense] = na
            is_ppb = r.p(f"defense.variants.{defense}.kind") == "ppb"
            rows.append([defense, level, fmt(t.get("test_acc")), fmt((adaptive or {}).get("accuracy")), fmt(na_acc), fmt((s or {}).get("accuracy")),
                         fmt(ref) if is_ppb else "-", fmt_diff(diff(na_acc, ref)) if is_ppb else "-"])
    lines += table(["defense", "level", "test acc", "adaptive best acc", "non-adaptive best acc", "SAMIA acc (adaptive)", "seed", "diff"], rows)
    lines += ["", "Non-adaptive: the attack fitted on undefended shadows (the seed's main PPB setting); adaptive: shadows trained with the same defense.", ""]
    ppb = next((d for d in nonadaptive if r.p(f"defense.variants.{d}.kind") == "ppb"), None)
    if ppb and nonadaptive.get(ppb):
        m = nonadaptive[ppb]
        lines.append(verdict_line("PPB brings the attack to about 50% (non-adaptive, pruned)", rep.source("ppb"),
                                  f"ours {m['accuracy']:.3f} vs 0.5", m["accuracy"], 0.5, metric_sd(m, "accuracy", r.eval_n), 0.0, "equal"))
        others = {d: v for d, v in nonadaptive.items() if d not in (ppb, "none") and v}
        if others:
            best = min(others, key=lambda d: others[d]["accuracy"])
            lines.append(verdict_line("PPB protects better than the other defenses (non-adaptive, pruned)", rep.source("ppb"),
                                      f"ours PPB {m['accuracy']:.3f} vs best other ({best}) {others[best]['accuracy']:.3f}",
                                      m["accuracy"], others[best]["accuracy"], metric_sd(m, "accuracy", r.eval_n), metric_sd(others[best], "accuracy", r.eval_n), "lower"))
    return lines + [""]


def _pruning_gaps(rep: Report, r: RunData) -> list[str]:
    level = rep.opts["histogram_level"]
    lines = [f"### Fig. 1: member vs non-member confidence and sensitivity of the true class (`{r.run}`, undefended)", ""]
    lines += rep.seed_setting("gaps")
    gaps = {lv: r.gaps("none", lv) for lv in (store.DENSE, level)}
    if any(v is None for v in gaps.values()):
        return lines + ["Not available: these come from the target's posteriors (`posteriors/`, DVC cache only), which the "
                        "local DVC cache does not hold for this run. The histogram figure is linked below.", ""]
    rows = []
    for lv, g in gaps.items():
        for sig, v in g.items():
            rows.append([lv, sig, fmt(v["members"]), fmt(v["nonmembers"]), fmt_sd(v["gap"], v["gap_sd"])])
    lines += table(["level", "signal", "members (mean)", "non-members (mean)", "gap (sd)"], rows)
    lines.append("")
    for sig in gaps[store.DENSE]:
        a, b = gaps[level].get(sig), gaps[store.DENSE][sig]
        if a:
            lines.append(verdict_line(f"pruning widens the {sig} gap", rep.source("gaps"), f"ours {level} {a['gap']:.4f} vs dense {b['gap']:.4f}",
                                      a["gap"], b["gap"], a["gap_sd"], b["gap_sd"], "higher"))
    return lines + [""]


def _pruning_blind(rep: Report, r: RunData) -> list[str]:
    tr = r.transfer() or {}
    blind = tr.get("blind") or {}
    lines = ["### The attacker who does not know the pruning method (Shokri MLP AUC)", ""] + rep.seed_setting("blind")
    if not blind:
        return lines + ["No transfer results.", ""]
    rows, words = [], []
    for level, row in blind.items():
        other = row.get("other_methods_mean")
        rows.append([level, fmt(row["matching"]), fmt(row["dense_shadows"]), fmt(other)])
        sd = (r.attack("none", level, "shokri_sorted") or {}).get("auc_std")
        if other is not None:
            words.append(judge(other, 0.5, sd, 0.0, "higher")[0])
    lines += table(["target", "matching shadows", "dense shadows", "other methods' shadows (mean)"], rows)
    lines += ["", tally_line("the attack succeeds (AUC above 0.5) without knowing the pruning method", rep.source("blind"), words), ""]
    return lines


# ---- seed 003: shadow models ----------------------------------------------------------------


def _shadow_attack(rep: Report) -> str:
    short = rep.opts.get("attack", "linear_svm")
    return rep.opts.get("classifiers", {}).get(short, f"shokri_sorted_{short}")


def _curve_acc(r: RunData | None, k: int, attack: str, defense: str = "none") -> dict | None:
    if r is None:
        return None
    return r.curve(defense, store.DENSE).get(k, {}).get(attack)


def _shadow_dataset(rep: Report, dataset: str) -> list[str]:
    g, o = rep.gathered, rep.opts
    base, more, five = g.get(dataset, o.get("base_run")), g.get(dataset, o.get("more_data_run")), g.get(dataset, o.get("classes_run"))
    lines: list[str] = []
    if base is not None:
        lines += _shadow_table1(rep, base)
        lines += _shadow_table2(rep, base)
        lines += _shadow_fig1(rep, base)
    if base is not None and more is not None:
        lines += _shadow_table3(rep, base, more)
    if base is not None and five is not None:
        lines += _shadow_classes(rep, base, five)
    if base is not None:
        lines += _shadow_table4(rep, base)
    return lines


def _shadow_table1(rep: Report, r: RunData) -> list[str]:
    ks = [4, 5, 6, 7]
    lines = ["### Table 1: attack accuracy per classifier and number of shadows (undefended, dense)", ""] + rep.seed_setting("table1")
    rows = []
    for short, name in rep.opts.get("classifiers", {}).items():
        row = [f"{short}"]
        for k in ks:
            m, ref = _curve_acc(r, k, name), rep.ref("table1", "accuracy", short, str(k))
            acc = (m or {}).get("accuracy")
            row.append(f"{fmt(acc)} / {fmt(ref)} ({fmt_diff(diff(acc, ref))})")
        rows.append(row)
    lines += table(["classifier", *[f"k={k}: ours / seed (diff)" for k in ks]], rows)
    sd = binomial_sd(0.5, r.eval_n)
    lines += ["", f"Accuracy sd (binomial, n = {r.eval_n}) is at most {fmt(sd)} per cell.", ""]
    return lines


def _shadow_table2(rep: Report, r: RunData) -> list[str]:
    ref = rep.ref("table2", "metrics") or {}
    clf, k_ref = rep.ref("table2", "classifier"), rep.ref("table2", "shadows")
    cells = [(short, k, m) for short, name in rep.opts.get("classifiers", {}).items()
             for k, by_attack in r.curve("none", store.DENSE).items() for a, m in by_attack.items() if a == name]
    if not cells:
        return []
    best = max(cells, key=lambda c: c[2]["accuracy"])
    at_seed = next((c for c in cells if c[0] == clf and c[1] == k_ref), None)
    lines = ["### Table 2: accuracy, precision and recall of the best attack", ""] + rep.seed_setting("table2")
    rows = []
    for label, cell in ((f"ours best: {best[0]}, k={best[1]}", best), (f"ours at the seed's cell: {clf}, k={k_ref}", at_seed)):
        if cell is None:
            continue
        m = cell[2]
        rows.append([label] + [f"{fmt(m.get(key))} / {fmt(ref.get(key))} ({fmt_diff(diff(m.get(key), ref.get(key)))})" for key in ("accuracy", "precision", "recall")])
    lines += table(["attack", "accuracy: ours / seed (diff)", "precision", "recall"], rows)
    return lines + ["", "The best cell is picked on the evaluation set, as the seed picked its own (optimistic).", ""]


def _shadow_fig1(rep: Report, r: RunData) -> list[str]:
    attack = _shadow_attack(rep)
    curve = r.curve("none", store.DENSE)
    ks = sorted(k for k in curve if attack in curve[k])
    lines = [f"### Fig. 1: attack accuracy against the number of shadows (`{attack}`)", ""] + rep.seed_setting("shadows")
    if not ks:
        return lines + ["No shadow-count curve recorded.", ""]
    lines += table(["shadows k", *map(str, ks)], [["attack acc", *[fmt(curve[k][attack]["accuracy"]) for k in ks]]])
    a, b = curve[ks[-1]][attack]["accuracy"], curve[ks[0]][attack]["accuracy"]
    lines += ["", f"Seed: {rep.ref('shadows', 'trend') or '-'}.",
              verdict_line("more shadows, higher attack accuracy", rep.source("shadows"), f"ours k={ks[-1]} {a:.3f} vs k={ks[0]} {b:.3f}",
                           a, b, binomial_sd(a, r.eval_n), binomial_sd(b, r.eval_n), "higher"), ""]
    return lines


def _mean_curve(r: RunData, ks: list[int], attack: str, defense: str = "none") -> tuple[float | None, float | None]:
    """Mean accuracy over shadow counts, with the binomial sd of one cell (the refits share
    shadows, so averaging does not shrink the spread much)."""
    accs = [m["accuracy"] for m in (_curve_acc(r, k, attack, defense) for k in ks) if m]
    if not accs:
        return None, None
    mean = float(np.mean(accs))
    return mean, binomial_sd(mean, r.eval_n)


def _shadow_table3(rep: Report, base: RunData, more: RunData) -> list[str]:
    attack = _shadow_attack(rep)
    ks = [4, 5, 6, 7, 8]
    lines = [f"### Table 3: less vs more training data (`{attack}`)", ""] + rep.seed_setting("table3")
    rows = []
    for k in ks:
        ref = rep.ref("table3", "accuracy", str(k)) or [None, None]
        a, b = (_curve_acc(base, k, attack) or {}).get("accuracy"), (_curve_acc(more, k, attack) or {}).get("accuracy")
        rows.append([str(k), fmt(a), fmt(ref[0]), fmt_diff(diff(a, ref[0])), fmt(b), fmt(ref[1]), fmt_diff(diff(b, ref[1]))])
    lines += table(["shadows k", f"ours {base.p('data.target_size')} samples", "seed 3,000", "diff", f"ours {more.p('data.target_size')} samples", "seed 6,000", "diff"], rows)
    (a, sd_a), (b, sd_b) = _mean_curve(base, ks, attack), _mean_curve(more, ks, attack)
    lines += ["", verdict_line("more training data, lower attack accuracy (mean over k)", rep.source("table3"),
                               f"ours {base.p('data.target_size')} samples {fmt(a)} vs {more.p('data.target_size')} samples {fmt(b)}", a, b, sd_a, sd_b, "higher"), ""]
    return lines


def _shadow_classes(rep: Report, base: RunData, five: RunData) -> list[str]:
    attack = _shadow_attack(rep)
    ks = sorted(k for k in base.curve("none", store.DENSE) if k >= 2)
    lines = [f"### Sec. 5.4: {base.num_classes} vs {five.num_classes} classes (`{attack}`, range over k = {ks[0] if ks else '-'}..{ks[-1] if ks else '-'})", ""]
    lines += rep.seed_setting("classes")
    rows = []
    for r in (base, five):
        accs = [m["accuracy"] for m in (_curve_acc(r, k, attack) for k in ks) if m]
        ref = rep.ref("classes", "range", str(r.num_classes))
        lo, hi = (min(accs), max(accs)) if accs else (None, None)
        rows.append([f"`{r.run}`", str(r.num_classes), f"{fmt(lo)}-{fmt(hi)}", fmt_ref(ref), fmt_diff(diff(lo, ref)), fmt_diff(diff(hi, ref))])
    lines += table(["run", "classes", "ours (min-max)", "seed (min-max)", "diff (min)", "diff (max)"], rows)
    (a, sd_a), (b, sd_b) = _mean_curve(base, ks, attack), _mean_curve(five, ks, attack)
    lines += ["", verdict_line("fewer classes, lower attack accuracy (mean over k)", rep.source("classes"),
                               f"ours {base.num_classes} classes {fmt(a)} vs {five.num_classes} classes {fmt(b)}", a, b, sd_a, sd_b, "higher"), ""]
    return lines


def _shadow_table4(rep: Report, r: RunData) -> list[str]:
    attack = _shadow_attack(rep)
    dropout = next((d for d in r.p("defense.train", []) or [] if r.p(f"defense.variants.{d}.kind") == "dropout"), None)
    if dropout is None:
        return []
    ks = [2, 3, 4, 5, 6, 7, 8, 9]
    lines = [f"### Table 4: the network without and with dropout ({r.p(f'defense.variants.{dropout}.rate')}) (`{attack}`)", ""] + rep.seed_setting("table4")
    rows = []
    for k in ks:
        ref = rep.ref("table4", "accuracy", str(k)) or [None, None]
        a, b = (_curve_acc(r, k, attack) or {}).get("accuracy"), (_curve_acc(r, k, attack, dropout) or {}).get("accuracy")
        rows.append([str(k), fmt(a), fmt(ref[0]), fmt_diff(diff(a, ref[0])), fmt(b), fmt(ref[1]), fmt_diff(diff(b, ref[1]))])
    lines += table(["shadows k", "ours no dropout", "seed", "diff", "ours dropout", "seed", "diff"], rows)
    t_none, t_drop = r.target("none", store.DENSE) or {}, r.target(dropout, store.DENSE) or {}
    lines += ["", f"Target train / test accuracy: no dropout {fmt(t_none.get('train_acc'))} / {fmt(t_none.get('test_acc'))}, "
              f"dropout {fmt(t_drop.get('train_acc'))} / {fmt(t_drop.get('test_acc'))}."]
    (a, sd_a), (b, sd_b) = _mean_curve(r, ks, attack), _mean_curve(r, ks, attack, dropout)
    lines += [verdict_line("dropout lowers the attack accuracy (mean over k)", rep.source("table4"), f"ours no dropout {fmt(a)} vs dropout {fmt(b)}", a, b, sd_a, sd_b, "higher"), ""]
    return lines


# ---- seed 004: grey-box leak ----------------------------------------------------------------


def _gb_cells(r: RunData | None, defense: str, level: str = store.DENSE) -> dict[float, dict]:
    """Leaked fraction -> that fraction's grey-box results (one level of one defense)."""
    gb = (r.greybox(defense) if r else None) or {}
    sweep = gb.get("sweep", {}).get(level) or {}
    return {float(f): cell for f, cell in (sweep.get("results") or {}).items()}


def _gb(cell: Mapping | None, signal: str, key: str) -> tuple[float | None, float | None]:
    v = ((cell or {}).get("attacks", {}).get(signal) or {}).get(key)
    return (v.get("mean"), v.get("std")) if isinstance(v, Mapping) else (None, None)


def _greybox_runs(rep: Report, dataset: str) -> dict[float, RunData]:
    out = {}
    for run, lam in (rep.opts.get("lambda_runs") or {}).items():
        r = rep.gathered.get(dataset, run)
        if r is not None:
            out[float(lam)] = r
    return dict(sorted(out.items()))


def _l2_name(r: RunData) -> str | None:
    return next((d for d in r.p("defense.train", []) or [] if r.p(f"defense.variants.{d}.kind") == "l2"), None)


def _greybox_dataset(rep: Report, dataset: str) -> list[str]:
    runs = _greybox_runs(rep, dataset)
    main = rep.gathered.get(dataset, rep.opts.get("main_run")) or next(iter(runs.values()), None)
    if main is None:
        return []
    lines = _greybox_utility(rep, main, runs)
    lines += _greybox_before(rep, main)
    lines += _greybox_after(rep, main, runs)
    lines += _greybox_wasserstein(rep, main, runs)
    lines += _greybox_confusion(rep, main, runs)
    lines += _greybox_ticket(rep, main)
    return lines


def _greybox_utility(rep: Report, main: RunData, runs: dict[float, RunData]) -> list[str]:
    lines = ["### The target's recipe and L2: train and test accuracy", ""] + rep.seed_setting("utility")
    entries: list[tuple[str, dict]] = [("none", main.target("none", store.DENSE) or {})]
    for lam, r in runs.items():
        name = _l2_name(r)
        entries.append((np.format_float_positional(lam, trim="-"), (r.target(name, store.DENSE) if name else None) or {}))
    rows = []
    for label, t in entries:
        ref = rep.ref("utility", "rows", label) or {}
        rows.append([f"L2 lambda {label}" if label != "none" else "undefended", fmt(t.get("train_acc")), fmt(ref.get("train_acc")), fmt_diff(diff(t.get("train_acc"), ref.get("train_acc"))),
                     fmt(t.get("test_acc")), fmt(ref.get("test_acc")), fmt_diff(diff(t.get("test_acc"), ref.get("test_acc")))])
    lines += table(["model", "train acc ours", "seed", "diff", "test acc ours", "seed", "diff"], rows)
    lines.append("")
    base = entries[0][1]
    n = main.eval_n // 2
    for label, t in entries[1:]:
        if base and t:
            gap_a, gap_b = base["train_acc"] - base["test_acc"], t["train_acc"] - t["test_acc"]
            sd = math.hypot(binomial_sd(base["train_acc"], n) or 0, binomial_sd(base["test_acc"], n) or 0)
            lines.append(verdict_line(f"L2 (lambda {label}) narrows the train-test gap", rep.source("utility"),
                                      f"ours gap {gap_b:+.3f} vs undefended {gap_a:+.3f}", gap_b, gap_a, sd, sd, "lower"))
    return lines + [""]


def _greybox_before(rep: Report, main: RunData) -> list[str]:
    signals, main_sig = rep.opts.get("signals", []), rep.opts.get("main_signal", "kde_cross_entropy")
    cells = _gb_cells(main, "none")
    lines = ["### Before the defense: attack accuracy, FPR and TPR against the leaked fraction (undefended, dense)", ""] + rep.seed_setting("before")
    if not cells:
        return lines + ["No grey-box results.", ""]
    ref_acc, ref_fpr, ref_tpr = rep.ref("before", "accuracy_min"), rep.ref("before", "fpr"), rep.ref("before", "tpr")
    rows = []
    for f, cell in cells.items():
        row = [f"{f:g}"]
        for sig in signals:
            acc, sd = _gb(cell, sig, "accuracy")
            row.append(fmt_sd(acc, sd))
        acc, _ = _gb(cell, main_sig, "accuracy")
        fpr, tpr = _gb(cell, main_sig, "fpr")[0], _gb(cell, main_sig, "recall")[0]
        row += [fmt_diff(diff(acc, [ref_acc, 1.0] if ref_acc is not None else None)), fmt(fpr), fmt_diff(diff(fpr, ref_fpr)), fmt(tpr), fmt_diff(diff(tpr, ref_tpr))]
        rows.append(row)
    lines += table(["leaked", *[f"{s} acc (sd)" for s in signals], f"diff vs seed's >{fmt(ref_acc)}", f"{main_sig} FPR", f"diff vs {fmt(ref_fpr)}", "TPR", f"diff vs {fmt(ref_tpr)}"], rows)
    lines.append("")
    accs = [(f, *_gb(c, main_sig, "accuracy")) for f, c in cells.items() if _gb(c, main_sig, "accuracy")[0] is not None]
    if accs:
        mean = float(np.mean([a for _, a, _ in accs]))
        sd = float(np.mean([s or 0 for _, _, s in accs]))  # the draws share one model: no 1/sqrt(n)
        lines.append(verdict_line("the attack exceeds 64% before the defense (mean over leaked fractions)", rep.source("before"),
                                  f"ours {mean:.3f} vs 0.64", mean, ref_acc if ref_acc is not None else 0.64, sd, 0.0, "higher"))
        later = [(f, a, s) for f, a, s in accs if f >= 0.02]
        if len(later) >= 2:
            hi, lo = max(later, key=lambda x: x[1]), min(later, key=lambda x: x[1])
            lines.append(verdict_line("beyond 2% leaked, the fraction no longer changes the accuracy", rep.source("fraction"),
                                      f"ours max {hi[1]:.3f} (f={hi[0]:g}) vs min {lo[1]:.3f} (f={lo[0]:g}), sd over draws", hi[1], lo[1], hi[2], lo[2], "equal"))
    return lines + [""]


def _greybox_after(rep: Report, main: RunData, runs: dict[float, RunData]) -> list[str]:
    main_sig = rep.opts.get("main_signal", "kde_cross_entropy")
    before = _gb_cells(main, "none")
    after = {lam: _gb_cells(r, _l2_name(r) or "l2") for lam, r in runs.items()}
    lines = [f"### After L2: attack accuracy against the leaked fraction (`{main_sig}`; all three signals for lambda 1e-2)", ""] + rep.seed_setting("after")
    if not before and not any(after.values()):
        return lines + ["No grey-box results.", ""]
    ref = rep.ref("after", "accuracy")
    signals = rep.opts.get("signals", [])
    chosen = after.get(0.01) or {}
    header = ["leaked", "undefended"] + [f"lambda {lam:g}" for lam in after] + [f"lambda 0.01 {s}" for s in signals if s != main_sig] + ["seed (1e-2)", "diff (1e-2)"]
    rows = []
    for f in sorted(set(before) | set().union(*[set(c) for c in after.values()])):
        row = [f"{f:g}", fmt_sd(*_gb(before.get(f), main_sig, "accuracy"))]
        row += [fmt_sd(*_gb(cells.get(f), main_sig, "accuracy")) for cells in after.values()]
        row += [fmt_sd(*_gb(chosen.get(f), s, "accuracy")) for s in signals if s != main_sig]
        row += [fmt(ref), fmt_diff(diff(_gb(chosen.get(f), main_sig, "accuracy")[0], ref))]
        rows.append(row)
    lines += table(header, rows)
    lines.append("")
    if chosen:
        accs = [_gb(c, main_sig, "accuracy") for c in chosen.values()]
        accs = [(a, s) for a, s in accs if a is not None]
        if accs:
            mean = float(np.mean([a for a, _ in accs]))
            sd = float(np.mean([s or 0 for _, s in accs]))  # the draws share one model: no 1/sqrt(n)
            lines.append(verdict_line("after L2 with lambda 1e-2 the attack is at about 50% (mean over leaked fractions)", rep.source("after"),
                                      f"ours {mean:.3f} vs {fmt(ref)}", mean, ref if ref is not None else 0.5, sd, 0.0, "equal"))
            b = [_gb(c, main_sig, "accuracy") for c in before.values()]
            b = [(a, s) for a, s in b if a is not None]
            if b:
                mb = float(np.mean([a for a, _ in b]))
                sdb = float(np.mean([s or 0 for _, s in b]))
                lines.append(verdict_line("L2 with lambda 1e-2 lowers the attack", rep.source("after"), f"ours after {mean:.3f} vs before {mb:.3f}",
                                          mean, mb, sd, sdb, "lower"))
    return lines + [""]


def _greybox_wasserstein(rep: Report, main: RunData, runs: dict[float, RunData]) -> list[str]:
    before = _gb_cells(main, "none")
    r_after = runs.get(0.01)
    after = _gb_cells(r_after, _l2_name(r_after) or "l2") if r_after else {}
    lines = ["### Wasserstein distance (cross-entropy) between known members and private non-members", ""] + rep.seed_setting("wasserstein")
    if not before:
        return lines + ["No grey-box results.", ""]

    def w(cell: Mapping | None) -> tuple[float | None, float | None]:
        v = (cell or {}).get("wasserstein_ce") or {}
        return v.get("mean"), v.get("std")

    rows = [[f"{f:g}", fmt_sd(*w(before.get(f))), fmt_sd(*w(after.get(f)))] for f in sorted(before)]
    lines += table(["leaked", "undefended W1 (sd)", "L2 1e-2 W1 (sd)"], rows)
    lines += ["", f"Seed: {rep.ref('wasserstein', 'claim') or '-'} (values only in its figures)."]
    for label, cells, expect in (("before the defense the distance grows with the leaked fraction", before, "higher"),
                                 ("after L2 the distance shrinks with the leaked fraction", after, "lower")):
        fs = sorted(f for f in cells if w(cells[f])[0] is not None)
        if len(fs) >= 2:
            (a, sa), (b, sb) = w(cells[fs[-1]]), w(cells[fs[0]])
            lines.append(verdict_line(label, rep.source("wasserstein"), f"ours f={fs[-1]:g} {a:.4f} vs f={fs[0]:g} {b:.4f}", a, b, sa, sb, expect))
    return lines + [""]


def _greybox_confusion(rep: Report, main: RunData, runs: dict[float, RunData]) -> list[str]:
    main_sig = rep.opts.get("main_signal", "kde_cross_entropy")
    before = _gb_cells(main, "none")
    if not before:
        return []
    f = max(before)
    entries = [("undefended", before.get(f))]
    for lam, r in runs.items():
        entries.append((f"L2 lambda {lam:g}", _gb_cells(r, _l2_name(r) or "l2").get(f)))
    lines = [f"### Confusion matrices (`{main_sig}`, leaked {f:g}, mean counts over draws)", ""]
    rows = []
    for label, cell in entries:
        c = ((cell or {}).get("attacks", {}).get(main_sig) or {}).get("confusion")
        if not c:
            continue
        tpr, fpr = c["tp"] / max(c["tp"] + c["fn"], 1e-12), c["fp"] / max(c["fp"] + c["tn"], 1e-12)
        ref_t, ref_f = (rep.ref("before", "tpr"), rep.ref("before", "fpr")) if label == "undefended" else (None, None)
        rows.append([label, f"{c['tp']:.1f}", f"{c['fn']:.1f}", f"{c['fp']:.1f}", f"{c['tn']:.1f}", f"{fmt(tpr)} / {fmt(ref_t)}", f"{fmt(fpr)} / {fmt(ref_f)}"])
    lines += table(["model", "TP", "FN", "FP", "TN", "TPR ours / seed", "FPR ours / seed"], rows)
    return lines + ["", f"Seed ({rep.source('before')}): TPR about 0.40, FPR about 0.24 before the defense; after it, FPR close to TPR.", ""]


def _greybox_ticket(rep: Report, main: RunData) -> list[str]:
    main_sig = rep.opts.get("main_signal", "kde_cross_entropy")
    pruned = [lv for lv in main.levels() if lv != store.DENSE]
    if not pruned:
        return []
    dense = _gb_cells(main, "none")
    tickets = {lv: _gb_cells(main, "none", lv) for lv in pruned}
    if not any(tickets.values()):
        return []
    lines = [f"### Grey-box attack on lottery tickets (`{main_sig}`, undefended; seed 000's angle, no seed number)", ""]
    rows = [[f"{f:g}", fmt_sd(*_gb(dense.get(f), main_sig, "accuracy"))] + [fmt_sd(*_gb(t.get(f), main_sig, "accuracy")) for t in tickets.values()] for f in sorted(dense)]
    return lines + table(["leaked", "dense", *pruned], rows) + [""]


_BUILDERS = {
    "lottery": _Builder(_lottery_dataset, _lottery_across),
    "pruning": _Builder(_pruning_dataset, _nothing),
    "shadow": _Builder(_shadow_dataset, _nothing),
    "greybox": _Builder(_greybox_dataset, _nothing),
}


# --------------------------------------------------------------------------------------------
# Files: the report and its figures, the runs' wall-time log
# --------------------------------------------------------------------------------------------


def report_path(study: Study, scale: str, root: Path = Path(".")) -> Path:
    """``reports/<study>.md`` (CPU scale) or ``reports/<study>-paper.md``."""
    return root / "reports" / (f"{study.name}.md" if scale == "cpu" else f"{study.name}-paper.md")


def figure_dir(study: Study, scale: str) -> str:
    """Folder (beside the report) holding the figures copied out of each run's commit."""
    return study.name if scale == "cpu" else f"{study.name}-paper"


def runs_log_path(study: Study, scale: str, root: Path = Path(".")) -> Path:
    """The wall-time log that ``stages/study.py run`` keeps per experiment name."""
    return root / "reports" / figure_dir(study, scale) / "runs.json"


def read_runs_log(path: Path) -> dict[str, dict]:
    return json.loads(path.read_text()) if path.is_file() else {}


def write_report(gathered: Gathered, root: Path = Path(".")) -> Path:
    """Render the report, copy the figures it links to, and write ``reports/<study>[-paper].md``."""
    study, scale = gathered.study, gathered.scale
    out = report_path(study, scale, root)
    folder = out.parent / figure_dir(study, scale)
    seed_link = os.path.relpath(root / study.seed, out.parent)
    text, figures = render_report(gathered, figure_dir(study, scale), seed_link)
    folder.mkdir(parents=True, exist_ok=True)
    missing = []
    for source, path, file in figures:
        data = source.read_bytes(path)
        if data is None:
            missing.append(file)
            continue
        (folder / file).write_bytes(data)
    if missing:
        text += f"\nFigures not found in their run: {', '.join(missing)}.\n"
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(out)
    return out
