"""Seed studies: run a study's named DVC experiments, or write its report (reports/<study>.md).

    python stages/study.py list
    python stages/study.py run seed003 --dataset digits [--scale paper] [--only base] [--dry-run] [--force]
    python stages/study.py report seed003 [--dataset digits] [--scale paper] [--source digits/base=workspace]

`run` checks every run of the study against the params schema, then runs its `dvc exp run -n
<study>-<dataset>[-paper]-<run> -S ...` commands one after another in the workspace, printing
progress and keeping each run's wall time in reports/<study>[-paper]/runs.json. It refuses to
start when params.yaml differs from the last commit outside the study's keys (values an earlier
experiment left behind would leak into every run); `git checkout params.yaml` clears them.

`report` finds each run's experiment with `dvc exp show --json -A`, reads the result files of its
commit (`git show`), and writes reports/<study>.md (reports/<study>-paper.md at paper scale): a
section per dataset, the seed's numbers beside ours, computed verdicts, and the figures copied
into reports/<study>[-paper]/. `--source DATASET/RUN=workspace` reads that run from the
workspace instead (right after a plain `dvc repro` with the study's params), and
`--source DATASET/RUN=<rev>` from any commit or experiment name.

This is a tool, not a pipeline stage: it drives DVC rather than being run by it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import ticketleak_studies as studies
from ticketleak.params import ParamsError
from ticketleak.schema import read_yaml
from ticketleak_studies import StudyError

ROOT = Path(__file__).resolve().parents[1]


def _baselines(study: studies.Study) -> tuple[dict, dict | None, dict]:
    """(workspace params, committed params or None, the clean baseline the runs resolve on)."""
    path = ROOT / "params.yaml"
    if not path.is_file():
        raise StudyError(f"{path}: params file not found")
    workspace = read_yaml(path, error=StudyError) or {}
    head = studies.git_params(ROOT)
    return workspace, head, studies.clean_baseline(workspace, head, studies.study_keys(study))


def cmd_list(args: argparse.Namespace) -> None:
    """Every study, its datasets per scale and its runs."""
    for name in studies.available(ROOT):
        s = studies.load_study(name, ROOT)
        print(f"{name}: {s.title} ({s.path})")
        for scale in studies.SCALES:
            print(f"  {scale}: datasets {', '.join(s.datasets(scale))}; runs {', '.join(r.name for r in s.runs_at(scale))}")


def cmd_run(args: argparse.Namespace) -> None:
    """Check the study, then run (or print) its dvc exp run commands in order."""
    study = studies.load_study(args.study, ROOT)
    workspace, head, baseline = _baselines(study)
    studies.check_study(study, baseline)
    commands = studies.build_commands(study, args.scale, args.dataset, baseline, args.only)
    if args.dry_run:
        for c in commands:
            print(c.shell(force=args.force))
        return
    strays = studies.stray_keys(workspace, head, studies.study_keys(study)) if head is not None else []
    if strays and not args.allow_dirty_params:
        raise StudyError(
            f"params.yaml differs from the last commit at {', '.join(strays[:4])}{' ...' if len(strays) > 4 else ''} "
            "(outside this study's keys: every run would inherit it); `git checkout params.yaml` first, "
            "or pass --allow-dirty-params"
        )
    log_path = studies.runs_log_path(study, args.scale, ROOT)
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    for i, c in enumerate(commands, 1):
        print(f"[study {study.name} {args.dataset}] {i}/{len(commands)}: run '{c.run}' as experiment {c.exp}", flush=True)
        print(f"  {c.shell(force=args.force)}", flush=True)
        start = time.monotonic()
        rc = subprocess.call(c.argv(studies.dvc_executable(), force=args.force), cwd=ROOT, env=env)
        wall = time.monotonic() - start
        _log_run(log_path, c, rc, wall)
        if rc != 0:
            raise StudyError(
                f"dvc exp run failed for {c.exp} (exit {rc}) after {studies.duration(wall)}; later runs not started "
                "(if DVC says the experiment exists, rerun with --force)"
            )
        print(f"[study {study.name} {args.dataset}] {c.exp} done in {studies.duration(wall)}", flush=True)
    print(f"[study {study.name} {args.dataset}] all {len(commands)} runs done; "
          f"report: python stages/study.py report {study.name}{' --scale paper' if args.scale == 'paper' else ''}")


def _log_run(path: Path, c: studies.Command, rc: int, wall: float) -> None:
    """Record one run's wall time and exit status (the report prints the wall time)."""
    log = studies.read_runs_log(path)
    log[c.exp] = {"wall_s": round(wall, 1), "rc": rc, "finished": time.strftime("%Y-%m-%dT%H:%M:%S"), "command": c.shell()}
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


def cmd_report(args: argparse.Namespace) -> None:
    """Gather the study's experiments and write its Markdown report."""
    study = studies.load_study(args.study, ROOT)
    datasets = args.dataset or study.datasets(args.scale)
    overrides = _parse_sources(args.source)
    every_run_overridden = all(f"{d}/{r.name}" in overrides for d in datasets for r in study.runs_at(args.scale))
    refs = {} if every_run_overridden else studies.parse_exp_show(studies.exp_show_json(ROOT))
    log = studies.read_runs_log(studies.runs_log_path(study, args.scale, ROOT))
    walls = {name: entry["wall_s"] for name, entry in log.items() if entry.get("rc") == 0}
    gathered = studies.gather(study, args.scale, datasets, studies.exp_sources(ROOT, refs, overrides), walls)
    out = studies.write_report(gathered, ROOT)
    found = len(gathered.present())
    print(f"wrote {out.relative_to(ROOT)} ({found} of {len(gathered.runs)} runs found)")
    for name in gathered.missing():
        print(f"  not found: {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the studies, their datasets and runs").set_defaults(func=cmd_list)
    p = sub.add_parser("run", help="run a study's experiments with dvc exp run")
    p.add_argument("study")
    p.add_argument("--dataset", required=True, help="a dataset of the study at this scale (e.g. digits, cifar10)")
    p.add_argument("--scale", choices=studies.SCALES, default="cpu", help="cpu (default) or the seed's own scale (paper)")
    p.add_argument("--only", nargs="+", metavar="RUN", help="run only these runs")
    p.add_argument("--dry-run", action="store_true", help="print the dvc exp run commands, run nothing")
    p.add_argument("--force", action="store_true", help="overwrite experiments of the same name (dvc exp run -f)")
    p.add_argument("--allow-dirty-params", action="store_true", help="run although params.yaml differs from HEAD outside the study's keys")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("report", help="write reports/<study>[-paper].md from the study's experiments")
    p.add_argument("study")
    p.add_argument("--dataset", action="append", help="only this dataset (repeatable; default: every dataset of the scale)")
    p.add_argument("--scale", choices=studies.SCALES, default="cpu")
    p.add_argument("--source", action="append", default=[], metavar="DATASET/RUN=REF",
                   help="read that run from REF: workspace, an experiment name or a git rev (repeatable)")
    p.set_defaults(func=cmd_report)
    args = parser.parse_args()
    try:
        args.func(args)
    except (StudyError, ParamsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
