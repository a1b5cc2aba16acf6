"""The ``synthera`` command: a thin shell over the Python API.

Each module here adds the commands of one area to :data:`app`; none of them
holds logic that the Python API lacks.
"""

from synthera.cli.main import app, main

__all__ = ["app", "main"]
