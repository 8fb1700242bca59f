"""Typed, validated parameters: the schema of ``params.yaml``.

Every key of ``params.yaml`` is a field of one of the frozen dataclasses below. Loading checks
types, ranges and spelling (an unknown key names its closest valid neighbour) and fails with a
single-line :class:`ParamsError` before any work starts.

Inside a DVC stage, :func:`load` reads only the keys that stage declares in ``dvc.yaml``
(``dvc.api.params_show``); touching any other field raises :class:`ParamsError`, so a stage can
never silently depend on a key that does not invalidate it.
"""

from __future__ import annotations

import difflib
import os
import types
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

DATASETS = ("digits", "cifar10", "cifar100", "mnist", "fashion_mnist", "svhn", "imagefolder")
ARCHITECTURES = ("mlp", "cnn", "cnn_bn", "lenet5", "resnet18", "resnet50", "vgg16_bn", "densenet121")
PRUNING_METHODS = (
    "lth_oneshot", "lth_imp", "random_reinit", "random_prune", "finetune_l1",
    "filter_l1", "filter_l2", "slimming", "snip", "grasp",
)
BATCHNORM_ARCHITECTURES = ("cnn_bn", "resnet18", "resnet50", "vgg16_bn", "densenet121")


class ParamsError(ValueError):
    """A bad parameter: the message is one line and names the key."""


class _Undeclared:
    def __repr__(self) -> str:
        return "<undeclared>"


UNDECLARED: Any = _Undeclared()


class Section:
    """Base of every params section: raises when a stage reads a key it did not declare."""

    _section: str = ""  # set per instance by _build (the dotted key)

    def __getattribute__(self, name: str) -> Any:
        value = object.__getattribute__(self, name)
        if value is UNDECLARED:
            stage = os.environ.get("DVC_STAGE", "this stage")
            section = object.__getattribute__(self, "_section")
            key = f"{section}.{name}" if section else name
            raise ParamsError(f"{stage} reads '{key}' but does not declare it in dvc.yaml params")
        return value

    def check(self) -> None:
        """Cross-field checks of one section (declared fields only)."""


def _declared(section: Section, name: str) -> bool:
    return object.__getattribute__(section, name) is not UNDECLARED


@dataclass(frozen=True)
class DataParams(Section):
    name: str
    path: str | None
    root: str
    classes: list[int] | None
    target_size: int
    shadow_size: int
    val_size: int
    seed: int

    def check(self) -> None:
        if _declared(self, "name") and self.name not in DATASETS:
            raise ParamsError(f"data.name: unknown dataset '{self.name}' (choose from {', '.join(DATASETS)})")
        for key in ("target_size", "shadow_size", "val_size"):
            if _declared(self, key) and getattr(self, key) < 1:
                raise ParamsError(f"data.{key}: must be at least 1, got {getattr(self, key)}")
        if _declared(self, "classes") and self.classes is not None:
            if len(self.classes) < 2 or len(set(self.classes)) != len(self.classes) or min(self.classes) < 0:
                raise ParamsError(f"data.classes: need two or more distinct non-negative class indices, got {self.classes}")


@dataclass(frozen=True)
class ModelParams(Section):
    arch: str
    dropout: float

    def check(self) -> None:
        if _declared(self, "arch") and self.arch not in ARCHITECTURES:
            raise ParamsError(f"model.arch: unknown architecture '{self.arch}' (choose from {', '.join(ARCHITECTURES)})")
        if _declared(self, "dropout") and not 0 <= self.dropout < 1:
            raise ParamsError(f"model.dropout: must be in [0, 1), got {self.dropout}")


@dataclass(frozen=True)
class TrainParams(Section):
    optimizer: str
    lr: float
    momentum: float
    weight_decay: float
    epochs: int
    batch_size: int
    schedule: str
    augment: bool
    seed: int
    device: str

    def check(self) -> None:
        _choice(self, "optimizer", ("sgd", "adam"))
        _choice(self, "schedule", ("constant", "cosine", "step"))
        _choice(self, "device", ("auto", "cpu", "cuda"))
        for key in ("epochs", "batch_size"):
            if _declared(self, key) and getattr(self, key) < 1:
                raise ParamsError(f"train.{key}: must be a positive integer, got {getattr(self, key)}")
        if _declared(self, "lr") and self.lr <= 0:
            raise ParamsError(f"train.lr: must be positive, got {self.lr}")
        for key in ("momentum", "weight_decay"):
            if _declared(self, key) and getattr(self, key) < 0:
                raise ParamsError(f"train.{key}: must be non-negative, got {getattr(self, key)}")


@dataclass(frozen=True)
class ShadowParams(Section):
    ids: list[int]

    def check(self) -> None:
        if _declared(self, "ids"):
            if not self.ids:
                raise ParamsError("shadow.ids: the Shokri attack needs at least one shadow model, got []")
            if len(set(self.ids)) != len(self.ids) or min(self.ids) < 0:
                raise ParamsError(f"shadow.ids: need distinct non-negative ids, got {self.ids}")


@dataclass(frozen=True)
class NoSettings(Section):
    """A method or defense without settings of its own."""


@dataclass(frozen=True)
class RetrainParams(Section):
    retrain_epochs: int | None

    def check(self) -> None:
        _positive_or_null(self, "retrain_epochs")


@dataclass(frozen=True)
class ImpParams(Section):
    rate: float
    retrain_epochs: int | None

    def check(self) -> None:
        if _declared(self, "rate") and not 0 < self.rate < 1:
            raise ParamsError(f"{self._section}.rate: must be in (0, 1), got {self.rate}")
        _positive_or_null(self, "retrain_epochs")


@dataclass(frozen=True)
class FinetuneParams(Section):
    epochs: int | None
    patience: int

    def check(self) -> None:
        _positive_or_null(self, "epochs")
        if _declared(self, "patience") and self.patience < 1:
            raise ParamsError(f"{self._section}.patience: must be a positive integer, got {self.patience}")


@dataclass(frozen=True)
class InitPruneParams(Section):
    batch: int
    retrain_epochs: int | None

    def check(self) -> None:
        if _declared(self, "batch") and self.batch < 2:
            raise ParamsError(f"{self._section}.batch: must be at least 2, got {self.batch}")
        _positive_or_null(self, "retrain_epochs")


@dataclass(frozen=True)
class PruneParams(Section):
    methods: list[str]
    sparsities: list[float]
    scope: str
    rewind_epoch: int
    lth_oneshot: RetrainParams
    lth_imp: ImpParams
    random_reinit: RetrainParams
    random_prune: RetrainParams
    finetune_l1: FinetuneParams
    filter_l1: FinetuneParams
    filter_l2: FinetuneParams
    slimming: FinetuneParams
    snip: InitPruneParams
    grasp: InitPruneParams

    def check(self) -> None:
        if _declared(self, "methods"):
            _choices(self.methods, PRUNING_METHODS, "prune.methods")
        _choice(self, "scope", ("global", "layer"))
        if _declared(self, "sparsities"):
            for s in self.sparsities:
                _check_sparsity(s, "prune.sparsities")
            if len(set(self.sparsities)) != len(self.sparsities):
                raise ParamsError(f"prune.sparsities: duplicate levels in {self.sparsities}")
        if _declared(self, "rewind_epoch") and self.rewind_epoch < 0:
            raise ParamsError(f"prune.rewind_epoch: must be >= 0 (0 rewinds to the initial weights), got {self.rewind_epoch}")


ATTACK_CLASSIFIERS = ("mlp", "logreg", "linear_svm", "rbf_svm", "tree", "forest")
SHOKRI_VARIANTS = ("sorted", "label", "top3")


@dataclass(frozen=True)
class ShokriParams(Section):
    hidden: list[int]
    max_iter: int
    seed: int
    classifiers: list[str]
    variants: list[str]
    per_class: bool

    def check(self) -> None:
        if _declared(self, "classifiers"):
            _choices(self.classifiers, ATTACK_CLASSIFIERS, "attack.shokri.classifiers")
            if "mlp" not in self.classifiers:  # also rejects []
                raise ParamsError(
                    "attack.shokri.classifiers: must include 'mlp' (the reference Shokri attack, "
                    "summarised, plotted and transferred); add the others beside it"
                )
        if _declared(self, "variants"):
            _choices(self.variants, SHOKRI_VARIANTS, "attack.shokri.variants")
            if "sorted" not in self.variants:
                raise ParamsError("attack.shokri.variants: must include 'sorted' (the reference Shokri attack)")
        if _declared(self, "hidden") and (not self.hidden or min(self.hidden) < 1):
            raise ParamsError(f"attack.shokri.hidden: need one or more positive layer widths, got {self.hidden}")
        if _declared(self, "max_iter") and self.max_iter < 1:
            raise ParamsError(f"attack.shokri.max_iter: must be positive, got {self.max_iter}")


@dataclass(frozen=True)
class GreyboxParams(Section):
    fractions: list[float]
    repeats: int
    seed: int

    def check(self) -> None:
        if _declared(self, "fractions"):
            if not self.fractions or not all(0 < f < 0.5 for f in self.fractions):
                raise ParamsError(f"attack.greybox.fractions: need leak fractions in (0, 0.5), got {self.fractions}")
        if _declared(self, "repeats") and self.repeats < 1:
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
            if _declared(self, key) and getattr(self, key) < 1:
                raise ParamsError(f"attack.samia.{key}: must be a positive integer, got {getattr(self, key)}")
        for key in ("eps", "lr"):
            if _declared(self, key) and getattr(self, key) <= 0:
                raise ParamsError(f"attack.samia.{key}: must be positive, got {getattr(self, key)}")


@dataclass(frozen=True)
class ReferenceParams(Section):
    """Reference models for LiRA and RMIA, trained on halves of the target's candidate set."""

    ids: list[int]
    defenses: list[str]
    seed: int
    mirror: bool

    def check(self) -> None:
        if _declared(self, "ids"):
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

    def check(self) -> None:
        if _declared(self, "bootstrap") and self.bootstrap < 0:
            raise ParamsError(f"attack.bootstrap: must be >= 0, got {self.bootstrap}")


# Defense variants: each named variant has a kind and that kind's strength settings. The range
# checks live with the defenses themselves (ticketleak/defenses.py).
VARIANT_FIELDS: dict[str, dict[str, type]] = {
    "none": {},
    "l2": {"lam": float},
    "dropout": {"rate": float},
    "early_stop": {"patience": int},
    "label_smoothing": {"epsilon": float},
    "distill": {"alpha": float, "temperature": float},
    "advreg": {"theta": float, "steps": int},
    "ppb": {"lam": float},
    "dpsgd": {"clip": float, "noise": float, "delta": float},
    "topk": {"k": int},
    "round": {"decimals": int},
}
RELEASE_KINDS = ("topk", "round")
TRAIN_KINDS = tuple(k for k in VARIANT_FIELDS if k not in RELEASE_KINDS)


class Variant(Section):
    """One named defense variant: ``kind`` plus that kind's settings, as attributes."""

    def __init__(self, kind: str, **settings: Any) -> None:
        object.__setattr__(self, "kind", kind)
        for key, value in settings.items():
            object.__setattr__(self, key, value)
        object.__setattr__(self, "_keys", ("kind", *settings))

    def __repr__(self) -> str:
        return "Variant(" + ", ".join(f"{k}={object.__getattribute__(self, k)!r}" for k in self._keys) + ")"


def _variant(raw: Any, key: str) -> Variant:
    if not isinstance(raw, dict) or "kind" not in raw:
        raise ParamsError(f"{key}: expected a mapping with a 'kind' (one of {', '.join(VARIANT_FIELDS)}), got {raw!r}")
    kind = raw["kind"]
    if kind not in VARIANT_FIELDS:
        raise ParamsError(f"{key}.kind: unknown defense '{kind}' (choose from {', '.join(VARIANT_FIELDS)})")
    schema = VARIANT_FIELDS[kind]
    for name in raw:
        if name != "kind" and name not in schema:
            close = difflib.get_close_matches(str(name), list(schema), n=1)
            hint = f" (did you mean '{key}.{close[0]}'?)" if close else f" ({kind} takes: {', '.join(schema) or 'nothing'})"
            raise ParamsError(f"params.yaml: unknown key '{key}.{name}'{hint}")
    missing = [name for name in schema if name not in raw]
    if missing:
        raise ParamsError(f"params.yaml: missing key '{key}.{missing[0]}'")
    variant = Variant(kind, **{name: _coerce(raw[name], tp, f"{key}.{name}") for name, tp in schema.items()})
    if kind in RELEASE_KINDS:
        if getattr(variant, "k", 1) < 1 or not 0 <= getattr(variant, "decimals", 0) <= 12:
            raise ParamsError(f"{key}: need k >= 1 (topk) or 0 <= decimals <= 12 (round), got {raw}")
        return variant
    from ticketleak.defenses import training_defense

    try:
        training_defense(kind, variant)
    except ValueError as exc:
        raise ParamsError(f"{key}: {str(exc).split(': ', 1)[-1]}") from None
    return variant


@dataclass(frozen=True)
class DefenseParams(Section):
    train: list[str]
    release: list[str]
    variants: dict[str, Variant]  # training-time variants by name
    release_variants: dict[str, Variant]  # release-time variants by name

    def check(self) -> None:
        for key in ("train", "release"):
            if _declared(self, key) and len(set(getattr(self, key))) != len(getattr(self, key)):
                raise ParamsError(f"defense.{key}: duplicate entries in {getattr(self, key)}")
        if _declared(self, "train") and "none" not in self.train:
            raise ParamsError("defense.train: must include 'none' (the undefended baseline)")
        for listed, table, kinds, what in (
            ("train", "variants", TRAIN_KINDS, "training-time"),
            ("release", "release_variants", RELEASE_KINDS, "release-time"),
        ):
            variants = object.__getattribute__(self, table)
            if variants is UNDECLARED:
                continue
            for name, v in variants.items():
                if v.kind not in kinds:
                    raise ParamsError(f"defense.{table}.{name}: '{v.kind}' is not a {what} defense ({', '.join(kinds)})")
            if table == "variants" and "reference" in variants:
                raise ParamsError("defense.variants.reference: the name is taken (models/reference/ holds LiRA's reference models)")
            if table == "variants" and "none" in variants and variants["none"].kind != "none":
                raise ParamsError("defense.variants.none: must be of kind 'none' (the undefended baseline)")
            if _declared(self, listed):
                for name in getattr(self, listed):
                    if name not in variants:
                        raise ParamsError(f"defense.{listed}: '{name}' is not defined under defense.{table}")


@dataclass(frozen=True)
class Params(Section):
    """The whole of ``params.yaml``."""

    data: DataParams
    model: ModelParams
    train: TrainParams
    shadow: ShadowParams
    prune: PruneParams
    attack: AttackParams
    defense: DefenseParams

    def check(self) -> None:
        if _declared(self, "attack") and _declared(self, "defense") and _declared(self.defense, "train"):
            for key in ("samia", "reference"):
                section = self.attack.__dict__[key]  # may be undeclared in a stage's partial view
                if section is not UNDECLARED and _declared(section, "defenses"):
                    extra = [d for d in section.defenses if d not in self.defense.train]
                    if extra:
                        raise ParamsError(f"attack.{key}.defenses: {extra} not in defense.train {self.defense.train}")
        if _declared(self, "model") and _declared(self, "prune"):
            if _declared(self.model, "arch") and _declared(self.prune, "methods"):
                if "slimming" in self.prune.methods and self.model.arch not in BATCHNORM_ARCHITECTURES:
                    raise ParamsError(
                        f"prune.methods: slimming prunes BatchNorm channels, but model.arch '{self.model.arch}' "
                        f"has none (use one of {', '.join(BATCHNORM_ARCHITECTURES)})"
                    )


def _positive_or_null(section: Section, key: str) -> None:
    value = getattr(section, key) if _declared(section, key) else None
    if value is not None and value < 1:
        raise ParamsError(f"{section._section}.{key}: must be a positive integer or null, got {value}")


def _choice(section: Section, key: str, options: tuple[str, ...]) -> None:
    if _declared(section, key) and getattr(section, key) not in options:
        raise ParamsError(f"{section._section}.{key}: unknown value '{getattr(section, key)}' (choose from {', '.join(options)})")


def _choices(values: list[str], options: tuple[str, ...], key: str) -> None:
    for v in values:
        if v not in options:
            raise ParamsError(f"{key}: unknown entry '{v}' (choose from {', '.join(options)})")
    if len(set(values)) != len(values):
        raise ParamsError(f"{key}: duplicate entries in {values}")


def _check_sparsity(value: float, key: str) -> None:
    if not 0 <= value < 1:
        raise ParamsError(f"{key}: sparsity {value} is outside [0, 1)")


def _coerce(value: Any, tp: Any, key: str, partial: bool = False) -> Any:
    """Check ``value`` against the annotation ``tp``; ints are accepted where floats are expected."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key, partial)
    if origin is list:
        if not isinstance(value, list):
            raise ParamsError(f"{key}: expected a list, got {value!r}")
        (item,) = typing.get_args(tp)
        return [_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ParamsError(f"{key}: expected a mapping, got {value!r}")
        _, item = typing.get_args(tp)
        return {k: _coerce(v, item, f"{key}.{k}", partial) for k, v in value.items()}
    if tp is Variant:
        return _variant(value, key)
    if isinstance(tp, type) and issubclass(tp, Section):
        return _build(tp, value, key, partial)
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):  # PyYAML reads 1e-3 as a string
        try:
            return float(value)
        except ValueError:
            pass
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp in (str, bool) and isinstance(value, tp):
        return value
    raise ParamsError(f"{key}: expected {getattr(tp, '__name__', tp)}, got {value!r}")


def _build(cls: type[Section], raw: Any, prefix: str, partial: bool = False) -> Section:
    """Build section ``cls`` from a dict; with ``partial`` absent keys become UNDECLARED."""
    if raw is None and not fields(cls):
        raw = {}
    if not isinstance(raw, dict):
        raise ParamsError(f"{prefix or 'params'}: expected a mapping of keys, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    where = lambda k: f"{prefix}.{k}" if prefix else k  # noqa: E731
    for key in raw:
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean '{where(close[0])}'?)" if close else f" (valid keys: {', '.join(names)})"
            raise ParamsError(f"params.yaml: unknown key '{where(key)}'{hint}")
    values = {}
    for name in names:
        if name in raw:
            values[name] = _coerce(raw[name], hints[name], where(name), partial)
        elif partial:
            values[name] = UNDECLARED
        else:
            raise ParamsError(f"params.yaml: missing key '{where(name)}'")
    section = cls(**values)
    object.__setattr__(section, "_section", prefix)
    section.check()
    return section


def read_yaml(path: str | Path) -> dict:
    """Read a params file, with a one-line error if it is missing or not YAML."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: params file not found")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ParamsError(f"{path}: not valid YAML{where}") from None
    return raw or {}


def validate(raw: dict) -> Params:
    """Validate a whole params mapping; every key must be present and known."""
    return typing.cast(Params, _build(Params, raw, ""))


def load(path: str | Path = "params.yaml", stage: str | None = None) -> Params:
    """Load params for ``stage`` (default: ``$DVC_STAGE``), or the whole validated file outside DVC.

    Inside a stage only the declared keys are loaded; reading another raises ParamsError.
    """
    stage = stage or os.environ.get("DVC_STAGE")
    if not stage:
        return validate(read_yaml(path))
    import dvc.api  # only inside DVC stages

    declared = dvc.api.params_show(str(path), stages=stage)
    return typing.cast(Params, _build(Params, declared, "", partial=True))
