"""``ticketleak repro -j N``: DVC's pipeline, every ready stage at once, on Dask distributed.

DVC decides and records; Dask runs the commands. One process loads the repository once and
holds DVC's repository lock for the whole run. It walks DVC's own plan (the order ``dvc repro``
would run), and as soon as a stage's upstream stages are finished it asks DVC what ``dvc repro``
would: is the stage changed (``Stage.changed``)? If so its outputs are removed, DVC's run cache
restores them when it can, and otherwise the stage's command is sent to a Dask worker. When the
command succeeds, DVC hashes and caches the outputs and saves the run-cache entry, as
``Stage.run`` does. ``dvc.lock`` is written in one pass per batch (``Lockfile.dump_stages``), in
the plan's order, so it comes out exactly as ``dvc repro`` writes it; DVC's own ``repro``
rewrites the whole lock once per stage, which is what makes large grids slow.

A failed command stops only the stages downstream of it; the others finish, then the run exits
non-zero naming the stage with the last lines of its output (the whole log is kept under
``.dvc/tmp/ticketleak-runs/``). Killed and started again, the run restores what had finished from
the run cache. The engine is Dask's: a local cluster of N single-threaded workers by default, or
the scheduler at ``--scheduler`` (its workers must see the repository at the same path).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dvc.repo import Repo
    from dvc.stage import Stage

LOGS = Path(".dvc") / "tmp" / "ticketleak-runs"
TAIL_LINES = 20
FLUSH_SECONDS = 60.0  # how often finished stages are written to dvc.lock at most (and always at the end);
#   a killed run loses nothing by it: the run cache restores every stage that finished
WORKER_CHECK_SECONDS = 30.0  # while stages run, how often the runner checks that it still has workers
FLUSH_SHARE = 0.1  # ...and never so often that writing it takes more than this share of the run:
#   DVC rewrites the whole lock each time (its round-trip parse is done once per run: LockDocument)


class RunnerError(Exception):
    """What the user can fix (bad -j, an unreachable scheduler, a failed stage): one line."""


#: What a preloaded interpreter has imported before it forks a stage: the third-party modules every
#: stage script pays for (torch alone takes most of two seconds), none of ours. Two are imported
#: late, not at start-up: torch._dynamo, by the first optimizer a stage builds (about 1 s, in every
#: stage that trains), and dvc.repo, by dvclive's logger (about 0.2 s).
PRELOAD = ("numpy", "torch", "torch._dynamo", "sklearn", "scipy.stats", "dvclive", "dvc.repo")
_PLAIN = re.compile(r"python3? [\w./-]+\.py( [\w.@=,:/+-]+)*")  # no quoting, redirection or variables
_forkserver: Any = None
_forkserver_lock = threading.Lock()
_process_lock = threading.Lock()


def python_script(cmd: str, env: dict[str, str]) -> list[str] | None:
    """``[script, *args]`` when ``cmd`` is ``python SCRIPT.py ARGS`` in plain words and ``python``
    on the command's PATH is this interpreter; else None (the command then runs in a shell)."""
    if not _PLAIN.fullmatch(cmd):
        return None
    python = shutil.which(cmd.split()[0], path=env.get("PATH"))
    if python is None or Path(python).parent.resolve() != Path(sys.executable).parent.resolve():
        return None
    return cmd.split()[1:]


def _fork_server():
    """A multiprocessing fork server that has imported PRELOAD (started once, on first use).

    Its children would first re-run this process's ``__main__`` (multiprocessing's "prepare"
    step: the ``ticketleak`` script, or a script given on stdin, which fails): a stage is a
    script of its own, so that step is dropped from what the children receive."""
    global _forkserver
    with _forkserver_lock:  # the workers' threads may all start their first stage at once
        if _forkserver is None:
            import multiprocessing
            from multiprocessing import spawn

            original = spawn.get_preparation_data

            def without_main(name: str) -> dict:
                data = original(name)
                data.pop("init_main_from_path", None)
                data.pop("init_main_from_name", None)
                return data

            spawn.get_preparation_data = without_main
            _forkserver = multiprocessing.get_context("forkserver")
            _forkserver.set_forkserver_preload(list(PRELOAD))
        return _forkserver


def _run_forked(argv: list[str], cwd: str, env: dict[str, str], log: str) -> int:
    """Run ``argv`` in a child of the fork server; its exit status. multiprocessing's own
    bookkeeping is not thread-safe: a thread starting a child polls every other child, and two
    threads reading one child's status pipe at once leave one of them with 255. So children are
    started and joined under one lock, and only the wait for a child to end runs outside it."""
    from multiprocessing.connection import wait

    server = _fork_server()
    with _process_lock:
        child = server.Process(target=_run_script, args=(argv, cwd, env, log, os.getpid()))
        child.start()
    wait([child.sentinel])
    with _process_lock:
        child.join()
        return child.exitcode


def _end_with(runner: int) -> None:
    """In a stage's process: kill it when the runner process ``runner`` ends.

    Its parent is the fork server, and the server stays up as long as any of its children runs.
    So a runner killed on its own (``kill PID``) would otherwise leave the stage running, still
    writing its outputs, with nobody to record them, and beside the rerun that repeats it."""
    import select
    import signal

    from ticketleak.core.store import _alive  # the liveness test the staging cleanup uses

    def watch() -> None:
        try:
            handle = os.pidfd_open(runner)
        except ProcessLookupError:
            pass  # already gone
        except (AttributeError, OSError):  # no pidfd here (not Linux, or an old kernel): poll
            while _alive(runner):
                time.sleep(1.0)
        else:
            select.select([handle], [], [])
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="end-with-runner", daemon=True).start()


def _run_script(argv: list[str], cwd: str, env: dict[str, str], log: str, runner: int) -> None:
    """In a child forked from the preloaded server: what ``python SCRIPT ARGS`` would do, with
    stdout and stderr appended to ``log``. Its exit status is the process's. It ends when the
    runner process ends."""
    import runpy

    _end_with(runner)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    script = os.path.abspath(argv[0])
    sys.argv = list(argv)
    sys.path[0] = os.path.dirname(script)  # as `python SCRIPT` sets it
    try:
        runpy.run_path(script, run_name="__main__")
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def execute(commands: Sequence[str], cwd: str, env: dict[str, str], log: str, preload: bool = True) -> tuple[int, float]:
    """Run one stage's commands in order (a Dask task), their output into ``log``; returns the
    first non-zero exit status (or 0) and the seconds they took. ``python SCRIPT.py ARGS``
    commands fork from a preloaded interpreter when ``preload``; the rest run as DVC runs them."""
    from dvc.stage.run import _make_cmd, get_executable

    start = time.perf_counter()
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        for cmd in commands:
            argv = python_script(cmd, env) if preload else None
            rc = None
            if argv is not None:
                before = os.path.getsize(log)
                rc = _run_forked(argv, cwd, env, log)
                if rc != 0 and os.path.getsize(log) == before:
                    # Failed without a word: the preloaded child never reached the script (it could
                    # not unpickle its task, e.g. after an edit to the runner's own package). A new
                    # process runs it instead, so the log holds the command's own outcome.
                    out.write(f"[ticketleak repro] the preloaded interpreter could not start `{cmd}` (exit status {rc}); "
                              "running it as a new process\n".encode())
                    out.flush()
                    rc = None
            if rc is None:
                rc = subprocess.run(_make_cmd(get_executable(), cmd), check=False, cwd=cwd, env=env, stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, close_fds=True).returncode
            if rc != 0:
                return rc, time.perf_counter() - start
    return 0, time.perf_counter() - start


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])


class LockDocument:
    """``modify_yaml`` for ``Lockfile.dump_stages`` that parses each ``dvc.lock`` once per run.

    DVC rewrites a lock by parsing it in round-trip mode (pure Python: about 3 s for the default's
    200 stages, 10 s at 450), updating that document and dumping it. The runner is the only
    writer while it holds the repository lock, so after its first write it keeps the document it
    dumped and, as long as the file still holds exactly the text it wrote, updates that document
    instead of parsing the text again. The bytes written are DVC's own dump of the same document.
    A write that fails forgets the document (it may be half updated)."""

    def __init__(self) -> None:
        self.docs: dict[str, tuple[str, Any]] = {}  # lock path -> (text written, its document)

    def modify(self, key: str):
        from contextlib import contextmanager
        from io import StringIO

        from dvc.utils.serialize._yaml import _dump, parse_yaml_for_update

        @contextmanager
        def modify_yaml(path, fs=None):
            text = Path(path).read_text(encoding="utf-8") if os.path.exists(path) else None
            held = self.docs.pop(key, None)
            if text is None:
                data = {}
            elif held is not None and held[0] == text:
                data = held[1]
            else:
                data = parse_yaml_for_update(text, path)
            yield data
            out = StringIO()
            _dump(data, out)
            written = out.getvalue()
            with open(path, "w+", encoding="utf-8") as fd:
                fd.write(written)
            self.docs[key] = (written, data)

        return modify_yaml


class ParamsReadOnce:
    """DVC reads the params file once per stage that declares params (``read_param_file``), a
    full YAML parse each time. Within a run nothing edits it, so each file is parsed once per
    (path, modification time, size) and every stage gets its own copy of the result."""

    def __init__(self) -> None:
        self.parsed: dict[tuple[str, int, int], Any] = {}

    def __enter__(self) -> ParamsReadOnce:
        import copy

        import dvc.dependency.param as param_module

        self.module, self.original = param_module, param_module.load_path
        original = self.original

        def load_path(path, fs=None, **kwargs):
            try:
                st = os.stat(path)
            except (OSError, TypeError, ValueError):
                return original(path, fs, **kwargs)
            if kwargs or getattr(fs, "protocol", "local") not in ("local", "file"):
                return original(path, fs, **kwargs)
            key = (os.path.abspath(path), st.st_mtime_ns, st.st_size)
            if key not in self.parsed:
                self.parsed[key] = original(path, fs)
            return copy.deepcopy(self.parsed[key])

        param_module.load_path = load_path
        return self

    def __exit__(self, *exc: object) -> None:
        self.module.load_path = self.original


def log_path(root: Path, stage_name: str) -> Path:
    return root / LOGS / (re.sub(r"[^A-Za-z0-9_.@-]+", "_", stage_name) + ".log")


@dataclass
class Outcome:
    """What one run did: stage names by what happened to them."""

    ran: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # name -> last lines of its output
    skipped: list[str] = field(default_factory=list)  # downstream of a failure
    command_seconds: float = 0.0


def connect(jobs: int, scheduler: str | None):
    """A Dask client: a local cluster of ``jobs`` single-threaded workers, or ``scheduler``."""
    from distributed import Client, LocalCluster

    logging.getLogger("distributed").setLevel(logging.ERROR)  # its INFO lines (comms closing) are noise here
    if scheduler:
        try:
            return Client(scheduler, timeout="10s")
        except (OSError, TimeoutError, ValueError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise RunnerError(f"cannot reach the Dask scheduler at {scheduler}: {first}") from None
    import dask

    # Threads suffice: a task only waits on the stage's own process. The scheduler's HTTP server
    # starts in any case; on a free port, since a second runner on the machine (two studies at once)
    # finds the default 8787 taken and distributed warns about it. No worker time-to-live: the
    # workers live in this process, so a scheduler that has not heard from them has been frozen
    # with them (a suspended laptop, `kill -STOP`); with the default 5 minutes it dropped them all
    # on waking, and the run then waited for ever on stages that no worker would take.
    with dask.config.set({"distributed.scheduler.worker-ttl": None}):
        cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=False, dashboard_address=":0",
                               silence_logs=logging.ERROR)
    return Client(cluster)


def _drop_empty_run_cache_entries(repo) -> None:
    """Remove the run-cache folders that hold no entry.

    DVC makes a stage's run-cache folder and then writes the entry into it. A run killed between
    the two steps leaves the folder empty, and DVC's ``restore`` then fails on it with a TypeError
    instead of reporting that nothing is cached.
    """
    runs = Path(repo.stage_cache.cache_dir)
    for entry_dir in runs.glob("*/*") if runs.is_dir() else ():
        if entry_dir.is_dir() and not any(entry_dir.iterdir()):
            entry_dir.rmdir()


class Run:
    """One parallel reproduction of ``plan`` (DVC's order) over ``graph``."""

    def __init__(self, repo: Repo, plan: list[Stage], graph: Any, client: Any, say: Callable[[str], None],
                 preload: bool = True, local: bool = True):
        self.repo, self.plan, self.client, self.say, self.preload = repo, plan, client, say, preload
        self.local = local  # the workers are this process's own (no --scheduler)
        self.root = Path(repo.root_dir)
        self.index = {stage: i for i, stage in enumerate(plan)}
        members = set(plan)
        self.upstream = {s: [u for u in graph.successors(s) if u in members] for s in plan}
        self.downstream: dict[Stage, list[Stage]] = {s: [] for s in plan}
        for s, ups in self.upstream.items():
            for u in ups:
                self.downstream[u].append(s)
        self.waiting = {s: len(ups) for s, ups in self.upstream.items()}
        self.finished: dict[Stage, bool] = {}  # stage -> whether it must be written to dvc.lock
        self.written = 0  # plan[:written] are finished and, where they ran, in dvc.lock
        self.last_flush = time.monotonic()
        self.flush_every = FLUSH_SECONDS  # grows with the time one write of dvc.lock takes
        self.outcome = Outcome()
        self.futures: dict[Any, Stage] = {}
        self.started: set[Stage] = set()
        self.queue: list[Stage] = []  # decided to run, waiting for a free worker
        self.lock_documents = LockDocument()

    # -- decisions, all in this process ----------------------------------------------------------

    def start(self, stage: Stage) -> None:
        """Decide what ``stage`` needs (its upstream stages are finished), and do or submit it."""
        from dvc.stage.cache import RunCacheNotFoundError

        name = stage.addressing
        if not stage.cmd or stage.frozen or stage.is_import:  # not ours to run: DVC's own way
            self._finish(stage, dump=bool(stage.reproduce(upstream=self.upstream[stage])))
            return
        if not stage.changed(upstream=self.upstream[stage]):
            self.outcome.unchanged.append(name)
            self._finish(stage, dump=False)
            return
        stage.remove_outs(ignore_remove=False, force=False)
        try:
            self.repo.stage_cache.restore(stage)
        except RunCacheNotFoundError:
            stage.save_deps()
            self.queue.append(stage)  # its command runs when a worker is free
            return
        self.say(f"Stage '{name}' is cached: restored its outputs from the run cache")
        self.outcome.restored.append(name)
        self._record(stage)

    def _submit(self, stage: Stage) -> None:
        from dvc.stage.run import _enforce_cmd_list, prepare_kwargs

        kwargs = prepare_kwargs(stage)
        commands = _enforce_cmd_list(stage.cmd)
        for cmd in commands:
            self.say(f"Running stage '{stage.addressing}':\n> {cmd}")
        log = str(log_path(self.root, stage.addressing))
        future = self.client.submit(execute, commands, kwargs["cwd"], kwargs["env"], log, self.preload,
                                    key=f"stage-{self.index[stage]}-{stage.addressing}", pure=False)
        self.futures[future] = stage

    def _record(self, stage: Stage) -> None:
        """Hash, cache and run-cache the outputs, as ``Stage.run`` does after the command."""
        no_cache_outs = any(not out.use_cache for out in stage.outs if not (out.is_metric or out.is_plot))
        stage.save(run_cache=not no_cache_outs)
        stage.commit()
        self._finish(stage, dump=True)

    def _finish(self, stage: Stage, dump: bool) -> None:
        self.finished[stage] = dump
        for down in self.downstream[stage]:
            self.waiting[down] -= 1

    def _fail(self, stage: Stage, message: str) -> None:
        self.outcome.failed[stage.addressing] = message
        self.finished[stage] = False
        todo = list(self.downstream[stage])
        while todo:
            down = todo.pop()
            if down in self.finished:
                continue
            self.finished[down] = False
            self.outcome.skipped.append(down.addressing)
            todo.extend(self.downstream[down])

    # -- dvc.lock ------------------------------------------------------------------------------

    def flush(self, force: bool = False) -> None:
        """Write the finished stages that open the plan to dvc.lock, in the plan's order."""
        if not force and time.monotonic() - self.last_flush < self.flush_every:
            return
        end = self.written
        while end < len(self.plan) and self.plan[end] in self.finished:
            end += 1
        by_file: dict[Any, list[Stage]] = {}
        for stage in self.plan[self.written:end]:
            if self.finished[stage]:
                by_file.setdefault(stage.dvcfile, []).append(stage)
        start = time.monotonic()
        for dvcfile, stages in by_file.items():
            self._dump(dvcfile._lockfile, stages)
        self.written = end
        self.last_flush = time.monotonic()
        if by_file:  # a killed run loses no work by this: the run cache restores what finished
            self.flush_every = max(FLUSH_SECONDS, (self.last_flush - start) / FLUSH_SHARE)

    def _dump(self, lockfile: Any, stages: list[Stage]) -> None:
        """``Lockfile.dump_stages``, into a copy that then replaces the lock, so that no reader (a
        ``dvc status`` in another terminal) ever sees it half-written."""
        from dvc.dvcfile import Lockfile

        path = Path(lockfile.path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        if path.exists():
            shutil.copyfile(path, tmp)
        dvc_logger = logging.getLogger("dvc")
        level = dvc_logger.level
        dvc_logger.setLevel(logging.WARNING)  # its "Updating lock file" would name the copy
        import dvc.dvcfile as dvcfile_module

        original = dvcfile_module.modify_yaml
        dvcfile_module.modify_yaml = self.lock_documents.modify(str(path))
        try:
            Lockfile(self.repo, str(tmp)).dump_stages(stages)
            os.replace(tmp, path)
        finally:
            dvcfile_module.modify_yaml = original
            dvc_logger.setLevel(level)
            tmp.unlink(missing_ok=True)
            self.repo.scm_context.files_to_track.discard(os.path.relpath(tmp))
        self.repo.scm_context.track_file(os.path.relpath(path))
        self.say(f"Updated {os.path.relpath(path, self.root)} ({len(stages)} stage(s))")

    # -- the loop ------------------------------------------------------------------------------

    def ready(self) -> list[Stage]:
        """Stages not yet started whose upstream stages are all finished, in the plan's order."""
        return [s for s in self.plan if s not in self.started and s not in self.finished and self.waiting[s] == 0]

    def go(self) -> Outcome:
        from distributed import wait

        while True:
            while ready := self.ready():  # deciding may finish stages (unchanged, restored) and ready others
                for stage in ready:
                    self.started.add(stage)
                    self._guarded(self.start, stage)
            self.queue.sort(key=self.index.__getitem__)  # free workers take the plan's earliest stages
            slots = max(1, sum(self.client.nthreads().values()))  # one command per worker thread, now
            while self.queue and len(self.futures) < slots:
                self._submit(self.queue.pop(0))
            if not self.futures:
                break
            try:
                done = wait(list(self.futures), timeout=WORKER_CHECK_SECONDS, return_when="FIRST_COMPLETED").done
            except TimeoutError:
                self._check_workers()
                continue
            for future in sorted(done, key=lambda f: self.index[self.futures[f]]):
                stage = self.futures.pop(future)
                self._collect(stage, future)
            self.flush()
        self.flush(force=True)
        return self.outcome

    def _check_workers(self) -> None:
        """On the local cluster, a run with no worker left can never finish: record what finished
        and stop with one line. (An existing cluster may scale to zero and back: it is waited on.)"""
        if self.local and not self.client.nthreads():
            self.flush(force=True)
            raise RunnerError(f"every Dask worker is gone, with {len(self.futures)} stage(s) running and "
                              f"{len(self.queue)} queued; what finished is recorded: run the same command again")

    def _guarded(self, action: Callable[[Stage], None], stage: Stage) -> bool:
        """``action(stage)``; what DVC refuses (a missing dependency or output, a cache error)
        fails this stage alone, as under ``dvc repro --keep-going``."""
        from dvc.exceptions import DvcException

        try:
            action(stage)
        except DvcException as exc:
            self._fail(stage, str(exc))
            return False
        return True

    def _collect(self, stage: Stage, future: Any) -> None:
        name = stage.addressing
        log = log_path(self.root, name)
        try:
            rc, seconds = future.result()
        except Exception as exc:  # noqa: BLE001 - the worker died or could not start the command: that stage failed
            self._fail(stage, f"{type(exc).__name__}: {exc}")
            return
        self.outcome.command_seconds += seconds
        if rc != 0:
            status = f"exit status {rc}" if rc > 0 else f"killed by signal {-rc}"
            self._fail(stage, f"({status})\n{tail(log)}".rstrip())
            return
        if not self._guarded(self._record, stage):  # e.g. the command did not write a declared output
            return
        self.outcome.ran.append(name)
        self.say(f"Stage '{name}' finished in {seconds:.1f} s ({len(self.finished)}/{len(self.plan)})")


def reproduce(root: Path, targets: Iterable[str] = (), jobs: int = 2, scheduler: str | None = None,
              say: Callable[[str], None] = print, preload: bool = True) -> Outcome:
    """Bring ``targets`` (default: every stage) up to date as ``dvc repro`` would, with up to
    ``jobs`` stage commands at once (or as many as the scheduler's workers take)."""
    if jobs < 1:
        raise RunnerError(f"-j/--jobs: expected a number of workers >= 1, got {jobs}")
    from ticketleak.core import machine

    machine.pin()  # before the preloaded interpreter starts, and in every command's environment
    from dvc.exceptions import DvcException
    from dvc.repo import Repo, lock_repo
    from dvc.repo.reproduce import collect_stages, get_active_graph, plan_repro

    repo = Repo(str(root))
    try:
        with lock_repo(repo), repo.scm_context(quiet=True):
            try:
                stages = collect_stages(repo, list(targets) or ["dvc.yaml"])
            except DvcException as exc:
                raise RunnerError(str(exc).splitlines()[0]) from None
            graph = get_active_graph(repo.index.graph)
            plan = plan_repro(graph, stages)
            _drop_empty_run_cache_entries(repo)  # under the repository lock
            client = connect(jobs, scheduler)
            try:
                # a scheduler's workers may run another environment: there, every command gets its own shell
                with ParamsReadOnce():
                    outcome = Run(repo, plan, graph, client, say, preload=preload and not scheduler,
                                  local=not scheduler).go()
            finally:
                cluster = getattr(client, "cluster", None)
                client.close()
                if cluster is not None and not scheduler:
                    cluster.close()
    finally:
        repo.close()
    if outcome.failed:
        first, lines = next(iter(outcome.failed.items()))
        more = f" (and {len(outcome.failed) - 1} more)" if len(outcome.failed) > 1 else ""
        skipped = f"; {len(outcome.skipped)} stage(s) downstream skipped" if outcome.skipped else ""
        raise RunnerError(f"stage '{first}' failed{more}{skipped}; last lines of its output "
                          f"({log_path(root, first).relative_to(root)}):\n{lines}")
    return outcome


def prune_lock(root: Path) -> dict[str, list[str]]:
    """Drop the ``dvc.lock`` entries of stages no longer in their ``dvc.yaml``; return them, by lock.

    DVC keeps such entries (treeverse/dvc#5293: deliberately, for switching branches), and every
    ``dvc status`` and every lock write parses them again: after the stage names gained their
    training seed, 65 stale entries were a quarter of this project's lock. Nothing is lost by
    dropping them: a stage that comes back is restored from DVC's run cache, not rerun. Written
    with DVC's own YAML round trip, into a copy that then replaces the lock."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo, lock_repo
    from dvc.utils.serialize import modify_yaml

    repo = Repo(str(root))
    dropped: dict[str, list[str]] = {}
    try:
        with lock_repo(repo):
            defined: dict[str, set[str]] = {}
            try:  # a dvc.yaml that does not load defines nothing we could trust: touch no lock
                stages = repo.index.stages
            except DvcException as exc:
                raise RunnerError(f"{str(exc).splitlines()[0]}; no lock entry dropped") from None
            for stage in stages:
                lockfile = getattr(stage.dvcfile, "_lockfile", None)  # pipeline stages only, not .dvc files
                if lockfile is not None:
                    defined.setdefault(lockfile.path, set()).add(stage.name)
            for path, names in defined.items():
                if not os.path.exists(path):
                    continue
                tmp = Path(path).with_name(f".{Path(path).name}.{os.getpid()}.tmp")
                shutil.copyfile(path, tmp)
                try:
                    with modify_yaml(str(tmp)) as data:
                        stale = [name for name in data.get("stages", {}) if name not in names]
                        for name in stale:
                            del data["stages"][name]
                    if stale:
                        os.replace(tmp, path)
                        dropped[os.path.relpath(path, root)] = stale
                finally:
                    tmp.unlink(missing_ok=True)
    finally:
        repo.close()
    return dropped
