"""The flagship cascade with per-row context: columns given row by row instead of sampled.

:class:`ContextCascade` is the tabular :class:`~synthera.tabular.cascade.CascadeSynthesizer`
with one change at fit time: the *context* columns (a parent's columns joined
onto its children) come first in the cascade, so every other column is
learned conditioned on them. :meth:`ContextCascade.sample_context` then walks
the cascade with the context columns fixed to the given rows' values (one
synthetic child per context row, vectorised), so a child is drawn from
p(child | its own parent) rather than from the marginal.

It also fits tables too small for the tabular contract (fewer than
``MIN_ROWS`` rows): their trees are single leaves, i.e. independent column
marginals with the usual privacy rules (rare categories merged, rare values binned).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from synthera._columns import category_codes
from synthera.metadata import Metadata, infer_metadata
from synthera.tabular.cascade import CascadeSynthesizer

__all__ = ["ContextCascade", "cascade_from_state", "cascade_state", "fit_cascade"]

_CHUNK = 200_000


class ContextCascade(CascadeSynthesizer):
    """A cascade whose first columns are a context given per row at sampling time (see the module docstring)."""

    def _fit(self, data, encoder, rng):
        first = [c for c in getattr(self, "first_", []) if c in data]
        self._deferred = True
        try:
            super()._fit(data, encoder, rng)
        finally:
            self._deferred = False
        codes = self._reorder(data, encoder, first)
        self.trees_ = super()._fit_trees(codes, rng)

    def _reorder(self, data: dict, encoder, first: list[str]) -> np.ndarray:
        """Put the ``first`` (given) columns first; return the codes in that order, one column each."""
        order = first + [c for c in self.columns_ if c not in first]
        n_rows = len(next(iter(data.values()))) if data else 0
        codes = np.zeros((n_rows, len(order)), dtype=np.int64)
        for j, name in enumerate(order):
            disc = self.discretizers_.get(name)
            codes[:, j] = disc.transform(data[name]) if disc is not None else data[name]
        self.n_codes_ = np.asarray([self._n_codes(name, encoder) for name in order], dtype=np.int64)
        self.columns_ = order
        return codes

    def _fit_trees(self, codes, rng):
        return [] if getattr(self, "_deferred", False) else super()._fit_trees(codes, rng)

    def _n_codes(self, name: str, encoder) -> int:
        disc = self.discretizers_.get(name)
        return disc.n_codes if disc is not None else encoder.info(name).n_codes

    def sample_context(self, context: pd.DataFrame, rng: np.random.Generator,
                       fixed: dict | None = None) -> pd.DataFrame:
        """One synthetic row per row of ``context``, whose columns are taken as given.

        ``fixed`` maps column names to one value every row must carry
        (a condition; set, not resampled, because rows have different contexts).
        """
        self._check_fitted()
        n = len(context)
        if n == 0:
            return self.sample(0)
        given = {name: self._context_codes(name, context[name]) for name in context.columns if name in self.columns_}
        for name, value in (fixed or {}).items():
            given[name] = np.full(n, self._condition_code(name, value))
        parts = []
        for start in range(0, n, _CHUNK):
            stop = min(n, start + _CHUNK)
            parts.append(self._walk({k: v[start:stop] for k, v in given.items()}, stop - start, rng))
        arrays = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else {}
        return self.encoder_.decode(arrays, n, rng)

    def _walk(self, given: dict[str, np.ndarray], m: int, rng) -> dict[str, np.ndarray]:
        cols = np.zeros((len(self.columns_), m), dtype=np.float32)
        stratified = bool(self.stratified)
        for j, tree in enumerate(self.trees_):
            name = self.columns_[j]
            cols[j] = given[name] if name in given else tree.sample(cols, rng.random(m),
                                                                   rng.random(m) if stratified else None)
        return self._decode_codes(cols, rng)

    def _context_codes(self, name: str, series: pd.Series) -> np.ndarray:
        """Codes of given values, robust to what the parent's own model may produce (merged categories, nulls)."""
        col = self.metadata_[name]
        disc = self.discretizers_.get(name)
        info = self.encoder_.info(name)
        if disc is not None:
            try:
                values = self.encoder_.encode_column(name, series)
            except Exception:  # noqa: BLE001 - unparseable context values count as missing
                values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64)
            nan = np.isnan(values)
            if nan.any() and disc.null_code is None:
                values = np.where(nan, disc.table_[len(disc.table_) // 2, 0], values)
            return disc.transform(values)
        levels = [col.false_value, col.true_value] if col.kind == "boolean" else list(col.categories or [])
        codes = _repeated_codes(series, levels)
        unknown = codes == -1
        if unknown.any():
            null = series.isna().to_numpy()
            other = len(levels) if col.kind == "categorical" and col.rare_categories else None
            fallback = len(levels) + int(other is not None) if info.nullable else (other if other is not None else 0)
            codes[unknown & null] = fallback if info.nullable else (other if other is not None else 0)
            codes[unknown & ~null] = other if other is not None else fallback
        return codes


def _repeated_codes(series: pd.Series, levels: list) -> np.ndarray:
    """:func:`category_codes` of a context column, looked up once per distinct value (children repeat parents)."""
    if pd.api.types.infer_dtype(series, skipna=True) in ("mixed", "mixed-integer"):
        return category_codes(series, levels)  # True and 1 would hash alike: look every value up
    inverse, uniques = pd.factorize(series, use_na_sentinel=True)
    codes = np.r_[category_codes(pd.Series(uniques, dtype=object), levels), -1]
    return codes[inverse]  # the sentinel -1 picks the last entry: a null is -1 as category_codes gives


def fit_cascade(df: pd.DataFrame, *, first: list[str], hints: Metadata | None, params: dict) -> ContextCascade:
    """A :class:`ContextCascade` on ``df`` with ``first`` as context; tiny tables get single-leaf trees."""
    from synthera.tabular.base import MIN_ROWS

    model = ContextCascade(**params)
    model.first_ = list(first)
    if len(df) >= MIN_ROWS:
        return model.fit(df, metadata=hints)
    # too few rows for the tabular contract: independent marginals (every tree a single leaf)
    from synthera.tabular.transforms import TableEncoder

    model.min_samples_leaf = len(df) + 1
    md = infer_metadata(df, hints=hints)
    encoder = TableEncoder().fit(df, md)
    model.metadata_, model.encoder_, model._progress = md, encoder, False
    model._fit(encoder.encode(df), encoder, np.random.default_rng(model.seed))
    model.n_rows_ = len(df)
    return model


def cascade_state(model: ContextCascade) -> tuple[dict, dict[str, np.ndarray]]:
    """JSON-able description and arrays of a fitted model (what a model folder stores)."""
    info, arrays = model._get_state()
    return ({"params": model.get_params(), "n_rows": model.n_rows_, "metadata": model.metadata_.to_dict(),
             "encoder": model.encoder_.state(), "model": info}, arrays)


def cascade_from_state(state: dict, arrays: dict[str, np.ndarray]) -> ContextCascade:
    from synthera.tabular.transforms import TableEncoder

    model = ContextCascade(**state["params"])
    model.metadata_ = Metadata.from_dict(state["metadata"])
    model.encoder_ = TableEncoder.from_state(model.metadata_, state["encoder"])
    model.n_rows_ = int(state["n_rows"])
    model._progress = False
    model._set_state(state["model"], arrays)
    return model
