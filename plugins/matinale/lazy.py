"""A package's public names imported from their submodule on first use (PEP 562).

A package whose ``__init__`` re-exports heavy submodules (scikit-learn for ``segment``,
FastAPI for ``links``) would load them into every process that imports any of its light
submodules; ``lazy_exports`` defers each import to the first access of the name.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``where`` maps each public name to the
    module that defines it. A name is imported once, then kept in the package."""

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
