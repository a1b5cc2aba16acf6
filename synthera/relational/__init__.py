"""Whole databases: schemas with keys, reading and writing, a synthesizer, and relational metrics.

>>> from synthera.relational import RelationalSynthesizer, read_database, write_database   # doctest: +SKIP
>>> tables, schema = read_database("shop.db")                                             # doctest: +SKIP
>>> model = RelationalSynthesizer().fit(tables, schema=schema)                             # doctest: +SKIP
>>> write_database(model.sample(scale=1.0, seed=0), schema, "synthetic.db")                # doctest: +SKIP

Modules: :mod:`~synthera.relational.schema` (tables, keys, JSON),
:mod:`~synthera.relational.inference` (keys, and the order of history tables, guessed from the data),
:mod:`~synthera.relational.io` (databases in and out),
:mod:`~synthera.relational.model` (the synthesizer; a table with a ``sequence_index`` is a history per parent row),
:mod:`~synthera.relational.metrics` (cardinality, inter-table and k-hop trends, integrity, privacy).
"""

from __future__ import annotations

from synthera._lazy import lazy_attributes

__all__ = [
    "DatabaseEvaluation",
    "ForeignKey",
    "RelationalSynthesizer",
    "Schema",
    "TableSchema",
    "count_orphans",
    "evaluate_database",
    "infer_schema",
    "propose_sequences",
    "read_database",
    "write_database",
]

_LAZY = {
    "ForeignKey": "synthera.relational.schema",
    "Schema": "synthera.relational.schema",
    "TableSchema": "synthera.relational.schema",
    "count_orphans": "synthera.relational.schema",
    "infer_schema": "synthera.relational.inference",
    "propose_sequences": "synthera.relational.inference",
    "read_database": "synthera.relational.io",
    "write_database": "synthera.relational.io",
    "RelationalSynthesizer": "synthera.relational.model",
    "evaluate_database": "synthera.relational.metrics",
    "DatabaseEvaluation": "synthera.relational.report",
}

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
