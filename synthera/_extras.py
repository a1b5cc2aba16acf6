"""Optional dependencies: import a heavy module, or say in one line which extra installs it.

``pip install synthera`` covers tabular synthesis, evaluation and I/O. The
language-model stack, the differential-privacy libraries and Dask come with
the extras ``[text]``, ``[dp]`` and ``[dask]`` (``[all]`` installs every one).
Code that needs one of those modules imports it through :func:`require`, so a
missing install reads as a fix, not as a traceback.

Examples
--------
>>> require("json", "text").dumps([1])
'[1]'
>>> require("no_such_module_xyz", "text")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
synthera.errors.UserInputError: no_such_module_xyz is not installed; this needs the 'text' extra: pip install ...
"""

from __future__ import annotations

import importlib
from types import ModuleType

from synthera.errors import UserInputError

__all__ = ["EXTRAS", "require"]

#: The extras of ``pyproject.toml`` that :func:`require` may name.
EXTRAS = ("dp", "text", "dask", "all")


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` (dotted names allowed); if it is not installed, raise one line naming ``extra``.

    Only a module that is missing turns into :class:`~synthera.errors.UserInputError`;
    any other import failure (a broken build, an incompatible version) is raised as it is.
    """
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}; known: {', '.join(EXTRAS)}")
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        missing = exc.name or module
        raise UserInputError(
            f"{missing} is not installed; this needs the '{extra}' extra: pip install 'synthera[{extra}]'"
        ) from None
