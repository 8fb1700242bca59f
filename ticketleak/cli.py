"""What every stage script shares: one-line errors for bad input instead of tracebacks."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from ticketleak.params import ParamsError
from ticketleak import layout


def run(main: Callable[[], None]) -> None:
    """Run a stage's ``main``; a user-facing error prints one line and exits with status 1."""
    from ticketleak.datasets import DatasetError
    from ticketleak.splits import SplitError

    try:
        main()
    except (ParamsError, DatasetError, SplitError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


def defense_level_args(doc: str) -> argparse.Namespace:
    """``--defense`` and ``--level``, the arguments of every per-level stage; the level is
    ``dense`` or ``<method>-<sparsity>`` (checked)."""
    from ticketleak import store

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
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
    from ticketleak import store

    if args.reference is not None:
        return layout.reference(args.reference)
    return layout.TARGET if args.shadow is None else layout.shadow(args.shadow)
