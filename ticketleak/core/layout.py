"""Where everything lives: every path of the pipeline, the model roles and the pruning levels.

Stages, the report and the studies all take their paths from here. A *level* is ``dense`` or
``<method>-<sparsity>`` (``lth_oneshot-0.9``, the sparsity as DVC renders it in stage names);
a *role* (:class:`Role`) is the target, shadow ``i`` or reference model ``j``; a *seed* is one
training seed of ``seeds`` (every model of a seed, target, shadows, reference models and their
pruned versions, is trained with it; the data splits are the same for every seed)::

    data/prepared/{meta.json, target.npz, shadow-<i>.npz}
    models/seed-<k>/<defense>/<level>/<role>/{model.pt, info.json, live/}  (+ init.pt, rewind.pt dense; mask.pt pruned)
    models/reference-models/seed-<k>/<defense>/<level>/ref-<j>/           (LiRA / RMIA; + in.npy)
    posteriors/seed-<k>/<defense>/<level>/{<role>.npz, models.json}
    released/seed-<k>/<defense>/<level>/<release>/<role>.npz              (release-time defenses)
    results/seed-<k>/<defense>/<level>.json (+ -scores.npz, -samia.json, -reference.json, -reference-scores.npz)
    results/seed-<k>/<defense>/{transfer.json, greybox.json}
    reports/exposure/seed-<k>/<defense>-<level>.csv
    metrics/summary.json, reports/summary.md, plots/

Variant names are lower-case identifiers (no '-'), so ``reference-models`` can never be one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DENSE = "dense"
PREPARED = Path("data/prepared")
MODELS = Path("models")
REFERENCE_MODELS = MODELS / "reference-models"
POSTERIORS = Path("posteriors")
RELEASED = Path("released")
RESULTS = Path("results")
METRICS = Path("metrics/summary.json")
REPORT = Path("reports/summary.md")
PLOTS = Path("plots")
STAGING = Path(".staging")  # unfinished outputs: ignored by Git and DVC, cleared when stale

REFERENCE_SEED_OFFSET = 10_000  # reference j trains with seed base + 10000 + j: apart from any shadow's
SEED_STRIDE = 1_000_000  # training seed k's models use base k * SEED_STRIDE: apart from every other seed's


def seed_dir(seed: int) -> str:
    """The folder of training seed ``seed`` under models/, posteriors/, released/ and results/."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"a training seed is a non-negative integer, got {seed!r}")
    return f"seed-{seed}"


@dataclass(frozen=True, order=True)
class Role:
    """Which model of a level: ``target``, ``shadow`` ``index`` or ``reference`` ``index``."""

    kind: str
    index: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("target", "shadow", "reference"):
            raise ValueError(f"unknown role kind {self.kind!r}")
        if self.index < 0 or (self.kind == "target" and self.index):
            raise ValueError(f"bad role index {self.index} for {self.kind}")

    @classmethod
    def parse(cls, name: str) -> Role:
        """``target``, ``shadow-<i>`` or ``ref-<j>``."""
        if name == "target":
            return TARGET
        kind, sep, index = name.partition("-")
        if sep and index.isdigit() and kind in ("shadow", "ref"):
            return cls("reference" if kind == "ref" else kind, int(index))
        raise ValueError(f"unknown role {name!r} (target, shadow-<i> or ref-<j>)")

    @property
    def name(self) -> str:
        return "target" if self.kind == "target" else f"{'ref' if self.is_reference else 'shadow'}-{self.index}"

    @property
    def is_reference(self) -> bool:
        return self.kind == "reference"

    def seed(self, training_seed: int) -> int:
        """The torch seed of this role under training seed ``k`` (``base = k * 1,000,000``): the
        target trains with ``base``, shadow i with ``base + i + 1``, reference j with
        ``base + 10000 + j`` (distinct inits and batch orders within a seed and across seeds;
        seed 0 gives the seeds of the single-seed pipeline before training seeds existed)."""
        base = training_seed * SEED_STRIDE
        if self.kind == "target":
            return base
        return base + (REFERENCE_SEED_OFFSET + self.index if self.is_reference else self.index + 1)

    @property
    def split(self) -> Path:
        """The prepared split the role's data comes from (reference models: halves of the target's)."""
        return PREPARED / f"{'target' if self.is_reference else self.name}.npz"

    def __str__(self) -> str:
        return self.name


TARGET = Role("target")


def shadow(index: int) -> Role:
    return Role("shadow", index)


def reference(index: int) -> Role:
    return Role("reference", index)


def shadows(ids: list[int]) -> list[Role]:
    return [shadow(i) for i in ids]


def level_name(method: str, sparsity: float) -> str:
    """Name of a pruned variant, ``<method>-<sparsity>`` as DVC renders it (``lth_oneshot-0.9``)."""
    return f"{method}-{float(sparsity)!r}"


def parse_level(level: str) -> tuple[str, float]:
    """``dense`` -> (``dense``, 0.0); ``lth_oneshot-0.9`` -> (``lth_oneshot``, 0.9)."""
    if level == DENSE:
        return DENSE, 0.0
    method, _, sparsity = level.rpartition("-")
    return method, float(sparsity)


def levels(methods: list[str], sparsities: list[float]) -> list[str]:
    """Every level of a run: dense, then each method's sparsities in increasing order."""
    return [DENSE] + [level_name(m, s) for m in methods for s in sorted(sparsities)]


def model_dir(seed: int, defense: str, level: str, role: Role) -> Path:
    """Target and shadows: models/seed-<k>/<defense>/<level>/<role>; reference models apart
    (models/reference-models/seed-<k>/...), so stages reading a level's target and shadows do not
    depend on them."""
    base = REFERENCE_MODELS if role.is_reference else MODELS
    return base / seed_dir(seed) / defense / level / role.name


def posteriors_dir(seed: int, defense: str, level: str) -> Path:
    return POSTERIORS / seed_dir(seed) / defense / level


def posteriors_file(seed: int, defense: str, level: str, role: Role) -> Path:
    return posteriors_dir(seed, defense, level) / f"{role.name}.npz"


def released_level_dir(seed: int, defense: str, level: str) -> Path:
    """What the models of one level release, one folder per release-time variant."""
    return RELEASED / seed_dir(seed) / defense / level


def released_dir(seed: int, defense: str, level: str, release: str) -> Path:
    """What the models of one level release under release-time variant ``release``."""
    return released_level_dir(seed, defense, level) / release


def results_dir(seed: int, defense: str) -> Path:
    return RESULTS / seed_dir(seed) / defense


def result_paths(seed: int, defense: str, level: str) -> tuple[Path, Path]:
    """The attack metrics (JSON, kept in Git) and the per-sample scores (.npz, DVC cache)."""
    return results_dir(seed, defense) / f"{level}.json", results_dir(seed, defense) / f"{level}-scores.npz"


def reference_paths(seed: int, defense: str, level: str) -> tuple[Path, Path]:
    """LiRA's and RMIA's metrics (JSON, kept in Git) and their per-sample scores (.npz)."""
    out = results_dir(seed, defense)
    return out / f"{level}-reference.json", out / f"{level}-reference-scores.npz"


EXPOSURE = Path("reports/exposure")


def exposure_path(seed: int, defense: str, level: str) -> Path:
    """Every attack's score for every evaluation sample of one (defense, level), as CSV."""
    return EXPOSURE / seed_dir(seed) / f"{defense}-{level}.csv"


def samia_path(seed: int, defense: str, level: str) -> Path:
    return results_dir(seed, defense) / f"{level}-samia.json"


def transfer_path(seed: int, defense: str) -> Path:
    """The source x target attack-transfer matrix of one defense."""
    return results_dir(seed, defense) / "transfer.json"


def greybox_path(seed: int, defense: str) -> Path:
    """The grey-box (leaked members) sweep of one defense over all levels."""
    return results_dir(seed, defense) / "greybox.json"
