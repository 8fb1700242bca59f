"""DVC's bookkeeping per stage, with `dvc repro` and with the parallel runner, on grids shaped like ours.

Builds, in a temporary folder, a git + DVC project of N trivial stages shaped like the pipeline's
prune stages: a `train` matrix (one model per tenth of the grid) and a `prune` matrix (nine levels
per model), each stage with 10 code dependencies, two params groups, its upstream output and a
directory output. Each command writes one small file (about 30 ms, Python start-up included). For
each N it runs the whole grid from scratch and reports

* overhead per stage: (wall time - the commands' own time) / N, where the commands' own time is
  measured by running every command once outside DVC;
* no-op status: `dvc status` on the finished grid, and a second run of the same command (nothing to do).

    python benchmarks/dvc_overhead.py                       # 100, 300 and 1000 stages, runner -j 1
    python benchmarks/dvc_overhead.py --sizes 100 300 --dvc # also plain `dvc repro` (slow past 300)

`dvc repro` is only timed with --dvc: past about 300 stages each further stage costs it seconds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
DVC = str(BIN / "dvc") if (BIN / "dvc").exists() else shutil.which("dvc") or "dvc"
TICKETLEAK = str(BIN / "ticketleak") if (BIN / "ticketleak").exists() else shutil.which("ticketleak") or "ticketleak"
LEVELS = 9
CODE = [f"lib/m{i}.py" for i in range(10)]

STAGE = """\
import sys
from pathlib import Path
kind, model, level = sys.argv[1], sys.argv[2], sys.argv[3]
out = Path("out") / kind / f"{model}-{level}"
out.mkdir(parents=True, exist_ok=True)
(out / "result.txt").write_text(f"{kind} {model} {level}\\n")
"""


def build(root: Path, stages: int) -> list[list[str]]:
    """Write the project; return the commands it runs, in an order that respects the graph."""
    models = max(1, stages // (LEVELS + 1))
    (root / "lib").mkdir(parents=True)
    for path in CODE:
        (root / path).write_text(f"# code dependency {path}\n")
    (root / "stage.py").write_text(STAGE)
    (root / "params.yaml").write_text("train:\n  epochs: 2\n  lr: 0.01\nprune:\n  rewind: 1\n")
    deps = "\n".join(f"      - {p}" for p in ["stage.py", *CODE])
    (root / "dvc.yaml").write_text(f"""\
stages:
  train:
    matrix:
      model: {list(range(models))}
    cmd: python stage.py train ${{item.model}} dense
    deps:
{deps}
    params: [train]
    outs:
      - out/train/${{item.model}}-dense
  prune:
    matrix:
      model: {list(range(models))}
      level: {list(range(LEVELS))}
    cmd: python stage.py prune ${{item.model}} ${{item.level}}
    deps:
{deps}
      - out/train/${{item.model}}-dense
    params: [train, prune]
    outs:
      - out/prune/${{item.model}}-${{item.level}}
""")
    env = _env()
    for cmd in (["git", "init", "-q"], [DVC, "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.name=b", "-c", "user.email=b@b.invalid", "commit", "-qm", "grid"]):
        subprocess.run(cmd, cwd=root, env=env, check=True)
    return ([["python", "stage.py", "train", str(m), "dense"] for m in range(models)]
            + [["python", "stage.py", "prune", str(m), str(lv)] for m in range(models) for lv in range(LEVELS)])


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DVC_", "GIT_"))}
    env.update(DVC_NO_ANALYTICS="1", PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}")
    return env


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=_env(), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def commands_time(commands: list[list[str]], stages: int) -> float:
    """The commands' own time, run once each in a scratch copy outside DVC."""
    with tempfile.TemporaryDirectory() as scratch:
        build(Path(scratch) / "p", stages)
        return sum(timed(cmd, Path(scratch) / "p") for cmd in commands)


def measure(stages: int, tool: str, jobs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "grid"
        commands = build(root, stages)
        n = len(commands)
        # the runner without its preloaded interpreter: these trivial commands import nothing, so
        # forking from an interpreter holding torch would only add to their own time
        run = [DVC, "repro", "-q"] if tool == "dvc" else [TICKETLEAK, "repro", "-j", str(jobs), "--no-preload"]
        wall = timed(run, root)
        status = timed([DVC, "status", "-q"], root)
        noop = timed(run, root)
    own = commands_time(commands, stages)
    return {"stages": n, "wall": wall, "own": own, "per_stage": (wall - own / jobs) / n, "status": status, "noop": noop}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--jobs", type=int, default=1, help="runner workers (default 1: overhead, not parallelism)")
    parser.add_argument("--dvc", action="store_true", help="also time plain `dvc repro`")
    args = parser.parse_args()
    tools = (["dvc"] if args.dvc else []) + ["runner"]
    print(f"{'tool':>10s} {'stages':>6s} {'wall s':>8s} {'cmds s':>7s} {'overhead s/stage':>16s} "
          f"{'no-op status s':>15s} {'no-op rerun s':>13s}", flush=True)
    for size in args.sizes:
        for tool in tools:
            r = measure(size, tool, 1 if tool == "dvc" else args.jobs)
            name = "dvc repro" if tool == "dvc" else f"runner -j{args.jobs}"
            print(f"{name:>10s} {r['stages']:6.0f} {r['wall']:8.1f} {r['own']:7.1f} {r['per_stage']:16.3f} "
                  f"{r['status']:15.2f} {r['noop']:13.2f}", flush=True)


if __name__ == "__main__":
    main()
