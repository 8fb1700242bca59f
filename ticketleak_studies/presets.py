"""Study presets: load ``studies/<name>.yaml`` and check it against the params schema.

A study is a YAML preset in ``studies/<name>.yaml`` (``seed000`` .. ``seed004``): the dotted
``params.yaml`` overrides common to every run (``base``), per dataset at CPU scale (``datasets``)
and at the seed's own scale (``paper``), a list of named ``runs`` with their own overrides, how
the report reads the runs (``report``) and the seed's numbers with their source (``reference``).

Every dotted key is checked against the params schema (``ticketleak/core/params.py``), and every run
is resolved on a copy of ``params.yaml`` and validated, so a typo fails in one line before any
DVC work. The clean baseline and the stray keys guard the runs against values an earlier
experiment left in the workspace's ``params.yaml``.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ticketleak.core import params
from ticketleak.core.schema import read_yaml

STUDIES_DIR = "studies"
SCALES = ("cpu", "paper")
STUDY_FIELDS = ("title", "seed", "cites", "reproduces", "cannot_match", "base", "datasets", "paper", "runs", "report", "reference")
OPTIONAL_FIELDS = ("imports",)
IMPORTS_DIR = "data/external"  # where a study's outside data lands (`dvc import-url`); prepare depends on it
RUN_FIELDS = ("name", "about", "set", "datasets", "paper", "scales")
REPORT_KINDS = ("lottery", "pruning", "shadow", "greybox")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class StudyError(ValueError):
    """A bad study file, key, run or experiment: the message is one line and names the problem."""


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
    # data read from outside the repository: repository path (data/external/...) -> source, relative
    # to the repository root or absolute; `study run` brings it in with `dvc import-url` on first use
    imports: dict[str, str] = field(default_factory=dict)

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
    raw = read_yaml(path, error=StudyError)
    return _parse_study(name, Path(STUDIES_DIR) / f"{name}.yaml", raw)


def _parse_study(name: str, path: Path, raw: Any) -> Study:
    """Build a :class:`Study` from the parsed YAML, with one-line errors naming the field."""
    if not isinstance(raw, dict):
        raise StudyError(f"{path}: expected a mapping of study fields, got {type(raw).__name__}")
    for key in raw:
        if key not in STUDY_FIELDS + OPTIONAL_FIELDS:
            raise StudyError(f"{path}: unknown field '{key}'{_suggest(str(key), STUDY_FIELDS + OPTIONAL_FIELDS)}")
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
        imports=_imports(raw.get("imports"), path),
    )


def _imports(raw: Any, path: Path) -> dict[str, str]:
    """``imports``: repository path (under data/external/) -> where the data is outside the repository."""
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        raise StudyError(f"{path}: imports: expected a mapping of repository path -> source path")
    for target in raw:
        parts = Path(target).parts
        if Path(target).is_absolute() or ".." in parts or Path(*parts[:2]).as_posix() != IMPORTS_DIR or len(parts) < 3:
            raise StudyError(f"{path}: imports: {target!r} must be a path inside {IMPORTS_DIR}/")
    return dict(raw)


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

    The schema judges it (:func:`ticketleak.core.params.check_key`: below a named variant any name is
    allowed, the full validation judges those); its one-line message is kept."""
    try:
        params.check_key(key)
    except params.ParamsError as exc:
        raise StudyError(str(exc)) from None


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
        params.validate(raw)
    except params.ParamsError as exc:
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
