"""The parallel runner (``ticketleak repro -j``) against ``dvc repro`` on a small DVC project made
here: the same outputs, the same dvc.lock and run-cache entries; a failed stage stops only its
dependents; a killed run completes when started again; bad input is one line."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

pytest.importorskip("dvc")
pytest.importorskip("distributed")

from ticketleak_studies import runner

VENV_BIN = Path(sys.executable).parent
DVC = str(VENV_BIN / "dvc") if (VENV_BIN / "dvc").exists() else shutil.which("dvc") or "dvc"
TICKETLEAK = str(VENV_BIN / "ticketleak") if (VENV_BIN / "ticketleak").exists() else shutil.which("ticketleak") or "ticketleak"

STEP = """\
import json, os, sys, time
kind, i = sys.argv[1], int(sys.argv[2])
time.sleep(float(os.environ.get("STEP_SLEEP", "0.2")))
if kind == "gen":
    open(f"out/g{i}.txt", "w").write(str(i) * (i + 1))
elif kind == "sq":
    if os.path.exists(f"fail{i}"):
        print("about to fail"); raise SystemExit(f"stage sq {i}: told to fail")
    text = open(f"out/g{i}.txt").read()
    os.makedirs(f"out/sq{i}", exist_ok=True)
    open(f"out/sq{i}/a.txt", "w").write(text * 2)
    open(f"out/sq{i}/b.txt", "w").write(text[::-1])
else:
    parts = [open(f"out/sq{j}/a.txt").read() for j in range(4)]
    open("out/total.txt", "w").write("".join(parts))
    json.dump({"chars": sum(map(len, parts))}, open("metrics.json", "w"))
"""

DVC_YAML = """\
stages:
  gen:
    matrix:
      i: [0, 1, 2, 3]
    cmd: python step.py gen ${item.i}
    deps: [step.py]
    outs:
      - out/g${item.i}.txt
  sq:
    matrix:
      i: [0, 1, 2, 3]
    cmd: python step.py sq ${item.i}
    deps:
      - step.py
      - out/g${item.i}.txt
    outs:
      - out/sq${item.i}
  total:
    cmd: python step.py total 0
    deps: [step.py, out/sq0, out/sq1, out/sq2, out/sq3]
    outs: [out/total.txt]
    metrics:
      - metrics.json:
          cache: false
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DVC_", "GIT_"))}
    env.update(DVC_NO_ANALYTICS="1", PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}", **extra)
    return env


def _run(root: Path, *cmd: str, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(cmd), check=False, cwd=root, env=_env(**env), text=True, capture_output=True, timeout=300)
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}", pytrace=False)
    return proc


def _project(root: Path) -> Path:
    root.mkdir()
    (root / "step.py").write_text(STEP)
    (root / "dvc.yaml").write_text(DVC_YAML)
    (root / "out").mkdir()
    _run(root, "git", "init", "-q")
    _run(root, DVC, "init", "-q")
    return root


def _files(root: Path) -> dict[str, str]:
    """md5 of every output and of dvc.lock (what must be identical), by relative path."""
    paths = [root / "dvc.lock", root / "metrics.json", *sorted((root / "out").rglob("*"))]
    return {str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest()
            for p in paths if p.is_file() and p.name != ".gitignore"}


def _run_cache(root: Path) -> set[str]:
    runs = root / ".dvc" / "cache" / "runs"
    return {str(p.relative_to(runs)) for p in runs.rglob("*") if p.is_file()} if runs.exists() else set()


def _parallel(root: Path, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    return _run(root, TICKETLEAK, "repro", "-j", "3", *args, check=check, **env)


@pytest.fixture
def serial(tmp_path: Path) -> Path:
    root = _project(tmp_path / "serial")
    _run(root, DVC, "repro", "-q")
    return root


def test_parallel_run_equals_dvc_repro(serial: Path, tmp_path: Path) -> None:
    root = _project(tmp_path / "parallel")
    proc = _parallel(root)
    assert proc.stdout.count("Running stage '") == 9
    assert _files(root) == _files(serial)  # outputs and dvc.lock byte for byte
    assert _run_cache(root) == _run_cache(serial) and len(_run_cache(root)) == 9
    assert "up to date" in _run(root, DVC, "status").stdout
    again = _parallel(root)
    assert "Running stage" not in again.stdout and "0 stage(s) ran, 0 restored from the run cache, 9 unchanged" in again.stdout


def test_only_changed_stages_run_and_run_cache_restores(serial: Path, tmp_path: Path) -> None:
    root = _project(tmp_path / "parallel")
    _parallel(root)
    (root / "out" / "sq2" / "a.txt").write_text("tampered")  # sq@2's output changed: it and total rerun
    proc = _parallel(root)
    assert "restored its outputs" in proc.stdout  # sq@2 from the run cache; total likewise (same inputs)
    assert _files(root) == _files(serial)
    shutil.rmtree(root / "out")
    (root / "out").mkdir()
    proc = _parallel(root, "--summary", str(tmp_path / "stages.json"))
    assert "Running stage" not in proc.stdout and "9 restored from the run cache" in proc.stdout
    assert _files(root) == _files(serial)
    summary = json.loads((tmp_path / "stages.json").read_text())  # what `study run -j` records beside a wall time
    assert (summary["ran"], summary["restored"], summary["unchanged"]) == (0, 9, 0)


def test_a_failed_stage_stops_only_its_dependents(serial: Path, tmp_path: Path) -> None:
    root = _project(tmp_path / "parallel")
    (root / "fail2").touch()
    proc = _parallel(root, check=False)
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: stage 'sq@2' failed; 1 stage(s) downstream skipped"), proc.stderr
    assert "(exit status 1)" in proc.stderr and "about to fail" in proc.stderr and "stage sq 2: told to fail" in proc.stderr
    assert "Traceback" not in proc.stderr
    for i in (0, 1, 3):  # the other branches finished and are recorded
        assert (root / "out" / f"sq{i}" / "a.txt").exists()
    lock = (root / "dvc.lock").read_text()
    assert "sq@3:" in lock and "sq@2:" not in lock and "total:" not in lock
    (root / "fail2").unlink()
    proc = _parallel(root)
    assert "Running stage 'sq@2'" in proc.stdout and "Running stage 'gen@" not in proc.stdout
    # dvc.lock holds the same entries; sq@2 comes last, as after `dvc repro --keep-going` and a rerun
    assert yaml.safe_load((root / "dvc.lock").read_text()) == yaml.safe_load((serial / "dvc.lock").read_text())
    assert {k: v for k, v in _files(root).items() if k != "dvc.lock"} == {k: v for k, v in _files(serial).items() if k != "dvc.lock"}


def test_a_killed_run_completes_when_started_again(serial: Path, tmp_path: Path) -> None:
    root = _project(tmp_path / "parallel")
    env = _env(STEP_SLEEP="1.5")
    proc = subprocess.Popen([TICKETLEAK, "repro", "-j", "2"], cwd=root, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while not list((root / "out").glob("sq*")) and time.monotonic() < deadline:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)  # the runner and the stage commands it started
    proc.wait()
    assert not (root / "out" / "total.txt").exists()
    again = _parallel(root, STEP_SLEEP="0")
    assert "restored its outputs" in again.stdout  # what had finished comes from the run cache
    assert _files(root) == _files(serial)
    assert "up to date" in _run(root, DVC, "status").stdout


def _processes_in(root: Path) -> list[int]:
    """The processes whose working folder is ``root`` (the runner, its fork server, the stages)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and os.readlink(entry / "cwd") == str(root):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.skipif(not Path("/proc/self/cwd").exists(), reason="reads /proc")
def test_stages_end_with_a_runner_killed_on_its_own(tmp_path: Path) -> None:
    """`kill PID` of the runner alone: its running stages end too, rather than writing outputs
    nobody records."""
    root = _project(tmp_path / "p")
    proc = subprocess.Popen([TICKETLEAK, "repro", "-j", "2"], cwd=root, env=_env(STEP_SLEEP="60"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while len(_processes_in(root)) < 5 and time.monotonic() < deadline:
        time.sleep(0.1)
    # the runner, multiprocessing's resource tracker, the fork server and two stages
    assert len(_processes_in(root)) == 5
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 20
    while _processes_in(root) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = _processes_in(root)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left
    assert not list((root / "out").glob("g*.txt"))  # no stage lived on to write its output


def test_an_empty_run_cache_entry_runs_the_stage(serial: Path, tmp_path: Path) -> None:
    """A run killed between DVC's making a run-cache folder and writing its entry leaves the folder
    empty; the next run treats the stage as not cached and runs it."""
    root = _project(tmp_path / "parallel")
    _parallel(root)
    entries = [p for p in (root / ".dvc" / "cache" / "runs").glob("*/*/*") if p.is_file()]
    assert len(entries) == 9  # gen and sq for each i, and total
    for entry in entries:
        entry.unlink()  # the folders stay, empty
    (root / "dvc.lock").unlink()
    shutil.rmtree(root / "out")
    (root / "out").mkdir()
    again = _parallel(root)
    assert "restored its outputs" not in again.stdout and again.stdout.count("Running stage") == 9
    assert _files(root) == _files(serial)


@pytest.mark.parametrize(("args", "message"), [
    (["-j", "0"], "error: -j/--jobs: expected at least 1 worker, got 0"),
    (["-j", "two"], "error: -j/--jobs: expected a whole number of workers, got 'two'"),
    (["--scheduler", "tcp://127.0.0.1:9"], "error: cannot reach the Dask scheduler at tcp://127.0.0.1:9"),
    (["-j", "2", "nosuch"], "error: Stage 'nosuch' not found"),
    (["-j", "2", "--", "-f"], "error: -j/--scheduler take no dvc repro arguments"),
])
def test_bad_input_is_one_line_and_runs_nothing(tmp_path: Path, args: list[str], message: str) -> None:
    root = _project(tmp_path / "p")
    proc = _run(root, TICKETLEAK, "repro", *args, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and proc.stderr.startswith(message)
    assert not (root / "dvc.lock").exists() and not list((root / "out").iterdir())


def test_runner_rejects_zero_jobs_before_touching_the_repository(tmp_path: Path) -> None:
    with pytest.raises(runner.RunnerError, match="expected a number of workers >= 1"):
        runner.reproduce(tmp_path, jobs=0)


def test_results_shared_through_a_remote(tmp_path: Path) -> None:
    """Run, `dvc push --run-cache` to a local remote; a second clone pulls and reproduces nothing."""
    first = _project(tmp_path / "first")
    remote = tmp_path / "remote"
    _run(first, DVC, "remote", "add", "-d", "shared", str(remote))
    _parallel(first)
    _run(first, "git", "add", "-A")
    _run(first, "git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-qm", "run")
    _run(first, DVC, "push", "--run-cache")
    second = tmp_path / "second"
    _run(tmp_path, "git", "clone", "-q", str(first), str(second))
    _run(second, DVC, "pull", "--run-cache")
    proc = _run(second, DVC, "repro")
    assert "Running stage" not in proc.stdout, proc.stdout
    assert _files(second) == _files(first)
    assert _run(second, DVC, "metrics", "show", "--json").stdout == _run(first, DVC, "metrics", "show", "--json").stdout


def test_a_stage_that_does_not_write_its_output_fails_alone(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    (root / "dvc.yaml").write_text(DVC_YAML.replace("cmd: python step.py gen ${item.i}",
                                                    "cmd: python step.py ${item.i} ${item.i}", 1))
    (root / "step.py").write_text(STEP.replace('if kind == "gen":', 'if kind == "3":\n    pass\nelif kind in ("gen", "0", "1", "2"):'))
    proc = _parallel(root, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: stage 'gen@3' failed; 2 stage(s) downstream skipped"), proc.stderr
    assert "out/g3.txt" in proc.stderr  # DVC's own message names the missing output
    assert (root / "out" / "sq0" / "a.txt").exists()


def test_preloaded_stages_do_not_rerun_the_callers_main(serial: Path, tmp_path: Path) -> None:
    """Driven from a script on stdin (no file to re-import), the forked stages still run."""
    root = _project(tmp_path / "p")
    code = f"from pathlib import Path\nfrom ticketleak_studies import runner\nrunner.reproduce(Path({str(root)!r}), jobs=2, say=print)\n"
    proc = subprocess.run([sys.executable, "-"], input=code, cwd=root, env=_env(), text=True,
                          capture_output=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert _files(root) == _files(serial)


def test_a_preloaded_stage_that_fails_silently_is_run_as_a_new_process(tmp_path: Path, monkeypatch) -> None:
    """A preloaded child that dies before reaching the script (it cannot unpickle its task) leaves
    an empty log; the command then runs as a new process, and the log says so and holds its output."""
    script = tmp_path / "hello.py"
    script.write_text("import sys\nprint('from the script')\nsys.exit(3)\n")
    monkeypatch.setattr(runner, "_run_forked", lambda *a: 1)  # fails and writes nothing
    log = tmp_path / "logs" / "stage.log"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    rc, _ = runner.execute([f"python {script.name}"], str(tmp_path), env, str(log))
    text = log.read_text()
    assert rc == 3
    assert "could not start `python hello.py` (exit status 1); running it as a new process" in text
    assert text.rstrip().endswith("from the script")
    monkeypatch.setattr(runner, "_run_forked", lambda argv, cwd, env, log: Path(log).open("a").write("real error\n") and 2)
    log.unlink()
    assert runner.execute([f"python {script.name}"], str(tmp_path), env, str(log))[0] == 2  # it spoke: not rerun
    assert log.read_text() == "real error\n"


def test_dvc_lock_is_written_less_often_as_writing_it_grows_slow(monkeypatch) -> None:
    """DVC rewrites the whole dvc.lock each time, so a large grid's lock takes seconds to write:
    the runner then waits ten times as long as the last write took before the next one."""
    from types import SimpleNamespace

    clock = [1000.0]
    monkeypatch.setattr(runner.time, "monotonic", lambda: clock[0])
    writes = []
    write_seconds = 2 * runner.FLUSH_SECONDS * runner.FLUSH_SHARE  # twice what the floor allows

    def slow_dump(lockfile, stages):
        writes.append(len(stages))
        clock[0] += write_seconds

    class Stage(SimpleNamespace):
        __hash__ = object.__hash__

    run = runner.Run.__new__(runner.Run)
    lock = Stage(_lockfile="dvc.lock")
    run.plan = [Stage(dvcfile=lock) for _ in range(4)]
    run.finished, run.written = {}, 0
    run.last_flush, run.flush_every = clock[0], runner.FLUSH_SECONDS
    run._dump = slow_dump
    run.finished[run.plan[0]] = True
    clock[0] += runner.FLUSH_SECONDS
    run.flush()
    wait = write_seconds / runner.FLUSH_SHARE
    assert writes == [1] and run.flush_every == pytest.approx(wait) and wait == pytest.approx(2 * runner.FLUSH_SECONDS)
    run.finished[run.plan[1]] = True
    clock[0] += 0.75 * wait
    run.flush()
    assert writes == [1]  # not yet
    clock[0] += 0.25 * wait
    run.flush()
    assert writes == [1, 1]
    run.finished[run.plan[2]] = True
    run.flush(force=True)  # the end of the run always writes
    assert writes == [1, 1, 1]


FLUSH_EVERY_STAGE = """
import atexit, sys
import dvc.utils.serialize._yaml as y
from ticketleak_studies import console, runner
runner.FLUSH_SECONDS, runner.FLUSH_SHARE = 0.0, 1e9  # write dvc.lock after every stage
parses, original = [], y.parse_yaml_for_update
def counted(text, path):
    parses.append(path)
    return original(text, path)
y.parse_yaml_for_update = counted
atexit.register(lambda: print(f"round-trip parses of the lock: {sum('dvc.lock' in str(p) for p in parses)}"))
sys.exit(console.main(["repro", "-j", "3"]))
"""


def test_a_lock_written_after_every_stage_is_dvc_repros_and_parsed_once(serial: Path, tmp_path: Path) -> None:
    """The runner keeps the lock document it wrote and updates it for the next write instead of
    parsing the file again: written after every stage, the lock is still byte for byte the one
    ``dvc repro`` writes; a lock changed behind its back is parsed again."""
    root = _project(tmp_path / "parallel")
    proc = _run(root, sys.executable, "-c", FLUSH_EVERY_STAGE)
    writes = proc.stdout.count("Updated dvc.lock")
    assert writes >= 4, proc.stdout
    assert "round-trip parses of the lock: 0" in proc.stdout  # the first write had no lock to read
    assert _files(root) == _files(serial)
    (root / "step.py").write_text(STEP + "# changed\n")  # every stage runs again, on an existing lock
    lock = (root / "dvc.lock").read_text()
    (root / "dvc.lock").write_text(lock.replace("schema: '2.0'", "schema: '2.0'  # edited"))
    proc = _run(root, sys.executable, "-c", FLUSH_EVERY_STAGE)
    assert "round-trip parses of the lock: 1" in proc.stdout  # read once, then its own document
    assert proc.stdout.count("Updated dvc.lock") >= 4
    assert "# edited" in (root / "dvc.lock").read_text()  # DVC's round trip kept the comment
    assert "up to date" in _run(root, DVC, "status").stdout


def test_prune_lock_drops_only_stages_no_longer_defined(serial: Path) -> None:
    """A matrix that shrinks leaves its old entries in dvc.lock (DVC keeps them); `prune-lock`
    drops exactly those, leaves every defined stage's entry as it was, and restores on return."""
    before = yaml.safe_load((serial / "dvc.lock").read_text())["stages"]
    (serial / "dvc.yaml").write_text(DVC_YAML.replace("  gen:\n    matrix:\n      i: [0, 1, 2, 3]", "  gen:\n    matrix:\n      i: [0, 1, 2]"))
    _run(serial, DVC, "repro", "-q", "gen")  # nothing to run: gen@0..2 are unchanged
    assert "gen@3" in yaml.safe_load((serial / "dvc.lock").read_text())["stages"]  # DVC keeps it
    proc = _run(serial, TICKETLEAK, "prune-lock")
    assert "dropped 1 entry of stages no longer defined: gen@3" in proc.stdout
    after = yaml.safe_load((serial / "dvc.lock").read_text())["stages"]
    assert after == {name: entry for name, entry in before.items() if name != "gen@3"}
    assert "nothing to drop" in _run(serial, TICKETLEAK, "prune-lock").stdout
    (serial / "dvc.yaml").write_text(DVC_YAML)  # the stage comes back: restored, not rerun
    proc = _parallel(serial)
    assert "Running stage" not in proc.stdout and "1 restored from the run cache" in proc.stdout
    assert yaml.safe_load((serial / "dvc.lock").read_text())["stages"]["gen@3"] == before["gen@3"]
    (serial / "dvc.yaml").write_text("stages:\n  gen:\n    cmd: [\n")  # unreadable: nothing is dropped
    lock = (serial / "dvc.lock").read_bytes()
    proc = _run(serial, TICKETLEAK, "prune-lock", check=False)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "dvc.yaml" in proc.stderr
    assert "no lock entry dropped" in proc.stderr and (serial / "dvc.lock").read_bytes() == lock


def test_a_run_frozen_longer_than_the_worker_ttl_still_finishes(serial: Path, tmp_path: Path) -> None:
    """A runner frozen for a while (a suspended laptop; here SIGSTOP) keeps its in-process workers:
    with Dask's time-to-live (2 s here, 5 minutes by default) the scheduler dropped them all on
    waking, and the run then waited for ever."""
    root = _project(tmp_path / "p")
    env = _env(STEP_SLEEP="3", DASK_DISTRIBUTED__SCHEDULER__WORKER_TTL="2s")
    proc = subprocess.Popen([TICKETLEAK, "repro", "-j", "2"], cwd=root, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while not list((root / ".dvc" / "tmp" / "ticketleak-runs").glob("gen@*.log")) and time.monotonic() < deadline:
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGSTOP)
    time.sleep(6)
    os.kill(proc.pid, signal.SIGCONT)
    try:
        out, _ = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the run never finished after it was resumed", pytrace=False)
    assert proc.returncode == 0, out[-3000:]
    assert _files(root) == _files(serial)


def test_a_local_run_whose_workers_are_all_gone_stops_with_one_line(serial: Path, tmp_path: Path) -> None:
    """No worker left on the local cluster: one line, not a wait for ever; run again, it completes."""
    root = _project(tmp_path / "p")
    code = textwrap.dedent(f"""
        import threading, time
        from pathlib import Path
        from ticketleak_studies import runner
        runner.WORKER_CHECK_SECONDS = 0.5
        connect = runner.connect

        def lose_workers(jobs, scheduler):
            client = connect(jobs, scheduler)
            def close():
                time.sleep(2)
                for worker in list(client.cluster.workers.values()):
                    client.cluster.sync(worker.close)
            threading.Thread(target=close, daemon=True).start()
            return client

        runner.connect = lose_workers
        try:
            runner.reproduce(Path({str(root)!r}), jobs=2, say=lambda line: None)
        except runner.RunnerError as exc:
            print("ERROR", exc)
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, env=_env(STEP_SLEEP="6"), text=True,
                          capture_output=True, timeout=180, check=False)
    assert re.search(r"^ERROR every Dask worker is gone, with \d+ stage\(s\) running and \d+ queued; "
                     r"what finished is recorded: run the same command again$", proc.stdout, re.M), \
        proc.stdout + proc.stderr[-3000:]
    _parallel(root)
    assert _files(root) == _files(serial)


def test_params_are_parsed_once_per_run_and_each_stage_gets_its_own_copy(tmp_path: Path, monkeypatch) -> None:
    import dvc.dependency.param as param_module
    from dvc.fs import LocalFileSystem

    path = tmp_path / "params.yaml"
    path.write_text("train:\n  lr: 0.1\n  epochs: 3\nseeds: [0, 1]\n")
    parses = []
    original = param_module.load_path
    monkeypatch.setattr(param_module, "load_path", lambda *a, **k: parses.append(a[0]) or original(*a, **k))
    fs = LocalFileSystem()
    with runner.ParamsReadOnce():
        first = param_module.read_param_file(fs, str(path))
        first["train"]["lr"] = 99  # one stage's copy: the next stage must not see it
        second = param_module.read_param_file(fs, str(path), ["train.lr", "seeds"])
        assert second == {"train": {"lr": 0.1}, "seeds": [0, 1]} and len(parses) == 1
        path.write_text("train:\n  lr: 0.25\n  epochs: 3\nseeds: [0, 1]\n")  # edited: read again
        assert param_module.read_param_file(fs, str(path), ["train.lr"]) == {"train": {"lr": 0.25}}
        assert len(parses) == 2
    param_module.read_param_file(fs, str(path))
    assert len(parses) == 3  # outside a run, every read parses
