"""Bias mitigation at sampling time: balanced groups and demographic parity, by conditional sampling.

A fitted synthesizer has learned the joint distribution of the table. To
change *who* is in the synthetic table without distorting *what they look
like*, this module decides how many rows each cell of the grouping columns
should get and then asks the model for exactly that many rows **conditioned
on the cell** (``sample(k, conditions={...})``); every other column is still
drawn from the learned distribution given the cell. No row is deleted or
duplicated after the fact.

The cell shares come from the model itself: a pilot sample gives the learned
joint ``q`` of the grouping columns (sensitive columns, target, balanced
columns), and iterative proportional fitting (Deming and Stephan, 1940) finds
the distribution closest to ``q`` in Kullback-Leibler divergence that meets
the requested margins:

``balance=[B]``
    every group of ``B`` gets the same share (with ``intersectional``: every
    observed combination of the balanced columns does);
``parity=T, sensitive=[S, ...]``
    ``P(T | S) = P(T)`` for each sensitive column: every group has the
    model's overall rate of each target value (demographic parity *in the
    data*); with ``intersectional`` it holds for each combination of the
    sensitive columns (``sex & race``), which is stronger.

Parity can be reached two ways, both exact in the data (Kamiran and Calders,
2012, describe their discrete forms as *reweighing* and *massaging*):

*resampling*
    rows are drawn per (group, target) cell, so each group's rows *given the
    target* stay as learned; a group whose rate rises gets more rows that look
    like its positive rows. A model trained on such data still reads the
    group from its proxies (on Adult, sex from relationship and marital
    status) and keeps about 60% of its disparity;
*relabelling*
    rows are drawn per group, so each group's *features* stay exactly as
    learned, and the target is re-drawn from the model's own conditional
    ``P(T | row)`` with its odds shifted per group until every group has the
    common rate. ``P(T | row)`` is estimated by a LightGBM classifier fitted
    on the pilot sample (synthetic rows: no extra privacy cost). This removes
    nearly all downstream disparity but moves the target furthest from the
    features.

``relabel`` is the share of rows made the second way (both parts have the
same target rate in every group, so their union does too). The default 0.3
was chosen on Adult (``benchmarks/fairness.py``): it halves the demographic
parity difference of a model trained on the data at an AUC cost below 0.02.
Use 0 for pure resampling, 1 for pure relabelling.

A group the model never produces with some target value, or margins that
contradict each other, are errors that say what to do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
import pandas as pd

from synthera.errors import UserInputError

__all__ = [
    "DEFAULT_RELABEL", "PILOT_ROWS", "MitigationOptions", "MitigationPlan", "mitigated_sample", "plan_mitigation",
]

PILOT_ROWS = 50_000
DEFAULT_RELABEL = 0.3
_MAX_CELLS = 5_000
_IPF_ITERATIONS = 2_000
_IPF_TOLERANCE = 1e-10


@dataclass
class MitigationPlan:
    """What :func:`mitigated_sample` draws: rows per cell, and the shares before and after.

    ``cells`` has one row per cell of the grouping ``columns`` with the
    model's share (``learned``), the fitted share (``planned``) and the rows
    drawn by resampling (``rows``). ``relabel_cells`` (parity only) gives the
    rows drawn per group whose target is then re-drawn. ``summary()`` turns
    both into per-group numbers.
    """

    columns: list[str]
    cells: pd.DataFrame
    balance: list[str]
    parity: str | None
    sensitive: list[str]
    intersectional: bool
    relabel: float = 0.0
    relabel_cells: pd.DataFrame | None = None
    conditions: dict[str, Any] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        extra = 0 if self.relabel_cells is None else int(self.relabel_cells["rows"].sum())
        return int(self.cells["rows"].sum()) + extra

    def summary(self, rows: pd.DataFrame | None = None) -> dict:
        """Group shares (learned against planned) and, with parity, target rates by group.

        With ``rows`` (the frame :func:`mitigated_sample` returned, or what was
        written of it), ``"measured"`` adds the same numbers counted on those
        rows: ``group_shares`` (group → share, largest first) and, with parity,
        ``target_rates`` (group → target value → rate) for each sensitive
        grouping.
        """
        out: dict = {"rows": self.rows, "resampled_rows": int(self.cells["rows"].sum()),
                     "relabelled_rows": self.rows - int(self.cells["rows"].sum()), "cells": len(self.cells)}
        shares_of = self.groupings()
        if shares_of:
            out["group_shares"] = {}
            for cols in shares_of:
                learned = _shares(self.cells, self.cells["learned"].to_numpy(), cols)
                planned = _shares(self.cells, self.cells["planned"].to_numpy(), cols)
                out["group_shares"][" & ".join(cols)] = {
                    _label(g): {"learned": float(learned[g]), "planned": float(planned[g])} for g in learned.index
                }
        if self.parity is not None:
            out["target_rates"] = {}
            for cols in _group_sets(self.sensitive, self.intersectional):
                entry = {}
                for source in ("learned", "planned"):
                    table = self.cells.pivot_table(index=cols, columns=self.parity, values=source, aggfunc="sum",
                                                   observed=True, fill_value=0.0)
                    rates = table.div(table.sum(axis=1), axis=0)
                    entry[source] = {_label(g): {str(t): float(rates.loc[g, t]) for t in rates.columns}
                                     for g in rates.index}
                out["target_rates"][" & ".join(cols)] = entry
        if rows is not None:
            out["measured"] = self._measured(rows)
        return out

    def groupings(self) -> list[list[str]]:
        """The column sets whose groups the plan constrains: balanced ones first, then sensitive ones (no repeats)."""
        sets = [*_group_sets(self.balance, self.intersectional), *_group_sets(self.sensitive, self.intersectional)]
        return [list(cols) for cols in dict.fromkeys(map(tuple, sets))]

    def _measured(self, rows: pd.DataFrame) -> dict:
        """Group shares and (with parity) target rates counted on ``rows``."""
        missing = [c for c in self.columns if c not in rows.columns]
        if missing:
            raise UserInputError(f"rows lack the mitigated column(s) {', '.join(missing)}; "
                                 "pass the frame mitigated_sample returned")
        out: dict = {"rows": len(rows), "group_shares": {}}
        if self.parity is not None:
            target = rows[self.parity].astype(str)
            out["target_shares"] = {str(t): float(v) for t, v in target.value_counts(normalize=True).items()}
            out["target_rates"] = {}
        for cols in self.groupings():
            name, groups = " & ".join(cols), rows[cols].astype(str).agg(" & ".join, axis=1)
            out["group_shares"][name] = {str(g): float(v) for g, v in groups.value_counts(normalize=True).items()}
            if self.parity is not None and set(cols) <= set(self.sensitive):
                rates = pd.crosstab(groups.to_numpy(), target.to_numpy(), normalize="index")
                out["target_rates"][name] = {str(g): {str(t): float(rates.loc[g, t]) for t in rates.columns}
                                             for g in rates.index}
        return out


def _group_sets(cols: Sequence[str], intersectional: bool) -> list[list[str]]:
    if not cols:
        return []
    return [list(cols)] if intersectional and len(cols) > 1 else [[c] for c in cols]


def _label(group) -> str:
    return " & ".join(map(str, group)) if isinstance(group, tuple) else str(group)


@dataclass(frozen=True)
class MitigationOptions:
    """What to mitigate and how: the options :func:`plan_mitigation` and :func:`mitigated_sample` share.

    Parameters
    ----------
    balance
        Columns whose groups get equal shares.
    parity
        Target column whose distribution is made equal across the groups of ``sensitive``.
    sensitive
        Sensitive columns for ``parity``.
    intersectional
        Apply the constraints to combinations of the columns instead of each column alone.
    relabel
        Share of rows (0 to 1) whose target is re-drawn given their features; parity only
        (default :data:`DEFAULT_RELABEL`).
    conditions
        Fixed ``{column: value}`` every row must carry (as ``sample(conditions=...)``).
    seed
        Seeds the pilot sample (and, in :func:`mitigated_sample`, the rows); the same seed gives the same result.
    pilot_rows
        Size of the pilot sample the learned shares are read from.
    """

    balance: Sequence[str] = ()
    parity: str | None = None
    sensitive: Sequence[str] = ()
    intersectional: bool = False
    relabel: float | None = None
    conditions: Mapping[str, Any] | None = None
    seed: int | None = None
    pilot_rows: int = PILOT_ROWS

    def with_overrides(self, **overrides: Any) -> MitigationOptions:
        """A copy with ``overrides`` set (the keyword form of the functions); unknown names are a TypeError."""
        unknown = sorted(set(overrides) - {f.name for f in fields(self)})
        if unknown:
            raise TypeError(f"unknown mitigation option(s) {', '.join(unknown)}; see MitigationOptions")
        return replace(self, **overrides)


def plan_mitigation(model, n: int, options: MitigationOptions | None = None, **overrides: Any) -> MitigationPlan:
    """Decide how many of ``n`` rows each cell of the grouping columns gets (see the module docstring).

    Parameters
    ----------
    model
        A fitted synthesizer (any registered one).
    n
        Rows to generate in total.
    options
        What to mitigate (:class:`MitigationOptions`).
    **overrides
        Fields of :class:`MitigationOptions` given as keywords (``balance=["sex"]``); they win over ``options``.
    """
    opts = (options or MitigationOptions()).with_overrides(**overrides)
    plan, _ = _plan(model, n, opts, opts.seed)
    return plan


def _plan(model, n, opts: MitigationOptions, seed) -> tuple[MitigationPlan, pd.DataFrame]:
    opts = replace(opts, balance=list(dict.fromkeys(opts.balance)), sensitive=list(dict.fromkeys(opts.sensitive)),
                   conditions=dict(opts.conditions or {}))
    balance, parity, sensitive, intersectional = opts.balance, opts.parity, opts.sensitive, opts.intersectional
    relabel = _check_request(model, n, opts)
    columns = list(dict.fromkeys([*balance, *sensitive, *([parity] if parity else [])]))
    pilot = model.sample(int(opts.pilot_rows), seed=seed, conditions=opts.conditions or None)
    for col in columns:
        if pilot[col].isna().any():
            raise UserInputError(
                f"column '{col}' has missing values, and a group must be a value to condition on; "
                f"fill them (e.g. with 'unknown') before fitting, or leave '{col}' out of the mitigation"
            )
    n_relabel = round(relabel * n) if parity is not None else 0
    cells, learned = _cells(pilot, columns)
    margins = _margins(cells, learned, balance, parity, sensitive, intersectional)
    planned = _ipf(cells, learned, margins)
    cells = cells.assign(learned=learned, planned=planned, rows=_allocate(planned, n - n_relabel))
    relabel_cells = None
    if n_relabel:
        groups = [c for c in columns if c != parity]
        gcells, glearned = _cells(pilot, groups)
        gplanned = _ipf(gcells, glearned, _margins(gcells, glearned, balance, None, [], intersectional))
        relabel_cells = gcells.assign(learned=glearned, planned=gplanned, rows=_allocate(gplanned, n_relabel))
    plan = MitigationPlan(columns, cells, balance, parity, sensitive, intersectional, relabel, relabel_cells,
                          opts.conditions)
    return plan, pilot


def mitigated_sample(
    model, n: int, options: MitigationOptions | None = None, *, progress: bool = False, **overrides: Any,
) -> tuple[pd.DataFrame, MitigationPlan]:
    """``n`` rows with balanced groups and/or demographic parity, and the plan that produced them.

    Every row comes from ``model.sample(k, conditions=cell)``, so the rest of
    each row is drawn from the learned distribution given its group. Rows are
    shuffled; the same seed gives the same rows. ``options`` and ``overrides``
    as in :func:`plan_mitigation`; ``progress`` shows a bar per group sampled.

    Examples
    --------
    >>> from synthera import datasets
    >>> from synthera.tabular import get_synthesizer
    >>> model = get_synthesizer("cascade")().fit(datasets.load("adult")[0])   # doctest: +SKIP
    >>> rows, plan = mitigated_sample(model, 10_000, parity="income", sensitive=["sex"], seed=0)   # doctest: +SKIP
    >>> rows.groupby("sex")["income"].value_counts(normalize=True)   # doctest: +SKIP
    """
    from synthera._progress import progress_bar

    opts = (options or MitigationOptions()).with_overrides(**overrides)
    pilot_seq, cells_seq, relabel_seq, shuffle_seq = np.random.SeedSequence(opts.seed).spawn(4)
    plan, pilot = _plan(model, n, opts, _int_seed(pilot_seq))
    jobs = [(plan.columns, row) for _, row in plan.cells[plan.cells["rows"] > 0].iterrows()]
    if plan.relabel_cells is not None:
        groups = [c for c in plan.columns if c != plan.parity]
        jobs += [(groups, row) for _, row in plan.relabel_cells[plan.relabel_cells["rows"] > 0].iterrows()]
    parts = []
    with progress_bar(len(jobs), "Sampling groups", enabled=progress) as advance:
        for (cols, cell), cell_seq in zip(jobs, cells_seq.spawn(len(jobs)), strict=True):
            wanted = {**plan.conditions, **{c: _python(cell[c]) for c in cols}}
            parts.append(model.sample(int(cell["rows"]), seed=_int_seed(cell_seq), conditions=wanted))
            advance(1)
    n_resampled = int(plan.cells["rows"].sum())
    frame = pd.concat(parts, ignore_index=True)
    if plan.relabel_cells is not None:
        frame = _relabel(model, frame, n_resampled, pilot, plan, np.random.default_rng(_int_seed(relabel_seq)))
    order = np.random.default_rng(_int_seed(shuffle_seq)).permutation(len(frame))
    return frame.iloc[order].reset_index(drop=True), plan


def _relabel(model, frame: pd.DataFrame, start: int, pilot: pd.DataFrame, plan: MitigationPlan,
             rng: np.random.Generator) -> pd.DataFrame:
    """Re-draw the target of rows ``start:`` from the model's conditional, odds shifted per group to parity."""
    from synthera.bias._features import MODELLED, feature_frame
    from synthera.evaluate.models import TASK_TREES, gradient_boosting

    md, target = model.metadata_, plan.parity
    features = [c for c in md.names if md[c].kind in MODELLED and c != target and c not in plan.conditions]
    classes = sorted(pilot[target].unique(), key=str)
    y = pilot[target].map({c: k for k, c in enumerate(classes)}).to_numpy()
    clf = gradient_boosting(len(pilot), int(rng.integers(2**31)), n_estimators=TASK_TREES)
    clf.fit(feature_frame(pilot, md, features), y)
    rows = frame.iloc[start:]
    proba = np.zeros((len(rows), len(classes)))
    proba[:, clf.classes_] = clf.predict_proba(feature_frame(rows, md, features))
    proba = np.clip(proba, 1e-6, None)
    wanted = pilot[target].value_counts(normalize=True).reindex(classes).to_numpy()
    groupings = [pd.factorize(pd.MultiIndex.from_frame(rows[cols]))[0] for cols in _group_sets(plan.sensitive,
                                                                                                plan.intersectional)]
    adjusted = _shift_to_rates(proba, groupings, wanted)
    draws = (adjusted.cumsum(axis=1) < rng.random(len(rows))[:, None]).sum(axis=1)
    values = np.asarray(classes, dtype=object)[np.minimum(draws, len(classes) - 1)]
    frame = frame.copy()
    frame.iloc[start:, frame.columns.get_loc(target)] = pd.Series(values, index=rows.index).astype(frame[target].dtype)
    return frame


def _shift_to_rates(proba: np.ndarray, groupings: list[np.ndarray], wanted: np.ndarray) -> np.ndarray:
    """Per-group class multipliers on ``proba`` so that each group's mean probability is ``wanted``.

    For one grouping this is the prior-shift adjustment of Saerens et al.
    (2002) run per group; with several groupings (sensitive columns taken one
    at a time) the multipliers of each are refitted in turn until all hold.
    """
    n_classes = proba.shape[1]
    logk = [np.zeros((int(g.max()) + 1, n_classes)) for g in groupings]

    def current() -> np.ndarray:
        scaled = proba * np.exp(sum(k[g] for k, g in zip(logk, groupings, strict=True)))
        return scaled / scaled.sum(axis=1, keepdims=True)

    def rates(p: np.ndarray, g: np.ndarray) -> np.ndarray:
        sums = np.stack([np.bincount(g, weights=p[:, c]) for c in range(n_classes)], axis=1)
        return sums / sums.sum(axis=1, keepdims=True)

    p = current()
    for _ in range(_IPF_ITERATIONS):
        for k, g in zip(logk, groupings, strict=True):
            k += np.log(wanted)[None, :] - np.log(np.clip(rates(current(), g), 1e-300, None))
        p = current()
        if max(float(np.abs(rates(p, g) - wanted).max()) for g in groupings) < 1e-9:
            break
    return p


# --------------------------------------------------------------------------- checks


def _check_request(model, n, opts: MitigationOptions) -> float:
    """Refuse impossible requests with a message that says what to do; return the relabel share."""
    balance, parity, sensitive, relabel = opts.balance, opts.parity, opts.sensitive, opts.relabel
    intersectional, pilot_rows = opts.intersectional, opts.pilot_rows
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise UserInputError(f"the number of rows must be a whole number >= 1; got {n!r}")
    if isinstance(pilot_rows, bool) or not isinstance(pilot_rows, (int, np.integer)) or pilot_rows < 1_000:
        raise UserInputError(f"pilot_rows must be a whole number >= 1000; got {pilot_rows!r}")
    if relabel is not None and parity is None:
        raise UserInputError("relabel applies to parity only; pass parity TARGET or leave relabel out")
    relabel = DEFAULT_RELABEL if relabel is None else relabel
    if isinstance(relabel, bool) or not isinstance(relabel, (int, float, np.number)) or not 0 <= relabel <= 1:
        raise UserInputError(f"relabel must be a share between 0 and 1; got {relabel!r}")
    if intersectional and len(balance) < 2 and len(sensitive) < 2:
        raise UserInputError("intersectional combines two or more columns; give several sensitive or balance columns")
    if not balance and parity is None:
        raise UserInputError("nothing to mitigate: give a column to balance (pass balance) "
                             "or a target for parity (pass parity)")
    if parity is not None and not sensitive:
        raise UserInputError(f"parity {parity} needs the groups to equalise: add sensitive COLUMN")
    if parity is None and sensitive:
        raise UserInputError("sensitive is used with parity TARGET; add it, "
                             "or use balance to equalise group sizes")
    if parity is not None and parity in sensitive:
        raise UserInputError(f"'{parity}' cannot be both the parity target and a sensitive column; pick one")
    md = model.metadata_
    for col in [*balance, *sensitive, *([parity] if parity else [])]:
        if col not in md:
            raise UserInputError(f"unknown column '{col}'; the model's columns are: {', '.join(md.names)}")
        kind = md[col].kind
        if kind not in ("categorical", "boolean"):
            role = "parity target" if col == parity else "group column"
            raise UserInputError(
                f"'{col}' is {kind}, but a {role} needs a few discrete values; "
                f"bin it into a categorical column (e.g. age bands) before fitting"
            )
        if col in opts.conditions:
            raise UserInputError(f"'{col}' is fixed by a condition and cannot also be balanced or equalised; "
                                 "pass conditions without it, or leave it out of the groups")
    return float(relabel)


# --------------------------------------------------------------------------- shares


def _margins(cells: pd.DataFrame, learned: np.ndarray, balance, parity, sensitive, intersectional):
    """The constraints as ``(columns, shares)`` pairs, ``shares`` indexed by group tuples.

    Balance margins come first. The group weights of a parity margin are the
    sensitive groups' shares once the balance margins hold, so the two kinds
    never contradict each other.
    """
    out = []
    for cols in _group_sets(balance, intersectional):
        groups = _shares(cells, learned, cols)
        out.append((cols, pd.Series(1.0 / len(groups), index=groups.index)))
    if parity is not None:
        balanced = _ipf(cells, learned, out) if out else learned
        target = _shares(cells, learned, [parity])
        target = target / target.sum()
        for cols in _group_sets(sensitive, intersectional):
            weight = _shares(cells, balanced, cols)
            weight = weight / weight.sum()
            index = pd.MultiIndex.from_tuples([(*g, *t) for g in weight.index for t in target.index])
            values = [weight[g] * target[t] for g in weight.index for t in target.index]
            out.append(([*cols, parity], pd.Series(values, index=index)))
    return out


def _cells(pilot: pd.DataFrame, columns: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """The observed combinations of ``columns`` in the pilot sample and their shares."""
    cells = pilot.groupby(columns, observed=True, sort=True).size().rename("count").reset_index()
    if len(cells) > _MAX_CELLS:
        raise UserInputError(
            f"the mitigation columns form {len(cells):,} groups; at most {_MAX_CELLS:,} are supported: "
            "merge rare values or use fewer columns"
        )
    return cells.drop(columns="count"), cells["count"].to_numpy(dtype=np.float64) / len(pilot)


def _shares(cells: pd.DataFrame, p: np.ndarray, cols: list[str]) -> pd.Series:
    """Total share of each group of ``cols``, indexed by group tuples."""
    keys = pd.MultiIndex.from_frame(cells[cols])
    codes, uniques = pd.factorize(keys)
    return pd.Series(np.bincount(codes, weights=p, minlength=len(uniques)),
                     index=pd.MultiIndex.from_tuples(list(uniques), names=cols))


def _ipf(cells: pd.DataFrame, start: np.ndarray, margins) -> np.ndarray:
    """Iterative proportional fitting of ``start`` to every margin; cells the model never produced stay at 0."""
    if not margins:
        return start / start.sum()
    fitted = []
    for cols, target in margins:
        where = target.index.get_indexer(pd.MultiIndex.from_frame(cells[cols]))
        produced = np.bincount(where[where >= 0], weights=start[where >= 0], minlength=len(target))
        missing = np.flatnonzero((target.to_numpy() > 0) & (produced <= 0))
        if missing.size:
            group = " & ".join(map(str, target.index[missing[0]]))
            raise UserInputError(
                f"the model never generates {' & '.join(cols)} = {group}, so that group cannot get its share; "
                "merge rare groups or use fewer columns"
            )
        fitted.append((where, target.to_numpy(dtype=np.float64)))
    p = start.copy()
    worst = np.inf
    for _ in range(_IPF_ITERATIONS):
        for where, wanted in fitted:
            have = np.bincount(where, weights=p, minlength=len(wanted))
            p = p * np.divide(wanted, have, out=np.zeros_like(have), where=have > 0)[where]
        worst = max(float(np.abs(np.bincount(w, weights=p, minlength=len(t)) - t).max()) for w, t in fitted)
        if worst < _IPF_TOLERANCE:
            return p / p.sum()
    raise UserInputError(
        "the requested balance and parity cannot all hold at once for this model "
        f"(still {worst:.3f} off after {_IPF_ITERATIONS} rounds); use intersectional or fewer columns"
    )


def _allocate(p: np.ndarray, n: int) -> np.ndarray:
    """Whole row counts summing to ``n``, proportional to ``p`` (largest remainders)."""
    exact = p * n
    rows = np.floor(exact).astype(np.int64)
    short = n - int(rows.sum())
    if short > 0:
        rows[np.argsort(-(exact - rows), kind="stable")[:short]] += 1
    return rows


# --------------------------------------------------------------------------- helpers


def _int_seed(seq: np.random.SeedSequence) -> int:
    return int(seq.generate_state(1, dtype=np.uint32)[0])


def _python(value):
    """A pandas/numpy scalar as the plain Python value ``sample(conditions=...)`` takes."""
    return value.item() if isinstance(value, np.generic) else value
