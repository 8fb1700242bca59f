"""Where results live, and how they are written: atomically, so a failure leaves nothing half-done.

Layout (``level`` is ``dense`` or ``<method>-<sparsity>`` such as ``lth_oneshot-0.9``; ``role``
is ``target`` or ``shadow-<id>``)::

    data/prepared/{meta.json, target.npz, shadow-<id>.npz}
    models/<defense>/<level>/<role>/{model.pt, info.json, live/}   (+ init.pt, rewind.pt dense; mask.pt pruned)
    models/reference/<defense>/<level>/ref-<id>/                     (LiRA / RMIA reference models; + in.npy)
    posteriors/<defense>/<level>/{<role>.npz, models.json}
    results/<defense>/<level>.json, results/<defense>/<level>-scores.npz, results/<defense>/transfer.json,
    results/<defense>/<level>-reference.json (+ -reference-scores.npz)
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

PREPARED = Path("data/prepared")
DENSE = "dense"


def role_name(shadow_id: int | None) -> str:
    """``target`` for None, else ``shadow-<id>``."""
    return "target" if shadow_id is None else f"shadow-{shadow_id}"


REFERENCE_SEED_OFFSET = 10_000  # reference j trains with seed base + 10000 + j: apart from any shadow's


def reference_role(ref_id: int) -> str:
    """``ref-<id>``: a reference model of LiRA / RMIA."""
    return f"ref-{ref_id}"


def is_reference(role: str) -> bool:
    return role.startswith("ref-")


def role_seed(base: int, role: str) -> int:
    """Target trains with ``base``; shadow i with ``base + i + 1``; reference j with
    ``base + 10000 + j`` (distinct inits and batch orders)."""
    if role == "target":
        return base
    index = int(role.split("-")[1])
    return base + REFERENCE_SEED_OFFSET + index if is_reference(role) else base + index + 1


def level_name(method: str, sparsity: float) -> str:
    """Directory name of a pruned variant, ``<method>-<sparsity>`` as DVC renders it (``lth_oneshot-0.9``)."""
    return f"{method}-{float(sparsity)!r}"


def parse_level(level: str) -> tuple[str, float]:
    """``dense`` -> (``dense``, 0.0); ``lth_oneshot-0.9`` -> (``lth_oneshot``, 0.9)."""
    if level == DENSE:
        return DENSE, 0.0
    method, _, sparsity = level.rpartition("-")
    return method, float(sparsity)


def model_dir(defense: str, level: str, role: str) -> Path:
    """Target and shadows: models/<defense>/<level>/<role>; reference models apart, under
    models/reference/<defense>/<level>/ref-<id>, so stages reading a level's target and shadows
    do not depend on them."""
    if is_reference(role):
        return Path("models") / "reference" / defense / level / role
    return Path("models") / defense / level / role


def reference_paths(defense: str, level: str) -> tuple[Path, Path]:
    """LiRA's and RMIA's metrics for one defense and level (JSON, kept in Git) and their
    per-sample scores (.npz, DVC cache)."""
    base = Path("results") / defense
    return base / f"{level}-reference.json", base / f"{level}-reference-scores.npz"


def posteriors_dir(defense: str, level: str) -> Path:
    return Path("posteriors") / defense / level


def result_paths(defense: str, level: str) -> tuple[Path, Path]:
    """The attack metrics (JSON, kept in Git) and the per-sample scores (.npz, DVC cache)."""
    base = Path("results") / defense
    return base / f"{level}.json", base / f"{level}-scores.npz"


def transfer_path(defense: str) -> Path:
    """The source x target attack-transfer matrix of one defense (JSON, kept in Git)."""
    return Path("results") / defense / "transfer.json"


def greybox_path(defense: str) -> Path:
    """The grey-box (leaked members) sweep of one defense over all levels (JSON, kept in Git)."""
    return Path("results") / defense / "greybox.json"


def samia_path(defense: str, level: str) -> Path:
    """SAMIA's metrics for one defense and level (JSON, kept in Git)."""
    return Path("results") / defense / f"{level}-samia.json"


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically (temp file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)


def read_json(path: Path) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; run the stage that makes it (dvc repro)")
    return json.loads(path.read_text())


@contextlib.contextmanager
def staged_dir(final: Path) -> Iterator[Path]:
    """Yield an empty temp directory that replaces ``final`` only if the block succeeds."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():
        shutil.rmtree(final)
    tmp.replace(final)


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write named arrays as .npz atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    """Read an .npz written by :func:`save_arrays`, or say which stage makes it."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; run the stage that makes it (dvc repro)")
    with np.load(path) as f:
        return {k: f[k] for k in f.files}
