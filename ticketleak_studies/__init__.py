"""Seed studies: named DVC experiments per seed paper, and the report comparing their numbers with the seed's.

The command is ``ticketleak study`` (``cli``; ``stages/study.py`` wraps it); the work lives in these modules:

- ``presets``: load ``studies/<name>.yaml`` and check every key and run against the params schema;
- ``commands``: the ``dvc exp run -n <study>-<dataset>[-paper]-<run> -S ...`` commands;
- ``sources``: where a run's files are read (an experiment's commit, a git rev, the workspace);
- ``gathered``: every run's results, per dataset;
- ``formatting`` and ``verdicts``: table cells, spreads and the computed verdict lines;
- ``report``: ``reports/<study>[-paper].md``, with one module per report kind in ``sections``
  (``lottery``, ``pruning``, ``shadow``, ``greybox``) building each dataset's sections on the
  rendering state of ``document`` (imported by the sections and ``report``; ``report`` imports
  the sections, never the other way round).

The package sits beside the library (``ticketleak``): it reads the params schema, the dataset
registry and every result path from there (``ticketleak.core.params``, ``ticketleak.core.registry``,
``ticketleak.core.layout``), and nothing in ``ticketleak`` imports it.

The names below are the ones the CLI and the tests use; everything else is in its module.
"""

from ticketleak_studies.commands import Command, build_commands, hydra_value
from ticketleak_studies.formatting import diff, duration
from ticketleak_studies.gathered import gather, posterior_gaps, wall_note
from ticketleak_studies.presets import (
    SCALES,
    Study,
    StudyError,
    available,
    check_key,
    check_study,
    clean_baseline,
    load_study,
    resolve,
    stray_keys,
    study_keys,
)
from ticketleak_studies.report import (
    figure_dir,
    found_in,
    read_runs_log,
    render_report,
    report_path,
    runs_log_path,
    write_report,
)
from ticketleak_studies.sources import (
    InputsSource,
    MemorySource,
    RecordingSource,
    Source,
    dvc_executable,
    exp_show_json,
    exp_sources,
    git_params,
    parse_exp_show,
    save_inputs,
)
from ticketleak_studies.verdicts import binomial_sd, judge

__all__ = [
    "SCALES", "Command", "InputsSource", "MemorySource", "RecordingSource", "Source", "Study", "StudyError", "available", "binomial_sd", "build_commands",
    "check_key", "check_study", "clean_baseline", "diff", "duration", "dvc_executable", "exp_show_json",
    "exp_sources", "figure_dir", "found_in", "gather", "git_params", "hydra_value", "judge", "load_study", "parse_exp_show",
    "posterior_gaps", "read_runs_log", "render_report", "report_path", "resolve", "runs_log_path",
    "save_inputs", "stray_keys", "study_keys", "wall_note", "write_report",
]
