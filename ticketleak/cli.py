"""What every stage script shares: one-line errors for bad input instead of tracebacks."""

from __future__ import annotations

import sys
from collections.abc import Callable

from ticketleak.params import ParamsError


def run(main: Callable[[], None]) -> None:
    """Run a stage's ``main``; a user-facing error prints one line and exits with status 1."""
    from ticketleak.datasets import DatasetError
    from ticketleak.splits import SplitError

    try:
        main()
    except (ParamsError, DatasetError, SplitError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
