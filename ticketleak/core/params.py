"""Typed, validated parameters: the schema of ``params.yaml``.

Every key of ``params.yaml`` is a field of one of the sections below (:mod:`ticketleak.core.schema`).
The accepted names of datasets, architectures, pruning methods and defenses, and the settings of
each pruning method and defense, come from their registries (:mod:`ticketleak.core.registry`): an
entry's ``Settings`` sit in its own module, so adding one is adding one file. Loading checks
types, ranges and spelling (an unknown key names its closest valid neighbour) and fails with a
single-line :class:`ParamsError` before any work starts.

Inside a DVC stage, :func:`load` reads only the keys that stage declares in ``dvc.yaml``
(:func:`declared_keys`); touching any other field raises :class:`ParamsError`, so a stage can
never silently depend on a key that does not invalidate it.
"""

from __future__ import annotations

import os
import re
import typing
from dataclasses import dataclass, fields
from pathlib import Path

from ticketleak.core import schema
from ticketleak.core.recipe import Recipe
from ticketleak.core.registry import (
    ARCHITECTURES,
    CLASSIFIERS,
    DATASETS,
    DEFENSES,
    PRUNING_METHODS,
    load_factory,
)
from ticketleak.core.schema import (
    UNDECLARED,
    Choice,
    ParamsError,
    Section,
    choice,
    choices,
    declared,
)

__all__ = ["Params", "ParamsError", "Variant", "check_key", "load", "read_yaml", "validate"]

SHOKRI_FEATURES = ("sorted", "label", "top3")  # the keys of ticketleak.attacks.FEATURES (a test ties them)
NAME = re.compile(r"[a-z][a-z0-9_]*")  # variant names: they appear in stage names and folders, joined by '-'


@dataclass(frozen=True)
class DataParams(Section):
    name: str
    path: str | None
    label: str
    root: str
    classes: list[int] | None
    target_size: int
    shadow_size: int
    val_size: int
    seed: int

    def check(self) -> None:
        if declared(self, "name") and self.name not in DATASETS.names():
            raise ParamsError(f"data.name: unknown dataset '{self.name}' (choose from {', '.join(DATASETS.names())})")
        if declared(self, "label") and not self.label.strip():
            raise ParamsError("data.label: must name the label column of a table, got an empty name")
        for key in ("target_size", "shadow_size", "val_size"):
            if declared(self, key) and getattr(self, key) < 1:
                raise ParamsError(f"data.{key}: must be at least 1, got {getattr(self, key)}")
        if declared(self, "classes") and self.classes is not None:
            if len(self.classes) < 2 or len(set(self.classes)) != len(self.classes) or min(self.classes) < 0:
                raise ParamsError(f"data.classes: need two or more distinct non-negative class indices, got {self.classes}")


@dataclass(frozen=True)
class ModelParams(Section):
    arch: str
    dropout: float

    def check(self) -> None:
        if declared(self, "arch") and self.arch not in ARCHITECTURES.names():
            if ":" not in self.arch:
                raise ParamsError(f"model.arch: unknown architecture '{self.arch}' (choose from "
                                  f"{', '.join(ARCHITECTURES.names())}, or give your own as package.module:function)")
            load_factory(self.arch, "model.arch")
        if declared(self, "dropout") and not 0 <= self.dropout < 1:
            raise ParamsError(f"model.dropout: must be in [0, 1), got {self.dropout}")


@dataclass(frozen=True)
class TrainParams(Section, Recipe):
    """The training recipe's fields (:class:`ticketleak.core.recipe.Recipe`), then where to train (the
    training seeds are the top-level ``seeds``)."""

    device: str

    def recipe(self, epochs: int | None = None) -> Recipe:
        """The recipe these params give (``epochs`` overrides theirs); defenses are not part of it."""
        return Recipe(**{f.name: getattr(self, f.name) for f in fields(Recipe)} | ({"epochs": epochs} if epochs else {}))

    def check(self) -> None:
        choice(self, "optimizer", ("sgd", "adam"))
        choice(self, "schedule", ("constant", "cosine", "step"))
        choice(self, "device", ("auto", "cpu", "cuda"))
        for key in ("epochs", "batch_size"):
            if declared(self, key) and getattr(self, key) < 1:
                raise ParamsError(f"train.{key}: must be a positive integer, got {getattr(self, key)}")
        if declared(self, "lr") and self.lr <= 0:
            raise ParamsError(f"train.lr: must be positive, got {self.lr}")
        for key in ("momentum", "weight_decay"):
            if declared(self, key) and getattr(self, key) < 0:
                raise ParamsError(f"train.{key}: must be non-negative, got {getattr(self, key)}")


@dataclass(frozen=True)
class ShadowParams(Section):
    ids: list[int]

    def check(self) -> None:
        if declared(self, "ids"):
            if not self.ids:
                raise ParamsError("shadow.ids: the Shokri attack needs at least one shadow model, got []")
            if len(set(self.ids)) != len(self.ids) or min(self.ids) < 0:
                raise ParamsError(f"shadow.ids: need distinct non-negative ids, got {self.ids}")


@dataclass(frozen=True)
class PruneParams(Section):
    """The pruning grid, and under ``prune.<method>`` each registered method's own settings
    (its module's ``Settings``; read them with ``p.prune.entry(method)``)."""

    entries = PRUNING_METHODS
    methods: list[str]
    sparsities: list[float]
    scope: str
    output_layer: bool
    rewind_epoch: int

    def check(self) -> None:
        if declared(self, "methods"):
            choices(self.methods, PRUNING_METHODS.names(), "prune.methods")
        choice(self, "scope", ("global", "layer"))
        if declared(self, "sparsities"):
            for s in self.sparsities:
                if not 0 <= s < 1:
                    raise ParamsError(f"prune.sparsities: sparsity {s} is outside [0, 1)")
            if len(set(self.sparsities)) != len(self.sparsities):
                raise ParamsError(f"prune.sparsities: duplicate levels in {self.sparsities}")
        if declared(self, "rewind_epoch") and self.rewind_epoch < 0:
            raise ParamsError(f"prune.rewind_epoch: must be >= 0 (0 rewinds to the initial weights), got {self.rewind_epoch}")


@dataclass(frozen=True)
class ShokriParams(Section):
    hidden: list[int]
    max_iter: int
    seed: int
    classifiers: list[str]
    variants: list[str]
    per_class: bool

    def check(self) -> None:
        reference = "the reference Shokri attack, summarised, plotted and transferred; add the others beside it"
        for key, options, required in (("classifiers", CLASSIFIERS.names(), "mlp"), ("variants", SHOKRI_FEATURES, "sorted")):
            if declared(self, key):
                choices(getattr(self, key), options, f"attack.shokri.{key}")
                if required not in getattr(self, key):  # also rejects []
                    raise ParamsError(f"attack.shokri.{key}: must include '{required}' ({reference})")
        if declared(self, "hidden") and (not self.hidden or min(self.hidden) < 1):
            raise ParamsError(f"attack.shokri.hidden: need one or more positive layer widths, got {self.hidden}")
        if declared(self, "max_iter") and self.max_iter < 1:
            raise ParamsError(f"attack.shokri.max_iter: must be positive, got {self.max_iter}")


@dataclass(frozen=True)
class GreyboxParams(Section):
    fractions: list[float]
    repeats: int
    seed: int

    def check(self) -> None:
        if declared(self, "fractions"):
            if not self.fractions or not all(0 < f < 0.5 for f in self.fractions):
                raise ParamsError(f"attack.greybox.fractions: need leak fractions in (0, 0.5), got {self.fractions}")
        if declared(self, "repeats") and self.repeats < 1:
            raise ParamsError(f"attack.greybox.repeats: must be a positive integer, got {self.repeats}")


@dataclass(frozen=True)
class SamiaParams(Section):
    enabled: bool
    defenses: list[str]
    queries: int
    eps: float
    epochs: int
    batch_size: int
    lr: float
    seed: int

    def check(self) -> None:
        for key in ("queries", "epochs", "batch_size"):
            if declared(self, key) and getattr(self, key) < 1:
                raise ParamsError(f"attack.samia.{key}: must be a positive integer, got {getattr(self, key)}")
        for key in ("eps", "lr"):
            if declared(self, key) and getattr(self, key) <= 0:
                raise ParamsError(f"attack.samia.{key}: must be positive, got {getattr(self, key)}")


@dataclass(frozen=True)
class ReferenceParams(Section):
    """Reference models for LiRA and RMIA, trained on halves of the target's candidate set."""

    ids: list[int]
    defenses: list[str]
    seed: int
    mirror: bool
    population: int

    def check(self) -> None:
        if declared(self, "population") and self.population < 1:
            raise ParamsError(f"attack.reference.population: must be at least 1, got {self.population}")
        if declared(self, "ids"):
            n = len(self.ids)
            if n < 4 or n % 2 or self.ids != list(range(n)):
                raise ParamsError(
                    f"attack.reference.ids: need 0, 1, ..., M-1 with M even and >= 4 (models come in IN/OUT pairs; "
                    f"decision thresholds are calibrated on one with the others as its references), got {self.ids}"
                )


@dataclass(frozen=True)
class AttackParams(Section):
    shokri: ShokriParams
    shadow_curve: bool
    bootstrap: int
    greybox: GreyboxParams
    samia: SamiaParams
    reference: ReferenceParams
    headline: list[str]  # the attack the verdicts and summary use: the first of these a variant has
    margin: float  # equivalence margin on AUC for "no difference" claims

    def check(self) -> None:
        if declared(self, "bootstrap") and self.bootstrap < 0:
            raise ParamsError(f"attack.bootstrap: must be >= 0, got {self.bootstrap}")
        if declared(self, "headline") and not (self.headline and all(isinstance(a, str) and a for a in self.headline)):
            raise ParamsError(f"attack.headline: need a non-empty list of attack names, got {self.headline}")
        if declared(self, "margin") and not 0 < self.margin < 0.5:
            raise ParamsError(f"attack.margin: must be in (0, 0.5), got {self.margin}")


class Variant(Choice):
    """One named defense variant: ``kind`` (a module of :mod:`ticketleak.defenses`) and that
    defense's ``Settings`` (its strength), readable as attributes (``variant.lam``)."""

    registry = DEFENSES

    @property
    def when(self) -> str:
        """``train`` (the defense changes training) or ``release`` (only what the model releases)."""
        return DEFENSES.get(self.kind).WHEN


@dataclass(frozen=True)
class DefenseParams(Section):
    train: list[str]
    release: list[str]
    variants: dict[str, Variant]  # training-time variants by name
    release_variants: dict[str, Variant]  # release-time variants by name

    def check(self) -> None:
        for key in ("train", "release"):
            if declared(self, key) and len(set(getattr(self, key))) != len(getattr(self, key)):
                raise ParamsError(f"defense.{key}: duplicate entries in {getattr(self, key)}")
        if declared(self, "train") and "none" not in self.train:
            raise ParamsError("defense.train: must include 'none' (the undefended baseline)")
        for listed, table, when in (("train", "variants", "train"), ("release", "release_variants", "release")):
            variants = object.__getattribute__(self, table)
            if variants is UNDECLARED:
                continue
            for name, v in variants.items():
                if not NAME.fullmatch(name):
                    raise ParamsError(f"defense.{table}.{name}: a variant name is lower-case letters, digits and '_', starting with a letter")
                if v.when != when:
                    kinds = [k for k in DEFENSES.names() if DEFENSES.get(k).WHEN == when]
                    raise ParamsError(f"defense.{table}.{name}: '{v.kind}' is not a {when}-time defense ({', '.join(kinds)})")
            if table == "variants" and "none" in variants and variants["none"].kind != "none":
                raise ParamsError("defense.variants.none: must be of kind 'none' (the undefended baseline)")
            if declared(self, listed):
                for name in getattr(self, listed):
                    if name not in variants:
                        raise ParamsError(f"defense.{listed}: '{name}' is not defined under defense.{table}")


@dataclass(frozen=True)
class Params(Section):
    """The whole of ``params.yaml``."""

    seeds: list[int]
    data: DataParams
    model: ModelParams
    train: TrainParams
    shadow: ShadowParams
    prune: PruneParams
    attack: AttackParams
    defense: DefenseParams

    def check(self) -> None:
        if declared(self, "seeds"):
            if not self.seeds:
                raise ParamsError("seeds: need at least one training seed, got [] (verdicts need 3 or more)")
            if len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
                raise ParamsError(f"seeds: need distinct non-negative integers, got {self.seeds}")
        if declared(self, "attack") and declared(self, "defense") and declared(self.defense, "train"):
            for key in ("samia", "reference"):
                section = self.attack.__dict__[key]  # may be undeclared in a stage's partial view
                if section is not UNDECLARED and declared(section, "defenses"):
                    extra = [d for d in section.defenses if d not in self.defense.train]
                    if extra:
                        raise ParamsError(f"attack.{key}.defenses: {extra} not in defense.train {self.defense.train}")
        self._check_tabular()
        if declared(self, "model") and declared(self, "prune"):
            if declared(self.model, "arch") and declared(self.prune, "methods"):
                for method in self.prune.methods:
                    needs = getattr(PRUNING_METHODS.get(method), "NEEDS_BATCHNORM", False)
                    custom = self.model.arch not in ARCHITECTURES.names()  # its own model: slimming checks it
                    if needs and not custom and not getattr(ARCHITECTURES.get(self.model.arch), "BATCHNORM", False):
                        bn = [a for a in ARCHITECTURES.names() if getattr(ARCHITECTURES.get(a), "BATCHNORM", False)]
                        raise ParamsError(
                            f"prune.methods: {method} prunes BatchNorm channels, but model.arch '{self.model.arch}' "
                            f"has none (use one of {', '.join(bn)})"
                        )

    def _check_tabular(self) -> None:
        """Tabular records are not images: no convolutional model, crops, flips or mirror queries."""
        if not (declared(self, "data") and declared(self.data, "name")) or self.data.name not in DATASETS.names():
            return
        if not getattr(DATASETS.get(self.data.name), "TABULAR", False):
            return
        what = f"data.name '{self.data.name}' holds tabular records, not images"
        if declared(self, "model") and declared(self.model, "arch") and self.model.arch in ARCHITECTURES.names():
            if not getattr(ARCHITECTURES.get(self.model.arch), "TABULAR", False):
                takes = [a for a in ARCHITECTURES.names() if getattr(ARCHITECTURES.get(a), "TABULAR", False)]
                raise ParamsError(f"model.arch: '{self.model.arch}' takes images, but {what} "
                                  f"(use {', '.join(takes)}, or your own model as package.module:function)")
        if declared(self, "train") and declared(self.train, "augment") and self.train.augment:
            raise ParamsError(f"train.augment: random crops and flips are for images, but {what} (set it to false)")
        reference = self.attack.__dict__["reference"] if declared(self, "attack") else UNDECLARED
        if reference is not UNDECLARED and declared(reference, "mirror") and reference.mirror:
            raise ParamsError(f"attack.reference.mirror: the mirror query flips images, but {what} (set it to false)")


def read_yaml(path: str | Path) -> dict:
    """Read a params file, with a one-line error if it is missing or not YAML."""
    return schema.read_yaml(path) or {}


def check_key(key: str) -> None:
    """Raise :class:`ParamsError` unless dotted ``key`` is a key of ``params.yaml``'s schema."""
    schema.check_key(Params, key)


def validate(raw: dict) -> Params:
    """Validate a whole params mapping; every key must be present and known."""
    return typing.cast(Params, schema.build(Params, raw, ""))


def load(path: str | Path = "params.yaml", stage: str | None = None) -> Params:
    """Load params for ``stage`` (default: ``$DVC_STAGE``), or the whole validated file outside DVC.

    Inside a stage only the declared keys are loaded; reading another raises ParamsError.
    """
    stage = stage or os.environ.get("DVC_STAGE")
    raw = read_yaml(path)
    if not stage:
        return validate(raw)
    keys = declared_keys(stage, path)
    shown = raw if keys is None else select(raw, keys, stage)
    return typing.cast(Params, schema.build(Params, shown, "", partial=True))


def declared_keys(stage: str, path: str | Path = "params.yaml") -> list[str] | None:
    """The keys of params file ``path`` that DVC stage ``stage`` declares (None: the whole file).

    DVC's own resolver expands that one stage's ``matrix`` / ``foreach`` entry and its
    ``${...}`` interpolation, from the stage's ``dvc.yaml`` (``file:name`` for a ``dvc.yaml``
    elsewhere) in the current folder. ``dvc.api.params_show`` would first build the index of every
    stage and parse ``dvc.lock`` (about 2 s per stage at 200 stages), and, given the file, it
    returns the whole file rather than the stage's keys."""
    from dvc.parsing import DataResolver
    from dvc.repo import Repo

    dvcfile, _, name = stage.rpartition(":")
    dvcfile = Path(dvcfile or "dvc.yaml")
    definitions = schema.read_yaml(dvcfile) or {}
    repo = Repo(os.environ.get("DVC_ROOT") or None, uninitialized=True)
    try:
        resolved = DataResolver(repo, str(dvcfile.parent.resolve()), definitions).resolve_one(name)
    except Exception as exc:  # an unknown stage, or interpolation DVC cannot resolve
        raise ParamsError(f"stage '{stage}': cannot resolve its params in {dvcfile} ({str(exc).splitlines()[0]})") from None
    finally:
        repo.close()
    target = Path(path).resolve()
    keys: list[str] = []
    for entry in resolved[name].get("params", []):
        if isinstance(entry, str):
            named = {"params.yaml": [entry]}
        else:
            named = entry
        for file, listed in named.items():
            if (dvcfile.parent / file).resolve() != target:
                continue  # another params file: not this schema's
            if not listed:
                return None  # the whole file
            keys.extend(listed)
    return keys


def select(raw: dict, keys: list[str], stage: str) -> dict:
    """The part of ``raw`` that dotted ``keys`` name, nested as in the file (what DVC records)."""
    import copy

    out: dict = {}
    for key in keys:
        node, parts = raw, key.split(".")
        for part in parts:
            if not isinstance(node, dict) or part not in node:
                raise ParamsError(f"stage '{stage}' declares params key '{key}', which params.yaml lacks")
            node = node[part]
        into = out
        for part in parts[:-1]:
            into = into.setdefault(part, {})
        into[parts[-1]] = copy.deepcopy(node)
    return out
