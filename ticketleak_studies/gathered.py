"""The gathered results of a study: every run's files per dataset (:class:`RunData`), read lazily.

A run with several training seeds (``seeds`` in its params) is read seed by seed; its JSON
records are the mean over the seeds (:func:`ticketleak.report.mean_over_seeds`). A run made before
training seeds existed (no ``seeds`` key) is read from the single-seed layout (no ``seed-<k>/``)."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ticketleak.core import layout
from ticketleak.report import UTILITY_FLOOR, mean_over_seeds
from ticketleak.core.registry import DATASETS
from ticketleak_studies.commands import exp_name
from ticketleak_studies.presets import Study, StudyError, get_dotted
from ticketleak_studies.sources import Source


def dataset_classes(name: str | None) -> int | None:
    """The class count of a registered dataset (its module's ``NUM_CLASSES``); None when the
    dataset has no fixed count (``imagefolder``) or is not registered."""
    if not name or name not in DATASETS.names():
        return None
    return getattr(DATASETS.get(name), "NUM_CLASSES", None)


@dataclass
class RunData:
    """The files of one run of a study (one dataset), read lazily from its source."""

    dataset: str
    run: str
    exp: str
    source: Source
    wall_s: float | None = None
    _cache: dict = field(default_factory=dict, repr=False)
    only_seed: int | None = None  # a view of one training seed (:meth:`at_seed`)
    wall_note: str = ""  # what the wall time covers when not every stage ran (restored from the run cache)

    def _json(self, path: str) -> Any:
        if path not in self._cache:
            self._cache[path] = self.source.read_json(path)
        return self._cache[path]

    @property
    def params(self) -> dict:
        if "params.yaml" not in self._cache:
            self._cache["params.yaml"] = self.source.read_yaml("params.yaml") or {}
        return self._cache["params.yaml"]

    def p(self, key: str, default: Any = None) -> Any:
        """A params value of this run (dotted key)."""
        return get_dotted(self.params, key, default)

    @property
    def seeds(self) -> list[int]:
        """The run's training seeds (``[0]`` for a run made before seeds existed); a view of one
        seed (:meth:`at_seed`) has just that one."""
        return [self.only_seed] if self.only_seed is not None else list(self.p("seeds") or [0])

    def at_seed(self, seed: int) -> RunData:
        """This run as if it had trained training seed ``seed`` only (sharing the files read)."""
        if seed not in self.seeds:
            raise ValueError(f"{self.exp}: no training seed {seed} (it has {self.seeds})")
        return self.seed_view(seed)

    def seed_view(self, seed: int) -> RunData:
        """This run at training seed ``seed``, from any view (a one-seed view included): what the
        verdicts' per-seed pass uses to look at the run's other seeds."""
        return RunData(self.dataset, self.run, self.exp, self.source, self.wall_s, self._cache, seed, self.wall_note)

    def _path(self, path) -> str:
        """A layout path of a seed, in this run's layout (single-seed runs have no seed-<k>/ folder)."""
        parts = path.as_posix().split("/")
        if self.p("seeds") is None:
            parts = [x for x in parts if not (x.startswith("seed-") and x[5:].isdigit())]
        return "/".join(parts)

    def _mean_json(self, path: Callable[[int], Any]) -> Any:
        """The record ``path(k)`` of every training seed, averaged; None when any is missing."""
        records = [self._json(self._path(path(k))) for k in self.seeds]
        if any(r is None for r in records):
            return None
        return mean_over_seeds(records)

    def result(self, defense: str, level: str) -> dict | None:
        return self._mean_json(lambda k: layout.result_paths(k, defense, level)[0])

    def greybox(self, defense: str) -> dict | None:
        return self._mean_json(lambda k: layout.greybox_path(k, defense))

    def transfer(self) -> dict | None:
        return self._mean_json(lambda k: layout.transfer_path(k, "none"))

    def samia(self, defense: str, level: str) -> dict | None:
        record = self._mean_json(lambda k: layout.samia_path(k, defense, level))
        return None if not record or record.get("skipped") else record.get("samia")

    def attack(self, defense: str, level: str, attack: str, release: str = "none") -> dict | None:
        r = self.result(defense, level)
        return (r or {}).get("attacks", {}).get(release, {}).get(attack)

    def target(self, defense: str, level: str) -> dict | None:
        r = self.result(defense, level)
        return None if r is None else r.get("target")

    def curve(self, defense: str, level: str) -> dict[int, dict]:
        """The shadow-count curve: k -> attack -> {accuracy, auc, precision, recall}."""
        r = self.result(defense, level) or {}
        return {int(k): v for k, v in (r.get("shadow_curve") or {}).items()}

    @property
    def eval_n(self) -> int:
        """Evaluation samples of the target: its members and as many non-members."""
        return 2 * int(self.p("data.target_size", 0) or 0)

    @property
    def num_classes(self) -> int | None:
        classes = self.p("data.classes")
        if classes:
            return len(classes)
        # a dataset without a fixed class count (imagefolder) reads the study dataset's, e.g. a
        # CIFAR-10 JPEG copy under the study's dataset name cifar10
        known = dataset_classes(self.p("data.name"))
        return known if known is not None else dataset_classes(self.dataset)

    def below_floor(self, defense: str, level: str) -> float | None:
        """The lowest test accuracy of this target over every training seed of the run when it is
        below ``UTILITY_FLOOR`` x chance (too poor a model for its leakage to mean anything), else
        None. Decided on all the run's seeds in every view, so that a one-seed view (the verdicts'
        per-seed pass) leaves out exactly what the mean view does."""
        k = self.num_classes
        if not k:
            return None
        accs = []
        for seed in self.p("seeds") or [0]:
            acc = (self.seed_view(seed).target(defense, level) or {}).get("test_acc")
            if acc is not None:
                accs.append(acc)
        low = min(accs) if accs else None
        return low if low is not None and low < UTILITY_FLOOR / k else None

    def levels(self) -> list[str]:
        """Dense, then every ``<method>-<sparsity>`` of this run's params."""
        return layout.levels(self.p("prune.methods", []) or [], self.p("prune.sparsities", []) or [])

    def structure(self, defense: str, level: str) -> float | None:
        """Fraction of filters (filter pruning) or BatchNorm channels (slimming) the target lost,
        from its pruning record (a DVC-cached output; None when unavailable or unstructured).
        Slimming zeroes BatchNorm scales, not Conv/Linear weights, so its weight sparsity reads 0."""
        key = f"structure/{self.seeds[0]}/{defense}/{level}"
        if key not in self._cache:
            first = self.seeds[0]  # the pruning structure is the first seed's
            data = self.source.read_cached(self._path(layout.model_dir(first, defense, level, layout.TARGET) / "info.json"))
            info = {} if data is None else json.loads(data)
            self._cache[key] = info.get("filter_fraction", info.get("channel_fraction"))
        return self._cache[key]

    def gaps(self, defense: str, level: str) -> dict | None:
        """Seed 002, Fig. 1: mean confidence and sensitivity of the true class, members vs
        non-members, from each training seed's target posteriors (a DVC-cached output), averaged
        over the seeds; None when any seed's is unavailable."""
        key = f"gaps/{','.join(map(str, self.seeds))}/{defense}/{level}"
        if key not in self._cache:
            per_seed = []
            for k in self.seeds:
                data = self.source.read_cached(self._path(layout.posteriors_file(k, defense, level, layout.TARGET)))
                if data is None:
                    per_seed = None
                    break
                per_seed.append(posterior_gaps(np.load(io.BytesIO(data))))
            self._cache[key] = None if per_seed is None else mean_over_seeds(per_seed)
        return self._cache[key]


def posterior_gaps(arrays: Mapping[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Mean true-class confidence and sensitivity of members and non-members, their gap and the
    gap's standard error (``logits``, ``labels``, ``member``, ``sens`` as the posteriors stage writes)."""
    from ticketleak.tensors import softmax

    labels, member = np.asarray(arrays["labels"]), np.asarray(arrays["member"], dtype=bool)
    rows = np.arange(len(labels))
    out = {}
    signals = {"confidence": softmax(np.asarray(arrays["logits"], dtype=np.float64))[rows, labels]}
    if "sens" in arrays:
        signals["sensitivity"] = np.asarray(arrays["sens"], dtype=np.float64)[rows, labels]
    for name, values in signals.items():
        m, n = values[member], values[~member]
        out[name] = {
            "members": float(m.mean()), "nonmembers": float(n.mean()), "gap": float(m.mean() - n.mean()),
            "gap_sd": float(math.sqrt(m.var(ddof=1) / len(m) + n.var(ddof=1) / len(n))) if len(m) > 1 and len(n) > 1 else 0.0,
        }
    return out


@dataclass
class Gathered:
    """Every run of a study at one scale, per dataset: RunData, or None when not found."""

    study: Study
    scale: str
    runs: dict[tuple[str, str], RunData | None]

    def get(self, dataset: str, run: str | None) -> RunData | None:
        return self.runs.get((dataset, run)) if run else None

    def datasets(self) -> list[str]:
        return list(dict.fromkeys(d for d, _ in self.runs))

    def present(self, dataset: str | None = None) -> list[RunData]:
        return [r for (d, _), r in self.runs.items() if r is not None and (dataset is None or d == dataset)]

    def missing(self) -> list[str]:
        return [exp_name(self.study, self.scale, d, r) for (d, r), v in self.runs.items() if v is None]

    def seeds(self) -> list[int]:
        """The training seeds of the runs found: the first run's, in its order (runs that lack one
        of them count as not found in that seed's view, :meth:`at_seed`)."""
        present = self.present()
        return present[0].seeds if present else []

    def at_seed(self, seed: int) -> Gathered:
        """Every run as if it had trained training seed ``seed`` only."""
        return Gathered(self.study, self.scale, {
            key: r.at_seed(seed) if r is not None and seed in r.seeds else None for key, r in self.runs.items()})


def gather(
    study: Study, scale: str, datasets: Iterable[str], source_of: Callable[[str, str, str], Source | None],
    wall_times: Mapping[str, float] | None = None, wall_notes: Mapping[str, str] | None = None,
) -> Gathered:
    """Collect every run of ``study`` at ``scale`` on ``datasets``; ``source_of(dataset, run,
    exp_name)`` says where its files are (None: not run yet); ``wall_times`` and ``wall_notes``
    (from reports/<study>/runs.json, :func:`wall_note`) what each took."""
    runs: dict[tuple[str, str], RunData | None] = {}
    for dataset in datasets:
        if dataset not in study.scales[scale]:
            raise StudyError(f"{study.path}: no dataset '{dataset}' at {scale} scale (choose from {', '.join(study.scales[scale])})")
        for run in study.runs_at(scale):
            name = exp_name(study, scale, dataset, run.name)
            src = source_of(dataset, run.name, name)
            runs[(dataset, run.name)] = None if src is None else RunData(
                dataset, run.name, name, src, (wall_times or {}).get(name), wall_note=(wall_notes or {}).get(name, ""))
    return Gathered(study, scale, runs)


def wall_note(entry: Mapping[str, Any]) -> str:
    """What a runs.json entry's wall time covers, for the report: nothing to add when every stage
    ran; otherwise how many stages ran, how many DVC's run cache restored and how many were up to
    date already (a wall time that is not the cost of the run from nothing); and a later partial
    rerun, if recorded."""

    def counts(stages: Mapping[str, Any] | None) -> str:
        if not stages or not (stages.get("restored") or stages.get("unchanged")):
            return ""
        parts = [f"{stages.get('ran', 0)} stages ran"]
        parts += [f"{stages['restored']} restored from the run cache"] if stages.get("restored") else []
        parts += [f"{stages['unchanged']} already up to date from an earlier run"] if stages.get("unchanged") else []
        return ", ".join(parts)

    note = counts(entry.get("stages"))
    rerun = entry.get("rerun")
    if isinstance(rerun, Mapping) and rerun.get("wall_s") is not None:
        from ticketleak_studies.formatting import duration

        again = counts(rerun.get("stages"))
        what = rerun.get("what")
        later = f"rerun later in {duration(rerun['wall_s'])}{f' {what}' if what else ''}{f': {again}' if again else ''}"
        note = "; ".join(x for x in (note, later) if x)
    return f" ({note})" if note else ""
