"""The event cascade and the step-by-step walk that generates every history at once.

:class:`StepCascade` is the relational :class:`~synthera.relational._cascade.ContextCascade`
(given columns first, every other column learned conditioned on them) whose
given columns get no fitted tree: they are always supplied at sampling time
(entity context, position, events left, lag values). :func:`walk` then draws
position ``p`` of every history still running in one vectorised pass per
position, feeding each drawn value back as the next event's lag 1 and lag 2,
so the number of passes is the longest history, never the number of events.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from synthera.relational._cascade import ContextCascade
from synthera.sequences._prepare import FIRST, LAGS, LEFT, LENGTH, POS, REL, lag_name
from synthera.tabular.cascade import CascadeSynthesizer, _Scorer, _Tree

_OTHER, _NULL = object(), object()


class StepCascade(ContextCascade):
    """A context cascade with no trees for its given columns (see the module docstring)."""

    def _fit(self, data, encoder, rng):
        first = [c for c in getattr(self, "first_", []) if c in data]
        self._deferred = True
        try:
            CascadeSynthesizer._fit(self, data, encoder, rng)
        finally:
            self._deferred = False
        self._share_lag_bins()
        codes = self._reorder(data, encoder, first)
        self._n_given = len(first)
        self.trees_ = self._fit_trees(codes, rng)

    def _share_lag_bins(self) -> None:
        """Lag columns use their column's bins (plus a null code), so a drawn code is the next event's lag code."""
        from synthera.tabular.transforms import Discretizer

        for name in list(self.discretizers_):
            match = re.match(r"__lag\d+__(.*)$", name)
            source = self.discretizers_.get(match.group(1)) if match else None
            if source is None:
                continue
            info, arrays = source.state()
            shared = Discretizer.from_state(info | {"nullable": True}, arrays)
            self.discretizers_[name] = shared

    def _fit_trees(self, codes, rng):
        from sklearn.tree import DecisionTreeClassifier

        if getattr(self, "_deferred", False):
            return []
        n_rows, width = codes.shape
        features = codes.astype(np.float32)
        scorer = _Scorer(codes, np.asarray([name in self.discretizers_ for name in self.columns_]))
        trees = []
        for j in range(width):
            target = codes[:, j]
            n_classes = np.unique(target).size
            if j < self._n_given or j == 0 or n_classes == 1 or n_classes > round(0.5 * n_rows):
                trees.append(_Tree.constant(target, self.n_codes_[j]))
                continue
            used = scorer.best(j, self.max_features)
            clf = DecisionTreeClassifier(min_samples_leaf=self.leaf_size_, max_depth=self.max_depth,
                                         random_state=int(rng.integers(2**31))).fit(features[:, used], target)
            trees.append(_Tree.from_sklearn(clf.tree_, clf.classes_, self.n_codes_[j], used))
        return trees


def labels(model: ContextCascade, name: str) -> list:
    """The label of every code of a discrete column (``_OTHER`` / ``_NULL`` for the merged and null codes)."""
    col = model.metadata_[name]
    out = [col.false_value, col.true_value] if col.kind == "boolean" else list(col.categories or [])
    if col.kind == "categorical" and col.rare_categories:
        out.append(_OTHER)
    if model.encoder_.info(name).nullable:
        out.append(_NULL)
    return out


def lag_maps(model: ContextCascade, lagged: list[str]) -> dict[str, np.ndarray]:
    """For each discrete lagged column and lag: an array mapping the column's code to the lag column's code."""
    maps = {}
    for name in lagged:
        if name in model.discretizers_:
            continue
        source = labels(model, name)
        for k in LAGS:
            target = labels(model, lag_name(name, k))
            where = {id(v) if v in (_OTHER, _NULL) else v: i for i, v in enumerate(target) if v is not _OTHER
                     and v is not _NULL}
            other = target.index(_OTHER) if _OTHER in target else None
            null = target.index(_NULL) if _NULL in target else 0
            maps[lag_name(name, k)] = np.asarray(
                [null if v is _NULL else where.get(v, other if other is not None else null) for v in source],
                dtype=np.int64)
    return maps


def _codes(model: ContextCascade, name: str, values: np.ndarray) -> np.ndarray:
    disc = model.discretizers_.get(name)
    return disc.transform(values) if disc is not None else values


def walk(model: ContextCascade, context: pd.DataFrame, lengths: np.ndarray, lagged: list[str],
         rng: np.random.Generator) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Every event of every history: encoded values per generated column, each event's entity and position.

    ``context`` holds one row per entity (its given columns); ``lengths`` the
    number of events of each. Work happens on codes: histories are sorted
    longest first, so the histories still running at position ``p`` are a
    prefix, events are laid out position by position, and a lag is a slice
    of the codes drawn one or two positions earlier (lag columns share their
    column's bins). Values are decoded once at the end. Events come out
    grouped by entity, in order.
    """
    cols = model.columns_
    given = set(context.columns) & set(cols)
    targets = [j for j, c in enumerate(cols) if c not in given and c not in (POS, LEFT, REL, LENGTH)
               and not c.startswith("__lag")]
    order = np.argsort(-lengths, kind="stable")
    ordered = lengths[order]
    steps = int(ordered.max()) if ordered.size else 0
    counts = np.searchsorted(-ordered, -np.arange(steps), side="left")  # histories with more than p events
    offsets = np.r_[0, np.cumsum(counts)]
    pos = np.repeat(np.arange(steps), counts)
    span = ordered[np.arange(offsets[-1]) - offsets[pos]].astype(np.float64)
    per_event = {cols.index(name): _codes(model, name, values).astype(np.float32) for name, values in
                 ((POS, pos.astype(np.float64)), (LEFT, span - 1 - pos), (REL, pos / np.maximum(span - 1, 1)),
                  (LENGTH, span)) if name in cols}
    fixed = {cols.index(c): model._context_codes(c, context[c])[order].astype(np.float32) for c in given}
    firsts = {j: _codes(model, cols[j], _first_values(model, cols[j], context[FIRST + cols[j]]))[order]
              for j in targets if FIRST + cols[j] in context.columns}
    lags = _lag_specs(model, lagged)
    drawn = np.zeros((len(cols), offsets[-1]), dtype=np.int64)
    for p in range(steps):
        k, a = int(counts[p]), int(offsets[p])
        mat = np.empty((len(cols), k), dtype=np.float32)
        for j, codes in fixed.items():
            mat[j] = codes[:k]
        for j, codes in per_event.items():
            mat[j] = codes[a:a + k]
        for j, x, lag, mapping, null in lags:
            if p < lag:
                mat[j] = null
            else:
                prev = drawn[x, offsets[p - lag]:offsets[p - lag] + k]
                mat[j] = prev if mapping is None else mapping[prev]
        for j in targets:
            mat[j] = model.trees_[j].sample(mat, rng.random(k)) if not (p == 0 and j in firsts) else firsts[j][:k]
            drawn[j, a:a + k] = mat[j]
    entity = order[np.arange(offsets[-1]) - offsets[pos]]
    back = np.lexsort((pos, entity))
    out = {}
    for j in targets:
        disc = model.discretizers_.get(cols[j])
        codes = drawn[j, back]
        out[cols[j]] = disc.inverse(codes, rng) if disc is not None else codes
    return out, entity[back], pos[back]


def _lag_specs(model: ContextCascade, lagged: list[str]) -> list[tuple]:
    """``(lag column index, column index, lag, code map or None, null code)`` for every lag column."""
    cols = model.columns_
    maps = lag_maps(model, lagged)
    specs = []
    for x in lagged:
        for lag in LAGS:
            name = lag_name(x, lag)
            if name not in cols:
                continue
            disc = model.discretizers_.get(name)
            if disc is not None:
                null = disc.null_code if disc.null_code is not None else 0
                specs.append((cols.index(name), cols.index(x), lag, None, null))
            else:
                target = labels(model, name)
                null = target.index(_NULL) if _NULL in target else 0
                specs.append((cols.index(name), cols.index(x), lag, maps[name], null))
    return specs


def _first_values(model, name: str, series: pd.Series) -> np.ndarray:
    """Encoded values of the entity-level first values of ``name`` (codes for categories, numbers otherwise)."""
    if name not in model.discretizers_:
        return model._context_codes(name, series)
    try:
        values = model.encoder_.encode_column(name, series)
    except Exception:  # noqa: BLE001 - values the event encoder cannot read count as missing
        values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64)
    disc = model.discretizers_[name]
    if disc.null_code is None:
        values = np.where(np.isnan(values), np.nanmedian(values) if np.isfinite(values).any() else 0.0, values)
    return values


