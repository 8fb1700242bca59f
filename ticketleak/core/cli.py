"""What every stage script shares: one-line errors instead of tracebacks, and stage arguments."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from ticketleak.core import layout, machine, store
from ticketleak.core.errors import UserError


def run(main: Callable[[], None]) -> None:
    """Run a stage's ``main`` after clearing what killed stages left in ``.staging/``.

    Bad params, data or input files, and OS errors (a full disk, a permission), print one line
    naming the file or key and exit with status 1; the outputs' staging copies are already gone
    (see :mod:`ticketleak.core.store`), and nothing more is printed at exit. The CPU kernels are
    pinned first (:mod:`ticketleak.core.machine`), so results do not depend on the CPU's vector width,
    and its thread pools capped at ``$TICKETLEAK_THREADS`` (default 1)."""
    machine.pin()
    store.clear_stale()
    try:
        machine.limit_threads()
        main()
    except (UserError, FileNotFoundError) as exc:
        _fail(str(exc))
    except OSError as exc:  # the disk, permissions: the file and the cause, not three chained traces
        where = f"{exc.filename}: " if exc.filename else ""
        _fail(f"{where}{exc.strerror or exc}")
    except KeyboardInterrupt:
        _fail("interrupted")


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(1)  # no interpreter teardown: it prints noise when a stage dies mid-import or mid-write


def add_seed_arg(parser: argparse.ArgumentParser) -> None:
    """``--seed <k>``: the training seed whose models the stage trains or reads (one of ``seeds``)."""
    parser.add_argument("--seed", type=_seed, required=True, help="training seed (one of params.yaml's seeds)")


def _seed(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return int(text)


def defense_level_args(doc: str) -> argparse.Namespace:
    """``--seed``, ``--defense`` and ``--level``, the arguments of every per-level stage; the level
    is ``dense`` or ``<method>-<sparsity>`` (checked)."""

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    add_seed_arg(parser)
    parser.add_argument("--defense", required=True)
    parser.add_argument("--level", required=True, help="dense, or <method>-<sparsity> such as lth_oneshot-0.9")
    args = parser.parse_args()
    try:
        layout.parse_level(args.level)
    except ValueError:
        parser.error(f"--level: expected dense or <method>-<sparsity>, got {args.level!r}")
    return args


def add_role_args(parser: argparse.ArgumentParser) -> None:
    """``--shadow <id>`` or ``--reference <id>``; neither means the target."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--shadow", type=int, default=None, help="shadow id; omit for the target")
    group.add_argument("--reference", type=int, default=None, help="reference-model id (LiRA / RMIA)")


def role_of(args: argparse.Namespace) -> str:
    """The role named by :func:`add_role_args`' arguments: target, shadow-<id> or ref-<id>."""

    if args.reference is not None:
        return layout.reference(args.reference)
    return layout.TARGET if args.shadow is None else layout.shadow(args.shadow)
