"""Lazy package attributes: public names imported from their module on first use.

A package lists ``{name: module}`` and calls :func:`lazy_attributes`, so that
``import synthera.text`` (and ``synthera --help``) stays instant while
``synthera.text.SomeClass`` still works. A name that is the module itself
(``"datasets": "synthera.datasets"``) gives the module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(package: str, table: Mapping[str, str], namespace: dict) -> tuple[Callable, Callable]:
    """The module-level ``__getattr__`` and ``__dir__`` of ``package`` for the lazy names in ``table``."""

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        mod = importlib.import_module(module)
        value = mod if module.endswith("." + name) else getattr(mod, name)
        namespace[name] = value  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(table))

    return __getattr__, __dir__
