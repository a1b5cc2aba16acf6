"""The ``synthera`` command: a thin shell over the Python API.

Each command module adds the commands of one area to :data:`app`; none of them
holds logic that the Python API lacks. Command modules import only
:mod:`synthera.cli._app` (the app, errors, flag names) and
:mod:`synthera.cli._common` (console, spinner, help texts, table reading),
never each other; :mod:`synthera.cli.main` lists them.
"""

from synthera.cli.main import app, main

__all__ = ["app", "main"]
