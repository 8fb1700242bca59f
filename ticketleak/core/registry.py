"""Registries: a family (datasets, architectures, pruning methods, defenses, attack classifiers) is a package whose
public modules are its entries.

An entry is one module named after it (``ticketleak/pruning/lth_oneshot.py`` is the method
``lth_oneshot``), holding its algorithm and, where it has settings, a ``Settings`` section
(:class:`ticketleak.core.schema.Section`) beside it. Modules whose names start with ``_`` are the
family's shared helpers. So adding an entry is adding one file: the params schema
(:mod:`ticketleak.core.params`) takes the accepted names and each entry's settings from here.

Names are found from the package's files without importing the package, so checking a name
does not load torch; :meth:`Registry.get` imports the entry itself.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import re
import sys
from collections.abc import Callable
from functools import cache
from types import ModuleType

from ticketleak.core.schema import NoSettings, ParamsError, Section


class Registry:
    def __init__(self, package: str, what: str) -> None:
        self.package, self.what = package, what

    @cache  # noqa: B019 (one instance per family, alive for the process)
    def names(self) -> tuple[str, ...]:
        """Every registered name, sorted."""
        spec = importlib.util.find_spec(self.package)
        assert spec is not None and spec.submodule_search_locations, f"{self.package} is not a package"
        found = pkgutil.iter_modules(list(spec.submodule_search_locations))
        return tuple(sorted(m.name for m in found if not m.name.startswith("_")))

    def get(self, name: str) -> ModuleType:
        """The entry module of ``name``; an unknown name is a one-line :class:`ParamsError`."""
        if name not in self.names():
            raise ParamsError(f"unknown {self.what} '{name}' (choose from {', '.join(self.names())})")
        return importlib.import_module(f"{self.package}.{name}")

    def settings(self, name: str) -> type[Section]:
        """The settings section of entry ``name`` (:class:`NoSettings` when it has none)."""
        return getattr(self.get(name), "Settings", NoSettings)


FACTORY = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")  # package.module:function


def load_factory(spec: str, key: str) -> Callable[..., object]:
    """The function named by ``package.module:function`` (a user's own entry, e.g. ``model.arch``).

    The module is imported from the installed packages or the current folder (the repository
    root, where stages run); every failure is a one-line :class:`ParamsError` naming ``key``."""
    if not FACTORY.fullmatch(spec):
        raise ParamsError(f"{key}: '{spec}' is neither a registered name nor package.module:function")
    module_name, function = spec.split(":")
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or any error the user's module raises on import
        raise ParamsError(f"{key}: cannot import '{module_name}' ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    factory = getattr(module, function, None)
    if not callable(factory):
        raise ParamsError(f"{key}: module '{module_name}' has no function '{function}'")
    return factory


DATASETS = Registry("ticketleak.datasets", "dataset")
ARCHITECTURES = Registry("ticketleak.models", "architecture")
PRUNING_METHODS = Registry("ticketleak.pruning", "pruning method")
DEFENSES = Registry("ticketleak.defenses", "defense")
CLASSIFIERS = Registry("ticketleak.classifiers", "attack classifier")
