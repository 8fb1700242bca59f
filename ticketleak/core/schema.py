"""Typed configuration sections: frozen dataclasses built from YAML mappings and checked.

A :class:`Section` is a frozen dataclass whose fields are the keys of one mapping. :func:`build`
checks every value against its annotation (ints are accepted where floats are expected; PyYAML's
``1e-3`` strings become floats), rejects unknown keys with the closest valid one, and calls the
section's :meth:`Section.check` for its ranges. Every error is one :class:`ParamsError` line that
names the dotted key.

Two kinds of section hold entries of a registry (:mod:`ticketleak.core.registry`) instead of fixed
fields: one whose leftover keys are registered names (``prune.<method>``: set ``entries``), and a
:class:`Choice`, a mapping with a ``kind`` naming the entry whose ``Settings`` give the other keys
(a defense variant). Both find their settings class in the entry's own module.

With ``partial=True`` (inside a DVC stage) absent keys become :data:`UNDECLARED`; reading one
raises, so a stage cannot silently depend on a key that does not invalidate it.
"""

from __future__ import annotations

import difflib
import os
import types
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

import yaml

from ticketleak.core.errors import UserError


class ParamsError(UserError, ValueError):
    """A bad parameter: the message is one line and names the key."""


class _Undeclared:
    def __repr__(self) -> str:
        return "<undeclared>"


UNDECLARED: Any = _Undeclared()


class Section:
    """Base of every params section: raises when a stage reads a key it did not declare."""

    _section: str = ""  # set per instance by build (the dotted key)
    entries: ClassVar[Any] = None  # a ticketleak.core.registry.Registry: leftover keys are its names

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

    def entry(self, name: str) -> Section:
        """The settings of registered entry ``name`` (a section with ``entries``)."""
        found = object.__getattribute__(self, "_entries").get(name, UNDECLARED)
        if found is UNDECLARED:
            stage = os.environ.get("DVC_STAGE", "this stage")
            raise ParamsError(f"{stage} reads '{self._section}.{name}' but does not declare it in dvc.yaml params")
        return found


@dataclass(frozen=True)
class NoSettings(Section):
    """An entry without settings of its own."""


class Choice(Section):
    """One named choice of a registry: ``kind`` plus that entry's settings, as attributes."""

    registry: ClassVar[Any]  # the ticketleak.core.registry.Registry the kinds come from

    def __init__(self, kind: str, settings: Section) -> None:
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "settings", settings)

    def __getattr__(self, name: str) -> Any:  # the settings' fields read as the choice's own
        return getattr(object.__getattribute__(self, "settings"), name)

    def __repr__(self) -> str:
        s = object.__getattribute__(self, "settings")
        body = ", ".join(f"{f.name}={getattr(s, f.name)!r}" for f in fields(s))
        return f"{type(self).__name__}(kind={self.kind!r}{', ' + body if body else ''})"


def declared(section: Section, name: str) -> bool:
    return object.__getattribute__(section, name) is not UNDECLARED


def choice(section: Section, key: str, options: tuple[str, ...]) -> None:
    if declared(section, key) and getattr(section, key) not in options:
        raise ParamsError(f"{section._section}.{key}: unknown value '{getattr(section, key)}' (choose from {', '.join(options)})")


def choices(values: list[str], options: tuple[str, ...], key: str) -> None:
    for v in values:
        if v not in options:
            raise ParamsError(f"{key}: unknown entry '{v}' (choose from {', '.join(options)})")
    if len(set(values)) != len(values):
        raise ParamsError(f"{key}: duplicate entries in {values}")


def at_least(section: Section, key: str, low: float, strict: bool = False) -> None:
    """``section.key >= low`` (``> low`` when strict); null passes."""
    value = getattr(section, key) if declared(section, key) else None
    if value is not None and (value <= low if strict else value < low):
        raise ParamsError(f"{section._section}.{key}: must be {'>' if strict else '>='} {low:g}, got {value}")


def within(section: Section, key: str, low: float, high: float, closed: str = "[)") -> None:
    """``low <= section.key < high`` (``closed`` says which ends belong: ``[)``, ``()``, ``[]``, ``(]``)."""
    if not declared(section, key):
        return
    v = getattr(section, key)
    ok = (v >= low if closed[0] == "[" else v > low) and (v <= high if closed[1] == "]" else v < high)
    if not ok:
        raise ParamsError(f"{section._section}.{key}: must be in {closed[0]}{low:g}, {high:g}{closed[1]}, got {v}")


def _coerce(value: Any, tp: Any, key: str, partial: bool = False) -> Any:
    """Check ``value`` against the annotation ``tp``."""
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
    if isinstance(tp, type) and issubclass(tp, Choice):
        return _choice(tp, value, key)
    if isinstance(tp, type) and issubclass(tp, Section):
        return build(tp, value, key, partial)
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


def _choice(cls: type[Choice], raw: Any, key: str) -> Choice:
    names = cls.registry.names()
    if not isinstance(raw, dict) or "kind" not in raw:
        raise ParamsError(f"{key}: expected a mapping with a 'kind' (one of {', '.join(names)}), got {raw!r}")
    kind = raw["kind"]
    if kind not in names:
        raise ParamsError(f"{key}.kind: unknown {cls.registry.what} '{kind}' (choose from {', '.join(names)})")
    settings = build(cls.registry.settings(kind), {k: v for k, v in raw.items() if k != "kind"}, key)
    return cls(kind, settings)


def build(cls: type[Section], raw: Any, prefix: str, partial: bool = False) -> Section:
    """Build section ``cls`` from a dict; with ``partial`` absent keys become UNDECLARED."""
    if raw is None and not fields(cls):
        raw = {}
    if not isinstance(raw, dict):
        raise ParamsError(f"{prefix or 'params'}: expected a mapping of keys, got {raw!r}")
    hints = _hints(cls)
    names = [f.name for f in fields(cls)]
    registered = cls.entries.names() if cls.entries is not None else ()
    where = lambda k: f"{prefix}.{k}" if prefix else k  # noqa: E731
    for key in raw:
        if key not in names and key not in registered:
            valid = [*names, *registered]
            close = difflib.get_close_matches(str(key), valid, n=1)
            hint = f" (did you mean '{where(close[0])}'?)" if close else f" (valid keys: {', '.join(valid) or 'none'})"
            raise ParamsError(f"params.yaml: unknown key '{where(key)}'{hint}")
    values = {}
    for name in names:
        if name in raw:
            values[name] = _coerce(raw[name], hints[name], where(name), partial)
        elif partial:
            values[name] = UNDECLARED
        else:
            raise ParamsError(f"params.yaml: missing key '{where(name)}'")
    entries = {}
    for name in registered:
        if name in raw:
            entries[name] = build(cls.entries.settings(name), raw[name], where(name), partial)  # type: ignore[union-attr]
        elif not partial:
            what = cls.entries.what  # type: ignore[union-attr]
            raise ParamsError(f"params.yaml: missing key '{where(name)}' (the settings of the registered {what} '{name}'; {{}} if it has none)")
    section = cls(**values)
    object.__setattr__(section, "_section", prefix)
    object.__setattr__(section, "_entries", entries)
    section.check()
    return section


def check_key(root: type[Section], key: str) -> None:
    """Raise :class:`ParamsError` unless dotted ``key`` names a key of the schema under ``root``.

    Below a ``dict[str, ...]`` (named variants) any name is allowed, and inside a choice any key:
    full validation judges those."""
    tp: Any = root
    parts = key.split(".")
    for i, part in enumerate(parts):
        tp = _unwrap_optional(tp)
        if isinstance(tp, type) and issubclass(tp, Choice):
            return
        if isinstance(tp, type) and issubclass(tp, Section):
            names = [f.name for f in fields(tp)]
            registered = tp.entries.names() if tp.entries is not None else ()
            if part in registered:
                tp = tp.entries.settings(part)  # type: ignore[union-attr]
                continue
            if part not in names:
                prefix = ".".join(parts[:i])
                options = [f"{prefix}.{n}" if prefix else n for n in (*names, *registered)]
                close = difflib.get_close_matches(".".join(parts[: i + 1]), options, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else f" (valid: {', '.join(options)})"
                raise ParamsError(f"unknown params key '{key}'{hint}")
            tp = _hints(tp)[part]
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            raise ParamsError(f"params key '{key}': '{'.'.join(parts[:i])}' is a value, not a section")


def _hints(cls: type) -> dict[str, Any]:
    """The resolved annotations of a section."""
    return typing.get_type_hints(cls)


def _unwrap_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return inner[0] if len(inner) == 1 else tp
    return tp


def read_yaml(path: str | Path, error: type[Exception] = ParamsError) -> Any:
    """Read a YAML file, with a one-line ``error`` if it is missing or not YAML."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: file not found")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise error(f"{path}: not valid YAML{where}") from None
