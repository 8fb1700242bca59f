"""The ``ticketleak`` command (installed by ``make setup``): reproduce the pipeline, show its
headline numbers, and drive the seed studies.

    ticketleak repro [TARGET ...] [-- DVC_REPRO_ARGS ...]
    ticketleak repro -j N [--scheduler ADDRESS] [TARGET ...]
    ticketleak show [--variant V]
    ticketleak study list|run|report ...
    ticketleak --version

Every subcommand works on the repository holding ``dvc.yaml``, found from the current folder
upwards. What the user can fix (no repository, no metrics yet, an unknown study) is one line
``error: ...`` on stderr and exit status 1; ``repro`` exits with dvc's own status.

This module is part of the study tool, not of the library: ``ticketleak`` never imports it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from ticketleak.core import layout
from ticketleak.core.params import ParamsError
from ticketleak_studies import StudyError, cli, dvc_executable

PROG = "ticketleak"
FMT = argparse.RawDescriptionHelpFormatter


class ConsoleError(Exception):
    """A user error: printed as one line ``error: ...``, exit status 1."""


DESCRIPTION = """\
TicketLeak measures membership-inference leakage of pruned networks and lottery tickets, as a
DVC pipeline: train target and shadow models, prune them, attack them, and report how much
more (or less) a pruned network leaks than its dense parent. This command runs the pipeline,
prints its headline numbers and drives the seed studies (each seed paper's experiments as
named DVC experiments, and the report comparing their numbers with the seed's). It works on
the repository holding dvc.yaml, found from the current folder upwards."""

EXAMPLES = f"""\
examples:
  {PROG} repro                          # run the whole pipeline (dvc repro)
  {PROG} show                           # the headline table from metrics/summary.json
  {PROG} show --variant none            # one defense variant only
  {PROG} study list                     # the seed studies, their datasets and runs
  {PROG} study run seed003 --dataset digits
  {PROG} study report seed003
  {PROG} prune-lock                     # drop dvc.lock entries of stages dvc.yaml no longer has

`{PROG} COMMAND --help` describes each command."""

REPRO = """\
Run `dvc repro` in the repository (the folder holding dvc.yaml, searched upwards from the
current folder), with the dvc of the virtualenv this command is installed in (else the one on
PATH), DVC analytics off, and the virtualenv's bin first on PATH, since the stage commands call
`python`. Stage targets are passed to dvc as they are; any other `dvc repro` argument goes
after `--`. The exit status is dvc's.

With -j N the stages run in parallel on Dask distributed: every stage whose upstream stages are
finished starts at once, on N single-threaded local workers, or on the workers of an existing
Dask cluster (--scheduler tcp://HOST:8786; its workers must see this repository at the same
path). DVC still decides what is out of date, restores what its run cache holds, hashes the
outputs and writes dvc.lock, exactly as `dvc repro` would; a failed stage stops only the stages
downstream of it and is named, with the last lines of its output, when the rest have finished."""

REPRO_EXAMPLES = f"""\
examples:
  {PROG} repro                          # every stage that is out of date
  {PROG} repro aggregate                # up to the aggregate stage (metrics/summary.json)
  {PROG} repro -- --dry                 # print the stages that would run
  {PROG} repro -- -f train_target       # force a stage (any dvc repro option after --)
  {PROG} repro -j 2                     # two stages at a time on a local Dask cluster
  {PROG} repro -j 1 --scheduler tcp://head:8786   # on an existing Dask cluster"""

SHOW = """\
Print the headline table of the last pipeline run, read from metrics/summary.json (written by
the aggregate stage): one row per defense variant and pruning level, with the measured sparsity,
the target's train and test accuracy, the headline attack (attack.headline, named before looking
at the results), its AUC and TPR at 1% FPR, the cross-fitted best AUC (the best attack chosen on
one half of the evaluation set and scored on the other), and the AUC of the Shokri shadow attack,
the global loss threshold and online LiRA (`-` where the run has none). The full tables are in
reports/summary.md."""

SHOW_EXAMPLES = f"""\
examples:
  {PROG} show
  {PROG} show --variant none
  {PROG} show --variant none --variant l2"""

STUDY = cli.DESCRIPTION

#: (summary.json key, column heading) of the ``show`` table, after variant and level; numbers are
#: means over the training seeds (``seeds``: how many).
COLUMNS = (
    ("sparsity", "sparsity"),
    ("train_acc", "train acc"),
    ("test_acc", "test acc"),
    ("headline_attack", "headline"),
    ("headline_auc", "AUC"),
    ("headline_auc_seed_sd", "sd over seeds"),
    ("headline_tpr_at_1pct_fpr", "TPR@1%"),
    ("crossfit_best_auc", "cross-fitted best AUC"),
    ("shokri_auc", "Shokri AUC"),
    ("loss_auc", "loss AUC"),
    ("lira_auc", "LiRA AUC"),
    ("seeds", "seeds"),
)


def version() -> str:
    """The installed package's version (``pyproject.toml``), or ``unknown`` when not installed."""
    try:
        return metadata.version("ticketleak")
    except metadata.PackageNotFoundError:
        return "unknown"


def find_root(start: Path | None = None) -> Path:
    """The nearest folder holding dvc.yaml: ``start`` (the current folder) or one above it."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").is_file():
            return folder
    raise ConsoleError(f"no dvc.yaml in {here} or any folder above it: run {PROG} inside the TicketLeak repository")


# ---- repro ----------------------------------------------------------------------------------


def _jobs(text: str | None) -> int:
    """``-j N``: checked here rather than by argparse, so that a bad value is one line."""
    if text is None:
        return 1
    try:
        jobs = int(text)
    except ValueError:
        raise ConsoleError(f"-j/--jobs: expected a whole number of workers, got {text!r}") from None
    if jobs < 1:
        raise ConsoleError(f"-j/--jobs: expected at least 1 worker, got {jobs}")
    return jobs


def cmd_repro(args: argparse.Namespace) -> int:
    root = find_root()
    if args.jobs is not None or args.scheduler or args.no_preload:
        return _parallel_repro(root, args)
    if args.summary:
        raise ConsoleError("--summary needs -j N (the parallel runner counts the stages; dvc repro does not)")
    argv = [dvc_executable(), "repro", *args.targets, *args.dvc_args]
    try:
        proc = subprocess.Popen(argv, cwd=root, env=cli.dvc_env())
    except FileNotFoundError:
        raise ConsoleError("dvc not found beside this Python or on PATH; run `make setup` first") from None
    while True:
        try:
            rc = proc.wait()
            break
        except KeyboardInterrupt:  # dvc got the same Ctrl-C: let it stop its stage and clean up
            continue
    return 128 - rc if rc < 0 else rc  # killed by a signal: the shell's 128 + signal number


def _parallel_repro(root: Path, args: argparse.Namespace) -> int:
    jobs = _jobs(args.jobs)
    if args.dvc_args:
        raise ConsoleError(f"-j/--scheduler take no dvc repro arguments after `--` (got {' '.join(args.dvc_args)})")
    os.environ.update(cli.dvc_env())  # what the stage commands inherit, as under `ticketleak repro`
    from ticketleak_studies import runner

    try:
        outcome = runner.reproduce(root, args.targets, jobs, args.scheduler, say=lambda m: print(m, flush=True),
                                   preload=not args.no_preload)
    except runner.RunnerError as exc:
        raise ConsoleError(str(exc)) from None
    print(f"{len(outcome.ran)} stage(s) ran, {len(outcome.restored)} restored from the run cache, "
          f"{len(outcome.unchanged)} unchanged")
    if args.summary:
        counts = {"ran": len(outcome.ran), "restored": len(outcome.restored), "unchanged": len(outcome.unchanged),
                  "command_s": round(outcome.command_seconds, 1)}
        Path(args.summary).write_text(json.dumps(counts) + "\n")
    return 0


def cmd_prune_lock(args: argparse.Namespace) -> int:
    from ticketleak_studies import runner

    try:
        dropped = runner.prune_lock(find_root())
    except runner.RunnerError as exc:
        raise ConsoleError(str(exc)) from None
    for lock, names in dropped.items():
        print(f"{lock}: dropped {len(names)} entr{'y' if len(names) == 1 else 'ies'} of stages no longer defined: "
              f"{', '.join(names[:5])}{', ...' if len(names) > 5 else ''}")
    if not dropped:
        print("dvc.lock holds only stages that are defined: nothing to drop")
    return 0


# ---- show -----------------------------------------------------------------------------------


def _cell(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-" if value is None else str(value)
    if isinstance(value, int):
        return str(value)
    return "-" if math.isnan(value) else f"{value:.3f}"


def read_summary(root: Path) -> dict[str, dict[str, dict]]:
    """metrics/summary.json: variant -> level -> numbers (see ``ticketleak.report.summary_metrics``)."""
    path = root / layout.METRICS
    if not path.is_file():
        raise ConsoleError(f"{layout.METRICS} not found: run `{PROG} repro` first")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConsoleError(f"{layout.METRICS}: unreadable ({exc}); run `{PROG} repro` to rewrite it") from None
    if not isinstance(data, dict) or not all(
        isinstance(levels, dict) and all(isinstance(v, dict) for v in levels.values()) for levels in data.values()
    ):
        raise ConsoleError(f"{layout.METRICS}: expected variant -> level -> numbers; run `{PROG} repro` to rewrite it")
    return data


def table(summary: dict[str, dict[str, dict]], variants: list[str] | None = None) -> str:
    """The aligned headline table: one row per variant and level, in the file's order; a
    column that no row has (LiRA when no reference models ran) is left out."""
    if variants:
        unknown = [v for v in variants if v not in summary]
        if unknown:
            raise ConsoleError(f"no variant {', '.join(map(repr, unknown))} in {layout.METRICS} (it has: {', '.join(summary) or 'none'})")
        summary = {v: summary[v] for v in summary if v in variants}
    entries = [(variant, level, numbers) for variant, levels in summary.items() for level, numbers in levels.items()]
    if not entries:
        raise ConsoleError(f"{layout.METRICS} holds no rows: run `{PROG} repro` first")
    columns = [(key, head) for key, head in COLUMNS if any(key in numbers for _, _, numbers in entries)]
    rows = [["variant", "level", *(head for _, head in columns)]]
    rows += [[variant, level, *(_cell(numbers.get(key)) for key, _ in columns)] for variant, level, numbers in entries]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]

    def line(cells: list[str]) -> str:
        text = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))]
        return "  ".join(text).rstrip()

    return "\n".join([line(rows[0]), line(["-" * w for w in widths]), *map(line, rows[1:])])


def cmd_show(args: argparse.Namespace) -> int:
    print(table(read_summary(find_root()), args.variant))
    return 0


# ---- study ----------------------------------------------------------------------------------


def cmd_study(args: argparse.Namespace) -> int:
    cli.run(args, find_root())
    return 0


# ---- the command line -----------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION, epilog=EXAMPLES, formatter_class=FMT)
    top.add_argument("--version", action="version", version=f"{PROG} {version()}")
    sub = top.add_subparsers(dest="command", metavar="{repro,show,study,prune-lock}", required=True, title="commands")
    p = sub.add_parser("repro", help="run the pipeline (dvc repro) in the repository",
                       description=REPRO, epilog=REPRO_EXAMPLES, formatter_class=FMT, usage=f"{PROG} repro [-h] [-j N [--scheduler ADDRESS] [--no-preload] [--summary FILE]] [TARGET ...] [-- DVC_REPRO_ARGS ...]")
    p.add_argument("targets", nargs="*", metavar="TARGET", help="stages (or dvc.yaml paths) to reproduce; default: all")
    p.add_argument("-j", "--jobs", metavar="N", help="run up to N stages at once on a local Dask cluster")
    p.add_argument("--scheduler", metavar="ADDRESS", help="run the stages on this Dask scheduler's workers instead")
    p.add_argument("--no-preload", action="store_true",
                   help="start every stage command in a new process (default with -j: `python SCRIPT.py` commands "
                        "fork from an interpreter that has imported torch and friends once)")
    p.add_argument("--summary", metavar="FILE", help="with -j: write how many stages ran, were restored from the run cache "
                                                     "or were unchanged, and the commands' own seconds, as JSON")
    p.set_defaults(handler=cmd_repro, dvc_args=[])
    p = sub.add_parser("show", help="print the headline table from metrics/summary.json",
                       description=SHOW, epilog=SHOW_EXAMPLES, formatter_class=FMT)
    p.add_argument("--variant", action="append", metavar="V", help="only this defense variant (repeatable; default: all)")
    p.set_defaults(handler=cmd_show)
    p = sub.add_parser("study", help="list, run and report the seed studies",
                       description=STUDY, epilog=cli.EXAMPLES, formatter_class=FMT)
    cli.add_commands(p)  # its subcommands set `func`; ours is `handler`
    p.set_defaults(handler=cmd_study)
    p = sub.add_parser("prune-lock", help="drop dvc.lock entries of stages no longer in dvc.yaml",
                       description="Drop the dvc.lock entries of stages that dvc.yaml no longer defines (DVC keeps them, "
                                   "and every `dvc status` parses them). A stage that comes back is restored from the "
                                   "run cache.", formatter_class=FMT)
    p.set_defaults(handler=cmd_prune_lock)
    return top


def _split_passthrough(argv: list[str]) -> tuple[list[str], list[str]]:
    """``repro ... -- ARGS``: the ARGS after the first ``--`` go to dvc untouched (argparse's own
    handling of ``--`` differs between Python versions)."""
    command = next((i for i, a in enumerate(argv) if not a.startswith("-")), None)
    if command is not None and argv[command] == "repro" and "--" in argv[command:]:
        cut = argv.index("--", command)
        return argv[:cut], argv[cut + 1:]
    return argv, []


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ours, passthrough = _split_passthrough(argv)
    args = parser().parse_args(ours)
    if args.command == "repro":
        args.dvc_args = passthrough
    try:
        return args.handler(args)
    except (ConsoleError, StudyError, ParamsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    except BrokenPipeError:  # `ticketleak show | head`: the reader left; nothing to report
        cli.quiet_stdout()
        return 0


if __name__ == "__main__":
    sys.exit(main())
