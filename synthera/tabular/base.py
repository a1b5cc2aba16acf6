"""The synthesizer contract: fit, sample, save, load.

A synthesizer follows scikit-learn's conventions:

* the constructor only stores its keyword arguments;
* ``fit(df, *, metadata=None)`` learns and returns ``self``;
* ``sample(n, *, seed=None, conditions=None)`` checks that ``fit`` ran.

This base class does everything that is the same for every model: it
completes the metadata against the data, encodes and decodes the table (see
:mod:`synthera.tabular.transforms`), validates and encodes conditions, seeds
the random generators, and saves to / loads from a folder holding
``manifest.json`` and ``arrays.npz``; no pickle anywhere. A subclass
implements four private hooks:

``_fit(data, encoder, rng)``
    learn from ``data``, a dict of encoded arrays (one per modelled column);
``_sample(n, rng, conditions)``
    return such a dict with ``n`` rows; ``conditions`` maps column names to
    an encoded value (a code for discrete columns, a number for continuous
    ones) that every returned row must carry;
``_get_state()`` / ``_set_state(info, arrays)``
    the learned state as JSON-able ``info`` plus numeric numpy ``arrays``.

Differentially private models set ``differentially_private = True`` and take
``epsilon``, ``delta`` and ``seed`` parameters. For them ``fit`` learns
nothing from the data for free: bounds, category sets and nullability come
from the metadata the user declared (public) or are estimated under DP by
:func:`synthera.dp.domain.resolve_domain`, charged to the same budget; the
data are clipped into that domain before ``_fit`` sees them; generated
columns (ids, text, personal data) are described without looking at the
values. ``_fit`` then spends ``self.dp_budget_`` (what the domain left) and
sets ``self.privacy_``, whose ``epsilon_spent`` and ``delta`` the manifest
records at top level. With ``seed=None`` (their default) the noise comes from
the operating system's entropy; a known seed makes the noise known, so fix
one only for tests.

Examples
--------
>>> from synthera import datasets
>>> from synthera.tabular import get_synthesizer
>>> train, _ = datasets.load("adult")
>>> model = get_synthesizer("gaussian_copula")().fit(train)
>>> model.sample(5, seed=0).shape
(5, 15)
"""

from __future__ import annotations

import inspect
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from synthera._columns import EPOCH, category_codes, iso_seconds, to_seconds
from synthera._estimator import Estimator
from synthera._persist import check_format, read_model, write_model
from synthera.errors import DataError, ModelFileError, NotFittedError, UserInputError
from synthera.metadata import Metadata, infer_metadata, numpy_to_json

__all__ = ["BLOCK_ROWS", "DRAW_ROWS", "FEW_ROWS", "MIN_ROWS", "MODEL_FORMAT_VERSION", "Synthesizer", "draw_rng",
           "seed_entropy"]

#: ``fit`` refuses tables with fewer rows: a model of a handful of rows can only replay them
MIN_ROWS = 10
#: ``fit`` warns below this many rows: the model is rough and its rows sit close to the real ones
FEW_ROWS = 50

MODEL_FORMAT_VERSION = 2  # 2: manifest_sha256 covers the whole manifest
_MANIFEST = "manifest.json"
_ARRAYS = "arrays.npz"
_MAX_MANIFEST_BYTES = 64 * 1024 * 1024

#: Rows per seeded block: block ``b`` of a sample with seed ``s`` is seeded by
#: ``SeedSequence(s, spawn_key=(b,))``, whoever draws it (this process, or any Dask worker).
BLOCK_ROWS = 2**20
#: Rows per draw inside a block: draw ``j`` of block ``b`` uses the ``j``-th child that block's
#: ``SeedSequence`` spawns, ``SeedSequence(s, spawn_key=(b, j))``. A model always draws whole draws, so
#: a short sample costs at most one draw and is the prefix of every longer one.
DRAW_ROWS = 2**14
_DRAWS_PER_BLOCK = BLOCK_ROWS // DRAW_ROWS


def seed_entropy(seed: int | None) -> int:
    """The integer entropy of a sample: ``seed`` itself, or fresh operating-system entropy for ``None``.

    Draw it once and pass it to every block of one sample (and record it) so that blocks drawn in
    different processes belong to the same sample.
    """
    if seed is None:
        return int(np.random.SeedSequence().entropy)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UserInputError(f"seed must be a whole number >= 0 or None; got {seed!r}", param="seed")
    return int(seed)


def draw_rng(seed: int, draw: int) -> np.random.Generator:
    """The generator of draw number ``draw`` (of ``DRAW_ROWS`` rows), i.e. child ``draw % 64`` of its block."""
    block, child = divmod(int(draw), _DRAWS_PER_BLOCK)
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(block, child)))


#: name -> class and class -> name of the registered synthesizers; filled by
#: :func:`synthera.tabular.register_synthesizer`, which never touches the class itself
_BY_NAME: dict[str, type[Synthesizer]] = {}
_BY_CLASS: dict[type, str] = {}


def registered_name(cls: type) -> str | None:
    """The name ``cls`` is registered under, or None (a subclass does not inherit its parent's name)."""
    return _BY_CLASS.get(cls)


class _RegistryName:
    """``Synthesizer.name``: read from the registry, so registering never renames a class."""

    def __get__(self, obj, owner: type) -> str:
        return _BY_CLASS.get(owner, "")


class Synthesizer(Estimator):
    """Base class of every tabular synthesizer (see the module docstring)."""

    #: registry name (empty for an unregistered class), see :func:`synthera.tabular.register_synthesizer`
    name: ClassVar[str] = _RegistryName()  # type: ignore[assignment]
    #: True for models that spend a privacy budget (they take ``epsilon`` and ``delta``)
    differentially_private: ClassVar[bool] = False

    # -- public API --------------------------------------------------------------------

    def fit(
        self,
        data: pd.DataFrame,
        *,
        metadata: Metadata | Mapping | None = None,
        progress: bool = False,
        domain_is_public: bool = False,
    ):
        """Learn from ``data`` and return ``self``.

        Parameters
        ----------
        data
            The real table, with at least :data:`MIN_ROWS` rows (fewer than
            :data:`FEW_ROWS` draws a :class:`~synthera.errors.SyntheraWarning`).
        metadata
            Optional :class:`~synthera.metadata.Metadata` (or its dict form),
            e.g. edited by the user; what it leaves out is inferred.
        progress
            Show a progress bar on stderr.
        domain_is_public
            Differentially private models only: accept ``metadata`` that was
            measured from the data (``measured_from_data``), declaring that its
            bounds and categories are public knowledge. Without it such
            metadata is refused, because ε would not cover them.
        """
        from synthera.tabular.transforms import TableEncoder

        if not isinstance(data, pd.DataFrame):
            raise DataError(f"fit expects a pandas DataFrame; got {type(data).__name__}")
        self.check_params()
        _check_row_count(len(data))
        if self.differentially_private and not domain_is_public:
            _refuse_measured_metadata(metadata)
        md = infer_metadata(data, hints=metadata)
        self._progress = progress
        if self.differentially_private:
            return self._fit_private(data, md, metadata)
        encoder = TableEncoder().fit(data, md)
        encoded = encoder.encode(data)
        self.metadata_ = md
        self.encoder_ = encoder
        self._fit(encoded, encoder, np.random.default_rng(self.noise_seed()))
        self.n_rows_ = len(data)
        return self

    def _fit_private(self, data: pd.DataFrame, md: Metadata, declared) -> Synthesizer:
        """``fit`` for DP models: domain declared or DP-estimated, nothing else read for free."""
        from synthera.dp.accounting import default_delta
        from synthera.dp.domain import resolve_domain
        from synthera.dp.mechanisms import check_budget
        from synthera.tabular.transforms import TableEncoder

        delta = self.delta if self.delta is not None else default_delta(len(data))
        epsilon, delta = check_budget(self.epsilon, delta)
        if isinstance(declared, Mapping):
            declared = Metadata.from_dict(dict(declared))
        rng = np.random.default_rng(self.noise_seed())  # the DP-seed rule: None means OS entropy
        share = getattr(self, "domain_share", None)
        domain = resolve_domain(data, md, declared=declared, epsilon=epsilon, delta=delta, rng=rng,
                                **({"share": share} if share is not None else {}))
        md = _metadata_within(md, domain, declared)
        encoder = TableEncoder().fit(data.iloc[:0], md)  # generated columns: described from dtypes only
        self.metadata_ = md
        self.encoder_ = encoder
        self.domain_ = domain
        self.dp_budget_ = (epsilon - domain.epsilon, delta - domain.delta)
        self.dp_request_ = (epsilon, delta)
        self._fit(_encode_within(encoder, data, rng), encoder, rng)
        if not hasattr(self, "privacy_") or self.privacy_.get("epsilon_spent", np.inf) > epsilon:
            raise RuntimeError(f"{type(self).__name__} did not record a privacy spend within its budget")
        return self

    def sample(self, n: int, *, seed: int | None = None, conditions: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """``n`` synthetic rows with exactly the training table's columns and dtypes.

        Rows are drawn in fixed seeded blocks (see :func:`draw_rng`), so row
        ``i`` is the same in every sample with the same seed and conditions,
        whatever ``n``: ``sample(10, seed=0)`` is the first ten rows of
        ``sample(10_000, seed=0)`` and of a distributed sample with seed 0.

        Parameters
        ----------
        n
            Number of rows.
        seed
            Same seed, same rows. ``None`` draws fresh randomness.
        conditions
            ``{column: value}`` that every row must carry, e.g.
            ``{"sex": "Female", "income": ">50K"}``. Values may be given as
            text (as on the command line); they are parsed by column kind.

        Raises
        ------
        NotFittedError
            ``fit`` has not been called.
        UserInputError
            ``n`` is not a positive whole number, or a condition names an
            unknown column or a value the column cannot take.
        """
        self._check_fitted()
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise UserInputError(f"the number of rows must be a whole number >= 0; got {n!r}")
        return self.sample_rows(0, int(n), seed=seed_entropy(seed), conditions=conditions)

    def sample_rows(self, start: int, stop: int, *, seed: int,
                    conditions: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Rows ``start`` to ``stop - 1`` of the sample seeded by ``seed``, drawn by seeded blocks.

        ``sample_rows(0, n, seed=s)`` equals ``sample(n, seed=s)``; any range
        gives the same rows as the same slice of a longer sample, so workers
        can draw disjoint ranges and together write exactly one sample.
        The index of the result runs from 0.
        """
        self._check_fitted()
        start, stop, seed = int(start), int(stop), seed_entropy(seed)
        if start < 0 or stop < start:
            raise UserInputError(f"the row range must satisfy 0 <= start <= stop; got start={start}, stop={stop}")
        encoded = self._encode_conditions(conditions or {})
        if stop == start:
            arrays = {c: np.zeros(0) for c in self.encoder_.modelled}
            for name, value in encoded.items():
                arrays[name] = np.full(0, value, dtype=np.asarray(arrays[name]).dtype)
            return self.encoder_.decode(arrays, 0, np.random.default_rng(0))
        frames = []
        for draw in range(start // DRAW_ROWS, (stop - 1) // DRAW_ROWS + 1):
            frame = self._sample_draw(draw, seed, encoded)
            first = draw * DRAW_ROWS
            frames.append(frame.iloc[max(start - first, 0):min(stop - first, DRAW_ROWS)])
        out = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        return out.reset_index(drop=True)

    def _sample_draw(self, draw: int, seed: int, encoded: dict[str, Any]) -> pd.DataFrame:
        """The ``DRAW_ROWS`` rows of draw number ``draw``: always drawn whole, so any slice of it is reproducible."""
        rng = draw_rng(seed, draw)
        arrays = self._sample(DRAW_ROWS, rng, encoded)
        for name, value in encoded.items():
            arrays[name] = np.full(DRAW_ROWS, value, dtype=np.asarray(arrays[name]).dtype)
        frame = self.encoder_.decode(arrays, DRAW_ROWS, rng)
        return _offset_ids(frame, self.encoder_, draw * DRAW_ROWS)

    def save(self, path: str | os.PathLike) -> Path:
        """Save to a folder: ``manifest.json`` plus ``arrays.npz``. No pickle.

        The folder is written beside the target, loaded back and sampled once,
        and only then swapped in as a whole (see :mod:`synthera._persist`): a
        model that could not be loaded again is never saved, and an existing
        model under ``path`` is replaced completely or not at all.
        """
        from synthera import __version__

        self._check_fitted()
        name = registered_name(type(self))
        if name is None:
            raise UserInputError(
                f"{type(self).__name__} is not a registered synthesizer, so a saved model could not be loaded "
                "again; register it first: register_synthesizer(cls, name)"
            )
        info, arrays = self._get_state()
        for key, arr in arrays.items():
            if np.asarray(arr).dtype == object:
                raise TypeError(f"state array '{key}' has dtype object; models save numeric arrays only")

        def write_arrays(target: Path) -> None:
            with open(target, "wb") as fh:
                np.savez_compressed(fh, **arrays)

        manifest = {
            "format": "synthera-model",
            "format_version": MODEL_FORMAT_VERSION,
            "synthera_version": __version__,
            "class": name,
            "params": self.get_params(),
            "n_rows": self.n_rows_,
            "metadata": self.metadata_.to_dict(),
            "encoder": self.encoder_.state(),
            "model": info,
        }
        if self.differentially_private:
            manifest["epsilon_spent"] = self.privacy_["epsilon_spent"]
            manifest["delta"] = self.privacy_["delta"]
            manifest["privacy"] = self.privacy_
        return write_model(path, manifest, {_ARRAYS: write_arrays}, checksums={_ARRAYS: "arrays_sha256"},
                           default=numpy_to_json, verify=_loads_and_samples)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Synthesizer:
        """Load a model saved by :meth:`save`; refuses foreign or tampered folders.

        Loading never executes code from the folder: the manifest is JSON,
        the arrays are read with ``allow_pickle=False``, their checksum and
        the manifest's own checksum must match, and the class must be a
        registered synthesizer.
        """
        folder = Path(path)
        return read_model(folder, checksums={_ARRAYS: "arrays_sha256"}, max_bytes=_MAX_MANIFEST_BYTES,
                          check_header=lambda m: _check_header(folder, m),
                          build=lambda m: cls._from_manifest(folder, m))

    @classmethod
    def _from_manifest(cls, folder: Path, manifest: dict) -> Synthesizer:
        import synthera.tabular  # noqa: F401 - fills the registry
        from synthera.tabular.transforms import TableEncoder

        name = manifest.get("class")
        target = _BY_NAME.get(name) if isinstance(name, str) else None
        if target is None:
            raise ModelFileError(
                f"{folder} holds an unknown model '{name}'; this Synthera loads: {', '.join(_BY_NAME)}"
            )
        if cls is not Synthesizer and not issubclass(target, cls):
            raise ModelFileError(f"{folder} holds a '{name}' model, not a {cls.__name__}")
        try:
            params = manifest["params"]
            unknown = set(params) - set(target._param_names())
            if unknown:
                raise ModelFileError(f"{folder}: unknown parameter '{sorted(unknown)[0]}' in the manifest")
            obj = target(**_restore_tuples(target, params))
            obj.metadata_ = Metadata.from_dict(manifest["metadata"])
            obj.encoder_ = TableEncoder.from_state(obj.metadata_, manifest["encoder"])
            obj.n_rows_ = int(manifest["n_rows"])
            with np.load(folder / _ARRAYS, allow_pickle=False) as npz:
                arrays = {key: npz[key] for key in npz.files}
            obj._progress = False
            if target.differentially_private:
                obj.privacy_ = dict(manifest["privacy"])
                obj.privacy_["epsilon_spent"], obj.privacy_["delta"] = manifest["epsilon_spent"], manifest["delta"]
            obj._set_state(manifest["model"], arrays)
        except ModelFileError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, zipfile.BadZipFile, OSError) as exc:
            raise ModelFileError(
                f"{folder} is not a valid {target.__name__} model ({type(exc).__name__}: {exc}); save it again"
            ) from None
        return obj

    # -- hooks for subclasses -----------------------------------------------------------

    def _fit(self, data: dict[str, np.ndarray], encoder, rng: np.random.Generator) -> None:
        raise NotImplementedError

    def _sample(self, n: int, rng: np.random.Generator, conditions: dict[str, Any]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _get_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        raise NotImplementedError

    def _set_state(self, info: dict, arrays: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    # -- helpers ------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "encoder_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit first")

    def _encode_conditions(self, conditions: Mapping[str, Any]) -> dict[str, Any]:
        """Map user condition values to encoded values, or explain why they are impossible."""
        if not isinstance(conditions, Mapping):
            raise UserInputError(f"conditions must be a mapping of column -> value; got {type(conditions).__name__}")
        md, encoder = self.metadata_, self.encoder_
        encoded = {}
        for name, value in conditions.items():
            if name not in md:
                raise UserInputError(f"unknown column '{name}' in conditions; the columns are: {', '.join(md.names)}")
            col = md[name]
            if name not in encoder.modelled:
                raise UserInputError(
                    f"cannot condition on '{name}': it is a generated {col.kind} column; condition on a modelled column"
                )
            encoded[name] = _encode_condition(name, col, value, encoder)
        return encoded

    def _sample_matching(
        self,
        n: int,
        rng: np.random.Generator,
        conditions: dict[str, Any],
        draw,
        *,
        max_draws: int = 50_000_000,
    ) -> dict[str, np.ndarray]:
        """Collect ``n`` rows whose discrete conditioned codes match, from ``draw(k, rng)``.

        For models with no exact conditional sampler. Batches grow with the
        observed acceptance rate, so a value held by 1 row in 1,000 costs
        about 1,000 draws per row kept; continuous conditions are set exactly
        afterwards by :meth:`sample`. Gives up with a clear error only after
        ``max_draws`` rows.
        """
        discrete = {k: v for k, v in conditions.items() if self.encoder_.info(k).kind == "discrete"}
        if not discrete:
            return draw(n, rng)
        kept: list[dict[str, np.ndarray]] = []
        have, drawn, batch = 0, 0, max(1_000, 4 * n)
        while have < n:
            if drawn >= max_draws:
                wanted = ", ".join(f"{k}={v}" for k, v in conditions.items())
                raise UserInputError(
                    f"condition {wanted} is too rare for this model ({have} of {n} rows after {drawn:,} draws); "
                    "use the cascade or gaussian_copula model, which sample conditions exactly"
                )
            rows = draw(batch, rng)
            drawn += batch
            ok = np.ones(batch, dtype=bool)
            for name, code in discrete.items():
                ok &= np.asarray(rows[name]) == code
            if ok.any():
                kept.append({k: np.asarray(v)[ok] for k, v in rows.items()})
                have += int(ok.sum())
            rate = max(have, 1) / drawn
            batch = int(min(2_000_000, max(max_draws - drawn, 1), max(1_000, 1.2 * (n - have) / rate)))
        return {k: np.concatenate([part[k] for part in kept])[:n] for k in kept[0]}

    def _progress_bar(self, total: int, description: str):
        """A context manager yielding ``advance(k)``; silent unless fit(progress=True)."""
        from synthera._progress import progress_bar

        return progress_bar(total, description, enabled=getattr(self, "_progress", False))


def _offset_ids(frame: pd.DataFrame, encoder, offset: int) -> pd.DataFrame:
    """Shift the numbered ids of one draw (1..DRAW_ROWS) by ``offset`` rows, so ids stay unique across draws."""
    if offset == 0:
        return frame
    for name, col in encoder.metadata_.columns.items():
        info = encoder.generated_.get(name) if col.kind == "id" else None
        if info is None or (info.get("templates") and not info.get("integer")):
            continue  # template ids (e.g. AB-1234) are drawn at random, not numbered
        values = frame[name]
        if info.get("integer"):
            frame[name] = values + offset
        else:
            numbers = pd.to_numeric(values.str.slice(3), errors="coerce") + offset
            text = "id-" + numbers.astype("Int64").astype(str).str.zfill(8)
            frame[name] = text.where(values.notna(), None).astype(values.dtype)
    return frame


def _encode_condition(name: str, col, value: Any, encoder) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        raise UserInputError(f"condition on '{name}' needs a value, not a missing one")
    text = str(value).strip()
    if col.kind in ("categorical", "boolean"):
        levels = [col.false_value, col.true_value] if col.kind == "boolean" else list(col.categories)
        for code, level in enumerate(levels):
            if level == value or str(level) == text:
                return code
        if col.kind == "boolean" and text.lower() in ("true", "false", "yes", "no", "1", "0"):
            return int(text.lower() in ("true", "yes", "1"))
        shown = ", ".join(map(str, levels[:12])) + (", …" if len(levels) > 12 else "")
        raise UserInputError(f"impossible condition {name}={text}: '{name}' never takes that value; it takes {shown}")
    if col.kind == "numerical":
        try:
            number = float(text)
        except ValueError:
            raise UserInputError(f"condition {name}={text}: '{name}' is numerical; give a number") from None
        if col.integer and number != round(number):
            raise UserInputError(f"impossible condition {name}={text}: '{name}' holds whole numbers only")
        if (col.min is not None and number < col.min) or (col.max is not None and number > col.max):
            raise UserInputError(
                f"impossible condition {name}={text}: '{name}' lies between {col.min} and {col.max}"
            )
        return number
    # datetime: the column's own format first, then ISO 8601
    seconds = to_seconds(pd.Series([text]), col)[0]
    if np.isnan(seconds):
        try:
            seconds = iso_seconds(text)
        except (ValueError, TypeError):
            raise UserInputError(
                f"condition {name}={text}: not a date in the column's format {col.datetime_format or 'ISO 8601'}"
            ) from None
    if not iso_seconds(col.min) <= seconds <= iso_seconds(col.max):
        raise UserInputError(f"impossible condition {name}={text}: '{name}' lies between {col.min} and {col.max}")
    return float(seconds)


def _metadata_within(md: Metadata, domain, declared: Metadata | None) -> Metadata:
    """``md`` with every data-derived field replaced by the (public or DP) domain.

    Bounds, categories and nullability of modelled columns come from
    ``domain``; null fractions start at 0 (a DP model sets its own estimate);
    generated columns keep only what the user declared. The row count is left
    to the model.
    """
    from copy import deepcopy

    from synthera.tabular.transforms import MODELLED_KINDS

    out = deepcopy(md)
    out.n_rows = None
    for name, col in out.columns.items():
        col.null_fraction = 0.0
        if col.kind not in MODELLED_KINDS:
            hint = declared.columns.get(name) if declared is not None else None
            col.nullable = bool(hint.nullable) if hint is not None else False
            col.null_fraction = float(hint.null_fraction) if hint is not None and hint.nullable else 0.0
            continue
        dom = domain[name]
        col.nullable = bool(dom.nullable)
        if col.kind == "categorical":
            if not dom.categories:
                raise UserInputError(
                    f"no category of column '{name}' is frequent enough to release under this epsilon; "
                    "declare its categories in metadata or raise epsilon", param="metadata"
                )
            col.categories = list(dom.categories)
        elif col.kind == "numerical":
            low, high = float(dom.lower), float(dom.upper)
            if col.integer:
                low, high = float(np.ceil(low)), float(max(np.floor(high), np.ceil(low)))
            col.min, col.max = _plain_number(low), _plain_number(high)
        elif col.kind == "datetime":
            col.min = (EPOCH + pd.to_timedelta(float(dom.lower), unit="s")).isoformat()
            col.max = (EPOCH + pd.to_timedelta(float(dom.upper), unit="s")).isoformat()
    return out


def _plain_number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def _encode_within(encoder, data: pd.DataFrame, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Encode ``data`` into the model's domain, row by row, without failing on what lies outside.

    Numbers are clipped to the bounds; a category outside the category set
    (or a null in a column whose domain has none) becomes a null where the
    domain has nulls and a uniformly drawn category otherwise. Each row is
    mapped on its own, so a row's influence on the encoded table stays one row.
    """
    md = encoder.metadata_
    out = {}
    for info in encoder.columns_:
        col = md[info.name]
        series = data[info.name]
        if info.kind == "continuous":
            if col.kind == "numerical":
                values = encoder.encode_column(info.name, series)
            else:
                values = to_seconds(series, col)
            low = col.min if col.kind == "numerical" else iso_seconds(col.min)
            high = col.max if col.kind == "numerical" else iso_seconds(col.max)
            values = np.clip(values, low, high)
            if not col.nullable and np.isnan(values).any():
                nan = np.isnan(values)
                values[nan] = rng.uniform(low, high, int(nan.sum()))
                if col.integer:
                    values[nan] = np.round(values[nan])
            out[info.name] = values
            continue
        levels = [col.false_value, col.true_value] if col.kind == "boolean" else col.categories
        codes = category_codes(series, levels)
        outside = codes == -1
        if outside.any():
            codes[outside] = len(levels) if col.nullable else rng.integers(0, len(levels), int(outside.sum()))
        out[info.name] = codes
    return out


def _restore_tuples(cls: type, params: dict) -> dict:
    """JSON turns tuples into lists; give back tuples where the constructor's default is one."""
    defaults = {p.name: p.default for p in inspect.signature(cls.__init__).parameters.values()}
    return {k: tuple(v) if isinstance(v, list) and isinstance(defaults.get(k), tuple) else v for k, v in params.items()}


def _check_row_count(n_rows: int) -> None:
    """Refuse a table too small to model without replaying it; warn on a small one."""
    if n_rows < MIN_ROWS:
        raise DataError(
            f"the table has {n_rows} row(s); fit needs at least {MIN_ROWS}, because a model of fewer rows can only "
            "copy them; add rows"
        )
    if n_rows < FEW_ROWS:
        import warnings

        from synthera.errors import SyntheraWarning

        warnings.warn(
            f"the table has only {n_rows} rows (fewer than {FEW_ROWS}): the model is rough and its rows may sit "
            "close to the real ones; check the privacy section of `synthera evaluate` before sharing them",
            SyntheraWarning,
            stacklevel=3,
        )


def _refuse_measured_metadata(metadata) -> None:
    """DP fits refuse metadata measured from the data unless the user says its domain is public."""
    measured = metadata.get("measured_from_data", False) if isinstance(metadata, Mapping) else (
        getattr(metadata, "measured_from_data", False))
    if measured:
        raise UserInputError(
            "metadata was measured from the data (`synthera inspect`), so ε does not cover its bounds and "
            "categories; let the model estimate the domain under DP (omit metadata) or, if the domain is public "
            "knowledge, pass domain_is_public=True", param="domain_is_public"
        )


def _loads_and_samples(folder: Path) -> None:
    """What :meth:`Synthesizer.save` checks before swapping a new model in: it loads and samples."""
    Synthesizer.load(folder).sample(2, seed=0)


def _check_header(folder: Path, manifest: dict) -> None:
    check_format(folder, manifest, expected="synthera-model", version=MODEL_FORMAT_VERSION, what="model",
                 redo="fit the model again", manifest_name=_MANIFEST)
