"""The schema of a database: tables, primary keys, foreign keys, and each table's column metadata.

A :class:`Schema` says which columns identify a table's rows (its primary
key, one column or several) and which columns point at another table's rows
(foreign keys, composite allowed; several per table, two to the same parent,
self-references and link tables included). Its JSON form carries
``format_version`` so that users can edit it and pass it back.

>>> schema = Schema.from_dict({
...     "tables": {"customers": {"primary_key": ["id"]}, "orders": {"primary_key": ["id"]}},
...     "foreign_keys": [{"child": "orders", "columns": ["customer_id"],
...                       "parent": "customers", "parent_columns": ["id"]}],
... })
>>> schema.order()
['customers', 'orders']
>>> schema.foreign_keys[0].name
'orders.customer_id'
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synthera.errors import MetadataError, UserInputError
from synthera.metadata import Metadata

__all__ = ["ORPHAN_POLICIES", "SCHEMA_FORMAT_VERSION", "ForeignKey", "Schema", "TableSchema", "count_orphans"]

#: the newest schema format this Synthera reads; a schema is written as 1 unless a table declares a
#: ``sequence_index`` (2), so that older Synthera versions refuse it instead of modelling a history as rows
SCHEMA_FORMAT_VERSION = 2
#: what happens to a foreign-key value with no parent row: it becomes null, its row is dropped,
#: or it is kept and synthetic rows get fresh values that match no parent either
ORPHAN_POLICIES = ("null", "drop", "unmatched")


@dataclass
class ForeignKey:
    """``child.columns`` point at ``parent.parent_columns`` (same length, in order).

    ``evidence`` is set on inferred keys (containment share, orphan count,
    whether the names match) so a user can confirm them; ``nullable`` says the
    child may have no parent; ``orphans`` is the policy for values with no parent row.
    """

    child: str
    columns: list[str]
    parent: str
    parent_columns: list[str]
    nullable: bool = False
    orphans: str = "null"
    evidence: dict | None = None

    @property
    def name(self) -> str:
        """``child.col1+col2``: unique within a schema."""
        return f"{self.child}.{'+'.join(self.columns)}"

    def to_dict(self) -> dict:
        out = {"child": self.child, "columns": list(self.columns), "parent": self.parent,
               "parent_columns": list(self.parent_columns), "nullable": self.nullable, "orphans": self.orphans}
        if self.evidence is not None:
            out["evidence"] = self.evidence
        return out

    @classmethod
    def from_dict(cls, data: Any) -> ForeignKey:
        if not isinstance(data, Mapping):
            raise MetadataError(f"a foreign key must be an object; got {type(data).__name__}")
        missing = [k for k in ("child", "columns", "parent") if k not in data]
        if missing:
            raise MetadataError(f"a foreign key has no '{missing[0]}'; give child, columns, parent, parent_columns")
        columns = _names(data["columns"])
        parent_columns = _names(data.get("parent_columns", columns))
        fk = cls(child=str(data["child"]), columns=columns, parent=str(data["parent"]),
                 parent_columns=parent_columns, nullable=bool(data.get("nullable", False)),
                 orphans=str(data.get("orphans", "null")), evidence=data.get("evidence"))
        if len(fk.columns) != len(fk.parent_columns):
            raise MetadataError(
                f"foreign key {fk.name} has {len(fk.columns)} column(s) but points at {len(fk.parent_columns)}; "
                "give as many parent_columns as columns"
            )
        if fk.orphans not in ORPHAN_POLICIES:
            raise MetadataError(f"foreign key {fk.name}: orphans must be one of {', '.join(ORPHAN_POLICIES)}; "
                                f"got '{fk.orphans}'")
        return fk


@dataclass
class TableSchema:
    """One table: its primary key (a list of columns, possibly empty) and optional column metadata.

    ``public`` says the table is public reference data (airports, currencies,
    product catalogues): it is copied, not synthesized, keys included, and the
    synthetic children link to its real rows. Only the user sets it (``"public":
    true`` in the schema JSON); ``synthera inspect`` proposes it for small
    tables that many rows point at, and never sets it by itself.

    ``sequence_index`` (a date or number column) says the table is a history:
    its rows are ordered per parent row (the entity) along the foreign key whose
    columns are ``sequence_key`` (needed only when the table has several foreign
    keys to synthesized tables). Such a table is modelled by a
    :class:`~synthera.sequences.SequenceSynthesizer` conditioned on the parent's
    columns. ``sequence_evidence`` is set when ``synthera inspect`` inferred it.
    """

    primary_key: list[str] = field(default_factory=list)
    metadata: Metadata | None = None
    public: bool = False
    sequence_index: str | None = None
    sequence_key: list[str] | None = None
    sequence_evidence: dict | None = None

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"primary_key": list(self.primary_key)}
        if self.public:
            out["public"] = True
        if self.sequence_index is not None:
            out["sequence_index"] = self.sequence_index
            if self.sequence_key is not None:
                out["sequence_key"] = list(self.sequence_key)
            if self.sequence_evidence is not None:
                out["sequence_evidence"] = self.sequence_evidence
        if self.metadata is not None:
            out["metadata"] = self.metadata.to_dict()
        return out


@dataclass
class Schema:
    """Tables (in a stable order) and the foreign keys between them."""

    tables: dict[str, TableSchema] = field(default_factory=dict)
    foreign_keys: list[ForeignKey] = field(default_factory=list)

    # -- construction and JSON --------------------------------------------------------------

    def to_dict(self) -> dict:
        from synthera import __version__

        version = 2 if any(t.sequence_index is not None for t in self.tables.values()) else 1
        return {"format": "synthera-schema", "format_version": version,
                "synthera_version": __version__,
                "tables": {name: t.to_dict() for name, t in self.tables.items()},
                "foreign_keys": [fk.to_dict() for fk in self.foreign_keys]}

    def to_json(self) -> str:
        from synthera.metadata import numpy_to_json

        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False, default=numpy_to_json) + "\n"

    @classmethod
    def from_dict(cls, data: Any) -> Schema:
        if not isinstance(data, Mapping) or not isinstance(data.get("tables"), Mapping):
            raise MetadataError("not a Synthera schema file (no 'tables'); create one with `synthera inspect`")
        version = data.get("format_version", SCHEMA_FORMAT_VERSION)
        if not isinstance(version, int) or version > SCHEMA_FORMAT_VERSION:
            raise MetadataError(f"schema format_version {version!r} is newer than this Synthera reads "
                                f"({SCHEMA_FORMAT_VERSION}); upgrade synthera")
        tables = {}
        for name, spec in data["tables"].items():
            spec = spec if isinstance(spec, Mapping) else {}
            md = spec.get("metadata")
            public = spec.get("public", False)
            if not isinstance(public, bool):
                raise MetadataError(f"table '{name}': public must be true or false; got {type(public).__name__}")
            index, key = spec.get("sequence_index"), spec.get("sequence_key")
            if index is not None and not isinstance(index, str):
                raise MetadataError(f"table '{name}': sequence_index must be a column name; got {index!r}")
            tables[str(name)] = TableSchema(primary_key=_names(spec.get("primary_key") or []),
                                            metadata=Metadata.from_dict(md) if md is not None else None,
                                            public=public, sequence_index=index,
                                            sequence_key=_names(key) if key is not None else None,
                                            sequence_evidence=spec.get("sequence_evidence"))
        fks = [ForeignKey.from_dict(fk) for fk in data.get("foreign_keys", [])]
        schema = cls(tables=tables, foreign_keys=fks)
        schema.check()
        return schema

    @classmethod
    def from_json(cls, text: str) -> Schema:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MetadataError(f"the schema is not valid JSON (line {exc.lineno}: {exc.msg}); fix the file") from None
        return cls.from_dict(data)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the JSON atomically."""
        from synthera.io import write_text

        return Path(write_text(self.to_json(), path))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Schema:
        p = Path(path)
        if not p.is_file():
            raise UserInputError(f"schema file not found: {p}; check the path or create one with `synthera inspect`")
        return cls.from_json(p.read_text(encoding="utf-8"))

    # -- queries ------------------------------------------------------------------------------

    def children_of(self, table: str) -> list[ForeignKey]:
        return [fk for fk in self.foreign_keys if fk.parent == table]

    def parents_of(self, table: str) -> list[ForeignKey]:
        return [fk for fk in self.foreign_keys if fk.child == table]

    def sequence_foreign_key(self, table: str) -> ForeignKey | None:
        """The foreign key naming the entity of a history table (None for a table without ``sequence_index``).

        Raises
        ------
        UserInputError
            The table has no foreign key to a synthesized table, several and no
            ``sequence_key``, or a ``sequence_key`` that is no foreign key's columns.
        """
        ts = self.tables[table]
        if ts.sequence_index is None:
            return None
        label = f"table '{table}' declares sequence_index '{ts.sequence_index}'"
        fks = [fk for fk in self.parents_of(table) if fk.parent != table and not self.tables[fk.parent].public]
        if ts.sequence_key is not None:
            found = [fk for fk in fks if fk.columns == ts.sequence_key]
            if not found:
                raise UserInputError(f"{label} with sequence_key {'+'.join(ts.sequence_key)}, which is not the "
                                     "columns of a foreign key to a synthesized table; give the columns of one of: "
                                     f"{', '.join(fk.name for fk in fks) or 'none'}")
            return found[0]
        if not fks:
            raise UserInputError(f"{label} but has no foreign key to a synthesized table (its entity); add the "
                                 "foreign key or remove sequence_index")
        if len(fks) > 1:
            raise UserInputError(f"{label} and has {len(fks)} foreign keys; set sequence_key to the columns of the "
                                 f"one naming the entity ({', '.join('+'.join(fk.columns) for fk in fks)})")
        return fks[0]

    def subset(self, names: Iterable[str]) -> Schema:
        """The schema of the tables ``names`` only (foreign keys between them); unknown names are refused."""
        names = list(names)
        unknown = [n for n in names if n not in self.tables]
        if unknown:
            raise UserInputError(f"unknown table '{unknown[0]}' in tables; the database has: "
                                 f"{_preview(list(self.tables))}", param="tables")
        keep = set(names)
        return Schema(tables={n: self.tables[n] for n in self.tables if n in keep},
                      foreign_keys=[fk for fk in self.foreign_keys if fk.child in keep and fk.parent in keep])

    def cycles(self) -> list[list[str]]:
        """Groups of tables that reach each other through foreign keys (self-references excluded)."""
        return [c for c in _strongly_connected(self.tables, self._edges(None)) if len(c) > 1]

    def order(self) -> list[str]:
        """Parents before children. Cycles are broken at nullable foreign keys (see :meth:`broken_edges`)."""
        return _topological(list(self.tables), self._edges(set(self.broken_edges())))

    def broken_edges(self) -> list[str]:
        """Names of the nullable foreign keys left out of the order to break cycles.

        Raises
        ------
        UserInputError
            A cycle has no nullable foreign key, so no table in it can be made first.
        """
        broken: list[str] = []
        for _ in range(len(self.foreign_keys) + 1):
            cycles = [c for c in _strongly_connected(self.tables, self._edges(set(broken))) if len(c) > 1]
            if not cycles:
                return broken
            cycle = set(cycles[0])
            inside = [fk for fk in self.foreign_keys if fk.child in cycle and fk.parent in cycle
                      and fk.child != fk.parent and fk.name not in broken]
            nullable = [fk for fk in inside if fk.nullable]
            if not nullable:
                raise UserInputError(
                    f"tables {', '.join(sorted(cycle))} reference each other in a cycle with no nullable foreign "
                    "key; mark one of its foreign keys nullable in the schema, or leave a table out"
                )
            broken.append(nullable[0].name)
        return broken

    def _edges(self, broken: set[str] | None) -> list[tuple[str, str]]:
        return [(fk.parent, fk.child) for fk in self.foreign_keys
                if fk.parent != fk.child and (broken is None or fk.name not in broken)]

    # -- validation ---------------------------------------------------------------------------

    def check(self, tables: Mapping[str, pd.DataFrame] | None = None) -> None:
        """Refuse foreign keys to missing tables or columns, and primary keys with duplicate values.

        With ``tables``, columns and key values are checked against the data too.
        """
        seen = set()
        for fk in self.foreign_keys:
            if fk.name in seen:
                raise MetadataError(f"foreign key {fk.name} is declared twice; remove one")
            seen.add(fk.name)
            for end, cols in ((fk.child, fk.columns), (fk.parent, fk.parent_columns)):
                if end not in self.tables:
                    raise UserInputError(f"foreign key {fk.name} refers to table '{end}', which is not in the "
                                         "database; fix the table name or add the table")
                if tables is not None and end in tables:
                    missing = [c for c in cols if c not in tables[end].columns]
                    if missing:
                        raise UserInputError(f"foreign key {fk.name} refers to column '{end}.{missing[0]}', which "
                                             f"does not exist; fix the column name in the schema")
            if self.tables[fk.child].public and not self.tables[fk.parent].public:
                raise UserInputError(f"table '{fk.child}' is public but its foreign key {fk.name} points at table "
                                     f"'{fk.parent}', which is synthesized; mark '{fk.parent}' public too or "
                                     f"'{fk.child}' not public")
        for name in self.tables:
            self._check_sequence(name, None if tables is None else tables.get(name))
        if tables is not None:
            for name, t in self.tables.items():
                if name in tables and t.primary_key:
                    check_primary_key(name, tables[name], t.primary_key)

    def _check_sequence(self, name: str, df: pd.DataFrame | None) -> None:
        """One line for a ``sequence_index`` the model cannot use (see :class:`TableSchema`)."""
        ts = self.tables[name]
        if ts.sequence_index is None:
            return
        col = ts.sequence_index
        if ts.public:
            raise UserInputError(f"table '{name}' is public and declares sequence_index '{col}'; a public table is "
                                 "copied, so remove one of the two")
        fk = self.sequence_foreign_key(name)
        keys = {c for f in self.parents_of(name) for c in f.columns}
        if col in keys or ts.primary_key == [col]:
            raise UserInputError(f"sequence_index '{name}.{col}' is a key column; give a date or number column "
                                 "that is not a key")
        if df is not None and col not in df.columns:
            raise UserInputError(f"sequence_index '{name}.{col}' does not exist; fix the column name in the schema "
                                 f"(the entity is {fk.parent} through {fk.name})")


def check_primary_key(table: str, df: pd.DataFrame, key: list[str]) -> None:
    """One line if ``key`` is not a primary key of ``df`` (missing column, nulls, duplicates)."""
    missing = [c for c in key if c not in df.columns]
    if missing:
        raise UserInputError(f"primary key column '{table}.{missing[0]}' does not exist; fix the schema")
    label = f"{table}.{'+'.join(key)}"
    nulls = int(df[key].isna().any(axis=1).sum())
    if nulls:
        raise UserInputError(f"primary key {label} is null in {nulls} row(s); fill them or declare another key")
    dupes = int(df.duplicated(subset=key).sum())
    if dupes:
        raise UserInputError(f"primary key {label} has {dupes} duplicate value(s); remove the duplicates or "
                             "declare another key")


def count_orphans(tables: Mapping[str, pd.DataFrame], fk: ForeignKey) -> dict:
    """``{"rows", "null", "orphans"}``: child rows, rows with a null key, rows whose key has no parent row."""
    child = tables[fk.child]
    null = child[fk.columns].isna().any(axis=1).to_numpy()
    found = key_in(child[fk.columns], tables[fk.parent][fk.parent_columns])
    return {"rows": len(child), "null": int(null.sum()), "orphans": int((~null & ~found).sum())}


def key_in(values: pd.DataFrame, keys: pd.DataFrame) -> np.ndarray:
    """Whether each row of ``values`` occurs among the rows of ``keys`` (columns matched by position)."""
    if len(values) == 0:
        return np.zeros(0, dtype=bool)
    left = key_codes(values)
    right = key_codes(keys)
    return pd.Series(left).isin(pd.Series(right)).to_numpy()  # hashing; np.isin sorts objects


def key_codes(frame: pd.DataFrame) -> np.ndarray:
    """One comparable text per row (composite keys joined), for matching keys of any dtype."""
    parts = [_canonical(frame.iloc[:, j]) for j in range(frame.shape[1])]
    out = parts[0]
    for p in parts[1:]:
        out = out + "\x1f" + p
    return out.to_numpy(dtype=object)


def _canonical(series: pd.Series) -> pd.Series:
    """Values as text, with 1 and 1.0 the same and dates in one format."""
    s = series
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.astype(str)
    if pd.api.types.is_numeric_dtype(s.dtype):
        num = pd.to_numeric(s, errors="coerce")
        whole = num.dropna()
        if len(whole) == 0 or bool((whole == np.round(whole)).all()):
            return num.astype("Int64").astype(str)
        return num.astype(str)
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        return s.dt.strftime("%Y-%m-%dT%H:%M:%S")
    return s.astype(str)


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise MetadataError(f"key columns must be a column name or a list of names; got {value!r}")
    return list(value)


def _preview(items: list, limit: int = 10) -> str:
    return ", ".join(map(str, items[:limit])) + (f", … ({len(items)} in all)" if len(items) > limit else "")


def _strongly_connected(nodes: Iterable[str], edges: list[tuple[str, str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (200 tables must not hit the recursion limit)."""
    graph: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        graph[a].append(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            recurse = False
            for j in range(i, len(graph[node])):
                nxt = graph[node][j]
                if nxt not in index:
                    work.append((node, j + 1))
                    work.append((nxt, 0))
                    recurse = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if recurse:
                continue
            if low[node] == index[node]:
                comp = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    comp.append(top)
                    if top == node:
                        break
                out.append(sorted(comp))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return out


def _topological(nodes: list[str], edges: list[tuple[str, str]]) -> list[str]:
    """Kahn's algorithm, ties kept in table order."""
    incoming = {n: 0 for n in nodes}
    out: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        incoming[b] += 1
        out[a].append(b)
    rank = {n: i for i, n in enumerate(nodes)}
    ready = sorted((n for n in nodes if incoming[n] == 0), key=rank.get)
    order = []
    while ready:
        n = ready.pop(0)
        order.append(n)
        for m in out[n]:
            incoming[m] -= 1
            if incoming[m] == 0:
                ready.append(m)
        ready.sort(key=rank.get)
    return order
