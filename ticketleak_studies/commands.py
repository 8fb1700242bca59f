"""The ``dvc exp run -n <study>-<dataset>[-paper]-<run> -S key=value ...`` commands of a study.

Each command sets every key that *any* run of the study sets (the study's key set), so the runs
do not depend on their order even though ``dvc exp run`` leaves its params in the workspace.
"""

from __future__ import annotations

import json
import math
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ticketleak_studies.presets import (
    Study,
    StudyError,
    get_dotted,
    has_dotted,
    resolve,
    study_keys,
)

_PLAIN = re.compile(r"[A-Za-z_./][A-Za-z0-9_./-]*")
_HYDRA_WORDS = {"null", "true", "false", "nan", "inf", "-inf"}


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
