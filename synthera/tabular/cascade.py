"""The flagship: a cascade of decision trees over discretised columns.

Every modelled column becomes integer codes (categories as they are; numbers
and dates as point masses plus quantile bins, see
:class:`~synthera.tabular.transforms.Discretizer`). Columns are ordered from
the fewest codes to the most, and the joint distribution is factorised
column by column in that order,

    p(x_1, ..., x_d) = p(x_1) p(x_2 | x_1) ... p(x_d | x_1..x_{d-1}),

and each conditional is a classification tree whose leaves hold the class
frequencies of the training rows that reach them. Sampling walks the cascade:
for each column, every partial row falls to a leaf and draws its code from
that leaf's frequencies; codes are then decoded to values inside their bin.

Why trees: they capture interactions of any order without tuning, fit in
seconds on a laptop CPU, and sample by table look-up. ``min_samples_leaf``
keeps every leaf a mixture of many people, which is what stops the model from
replaying individual rows.

With ``n_trees`` above one, each column gets that many trees whose split
thresholds are drawn at random, as in Extra-Trees, and its conditional
distribution is the mean of their leaves (:class:`_Forest`). One tree's
leaves cut the earlier columns at fixed edges, and its distribution jumps
there; trees cut in different places, and their mean follows the data more
smoothly, while each leaf still mixes as many people. On Adult (ten seeds,
XGBoost trained on the sample): TSTR AUC 0.9163 -> 0.9190 with five trees,
DCR share 0.516 either way; three trees 0.9181, eight 0.9186. Three
bootstrapped trees of best splits reach 0.9172 at a DCR share of 0.519, and
nothing once their leaves hold as many distinct rows (0.9158): they gain
from smaller leaves, not from averaging. The price is in associations
between categories: a random threshold on a category's code cuts its
categories in arbitrary groups, and the mean of five such trees blurs
marital status x relationship (pair trend 0.987 -> 0.956 at seed 0; all
pairs 0.9852 -> 0.9838). Keeping those trees exact (random trees for numbers
only: 0.9171 over seeds 0-3, pair trends 0.9847 at seed 0) or jittering the
numbers' codes for trees of best splits (0.9175 over seeds 0-4, trends
0.9855) keeps the trends, and so do random trees that split a category's
codes one at a time (0.9170 over seeds 0-2, trends 0.9862 at seed 0) or in
the order of correspondence analysis' first axis (0.9175, 0.9851); but most
of the gain goes with the blur. So one tree stays the default; ``n_trees=5`` is for
samples meant to train models. Sampling draws each row's tree at random, so
a draw costs one tree's walk.

A column that an earlier column fixes in every training row (Adult's
education_num is education as a number) is set from it in every sampled row
(:func:`_determined`), so no row contradicts the table's own definitions.

Conditional sampling (``conditions={"income": ">50K"}``) is exact for the
model: at a conditioned column every partial row is weighted by the
probability its leaf gives to the required code, and the rows are resampled
by those weights (sequential importance resampling), so rare values need no
rejection loop.

Small groups: columns declared ``sensitive`` come first in the order, and
every later tree is grown on all rows, then each of its leaves is split by
the small groups of those columns (at least :data:`MIN_GROUP_ROWS` rows, under
:data:`LARGE_GROUP_SHARE` of them). A group's leaf holds the group's own
frequencies in that leaf, shrunk toward the pooled leaf's by ``k`` pseudo-rows
(a hierarchical prior), with ``k`` estimated per group and column from how far
the group's rows stray from the pooled leaves (:func:`_prior_strength`): a
group that follows the majority borrows its structure (with at most
``min_samples_leaf`` pseudo-rows), and one that departs from it keeps its own
rates and relations instead of the majority's. On Adult this replaced separate subtrees per group
(whose few hundred rows could learn little structure): TSTR AUC 0.9154 ->
0.9181 (seeds 0-5, with the leaf rule below) and the race DP difference of a
model trained on the sample 0.176 -> 0.199 (real 0.198).

Few-valued columns (at most :data:`FEW_CODES` codes: on Adult sex, income,
race, relationship, marital status) are drawn first and their trees split on
few features, so leaves of ``min_samples_leaf`` rows cannot separate small
combinations (race x income x sex); when ``min_samples_leaf`` is not given,
their leaves hold a tenth of the default (at least :data:`MIN_LEAF` rows),
which leaves the DCR share unchanged (0.518 on Adult) where richer columns'
smaller leaves would raise it.

Tight relations between numbers (volume ~ x * y * z, price rising with
weight) would blur if a value were drawn uniformly inside its bin. So a
numerical column that earlier numerical columns predict well (a linear
regression on the columns' normal scores leaves a residual s.d. of at most
:data:`RELATION_MAX_SIGMA`) is *steered* (:class:`_Relation`): each code's
leaf probability is weighted by the regression's chance of that code, and the
value inside the chosen bin comes from the regression's normal truncated to
the bin. Only regression coefficients are stored; values still come from the
bins' own quantiles (rare values stay uniform between edges), and a column
with one value held by most rows (capital_gain's zeros) is left to its tree.
A relation may be shifted by the categories of a few earlier categorical
columns (on diamonds, z given carat sits higher for a Fair cut than for an
Ideal one): one stored shift per category held by at least
:data:`RELATION_MIN_ROWS` rows. On Adult no relation qualifies, and its
samples are unchanged.

Some numbers are all but fixed by others (diamonds: z = depth * (x + y) / 200, carat ~ x * y * z); a
normal-score regression on a few predictors cannot see a ratio, and a tree's bins blur it. Such *tied*
columns (:func:`_tied_columns`: a log-scale fit on other numbers leaves a robust R^2 of at least
:data:`TIED_MIN_R2`) are drawn last, after what determines them, as that fit's value plus a residual drawn
from a tree of its own (:class:`_LogRelation`), so the residual's spread follows the row (y / x is below 1
for most Premium stones, above for Very Good ones). On diamonds (TSTR accuracy 0.741 -> 0.770) z, carat
and y are tied; on Adult nothing is, and its order and samples are unchanged.

On wide tables (more columns than a tenth of the rows) looser relations with
more predictors are kept (:data:`RELATION_WIDE_SIGMA`): a copula-like backbone
where trees of a few leaves cannot see much (pd_speech, 201 rows x 751
columns: TSTR AUC 0.709 -> 0.735, DCR share 0.560 -> 0.545).

Small tables (under 150 rows) get leaves of a fifth of their rows (at least
:data:`SMALL_LEAF`) instead of 30, which on 51 rows would allow no split at all.

On wide tables of at least :data:`BACKBONE_MIN_ROWS` rows the numbers are drawn from one
class-conditional Gaussian on their normal scores instead (:meth:`_RelationFitter._fit_backbone`): means
shifted by the categories of a few few-valued columns (the target is usually one), a Ledoit-Wolf
covariance for the rest, each number drawn from its conditional given the numbers before it and the
categories, into its own quantile bins (at most one per :data:`BACKBONE_BIN_ROWS` rows; rare values never
replayed). A classifier trained on such rows sees both the class shift and the correlations, which trees
of a few leaves blur. pd_speech (201 rows x 751, ``benchmarks/tabular_hard.py`` repeated twice: ten folds,
a seed each): TSTR AUC 0.667 -> 0.820 (TRTR 0.865, copula 0.708), DCR share 0.535 -> 0.547 (+-0.018;
copula 0.557). With the usual bins (one per 4 rows) the DCR share was 0.572 at 0.826; with 8 bins, 0.583
at 0.707; drawing each code from the tree's leaf times the backbone, 0.587 at 0.783. Narrow tables keep
their trees (Pima, 200 rows x 8: 0.764 -> 0.824 with a backbone, but already within 0.04 of TRTR; German
credit's fairness figures were measured on the trees), and so do tables under
:data:`BACKBONE_MIN_ROWS` rows (cytomegalovirus, 51 rows: 0.619 -> 0.579 with a backbone).

The trees are fitted with scikit-learn and stored as plain arrays (split
feature, threshold, children, leaf distributions); sampling and saved models
use only numpy.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from synthera._estimator import OneOf, Whole
from synthera.errors import UserInputError
from synthera.tabular.base import Synthesizer
from synthera.tabular.transforms import Discretizer, discretizers_from_state, discretizers_state

__all__ = ["CascadeSynthesizer"]


def _releasing(fit):
    """``fit`` (a cascade's ``_fit``), dropping the reference to the training values when the outermost call ends.

    A subclass may call the base ``_fit`` and fit its trees afterwards (the relational and sequence cascades
    do), so the values must outlive the base ``_fit`` but not the fit as a whole: the model keeps no reference
    to its training rows.
    """

    @functools.wraps(fit)
    def wrapper(self, *args, **kwargs):
        outer = not self.__dict__.get("_fitting", False)
        self.__dict__["_fitting"] = True
        try:
            return fit(self, *args, **kwargs)
        finally:
            if outer:
                self.__dict__.pop("_fitting", None)
                self.__dict__.pop("_values", None)
                self.__dict__.pop("_log_bounds", None)

    return wrapper


class CascadeSynthesizer(Synthesizer):
    """Sequential tree synthesizer over discretised columns (Synthera's flagship).

    Parameters
    ----------
    max_bins
        Most quantile bins per numerical or datetime column.
    exact_up_to
        Numerical columns with at most this many distinct values keep every
        value as its own code (ages, counts, hours), so they are reproduced
        exactly rather than binned.
    min_samples_leaf
        Fewest training rows in a tree leaf. Larger is smoother and more
        private; smaller is more faithful. ``None`` (default) uses one
        200th of the rows and at least 30 (on tables under 150 rows: a
        fifth of the rows, at least 8; see :func:`default_leaf_size`), so
        every leaf mixes many people: on Adult, 163 rows per leaf, which keeps synthetic rows about
        as far from the training rows as fresh real rows are (DCR share
        0.521, against 0.529 at one 250th) at the same pair statistics
        (0.9861 against 0.9864) and TSTR AUC (0.9191 against 0.9194).
    max_depth
        Deepest tree level (``None``: grow until leaves reach ``min_samples_leaf``).
    max_features
        Most earlier columns each tree may split on: the most informative ones
        (mutual information on a row sample). Bounds the fit on wide tables,
        which would otherwise grow with the square of the column count;
        tables with at most this many columns plus one are unaffected.
        ``None``: every earlier column.
    sensitive
        Categorical columns whose groups the model keeps apart (see the module
        docstring): e.g. ``("race", "sex")``. ``"auto"`` (the default): the
        columns :func:`~synthera.tabular.sensitive.detect_sensitive` finds by
        name (sex, gender, race, ethnicity, religion, nationality, disability,
        an age in groups); ``()`` for none. ``sensitive_`` lists the columns used.
    n_trees
        Trees per column (default one, of best splits). Above one, each tree picks its split thresholds
        at random (as in Extra-Trees) and their leaf distributions are averaged (see :class:`_Forest`):
        for samples meant to train models. On Adult, five trees lift the TSTR AUC of XGBoost trained on
        the sample from 0.9163 to 0.9190 (ten seeds) at the same DCR share, but blur associations
        between categories (pair trends 0.9852 -> 0.9838 at seed 0; marital status x relationship 0.987
        -> 0.956), which is why one tree stays the default.
    stratified
        Draw the rows of each leaf together, spread evenly over its frequencies (the default, see
        :func:`stratified_uniforms`), rather than each row on its own (``False``). A sample then follows the
        model more closely: XGBoost trained on Adult samples reaches TSTR ROC AUC 0.9204 against 0.9181
        (seeds 0-5, higher at every seed), at a DCR share of 0.521 against 0.516. Use ``False`` where samples
        must vary as fresh ones would, e.g. to estimate a statistic's variance from several synthetic samples.
    seed
        Seeds the fit; the same seed and data give the same model.

    Examples
    --------
    >>> from synthera import datasets
    >>> train, _ = datasets.load("adult")
    >>> model = CascadeSynthesizer().fit(train)
    >>> model.sample(3, seed=0, conditions={"sex": "Female"})["sex"].tolist()
    ['Female', 'Female', 'Female']
    """

    def __init__(
        self,
        *,
        max_bins: int = 64,
        exact_up_to: int = 256,
        min_samples_leaf: int | None = None,
        max_depth: int | None = None,
        max_features: int | None = 50,
        sensitive: tuple[str, ...] | list[str] | str = "auto",
        n_trees: int = 1,
        stratified: bool = True,
        seed: int = 0,
    ):
        self.max_bins = max_bins
        self.exact_up_to = exact_up_to
        self.min_samples_leaf = min_samples_leaf
        self.max_depth = max_depth
        self.max_features = max_features
        self.sensitive = sensitive
        self.n_trees = n_trees
        self.stratified = stratified
        self.seed = seed

    _parameter_constraints = {
        "max_bins": Whole(2),
        "exact_up_to": Whole(0),
        "min_samples_leaf": Whole(1, optional=True),
        "max_depth": Whole(1, optional=True),
        "max_features": Whole(1, optional=True),
        "n_trees": Whole(1),
        "stratified": OneOf((True, False)),
    }

    #: whether numerical columns that others determine are drawn last (see :func:`_tied_columns`)
    _ties = True
    #: whether ``sensitive="auto"`` detects columns (subclasses that order their own columns detect none)
    _auto_sensitive = True
    #: whether wide tables draw their numbers from a Gaussian backbone (see _RelationFitter._fit_backbone)
    _backbone = True
    #: whether a column gets ``n_trees`` randomized trees (see :class:`_Forest`) rather than one
    _forest = True
    #: whether a column that another column fixes is set from it (see :func:`_determined`)
    _determine = True
    #: whether few-valued columns get smaller leaves (see :meth:`_column_leaf`)
    _few_leaf = True

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if "_fit" in cls.__dict__:  # a subclass's own _fit releases the training values too (see _releasing)
            cls._fit = _releasing(cls.__dict__["_fit"])
            # ... and keeps its own column order (the relational and sequence cascades put given columns first)
            cls._ties = cls.__dict__.get("_ties", False)
            cls._auto_sensitive = cls.__dict__.get("_auto_sensitive", False)
            cls._backbone = cls.__dict__.get("_backbone", False)
            cls._forest = cls.__dict__.get("_forest", False)
            cls._determine = cls.__dict__.get("_determine", False)
            cls._few_leaf = cls.__dict__.get("_few_leaf", False)

    def _check_extra(self) -> None:
        if isinstance(self.sensitive, str):
            if self.sensitive != "auto":
                raise UserInputError("sensitive must be a list of column names, e.g. sensitive=['race', 'sex'], "
                                     "or 'auto'")
        elif not all(isinstance(c, str) for c in self.sensitive):
            raise UserInputError("sensitive must be a list of column names, e.g. sensitive=['race', 'sex']")

    # -- fit ------------------------------------------------------------------------------

    def _group_columns(self, names: list[str], encoder) -> list[str]:
        """The declared sensitive columns, checked: modelled and categorical (or those found by name)."""
        if isinstance(self.sensitive, str):  # "auto"
            from synthera.tabular.sensitive import detect_sensitive

            kinds = {name: None if encoder.info(name).kind == "continuous" else encoder.info(name).n_codes
                     for name in names}
            self.sensitive_ = detect_sensitive(kinds) if self._auto_sensitive else []
            return list(self.sensitive_)
        out = []
        for name in dict.fromkeys(self.sensitive):
            if name not in names:
                raise UserInputError(f"sensitive column '{name}' is not a modelled column of the table; "
                                     f"pick from: {', '.join(names[:20])}")
            if encoder.info(name).kind == "continuous":
                raise UserInputError(f"sensitive column '{name}' is numerical; the cascade keeps groups of categories "
                                     "apart: bin it into a categorical column first")
            out.append(name)
        self.sensitive_ = out
        return out

    @_releasing
    def _fit(self, data: dict[str, np.ndarray], encoder, rng: np.random.Generator) -> None:
        names = list(encoder.modelled)
        # read by _fit_trees, which fits the relations inside bins; released when the outermost _fit returns,
        # whatever a subclass's _fit or _fit_trees does (see _releasing)
        self._values = data
        n_rows = len(next(iter(data.values()))) if data else 0
        # no column gets more codes than a quarter of the rows: a code must be seen a few times to be
        # learnt, and a target with more classes than half the rows is noise to a classifier
        cap = max(2, n_rows // 4)
        numbers = sum(encoder.info(name).kind == "continuous" for name in names)
        if self._backbone and n_rows >= BACKBONE_MIN_ROWS and len(names) > n_rows / 10 \
                and numbers <= BACKBONE_MAX_NUMBERS:
            cap = max(2, n_rows // BACKBONE_BIN_ROWS)  # a wide table's backbone: coarser bins, see _fit_backbone
        self.discretizers_: dict[str, Discretizer] = {}
        columns = {}
        for name in names:
            info = encoder.info(name)
            if info.kind == "continuous":
                disc = Discretizer(max_bins=min(self.max_bins, cap), exact_up_to=min(self.exact_up_to, cap))
                disc.fit(data[name], runs=encoder.runs(name))
                self.discretizers_[name] = disc
                columns[name] = (disc.transform(data[name]), disc.n_codes)
            else:
                columns[name] = (data[name], info.n_codes)
        # Few-valued columns first: each later, richer column is then predicted from
        # everything coarse about the row (on Adult this order lifts TSTR AUC by ~0.01).
        self.columns_ = sorted(names, key=lambda name: columns[name][1])  # stable: ties keep table order
        # numbers that others determine (diamonds: z from x, y and depth) last, after what determines them
        tied, self._log_bounds = _tied_columns(data, [c for c in names if c in self.discretizers_], n_rows) \
            if self._ties else ([], {})
        self.columns_ = [c for c in self.columns_ if c not in tied] + tied
        groups = self._group_columns(names, encoder)
        # declared sensitive columns first, so that every later tree can split on them first
        self.columns_ = [c for c in self.columns_ if c in groups] + [c for c in self.columns_ if c not in groups]
        self.group_columns_ = [self.columns_.index(c) for c in groups]
        codes = np.zeros((n_rows, len(self.columns_)), dtype=np.int64)
        for j, name in enumerate(self.columns_):
            codes[:, j] = columns[name][0]
        self.n_codes_ = np.asarray([columns[name][1] for name in self.columns_], dtype=np.int64)
        self.leaf_size_ = self.min_samples_leaf or default_leaf_size(n_rows)
        exact = np.asarray([name not in self.discretizers_ or self.discretizers_[name].exact
                            for name in self.columns_])
        self.determined_ = _determined(codes, exact, self.n_codes_) if self._determine else {}
        self.trees_ = self._fit_trees(codes, rng)

    def _fit_trees(self, codes: np.ndarray, rng: np.random.Generator) -> list[_Tree]:
        """One tree per column, on at most ``max_features`` earlier columns (see :class:`_Scorer`)."""

        n_rows, width = codes.shape
        features = codes.astype(np.float32)
        scorer = _Scorer(codes, np.asarray([name in self.discretizers_ for name in self.columns_]))
        relations = _RelationFitter(self, codes, self.__dict__.pop("_values", None),
                                    self.__dict__.pop("_log_bounds", None) or {})
        trees = []
        with self._progress_bar(width, "fitting trees") as advance:
            for j in range(width):
                target = codes[:, j]
                n_classes = np.unique(target).size
                used = scorer.best(j, self.max_features)
                relations.fit(j, used)
                if j == 0 or n_classes == 1 or n_classes > round(0.5 * n_rows):
                    # first column, a constant, or near-unique codes that no leaf of many rows can
                    # predict: the column's marginal distribution
                    trees.append(_Tree.constant(target, self.n_codes_[j]))
                else:
                    groups = [g for g in getattr(self, "group_columns_", []) if g < j]
                    if groups:
                        used = np.union1d(used, groups)
                    leaf = self._column_leaf(j)
                    members = []
                    for _ in range(self.n_trees if self._forest else 1):
                        builder = _TreeBuilder(self.n_codes_[j], used, n_rows)
                        fitter = self._tree_fitter(rng, leaf, randomized=self._forest and self.n_trees > 1)
                        _, leaves = builder.grow(features, target, fitter)
                        if groups:
                            builder.split_by_groups(leaves, features, target,
                                                    [(g, int(self.n_codes_[g])) for g in groups],
                                                    max_strength=self.leaf_size_)
                        members.append(builder.tree())
                    trees.append(with_members(members))
                if j in relations.relations.tied:
                    relations.fit_residual(j, codes, self._tree_grower(features, used, rng))
                advance(1)
        self.relations_ = relations.done()
        return trees

    def _column_leaf(self, j: int) -> int | None:
        """Leaf size of column ``j``'s tree when not the default: smaller for few-valued columns (module docstring)."""
        if not self._few_leaf or self.min_samples_leaf is not None or self.n_codes_[j] > FEW_CODES:
            return None
        return min(self.leaf_size_, max(MIN_LEAF, round(self.leaf_size_ / FEW_LEAF_SHARE)))

    def _tree_grower(self, features: np.ndarray, used: np.ndarray, rng: np.random.Generator):
        """Grows a tree for another target on the columns ``used`` (a tied column's residual), or its marginal.

        Its leaves hold a :data:`TIED_LEAF_SHARE` th of the cascade's (at least :data:`SMALL_LEAF` rows): a
        residual says how far a value strays from what its row's other numbers make it, not who the row is
        (diamonds: TSTR accuracy 0.7675 with leaves of 150 rows, 0.7708 with 50).
        """
        leaf = max(SMALL_LEAF, round(self.leaf_size_ / TIED_LEAF_SHARE))

        def grow(target: np.ndarray, n_codes: int) -> _Tree:
            if used.size == 0 or np.unique(target).size == 1:
                return _Tree.constant(target, n_codes)
            builder = _TreeBuilder(n_codes, used, target.size)
            builder.grow(features, target, self._tree_fitter(rng, leaf))
            return builder.tree()

        return grow

    def _tree_fitter(self, rng: np.random.Generator, leaf_size: int | None = None, randomized: bool = False):
        """Fits one tree with leaves of ``leaf_size`` rows (default ``leaf_size_``). ``randomized``: each
        split's threshold drawn at random for each feature, the best of those kept (a forest's member)."""
        from sklearn.tree import DecisionTreeClassifier

        leaf = leaf_size or self.leaf_size_

        def fit(x: np.ndarray, y: np.ndarray):
            clf = DecisionTreeClassifier(min_samples_leaf=leaf, max_depth=self.max_depth,
                                         splitter="random" if randomized else "best",
                                         random_state=int(rng.integers(2**31)))
            return clf.fit(x, y)

        return fit

    # -- sample ---------------------------------------------------------------------------

    def _sample(self, n: int, rng: np.random.Generator, conditions: dict[str, Any]) -> dict[str, np.ndarray]:
        wanted = {self.columns_.index(name): self._condition_code(name, value) for name, value in conditions.items()}
        # conditioned sampling keeps extra particles so resampling does not collapse diversity
        m = n if not wanted else max(4 * n, 2_000)
        # codes so far, column-major: row j holds column j's code for every partial row
        cols = np.zeros((len(self.columns_), m), dtype=np.float32)
        relations = self._relations()
        stratified = bool(self.stratified)
        levels = {}  # quantile levels inside the codes of the columns that steer or are steered (see _Relation)
        determined = getattr(self, "determined_", {})
        for j, tree in enumerate(self.trees_):
            if j not in wanted:
                if j in relations.steered or j in relations.tied:
                    jitter = rng.random(m) if j in relations.tied else None
                    cols[j], levels[j] = relations.draw(j, tree, cols, levels, rng.random(m), rng.random(m), jitter)
                else:
                    cols[j] = tree.sample(cols, rng.random(m), rng.random(m) if stratified else None)
                    if relations.keeps_level(j):
                        levels[j] = rng.random(m)
                continue
            code = wanted[j]
            if j in determined and determined[j][0] < j:
                source, table = determined[j]
                weights = (table[cols[source].astype(np.int64)] == code).astype(np.float64)
            elif j in relations.tied:  # the regression, not the blurrier tree, says which rows can hold the value
                weights = relations.chance(j, cols, levels, code)
            else:
                weights = tree.chance(cols, code)
            cols, levels = _resampled(cols, levels, weights, rng, conditions)
            cols[j] = code
            if relations.keeps_level(j):
                levels[j] = relations.level(j, cols, levels, rng.random(m))
        for j, code in wanted.items():  # a condition whose determinant came later: the rows that agree with it
            if j in determined and determined[j][0] > j:
                source, table = determined[j]
                fixed = table[cols[source].astype(np.int64)]
                cols, levels = _resampled(cols, levels, ((fixed == code) | (fixed < 0)).astype(np.float64), rng,
                                          conditions)
        if m > n:
            keep = rng.choice(m, n, replace=False)
            cols, levels = cols[:, keep], {k: v[keep] for k, v in levels.items()}
        for j in _setting_order(determined):  # set last: later columns' draws are as without it
            source, table = determined[j]
            fixed = table[cols[source].astype(np.int64)]
            cols[j] = np.where(fixed >= 0, fixed, cols[j])
        return self._decode_codes(cols, rng, levels)

    def _decode_codes(self, cols: np.ndarray, rng: np.random.Generator, levels=None) -> dict[str, np.ndarray]:
        """Codes (one row per column) back to each column's values: bins get a value drawn inside them.

        ``levels`` holds the quantile levels already drawn inside some columns' codes; the others are drawn
        here: uniform, or following earlier columns where a relation ties them (see :class:`_Relation`).
        """
        codes = cols.astype(np.int64)
        relations = self._relations()
        levels = dict(levels or {})
        out = {}
        try:
            for j, name in enumerate(self.columns_):
                disc = self.discretizers_.get(name)
                if disc is None:
                    out[name] = codes[j]
                    continue
                if j not in levels:
                    levels[j] = relations.level(j, cols, levels, rng.random(codes.shape[1]))
                out[name] = disc.at(codes[j], levels[j])
        finally:
            relations.forget()  # the last step of every sample: the model keeps none of its arrays
        return out

    def _relations(self) -> _Relations:
        """The fitted relations, bound to the discretizers that turn codes and levels into values."""
        relations = getattr(self, "relations_", None) or _Relations()
        if relations.tied:
            relations.discs = {j: self.discretizers_[name] for j, name in enumerate(self.columns_)
                               if name in self.discretizers_}
        return relations

    def _condition_code(self, name: str, value: Any) -> int:
        disc = self.discretizers_.get(name)
        return int(value) if disc is None else disc.code_of(value)

    # -- state ----------------------------------------------------------------------------

    def _get_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        discretizers, arrays = discretizers_state(self.columns_, self.discretizers_)
        arrays["n_codes"] = self.n_codes_
        for j, tree in enumerate(self.trees_):
            members = tree_members(tree)
            for m, member in enumerate(members):
                for key, arr in member.arrays().items():
                    arrays[f"{_prefix(j, m, len(members))}{key}"] = arr
        relations = getattr(self, "relations_", None) or _Relations()
        arrays.update(relations.arrays())
        info = {"columns": self.columns_, "discretizers": discretizers, "relations": relations.info()}
        determined = getattr(self, "determined_", {})
        if determined:
            info["determined"] = {str(j): int(source) for j, (source, _) in determined.items()}
            arrays.update({f"determined{j}": table for j, (_, table) in determined.items()})
        if any(isinstance(tree, _Forest) for tree in self.trees_):
            info["tree_members"] = [len(tree_members(tree)) for tree in self.trees_]
        return info, arrays

    def _set_state(self, info: dict, arrays: dict[str, np.ndarray]) -> None:
        self.columns_ = list(info["columns"])
        if sorted(self.columns_) != sorted(self.encoder_.modelled):
            raise ValueError("model columns do not match the metadata")
        self.n_codes_ = np.asarray(arrays["n_codes"], dtype=np.int64)
        counts = info.get("tree_members") or [1] * len(self.columns_)
        if len(counts) != len(self.columns_) or not all(isinstance(c, int) and 1 <= c <= 1_000 for c in counts):
            raise ValueError("tree member counts are malformed")
        self.trees_ = [with_members([_Tree.from_arrays(arrays, _prefix(j, m, c), int(self.n_codes_[j]))
                                     for m in range(c)]) for j, c in enumerate(counts)]
        self.discretizers_ = discretizers_from_state(self.columns_, info["discretizers"], arrays)
        self.relations_ = _Relations.from_state(info.get("relations", {}), arrays, self.n_codes_)
        self.determined_ = {}
        for key, source in (info.get("determined") or {}).items():
            j, source = int(key), int(source)
            table = np.asarray(arrays[f"determined{j}"], dtype=np.int64)
            if not (0 <= source < len(self.columns_)) or source == j or table.shape != (int(self.n_codes_[source]),) \
                    or table.max(initial=-1) >= self.n_codes_[j] or table.min(initial=0) < -1:
                raise ValueError("a determined column's table is malformed")
            self.determined_[j] = (source, table)
        _setting_order(self.determined_)  # no two columns set each other
        for j in self.relations_.inputs:
            if self.columns_[j] not in self.discretizers_:
                raise ValueError("a tied relation refers to a column that is not numerical")


def _resampled(cols: np.ndarray, levels: dict, weights: np.ndarray, rng: np.random.Generator, conditions: dict):
    """The partial rows resampled by ``weights`` (as many as before); one line when no row can meet ``conditions``."""
    total = weights.sum()
    if total <= 0:
        names = ", ".join(f"{k}={v}" for k, v in conditions.items())
        raise UserInputError(f"impossible condition: no synthetic row can have {names}; "
                             "the training data never combines these values")
    keep = _systematic_resample(weights / total, cols.shape[1], rng)
    return cols[:, keep], {k: v[keep] for k, v in levels.items()}


def _setting_order(determined: dict[int, tuple[int, np.ndarray]]) -> list[int]:
    """The determined columns, each after its source when that is determined too (a zip's city before its state)."""
    order, pending = [], sorted(determined)
    while pending:
        ready = [j for j in pending if determined[j][0] not in pending]
        if not ready:
            raise ValueError("determined columns set each other")
        order += ready
        pending = [j for j in pending if j not in ready]
    return order


def _determined(codes: np.ndarray, exact: np.ndarray, n_codes: np.ndarray) -> dict[int, tuple[int, np.ndarray]]:
    """Columns that another column fixes in every training row: ``{column: (that column, table)}``.

    Adult's education_num is education written as a number; a tree with leaves of 163 people cannot
    isolate Preschool (51 people), and 2.2% of sampled rows paired an education with another's number
    ("Masters", 13). Where every code of an earlier column ``a`` goes with one code of a later column
    ``b`` (both exact: categories, or numbers whose codes are single values), ``b`` is set from ``a`` once
    a sample's codes are drawn: ``table[a's code]`` (-1 for a code no training row holds). Later columns
    are drawn given ``b``'s own draw, which agrees on nearly every row (97.8% on Adult), so their draws are
    the same as without it; set before them, it moved Adult's equalized-odds figures by their seed noise
    (sex: 0.104 -> 0.114, outside the real data's interval at seeds 0-2) for no gain in AUC. ``a`` must hold at least
    :data:`DETERMINED_MIN_ROWS` rows per code on average (an identifier fixes every column trivially); of
    several, the one with the fewest codes. ``a`` may also come after ``b`` when it has more codes (a zip
    code fixes its city, and is drawn after it): the city drawn by its tree is then replaced by the zip
    code's, so no row pairs a zip code with another city; with equal counts (one column renaming the
    other's codes) only the earlier sets the later, so no two columns set each other.
    """
    n_rows, width = codes.shape
    out = {}
    candidates = [j for j in range(width) if exact[j] and n_codes[j] <= n_rows / DETERMINED_MIN_ROWS]
    present = {j: np.flatnonzero(np.bincount(codes[:, j], minlength=int(n_codes[j])))
               for j in candidates[:DETERMINED_MAX_COLUMNS]}
    head = codes[:DETERMINED_HEAD_ROWS].astype(np.int64)  # a pair that fails on these rows fails on all: cheap test

    def fixes(a: int, b: int, rows: np.ndarray, n_a: int) -> bool:  # one code of b for every code of a
        return np.unique(rows[:, a].astype(np.int64) * int(n_codes[b]) + rows[:, b]).size == n_a

    for b in present:
        if present[b].size < 2:
            continue
        best = None
        for a in present:
            if a == b or present[a].size < present[b].size + (a > b) \
                    or (best is not None and n_codes[a] >= n_codes[best]):
                continue
            if fixes(a, b, head, np.unique(head[:, a]).size) and fixes(a, b, codes, present[a].size):
                best = a
        if best is not None:
            table = np.full(int(n_codes[best]), -1, dtype=np.int64)
            table[codes[:, best]] = codes[:, b]
            out[b] = (best, table)
    return out


DETERMINED_MIN_ROWS = 5  # rows per code (on average) of a column that fixes another
DETERMINED_MAX_COLUMNS = 100  # exact columns checked for such pairs (a pair that passes costs a pass over the rows)
DETERMINED_HEAD_ROWS = 5_000  # rows a pair is first checked on


SMALL_LEAF = 8  # fewest rows in a leaf of a small table's trees
SMALL_LEAF_SHARE = 5  # a small table's leaves hold at least one in this many rows


def default_leaf_size(n_rows: int) -> int:
    """Fewest rows per leaf: one 200th of the rows and at least 30; on tables under 150 rows, a fifth of them.

    A table of 51 rows with leaves of 30 could grow no split at all, and its columns would come out
    independent; a fifth (at least :data:`SMALL_LEAF`) lets each tree split a few times, mostly on the
    columns drawn first (the few-valued ones, where a target usually sits). An eighth reached a higher
    TSTR AUC on cytomegalovirus (0.647 against 0.615) but a DCR share of 0.563: too close to the rows. A
    quarter goes the other way (``benchmarks/tabular_hard.py``, 150 folds, a seed each): DCR share 0.577
    against 0.595, at a TSTR AUC of 0.564 against 0.573, below the Gaussian copula's 0.566.
    """
    return min(max(30, round(n_rows / 200)), max(SMALL_LEAF, round(n_rows / SMALL_LEAF_SHARE)))


MIN_GROUP_ROWS = 100  # a group with fewer rows is not split from the pooled leaves
LARGE_GROUP_SHARE = 0.05  # nor is one with at least this share of the rows: the tree splits on it as it needs
MIN_LEAF = 30  # fewest rows in a few-valued column's leaf (see CascadeSynthesizer._column_leaf)
FEW_CODES = 8  # most codes of a column whose leaves are smaller
FEW_LEAF_SHARE = 10  # ... by this factor
MIN_PRIOR_STRENGTH = 1.0  # fewest pseudo-rows a group's leaf frequencies are shrunk by (see _prior_strength)


def _prior_strength(pooled: list[np.ndarray], counts: list[np.ndarray], cap: float) -> float:
    """Pseudo-rows ``k`` of a group's hierarchical prior, by the method of moments.

    ``counts[i]`` holds the group's rows of each code in leaf ``i``, whose pooled frequencies are ``pooled[i]``.
    If the group's frequencies in a leaf were Dirichlet(k * pooled), its counts of n rows would stray from
    n * pooled by a chi-square whose mean is (codes - 1) (n + k) / (1 + k); ``k`` is solved for the observed
    chi-square summed over the leaves holding at least two of the group's rows: between
    :data:`MIN_PRIOR_STRENGTH` and ``cap`` (a group that strays no more than chance is shrunk by ``cap``).
    """
    chi2, terms = 0.0, []
    for p, o in zip(pooled, counts, strict=True):
        n = o.sum()
        if n < 2:
            continue
        seen = p > 0
        chi2 += float(((o[seen] - n * p[seen]) ** 2 / (n * p[seen])).sum())
        terms.append((seen.sum() - 1, n))
    if not terms:
        return cap
    df, n = np.asarray(terms, dtype=np.float64).T

    def excess(k: float) -> float:  # expected minus observed chi-square; decreases with k
        return float((df * (n + k) / (1 + k)).sum()) - chi2

    if excess(cap) >= 0:
        return cap
    if excess(MIN_PRIOR_STRENGTH) <= 0:
        return MIN_PRIOR_STRENGTH
    lo, hi = np.log(MIN_PRIOR_STRENGTH), np.log(cap)
    for _ in range(40):  # bisection on log k
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if excess(float(np.exp(mid))) > 0 else (lo, mid)
    return float(np.exp(lo))


class _TreeBuilder:
    """Assembles one :class:`_Tree` from a scikit-learn tree whose leaves may be split by small groups."""

    def __init__(self, n_codes: int, used: np.ndarray, total: int):
        self.n_codes, self.used, self.total = int(n_codes), np.asarray(used), total
        self.left, self.right, self.feature, self.threshold, self.probs = [], [], [], [], []

    def _node(self, feature: int, threshold: float, probs: np.ndarray) -> int:
        self.left.append(-1)
        self.right.append(-1)
        self.feature.append(feature)
        self.threshold.append(threshold)
        self.probs.append(probs)
        return len(self.left) - 1

    def grow(self, x: np.ndarray, y: np.ndarray, fit) -> tuple[int, np.ndarray]:
        """A tree fitted on every row: its root's index and each row's leaf."""
        features = x[:, self.used]
        clf = fit(features, y)
        root = self._attach(clf)
        return root, root + clf.apply(features)

    def split_by_groups(self, leaves: np.ndarray, x: np.ndarray, y: np.ndarray, groups: list[tuple[int, int]],
                        max_strength: float) -> None:
        """Split every leaf by the small groups of the ``(column, codes)`` in ``groups`` (module docstring).

        A group's leaf gets its rows' frequencies shrunk toward the pooled leaf's by its prior strength; the
        other rows keep the pooled leaf. Columns after the first split the first one's leaves in turn.
        """
        splits = []
        for col, n_codes in groups:
            codes = x[:, col].astype(np.int64)
            counts = np.bincount(codes, minlength=n_codes)
            small = np.flatnonzero((counts >= MIN_GROUP_ROWS) & (counts < LARGE_GROUP_SHARE * self.total))
            if small.size:
                splits.append((col, n_codes, codes, small.tolist()))
        if not splits:
            return
        order = np.argsort(leaves, kind="stable")
        parts = np.split(order, np.flatnonzero(np.diff(leaves[order])) + 1)
        nodes = [int(leaves[part[0]]) for part in parts]
        strength, pooled = {}, [np.asarray(self.probs[node]) for node in nodes]
        for col, _, codes, small in splits:
            for c in small:
                found = [np.bincount(y[part[codes[part] == c]], minlength=self.n_codes) for part in parts]
                strength[col, c] = _prior_strength(pooled, found, max_strength)
        for node, part in zip(nodes, parts, strict=True):
            self._split_leaf(node, part, y, splits, strength)

    def _split_leaf(self, node: int, rows: np.ndarray, y: np.ndarray, splits: list, strength: dict) -> None:
        """Turn leaf ``node`` into a chain of splits on the first column of ``splits``, then recurse."""
        if not splits:
            return
        (col, n_codes, codes, small), rest = splits[0], splits[1:]
        mine = codes[rows]
        present = [c for c in small if np.any(mine == c)]
        if not present or n_codes < 2:
            self._split_leaf(node, rows, y, rest, strength)
            return
        pooled = np.asarray(self.probs[node])
        # the leaf becomes the first of n_codes - 1 chained tests "code <= c"; children come after their parents
        chain = [node] + [self._node(col, float(c) + 0.5, pooled) for c in range(1, n_codes - 1)]
        others = self._node(-1, -2.0, pooled.copy())
        dest = {}
        for c in present:
            counts = np.bincount(y[rows[mine == c]], minlength=self.n_codes).astype(np.float64)
            k = strength[col, c]
            dest[c] = self._node(-1, -2.0, (counts + k * pooled) / (counts.sum() + k))
        for c, link in enumerate(chain):
            self.feature[link], self.threshold[link] = col, float(c) + 0.5
            self.left[link] = dest.get(c, others)
            self.right[link] = chain[c + 1] if c + 1 < len(chain) else dest.get(c + 1, others)
        for c in present:
            self._split_leaf(dest[c], rows[mine == c], y, rest, strength)
        rest_rows = rows[~np.isin(mine, present)]
        if rest_rows.size:
            self._split_leaf(others, rest_rows, y, rest, strength)

    def _attach(self, clf) -> int:
        """Append a fitted scikit-learn tree; returns its root's index."""
        t, base = clf.tree_, len(self.left)
        fractions = t.value[:, 0, :]
        fractions = fractions / fractions.sum(axis=1, keepdims=True)
        probs = np.zeros((t.node_count, self.n_codes))
        probs[:, clf.classes_.astype(np.int64)] = fractions
        leaf = t.children_left < 0
        self.left.extend(np.where(leaf, -1, t.children_left + base).tolist())
        self.right.extend(np.where(leaf, -1, t.children_right + base).tolist())
        self.feature.extend(np.where(leaf, -1, self.used[np.maximum(t.feature, 0)]).tolist())
        self.threshold.extend(t.threshold.tolist())
        self.probs.extend(probs)
        return base

    def tree(self) -> _Tree:
        return _Tree(self.left, self.right, self.feature, self.threshold, np.asarray(self.probs))


class _Tree:
    """A fitted classification tree as arrays, with a vectorised ``apply``."""

    __slots__ = ("left", "right", "feature", "threshold", "leaf_probs", "_flat_cdf", "_walk_arrays")

    def __init__(self, left, right, feature, threshold, leaf_probs):
        self.left = np.asarray(left, dtype=np.int32)
        self.right = np.asarray(right, dtype=np.int32)
        self.feature = np.asarray(feature, dtype=np.int32)
        self.threshold = np.asarray(threshold, dtype=np.float32)
        self.leaf_probs = np.asarray(leaf_probs, dtype=np.float64)
        n_nodes = self.left.shape[0]
        if not (self.right.shape == self.feature.shape == self.threshold.shape == (n_nodes,)):
            raise ValueError("tree arrays disagree in length")
        if self.leaf_probs.ndim != 2 or self.leaf_probs.shape[0] != n_nodes:
            raise ValueError("tree leaf distributions have the wrong shape")
        inner = self.feature >= 0
        if inner.any() and (
            self.left[inner].min() < 0 or self.left[inner].max() >= n_nodes
            or self.right[inner].min() < 0 or self.right[inner].max() >= n_nodes
            or np.any(self.left[inner] <= np.flatnonzero(inner)) or np.any(self.right[inner] <= np.flatnonzero(inner))
        ):
            raise ValueError("tree children point outside the tree")  # also rules out cycles

    @classmethod
    def constant(cls, target: np.ndarray, n_codes: int) -> _Tree:
        counts = np.bincount(target, minlength=n_codes).astype(np.float64)
        return cls([-1], [-1], [-1], [0.0], (counts / counts.sum())[None, :])

    @classmethod
    def from_sklearn(cls, t, classes: np.ndarray, n_codes: int, used: np.ndarray) -> _Tree:
        """From a scikit-learn tree fitted on the columns ``used`` (indices into the cascade's columns)."""
        # t.value holds per-node class fractions over `classes` (the observed codes only)
        fractions = t.value[:, 0, :]
        fractions = fractions / fractions.sum(axis=1, keepdims=True)
        probs = np.zeros((t.node_count, n_codes))
        probs[:, classes.astype(np.int64)] = fractions
        feature = np.where(t.children_left < 0, -1, np.asarray(used)[np.maximum(t.feature, 0)])
        return cls(t.children_left, t.children_right, feature, t.threshold, probs)

    def apply(self, columns: np.ndarray) -> np.ndarray:
        """Leaf index of every row; ``columns`` holds the features column-major, shape (features, rows).

        While most rows still descend, every row takes a step at once (leaves point to themselves, with a
        threshold no value exceeds, so no mask is needed); once fewer than a quarter of the rows sit at
        inner nodes, only those walk on. A value goes left when ``value <= threshold`` (NaN goes right).
        """
        children, feature, threshold, depth = self._walk()
        n = columns.shape[1]
        flat, node, offsets = columns.ravel(), np.zeros(n, dtype=np.int32), np.arange(n, dtype=np.int64)
        active = None
        for step in range(depth):
            node = children[2 * node + (np.take(flat, feature[node] * n + offsets) <= threshold[node])]
            if step % 4 == 3:
                active = np.flatnonzero(self.feature[node] >= 0)
                if active.size < n // 4:
                    break
        else:
            return node
        while active.size:
            current = node[active]
            current = children[2 * current + (np.take(flat, feature[current] * n + active) <= threshold[current])]
            node[active] = current
            active = active[self.feature[current] >= 0]
        return node

    def _walk(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """The arrays of the walk (cached): children as pairs (right, left), leaves pointing to themselves;
        features and thresholds with leaf sentinels (feature 0, threshold +inf); the depth of the deepest leaf."""
        cached = getattr(self, "_walk_arrays", None)
        if cached is None:
            n_nodes, leaf = self.left.shape[0], self.feature < 0
            own = np.arange(n_nodes, dtype=np.int32)
            children = np.empty(2 * n_nodes, dtype=np.int32)
            children[0::2], children[1::2] = np.where(leaf, own, self.right), np.where(leaf, own, self.left)
            depth = np.zeros(n_nodes, dtype=np.int64)
            for i in np.flatnonzero(~leaf):  # parents come before their children (checked in __init__)
                depth[self.left[i]] = depth[self.right[i]] = depth[i] + 1
            cached = (children, np.where(leaf, 0, self.feature).astype(np.int64),
                      np.where(leaf, np.inf, self.threshold).astype(np.float32), int(depth.max()))
            self._walk_arrays = cached
        return cached

    def probs(self, columns: np.ndarray) -> np.ndarray:
        """Every row's leaf distribution over the codes, shape (rows, codes)."""
        return self.leaf_probs[self.apply(columns)]

    def chance(self, columns: np.ndarray, code: int) -> np.ndarray:
        """Every row's leaf probability of ``code``."""
        return self.leaf_probs[self.apply(columns), code]

    def sample(self, columns: np.ndarray, u: np.ndarray, jitter: np.ndarray | None = None) -> np.ndarray:
        """Draw a code per row from its leaf, given uniforms ``u`` in [0, 1); with ``jitter`` (more uniforms),
        stratified over each leaf's rows (:func:`stratified_uniforms`)."""
        leaves = self.apply(columns)
        if jitter is not None:
            u = stratified_uniforms(leaves, u, jitter)
        k = self.leaf_probs.shape[1]
        pos = np.searchsorted(self.flat_cdf, leaves + u, side="right")
        return np.minimum(pos - leaves * k, k - 1)

    @property
    def flat_cdf(self) -> np.ndarray:
        """Every node's cumulative distribution, offset by its index, in one sorted array."""
        cached = getattr(self, "_flat_cdf", None)
        if cached is None:
            cum = np.cumsum(self.leaf_probs, axis=1)
            cum /= cum[:, -1:]
            cached = (cum + np.arange(cum.shape[0])[:, None]).ravel()
            self._flat_cdf = cached
        return cached

    def arrays(self) -> dict[str, np.ndarray]:
        return {"left": self.left, "right": self.right, "feature": self.feature, "threshold": self.threshold,
                "probs": self.leaf_probs.astype(np.float32)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str, n_codes: int) -> _Tree:
        probs = np.asarray(arrays[prefix + "probs"], dtype=np.float64)
        if probs.shape[1] != n_codes or np.any(probs < 0):
            raise ValueError("tree leaf distributions are malformed")
        return cls(arrays[prefix + "left"], arrays[prefix + "right"], arrays[prefix + "feature"],
                   arrays[prefix + "threshold"], probs)


class _Forest:
    """A column's randomized trees; its conditional distribution is the mean of their leaf distributions.

    One tree with leaves of many rows draws a step function of the earlier columns, blurred at fixed
    edges; trees whose thresholds are drawn at random (as in Extra-Trees) put their edges in different
    places, and their mean varies smoothly. The leaves keep the cascade's size, so each still mixes as
    many people. Sampling draws each row's tree at random and its code from that tree's leaf, which is a
    draw from the mean: no wider arrays than one tree's.
    """

    __slots__ = ("members",)

    def __init__(self, members: list[_Tree]):
        if len(members) < 2 or len({m.leaf_probs.shape[1] for m in members}) != 1:
            raise ValueError("a forest needs at least two trees over the same codes")
        self.members = list(members)

    def probs(self, columns: np.ndarray) -> np.ndarray:
        out = self.members[0].probs(columns)
        for member in self.members[1:]:
            out += member.probs(columns)
        return out / len(self.members)

    def chance(self, columns: np.ndarray, code: int) -> np.ndarray:
        return sum(member.chance(columns, code) for member in self.members) / len(self.members)

    def sample(self, columns: np.ndarray, u: np.ndarray, jitter: np.ndarray | None = None) -> np.ndarray:
        """A tree per row from ``u``'s integer part (times the trees), the code from ``u``'s remainder
        (``jitter`` as in :meth:`_Tree.sample`)."""
        k = len(self.members)
        scaled = u * k
        pick = np.minimum(scaled.astype(np.int64), k - 1)
        rest = np.clip(scaled - pick, 0.0, np.nextafter(1.0, 0.0))
        out = np.empty(u.shape[0], dtype=np.int64)
        for i, member in enumerate(self.members):
            rows = np.flatnonzero(pick == i)
            if rows.size:
                out[rows] = member.sample(columns[:, rows], rest[rows], None if jitter is None else jitter[rows])
        return out


def stratified_uniforms(groups: np.ndarray, u: np.ndarray, jitter: np.ndarray) -> np.ndarray:
    """Uniforms spread evenly over the rows of each group (a leaf): its ``c`` rows, in the random order of
    ``u``, take one uniform in each of ``[0, 1/c), [1/c, 2/c), ...``, placed in it by ``jitter``.

    Each row's uniform is still uniform on [0, 1), so each row is still a draw from its leaf, and the order
    is drawn afresh for every column, so columns stay as independent as the leaf says. But the rows of a
    leaf together follow its frequencies as closely as whole rows can (stratified sampling), where
    independent draws scatter around them: 40 rows of a leaf with a code at 10% give it 4 rows, not
    4 +- 1.9. A sample is drawn in blocks of ``DRAW_ROWS`` rows, stratified block by block, so a sample's
    first rows do not depend on its size.
    """
    n = u.shape[0]
    out = np.empty(n, dtype=np.float64)
    if not n:
        return out
    order = np.argsort(groups + u)  # by group, then in the random order of u
    ranked = groups[order]
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(ranked[1:], ranked[:-1], out=new[1:])
    first = np.flatnonzero(new)  # where each group starts in ``order`` (O(rows), whatever the leaf ids)
    group = np.cumsum(new) - 1
    counts = np.diff(first, append=n)
    out[order] = (np.arange(n) - first[group] + jitter) / counts[group]
    return np.minimum(out, _BELOW_ONE, out=out)


_BELOW_ONE = np.nextafter(1.0, 0.0)


def tree_members(tree: _Tree | _Forest) -> list[_Tree]:
    """The trees a column's model is made of: a forest's members, or the tree itself."""
    return tree.members if isinstance(tree, _Forest) else [tree]


def with_members(members: list[_Tree]) -> _Tree | _Forest:
    """A column's model from its trees: the tree itself when there is one."""
    return members[0] if len(members) == 1 else _Forest(members)


def _prefix(j: int, m: int, count: int) -> str:
    """Where member ``m`` of column ``j``'s trees is saved (one tree: as before forests, ``tree{j}_``)."""
    return f"tree{j}_" if count == 1 else f"tree{j}m{m}_"


RELATION_PREDICTORS = 3  # most earlier numerical columns steering one column
RELATION_MIN_GAIN = 0.02  # least share of a column's score variance a predictor must explain to be picked
RELATION_MIN_SHARE = 0.25  # ... or least share of the variance still unexplained (a refinement of a tight fit)
RELATION_GROUPS = 2  # most earlier categorical columns whose categories shift a relation (see _Relation)
RELATION_MAX_LEVELS = 32  # a categorical column with more codes shifts no relation
RELATION_GROUP_GAIN = 0.02  # least share of the unexplained variance a categorical column must explain
RELATION_MAX_SIGMA = 0.6  # loosest relation kept: residual s.d. of the normal scores (R^2 >= 0.64)
RELATION_MIN_SIGMA = 0.01  # the tightest: no column is ever a function of others, a trace of noise stays
RELATION_MAX_POINT = 0.3  # a column with one value held by more rows than this share takes no part
RELATION_WIDE_SIGMA = 0.85  # the loosest on a wide table (more columns than a tenth of the rows) ...
RELATION_WIDE_PREDICTORS = 5  # ... and its most numerical predictors: there the trees see few rows per column
RELATION_MIN_ROWS = 40  # fewest rows a relation is estimated from
RELATION_ROWS = 20_000  # rows (a fixed sample) the relations are estimated on
BACKBONE_MIN_ROWS = 100  # fewest rows a backbone is estimated from (see _fit_backbone)
BACKBONE_BIN_ROWS = 12  # a backbone's numbers get at most one bin per this many rows
BACKBONE_MAX_NUMBERS = 2_000  # most numbers in a backbone: it stores d^2 / 2 coefficients and samples in O(d^2)
BACKBONE_LEVELS = 8  # most codes of a column whose categories shift the backbone's means
BACKBONE_GROUPS = 3  # most such columns
BACKBONE_MIN_CLASS = 5  # fewest rows of a category with a mean of its own
BACKBONE_GAIN = 0.01  # least share of the unexplained variance (all numbers together) a column must explain
BACKBONE_BLOCK = 32  # relations whose means a sample sums together (see _BackboneTerms)
_EDGE = 1e-9


class _Scale:
    """A numerical column's normal score from its code and the quantile level drawn inside the code."""

    def __init__(self, cdf: np.ndarray, ranged: np.ndarray):
        self.cdf, self.ranged = np.asarray(cdf, dtype=np.float64), np.asarray(ranged, dtype=bool)

    def score(self, codes: np.ndarray, u: np.ndarray) -> np.ndarray:
        from scipy.special import ndtri

        inside = np.where(self.ranged[codes], u, 0.5)  # a point mass sits at its middle
        level = self.cdf[codes] + inside * (self.cdf[codes + 1] - self.cdf[codes])
        return ndtri(np.clip(level, _EDGE, 1 - _EDGE))


def _bounds(scale: _Scale) -> np.ndarray:
    """The normal scores of a scale's code boundaries: -inf and +inf at the ends."""
    from scipy.special import ndtri

    return ndtri(np.clip(scale.cdf, 0.0, 1.0))


class _Relation:
    """A column's normal score as a linear function of a few earlier numerical columns' scores, plus noise.

    ``z = intercept + x . coef + sigma * e`` with ``e`` standard normal (a Gaussian copula regression on
    the columns' normal scores, see :class:`_Scale`). At sampling it sharpens the tree: each code's leaf
    probability is weighted by the chance the regression gives to the code's interval, and the level inside
    the chosen code is drawn from the regression's normal truncated to that interval, so a bin's value
    follows the columns drawn before it instead of being uniform.
    """

    def __init__(self, cols, coef, intercept, sigma, groups=(), shifts=(), alone=False):
        self.alone = bool(alone)  # the regression alone draws the code (a backbone, see _RelationFitter._fit_backbone)
        self.cols = np.asarray(cols, dtype=np.int64)
        self.coef = np.asarray(coef, dtype=np.float64)
        self.intercept, self.sigma = float(intercept), float(sigma)
        self.groups = np.asarray(groups, dtype=np.int64).reshape(-1)
        self.shifts = [np.asarray(v, dtype=np.float64) for v in shifts]
        if self.coef.shape != self.cols.shape or not self.sigma > 0 or len(self.shifts) != self.groups.size:
            raise ValueError("relation arrays disagree in shape")

    def mean(self, scores: dict[int, np.ndarray], cols: np.ndarray | None = None) -> np.ndarray:
        """The regression's mean: numerical scores times their weights, plus each earlier category's shift."""
        out = self.intercept + sum(c * scores[int(k)] for k, c in zip(self.cols, self.coef, strict=True))
        return self.shifted(out, cols)

    def shifted(self, out, cols: np.ndarray | None) -> np.ndarray:
        """``out`` (the intercept plus the numbers' terms) plus each earlier category's shift, one per row."""
        for k, shift in zip(self.groups, self.shifts, strict=True):
            out = out + shift[np.clip(cols[int(k)].astype(np.int64), 0, shift.size - 1)]
        return out if np.ndim(out) else np.full(cols.shape[1], float(out))

    def _mass(self, scale: _Scale, mean: np.ndarray):
        """The normal CDF at every code boundary, per row: shape (rows, codes + 1)."""
        from scipy.special import ndtr

        return ndtr((_bounds(scale)[None, :] - mean[:, None]) / self.sigma)

    def _mass_around(self, scale: _Scale, mean: np.ndarray, codes: np.ndarray):
        """The normal CDF at each row's code's lower and upper boundary (the same numbers as in :meth:`_mass`)."""
        from scipy.special import ndtr

        bounds = _bounds(scale)
        return ndtr((bounds[codes] - mean) / self.sigma), ndtr((bounds[codes + 1] - mean) / self.sigma)

    def draw(self, probs: np.ndarray | None, scale: _Scale, mean: np.ndarray, u: np.ndarray, v: np.ndarray):
        """Codes drawn from leaf probabilities times the regression's chance of each code; and their levels.

        A backbone's relation (``alone``; ``probs`` unused, may be ``None``) draws its code from the regression's
        chance alone: the code whose interval holds the normal's ``u``-quantile, found without the normal's CDF
        at every boundary of every row.
        """
        from scipy.special import ndtri

        if self.alone:
            codes = np.searchsorted(_bounds(scale)[1:-1], mean + self.sigma * ndtri(u))
            return codes, self._level(scale, mean, codes, v, *self._mass_around(scale, mean, codes))
        cum = self._mass(scale, mean)
        weights = probs * np.diff(cum, axis=1)
        total = weights.sum(axis=1)
        lost = total <= 1e-12  # the regression and the leaf disagree entirely: trust the leaf
        weights[lost], total[lost] = probs[lost], probs[lost].sum(axis=1)
        codes = (np.cumsum(weights, axis=1) < (u * total)[:, None]).sum(axis=1)
        codes = np.minimum(codes, probs.shape[1] - 1)
        rows = np.arange(codes.size)
        return codes, self._level(scale, mean, codes, v, cum[rows, codes], cum[rows, codes + 1])

    def level(self, scale: _Scale, mean: np.ndarray, codes: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Levels inside given codes: the regression's normal truncated to each code's interval."""
        return self._level(scale, mean, codes, v, *self._mass_around(scale, mean, codes))

    def _level(self, scale, mean, codes, v, lo, hi) -> np.ndarray:
        """Levels inside ``codes``, given the normal's CDF at their lower (``lo``) and upper (``hi``) boundary."""
        from scipy.special import ndtr, ndtri

        z = mean + self.sigma * ndtri(np.clip(lo + v * (hi - lo), _EDGE, 1 - _EDGE))
        mass = scale.cdf[codes + 1] - scale.cdf[codes]
        level = (ndtr(z) - scale.cdf[codes]) / np.where(mass > 0, mass, 1.0)
        return np.clip(np.where(hi - lo > 1e-12, level, v), 0.0, 1.0)

    def arrays(self) -> dict[str, np.ndarray]:
        fit = [self.intercept, self.sigma, 1.0] if self.alone else [self.intercept, self.sigma]
        out = {"cols": self.cols, "coef": self.coef, "fit": np.array(fit)}
        if self.groups.size:
            out["groups"] = self.groups
            out["shifts"] = np.concatenate(self.shifts)
        return out


TIED_MIN_R2 = 0.99  # a column is tied when others explain this share of its log values' variance (robustly)
TIED_MIN_ROWS = 500  # fewest rows for looking for tied columns: on fewer, a near fit is as likely chance
TIED_MAX_COLUMNS = 32  # most numerical columns searched for ties (each search fits every column on the others)
TIED_PREDICTORS = 4  # most columns one tied column is fitted on
TIED_MIN_GAIN = 0.1  # least share of the variance left that a further predictor must explain
TIED_MIN_DISTINCT = 20  # fewest distinct values of a column taking part (fewer: a count or a grade, not a measure)
TIED_TAIL = 0.001  # log values are clipped at these quantiles (and 1 - this), so a few zeros or typos do not lever
TIED_OUTLIER = 4.0  # rows farther than this many robust s.d.s from the fit are left out of the final fit
TIED_MIN_SIGMA = 1e-4  # the tightest residual s.d. (log scale) of the fit
TIED_JITTER = 0.003  # s.d. of the extra noise on every tied value (log scale, 0.3%), see _LogRelation.draw
TIED_ROWS = 5_000  # rows (a fixed sample) the search for tied columns runs on
TIED_LEAF_SHARE = 3  # a residual's tree has leaves of a third of the cascade's (see _tree_grower)


def _log_bounds(values: np.ndarray) -> tuple[float, float] | None:
    """The clipping bounds of a column that can take part in a tie: positive, no nulls, no dominant value."""
    if values.size == 0 or np.isnan(values).any():
        return None
    lo, hi = np.quantile(values, [TIED_TAIL, 1.0 - TIED_TAIL])
    if not lo > 0 or not hi > lo:
        return None
    distinct, counts = np.unique(values, return_counts=True)
    if distinct.size < TIED_MIN_DISTINCT or counts.max() > RELATION_MAX_POINT * values.size:
        return None
    return float(lo), float(hi)


def _logs(values: np.ndarray, bounds) -> np.ndarray:
    return np.log(np.clip(values, bounds[0], bounds[1]))


def _select(y: np.ndarray, pool: np.ndarray) -> tuple[list[int], float]:
    """Forward selection of at most :data:`TIED_PREDICTORS` columns of ``pool`` predicting ``y`` (least squares).

    Returns the picked columns and the robust R^2: one minus the squared robust s.d. (1.4826 median absolute
    deviation) of the residual over the variance of ``y``, so that a few rows off the relation (typos, zeros)
    do not hide it.
    """
    y = y - y.mean()
    x = pool - pool.mean(axis=0)
    total, resid, picks = float(y @ y), y.copy(), []
    start = np.maximum((x**2).sum(axis=0), 1e-300)
    for _ in range(min(TIED_PREDICTORS, x.shape[1])):
        norms = (x**2).sum(axis=0)
        gain = (x.T @ resid) ** 2 / np.maximum(norms, 1e-300)
        gain[(norms < 1e-10 * start) | np.isin(np.arange(x.shape[1]), picks)] = 0.0
        best = int(np.argmax(gain))
        if gain[best] <= TIED_MIN_GAIN * float(resid @ resid):
            break
        picks.append(best)
        q = x[:, best] / np.sqrt(norms[best])
        resid -= q * (q @ resid)
        x -= np.outer(q, q @ x)
    if total <= 0:
        return picks, 0.0
    spread = 1.4826 * np.median(np.abs(resid - np.median(resid)))
    return picks, 1.0 - spread**2 * y.size / total


def _tied_columns(values: dict[str, np.ndarray], names: list[str], n_rows: int):
    """Numerical columns that others determine, in the order to draw them (after every other column).

    On a fixed sample of rows, every column that can take part (see :func:`_log_bounds`) is fitted on the
    log values of the others; the best-fitted one, if its robust R^2 reaches :data:`TIED_MIN_R2`, is peeled
    off, and the search repeats on the rest. On diamonds it peels z (from x, y and depth), carat, then y,
    and leaves price, x, depth and table to the trees: each ratio (depth, table) keeps its own tree, and
    the sizes it ties together follow from it. Returns the tied columns and the clipping bounds of every
    column that can take part; none on tables under :data:`TIED_MIN_ROWS` rows or with more than
    :data:`TIED_MAX_COLUMNS` candidates (Adult: none qualifies, and its order is unchanged).
    """
    if n_rows < TIED_MIN_ROWS:
        return [], {}
    bounds = {name: b for name in names if (b := _log_bounds(values[name])) is not None}
    if not 2 <= len(bounds) <= TIED_MAX_COLUMNS:
        return [], {}
    rows = np.sort(np.random.default_rng(0).choice(n_rows, TIED_ROWS, replace=False)) if n_rows > TIED_ROWS \
        else np.arange(n_rows)
    logs = {name: _logs(values[name][rows], b) for name, b in bounds.items()}
    left, peeled = list(bounds), []
    while len(left) > 1:
        fits = {name: _select(logs[name], np.column_stack([logs[k] for k in left if k != name]))[1] for name in left}
        best = max(left, key=fits.__getitem__)
        if fits[best] < TIED_MIN_R2:
            break
        peeled.append(best)
        left.remove(best)
    return peeled[::-1], (bounds if peeled else {})


def _level_of(table: np.ndarray, codes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The quantile levels at which :meth:`Discretizer.at` gives ``values`` inside ``codes`` (inverse of ``at``)."""
    rows = table[codes]
    width = rows.shape[1] - 1
    i = np.clip((rows[:, 1:-1] <= values[:, None]).sum(axis=1), 0, width - 1)
    lo, hi = np.take_along_axis(rows, i[:, None], 1)[:, 0], np.take_along_axis(rows, i[:, None] + 1, 1)[:, 0]
    frac = np.where(hi > lo, (values - lo) / np.where(hi > lo, hi - lo, 1.0), 0.5)
    return (i + np.clip(frac, 0.0, 1.0)) / width


class _LogRelation:
    """A tied column's log value as a linear function of earlier numerical columns' log values, plus noise.

    ``log y = intercept + log(x) . coef + shift(categories) + sigma * e`` (logs clipped at the bounds in
    ``clip``: row 0 the column's own, then one per predictor). Products and ratios (volume ~ x * y * z,
    depth = 2 z / (x + y)) are linear there. At sampling each code's leaf probability is weighted by the
    chance the regression gives to the code's cell (its values, and half the gap to each neighbour), and
    the value inside a bin is the regression's normal truncated to the bin, so a tied column follows its
    predictors to within its residual s.d. instead of a bin's width. Where the leaf gives no chance to any
    code the regression allows, the regression alone decides.

    Every tied value also gets a jitter of :data:`TIED_JITTER` (0.3%): without it, a small stone's z and y
    followed from its drawn x and depth to the 0.01 mm the table is rounded to, and about one synthetic row
    in 40,000 repeated a training row, unique ones included (diamonds: 5 copies in 6 samples of 30,000
    rows; 1 with the jitter, at TSTR accuracy 0.769 against 0.771). Real diamonds repeat far more often:
    34 of 10,000 test rows equal a training row.
    """

    def __init__(self, cols, coef, intercept, sigma, clip, groups=(), shifts=(), tree=None, resid=None):
        self.tree, self.resid = tree, resid  # the residual's tree and bins (see draw); None: a normal residual
        self.cols = np.asarray(cols, dtype=np.int64)
        self.coef = np.asarray(coef, dtype=np.float64)
        self.intercept, self.sigma = float(intercept), float(sigma)
        self.spread = float(np.hypot(self.sigma, TIED_JITTER))  # the residual's s.d. with the jitter
        self.clip = np.asarray(clip, dtype=np.float64).reshape(-1, 2)
        self.groups = np.asarray(groups, dtype=np.int64).reshape(-1)
        self.shifts = [np.asarray(v, dtype=np.float64) for v in shifts]
        if self.coef.shape != self.cols.shape or not self.sigma > 0 or len(self.shifts) != self.groups.size \
                or self.clip.shape != (self.cols.size + 1, 2) or not np.all(self.clip > 0):
            raise ValueError("relation arrays disagree in shape")

    def mean(self, values: dict[int, np.ndarray], cols: np.ndarray) -> np.ndarray:
        out = self.intercept + sum(c * _logs(values[int(k)], b)
                                   for k, c, b in zip(self.cols, self.coef, self.clip[1:], strict=True))
        for k, shift in zip(self.groups, self.shifts, strict=True):
            out = out + shift[np.clip(cols[int(k)].astype(np.int64), 0, shift.size - 1)]
        return out

    def _cells(self, disc) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each code's lowest and highest log value, and the cell edges between codes (midway across gaps)."""
        table = disc.table_
        low, high = _logs(table[:, 0], self.clip[0]), _logs(table[:, -1], self.clip[0])
        return low, high, np.r_[-np.inf, (high[:-1] + low[1:]) / 2, np.inf]

    def draw(self, probs: np.ndarray, disc, mean: np.ndarray, u: np.ndarray, v: np.ndarray, cols: np.ndarray,
             w: np.ndarray):
        """Codes and levels: the regression's mean plus a residual drawn from its own tree (see
        :meth:`_RelationFitter.fit_residual`) plus a normal jitter of s.d. :data:`TIED_JITTER`, in the code whose
        cell holds it; without a residual tree, codes drawn from leaf probabilities times the regression's
        chance of each code's cell. ``u``, ``v``, ``w``: uniforms for the leaf, the level and the jitter."""
        from scipy.special import ndtr, ndtri

        low, high, edges = self._cells(disc)
        if self.tree is not None:
            jitter = TIED_JITTER * ndtri(np.clip(w, _EDGE, 1 - _EDGE))
            z = mean + self.resid.at(self.tree.sample(cols, u), v) + jitter
            codes = np.clip(np.searchsorted(edges, z, side="right") - 1, 0, low.size - 1)
            return codes, _level_of(disc.table_, codes, np.exp(np.clip(z, low[codes], high[codes])))
        chance = np.diff(ndtr((edges[None, :] - mean[:, None]) / self.spread), axis=1)
        chance = np.pad(chance, ((0, 0), (0, probs.shape[1] - chance.shape[1])))  # a null code: no chance
        weights = probs * chance
        total = weights.sum(axis=1)
        lost = total <= 1e-12
        weights[lost], total[lost] = chance[lost], chance[lost].sum(axis=1)
        codes = (np.cumsum(weights, axis=1) < (u * total)[:, None]).sum(axis=1)
        codes = np.minimum(codes, chance.shape[1] - 1)
        return codes, self.level(disc, mean, codes, v)

    def chance(self, disc, mean: np.ndarray, code: int) -> np.ndarray:
        """The regression's chance of ``code``'s cell in each row (zero for the null code)."""
        from scipy.special import ndtr

        _, _, edges = self._cells(disc)
        if code >= edges.size - 1:
            return np.zeros(mean.size)
        return ndtr((edges[code + 1] - mean) / self.spread) - ndtr((edges[code] - mean) / self.spread)

    def level(self, disc, mean: np.ndarray, codes: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Levels inside given codes: the regression's normal truncated to each code's values."""
        from scipy.special import ndtr, ndtri

        low, high, _ = self._cells(disc)
        real = codes < low.size
        c = np.where(real, codes, 0)
        a, b = ndtr((low[c] - mean) / self.spread), ndtr((high[c] - mean) / self.spread)
        inside = mean + self.spread * ndtri(np.clip(a + v * (b - a), _EDGE, 1 - _EDGE))
        z = np.clip(np.where(b - a > 1e-12, inside, mean), low[c], high[c])
        return np.where(real, _level_of(disc.table_, c, np.exp(z)), v)

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"cols": self.cols, "coef": self.coef, "fit": np.array([self.intercept, self.sigma]), "clip": self.clip}
        if self.groups.size:
            out["groups"] = self.groups
            out["shifts"] = np.concatenate(self.shifts)
        if self.tree is not None:
            out.update({f"tree_{k}": v for k, v in self.tree.arrays().items()})
            out["resid_table"] = self.resid.table_
        return out

    def resid_info(self) -> dict | None:
        return None if self.resid is None else self.resid.state()[0]

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], prefix: str, n_codes: np.ndarray, j: int, info: dict | None):
        tree = resid = None
        if info is not None:
            resid = Discretizer.from_state(info, {"table": arrays[prefix + "resid_table"]})
            tree = _Tree.from_arrays(arrays, prefix + "tree_", resid.n_codes)
            if np.any(tree.feature >= j):
                raise ValueError("relation refers to a column that is not drawn before it")
        return cls(arrays[prefix + "cols"], arrays[prefix + "coef"], *arrays[prefix + "fit"][:2],
                   arrays[prefix + "clip"], *_shifts_from_state(arrays, prefix, n_codes, j), tree=tree, resid=resid)


class _Relations:
    """The fitted relations of a cascade: which columns are steered, and whose scores steer them.

    ``steered`` relations work on normal scores (:class:`_Relation`); ``tied`` ones on log values
    (:class:`_LogRelation`), which need the columns' discretizers (``discs``, bound by the cascade) to turn
    codes and levels into values.
    """

    def __init__(self, steered: dict[int, _Relation] | None = None, scales: dict[int, _Scale] | None = None,
                 tied: dict[int, _LogRelation] | None = None):
        self.steered, self.scales, self.tied = steered or {}, scales or {}, tied or {}
        self.discs: dict = {}
        self.inputs = set(self.tied) | {int(k) for rel in self.tied.values() for k in rel.cols}

    def info(self) -> dict:
        out = {"steered": sorted(self.steered), "scales": sorted(self.scales)}
        if self.tied:
            out["tied"] = sorted(self.tied)
            out["tied_resid"] = {str(j): r.resid_info() for j, r in self.tied.items() if r.resid is not None}
        return out

    def keeps_level(self, j: int) -> bool:
        """Whether column ``j``'s level inside its code is drawn with its code (a later column needs it)."""
        return j in self.scales or j in self.inputs

    def _mean(self, j: int, cols: np.ndarray, levels: dict[int, np.ndarray]) -> np.ndarray:
        if j in self.tied:
            rel = self.tied[j]
            values = {int(k): self.discs[int(k)].at(cols[int(k)].astype(np.int64), levels[int(k)]) for k in rel.cols}
            return rel.mean(values, cols)
        rel = self.steered[j]
        if rel.alone:
            return rel.shifted(rel.intercept + self._backbone(cols).terms(j, levels), cols)
        return rel.mean({int(k): self._score(int(k), cols, levels) for k in rel.cols}, cols)

    def _score(self, k: int, cols: np.ndarray, levels: dict[int, np.ndarray]) -> np.ndarray:
        """Column ``k``'s normal scores, computed once per draw of its codes and levels (a column may steer
        several relations)."""
        cache = self.__dict__.setdefault("_scored", {})
        hit = cache.get(k)
        if hit is None or hit[0] is not cols or hit[1] is not levels[k]:
            hit = cache[k] = (cols, levels[k], self.scales[k].score(cols[k].astype(np.int64), levels[k]))
        return hit[2]

    def _backbone(self, cols: np.ndarray) -> _BackboneTerms:
        """The backbone's terms for the sample whose codes are ``cols`` (a new one for new codes)."""
        terms = self.__dict__.get("_backbone_terms")
        if terms is None or terms.cols is not cols:
            terms = self.__dict__["_backbone_terms"] = _BackboneTerms(
                {j: rel for j, rel in self.steered.items() if rel.alone}, self.scales, cols)
        return terms

    def forget(self) -> None:
        """Drop the scores :meth:`_score` and :meth:`_backbone` cached during a sample: they hold its arrays."""
        self.__dict__.pop("_scored", None)
        self.__dict__.pop("_backbone_terms", None)

    def draw(self, j, tree, cols, levels, u, v, w=None) -> tuple[np.ndarray, np.ndarray]:
        """Codes and levels of steered or tied column ``j``, given its tree and the earlier columns (``u``, ``v``,
        and for a tied column ``w``: uniforms, see :meth:`_LogRelation.draw`). A backbone's relation draws its
        codes without the tree's leaves (see :meth:`_Relation.draw`)."""
        if j in self.tied:
            probs = tree.probs(cols)
            return self.tied[j].draw(probs, self.discs[j], self._mean(j, cols, levels), u, v, cols, w)
        rel = self.steered[j]
        probs = None if rel.alone else tree.probs(cols)
        return rel.draw(probs, self.scales[j], self._mean(j, cols, levels), u, v)

    def chance(self, j: int, cols: np.ndarray, levels: dict[int, np.ndarray], code: int) -> np.ndarray:
        """Tied column ``j``'s chance of ``code`` in each row, given the earlier columns."""
        return self.tied[j].chance(self.discs[j], self._mean(j, cols, levels), code)

    def level(self, j: int, cols: np.ndarray, levels: dict[int, np.ndarray], v: np.ndarray) -> np.ndarray:
        """Levels inside column ``j``'s given codes: ``v`` itself unless the column is steered or tied."""
        codes = cols[j].astype(np.int64)
        if j in self.tied:
            return self.tied[j].level(self.discs[j], self._mean(j, cols, levels), codes, v)
        if j not in self.steered:
            return v
        return self.steered[j].level(self.scales[j], self._mean(j, cols, levels), codes, v)

    def arrays(self) -> dict[str, np.ndarray]:
        out = {f"scale{j}_{k}": v for j, s in self.scales.items() for k, v in (("cdf", s.cdf), ("ranged", s.ranged))}
        out.update({f"rel{j}_{k}": v for j, r in self.steered.items() for k, v in r.arrays().items()})
        out.update({f"tied{j}_{k}": v for j, r in self.tied.items() for k, v in r.arrays().items()})
        return out

    @classmethod
    def from_state(cls, info: dict, arrays: dict[str, np.ndarray], n_codes: np.ndarray) -> _Relations:
        steered = {int(j): _Relation(arrays[f"rel{j}_cols"], arrays[f"rel{j}_coef"], *arrays[f"rel{j}_fit"][:2],
                                     *_shifts_from_state(arrays, f"rel{j}_", n_codes, int(j)),
                                     alone=arrays[f"rel{j}_fit"].size > 2 and arrays[f"rel{j}_fit"][2] > 0)
                   for j in info.get("steered", [])}
        scales = {int(j): _Scale(arrays[f"scale{j}_cdf"], arrays[f"scale{j}_ranged"]) for j in info.get("scales", [])}
        resid = info.get("tied_resid", {})
        tied = {int(j): _LogRelation.from_state(arrays, f"tied{j}_", n_codes, int(j), resid.get(str(j)))
                for j in info.get("tied", [])}
        for j, scale in scales.items():
            k = int(n_codes[j]) if 0 <= j < len(n_codes) else -1
            if k < 0 or scale.cdf.shape != (k + 1,) or scale.ranged.shape != (k,):
                raise ValueError("relation scales disagree with the columns' codes")
        for j, rel in steered.items():
            if j not in scales or any(int(k) >= j or int(k) not in scales for k in rel.cols):
                raise ValueError("relation refers to a column that is not drawn before it")
        for j, rel in tied.items():
            if not 0 <= j < len(n_codes) or any(not 0 <= int(k) < j for k in rel.cols) or j in steered:
                raise ValueError("relation refers to a column that is not drawn before it")
        return cls(steered, scales, tied)


class _BackboneTerms:
    """The numbers' terms of the backbone's means (scores times weights) in one sample, summed by blocks.

    Every backbone relation is steered by every number drawn before it, so summed one term at a time they cost
    d^2 / 2 passes over the rows (pd_speech: 280,000 for a draw of 16,384 rows, most of its sampling time).
    Here the numbers' scores fill the rows of one matrix as they are drawn; the first relation of a block of
    :data:`BACKBONE_BLOCK` gets the terms of every number drawn so far for the whole block in one matrix
    product, and each relation of the block then adds those of the few numbers drawn since.

    It holds one sample's arrays: built for its codes ``cols`` (a new one for other codes, e.g. rows
    resampled by a condition), and reads each number's level once, when its score is first needed.
    """

    def __init__(self, relations: dict[int, _Relation], scales: dict[int, _Scale], cols: np.ndarray):
        self.cols, self.scales = cols, scales
        self.rows = np.asarray(sorted(relations), dtype=np.int64)  # the relations' columns, in drawing order
        self.inputs = np.unique(np.concatenate([relations[j].cols for j in self.rows])).astype(np.int64)
        self.coef = np.zeros((self.rows.size, self.inputs.size))
        for r, j in enumerate(self.rows):
            self.coef[r, np.searchsorted(self.inputs, relations[j].cols)] = relations[j].coef
        self.scores = np.empty((self.inputs.size, cols.shape[1]))
        self.filled = 0  # the first inputs whose scores are in
        self.block = (0, 0, np.zeros((0, cols.shape[1])))  # its first relation, its inputs drawn before, its sums

    def terms(self, j: int, levels: dict[int, np.ndarray]) -> np.ndarray:
        """Relation ``j``'s terms: the scores of the numbers drawn before column ``j`` times their weights."""
        r, p = int(np.searchsorted(self.rows, j)), int(np.searchsorted(self.inputs, j))
        for i in range(self.filled, p):
            k = int(self.inputs[i])
            self.scores[i] = self.scales[k].score(self.cols[k].astype(np.int64), levels[k])
        self.filled = max(self.filled, p)
        first, drawn, sums = self.block
        if not first <= r < first + sums.shape[0]:
            first, drawn = r, p
            sums = self.coef[r:r + BACKBONE_BLOCK, :p] @ self.scores[:p]
            self.block = (first, drawn, sums)
        return sums[r - first] + self.coef[r, drawn:p] @ self.scores[drawn:p]


def _shifts_from_state(arrays: dict[str, np.ndarray], prefix: str, n_codes: np.ndarray, j: int):
    """A saved relation's categorical columns and their shifts (none in models saved before they existed)."""
    groups = np.asarray(arrays.get(prefix + "groups", np.zeros(0)), dtype=np.int64).reshape(-1)
    flat = np.asarray(arrays.get(prefix + "shifts", np.zeros(0)), dtype=np.float64).reshape(-1)
    if np.any(groups < 0) or np.any(groups >= j):
        raise ValueError("relation refers to a column that is not drawn before it")
    sizes = n_codes[groups]
    if flat.size != int(sizes.sum()) or not np.all(np.isfinite(flat)):
        raise ValueError("relation shifts disagree with the columns' codes")
    return groups, np.split(flat, np.cumsum(sizes)[:-1]) if groups.size else []


def _best_group(codes: np.ndarray, cands: list[int], resid: np.ndarray, left: float, n_codes: np.ndarray,
                min_rows: int) -> tuple[int | None, float, np.ndarray | None]:
    """The column of ``cands`` whose categories' mean residuals explain most of ``resid`` (rows x outputs).

    Explained: the between-category sum of squares over every output, less the share of ``left`` (the
    residual sum of squares) that as many random groups would explain. Only categories held by at least
    ``min_rows`` rows count, the most frequent one being the baseline. Returns the column (``None`` when
    none explains anything), its gain and the mask of its categories that get a shift of their own.
    """
    best, best_gain, best_mask = None, 0.0, None
    for k in cands:
        counts = np.bincount(codes[:, k], minlength=int(n_codes[k]))
        mask = counts >= min_rows
        if mask.sum() < 2:
            continue
        mask[np.argmax(counts)] = False  # the most frequent category is the baseline
        sums = np.column_stack([np.bincount(codes[:, k], r, minlength=counts.size) for r in resid.T])
        between = float((sums[mask] ** 2 / counts[mask][:, None]).sum())
        gain = between - mask.sum() * left / resid.shape[0]
        if gain > best_gain:
            best, best_gain, best_mask = k, gain, mask
    return best, best_gain, best_mask


class _RelationFitter:
    """Fits a :class:`_Relation` for every binned column tied to earlier binned columns (see ``fit``)."""

    def __init__(self, model: CascadeSynthesizer, codes: np.ndarray, values: dict[str, np.ndarray] | None,
                 log_bounds: dict[str, tuple[float, float]] | None = None):
        self.model, self.relations = model, _Relations()
        self.log_bounds = log_bounds if values is not None else {}
        self.numeric = np.asarray([values is not None and name in model.discretizers_ for name in model.columns_])
        self.categorical = (model.n_codes_ <= RELATION_MAX_LEVELS) & ~self.numeric & (values is not None)
        wide = codes.shape[1] > codes.shape[0] / 10
        self.max_sigma = RELATION_WIDE_SIGMA if wide else RELATION_MAX_SIGMA
        self.predictors = RELATION_WIDE_PREDICTORS if wide else RELATION_PREDICTORS
        for j in np.flatnonzero(self.numeric):  # one dominant value (capital_gain: 92% zeros): the tree's job
            if np.bincount(codes[:, j]).max() > RELATION_MAX_POINT * codes.shape[0]:
                self.numeric[j] = False
        n = codes.shape[0]
        self.rows = np.random.default_rng(0).choice(n, RELATION_ROWS, replace=False) if n > RELATION_ROWS else \
            np.arange(n)
        self.rows.sort()
        self.codes, self.values = codes[self.rows], values
        self.levels, self.scores = {}, {}
        # wide tables: every number from one class-conditional Gaussian (see _fit_backbone)
        self.backbone = {} if values is not None and wide and model._backbone else None

    def _level(self, j: int) -> np.ndarray:
        """Each sampled row's quantile level inside its code (ties share their middle)."""
        if j not in self.levels:
            codes = self.codes[:, j]
            values = self.values[self.model.columns_[j]][self.rows]
            order = np.lexsort((np.nan_to_num(values, nan=0.0), codes))
            sc, sv = codes[order], values[order]
            new = np.r_[True, (sc[1:] != sc[:-1]) | (sv[1:] != sv[:-1])]
            run = np.cumsum(new) - 1
            middle = np.bincount(run, np.arange(sc.size)) / np.bincount(run)
            counts = np.bincount(codes, minlength=int(self.model.n_codes_[j]))
            start = np.r_[0, np.cumsum(counts)[:-1]]
            level = np.empty(sc.size)
            level[order] = (middle[run] - start[sc] + 0.5) / counts[sc]
            self.levels[j] = level
        return self.levels[j]

    def _score(self, j: int) -> np.ndarray:
        if j not in self.scores:
            disc = self.model.discretizers_[self.model.columns_[j]]
            counts = np.bincount(self.codes[:, j], minlength=disc.n_codes).astype(np.float64)
            scale = _Scale(np.r_[0.0, np.cumsum(counts) / counts.sum()], disc.ranged)
            self.scores[j] = (scale, scale.score(self.codes[:, j], self._level(j)))
        return self.scores[j][1]

    def fit(self, j: int, candidates: np.ndarray) -> None:
        """Steer column ``j`` by the earlier candidates that best predict its score (forward selection).

        Numerical columns first (at most :data:`RELATION_PREDICTORS`; on wide tables, where each tree sees
        few rows per column, :data:`RELATION_WIDE_PREDICTORS`, and looser relations are kept); a relation
        tight enough to keep may then be shifted by the categories of up to :data:`RELATION_GROUPS` earlier
        categorical columns (diamonds: z given carat is larger for a Fair cut than for an Ideal one), see
        :meth:`_groups`.
        """
        if self._fit_tied(j):
            return
        if self.backbone is not None and self.numeric[j]:
            if not self.backbone:
                self._fit_backbone()
            if j in self.backbone:
                self.relations.steered[j] = self.backbone[j]
                return
        cands = [int(k) for k in candidates if self.numeric[k]]
        if not self.numeric[j] or not cands or self.codes.shape[0] < RELATION_MIN_ROWS:
            return
        y = self._score(j) - self._score(j).mean()
        x = np.column_stack([self._score(k) for k in cands])
        x -= x.mean(axis=0)
        total, resid, pick = float(y @ y), y.copy(), []
        for _ in range(self.predictors):
            norms = np.maximum((x**2).sum(axis=0), 1e-12)
            gain = (x.T @ resid) ** 2 / norms
            gain[pick] = 0.0
            best = int(np.argmax(gain))
            if gain[best] < RELATION_MIN_GAIN * total and gain[best] < RELATION_MIN_SHARE * float(resid @ resid):
                break
            pick.append(best)
            q = x[:, best] / np.sqrt(norms[best])
            resid -= q * (q @ resid)
            x -= np.outer(q, q @ x)
        if not pick:
            return
        pick = sorted(cands[i] for i in pick)
        target = self._score(j)
        design = np.column_stack([np.ones(y.size)] + [self._score(k) for k in pick])
        coef, *_ = np.linalg.lstsq(design, target, rcond=None)
        sigma = float(np.std(target - design @ coef))
        if sigma > self.max_sigma:
            return
        groups, shifts = self._groups(self.codes, candidates, target - design @ coef)
        if groups:
            dummies = [(self.codes[:, k][:, None] == np.flatnonzero(v)[None, :]).astype(np.float64)
                       for k, v in zip(groups, shifts, strict=True)]
            full, *_ = np.linalg.lstsq(np.column_stack([design, *dummies]), target, rcond=None)
            coef, rest = full[: design.shape[1]], full[design.shape[1]:]
            sigma = float(np.std(target - np.column_stack([design, *dummies]) @ full))
            for v, d in zip(shifts, np.split(rest, np.cumsum([d.shape[1] for d in dummies])[:-1]), strict=True):
                used = np.flatnonzero(v)
                v[:] = 0.0
                v[used] = d
        self.relations.steered[j] = _Relation(pick, coef[1:], coef[0], max(sigma, RELATION_MIN_SIGMA), groups, shifts)
        for k in [*pick, j]:
            self.relations.scales[k] = self.scores[k][0]

    def _fit_backbone(self) -> None:
        """One Gaussian over the normal scores of every numerical column, its means shifted by a few categories.

        The scores' means are a linear function of the categories of up to :data:`BACKBONE_GROUPS` few-valued
        columns (picked greedily, as in :meth:`_groups`, over all numbers at once: the target is usually one),
        and what is left has a shrunk (Ledoit-Wolf) covariance. Each number's relation is then the Gaussian's
        conditional given the numbers drawn before it and the categories: the triangular inverse of the
        covariance's Cholesky factor holds every conditional's coefficients and residual s.d. at once.

        The backbone alone draws each code: the column's tree, which also splits on
        the target, would apply the class shift a second time (a shift of 1.0 s.d. came out as 1.84, and
        pima's TSTR AUC above its TRTR). Its tree is still fitted: conditions on a number weigh rows by it.
        """
        from sklearn.covariance import LedoitWolf

        cols = [int(k) for k in np.flatnonzero(self.numeric)]
        n = self.codes.shape[0]
        self.backbone[-1] = None  # fitted (even when no backbone comes of it)
        if len(cols) < 2 or n < BACKBONE_MIN_ROWS or len(cols) > BACKBONE_MAX_NUMBERS:
            return
        scores = np.column_stack([self._score(k) for k in cols])
        cands = [k for k in range(self.codes.shape[1]) if not self.numeric[k] and self.values is not None
                 and self.model.n_codes_[k] <= BACKBONE_LEVELS]
        groups, masks = self._backbone_groups(scores - scores.mean(axis=0), cands)
        design = np.column_stack([np.ones(n)] + [(self.codes[:, k][:, None] == np.flatnonzero(m)[None, :])
                                                 for k, m in zip(groups, masks, strict=True)]).astype(np.float64)
        weights, *_ = np.linalg.lstsq(design, scores, rcond=None)
        resid = scores - design @ weights
        cov = LedoitWolf(assume_centered=True).fit(resid).covariance_
        inv = np.linalg.inv(np.linalg.cholesky(cov))
        offsets = np.cumsum([0] + [int(m.sum()) for m in masks])
        for t, j in enumerate(cols):
            coef = -inv[t, :t] / inv[t, t]
            sigma = 1.0 / inv[t, t]
            shift = weights[:, t] - weights[:, :t] @ coef
            mine = [g for g in range(len(groups)) if groups[g] < j]
            shifts = []
            for g in mine:
                v = np.zeros(int(self.model.n_codes_[groups[g]]))
                v[np.flatnonzero(masks[g])] = shift[1 + offsets[g]: 1 + offsets[g + 1]]
                shifts.append(v)
            self.backbone[j] = _Relation(cols[:t], coef, shift[0], max(sigma, RELATION_MIN_SIGMA),
                                         [groups[g] for g in mine], shifts, alone=True)
            self.relations.scales[j] = self.scores[j][0]

    def _backbone_groups(self, resid: np.ndarray, cands: list[int]) -> tuple[list[int], list[np.ndarray]]:
        """Few-valued columns whose categories shift the numbers' scores, picked greedily (see :meth:`_groups`)."""
        n = resid.shape[0]
        picked, masks = [], []
        for _ in range(BACKBONE_GROUPS):
            left = float((resid**2).sum())
            best, best_gain, best_mask = _best_group(self.codes, [k for k in cands if k not in picked], resid, left,
                                                     self.model.n_codes_, BACKBONE_MIN_CLASS)
            if best is None or best_gain < BACKBONE_GAIN * left:
                break
            picked.append(best)
            masks.append(best_mask)
            design = np.column_stack([np.ones(n), self.codes[:, best][:, None] == np.flatnonzero(best_mask)[None, :]])
            coef, *_ = np.linalg.lstsq(design, resid, rcond=None)  # ones and booleans: a float design
            resid = resid - design @ coef
        return picked, masks

    def _fit_tied(self, j: int) -> bool:
        """Tie column ``j`` to the earlier columns whose log values determine it (see :func:`_tied_columns`).

        Forward selection on the log values, a least-squares fit, then the same fit without the rows farther
        than :data:`TIED_OUTLIER` robust s.d.s from it (a few typos or zeros must not tilt a near-exact
        relation), shifted by earlier categories as in :meth:`_groups`. Kept when the robust R^2 reaches
        :data:`TIED_MIN_R2`; returns whether column ``j`` is tied.
        """
        names = self.model.columns_
        cands = [k for k in range(j) if names[k] in self.log_bounds]
        if names[j] not in self.log_bounds or not cands:
            return False
        logs = {k: _logs(self.values[names[k]][self.rows], self.log_bounds[names[k]]) for k in [*cands, j]}
        picks, r2 = _select(logs[j], np.column_stack([logs[k] for k in cands]))
        if not picks or r2 < TIED_MIN_R2:
            return False
        pick = sorted(cands[i] for i in picks)
        target, design = logs[j], np.column_stack([np.ones(self.rows.size)] + [logs[k] for k in pick])
        coef, *_ = np.linalg.lstsq(design, target, rcond=None)
        resid = target - design @ coef
        spread = 1.4826 * np.median(np.abs(resid - np.median(resid)))
        keep = np.abs(resid - np.median(resid)) <= TIED_OUTLIER * max(spread, TIED_MIN_SIGMA)
        coef, *_ = np.linalg.lstsq(design[keep], target[keep], rcond=None)
        resid = target[keep] - design[keep] @ coef
        groups, shifts = self._groups(self.codes[keep], np.arange(j), resid)
        if groups:
            dummies = [(self.codes[keep][:, k][:, None] == np.flatnonzero(v)[None, :]).astype(np.float64)
                       for k, v in zip(groups, shifts, strict=True)]
            full_design = np.column_stack([design[keep], *dummies])
            full, *_ = np.linalg.lstsq(full_design, target[keep], rcond=None)
            coef, rest = full[: design.shape[1]], full[design.shape[1]:]
            resid = target[keep] - full_design @ full
            for v, d in zip(shifts, np.split(rest, np.cumsum([d.shape[1] for d in dummies])[:-1]), strict=True):
                used = np.flatnonzero(v)
                v[:] = 0.0
                v[used] = d
        clip = [self.log_bounds[names[k]] for k in [j, *pick]]
        self.relations.tied[j] = _LogRelation(pick, coef[1:], coef[0], max(float(np.std(resid)), TIED_MIN_SIGMA),
                                              clip, groups, shifts)
        return True

    def fit_residual(self, j: int, codes: np.ndarray, grow) -> None:
        """A tree for tied column ``j``'s residual (log value less the regression's mean), on every row.

        The residual is binned like a column (quantile bins, rare values never replayed, see
        :class:`Discretizer`) and ``grow(target, n_codes)`` fits it a tree on the earlier columns, so its
        spread and shape follow the row's categories and ratios: on diamonds, y / x is below 1 for most
        Premium stones and above 1 for most Very Good ones, with a spread of its own for each cut. Then the
        regression sets where a tied value sits and the residual's leaf how far it strays.
        """
        rel, names = self.relations.tied[j], self.model.columns_
        values = {int(k): self.values[names[int(k)]] for k in rel.cols}
        resid = _logs(self.values[names[j]], rel.clip[0]) - rel.mean(values, codes.T)
        n_rows = resid.size
        disc = Discretizer(max_bins=min(self.model.max_bins, max(2, n_rows // 4)), exact_up_to=0).fit(resid)
        rel.resid, rel.tree = disc, grow(disc.transform(resid), disc.n_codes)

    def _groups(self, codes: np.ndarray, candidates: np.ndarray, resid: np.ndarray) -> tuple[list[int], list]:
        """Earlier categorical columns whose categories shift a relation's residual ``resid``, picked greedily.

        A column is picked when its categories' mean residuals explain at least :data:`RELATION_GROUP_GAIN` of
        the variance still unexplained (less the chance share a column of that many categories explains).
        Only categories held by at least :data:`RELATION_MIN_ROWS` sampled rows get a shift of their own (the
        others keep none): returned as a mask (1 where a category gets a shift) per column, filled in by ``fit``.
        """
        cands = [int(k) for k in candidates if self.categorical[k]]
        if not cands:
            return [], []
        picked, masks = [], []
        for _ in range(RELATION_GROUPS):
            left = float(resid @ resid)
            best, best_gain, best_mask = _best_group(codes, [k for k in cands if k not in picked], resid[:, None],
                                                     left, self.model.n_codes_, RELATION_MIN_ROWS)
            if best is None or best_gain < RELATION_GROUP_GAIN * left:
                break
            picked.append(best)
            masks.append(best_mask.astype(np.float64))
            group = codes[:, best]
            means = np.bincount(group, resid, minlength=best_mask.size) / np.maximum(
                np.bincount(group, minlength=best_mask.size), 1)
            resid = resid - np.where(best_mask[group], means[group], 0.0)
        order = np.argsort(picked)
        return [picked[i] for i in order], [masks[i] for i in order]

    def done(self) -> _Relations:
        return _Relations(self.relations.steered, self.relations.scales, self.relations.tied)


_SCORE_ROWS = 500
_SCORE_GROUPS = 8


class _Scorer:
    """Picks each tree's features: the earlier columns most informative about the column to predict.

    The score is mutual information on a fixed sample of at most
    ``_SCORE_ROWS`` rows between codes coarsened to at most ``_SCORE_GROUPS``
    groups (quantile groups for binned numbers and dates, the most frequent
    codes for categories), less its small-sample bias (Miller-Madow). One
    score costs a pass over the sample, so choosing features for every column
    of a 2,000-column table costs seconds, while trees on all earlier columns
    would cost hours. Nothing is computed until a column has more earlier
    columns than the limit, and the sample has its own fixed seed, so narrow
    tables (Adult) get exactly the trees they got before the limit existed.
    """

    def __init__(self, codes: np.ndarray, ordered: np.ndarray):
        self.codes, self.ordered = codes, ordered
        self.coarse = None

    def best(self, j: int, limit: int | None) -> np.ndarray:
        """Indices (ascending) of the ``limit`` best columns among 0..j-1; all of them when j <= limit."""
        if limit is None or j <= limit:
            return np.arange(j)
        if self.coarse is None:
            self._prepare()
        n, k, offsets = self.coarse.shape[0], self.k, self.offsets
        y, ky = self.coarse[:, j] - offsets[j], int(k[j])
        keys = self.coarse[:, :j] * ky  # self.coarse holds each column's groups offset past the earlier ones'
        keys += y[:, None]
        counts = np.bincount(keys.ravel(), minlength=int(offsets[j]) * ky)
        sxy = np.add.reduceat(_xlogx(counts[: int(offsets[j]) * ky]), offsets[:j] * ky)
        mi = np.log(n) + (sxy - self.sx[:j] - self.sx[j]) / n - (k[:j] - 1) * (ky - 1) / (2 * n)
        return np.sort(np.argsort(-mi, kind="stable")[:limit])

    def _prepare(self) -> None:
        n, width = self.codes.shape
        rows = np.random.default_rng(0).choice(n, _SCORE_ROWS, replace=False) if n > _SCORE_ROWS else np.arange(n)
        sample = self.codes[rows]
        self.coarse = np.empty_like(sample)
        self.k = np.empty(width, dtype=np.int64)
        for f in range(width):
            self.coarse[:, f], self.k[f] = _coarsen(sample[:, f], bool(self.ordered[f]))
        self.offsets = np.concatenate([[0], np.cumsum(self.k)])
        self.sx = np.array([_xlogx(np.bincount(self.coarse[:, f])).sum() for f in range(width)])
        self.coarse += self.offsets[:-1][None, :]


def _coarsen(x: np.ndarray, ordered: bool) -> tuple[np.ndarray, int]:
    """Codes mapped to at most ``_SCORE_GROUPS`` dense groups, and the number of groups."""
    distinct, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    if distinct.size <= _SCORE_GROUPS:
        return inverse, int(distinct.size)
    if ordered:  # neighbouring codes together, groups of about equal size
        middle = np.cumsum(counts) - counts / 2
        group = np.floor(_SCORE_GROUPS * middle / x.size).astype(np.int64)
        _, group = np.unique(group, return_inverse=True)
    else:  # the most frequent codes alone, the rest together
        rank = np.empty(distinct.size, dtype=np.int64)
        rank[np.argsort(-counts, kind="stable")] = np.arange(distinct.size)
        group = np.minimum(rank, _SCORE_GROUPS - 1)
    return group[inverse], int(group.max()) + 1


def _xlogx(counts: np.ndarray) -> np.ndarray:
    c = counts.astype(np.float64)
    return c * np.log(np.where(c > 0, c, 1.0))


def _systematic_resample(weights: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``m`` draws proportional to ``weights`` (low-variance resampling), shuffled."""
    positions = (rng.random() + np.arange(m)) / m
    idx = np.searchsorted(np.cumsum(weights), positions, side="right")
    idx = np.minimum(idx, len(weights) - 1)
    return rng.permutation(idx)
