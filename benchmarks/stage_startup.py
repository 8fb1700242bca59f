"""How much of a `dvc repro` is Python start-up and imports rather than work.

Times `python stages/<script>.py --help` (which pays every top-level import, then exits) for each
stage script, as a new process (how `dvc repro` starts a stage) and forked from the parallel
runner's preloaded interpreter (how `ticketleak repro -j N` starts one), counts the stages in
dvc.lock that run it, and compares the sums with a measured wall time:

    python benchmarks/stage_startup.py --wall 189
"""

import argparse
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import yaml


def startup_seconds(script: Path, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, str(script), "--help"], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def preloaded_seconds(script: Path, repeats: int) -> float:
    """The same, forked from the runner's preloaded interpreter (its first start excluded)."""
    import os
    import tempfile

    from ticketleak_studies import runner

    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        log = str(Path(tmp) / "log")
        runner.execute([f"python {script} --help"], str(Path.cwd()), env, log)  # starts the server
        for _ in range(repeats):
            rc, seconds = runner.execute([f"python {script} --help"], str(Path.cwd()), env, log)
            if rc != 0:
                raise SystemExit(f"{script} --help failed under the runner: {Path(log).read_text()[-2000:]}")
            times.append(seconds)
    return statistics.median(times)


#: Imported at first use, after start-up: torch._dynamo by a stage's first optimizer, dvc.repo by
#: dvclive's logger. `--help` never reaches them, so they are timed on their own.
LATE = ("torch._dynamo", "dvc.repo")


def late_import_seconds(repeats: int) -> float:
    """Seconds a new process spends importing LATE after torch and dvclive (the median)."""
    code = ("import time, torch, dvclive; t = time.perf_counter(); "
            + "; ".join(f"import {m}" for m in LATE) + "; print(time.perf_counter() - t)")
    return statistics.median(float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                                  text=True).stdout) for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wall", type=float, help="measured `dvc repro` wall time in seconds")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    lock = yaml.safe_load(Path("dvc.lock").read_text())["stages"]
    from dvc.repo import Repo

    current = {stage.addressing for stage in Repo().index.stages}  # the lock may hold stages dvc.yaml no longer has
    counts = Counter(stage["cmd"].split()[1] for name, stage in lock.items() if name in current)
    total = fast = 0.0
    print(f"{'script':28s} {'stages':>6s} {'process s':>9s} {'preloaded s':>11s} {'total s':>8s} {'preloaded total s':>17s}")
    for script, n in sorted(counts.items()):
        t = startup_seconds(Path(script), args.repeats)
        f = preloaded_seconds(Path(script), args.repeats)
        total, fast = total + n * t, fast + n * f
        print(f"{script:28s} {n:6d} {t:9.2f} {f:11.2f} {n * t:8.1f} {n * f:17.1f}")
    print(f"{'all':28s} {sum(counts.values()):6d} {'':9s} {'':11s} {total:8.1f} {fast:17.1f}")
    from ticketleak_studies import runner

    late = late_import_seconds(args.repeats)
    preloaded = "0 preloaded (the runner's fork server imports them)" if set(LATE) <= set(runner.PRELOAD) else "not preloaded"
    print(f"and at first use, in every stage that trains or logs: {', '.join(LATE)}: {late:.2f} s as a process, {preloaded}")
    if args.wall:
        print(f"start-up share of a {args.wall:.0f} s run: {total / args.wall:.0%} as processes, {fast / args.wall:.0%} preloaded")


if __name__ == "__main__":
    main()
