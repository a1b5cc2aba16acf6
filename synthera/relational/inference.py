"""Guess primary and foreign keys where a database declares none (CSV folders, many real databases).

Each guess records its evidence, so the user can confirm or edit it in the
schema JSON:

* a primary key is a column whose values are unique and never null, preferring
  ``id``, ``<table>_id``, ``<table>id`` or a name ending in ``id``/``key``/``code``;
* a foreign key is a column of another table whose non-null values are (almost
  all) among a primary key's values (containment), and whose name fits the
  parent (``customer_id`` -> ``customers.id``, ``tailnum`` -> ``planes.tailnum``).
  Evidence: ``containment`` (share of non-null values found in the parent),
  ``orphans`` (rows whose value has no parent row), ``name_match``;
* a ``sequence_index`` (the table is a history per parent row) is a date column,
  or a number named like a time or position, that goes forward (or stays) in
  the stored row order at 95% of the steps between two rows of one parent, with
  (parent, value) pairs unique in 95% of rows, two rows or more per parent on
  average and at most 10,000 for any parent. It is set only when exactly one (foreign key, column) pair qualifies;
  otherwise :func:`propose_sequences` lists the candidates for the user to pick.
  Evidence: ``entity``, ``ordered_steps_share``, ``unique_pairs_share``, ``mean_length``.

>>> import pandas as pd
>>> tables = {"customers": pd.DataFrame({"id": [1, 2, 3]}),
...           "orders": pd.DataFrame({"id": [1, 2, 3, 4], "customer_id": [1, 1, 3, 2]})}
>>> schema = infer_schema(tables)
>>> [(fk.name, fk.parent) for fk in schema.foreign_keys]
[('orders.customer_id', 'customers')]
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from synthera.relational.schema import ForeignKey, Schema, TableSchema, key_codes

__all__ = ["infer_schema", "propose_public", "propose_sequences", "sequence_lines"]

#: a foreign key is guessed when at least this share of the child's non-null values are parent keys
MIN_CONTAINMENT = 0.8
#: ... or this share when the names also match
MIN_CONTAINMENT_NAMED = 0.5


def infer_schema(tables: Mapping[str, pd.DataFrame], *, declared: Schema | None = None) -> Schema:
    """Primary keys and foreign keys of ``tables``, keeping everything ``declared`` already says.

    Tables with a declared primary key keep it; foreign keys are only guessed
    for columns no declared foreign key uses, and only when ``declared`` has none
    for that table.
    """
    schema = Schema(tables={n: TableSchema() for n in tables})
    if declared is not None:
        for n, t in declared.tables.items():
            if n in schema.tables:
                schema.tables[n] = TableSchema(primary_key=list(t.primary_key), metadata=t.metadata, public=t.public)
        schema.foreign_keys = [fk for fk in declared.foreign_keys if fk.child in tables and fk.parent in tables]
    for name, df in tables.items():
        if not schema.tables[name].primary_key:
            pk = _guess_primary_key(name, df)
            if pk:
                schema.tables[name].primary_key = [pk]
    declared_children = {fk.child for fk in schema.foreign_keys}
    for name, df in tables.items():
        if name in declared_children:
            continue
        schema.foreign_keys.extend(_guess_foreign_keys(name, df, tables, schema))
    if declared is not None:
        for n, t in declared.tables.items():
            if n in schema.tables and t.sequence_index is not None:
                ts = schema.tables[n]
                ts.sequence_index, ts.sequence_key, ts.sequence_evidence = (t.sequence_index, t.sequence_key,
                                                                             t.sequence_evidence)
    for name, found in _sequence_candidates(tables, schema).items():
        if len(found) == 1:
            fk, col, evidence = found[0]
            ts = schema.tables[name]
            ts.sequence_index, ts.sequence_evidence = col, evidence
            ts.sequence_key = list(fk.columns) if len(_entity_keys(name, schema)) > 1 else None
    return schema


#: a sequence index goes forward (or stays) in the stored row order at least at this share of the steps between
#: two rows of the same parent (rows in a random order: about half)
MIN_ORDERED_STEPS = 0.95
#: ... and (parent, index) pairs are unique in at least this share of rows
MIN_UNIQUE_PAIRS = 0.95
#: ... and no parent has more rows than this (the sequence model's default longest history)
MAX_LENGTH = 10_000
_TIME_WORDS = {"date", "time", "timestamp", "ts", "day", "week", "month", "year", "hour", "minute", "when", "seq",
               "sequence", "step", "period", "visit", "index", "pos", "position", "t", "dt"}


def propose_sequences(tables: Mapping[str, pd.DataFrame], schema: Schema) -> dict[str, str]:
    """Tables without a ``sequence_index`` that look like histories, each with its candidates and evidence.

    Nothing is set: these are the tables where several columns or foreign keys
    qualify (or whose keys were declared, so nothing was inferred); the user picks.
    """
    out = {}
    for name, found in _sequence_candidates(tables, schema).items():
        shown = "; ".join(f"{col} per {fk.parent} ({_evidence_text(ev)})" for fk, col, ev in found[:4])
        out[name] = (f"{shown}: if its rows are a history per parent, set \"sequence_index\"" +
                     (" and \"sequence_key\" (the foreign key's columns)" if len(_entity_keys(name, schema)) > 1
                      else ""))
    return out


def sequence_lines(schema: Schema) -> list[str]:
    """One line per history table of ``schema``: its index, its entity, and how it was set (with evidence)."""
    out = []
    for name, ts in schema.tables.items():
        if ts.sequence_index is None:
            continue
        try:
            fk = schema.sequence_foreign_key(name)
        except ValueError:  # UserInputError: shown when the schema is checked
            continue
        how = "declared" if not ts.sequence_evidence else "inferred: " + _evidence_text(ts.sequence_evidence)
        out.append(f"{name}: rows ordered by {ts.sequence_index} per {fk.parent} row ({'+'.join(fk.columns)}) "
                   f"({how}); modelled as histories")
    return out


def _evidence_text(ev: Mapping) -> str:
    return (f"in row order at {ev['ordered_steps_share']:.1%} of the steps within a parent, "
            f"{ev['unique_pairs_share']:.0%} unique (parent, value) pairs, {ev['mean_length']:.1f} rows per parent")


def _entity_keys(name: str, schema: Schema) -> list[ForeignKey]:
    return [fk for fk in schema.parents_of(name) if fk.parent != name and fk.parent in schema.tables
            and not schema.tables[fk.parent].public]


def _sequence_candidates(tables: Mapping[str, pd.DataFrame], schema: Schema) -> dict[str, list]:
    """Per table without a ``sequence_index``: the (foreign key, column, evidence) triples that qualify."""
    from synthera.sequences.inference import parse_dates

    out: dict[str, list] = {}
    for name, df in tables.items():
        ts = schema.tables.get(name)
        fks = _entity_keys(name, schema) if ts is not None else []
        if ts is None or ts.public or ts.sequence_index is not None or not fks or len(df) < 4:
            continue
        keys = {c for fk in schema.parents_of(name) for c in fk.columns} | set(ts.primary_key)
        columns = [c for c in df.columns if c not in keys and not df[c].isna().any()
                   and not pd.api.types.is_bool_dtype(df[c].dtype)]
        dated = parse_dates(df[[c for c in columns if not pd.api.types.is_numeric_dtype(df[c].dtype)]])
        values = {c: pd.to_datetime(dated[c], utc=True).dt.tz_localize(None) for c in dated.columns
                  if pd.api.types.is_datetime64_any_dtype(dated[c].dtype)}
        values |= {c: df[c] for c in columns if pd.api.types.is_numeric_dtype(df[c].dtype)
                   and set(_tokens(str(c))) & _TIME_WORDS}
        found = []
        for fk in fks:
            has = df[fk.columns].notna().all(axis=1).to_numpy()
            group = pd.factorize(pd.Series(key_codes(df.loc[has, fk.columns])))[0]
            for col, series in values.items():
                ev = _sequence_evidence(group, series.to_numpy()[has])
                if ev is not None:
                    found.append((fk, col, ev | {"entity": fk.name}))
        if found:
            out[name] = found
    return out


def _sequence_evidence(group: np.ndarray, v: np.ndarray) -> dict | None:
    """Evidence that values ``v`` order the rows within each parent ``group`` (codes), or None when they do not."""
    if len(group) < 4:
        return None
    v = v.astype("datetime64[ns]").astype(np.int64).astype(np.float64) if v.dtype.kind == "M" else v.astype(float)
    sizes = np.bincount(group)
    mean_length = float(len(group) / len(sizes))
    several = sizes >= 2
    if mean_length < 2 or several.sum() == 0 or sizes.max() > MAX_LENGTH:
        return None
    order = np.argsort(group, kind="stable")  # row order kept within each parent
    g, x = group[order], v[order]
    same = g[1:] == g[:-1]
    ordered = 1.0 - float((x[1:][same] < x[:-1][same]).mean())
    unique = 1.0 - float(pd.DataFrame({"g": group, "v": v}).duplicated().mean())
    if ordered < MIN_ORDERED_STEPS or unique < MIN_UNIQUE_PAIRS:
        return None
    return {"inferred": True, "ordered_steps_share": round(ordered, 4), "unique_pairs_share": round(unique, 4),
            "mean_length": round(mean_length, 2)}


#: a table is proposed as public reference data when it has at most this many rows ...
PUBLIC_MAX_ROWS = 1_000
#: ... and its rows are pointed at by at least this many child rows each, on average
PUBLIC_MIN_CHILDREN = 10


def propose_public(tables: Mapping[str, pd.DataFrame], schema: Schema) -> dict[str, str]:
    """Tables that look like lookups (small, many child rows per row), each with the evidence, for the user to judge.

    Nothing is marked: only the user knows whether a table is public reference data
    (airports, currencies) or private (a firm's 16 branches). Tables already marked
    public, and tables with a foreign key to a table that is not public, are left out.
    """
    out = {}
    for name, df in tables.items():
        ts = schema.tables.get(name)
        if ts is None or ts.public or not 0 < len(df) <= PUBLIC_MAX_ROWS:
            continue
        if any(not schema.tables[fk.parent].public for fk in schema.parents_of(name) if fk.parent in schema.tables):
            continue
        children = sum(len(tables[fk.child]) for fk in schema.children_of(name) if fk.child in tables)
        if children >= PUBLIC_MIN_CHILDREN * len(df):
            out[name] = (f"{len(df)} rows, {children / len(df):.0f} child rows per row: if it is public reference "
                         'data, set "public": true to copy it instead of synthesizing it')
    return out


def _tokens(name: str) -> list[str]:
    return [t for t in re.split(r"[^a-z0-9]+", re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()) if t]


def _singular(word: str) -> str:
    for plural, single in (("ies", "y"), ("ses", "s"), ("s", "")):
        if word.endswith(plural) and len(word) > len(plural) + 1:
            return word[: -len(plural)] + single
    return word


def _is_unique_key(series: pd.Series) -> bool:
    return len(series) > 0 and not series.isna().any() and series.is_unique


def _keyish(series: pd.Series) -> bool:
    """Integers or short text: what keys are made of (not floats, not long text)."""
    if pd.api.types.is_float_dtype(series.dtype):
        values = series.dropna()
        return len(values) > 0 and bool((values == np.round(values)).all())
    if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_datetime64_any_dtype(series.dtype):
        return False
    if pd.api.types.is_integer_dtype(series.dtype):
        return True
    text = series.dropna().astype(str)
    return len(text) > 0 and text.str.len().max() <= 40


def _guess_primary_key(table: str, df: pd.DataFrame) -> str | None:
    single = _singular(table.lower())
    best, best_score = None, 0
    for col in df.columns:
        s = df[col]
        if not _is_unique_key(s) or not _keyish(s):
            continue
        toks = _tokens(col)
        low = col.lower()
        if low == "id":
            score = 5
        elif low in (f"{single}_id", f"{single}id", f"{table.lower()}_id"):
            score = 4
        elif toks and toks[-1] in ("id", "key", "code", "uuid"):
            score = 3
        elif low in ("faa", "carrier", "tailnum", single):
            score = 2
        else:
            score = 1 if col == df.columns[0] and pd.api.types.is_integer_dtype(s.dtype) else 0
        if score > best_score:
            best, best_score = col, score
    return best


def _name_match(col: str, parent: str, parent_col: str) -> bool:
    """``customer_id`` -> customers.id; ``tailnum`` -> planes.tailnum; ``reports_to`` is not a name match."""
    low, pcol = col.lower(), parent_col.lower()
    single = _singular(parent.lower())
    if low == pcol and pcol != "id":
        return True
    stem = re.sub(r"_?(id|key|code)$", "", low)
    return bool(stem) and stem != low and (stem == single or stem == parent.lower() or single.endswith(stem))


def _guess_foreign_keys(name: str, df: pd.DataFrame, tables: Mapping[str, pd.DataFrame],
                        schema: Schema) -> list[ForeignKey]:
    out = []
    own_pk = set(schema.tables[name].primary_key)
    parents = {p: t.primary_key for p, t in schema.tables.items() if len(t.primary_key) == 1}
    parent_codes: dict[str, np.ndarray] = {}
    for col in df.columns:
        s = df[col]
        values = s.dropna()
        if len(values) == 0 or not _keyish(s) or (col in own_pk and len(own_pk) == 1 and not _named_any(col, parents)):
            continue
        best = None
        for parent, (pcol,) in parents.items():
            if parent == name and col == pcol:
                continue
            named = _name_match(col, parent, pcol)
            if not named and (col in own_pk or values.nunique() < 2 or not _refers_by_name(col)):
                continue
            if parent not in parent_codes:
                parent_codes[parent] = pd.Series(key_codes(tables[parent][[pcol]]))
            found = pd.Series(key_codes(values.to_frame())).isin(parent_codes[parent]).to_numpy()
            share = float(found.mean())
            if share < (MIN_CONTAINMENT_NAMED if named else MIN_CONTAINMENT):
                continue
            if not named and _kinds_differ(s, tables[parent][pcol]):
                continue
            score = (named, share)
            if best is None or score > best[0]:
                best = (score, parent, pcol, share, int((~found).sum()))
        if best is not None:
            (named, _), parent, pcol, share, orphans = best
            out.append(ForeignKey(child=name, columns=[col], parent=parent, parent_columns=[pcol],
                                  nullable=bool(s.isna().any()),
                                  evidence={"inferred": True, "containment": round(share, 4), "orphans": orphans,
                                            "name_match": bool(named)}))
    return out


def _refers_by_name(col: str) -> bool:
    """Names that say "a reference" without naming the parent (``reports_to``, ``manager_id``)."""
    toks = _tokens(col)
    return bool(toks) and (toks[-1] in ("id", "key", "code", "to", "ref", "num", "no") or col.lower().endswith("id"))


def _named_any(col: str, parents: Mapping[str, list[str]]) -> bool:
    return any(_name_match(col, p, k[0]) for p, k in parents.items())


def _kinds_differ(a: pd.Series, b: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(a.dtype) != pd.api.types.is_numeric_dtype(b.dtype)
