"""Synthesize a whole database: every table, with keys that join.

The method walks the tables parents first (:meth:`Schema.order`):

* every table is modelled by the flagship cascade
  (:class:`~synthera.relational._cascade.ContextCascade`) on its non-key columns;
* a parent's row carries, for each foreign key that points at it, the number of
  children it has (``__n__<fk>``), so child counts are learned jointly with the
  parent's columns and sampled with them; the sampled counts then only rank the
  parents, and take the values of the real count distribution's stratified quantiles
  (:func:`~synthera.relational._keys.count_model`: counts held by 5 or more parents
  exactly, rarer ones pooled in runs of 5), within the real min and max;
* each child table has one *primary* foreign key (the one with the fewest
  missing parents, then the largest parent): its rows are learned together with
  their parent's columns (``__c__<col>``), and sampled with those columns fixed
  to the synthetic parent's values, as many per parent as that parent's count;
* every other foreign key (a second parent, a self-reference, a key that closes
  a cycle) is matched after all tables exist: each child row also draws the
  attributes it wants of that parent (``__a__<fk>__<col>``, up to ``max_match_columns``
  of the parent's columns, categories and numbers); the largest sampled counts go to
  the synthetic parents most children want, and each child takes its nearest parent
  (on those attributes) that has room left;
* null and orphan foreign keys are learned as a per-row status (``__s__<fk>``);
  orphans follow the key's policy: null, dropped at fit, or kept unmatched;
* a table the schema declares ``public`` (reference data such as airports) is
  copied, keys included; a foreign key to it is learned as a categorical column
  of the child (``__p__<fk>``: which public row), with the usual rare-category
  rule (a rare choice becomes a public row drawn at random among the rarely chosen ones).

* a table whose schema declares a ``sequence_index`` is a history per parent row:
  its rows with a parent are learned by a :class:`~synthera.sequences.SequenceSynthesizer`
  (the entity is the parent row, the context the parent's columns), and sampled as
  one history for every synthetic parent whose sampled count is above zero, so
  lengths, gaps and the dependence on earlier events come from the sequence model;
  its rows without a parent, if any, by a cascade without context.

Primary keys are generated fresh and foreign keys take synthetic parents' keys,
so referential integrity is complete by construction.

>>> import pandas as pd
>>> customers = pd.DataFrame({"id": range(60), "country": ["FR", "DE", "US"] * 20})
>>> orders = pd.DataFrame({"id": range(150), "customer_id": [i % 60 for i in range(150)],
...                        "amount": [float(i % 7) for i in range(150)]})
>>> model = RelationalSynthesizer().fit({"customers": customers, "orders": orders})
>>> synthetic = model.sample(seed=0)
>>> sorted(synthetic)
['customers', 'orders']
>>> bool(synthetic["orders"]["customer_id"].isin(synthetic["customers"]["id"]).all())
True
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synthera._columns import write_dates
from synthera._estimator import Estimator, Whole
from synthera.errors import DataError, ModelFileError, NotFittedError, UserInputError
from synthera.relational._cascade import ContextCascade, cascade_from_state, cascade_state, fit_cascade
from synthera.relational._keys import (
    allocate,
    assign_foreign_key,
    count_model,
    draw_counts,
    enforce_integrity,
    fresh_keys,
    key_style,
    make_unique,
)
from synthera.relational.schema import ForeignKey, Schema, key_codes, key_in

__all__ = ["RELATIONAL_FORMAT_VERSION", "RelationalSynthesizer"]

#: the newest model format this Synthera reads; a model is saved as 1 unless it holds a history table (2)
RELATIONAL_FORMAT_VERSION = 2
_MODELLED = ("numerical", "datetime", "categorical", "boolean")
#: the column naming a history's entity (its parent row) inside a nested sequence model
_ENTITY = "__entity__"


class RelationalSynthesizer(Estimator):
    """Learn a database (a dict of tables plus a :class:`Schema`), sample a synthetic one.

    Parameters
    ----------
    max_context
        Most parent columns a child is conditioned on (the parent's first
        modelled columns, plus its child count).
    max_match_columns
        Most parent attributes a child asks of a secondary parent (few-valued
        categories and numbers, alternately), to be paired with the nearest one.
    min_samples_leaf, max_bins
        Passed to every table's cascade (see :class:`~synthera.tabular.CascadeSynthesizer`).
    seed
        Seeds every fit.
    """

    _parameter_constraints = {
        "max_context": Whole(0),
        "max_match_columns": Whole(0),
        "min_samples_leaf": Whole(1, optional=True),
        "max_bins": Whole(2),
    }

    def __init__(self, *, max_context: int = 12, max_match_columns: int = 6, min_samples_leaf: int | None = None,
                 max_bins: int = 64, seed: int = 0):
        self.max_context = max_context
        self.max_match_columns = max_match_columns
        self.min_samples_leaf = min_samples_leaf
        self.max_bins = max_bins
        self.seed = seed

    # -- fit --------------------------------------------------------------------------------

    def fit(self, tables: Mapping[str, pd.DataFrame], *, schema: Schema | Mapping | None = None):
        """Learn every table of ``tables`` (name -> DataFrame) and return ``self``.

        ``schema`` gives the keys; without it they are guessed
        (:func:`~synthera.relational.infer_schema`). Tables the schema does not
        name are refused; tables it names must be present.
        """
        from synthera.relational.inference import infer_schema

        self.check_params()
        if not isinstance(tables, Mapping) or not all(isinstance(v, pd.DataFrame) for v in tables.values()):
            raise DataError("fit expects a dict of table name -> pandas DataFrame")
        schema = Schema.from_dict(schema) if isinstance(schema, Mapping) else schema
        if schema is None:
            schema = infer_schema(tables)
        missing = [n for n in schema.tables if n not in tables]
        if missing:
            raise UserInputError(f"table '{missing[0]}' is in the schema but not in the data; add it or remove it "
                                 "from the schema")
        extra = [n for n in tables if n not in schema.tables]
        if extra:
            raise UserInputError(f"table '{extra[0]}' is not in the schema; add it to the schema or leave it out")
        schema.check(tables)
        order = schema.order()  # refuses cycles with no nullable foreign key
        frames, status, self.orphans_ = _apply_orphan_policies(tables, schema)
        self.schema_ = schema
        self.order_ = order
        self.primary_ = {t: None if schema.tables[t].public else _choose_primary(t, schema, frames, status, order)
                         for t in order}
        self.primary_.update(_sequence_entities(schema))
        self.plans_: dict[str, dict] = {}
        self.models_: dict[str, ContextCascade | None] = {}
        self.sequences_: dict[str, Any] = {}
        for t in order:
            self._fit_table(t, frames, status)
        return self

    def _cascade_params(self) -> dict:
        return {"max_bins": self.max_bins, "min_samples_leaf": self.min_samples_leaf, "seed": self.seed}

    def _fit_table(self, t: str, frames: dict, status: dict) -> None:
        schema, df = self.schema_, frames[t]
        plan = _base_plan(t, df, schema, self.primary_[t])
        if schema.tables[t].public:  # copied as it is: the rows travel in the model
            self.plans_[t], self.models_[t] = {**plan, "public": _public_rows(df)}, None
            return
        train = df.drop(columns=plan["key_columns"]).copy()
        hints: dict[str, dict] = {}
        for fk in schema.parents_of(t):
            if schema.tables[fk.parent].public:
                col = f"__p__{fk.name}"
                train[col] = _public_choice(frames, fk, status[fk.name])
                plan["public_fks"][fk.name] = col
                hints[col] = {"kind": "categorical"}
        for fk in schema.children_of(t):  # how many children each row has, per foreign key
            col = _count_column(fk)
            train[col] = _child_counts(frames, fk, status[fk.name])
            plan["counts"][fk.name] = [col, int(train[col].min()) if len(train) else 0,
                                       int(train[col].max()) if len(train) else 0,
                                       float(train[col].mean()) if len(train) else 0.0, int(train[col].sum()),
                                       count_model(train[col].to_numpy())]
            hints[col] = {"kind": "numerical"}
        for fk in schema.parents_of(t):
            if fk.name in plan["public_fks"]:
                continue
            st = status[fk.name]
            if fk.name != self.primary_[t] and (st != "parent").any():
                col = f"__s__{fk.name}"
                train[col] = st
                plan["status"][fk.name] = col
                hints[col] = {"kind": "categorical"}
            covered = self.primary_[t] is not None and set(fk.columns) <= set(_fk(schema, self.primary_[t]).columns)
            if fk.name != self.primary_[t] and not covered:  # (a key inside the primary one is set with it)
                plan["attrs"][fk.name] = _attach_parent(train, frames, fk, st, _match_columns(
                    frames[fk.parent], fk, self.max_match_columns), f"__a__{fk.name}__", hints)
        if schema.tables[t].sequence_index is not None:
            self._fit_sequence(t, train, frames, status[self.primary_[t]], plan, hints)
            return
        first: list[str] = []
        if self.primary_[t] is not None:
            fk = _fk(schema, self.primary_[t])
            st = status[fk.name]
            parent_model = self.models_.get(fk.parent)
            ctx = _context_columns(parent_model, self.plans_[fk.parent], fk, self.max_context)
            joined = _attach_parent(train, frames | {fk.parent: _with_counts(frames, fk, status, self.plans_)}, fk,
                                    st, ctx, "__c__", hints)
            plan["context"] = joined
            first = list(joined)
            plan["n_noparent"] = int((st != "parent").sum())
        plan["null_columns"] = [c for c in train.columns if len(train) and train[c].isna().all()]
        train = train.drop(columns=plan["null_columns"])
        self.models_[t] = self._fit_model(t, train, first, hints)
        self.plans_[t] = plan

    def _fit_sequence(self, t: str, train: pd.DataFrame, frames: dict, status: np.ndarray, plan: dict,
                      hints: dict) -> None:
        """A history table: its rows with a parent go to a sequence model, the others to a cascade."""
        from synthera.sequences.model import SequenceSynthesizer

        fk, index = _fk(self.schema_, self.primary_[t]), self.schema_.tables[t].sequence_index
        parent = frames[fk.parent]
        pos = _parent_rows(frames[t], parent, fk, status)
        has = pos >= 0
        plan["null_columns"] = [c for c in train.columns if len(train) and train[c].isna().all() and c != index]
        train = train.drop(columns=plan["null_columns"])
        plan["n_noparent"] = int((~has).sum())
        context = {f"__c__{c}": c for c in _sequence_context(parent, self.plans_[fk.parent], self.max_context)}
        ctx = pd.DataFrame({_ENTITY: np.arange(len(parent))} | {n: parent[c].to_numpy() for n, c in context.items()})
        events = train[has].reset_index(drop=True)
        events.insert(0, _ENTITY, pos[has])
        events = events.iloc[np.lexsort((_order_values(events[index]), events[_ENTITY].to_numpy()))]
        plan["sequence"] = {"entity": fk.name, "index": index, "context": context,
                            "columns": [c for c in events.columns if c != _ENTITY]}
        if not has.any():
            raise UserInputError(f"table '{t}' declares sequence_index '{index}' but none of its rows has a parent "
                                 f"through {fk.name}; fix the foreign key or remove sequence_index")
        seq = SequenceSynthesizer(max_bins=self.max_bins, min_samples_leaf=self.min_samples_leaf, seed=self.seed)
        try:
            self.sequences_[t] = seq.fit(events.reset_index(drop=True), sequence_key=_ENTITY, sequence_index=index,
                                         context=ctx)
        except UserInputError as exc:
            raise type(exc)(f"table '{t}': {exc}") from None
        self.models_[t] = self._fit_model(t, train[~has].reset_index(drop=True), [], hints) if (~has).any() else None
        self.plans_[t] = plan

    def _fit_model(self, t: str, train: pd.DataFrame, first: list[str], hints: dict) -> ContextCascade | None:
        if len(train) == 0 or train.shape[1] == 0:
            return None
        from synthera.metadata import FORMAT_VERSION, Metadata

        user = self.schema_.tables[t].metadata
        cols = {} if user is None else {n: c.to_dict() for n, c in user.columns.items() if n in train.columns}
        cols.update(hints)
        md = Metadata.from_dict({"format_version": FORMAT_VERSION, "columns": cols}) if cols else None
        try:
            return fit_cascade(train, first=[c for c in first if c in train.columns], hints=md,
                               params=self._cascade_params())
        except UserInputError as exc:
            raise type(exc)(f"table '{t}': {exc}") from None

    # -- sample -----------------------------------------------------------------------------

    def sample(self, *, scale: float = 1.0, seed: int | None = None,
               conditions: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, pd.DataFrame]:
        """A synthetic database: ``{table: DataFrame}`` with the real tables' columns and keys that join.

        Parameters
        ----------
        scale
            Root tables get ``scale`` times their real row count; children
            follow from their parents' sampled counts.
        seed
            Same seed, same database.
        conditions
            ``{table: {column: value}}``; every row of that table carries the
            values, and its descendants are generated from those rows.
        """
        if not hasattr(self, "plans_"):
            raise NotFittedError("this RelationalSynthesizer is not fitted yet; call fit first")
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not np.isfinite(scale) or scale < 0:
            raise UserInputError(f"scale must be a number >= 0; got {scale!r}", param="scale")
        conditions = dict(conditions or {})
        unknown = [t for t in conditions if t not in self.plans_]
        if unknown:
            raise UserInputError(f"unknown table '{unknown[0]}' in conditions; the tables are: "
                                 f"{', '.join(self.order_)}")
        seeds = np.random.SeedSequence(seed).spawn(len(self.order_) + 1)
        rngs = {t: np.random.default_rng(s) for t, s in zip(self.order_, seeds[:-1], strict=True)}
        self._conditioned = bool(conditions)  # then children follow the chosen parents, not the real totals
        made: dict[str, pd.DataFrame] = {}
        for t in self.order_:
            made[t] = self._sample_table(t, made, scale, rngs[t], conditions.get(t))
        self._assign_secondary(made, np.random.default_rng(seeds[-1]))
        return self._finish(made)

    def _sample_table(self, t: str, made: dict, scale: float, rng, condition) -> pd.DataFrame:
        plan, model = self.plans_[t], self.models_[t]
        primary = self.primary_[t]
        if "public" in plan:
            return _restore_dtypes(pd.DataFrame(plan["public"]["data"], columns=plan["columns"]), plan["dtypes"])
        if "sequence" in plan:
            df = self._sample_sequence(t, made, scale, rng, condition)
        elif primary is None:
            n = int(round(scale * plan["n_rows"]))
            if model is None:
                df = pd.DataFrame(index=range(n))
            else:
                df = model.sample(n, seed=int(rng.integers(2**63)), conditions=condition)
            parent_index = None
        else:
            fk = _fk(self.schema_, primary)
            parent = made[fk.parent]
            count = self.plans_[fk.parent]["counts"][fk.name]
            target = None if self._conditioned else int(round(scale * count[4]))
            counts = _calibrate(_sampled_counts(parent, count, self._conditioned), count, rng, target)
            extra = int(round(scale * plan.get("n_noparent", 0)))
            parent_index = np.r_[np.repeat(np.arange(len(parent)), counts), np.full(extra, -1)].astype(np.int64)
            context = _context_frame(parent, plan["context"], parent_index)
            if model is None:
                df = pd.DataFrame(index=range(len(parent_index)))
            else:
                df = model.sample_context(context, rng, fixed=_check_condition(model, t, condition))
                df = df.drop(columns=[c for c in plan["context"] if c in df.columns])
            _copy_keys(df, parent, fk, parent_index)
        for c in plan["null_columns"]:
            df[c] = None
        for name, col in plan.get("public_fks", {}).items():
            _link_public(df, made, _fk(self.schema_, name), col, model, rng)
        if plan["generated_key"] is not None:
            df[plan["generated_key"]] = fresh_keys(plan["key_style"], len(df)).to_numpy()
        if len(plan["primary_key"]) > 1 and plan["movable"]:
            parsed, formats = _parse_text_dates(df, plan["movable"], model)
            parsed = make_unique(parsed, plan["primary_key"], _movable(parsed, plan, model))
            df = _format_text_dates(parsed, formats)
        return df

    def _sample_sequence(self, t: str, made: dict, scale: float, rng, condition) -> pd.DataFrame:
        """One history per synthetic parent whose sampled count is above zero, drawn given that parent's columns."""
        plan, model = self.plans_[t], self.models_[t]
        fk = _fk(self.schema_, self.primary_[t])
        parent = made[fk.parent]
        has = np.flatnonzero(_sampled_counts(parent, self.plans_[fk.parent]["counts"][fk.name], self._conditioned))
        ctx = pd.DataFrame({_ENTITY: has} | {n: (parent[c].iloc[has].to_numpy() if c in parent.columns else None)
                                             for n, c in plan["sequence"]["context"].items()})
        seed = int(rng.integers(2**63))
        if len(has):
            try:
                df = self.sequences_[t].sample(seed=seed, context=ctx, conditions=condition or None)
            except UserInputError as exc:
                raise type(exc)(f"table '{t}': {exc}") from None
        else:
            df = pd.DataFrame({c: pd.Series(dtype=object) for c in [_ENTITY, *plan["sequence"]["columns"]]})
        index = df.pop(_ENTITY).to_numpy(dtype=np.int64)
        extra = int(round(scale * plan.get("n_noparent", 0)))
        if model is not None and extra:
            more = model.sample(extra, seed=int(rng.integers(2**63)), conditions=condition)
            df = pd.concat([df.reset_index(drop=True), more], ignore_index=True)
            index = np.r_[index, np.full(len(more), -1, dtype=np.int64)]
        df = df.reset_index(drop=True)
        _copy_keys(df, parent, fk, index)
        return df

    def _assign_secondary(self, made: dict, rng) -> None:
        for t in self.order_:
            plan = self.plans_[t]
            assigned = set(_fk(self.schema_, self.primary_[t]).columns) if self.primary_[t] else set()
            fks = sorted((fk for fk in self.schema_.parents_of(t)
                          if fk.name != self.primary_[t] and fk.name not in plan.get("public_fks", {})
                          and "public" not in plan), key=lambda f: len(f.columns))
            for fk in fks:
                child, parent = made[t], made[fk.parent]
                fixed = [c for c in fk.columns if c in assigned]
                if len(fixed) == len(fk.columns):
                    continue  # another foreign key already set these columns
                st_col = plan["status"].get(fk.name)
                st = child[st_col].astype(str).to_numpy() if st_col in child else np.full(len(child), "parent")
                count = self.plans_[fk.parent]["counts"].get(fk.name)
                quotas = _sampled_counts(parent, count, self._conditioned) if count and count[0] in parent else None
                pairs = [(c, p) for c, p in plan["attrs"].get(fk.name, {}).items() if c in child and p in parent]
                idx = assign_foreign_key(child, parent, fk, need=st == "parent", fixed=fixed, quotas=quotas,
                                         pairs=pairs, rng=rng, upper=count[2] if count else None)
                _set_foreign_key(child, parent, fk, idx, st, fixed)
                assigned |= set(fk.columns)
            if len(plan["primary_key"]) > 1 and any(c not in plan["movable"] for c in plan["primary_key"]):
                made[t] = make_unique(made[t], plan["primary_key"], {})

    def _finish(self, made: dict) -> dict[str, pd.DataFrame]:
        self.sample_fixes_ = enforce_integrity(made, self.schema_.foreign_keys)
        out = {}
        for t in self.order_:
            plan = self.plans_[t]
            df = made[t]
            out[t] = _restore_dtypes(df.reindex(columns=plan["columns"]), plan["dtypes"])
        return out

    # -- persistence ------------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> Path:
        """Save to a model folder (``manifest.json`` + ``arrays.npz``; no pickle), atomically."""
        from synthera import __version__
        from synthera._persist import write_model
        from synthera.metadata import numpy_to_json

        if not hasattr(self, "plans_"):
            raise NotFittedError("this RelationalSynthesizer is not fitted yet; call fit first")
        arrays: dict[str, np.ndarray] = {}
        models = {}
        for i, t in enumerate(self.order_):
            model = self.models_[t]
            if model is None:
                models[t] = None
                continue
            state, arr = cascade_state(model)
            models[t] = state
            arrays.update({f"t{i}__{k}": v for k, v in arr.items()})

        sequences = {}
        for i, t in enumerate(self.order_):
            if t in getattr(self, "sequences_", {}):
                sequences[t], arrays[f"s{i}__npz"] = _nested_state(self.sequences_[t])

        def write_arrays(target: Path) -> None:
            with open(target, "wb") as fh:
                np.savez_compressed(fh, **arrays)

        manifest = {"format": "synthera-relational-model", "format_version": 2 if sequences else 1,
                    "synthera_version": __version__, "params": self.get_params(), "schema": self.schema_.to_dict(),
                    "order": self.order_, "primary": self.primary_, "plans": self.plans_, "models": models,
                    "orphans": self.orphans_, "sequences": sequences}
        return write_model(path, manifest, {"arrays.npz": write_arrays}, checksums={"arrays.npz": "arrays_sha256"},
                           default=numpy_to_json, verify=lambda folder: RelationalSynthesizer.load(folder))

    @classmethod
    def load(cls, path: str | os.PathLike) -> RelationalSynthesizer:
        """Load a folder written by :meth:`save`; refuses foreign or tampered folders."""
        from synthera._persist import check_format, read_model

        folder = Path(path)

        def header(m: dict) -> None:
            found = m.get("format_version") if isinstance(m, dict) else None
            check_format(folder, m, expected="synthera-relational-model", what="relational model",
                         version=found if found in (1, 2) else RELATIONAL_FORMAT_VERSION, redo="fit the model again")

        return read_model(folder, checksums={"arrays.npz": "arrays_sha256"}, check_header=header,
                          build=lambda m: cls._from_manifest(folder, m))

    @classmethod
    def _from_manifest(cls, folder: Path, m: dict) -> RelationalSynthesizer:
        try:
            obj = cls(**m["params"])
            obj.schema_ = Schema.from_dict(m["schema"])
            obj.order_ = list(m["order"])
            obj.primary_ = dict(m["primary"])
            obj.plans_ = dict(m["plans"])
            obj.orphans_ = dict(m["orphans"])
            with np.load(folder / "arrays.npz", allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
            obj.models_ = {}
            for i, t in enumerate(obj.order_):
                state = m["models"][t]
                prefix = f"t{i}__"
                obj.models_[t] = None if state is None else cascade_from_state(
                    state, {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})
            obj.sequences_ = {t: _nested_model(m["sequences"][t], arrays[f"s{obj.order_.index(t)}__npz"])
                              for t in m.get("sequences", {})}
        except ModelFileError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, OSError) as exc:
            raise ModelFileError(f"{folder} is not a valid relational model ({type(exc).__name__}: {exc}); "
                                 "save it again") from None
        return obj


# ------------------------------------------------------------------------------- fit helpers


def _nested_state(model) -> tuple[dict, np.ndarray]:
    """A sequence model as (its manifest, its arrays file as bytes), through its own save."""
    import json
    import tempfile

    with tempfile.TemporaryDirectory(prefix="synthera-seq-") as tmp:
        folder = model.save(Path(tmp) / "model")
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        data = np.frombuffer((folder / "arrays.npz").read_bytes(), dtype=np.uint8).copy()
    return manifest, data


def _nested_model(manifest: dict, data: np.ndarray):
    """Load a sequence model saved by :func:`_nested_state` through its own load (checksums checked)."""
    import json
    import tempfile

    from synthera.sequences.model import SequenceSynthesizer

    with tempfile.TemporaryDirectory(prefix="synthera-seq-") as tmp:
        folder = Path(tmp)
        (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
        (folder / "arrays.npz").write_bytes(np.asarray(data, dtype=np.uint8).tobytes())
        return SequenceSynthesizer.load(folder)


def _sequence_entities(schema: Schema) -> dict[str, str]:
    """The entity foreign key of every history table (it replaces the chosen primary key); one line if unusable."""
    out = {}
    broken = set(schema.broken_edges())
    for t, ts in schema.tables.items():
        fk = schema.sequence_foreign_key(t) if ts.sequence_index is not None else None
        if fk is None:
            continue
        if fk.name in broken:
            raise UserInputError(f"table '{t}' orders its rows per parent through {fk.name}, which breaks a cycle "
                                 "of foreign keys; break the cycle at another nullable key or remove sequence_index")
        out[t] = fk.name
    return out


def _parent_rows(child: pd.DataFrame, parent: pd.DataFrame, fk: ForeignKey, status: np.ndarray) -> np.ndarray:
    """Each child row's parent row position through ``fk`` (-1 without one)."""
    lookup = pd.Series(np.arange(len(parent)), index=key_codes(parent[fk.parent_columns]))
    lookup = lookup[~lookup.index.duplicated()]
    pos = pd.Series(key_codes(child[fk.columns])).map(lookup).to_numpy(dtype=np.float64)
    ok = (status == "parent") & ~np.isnan(pos)
    return np.where(ok, np.nan_to_num(pos, nan=-1.0), -1).astype(np.int64)


def _sequence_context(parent: pd.DataFrame, parent_plan: dict, limit: int) -> list[str]:
    """The parent's columns a history is conditioned on: not keys, numbers, dates, flags or categories (<= 50)."""
    keys = set(parent_plan["key_columns"]) | set(parent_plan["primary_key"])
    out = []
    for c in parent_plan["columns"]:
        if c in keys or c not in parent.columns or parent[c].isna().all():
            continue
        s = parent[c]
        if (pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_datetime64_any_dtype(s.dtype)
                or s.nunique(dropna=True) <= 50):
            out.append(c)
    return out[:limit]


def _order_values(series: pd.Series) -> np.ndarray:
    """Values that sort like the index: numbers, dates, or text read as dates."""
    if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_datetime64_any_dtype(series.dtype):
        return series.to_numpy()
    parsed = pd.to_datetime(series, errors="coerce", format="mixed")
    return parsed.to_numpy() if parsed.notna().all() else series.astype(str).to_numpy()


def _fk(schema: Schema, name: str) -> ForeignKey:
    return next(fk for fk in schema.foreign_keys if fk.name == name)


def _count_column(fk: ForeignKey) -> str:
    return f"__n__{fk.name}"


def _apply_orphan_policies(tables, schema: Schema) -> tuple[dict, dict, dict]:
    """Frames (orphan rows dropped where the policy says so), each row's status per foreign key, and counts.

    Status is ``parent``, ``null`` or ``orphan``. Dropping runs parents first, so
    a dropped row's own children then count as orphans of their key.
    """
    frames = {n: df.reset_index(drop=True) for n, df in tables.items()}
    report: dict[str, dict] = {}
    for t in schema.order():
        for fk in schema.parents_of(t):
            df = frames[t]
            null = df[fk.columns].isna().any(axis=1).to_numpy()
            found = key_in(df[fk.columns], frames[fk.parent][fk.parent_columns])
            orphan = ~null & ~found
            report[fk.name] = {"rows": len(df), "null": int(null.sum()), "orphans": int(orphan.sum()),
                               "policy": fk.orphans, "dropped": 0}
            if fk.orphans == "drop" and orphan.any() and fk.parent != t:
                frames[t] = df[~orphan].reset_index(drop=True)
                report[fk.name]["dropped"] = int(orphan.sum())
    status = {}
    for fk in schema.foreign_keys:
        df = frames[fk.child]
        null = df[fk.columns].isna().any(axis=1).to_numpy()
        found = key_in(df[fk.columns], frames[fk.parent][fk.parent_columns])
        orphan_label = "orphan" if fk.orphans == "unmatched" else "null"
        status[fk.name] = np.where(null, "null", np.where(found, "parent", orphan_label)).astype(object)
    return frames, status, report


def _choose_primary(t: str, schema: Schema, frames, status, order: list[str]) -> str | None:
    """The foreign key whose parent a child is generated from: few missing parents, then the largest parent."""
    broken = set(schema.broken_edges())
    best, best_score = None, None
    for fk in schema.parents_of(t):
        if (fk.parent == t or fk.name in broken or order.index(fk.parent) > order.index(t)
                or schema.tables[fk.parent].public):
            continue
        missing = float((status[fk.name] != "parent").mean()) if len(frames[t]) else 0.0
        score = (missing <= 0.05, len(fk.columns), len(frames[fk.parent]), -missing)
        if best_score is None or score > best_score:
            best, best_score = fk.name, score
    return best


def _base_plan(t: str, df: pd.DataFrame, schema: Schema, primary: str | None) -> dict:
    pk = list(schema.tables[t].primary_key)
    fk_cols = {c for fk in schema.parents_of(t) for c in fk.columns}
    generated = pk[0] if len(pk) == 1 and pk[0] not in fk_cols else None
    key_columns = [c for c in df.columns if c in fk_cols or c == generated]
    return {"columns": list(df.columns), "dtypes": {c: str(df[c].dtype) for c in df.columns},
            "primary_key": pk, "generated_key": generated,
            "key_style": key_style(df[generated], t) if generated else None,
            "key_columns": key_columns, "movable": [c for c in pk if c not in fk_cols],
            "n_rows": len(df), "n_noparent": 0, "counts": {}, "status": {}, "attrs": {}, "context": {},
            "null_columns": [], "public_fks": {}}


def _public_rows(df: pd.DataFrame) -> dict:
    """A public table as JSON-able lists (nulls as None, dates as text)."""
    data = {}
    for c in df.columns:
        s = df[c]
        if pd.api.types.is_datetime64_any_dtype(s.dtype):
            s = s.astype(str).where(s.notna(), None)
        data[c] = [None if pd.isna(v) else (v.item() if hasattr(v, "item") else v) for v in s.astype(object)]
    return {"data": data}


def _public_choice(frames, fk: ForeignKey, status: np.ndarray) -> np.ndarray:
    """Which public parent row each child row points at (``r<row>``; None without a parent)."""
    pos = _parent_rows(frames[fk.child], frames[fk.parent], fk, status)
    ok = pos >= 0
    return np.where(ok, np.char.add("r", np.maximum(pos, 0).astype(str)), None).astype(object)


def _link_public(df: pd.DataFrame, made: dict, fk: ForeignKey, col: str, model, rng) -> None:
    """Set ``fk``'s columns from the sampled public-row choices; a rare ("other") choice draws among rare rows."""
    parent = made[fk.parent]
    values = df.pop(col) if col in df.columns else pd.Series([None] * len(df))
    pos = pd.to_numeric(values.astype(str).str.slice(1), errors="coerce").to_numpy(dtype=np.float64)
    null = values.isna().to_numpy()
    valid = ~np.isnan(pos) & (pos >= 0) & (pos < len(parent))
    other = ~null & ~valid
    if other.any() and len(parent):
        listed = set()
        md = getattr(model, "metadata_", None)
        if md is not None and col in md and md[col].categories:
            listed = {int(str(c)[1:]) for c in md[col].categories if str(c)[1:].isdigit()}
        pool = np.setdiff1d(np.arange(len(parent)), np.fromiter(listed, dtype=np.int64, count=len(listed)))
        pool = pool if len(pool) else np.arange(len(parent))
        pos[other] = rng.choice(pool, size=int(other.sum()))
    has = ~np.isnan(pos)
    take = np.where(has, pos, 0).astype(np.int64)
    for c, pc in zip(fk.columns, fk.parent_columns, strict=True):
        v = parent[pc].iloc[take].reset_index(drop=True).astype(object) if len(parent) else pd.Series(
            [None] * len(df), dtype=object)
        df[c] = v.where(pd.Series(has), None).to_numpy()


def _child_counts(frames, fk: ForeignKey, status: np.ndarray) -> np.ndarray:
    """Children (with a parent) of each parent row, through ``fk``."""
    parent = key_codes(frames[fk.parent][fk.parent_columns])
    child = frames[fk.child][fk.columns][status == "parent"]
    counts = pd.Series(key_codes(child)).value_counts() if len(child) else pd.Series(dtype=np.int64)
    return pd.Series(parent).map(counts).fillna(0).to_numpy(dtype=np.int64)


def _with_counts(frames, fk: ForeignKey, status, plans) -> pd.DataFrame:
    """The parent frame with its child-count column for ``fk`` (what the context may include)."""
    df = frames[fk.parent].copy()
    df[_count_column(fk)] = _child_counts(frames, fk, status[fk.name])
    return df


def _context_columns(parent_model, parent_plan: dict, fk: ForeignKey, limit: int) -> list[str]:
    """The parent's modelled columns a child is conditioned on, its count through ``fk`` first.

    A history parent (``sequence`` in its plan) offers its number, date and flag columns.
    """
    if "sequence" in parent_plan:
        kept = set(parent_plan["sequence"]["columns"])
        own = [c for c in parent_plan["columns"] if c in kept and _plain_dtype(parent_plan["dtypes"].get(c, ""))]
    elif parent_model is None:
        return []
    else:
        md = parent_model.metadata_
        own = [c for c in parent_plan["columns"] if c in md and md[c].kind in _MODELLED]
    return ([_count_column(fk)] + own)[: max(limit, 0) + 1] if limit else [_count_column(fk)]


def _plain_dtype(dtype: str) -> bool:
    """Numbers, dates and flags, by their dtype's name."""
    return dtype.lower().startswith(("int", "uint", "float", "bool", "datetime"))


def _match_columns(parent: pd.DataFrame, fk: ForeignKey, limit: int) -> list[str]:
    """Parent columns a child row asks for, to be matched with a parent that has them.

    Categories with few values (fewest first, but more than one, and never a text
    column unique per row, such as a name) alternate with numbers (in table order).
    """
    if limit == 0 or len(parent) == 0:
        return []
    cats, nums = [], []
    for c in parent.columns:
        if c in fk.parent_columns or c.startswith("__"):
            continue
        s = parent[c]
        k = s.nunique(dropna=True)
        if k < 2:
            continue
        if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype) and k > 50:
            nums.append(c)
        elif k <= 50 and k < len(parent):
            cats.append((k, c))
    cats = [c for _, c in sorted(cats)]
    mixed = [c for pair in itertools.zip_longest(cats, nums) for c in pair if c is not None]
    return mixed[:limit]


def _attach_parent(train: pd.DataFrame, frames, fk: ForeignKey, status: np.ndarray, columns: list[str],
                   prefix: str, hints: dict) -> dict[str, str]:
    """Join the parent's ``columns`` onto ``train`` (null where the row has no parent); returns new -> parent col."""
    if not columns:
        return {}
    parent = frames[fk.parent]
    pos = _parent_rows(frames[fk.child], parent, fk, status)
    has = pos >= 0
    take = np.maximum(pos, 0)
    out = {}
    for c in columns:
        if c not in parent.columns:
            continue
        name = f"{prefix}{c}"
        values = parent[c].iloc[take].reset_index(drop=True) if len(parent) else pd.Series([None] * len(train))
        values = values.astype(object).where(pd.Series(has), None) if not has.all() else values
        train[name] = values.to_numpy()
        if c.startswith("__n__"):
            hints[name] = {"kind": "numerical"}
        out[name] = c
    return out


# ------------------------------------------------------------------------------- sample helpers


def _sampled_counts(parent: pd.DataFrame, count: list, conditioned: bool = False) -> np.ndarray:
    """Each synthetic parent's child count through one foreign key.

    The parent's model samples a count with its other columns; unless the parents
    were chosen by a condition, those counts only rank the parents, and the values
    are the stratified quantiles of the real count distribution (:func:`draw_counts`),
    so the children-per-parent shape is kept as closely as the number of parents allows.
    """
    col, low, high = count[:3]
    if col not in parent.columns or len(parent) == 0:
        return np.zeros(len(parent), dtype=np.int64)
    values = pd.to_numeric(parent[col], errors="coerce").fillna(low).to_numpy(dtype=np.float64)
    if len(count) > 5 and count[5] and not conditioned:
        return draw_counts(count[5], values, low, high)
    return np.clip(np.round(values), low, high).astype(np.int64)


def _calibrate(counts: np.ndarray, count: list, rng, target: int | None = None) -> np.ndarray:
    """Counts rescaled, then moved one child at a time (within the real min and max), to sum to ``target``.

    ``target`` defaults to the real mean times the number of parents. Without this, small errors in
    the sampled counts compound over the levels of a deep schema.
    """
    _, low, high, mean = count[:4]
    target = int(round(mean * len(counts))) if target is None else target
    if counts.sum() > 0 and abs(int(counts.sum()) - target) > 0.02 * target:  # far off: rescale first
        counts = np.maximum(allocate(counts, target, rng, np.full(len(counts), high)), low)
    counts = counts.copy()
    for _ in range(64):
        diff = target - int(counts.sum())
        if diff == 0:
            break
        eligible = np.flatnonzero(counts < high) if diff > 0 else np.flatnonzero(counts > low)
        if eligible.size == 0:
            break
        if diff < 0:  # take children from parents in proportion to how many they have
            weights = (counts[eligible] - low).astype(np.float64)
            pick = rng.choice(eligible, size=min(-diff, eligible.size), replace=False, p=weights / weights.sum())
            counts[pick] -= 1
        else:
            weights = (counts[eligible] - low + 1).astype(np.float64)
            pick = rng.choice(eligible, size=min(diff, eligible.size), replace=False, p=weights / weights.sum())
            counts[pick] += 1
    return counts


def _context_frame(parent: pd.DataFrame, context: dict[str, str], index: np.ndarray) -> pd.DataFrame:
    has = index >= 0
    take = np.where(has, index, 0)
    out = {}
    for name, col in context.items():
        if col not in parent.columns or len(parent) == 0:
            out[name] = pd.Series([None] * len(index), dtype=object)
            continue
        values = parent[col].iloc[take].reset_index(drop=True)
        out[name] = values if has.all() else values.astype(object).where(pd.Series(has), None)
    return pd.DataFrame(out, index=range(len(index)))


def _copy_keys(df: pd.DataFrame, parent: pd.DataFrame, fk: ForeignKey, index: np.ndarray) -> None:
    has = index >= 0
    take = np.where(has, index, 0)
    for c, pc in zip(fk.columns, fk.parent_columns, strict=True):
        if len(parent) == 0:
            df[c] = None
            continue
        values = parent[pc].iloc[take].reset_index(drop=True)
        df[c] = (values if has.all() else values.astype(object).where(pd.Series(has), None)).to_numpy()


def _check_condition(model, t: str, condition) -> dict | None:
    if not condition:
        return None
    if model is None:
        raise UserInputError(f"cannot condition table '{t}': it has no modelled columns")
    return model._encode_conditions(condition)  # one-line errors for unknown columns and impossible values


def _movable(df: pd.DataFrame, plan: dict, model) -> dict[str, float]:
    """Steps for composite-key columns that may move to make the key unique."""
    out = {}
    for c in plan["movable"]:
        if c not in df.columns:
            continue
        s = df[c]
        if pd.api.types.is_numeric_dtype(s.dtype):
            out[c] = 1.0
        elif pd.api.types.is_datetime64_any_dtype(s.dtype):
            step = getattr(model.metadata_[c], "datetime_step", None) if model is not None and c in model.metadata_ \
                else None
            out[c] = {"minute": 60.0, "hour": 3600.0, "day": 86400.0}.get(step or "", 1.0)
    return out


def _parse_text_dates(df: pd.DataFrame, columns: list[str], model) -> tuple[pd.DataFrame, dict]:
    """Key columns that hold dates as text, parsed (so they can move by their step); their formats to restore."""
    formats = {}
    if model is None:
        return df, formats
    df = df.copy()
    for c in columns:
        if c in df.columns and c in model.metadata_ and model.metadata_[c].kind == "datetime" \
                and not pd.api.types.is_datetime64_any_dtype(df[c].dtype):
            fmt = model.metadata_[c].datetime_format
            parsed = pd.to_datetime(df[c], format=fmt or "ISO8601", errors="coerce")
            if parsed.notna().sum() == df[c].notna().sum():
                formats[c] = (fmt, parsed.dt.tz)
                df[c] = parsed.dt.tz_localize(None) if parsed.dt.tz is not None else parsed
    return df, formats


def _format_text_dates(df: pd.DataFrame, formats: dict) -> pd.DataFrame:
    for c, (fmt, tz) in formats.items():
        stamps = df[c].dt.tz_localize(tz) if tz is not None else df[c]
        if fmt:
            df[c] = write_dates(stamps, fmt)
        else:
            df[c] = stamps.map(lambda v: v.isoformat() if pd.notna(v) else None).astype(object)
    return df


def _set_foreign_key(child: pd.DataFrame, parent: pd.DataFrame, fk: ForeignKey, idx: np.ndarray,
                     status: np.ndarray, fixed: list[str]) -> None:
    has = idx >= 0
    take = np.where(has, idx, 0)
    unmatched = (status == "orphan") & ~has
    for c, pc in zip(fk.columns, fk.parent_columns, strict=True):
        if c in fixed:
            continue
        values = parent[pc].iloc[take].reset_index(drop=True).astype(object) if len(parent) else \
            pd.Series([None] * len(child), dtype=object)
        values = values.where(pd.Series(has), None)
        if unmatched.any():
            values[unmatched] = _unmatched_values(parent[pc], int(unmatched.sum()))
        child[c] = values.to_numpy()


def _unmatched_values(keys: pd.Series, n: int) -> list:
    """Fresh values that no parent key takes (for the 'unmatched' orphan policy)."""
    numbers = pd.to_numeric(keys, errors="coerce")
    if len(keys) and numbers.notna().all():
        start = int(numbers.max()) + 1
        return list(range(start, start + n))
    return [f"unmatched_{i}" for i in range(1, n + 1)]


def _restore_dtypes(df: pd.DataFrame, dtypes: dict[str, str]) -> pd.DataFrame:
    out = {}
    for c in df.columns:
        s = df[c]
        dtype = dtypes.get(c, "object")
        try:
            if dtype.startswith("int") and s.isna().any():
                s = pd.to_numeric(s, errors="coerce").astype("Int64")
            elif dtype != str(s.dtype):
                s = s.astype(dtype)
        except (TypeError, ValueError):
            pass
        out[c] = s.reset_index(drop=True)
    return pd.DataFrame(out, columns=list(df.columns))
