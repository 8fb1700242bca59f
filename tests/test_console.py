"""The `ticketleak` command (ticketleak_studies/console.py): help, show, one-line errors.

Fast: no test runs DVC. The console runs as `python -m ticketleak_studies.console`, so the tests
do not depend on the entry point being installed; one test checks the installed script itself.
"""

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from conftest import ROOT

from ticketleak_studies import console

SUMMARY = {
    "none": {
        "dense": {"sparsity": 0.0, "train_acc": 0.9971, "test_acc": 0.9829, "headline_attack": "lira_offline_fixed", "headline_auc": 0.611,
                  "headline_tpr_at_1pct_fpr": 0.0629, "crossfit_best_auc": 0.59, "shokri_auc": 0.5227, "loss_auc": 0.5228, "lira_auc": 0.5677},
        "lth_oneshot-0.9": {"sparsity": 0.9, "train_acc": 0.9914, "test_acc": 0.9714, "headline_attack": "lira_offline_fixed", "headline_auc": 0.5949,
                            "headline_tpr_at_1pct_fpr": 0.0714, "crossfit_best_auc": 0.58, "shokri_auc": 0.5202, "loss_auc": 0.5206, "lira_auc": 0.5371},
    },
    "l2+topk": {
        "dense": {"sparsity": 0.0, "train_acc": 0.9971, "test_acc": 0.9857, "headline_attack": "loss_class", "headline_auc": 0.5071,
                  "headline_tpr_at_1pct_fpr": 0.0, "crossfit_best_auc": 0.5, "shokri_auc": 0.5, "loss_auc": 0.5071},
    },
}


def ticketleak(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ticketleak_studies.console", *args], check=False, cwd=cwd, capture_output=True, text=True)


def _one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    for fragment in fragments:
        assert fragment in proc.stderr


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A folder that looks like a repository to the console: a dvc.yaml, nothing else."""
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    return tmp_path


# ---- help and version -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "command, names",
    [
        ([], ["repro", "show", "study", "examples:"]),
        (["repro"], ["dvc repro", "TARGET", "DVC_REPRO_ARGS", "examples:"]),
        (["show"], ["--variant", "metrics/summary.json", "examples:"]),
        (["study"], ["list", "run", "report", "examples:"]),
        (["study", "list"], ["studies/*.yaml"]),
        (["study", "run"], ["--dataset", "--scale", "--only", "--dry-run", "--force", "--allow-dirty-params", "--queue", "examples:"]),
        (["study", "report"], ["--dataset", "--scale", "--source", "examples:"]),
    ],
)
def test_help_of_each_command(command, names):
    proc = ticketleak(*command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: ticketleak {' '.join(command)}".rstrip())
    for name in names:
        assert name in proc.stdout, name


def test_version_is_the_package_version():
    proc = ticketleak("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"ticketleak {console.version()}"
    assert console.version() != "unknown"  # the venv holds the editable install (make setup)


def test_no_command_is_a_usage_error():
    proc = ticketleak()
    assert proc.returncode == 2 and "usage: ticketleak" in proc.stderr


# ---- show -----------------------------------------------------------------------------------


def test_show_prints_one_aligned_row_per_variant_and_level(repo):
    (repo / "metrics").mkdir()
    (repo / "metrics" / "summary.json").write_text(json.dumps(SUMMARY))
    proc = ticketleak("show", cwd=repo / "metrics")  # the repository is found upwards
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:4] == ["variant", "level", "sparsity", "train"] and "LiRA AUC" in lines[0]
    assert set(lines[1]) == {"-", " "}
    rows = [line.split() for line in lines[2:]]
    assert rows == [
        ["none", "dense", "0.000", "0.997", "0.983", "lira_offline_fixed", "0.611", "0.063", "0.590", "0.523", "0.523", "0.568"],
        ["none", "lth_oneshot-0.9", "0.900", "0.991", "0.971", "lira_offline_fixed", "0.595", "0.071", "0.580", "0.520", "0.521", "0.537"],
        ["l2+topk", "dense", "0.000", "0.997", "0.986", "loss_class", "0.507", "0.000", "0.500", "0.500", "0.507", "-"],
    ]
    assert len({len(line) for line in lines[:4]}) == 1  # aligned: every full row is as wide as the heading
    only = ticketleak("show", "--variant", "l2+topk", cwd=repo)
    assert only.returncode == 0 and [line.split()[0] for line in only.stdout.splitlines()[2:]] == ["l2+topk"]
    assert "LiRA" not in only.stdout  # no row of the selection has it
    _one_line_error(ticketleak("show", "--variant", "nope", cwd=repo), "no variant 'nope'", "none, l2+topk")


def test_show_without_metrics_says_run_repro_first(repo):
    _one_line_error(ticketleak("show", cwd=repo), "metrics/summary.json not found", "ticketleak repro")


def test_show_with_a_broken_metrics_file_is_one_line(repo):
    (repo / "metrics").mkdir()
    (repo / "metrics" / "summary.json").write_text("{not json")
    _one_line_error(ticketleak("show", cwd=repo), "metrics/summary.json")


# ---- repro and study ------------------------------------------------------------------------


def test_repro_outside_a_repository_is_one_line(tmp_path):
    _one_line_error(ticketleak("repro", cwd=tmp_path), "no dvc.yaml", str(tmp_path.resolve()))
    _one_line_error(ticketleak("show", cwd=tmp_path), "no dvc.yaml")


def test_repro_passes_targets_and_everything_after_double_dash(monkeypatch, repo):
    seen = {}

    class FakePopen:
        def __init__(self, argv, cwd, env):
            seen.update(argv=argv, cwd=cwd, env=env)

        def wait(self):
            return 3

    monkeypatch.setattr(subprocess, "Popen", FakePopen)
    monkeypatch.chdir(repo)
    assert console.main(["repro", "aggregate", "--", "-f", "--", "x"]) == 3
    assert seen["argv"][1:] == ["repro", "aggregate", "-f", "--", "x"] and seen["cwd"] == repo.resolve()
    assert seen["env"]["DVC_NO_ANALYTICS"] == "1"
    assert seen["env"]["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)


def test_study_list_names_every_study():
    proc = ticketleak("study", "list")
    assert proc.returncode == 0, proc.stderr
    for name in ("seed000", "seed002", "seed003", "seed004"):
        assert f"{name}: " in proc.stdout and f"(studies/{name}.yaml)" in proc.stdout
    assert proc.stdout == subprocess.run([sys.executable, str(ROOT / "stages" / "study.py"), "list"],
                                         check=False, cwd=ROOT / "docs", capture_output=True, text=True).stdout


def test_study_errors_are_one_line():
    _one_line_error(ticketleak("study", "run", "seed999", "--dataset", "digits"), "unknown study 'seed999'")


def test_installed_script_exists():
    """`make setup` (pip install --no-deps -e .) installs the `ticketleak` console script."""
    script = Path(sysconfig.get_path("scripts")) / "ticketleak"
    assert script.is_file(), f"{script} not installed: run make setup (pip install --no-deps -e .)"
    proc = subprocess.run([str(script), "--version"], check=False, capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("ticketleak ")
