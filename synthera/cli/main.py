"""The ``synthera`` command: the root :data:`app` and the one list of command modules.

The app, its error handling and the shared helpers live in :mod:`synthera.cli._app` and
:mod:`synthera.cli._common`; each command module adds its commands to the app when imported, and
this is the only module that imports them.
"""

from __future__ import annotations

import sys

from synthera.cli._app import _Group, app, clean, fail, warn, warnings_once

__all__ = ["app", "main", "fail", "warn", "clean", "warnings_once", "_Group"]

# Each command module adds its commands to `app` when imported. This is the one list of them.
from synthera.cli import (  # noqa: E402,F401
    bias,
    data,
    evaluate,
    flock,
    hf,
    pipeline,  # noqa: E402,F401
    private,
    synth,
    text,
    text_train,
)


def main() -> None:
    """Console-script entry point."""
    app(prog_name="synthera")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
