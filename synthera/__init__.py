"""Synthera: synthetic data you can share, with proof that it is useful, private and fair.

The package is laid out by job:

- :mod:`synthera.io` reads and writes tables (CSV, Parquet, JSON Lines, SQL), atomically.
- :mod:`synthera.metadata` infers what each column is and stores it as versioned JSON.
- :mod:`synthera.datasets` holds the bundled real datasets (Adult, COMPAS, German credit).
- :mod:`synthera.cli` is the ``synthera`` command, a thin shell over the same API.
- :mod:`synthera.errors` is the one error hierarchy.

>>> import synthera
>>> train, test = synthera.datasets.load("adult")
>>> synthera.infer_metadata(train)["age"].kind
'numerical'

Names are imported on first use, so ``import synthera`` (and ``synthera --help``)
stays fast even though the data stack behind it is heavy.
"""

from __future__ import annotations

from synthera._lazy import lazy_attributes

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "datasets": "synthera.datasets",
    "evaluate": "synthera.evaluate",
    "SyntheraError": "synthera.errors",
    "UserInputError": "synthera.errors",
    "DataError": "synthera.errors",
    "MetadataError": "synthera.errors",
    "NotFittedError": "synthera.errors",
    "read_table": "synthera.io",
    "write_table": "synthera.io",
    "ColumnMetadata": "synthera.metadata",
    "Metadata": "synthera.metadata",
    "infer_metadata": "synthera.metadata",
}

__all__ = ["__version__", *_LAZY]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
