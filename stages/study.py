"""Seed studies: run a study's named DVC experiments, or write its report (reports/<study>.md).

A thin wrapper, kept so that older notes still work: the command is `ticketleak study ...`
(installed by `make setup`), and the arguments and commands live in ticketleak_studies/cli.py.

    python stages/study.py list
    python stages/study.py run seed003 --dataset digits [--scale paper] [--only base] [--dry-run] [--force]
    python stages/study.py report seed003 [--dataset digits] [--scale paper] [--source digits/base=workspace]

This is a tool, not a pipeline stage: it drives DVC rather than being run by it.
"""

from __future__ import annotations

from pathlib import Path

from ticketleak_studies import cli

ROOT = Path(__file__).resolve().parents[1]


if __name__ == "__main__":
    cli.main(root=ROOT, prog="python stages/study.py")
