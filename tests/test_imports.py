"""Data a study reads from outside the repository (ticketleak_studies/imports.py): presets name
it, `study run` brings it in with `dvc import-url`, and the experiment queue's temporary copies
find it. These tests run git and DVC in temporary repositories."""

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from conftest import ROOT
from test_studies import _toy, _write_study

import ticketleak_studies as st
from ticketleak_studies import StudyError, imports


def test_imports_must_land_in_data_external(tmp_path):
    body = _toy(imports={"../elsewhere/x.zip": "/data/x.zip"})
    _write_study(tmp_path, "toy", body)
    with pytest.raises(StudyError, match=r"^studies/toy.yaml: imports: '../elsewhere/x.zip' must be a path inside data/external/$"):
        st.load_study("toy", tmp_path)


def test_a_run_needs_only_the_imports_it_reads(raw_params):
    study = st.load_study("seed004", ROOT)
    cifar = st.build_commands(study, "cpu", "cifar10", raw_params)
    digits = st.build_commands(study, "cpu", "digits", raw_params)
    assert imports.needed(study, cifar) == {"data/external/cifar10-jpeg.zip": "../shared/data/cifar10-jpeg.zip"}
    assert imports.needed(study, digits) == {}


def _git_dvc_repo(root: Path) -> None:
    root.mkdir()
    for cmd in (["git", "init", "-q"], [st.dvc_executable(), "init", "-q"]):
        subprocess.run(cmd, cwd=root, check=True, capture_output=True)


def test_import_brings_outside_data_in_with_dvc_and_stages_it(tmp_path):
    """`dvc import-url` from a path relative to the repository root: the .dvc file records it
    relative to its own folder (clones beside the same data share it), Git has it staged, and a
    second call does nothing. A missing source is one line naming where it looked."""
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "x.zip").write_bytes(b"not really a zip")
    root = tmp_path / "repo"
    _git_dvc_repo(root)
    assert imports.ensure(root, "data/external/x.zip", "../shared/x.zip", st.dvc_executable())
    assert (root / "data/external/x.zip").read_bytes() == b"not really a zip"
    record = yaml.safe_load((root / "data/external/x.zip.dvc").read_text())
    assert record["deps"][0]["path"] == "../../../shared/x.zip" and record["frozen"] is True
    staged = subprocess.run(["git", "diff", "--cached", "--name-only"], cwd=root, check=True, capture_output=True, text=True).stdout.split()
    assert [p for p in staged if p.startswith("data/")] == ["data/external/.gitignore", "data/external/x.zip.dvc"]
    subprocess.run(["git", "reset", "-q"], cwd=root, check=True)  # unstaged: the queue would leave it out
    assert not imports.ensure(root, "data/external/x.zip", "../shared/x.zip", st.dvc_executable())
    staged = subprocess.run(["git", "diff", "--cached", "--name-only"], cwd=root, check=True, capture_output=True, text=True).stdout.split()
    assert [p for p in staged if p.startswith("data/")] == ["data/external/.gitignore", "data/external/x.zip.dvc"]
    with pytest.raises(StudyError, match=re.escape(f"imports: data/external/y.zip comes from ../shared/y.zip, which does not exist "
                                                   f"(looked for {(tmp_path / 'shared' / 'y.zip').resolve()})")):
        imports.ensure(root, "data/external/y.zip", "../shared/y.zip", st.dvc_executable())
    assert not (root / "data/external/y.zip.dvc").exists()


@pytest.mark.slow
def test_a_queued_experiment_finds_imported_data(tmp_path):
    """The experiment queue runs in a temporary copy of the repository, where a path relative to
    the workspace does not exist; an imported file is checked out there from the DVC cache."""
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "x.zip").write_text("outside data\n")
    root = tmp_path / "repo"
    _git_dvc_repo(root)
    (root / "params.yaml").write_text("p: 1\n")
    (root / "dvc.yaml").write_text("stages:\n  s:\n    cmd: cat data/external/x.zip > out.txt\n    deps: [data/external]\n"
                                   "    params: [p]\n    outs: [out.txt]\n")
    (root / "data/external").mkdir(parents=True)
    (root / "data/external/README.md").write_text("imports\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid"]
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "init"], cwd=root, check=True)
    imports.ensure(root, "data/external/x.zip", "../shared/x.zip", st.dvc_executable())
    dvc = st.dvc_executable()
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": f"{Path(dvc).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run([dvc, "exp", "run", "--queue", "-n", "q", "-S", "p=2"], cwd=root, check=True, capture_output=True, env=env)
    subprocess.run([dvc, "queue", "start", "-j", "1"], cwd=root, check=True, capture_output=True, env=env)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        status = subprocess.run([dvc, "queue", "status"], cwd=root, capture_output=True, text=True, env=env, check=False).stdout
        if "Success" in status or "Failed" in status:
            break
        time.sleep(2)
    subprocess.run([dvc, "queue", "stop", "--kill"], cwd=root, capture_output=True, env=env, check=False)
    assert "Success" in status, status
    out = subprocess.run(["git", "show", "refs/exps/" + _exp_ref(root, "q") + ":dvc.lock"], cwd=root, capture_output=True, text=True, check=False)
    assert "out.txt" in out.stdout


def _exp_ref(root: Path, name: str) -> str:
    refs = subprocess.run(["git", "for-each-ref", "--format=%(refname)", "refs/exps"], cwd=root, check=True,
                          capture_output=True, text=True).stdout.split()
    (ref,) = [r for r in refs if r.endswith("/" + name)]
    return ref.removeprefix("refs/exps/")


def test_run_queue_imports_first_then_queues_every_run(tmp_path, monkeypatch):
    """`study run --dataset cifar10 --queue`: the CIFAR-10 copy is imported, then each run is
    queued with `dvc exp run --queue`, reading data.path from data/external/."""
    import shutil
    from types import SimpleNamespace

    from ticketleak_studies import cli

    shutil.copytree(ROOT / "studies", tmp_path / "studies")
    log = tmp_path / "reports/seed004/runs.json"
    log.parent.mkdir(parents=True)
    log.write_text(json.dumps({"seed004-cifar10-lam1e-2": {"wall_s": 687.0, "rc": 0}}))  # an earlier run's
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    monkeypatch.setattr(cli, "_baselines", lambda study, root: (params, None, params))
    done = []
    monkeypatch.setattr(imports, "ensure", lambda root, target, source, dvc, env: done.append(("import", target, source)) or True)
    monkeypatch.setattr(subprocess, "call", lambda cmd, cwd=None, env=None: done.append(tuple(cmd[1:5]) + (cmd[-1],)) or 0)
    args = SimpleNamespace(study="seed004", dataset="cifar10", scale="cpu", only=None, dry_run=False, force=False,
                           allow_dirty_params=False, jobs=None, queue=True)
    cli.cmd_run(args, tmp_path)
    assert done == [("import", "data/external/cifar10-jpeg.zip", "../shared/data/cifar10-jpeg.zip"),
                    *[("exp", "run", "-n", f"seed004-cifar10-{run}", "--queue") for run in ("lam1e-2", "lam1e-1", "lam1e-3")]]
    log = json.loads((tmp_path / "reports/seed004/runs.json").read_text())
    assert log["seed004-cifar10-lam1e-2"]["rc"] is None and "wall_s" not in log["seed004-cifar10-lam1e-2"]  # no wall time
    with pytest.raises(StudyError, match=r"^--queue and -j: choose one"):
        cli.cmd_run(SimpleNamespace(**{**vars(args), "jobs": 2}), tmp_path)
