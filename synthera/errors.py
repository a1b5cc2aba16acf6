"""One error root for the whole library.

Every error Synthera raises on purpose derives from :class:`SyntheraError`.
Mistakes the user can fix (a wrong path, an unknown column, an empty table)
derive from :class:`UserInputError`, which is also a :class:`ValueError`, so
``except ValueError`` keeps working for callers who expect the standard type.

Messages follow one shape: what is wrong, then what to do about it, e.g.
``"file not found: data.csv; check the path"``. The CLI prints them on one
line and exits with code 2.
"""

from __future__ import annotations

__all__ = [
    "SyntheraError",
    "SyntheraWarning",
    "UserInputError",
    "DataError",
    "MetadataError",
    "ModelFileError",
    "NotFittedError",
]


class SyntheraError(Exception):
    """Root of every error raised by Synthera on purpose."""


class UserInputError(SyntheraError, ValueError):
    """A mistake in what the user passed: fixable without changing Synthera.

    ``param`` optionally names the parameter at fault (``"rows"``), as the message does; the CLI then shows
    that name as its flag (``--rows``).
    """

    def __init__(self, *args: object, param: str | None = None):
        super().__init__(*args)
        self.param = param


class DataError(UserInputError):
    """The data cannot be read or used as it is (missing, malformed, empty)."""


class MetadataError(UserInputError):
    """Metadata is malformed, of an unknown version, or contradicts the data."""


class NotFittedError(SyntheraError, AttributeError):
    """A model was used before ``fit`` was called."""


class SyntheraWarning(UserWarning):
    """Something worth a look that does not stop the run."""


class ModelFileError(UserInputError):
    """A saved model folder is missing, foreign, tampered with, or from a newer version."""
