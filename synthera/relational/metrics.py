"""Metrics for whole databases: plain functions ``(real_tables, synthetic_tables, schema) -> dict``.

Fidelity follows sdmetrics' multi-table ``QualityReport`` recipe with every
pair counted (thresholds 0), so the numbers agree with it:

* :func:`column_shapes` - KS complement (numbers, dates) / TV complement (categories) per column;
* :func:`column_pair_trends` - correlation similarity (two continuous columns) or
  contingency similarity (otherwise; a continuous column cut into 10 histogram bins) per pair in a table;
* :func:`cardinality` - KS complement of the children-per-parent counts, per foreign key;
* :func:`intertable_trends` - pair trends of (parent column, child column) over the parent-child join;
* :func:`khop_trends` - the same along foreign-key paths of 2 and more hops (ClavaDDPM's long-range recipe).

Structure and privacy:

* :func:`referential_integrity` - share of non-null foreign-key values found among the parent's keys;
* :func:`cardinality_bounds` - share of synthetic parents whose child count lies within the real min and max;
* :func:`joined_privacy` - per table and on each root entity's joined view (the root row with
  its descendants' counts and means): exact copies, distance-to-closest-record share, and
  real-vs-synthetic detection AUC.

:func:`evaluate_database` runs them all; one failing metric becomes ``{"error": ...}``. Its
result has ``to_html()`` (:mod:`synthera.relational.report`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import numpy as np
import pandas as pd

from synthera.relational.schema import ForeignKey, Schema, key_codes, key_in

__all__ = [
    "cardinality",
    "cardinality_bounds",
    "column_kinds",
    "column_pair_trends",
    "column_shapes",
    "evaluate_database",
    "intertable_trends",
    "joined_privacy",
    "khop_trends",
    "quality_score",
    "referential_integrity",
    "sdmetrics_metadata",
]

_SUBSAMPLE = 50_000  # sdmetrics' default for contingency pairs
_CONTINUOUS = ("numerical", "datetime")
_DISCRETE = ("categorical", "boolean")


# ------------------------------------------------------------------------------------ column kinds


def column_kinds(tables: Mapping[str, pd.DataFrame], schema: Schema) -> dict[str, dict[str, str]]:
    """Kind of every column per table; key columns are ``id`` (never scored), the rest as Synthera infers them."""
    from synthera.metadata import infer_metadata

    out = {}
    for name, df in tables.items():
        keys = set(schema.tables[name].primary_key) if name in schema.tables else set()
        keys |= {c for fk in schema.parents_of(name) for c in fk.columns}
        keys |= {c for fk in schema.children_of(name) for c in fk.parent_columns}
        md = schema.tables[name].metadata if name in schema.tables else None
        kinds = {}
        rest = [c for c in df.columns if c not in keys and (md is None or c not in md)]
        inferred = infer_metadata(df[rest]) if rest and len(df) else None
        for c in df.columns:
            if c in keys:
                kinds[c] = "id"
            elif md is not None and c in md:
                kinds[c] = md[c].kind
            elif inferred is not None:
                kinds[c] = inferred[c].kind
            else:
                kinds[c] = "id"
        out[name] = kinds
    return out


def sdmetrics_metadata(tables: Mapping[str, pd.DataFrame], schema: Schema, kinds=None) -> dict:
    """The same tables, kinds and (single-column) relationships as an sdmetrics metadata dict."""
    kinds = kinds or column_kinds(tables, schema)
    sd = {"numerical": "numerical", "datetime": "datetime", "categorical": "categorical", "boolean": "boolean"}
    meta: dict = {"tables": {}, "relationships": []}
    for name, df in tables.items():
        cols = {c: {"sdtype": sd.get(kinds[name][c], "id")} for c in df.columns}
        pk = schema.tables[name].primary_key
        meta["tables"][name] = {"columns": cols, **({"primary_key": pk[0]} if len(pk) == 1 else {})}
    for fk in schema.foreign_keys:
        if len(fk.columns) == 1 and fk.child in tables and fk.parent in tables:
            meta["relationships"].append({"parent_table_name": fk.parent, "parent_primary_key": fk.parent_columns[0],
                                          "child_table_name": fk.child, "child_foreign_key": fk.columns[0]})
    return meta


def _numeric(series: pd.Series, kind: str) -> pd.Series:
    if kind == "datetime":
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            stamps = series
        else:
            stamps = pd.to_datetime(series, errors="coerce", format="mixed", utc=True).dt.tz_localize(None)
        out = pd.Series(stamps.astype("int64").to_numpy(dtype=np.float64), index=series.index)
        return out.where(stamps.notna().to_numpy())
    return pd.to_numeric(series, errors="coerce").astype(np.float64)


# ------------------------------------------------------------------------------------ scorers


def _ks(real: pd.Series, synthetic: pd.Series) -> float:
    from scipy.stats import ks_2samp

    r, s = real.dropna().round(14), synthetic.dropna().round(14)
    if len(r) == 0 or len(s) == 0:
        return float("nan")
    return float(1 - ks_2samp(r, s).statistic)


def _tv(real: pd.Series, synthetic: pd.Series) -> float:
    r = real.dropna().astype(str).value_counts(normalize=True)
    s = synthetic.dropna().astype(str).value_counts(normalize=True)
    if len(r) == 0:
        return float("nan")
    idx = r.index.union(s.index)
    return float(1 - 0.5 * (r.reindex(idx, fill_value=0) - s.reindex(idx, fill_value=0)).abs().sum())


def _bins(x: pd.Series) -> np.ndarray:
    """sdmetrics' cut of a continuous column for contingency: 10 histogram bins of that data set's own range."""
    values = x.to_numpy(dtype=np.float64)
    edges = np.histogram_bin_edges(values[~np.isnan(values)]) if (~np.isnan(values)).any() else np.array([0.0])
    return np.digitize(values, bins=edges)


def _pair(real: pd.DataFrame, synthetic: pd.DataFrame, a: str, b: str, ka: str, kb: str, seed: int) -> float:
    """Correlation similarity for two continuous columns, contingency similarity otherwise (sdmetrics' rules)."""
    ca, cb = ka in _CONTINUOUS, kb in _CONTINUOUS
    if ca and cb:
        r = pd.DataFrame({"a": _numeric(real[a], ka), "b": _numeric(real[b], kb)}).dropna()
        s = pd.DataFrame({"a": _numeric(synthetic[a], ka), "b": _numeric(synthetic[b], kb)}).dropna()
        if len(r) < 2 or len(s) < 2 or r.a.nunique() < 2 or r.b.nunique() < 2 or s.a.nunique() < 2 \
                or s.b.nunique() < 2:
            return float("nan")
        return float(1 - abs(np.corrcoef(r.a, r.b)[0, 1] - np.corrcoef(s.a, s.b)[0, 1]) / 2)
    ra = _bins(_numeric(real[a], ka)) if ca else real[a].to_numpy()
    rb = _bins(_numeric(real[b], kb)) if cb else real[b].to_numpy()
    sa = _bins(_numeric(synthetic[a], ka)) if ca else synthetic[a].to_numpy()
    sb = _bins(_numeric(synthetic[b], kb)) if cb else synthetic[b].to_numpy()
    return _contingency(pd.DataFrame({"a": ra, "b": rb}), pd.DataFrame({"a": sa, "b": sb}), seed)


def _contingency(real: pd.DataFrame, synthetic: pd.DataFrame, seed: int) -> float:
    if max(len(real), len(synthetic)) > _SUBSAMPLE:
        real = real.sample(min(_SUBSAMPLE, len(real)), random_state=seed)
        synthetic = synthetic.sample(min(_SUBSAMPLE, len(synthetic)), random_state=seed)
    if len(real) == 0 or len(synthetic) == 0:
        return float("nan")
    r = real.astype(str).groupby(["a", "b"]).size() / len(real)
    s = synthetic.astype(str).groupby(["a", "b"]).size() / len(synthetic)
    idx = r.index.union(s.index)
    return float(1 - (r.reindex(idx, fill_value=0) - s.reindex(idx, fill_value=0)).abs().sum() / 2)


def _mean(scores) -> float:
    values = [v for v in scores if v is not None and not np.isnan(v)]
    return float(np.mean(values)) if values else float("nan")


# ------------------------------------------------------------------------------------ fidelity


def column_shapes(real, synthetic, schema: Schema, *, kinds=None) -> dict:
    """KS / TV complement per column; ``score`` is the mean over every column of every table."""
    kinds = kinds or column_kinds(real, schema)
    per = {}
    for t, df in real.items():
        for c in df.columns:
            k = kinds[t][c]
            if k in _CONTINUOUS:
                per[f"{t}.{c}"] = _ks(_numeric(df[c], k), _numeric(synthetic[t][c], k))
            elif k in _DISCRETE:
                per[f"{t}.{c}"] = _tv(df[c], synthetic[t][c])
    return {"score": _mean(per.values()), "columns": per}


def column_pair_trends(real, synthetic, schema: Schema, *, kinds=None, seed: int = 0) -> dict:
    """Pair trends within each table; ``score`` is the mean over every pair of every table."""
    kinds = kinds or column_kinds(real, schema)
    per = {}
    for t, df in real.items():
        cols = [c for c in df.columns if kinds[t][c] in _CONTINUOUS + _DISCRETE]
        for a, b in itertools.combinations(cols, 2):
            per[f"{t}.{a}|{b}"] = _pair(df, synthetic[t], a, b, kinds[t][a], kinds[t][b], seed)
    return {"score": _mean(per.values()), "pairs": per}


def _children_per_parent(tables, fk: ForeignKey) -> np.ndarray:
    parent = key_codes(tables[fk.parent][fk.parent_columns])
    child = tables[fk.child][fk.columns].dropna()
    counts = pd.Series(key_codes(child)).value_counts() if len(child) else pd.Series(dtype=np.int64)
    return pd.Series(parent).map(counts).fillna(0).to_numpy(dtype=np.float64)


def cardinality(real, synthetic, schema: Schema) -> dict:
    """KS complement of the number of children per parent, per foreign key (sdmetrics' CardinalityShapeSimilarity)."""
    per = {}
    for fk in schema.foreign_keys:
        per[fk.name] = _ks(pd.Series(_children_per_parent(real, fk)), pd.Series(_children_per_parent(synthetic, fk)))
    return {"score": _mean(per.values()), "foreign_keys": per}


def _join(tables, fk: ForeignKey) -> pd.DataFrame:
    child = tables[fk.child].add_prefix(f"{fk.child}.")
    parent = tables[fk.parent].add_prefix(f"{fk.parent}.")
    return child.merge(parent, left_on=[f"{fk.child}.{c}" for c in fk.columns],
                       right_on=[f"{fk.parent}.{c}" for c in fk.parent_columns])


def _trend_pairs(rj: pd.DataFrame, sj: pd.DataFrame, top: str, bottom: str, kinds, seed: int) -> list[float]:
    scores = []
    usable = _CONTINUOUS + _DISCRETE
    for a in (c for c in kinds[top] if kinds[top][c] in usable):
        for b in (c for c in kinds[bottom] if kinds[bottom][c] in usable):
            scores.append(_pair(rj, sj, f"{top}.{a}", f"{bottom}.{b}", kinds[top][a], kinds[bottom][b], seed))
    return scores


def intertable_trends(real, synthetic, schema: Schema, *, kinds=None, seed: int = 0) -> dict:
    """Pair trends of (parent column, child column) over each parent-child join; ``score`` pools every pair."""
    kinds = kinds or column_kinds(real, schema)
    per, pooled = {}, []
    for fk in schema.foreign_keys:
        if fk.parent == fk.child:
            continue  # a self-join's prefixes collide; sdmetrics skips them too
        scores = _trend_pairs(_join(real, fk), _join(synthetic, fk), fk.parent, fk.child, kinds, seed)
        per[fk.name] = _mean(scores)
        pooled += scores
    return {"score": _mean(pooled), "foreign_keys": per}


def _paths(schema: Schema, hops: int) -> list[list[ForeignKey]]:
    """Foreign-key chains top -> ... -> bottom of exactly ``hops`` keys (no self-references)."""
    fks = [fk for fk in schema.foreign_keys if fk.parent != fk.child]
    paths = [[fk] for fk in fks]
    for _ in range(hops - 1):
        paths = [p + [fk] for p in paths for fk in fks if fk.parent == p[-1].child and fk.child not in
                 {f.parent for f in p}]
    return paths


def _path_join(tables, path: list[ForeignKey]) -> pd.DataFrame:
    """Bottom table joined up the path to the top table, columns prefixed ``table.``."""
    out = tables[path[-1].child].add_prefix(f"{path[-1].child}.")
    for fk in reversed(path):
        parent = tables[fk.parent].add_prefix(f"{fk.parent}.")
        out = out.merge(parent, left_on=[f"{fk.child}.{c}" for c in fk.columns],
                        right_on=[f"{fk.parent}.{c}" for c in fk.parent_columns])
    return out


def khop_trends(real, synthetic, schema: Schema, *, kinds=None, max_hops: int = 3, seed: int = 0) -> dict:
    """ClavaDDPM's long-range trends: pair trends of (top column, bottom column) along paths of 2+ hops."""
    kinds = kinds or column_kinds(real, schema)
    out: dict = {"hops": {}}
    pooled = []
    for hops in range(2, max_hops + 1):
        scores = []
        for path in _paths(schema, hops):
            top, bottom = path[0].parent, path[-1].child
            scores += _trend_pairs(_path_join(real, path), _path_join(synthetic, path), top, bottom, kinds, seed)
        if scores:
            out["hops"][hops] = _mean(scores)
            pooled += scores
    out["score"] = _mean(pooled)
    return out


def quality_score(real, synthetic, schema: Schema, *, seed: int = 0) -> dict:
    """The four sdmetrics QualityReport properties (all pairs counted) and their mean."""
    kinds = column_kinds(real, schema)
    props = {
        "column_shapes": column_shapes(real, synthetic, schema, kinds=kinds)["score"],
        "column_pair_trends": column_pair_trends(real, synthetic, schema, kinds=kinds, seed=seed)["score"],
        "cardinality": cardinality(real, synthetic, schema)["score"],
        "intertable_trends": intertable_trends(real, synthetic, schema, kinds=kinds, seed=seed)["score"],
    }
    props["score"] = _mean(props.values())
    return props


# ------------------------------------------------------------------------------------ structure


def referential_integrity(real, synthetic, schema: Schema) -> dict:
    """Share of the synthetic non-null foreign-key values that are keys of a synthetic parent row."""
    per = {}
    for fk in schema.foreign_keys:
        values = synthetic[fk.child][fk.columns].dropna()
        per[fk.name] = float(key_in(values, synthetic[fk.parent][fk.parent_columns]).mean()) if len(values) else 1.0
    return {"score": _mean(per.values()) if per else 1.0, "foreign_keys": per}


def cardinality_bounds(real, synthetic, schema: Schema) -> dict:
    """Share of synthetic parents whose child count lies within the real min and max, per foreign key."""
    per = {}
    for fk in schema.foreign_keys:
        r, s = _children_per_parent(real, fk), _children_per_parent(synthetic, fk)
        if len(r) == 0 or len(s) == 0:
            continue
        per[fk.name] = float(((s >= r.min()) & (s <= r.max())).mean())
    return {"score": _mean(per.values()) if per else 1.0, "foreign_keys": per}


# ------------------------------------------------------------------------------------ privacy


def _entity_view(tables, schema: Schema, root: str, kinds) -> pd.DataFrame:
    """One row per root entity: its own columns plus, per child table, the child count and numeric means."""
    base = tables[root]
    view = base[[c for c in base.columns if kinds[root][c] != "id"]].copy()
    for fk in schema.children_of(root):
        if fk.child == root:
            continue
        child = tables[fk.child]
        parent_key = pd.Series(key_codes(base[fk.parent_columns]))
        ckey = pd.Series(key_codes(child[fk.columns]), index=child.index)
        view[f"n_{fk.name}"] = parent_key.map(ckey.value_counts()).fillna(0).to_numpy()
        for c in child.columns:
            if kinds[fk.child][c] == "numerical":
                means = pd.to_numeric(child[c], errors="coerce").groupby(ckey).mean()
                view[f"mean_{fk.name}.{c}"] = parent_key.map(means).to_numpy()
    return view


def joined_privacy(real, synthetic, schema: Schema, *, holdout=None, seed: int = 0) -> dict:
    """Exact copies, DCR share and detection AUC per table and on each root entity's joined view."""
    from synthera.evaluate import EvalData
    from synthera.evaluate.fidelity import detection_auc
    from synthera.evaluate.privacy import distance_to_closest_record, exact_copy_rate

    kinds = column_kinds(real, schema)
    views = {}
    for t in real:
        cols = [c for c in real[t].columns if kinds[t][c] != "id"]
        if cols and len(real[t]) >= 10 and len(synthetic[t]):
            views[f"table:{t}"] = (real[t][cols], synthetic[t][cols], holdout[t][cols] if holdout else None)
    roots = [t for t in real if not any(fk.parent != t for fk in schema.parents_of(t))]
    for r in roots:
        if len(real[r]) >= 10 and len(synthetic[r]):
            views[f"entity:{r}"] = (_entity_view(real, schema, r, kinds), _entity_view(synthetic, schema, r, kinds),
                                    _entity_view(holdout, schema, r, kinds) if holdout else None)
    out = {}
    for name, (rv, sv, hv) in views.items():
        if rv.shape[1] == 0:
            continue
        try:
            data = EvalData.build(rv, sv, holdout=hv, seed=seed)
            entry = {"exact_copies": exact_copy_rate(data), "detection": detection_auc(data)}
            if hv is not None:
                entry["dcr"] = distance_to_closest_record(data)
            out[name] = entry
        except Exception as exc:  # noqa: BLE001 - one failing view is a row with its error
            out[name] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


def _quality_with_tables(real, synthetic, schema: Schema, seed: int) -> tuple[dict, dict]:
    """:func:`quality_score` and, per table, the mean column shape and pair trend."""
    kinds = column_kinds(real, schema)
    shapes = column_shapes(real, synthetic, schema, kinds=kinds)
    pairs = column_pair_trends(real, synthetic, schema, kinds=kinds, seed=seed)
    props = {"column_shapes": shapes["score"], "column_pair_trends": pairs["score"],
             "cardinality": cardinality(real, synthetic, schema)["score"],
             "intertable_trends": intertable_trends(real, synthetic, schema, kinds=kinds, seed=seed)["score"]}
    props["score"] = _mean(props.values())
    tables = {t: {"column_shapes": _mean(v for k, v in shapes["columns"].items() if k.split(".", 1)[0] == t),
                  "column_pair_trends": _mean(v for k, v in pairs["pairs"].items() if k.split(".", 1)[0] == t)}
              for t in real}
    return props, tables


def evaluate_database(real, synthetic, schema: Schema, *, holdout=None, seed: int = 0):
    """Every metric of this module; a metric that fails gives ``{"error": ...}`` instead of stopping the rest.

    Returns a :class:`~synthera.relational.report.DatabaseEvaluation`: the results dict,
    with ``to_html()`` for the report (the schema graph with each relationship's score).
    """
    from synthera.relational.report import DatabaseEvaluation

    steps = {
        "quality": lambda: _quality_with_tables(real, synthetic, schema, seed),
        "khop_trends": lambda: khop_trends(real, synthetic, schema, seed=seed),
        "referential_integrity": lambda: referential_integrity(real, synthetic, schema),
        "cardinality_bounds": lambda: cardinality_bounds(real, synthetic, schema),
        "cardinality": lambda: cardinality(real, synthetic, schema),
        "intertable_trends": lambda: intertable_trends(real, synthetic, schema, seed=seed),
        "privacy": lambda: joined_privacy(real, synthetic, schema, holdout=holdout, seed=seed),
    }
    out = {}
    for name, step in steps.items():
        try:
            out[name] = step()
        except Exception as exc:  # noqa: BLE001 - see the module docstring
            from synthera._secrets import redact

            out[name] = {"error": redact(f"{type(exc).__name__}: {exc}")}
    if isinstance(out["quality"], tuple):
        out["quality"], out["tables"] = out["quality"]
    rows = {t: (len(real[t]), len(synthetic[t]) if t in synthetic else 0) for t in real}
    return DatabaseEvaluation(out, schema, rows)
