"""A package's re-exports loaded on first use (PEP 562): importing one light submodule of a package, or one of its
names, does not load the heavy submodules beside it (XML, vCard and phone-number libraries before the app's first
frame)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def lazy_exports(package: str, submodule_of: Mapping[str, str]) -> Callable[[str], object]:
    """The module `__getattr__` of `package`, which exports each name of `submodule_of` from the submodule it
    maps to, importing that submodule when the name is first asked for."""
    namespace = sys.modules[package].__dict__

    def export(name: str) -> object:
        submodule = submodule_of.get(name)
        if submodule is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{submodule}"), name)
        namespace[name] = value  # later uses are plain attribute lookups
        return value

    return export
