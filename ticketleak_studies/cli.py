"""The seed-study commands (``list``, ``run``, ``report``): their arguments and what they do.

Two front ends share them: ``ticketleak study ...`` (:mod:`ticketleak_studies.console`) and the
thin wrapper ``python stages/study.py ...``. :func:`add_commands` adds the three subcommands to a
parser; :func:`run` runs the parsed command against a repository root and raises
:class:`StudyError` (or ``ParamsError``) for what the user can fix; :func:`main` is the whole
command line with one-line errors.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ticketleak_studies as studies
from ticketleak.core.params import ParamsError
from ticketleak.core.schema import read_yaml
from ticketleak_studies import StudyError, imports

#: How the messages name the command (the console script ``make setup`` installs).
PROG = "ticketleak study"

DESCRIPTION = """\
Seed studies: run a study's named DVC experiments, or write its report (reports/<study>.md).

Each seed paper's experiments are a named study, a preset in studies/<study>.yaml (the params
keys every run sets, per dataset and scale). `run` checks every run of the study against the
params schema, then runs its `dvc exp run -n <study>-<dataset>[-paper]-<run> -S ...` commands
one after another in the workspace, keeping each run's wall time in
reports/<study>[-paper]/runs.json. `report` finds each run's experiment (`dvc exp show`), reads
its results from the experiment's commit and writes reports/<study>[-paper].md. This is a tool,
not a pipeline stage: it drives DVC rather than being run by it."""

EXAMPLES = f"""\
examples:
  {PROG} list
  {PROG} run seed003 --dataset digits --dry-run
  {PROG} run seed003 --dataset digits
  {PROG} report seed003
  {PROG} report seed003 --scale paper"""

_LIST = """\
List every study (studies/*.yaml): its title, and per scale (cpu, paper) its datasets and the
names of its runs."""

_RUN = """\
Check every run of the study against the params schema, then run its `dvc exp run -n
<study>-<dataset>[-paper]-<run> -S ...` commands one after another in the workspace, printing
progress and keeping each run's wall time and exit status in reports/<study>[-paper]/runs.json.
With -j N each run's stages go N at a time through the parallel runner (`ticketleak repro -j N`)
and the run is recorded with `dvc exp save -n <experiment>`: the same experiment, faster.
It refuses to start when params.yaml differs from the last commit outside the study's keys
(values an earlier experiment left behind would leak into every run); `git checkout
params.yaml` clears them. It stops at the first failing run. With --queue it queues the runs
(`dvc exp run --queue`) instead; `dvc queue start -j N` runs them, N at a time, each in a
temporary copy of the repository. Data a study reads from outside the repository (its preset's
`imports`, e.g. the CIFAR-10 JPEG copy) is first brought in with `dvc import-url` into
data/external/ and staged in Git, so that every copy, the queue's included, finds it."""

_RUN_EXAMPLES = f"""\
examples:
  {PROG} run seed003 --dataset digits --dry-run     # print the dvc exp run commands only
  {PROG} run seed003 --dataset digits               # every run, one after another
  {PROG} run seed003 --dataset digits --only base   # one run
  {PROG} run seed003 --dataset digits -j 2          # each run's stages two at a time
  {PROG} run seed003 --dataset cifar10 --queue      # queue the runs, then: dvc queue start -j 2
  {PROG} run seed000 --dataset cifar10 --scale paper --force"""

_REPORT = """\
Find each run's experiment with `dvc exp show --json -A`, read the result files of its commit
(`git show`) and write reports/<study>.md (reports/<study>-paper.md at paper scale): a section
per dataset, the seed's numbers beside ours, computed verdicts, and the figures copied into
reports/<study>[-paper]/. `--source DATASET/RUN=workspace` reads that run from the workspace
instead (right after a plain `dvc repro` with the study's params), and
`--source DATASET/RUN=<rev>` from any commit or experiment name."""

_REPORT_EXAMPLES = f"""\
examples:
  {PROG} report seed003
  {PROG} report seed003 --scale paper
  {PROG} report seed003 --dataset digits --source digits/base=workspace"""


def dvc_env() -> dict[str, str]:
    """The environment for a ``dvc`` child: no analytics, and the running Python's folder (the
    project's virtualenv) first on PATH, since stage commands call ``python``."""
    return {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def add_commands(parser: argparse.ArgumentParser) -> None:
    """Add the ``list``, ``run`` and ``report`` subcommands (each sets ``func``) to ``parser``."""
    fmt = argparse.RawDescriptionHelpFormatter
    sub = parser.add_subparsers(dest="study_command", metavar="{list,run,report}", required=True)
    p = sub.add_parser("list", help="list the studies, their datasets and runs", description=_LIST, formatter_class=fmt)
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("run", help="run a study's experiments with dvc exp run", description=_RUN, epilog=_RUN_EXAMPLES, formatter_class=fmt)
    p.add_argument("study", help="the study's name (see `list`), e.g. seed003")
    p.add_argument("--dataset", required=True, help="a dataset of the study at this scale (e.g. digits, cifar10)")
    p.add_argument("--scale", choices=studies.SCALES, default="cpu", help="cpu (default) or the seed's own scale (paper)")
    p.add_argument("--only", nargs="+", metavar="RUN", help="run only these runs")
    p.add_argument("--dry-run", action="store_true", help="print the dvc exp run commands, run nothing")
    p.add_argument("--force", action="store_true", help="overwrite experiments of the same name (dvc exp run -f)")
    p.add_argument("--allow-dirty-params", action="store_true", help="run although params.yaml differs from HEAD outside the study's keys")
    p.add_argument("-j", "--jobs", type=_jobs, default=None, metavar="N",
                   help="run each experiment's stages N at a time (ticketleak repro -j N: the same outputs and dvc.lock), "
                        "then record it with dvc exp save; default: dvc exp run, one stage at a time")
    p.add_argument("--queue", action="store_true",
                   help="queue the runs with dvc exp run --queue (start them with dvc queue start -j N); no wall times are kept")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("report", help="write reports/<study>[-paper].md from the study's experiments",
                       description=_REPORT, epilog=_REPORT_EXAMPLES, formatter_class=fmt)
    p.add_argument("study", help="the study's name (see `list`), e.g. seed003")
    p.add_argument("--dataset", action="append", help="only this dataset (repeatable; default: every dataset of the scale)")
    p.add_argument("--scale", choices=studies.SCALES, default="cpu", help="cpu (default) or paper")
    p.add_argument("--source", action="append", default=[], metavar="DATASET/RUN=REF",
                   help="read that run from REF: workspace, an experiment name or a git rev (repeatable)")
    p.add_argument("--allow-missing", action="store_true",
                   help="write the report even when runs the existing report was written from are not found now")
    p.set_defaults(func=cmd_report)


def _jobs(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number of stages at a time, got {text!r}")
    return int(text)


def run(args: argparse.Namespace, root: Path) -> None:
    """Run the parsed study command in the repository at ``root``."""
    args.func(args, root)


def main(argv: list[str] | None = None, root: Path | None = None, prog: str | None = None) -> None:
    """The study command line on its own (``python stages/study.py``): parse, run, and turn
    study and params errors into one line on stderr with exit status 1."""
    parser = argparse.ArgumentParser(prog=prog, description=DESCRIPTION, epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_commands(parser)
    args = parser.parse_args(argv)
    try:
        run(args, root if root is not None else Path.cwd())
    except (StudyError, ParamsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except BrokenPipeError:  # `... list | head`: the reader left; nothing to report
        quiet_stdout()


def quiet_stdout() -> None:
    """Point stdout at /dev/null after a broken pipe, so that the flush at exit stays silent."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


# ---- the commands -------------------------------------------------------------------------


def _baselines(study: studies.Study, root: Path) -> tuple[dict, dict | None, dict]:
    """(workspace params, committed params or None, the clean baseline the runs resolve on)."""
    path = root / "params.yaml"
    if not path.is_file():
        raise StudyError(f"{path}: params file not found")
    workspace = read_yaml(path, error=StudyError) or {}
    head = studies.git_params(root)
    return workspace, head, studies.clean_baseline(workspace, head, studies.study_keys(study))


def cmd_list(args: argparse.Namespace, root: Path) -> None:
    """Every study, its datasets per scale and its runs."""
    for name in studies.available(root):
        s = studies.load_study(name, root)
        print(f"{name}: {s.title} ({s.path})")
        for scale in studies.SCALES:
            print(f"  {scale}: datasets {', '.join(s.datasets(scale))}; runs {', '.join(r.name for r in s.runs_at(scale))}")


def cmd_run(args: argparse.Namespace, root: Path) -> None:
    """Check the study, then run (or print) its dvc exp run commands in order."""
    study = studies.load_study(args.study, root)
    workspace, head, baseline = _baselines(study, root)
    studies.check_study(study, baseline)
    commands = studies.build_commands(study, args.scale, args.dataset, baseline, args.only)
    if args.queue and args.jobs:
        raise StudyError("--queue and -j: choose one (the queue's own -j is `dvc queue start -j N`)")
    wanted = imports.needed(study, commands)
    if args.dry_run:
        for target, source in wanted.items():
            if not (root / f"{target}.dvc").is_file():
                print(shlex.join(imports.import_argv(root, target, source)))
        for c in commands:
            print(shlex.join(c.argv(force=args.force) + (["--queue"] if args.queue else [])))
        return
    strays = studies.stray_keys(workspace, head, studies.study_keys(study)) if head is not None else []
    if strays and not args.allow_dirty_params:
        raise StudyError(
            f"params.yaml differs from the last commit at {', '.join(strays[:4])}{' ...' if len(strays) > 4 else ''} "
            "(outside this study's keys: every run would inherit it); `git checkout params.yaml` first, "
            "or pass --allow-dirty-params"
        )
    imports.check_in_place(commands, baseline, root)
    log_path = studies.runs_log_path(study, args.scale, root)
    env = dvc_env()
    for target, source in wanted.items():
        if imports.ensure(root, target, source, studies.dvc_executable(), env):
            print(f"[study {study.name} {args.dataset}] imported {source} as {target} (dvc import-url; {target}.dvc staged)", flush=True)
    if args.queue:
        for c in commands:
            rc = subprocess.call(c.argv(studies.dvc_executable(), force=args.force) + ["--queue"], cwd=root, env=env)
            if rc != 0:
                raise StudyError(f"dvc exp run --queue failed for {c.exp} (exit {rc}); later runs not queued")
            _log_queued(log_path, c)
        print(f"[study {study.name} {args.dataset}] {len(commands)} runs queued; start them with `dvc queue start -j 2`, "
              f"follow them with `dvc queue status`; report: {PROG} report {study.name}")
        return
    for i, c in enumerate(commands, 1):
        print(f"[study {study.name} {args.dataset}] {i}/{len(commands)}: run '{c.run}' as experiment {c.exp}", flush=True)
        print(f"  {c.shell(force=args.force)}", flush=True)
        start = time.monotonic()
        stages = None
        if args.jobs:
            rc, stages = _run_parallel(c, root, env, args.jobs, args.force)
        else:
            rc = subprocess.call(c.argv(studies.dvc_executable(), force=args.force), cwd=root, env=env)
        wall = time.monotonic() - start
        _log_run(log_path, c, rc, wall, args.jobs, stages)
        if rc != 0:
            raise StudyError(
                f"{'ticketleak repro / dvc exp save' if args.jobs else 'dvc exp run'} failed for {c.exp} (exit {rc}) after "
                f"{studies.duration(wall)}; later runs not started "
                "(if DVC says the experiment exists, rerun with --force)"
            )
        print(f"[study {study.name} {args.dataset}] {c.exp} done in {studies.duration(wall)}", flush=True)
    print(f"[study {study.name} {args.dataset}] all {len(commands)} runs done; "
          f"report: {PROG} report {study.name}{' --scale paper' if args.scale == 'paper' else ''}")


def _run_parallel(c: studies.Command, root: Path, env: dict[str, str], jobs: int, force: bool) -> tuple[int, dict | None]:
    """One experiment through the parallel runner: set its params in params.yaml (comments kept,
    as `dvc exp run -S` does), `ticketleak repro -j N`, then `dvc exp save -n <exp>`, which
    records the workspace (params, dvc.lock, Git-tracked outputs) as the experiment. Returns the
    exit status and the runner's stage counts (how many ran, were restored, were unchanged)."""
    from ruamel.yaml import YAML

    yaml = YAML()  # round trip: comments and key order stay
    yaml.default_flow_style = None  # new lists and mappings inline, as params.yaml writes them
    path = root / "params.yaml"
    data = yaml.load(path.read_text())
    for key, value in c.settings:
        *parents, last = key.split(".")
        node = data
        for k in parents:
            node = node.setdefault(k, {})
        node[last] = value
    with path.open("w") as f:
        yaml.dump(data, f)
    runner = Path(sys.executable).parent / "ticketleak"
    with tempfile.TemporaryDirectory() as tmp:
        summary = Path(tmp) / "stages.json"
        rc = subprocess.call([str(runner) if runner.is_file() else "ticketleak", "repro", "-j", str(jobs), "--summary", str(summary)],
                             cwd=root, env=env)
        stages = json.loads(summary.read_text()) if summary.is_file() else None
    if rc != 0:
        return rc, stages
    include = [x for path in _new_git_outputs(root) for x in ("-I", path)]
    return subprocess.call([studies.dvc_executable(), "exp", "save", "-n", c.exp, *(["-f"] if force else []), *include],
                           cwd=root, env=env), stages


def _new_git_outputs(root: Path) -> list[str]:
    """Files the pipeline wrote that Git does not track yet, which `dvc exp save` would leave out
    (`dvc exp run` includes them): outputs kept in Git (`cache: false`, such as a new level's
    results JSON) and the .gitignore files DVC writes beside cached outputs. Any other untracked
    file stays out of the experiment."""
    from dvc.repo import Repo

    proc = subprocess.run(["git", "ls-files", "--others", "--exclude-standard", "-z"], cwd=root, capture_output=True, check=True)
    untracked = [p for p in proc.stdout.decode().split("\0") if p]
    with Repo(str(root)) as repo:
        kept = [Path(o.fs_path).resolve().relative_to(Path(root).resolve()).as_posix() for o in repo.index.outs if not o.use_cache]
    return [p for p in untracked
            if Path(p).name == ".gitignore" or any(p == k or p.startswith(k.rstrip("/") + "/") for k in kept)]


def _log_run(path: Path, c: studies.Command, rc: int, wall: float, jobs: int | None = None, stages: dict | None = None) -> None:
    """Record one run's wall time and exit status (the report prints the wall time), and with the
    parallel runner how many stages ran and how many were restored from the run cache (a wall
    time with restored stages is not what the run costs from nothing, and the report says so)."""
    entry = {"wall_s": round(wall, 1), "rc": rc, "finished": time.strftime("%Y-%m-%dT%H:%M:%S"), "command": c.shell()}
    _log_entry(path, c.exp, {**entry, **({"jobs": jobs} if jobs else {}), **({"stages": stages} if stages else {})})


def _log_queued(path: Path, c: studies.Command) -> None:
    """A queued run's entry replaces any earlier one of that name: the queue keeps no wall time,
    and an earlier run's time must not be reported as this one's."""
    _log_entry(path, c.exp, {"queued": time.strftime("%Y-%m-%dT%H:%M:%S"), "rc": None, "command": c.shell()})


def _log_entry(path: Path, exp: str, entry: dict) -> None:
    log = studies.read_runs_log(path)
    log[exp] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(log, indent=2) + "\n")
    tmp.replace(path)


def _parse_sources(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, ref = item.partition("=")
        if not sep or "/" not in key or not ref:
            raise StudyError(f"--source {item!r}: expected DATASET/RUN=REF (REF: workspace, an experiment name or a git rev)")
        out[key] = ref
    return out


def cmd_report(args: argparse.Namespace, root: Path) -> None:
    """Gather the study's experiments and write its Markdown report."""
    study = studies.load_study(args.study, root)
    datasets = args.dataset or study.datasets(args.scale)
    overrides = _parse_sources(args.source)
    every_run_overridden = all(f"{d}/{r.name}" in overrides for d in datasets for r in study.runs_at(args.scale))
    refs = {} if every_run_overridden else studies.parse_exp_show(studies.exp_show_json(root))
    log = studies.read_runs_log(studies.runs_log_path(study, args.scale, root))
    walls = {name: entry["wall_s"] for name, entry in log.items() if entry.get("rc") == 0}
    notes = {name: studies.wall_note(entry) for name, entry in log.items() if entry.get("rc") == 0}
    report_dir = studies.report_path(study, args.scale, root).parent / studies.figure_dir(study, args.scale)
    find = studies.exp_sources(root, refs, overrides, report_dir)
    recorders: dict[str, studies.RecordingSource] = {}

    def recorded(dataset: str, run: str, name: str) -> studies.Source | None:
        src = find(dataset, run, name)
        if src is None:
            return None
        recorders[name] = studies.RecordingSource(src)
        return recorders[name]

    gathered = studies.gather(study, args.scale, datasets, recorded, walls, notes)
    before = studies.report_path(study, args.scale, root)
    lost = sorted(studies.found_in(before) & set(gathered.missing()))
    if lost and not args.allow_missing:
        raise StudyError(
            f"{before.relative_to(root)} was written from {len(lost)} run(s) not found now ({', '.join(lost[:3])}"
            f"{', ...' if len(lost) > 3 else ''}): their experiments are not in this repository (a clone has no "
            "refs/exps); kept as it is. --source DATASET/RUN=REF reads a run from elsewhere, --allow-missing "
            "writes the report without them")
    out = studies.write_report(gathered, root)
    for name, source in recorders.items():  # what a clone, without the experiments, reads instead
        studies.save_inputs(report_dir, name, source)
    found = len(gathered.present())
    print(f"wrote {out.relative_to(root)} ({found} of {len(gathered.runs)} runs found)")
    for name in gathered.missing():
        print(f"  not found: {name}")
