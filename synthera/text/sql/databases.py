"""Building SQLite databases: from data frames, as a mirror of another database, or from synthetic rows.

This is the one module of :mod:`synthera.text.sql` that may import
:mod:`synthera.tabular` (for :func:`synthetic_database`), and only inside
that function.

>>> import pandas as pd
>>> from synthera.text.sql import database_from_tables, execute_sql
>>> db = database_from_tables({"people": pd.DataFrame({"age": [30, 40]})}, "/tmp/people.db")  # doctest: +SKIP
>>> execute_sql(db, "SELECT MAX(age) FROM people")  # doctest: +SKIP
[(40,)]
"""

from __future__ import annotations

import math
import os
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from synthera.errors import DataError, UserInputError
from synthera.text.sql.schema import ForeignKey, quote_identifier, read_schema

__all__ = ["database_from_tables", "mirror_database", "synthetic_database", "synthetic_database_path"]


def _sql_type(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "INTEGER"
    if pd.api.types.is_integer_dtype(series):
        return "INTEGER"
    if pd.api.types.is_float_dtype(series):
        return "REAL"
    return "TEXT"


def _python_value(value):
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float, str, bytes)):
        return value
    return str(value)


def database_from_tables(
    tables: Mapping[str, pd.DataFrame],
    path: str | os.PathLike,
    *,
    primary_keys: Mapping[str, str | Sequence[str]] | None = None,
    foreign_keys: Iterable[ForeignKey | tuple[str, str, str, str]] = (),
    overwrite: bool = True,
) -> Path:
    """Write data frames into a new SQLite database file, atomically.

    Parameters
    ----------
    tables
        Table name to frame. Column names are kept exactly (quoted in SQL
        when they hold hyphens, spaces or keywords).
    path
        The ``.db`` file to write. It appears only once complete.
    primary_keys
        Optional table name to primary-key column (a list for a composite key).
    foreign_keys
        ``(table, column, ref_table, ref_column)`` links (columns as tuples for a
        composite key), written as ``REFERENCES`` clauses so join sampling can find them.
    overwrite
        Replace an existing file (default) or refuse.

    Returns
    -------
    pathlib.Path
        The database file.
    """
    from synthera.io import atomic_path

    if not tables:
        raise UserInputError("no tables to write; pass at least one data frame")
    path = Path(path).expanduser()
    if path.exists() and not overwrite:
        raise UserInputError(f"{path} already exists; remove it or pass overwrite=True")
    primary_keys = dict(primary_keys or {})
    fks = [fk if isinstance(fk, ForeignKey) else ForeignKey(*fk) for fk in foreign_keys]
    for fk in fks:
        for tbl, cols in ((fk.table, fk.columns), (fk.ref_table, fk.ref_columns)):
            for col in cols:
                if tbl not in tables or col not in tables[tbl].columns:
                    raise UserInputError(f"foreign key names {tbl}.{col}, which is not among the tables' columns")
    with atomic_path(path) as tmp:
        tmp.unlink()  # sqlite wants to create the file itself
        conn = sqlite3.connect(tmp)
        try:
            for name, frame in tables.items():
                _write_table(conn, name, frame, primary_keys.get(name), [fk for fk in fks if fk.table == name])
            conn.commit()
        finally:
            conn.close()
    return path


def _write_table(conn: sqlite3.Connection, name: str, frame: pd.DataFrame, primary_key, fks: list[ForeignKey]) -> None:
    """``CREATE TABLE`` with typed columns, the primary key and ``REFERENCES`` clauses, then the rows."""
    if frame.columns.duplicated().any():
        raise DataError(f"table '{name}' has duplicated column names; rename them first")
    if len(frame.columns) == 0:
        raise DataError(f"table '{name}' has no columns")
    key = [primary_key] if isinstance(primary_key, str) else list(primary_key or [])
    lines = []
    for col in frame.columns:
        line = f"  {quote_identifier(str(col))} {_sql_type(frame[col])}"
        if key == [col]:
            line += " PRIMARY KEY"
        lines.append(line)
    if len(key) > 1:
        lines.append(f"  PRIMARY KEY ({', '.join(quote_identifier(c) for c in key)})")
    for fk in fks:
        lines.append(
            f"  FOREIGN KEY ({', '.join(quote_identifier(c) for c in fk.columns)}) REFERENCES "
            f"{quote_identifier(fk.ref_table)} ({', '.join(quote_identifier(c) for c in fk.ref_columns)})"
        )
    conn.execute(f"CREATE TABLE {quote_identifier(name)} (\n" + ",\n".join(lines) + "\n)")
    marks = ", ".join("?" for _ in frame.columns)
    rows = (tuple(_python_value(v) for v in row) for row in frame.itertuples(index=False, name=None))
    conn.executemany(f"INSERT INTO {quote_identifier(name)} VALUES ({marks})", rows)


def mirror_database(url: str, target: str | os.PathLike, *, max_rows: int | None = 200_000) -> Path:
    """Copy the tables of any SQLAlchemy database into a SQLite file, keeping foreign keys.

    Text-to-SQL verifies every query on SQLite; a PostgreSQL or MySQL source is
    mirrored first (at most ``max_rows`` rows per table) and the emitted SQL is
    SQLite's dialect.
    """
    from synthera.io import read_table
    schema = read_schema(url)
    tables = {}
    for tbl in schema.tables:
        frame = read_table(url, table=tbl.name)
        tables[tbl.name] = frame.head(max_rows) if max_rows else frame
    keys = {t.name: [c.name for c in t.columns if c.primary_key] for t in schema.tables}
    return database_from_tables(tables, target, primary_keys=keys, foreign_keys=schema.foreign_keys)


def synthetic_database_path(datasets, *, rows: int = 2000, seed: int = 0, cache=None) -> Path:
    """Where :func:`synthetic_database` keeps the database for these arguments."""
    from synthera.tabular import DEFAULT_SYNTHESIZER
    from synthera.text.models import cache_dir

    names = [d.strip().lower() for d in (datasets.split(",") if isinstance(datasets, str) else datasets) if d.strip()]
    folder = Path(cache) if cache is not None else cache_dir() / "text"
    return folder / f"synthetic-{'-'.join(names)}-{DEFAULT_SYNTHESIZER}-{rows}rows-seed{seed}.db"


def synthetic_database(
    datasets: str | list[str],
    *,
    rows: int = 2000,
    seed: int = 0,
    cache: str | os.PathLike | None = None,
    progress: bool = False,
) -> Path:
    """Build (once) a SQLite database of synthetic rows from bundled datasets.

    Each dataset is learned by the flagship synthesizer (``cascade``) from its
    real training split and ``rows`` synthetic rows are sampled into a table
    named after it. No real record enters the database. The file is cached
    under ``<cache>/text/`` keyed by the datasets, rows and seed.

    Returns
    -------
    pathlib.Path
        The SQLite file.
    """
    from synthera import datasets as bundled
    from synthera.io import read_table
    from synthera.tabular import DEFAULT_SYNTHESIZER, get_synthesizer

    names = [d.strip().lower() for d in (datasets.split(",") if isinstance(datasets, str) else datasets) if d.strip()]
    if not names:
        raise UserInputError("datasets needs a bundled dataset name such as adult")
    known = [d.name for d in bundled.available()]
    for name in names:
        if name not in known:
            raise UserInputError(f"unknown dataset '{name}' in datasets; bundled datasets are: "
                                 f"{', '.join(known)}")
    if rows < 10:
        raise UserInputError(f"rows must be at least 10; got {rows}")
    target = synthetic_database_path(names, rows=rows, seed=seed, cache=cache)
    if target.is_file():
        return target
    tables: Mapping = {}
    for name in names:
        train = read_table(f"dataset:{name}")
        model = get_synthesizer(DEFAULT_SYNTHESIZER)(seed=seed)
        model.fit(train, progress=progress)
        tables[name] = model.sample(rows, seed=seed)
    return database_from_tables(tables, target)
