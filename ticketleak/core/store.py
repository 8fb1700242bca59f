"""How outputs are written: atomically, so a failure leaves nothing half-done or in the way.

Every output is first written under ``.staging/`` (ignored by Git and DVC, on the same file
system) and moved into place only when complete, so a killed stage leaves nothing inside a
folder that another stage hashes. A staging entry is named after the process that writes it;
:func:`clear_stale` removes those whose process is gone. Paths themselves live in
:mod:`ticketleak.core.layout`.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ticketleak.core.errors import UserError
from ticketleak.core.layout import STAGING


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clear_stale(staging: Path = STAGING) -> None:
    """Remove staging entries left by processes that are no longer running (a killed stage)."""
    if not staging.is_dir():
        return
    for entry in staging.iterdir():
        pid = entry.name.split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)


_COUNTER = itertools.count()


def _staging_path(final: Path, directory: bool) -> Path:
    """A fresh path under ``.staging/``: ``<pid>-<n>-<name>`` (an empty folder if ``directory``)."""
    STAGING.mkdir(parents=True, exist_ok=True)
    path = STAGING / f"{os.getpid()}-{next(_COUNTER)}-{final.name}"
    if path.exists():  # left by an earlier process with the same pid
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    if directory:
        path.mkdir()
    return path


def _move_into_place(tmp: Path, final: Path) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.is_dir():
        shutil.rmtree(final)
    try:
        tmp.replace(final)
    except OSError as exc:
        if exc.errno != errno.EXDEV:  # staging on another file system (an output outside the repository)
            raise
        shutil.move(tmp, final)


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically (staged, then renamed)."""
    tmp = _staging_path(path, directory=False)
    try:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")
        _move_into_place(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class CorruptFileError(UserError):
    """An input file exists but cannot be read as what it should be (damaged or tampered with)."""


def _missing(path: Path) -> FileNotFoundError:
    return FileNotFoundError(f"{path}: missing; run the stage that makes it (dvc repro)")


def read_json(path: Path) -> Any:
    if not path.is_file():
        raise _missing(path)
    try:
        return json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptFileError(f"{path}: not valid JSON ({type(exc).__name__}); rerun the stage that makes it") from None


def load_torch(path: Path) -> Any:
    """A tensor file (state dict, masks) saved with ``torch.save``, loaded weights-only on the CPU:
    anything else (a pickle with code in it, a damaged file) is refused in one line."""
    import pickle

    import torch

    if not path.is_file():
        raise _missing(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, AttributeError, ImportError) as exc:
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise CorruptFileError(f"{path}: not a plain tensor file, refused ({first})") from None


@contextlib.contextmanager
def staged_dir(final: Path) -> Iterator[Path]:
    """Yield an empty temp directory that replaces ``final`` only if the block succeeds."""
    tmp = _staging_path(final, directory=True)
    try:
        yield tmp
        _move_into_place(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write named arrays as .npz atomically."""
    tmp = _staging_path(path, directory=False)
    try:
        with tmp.open("wb") as f:
            np.savez(f, **arrays)
        _move_into_place(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    """Read an .npz written by :func:`save_arrays`, or say which stage makes it."""
    import zipfile

    if not path.is_file():
        raise _missing(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (zipfile.BadZipFile, ValueError, EOFError, OSError) as exc:
        raise CorruptFileError(f"{path}: not a readable .npz array file ({type(exc).__name__}); rerun the stage that makes it") from None
