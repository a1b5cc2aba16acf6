"""Text-to-SQL: databases, schemas, one SQL runner, and a grammar that samples verified queries.

One job per module:

- :mod:`~synthera.text.sql.execute`: the one runner (:func:`execute_sql`, read-only, with a timeout)
  and the one comparison of results (:func:`results_match`, Spider's rules by default);
- :mod:`~synthera.text.sql.schema`: tables, keys, value comments and the schema a prompt shows;
- :mod:`~synthera.text.sql.analysis`: canonical SQL, the duplicate key, Spider's hardness;
- :mod:`~synthera.text.sql.profile`: what each column holds;
- :mod:`~synthera.text.sql.grammar`: the query families and :class:`SQLSampler`;
- :mod:`~synthera.text.sql.wording`: question wording and the round-trip check;
- :mod:`~synthera.text.sql.databases`: SQLite files from frames, mirrors and synthetic rows
  (the one module that uses :mod:`synthera.tabular`).

Names load on first use.
"""

from __future__ import annotations

from synthera._lazy import lazy_attributes

_LAZY = {
    "MATCH_MODES": "synthera.text.sql.execute",
    "SQLExecutionError": "synthera.text.sql.execute",
    "execute_sql": "synthera.text.sql.execute",
    "has_order_by": "synthera.text.sql.execute",
    "prepare_for_mode": "synthera.text.sql.execute",
    "results_match": "synthera.text.sql.execute",
    "sqlite_path": "synthera.text.sql.execute",
    "Column": "synthera.text.sql.schema",
    "ColumnValues": "synthera.text.sql.schema",
    "ForeignKey": "synthera.text.sql.schema",
    "Schema": "synthera.text.sql.schema",
    "Table": "synthera.text.sql.schema",
    "column_values": "synthera.text.sql.schema",
    "quote_identifier": "synthera.text.sql.schema",
    "read_schema": "synthera.text.sql.schema",
    "schema_prompt": "synthera.text.sql.schema",
    "database_from_tables": "synthera.text.sql.databases",
    "mirror_database": "synthera.text.sql.databases",
    "synthetic_database": "synthera.text.sql.databases",
    "synthetic_database_path": "synthera.text.sql.databases",
    "normalize_sql": "synthera.text.sql.analysis",
    "spider_hardness": "synthera.text.sql.analysis",
    "sql_key": "synthera.text.sql.analysis",
    "SQLSampler": "synthera.text.sql.grammar",
    "round_trip_ok": "synthera.text.sql.wording",
}

__all__ = [
    "MATCH_MODES",
    "Column",
    "ColumnValues",
    "ForeignKey",
    "SQLExecutionError",
    "SQLSampler",
    "Schema",
    "Table",
    "column_values",
    "database_from_tables",
    "execute_sql",
    "has_order_by",
    "mirror_database",
    "normalize_sql",
    "quote_identifier",
    "read_schema",
    "prepare_for_mode",
    "results_match",
    "round_trip_ok",
    "schema_prompt",
    "spider_hardness",
    "sql_key",
    "sqlite_path",
    "synthetic_database",
    "synthetic_database_path",
]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
