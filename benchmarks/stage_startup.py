"""How much of a `dvc repro` is Python start-up and imports rather than work.

Times `python stages/<script>.py --help` (which pays every top-level import, then exits) for each
stage script, counts the stages in dvc.lock that run it, and compares the sum with a measured
`dvc repro` wall time:

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wall", type=float, help="measured `dvc repro` wall time in seconds")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    lock = yaml.safe_load(Path("dvc.lock").read_text())["stages"]
    counts = Counter(stage["cmd"].split()[1] for stage in lock.values())
    total = 0.0
    print(f"{'script':28s} {'stages':>6s} {'start-up s':>10s} {'total s':>8s}")
    for script, n in sorted(counts.items()):
        t = startup_seconds(Path(script), args.repeats)
        total += n * t
        print(f"{script:28s} {n:6d} {t:10.2f} {n * t:8.1f}")
    print(f"{'all':28s} {sum(counts.values()):6d} {'':10s} {total:8.1f}")
    if args.wall:
        print(f"start-up share of a {args.wall:.0f} s repro: {total / args.wall:.0%}")


if __name__ == "__main__":
    main()
