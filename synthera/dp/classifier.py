"""A classifier trained with DP-SGD (Opacus), saved as safetensors plus a JSON manifest.

The model is a small MLP over the encoded table. Every input scale comes from
the column :mod:`domain <synthera.dp.domain>`, never from data statistics:

* numerical and datetime columns are clipped to the domain's bounds and give
  two features in [-1, 1], the value scaled linearly by the bounds and
  ``log1p(x - lower)`` scaled by ``log1p(upper - lower)``, plus a null flag
  when the column is nullable;
* categorical and boolean columns are one-hot over the domain's categories,
  plus one slot for values outside them (rare or unseen) and one for nulls
  when nullable.

Training is DP-SGD: each step samples every row independently with
probability ``q = batch_size / n`` (Poisson sampling), clips each row's
gradient to ``max_grad_norm``, adds Gaussian noise of standard deviation
``noise_multiplier · max_grad_norm`` to their sum, divides by the expected
batch size and takes an Adam step. The noise is calibrated before training
with Opacus's RDP accountant (:func:`synthera.dp.accounting.plan_training`)
so that the whole schedule spends at most the training budget; training
stops early instead of overshooting when the noise would have to exceed
``max_noise_multiplier``.

The budget ``epsilon`` covers everything learned from the rows: when the
domain is not declared public in ``metadata``, :data:`~synthera.dp.domain.DOMAIN_SHARE`
of ε and δ estimates it under DP and the rest trains (basic composition).
``epsilon=float("inf")`` trains a non-private baseline through the same loop,
without clipping or noise.

What the budget does not cover: the hyper-parameters (the defaults were
tuned once on Adult and then frozen), the column kinds, and the number of rows.

Examples
--------
>>> from synthera import datasets
>>> train, test = datasets.load("adult")
>>> clf = DPClassifier(epsilon=1.0, seed=0).fit(train, target="income")  # doctest: +SKIP
>>> clf.epsilon_spent_ <= 1.0  # doctest: +SKIP
True
>>> clf.predict_proba(test).shape  # doctest: +SKIP
(16281, 2)
"""

from __future__ import annotations

import math
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synthera._columns import category_codes
from synthera._estimator import Estimator, Interval, Rule, Whole
from synthera._extras import require
from synthera._persist import check_format, read_model, write_model
from synthera.dp.accounting import (
    ACCOUNTANT,
    MAX_NOISE_MULTIPLIER,
    BudgetTooSmall,
    TrainingPlan,
    default_delta,
    epsilon_spent,
    plan_training,
)
from synthera.dp.domain import Domain, domain_from_metadata, estimate_domain, resolve_domain, to_float
from synthera.errors import DataError, ModelFileError, NotFittedError, SyntheraWarning, UserInputError

__all__ = ["FORMAT", "FORMAT_VERSION", "BudgetSplit", "DPClassifier", "load_classifier"]

FORMAT = "synthera-dp-classifier"
FORMAT_VERSION = 2  # 2: manifest_sha256 covers the whole manifest
_MANIFEST = "manifest.json"
_WEIGHTS = "model.safetensors"
_MAX_MANIFEST_BYTES = 16 << 20


@dataclass(frozen=True)
class BudgetSplit:
    """How the total ε and δ are split between the domain estimate and training (basic composition)."""

    epsilon: float
    delta: float
    epsilon_domain: float
    delta_domain: float

    @property
    def epsilon_training(self) -> float:
        return self.epsilon - self.epsilon_domain if math.isfinite(self.epsilon) else math.inf

    @property
    def delta_training(self) -> float:
        return self.delta - self.delta_domain


def _is_widths(value: Any) -> bool:
    return isinstance(value, (tuple, list)) and all(
        not isinstance(h, bool) and isinstance(h, (int, np.integer)) and h >= 1 for h in value
    )


@dataclass(frozen=True)
class _Feature:
    """How one input column is read: its metadata kind and, for text dates, the format."""

    name: str
    kind: str  # numerical, datetime, categorical, boolean
    datetime_format: str | None


class DPClassifier(Estimator):
    """MLP classifier trained with DP-SGD; sklearn-style.

    Parameters
    ----------
    epsilon
        Total privacy budget (domain estimation plus training); ``inf`` for
        a non-private baseline.
    delta
        Total δ; default ``1 / (10 n)`` rounded down to a power of ten.
    epochs
        Planned passes over the data (``epochs · ceil(n / batch_size)`` steps).
    batch_size
        Expected batch size of Poisson sampling.
    learning_rate
        Adam's step size.
    max_grad_norm
        Per-sample gradient clipping norm.
    hidden
        Widths of the hidden layers (tanh); ``()`` is multinomial logistic regression.
    domain_share
        Share of ε and δ spent estimating the columns' domains when the
        metadata does not declare them.
    max_noise_multiplier
        Noisiest step worth taking; a budget that needs more stops training
        early, and one that cannot afford a single step is an error.
    seed
        ``None`` (default): the noise, sampling and initialisation come from
        the operating system's entropy, so nobody can regenerate the noise.
        A fixed seed makes the same data give the same model on the same
        machine, which is for tests only: a known seed makes the noise known.
    """

    differentially_private = True
    _parameter_constraints = {
        "epsilon": Interval(0, says="be > 0 (or inf for a non-private baseline)"),
        "delta": Interval(0, 1, optional=True, says="lie strictly between 0 and 1 (e.g. 1e-6)"),
        "epochs": Whole(1),
        "batch_size": Whole(1),
        "learning_rate": Interval(0, finite=True),
        "max_grad_norm": Interval(0, finite=True),
        "hidden": Rule(_is_widths, "be a tuple of layer widths >= 1, e.g. (64,)"),
        "domain_share": Interval(0, 1),
        "max_noise_multiplier": Interval(0, finite=True),
        "seed": Whole(0, optional=True),
    }

    def __init__(
        self,
        *,
        epsilon: float = 1.0,
        delta: float | None = None,
        epochs: int = 20,
        batch_size: int = 4096,
        learning_rate: float = 0.01,
        max_grad_norm: float = 1.0,
        hidden: tuple = (64,),
        domain_share: float = 0.2,
        max_noise_multiplier: float = MAX_NOISE_MULTIPLIER,
        seed: int | None = None,
    ) -> None:
        self.epsilon = epsilon
        self.delta = delta
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.max_grad_norm = max_grad_norm
        self.hidden = hidden
        self.domain_share = domain_share
        self.max_noise_multiplier = max_noise_multiplier
        self.seed = seed

    # -- fitting --------------------------------------------------------------------

    def fit(
        self,
        df: pd.DataFrame,
        *,
        target: str,
        metadata=None,
        domain: Domain | None = None,
        progress: bool = False,
    ) -> DPClassifier:
        """Train on ``df`` to predict column ``target``; returns ``self``.

        The steps: check the inputs, split the budget (:meth:`_budget`), plan
        the noise (before anything is spent), find the columns' domain
        (:meth:`_domain`), encode (:meth:`_encode`), train (:meth:`_train_dp_sgd`).

        Parameters
        ----------
        df
            The private training table.
        target
            The column to predict (categorical or boolean).
        metadata
            Metadata the user declares: its column kinds guide the encoding,
            and its ``min``/``max``/``categories`` are taken as public
            knowledge and cost no budget. Pass only what does not come from
            these rows (metadata inferred from ``df`` itself would leak).
            Id, PII and text columns are not used.
        domain
            A ready :class:`~synthera.dp.domain.Domain` for every column
            used (its ε and δ are charged to the budget), instead of
            declaring or estimating one.
        progress
            Draw a progress bar on stderr.
        """
        self.check_params()
        metadata = _as_metadata(df, metadata)
        kinds, modelled = _columns(df, target, metadata)
        columns = modelled + [target]
        public = _declared_domain(metadata, columns, domain)
        budget = self._budget(n=len(df), columns=columns, public=public, given=domain)
        plan = self._plan(budget, n=len(df))  # a budget too small for one step is refused before anything is spent
        seeds = self.noise_seed().spawn(4)  # the DP-seed rule: seed=None draws the noise from the OS
        domain = self._domain(df, kinds=kinds, columns=columns, target=target, metadata=metadata, public=public,
                              given=domain, budget=budget, rng=np.random.default_rng(seeds[0]))
        features, x, y = self._encode(df, kinds=kinds, modelled=modelled, target=target, domain=domain)
        if plan.truncated:
            warnings.warn(
                f"epsilon {budget.epsilon:g} affords only {plan.steps} of {plan.planned_steps} "
                f"steps at noise multiplier {plan.noise_multiplier:g}; training stops early",
                SyntheraWarning,
                stacklevel=2,
            )
        start = time.perf_counter()
        net = self._train_dp_sgd(x, y, n_classes=len(domain[target].categories), plan=plan, seeds=seeds[1:],
                                 n=len(df), progress=progress)
        self.fit_seconds_ = time.perf_counter() - start
        self._record(net, target=target, features=features, domain=domain, plan=plan, budget=budget, n=len(df))
        return self

    def _budget(self, *, n: int, columns: list[str], public: Domain | None, given: Domain | None) -> BudgetSplit:
        """Split ε and δ between the domain estimate and training (basic composition)."""
        delta = float(self.delta) if self.delta is not None else default_delta(n)
        epsilon = float(self.epsilon)
        if given is not None:
            eps_domain, delta_domain = given.epsilon, given.delta
        else:
            undeclared = any(c not in public for c in columns)
            if math.isinf(epsilon):
                eps_domain, delta_domain = (math.inf if undeclared else 0.0), 0.0
            else:
                eps_domain = self.domain_share * epsilon if undeclared else 0.0
                delta_domain = self.domain_share * delta if undeclared else 0.0
        budget = BudgetSplit(epsilon, delta, eps_domain, delta_domain)
        if not budget.epsilon_training > 0 or not budget.delta_training > 0:
            raise UserInputError(
                f"the domain already spends epsilon {eps_domain:g}, delta {delta_domain:g} of the budget "
                f"({epsilon:g}, {delta:g}); nothing is left to train with, raise epsilon"
            )
        return budget

    def _plan(self, budget: BudgetSplit, *, n: int) -> TrainingPlan:
        """The noise and number of steps the training share of the budget affords."""
        q = min(1.0, self.batch_size / n)
        planned = self.epochs * math.ceil(n / self.batch_size)
        try:
            return plan_training(epsilon=budget.epsilon_training, delta=budget.delta_training, sample_rate=q,
                                 steps=planned, max_noise_multiplier=self.max_noise_multiplier)
        except BudgetTooSmall:
            spent = f" after {budget.epsilon_domain:g} for the domain" if budget.epsilon_domain else ""
            raise BudgetTooSmall(
                f"epsilon {budget.epsilon:g} is too small for even one training step: the "
                f"{budget.epsilon_training:g} left{spent} would need a noise multiplier above "
                f"{self.max_noise_multiplier:g}; raise epsilon"
            ) from None

    def _domain(self, df: pd.DataFrame, *, kinds, columns: list[str], target: str, metadata, public: Domain | None,
                given: Domain | None, budget: BudgetSplit, rng: np.random.Generator) -> Domain:
        """The columns' domain: the one given, or declared parts plus a DP estimate of the rest."""
        if given is not None:
            domain = public
        elif math.isinf(budget.epsilon):
            domain = resolve_domain(df, kinds, declared=metadata, epsilon=budget.epsilon, delta=budget.delta,
                                    rng=rng, columns=columns)
        else:
            domain = _estimate(df, kinds, public, columns, target, budget.epsilon_domain, budget.delta_domain, rng)
        classes = domain[target].categories
        if domain[target].kind != "categorical" or classes is None or len(classes) < 2:
            raise UserInputError(
                f"the budget revealed {len(classes or ())} class(es) of target '{target}'; a classifier needs 2 or "
                "more: declare the target's categories in the metadata or raise epsilon"
            )
        return domain

    def _encode(self, df: pd.DataFrame, *, kinds, modelled: list[str], target: str,
                domain: Domain) -> tuple[list[_Feature], np.ndarray, np.ndarray]:
        """Inputs and class codes; rows whose class was not revealed (rare or null) are left out."""
        classes = domain[target].categories
        features = [_Feature(c, kinds[c].kind, kinds[c].datetime_format) for c in modelled]
        x = _encode_features(df, features, domain)
        y = _codes(df[target], classes)
        keep = y < len(classes)
        x, y = x[keep], y[keep]
        if len(y) == 0:
            raise DataError(f"no row of target '{target}' holds one of its classes {list(classes)}")
        return features, x, y

    def _train_dp_sgd(self, x: np.ndarray, y: np.ndarray, *, n_classes: int, plan: TrainingPlan, seeds, n: int,
                      progress: bool):
        """DP-SGD with Poisson sampling (or plain SGD for ε = inf); returns the trained network."""
        import torch

        from synthera._progress import progress_bar

        init_gen, sample_gen, noise_gen = (torch.Generator().manual_seed(int(s.generate_state(1)[0])) for s in seeds)
        net = _build_net(x.shape[1], tuple(self.hidden), n_classes, init_gen)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        private = plan.noise_multiplier > 0
        q = plan.sample_rate
        expected = max(1, round(q * n))  # n: every row, also those left out for an unrevealed class
        model, optimizer = self._optimizer(net, plan, expected, noise_gen)
        model.train()
        label = "Training (DP-SGD)" if private else "Training (non-private)"
        with warnings.catch_warnings(), progress_bar(plan.steps, label, enabled=progress) as advance:
            # Opacus hooks warn that the inputs need no gradient; they do not.
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            for _ in range(plan.steps):
                mask = torch.rand(len(yt), generator=sample_gen) < q
                idx = mask.nonzero().squeeze(1)
                loss = torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx], reduction="sum")
                if not private:
                    loss = loss / expected
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                advance(1)
        net.eval()
        return net

    def _optimizer(self, net, plan: TrainingPlan, expected: int, noise_gen):
        """Adam, wrapped by Opacus (per-sample clipping and noise from ``noise_gen``) when the plan is private."""
        import torch

        if plan.noise_multiplier <= 0:
            return net, torch.optim.Adam(net.parameters(), lr=self.learning_rate)
        GradSampleModule = require("opacus", "dp").GradSampleModule
        DPOptimizer = require("opacus.optimizers", "dp").DPOptimizer

        model = GradSampleModule(net, loss_reduction="sum")
        optimizer = DPOptimizer(
            torch.optim.Adam(model.parameters(), lr=self.learning_rate),
            noise_multiplier=plan.noise_multiplier,
            max_grad_norm=self.max_grad_norm,
            expected_batch_size=expected,
            loss_reduction="mean",  # (sum of clipped grads + noise) / expected batch size
            generator=noise_gen,
        )
        return model, optimizer

    def _record(self, net, *, target: str, features: list[_Feature], domain: Domain, plan: TrainingPlan,
                budget: BudgetSplit, n: int) -> None:
        """Set the fitted attributes, with the ε the accountant reports for the steps taken."""
        private = plan.noise_multiplier > 0
        self.net_ = net
        self.target_ = target
        self.features_ = features
        self.classes_ = tuple(domain[target].categories)
        self.domain_ = domain
        self.noise_multiplier_ = plan.noise_multiplier
        self.sample_rate_ = plan.sample_rate
        self.steps_ = plan.steps
        self.planned_steps_ = plan.planned_steps
        self.epsilon_training_ = (
            epsilon_spent(noise_multiplier=plan.noise_multiplier, sample_rate=plan.sample_rate, steps=plan.steps,
                          delta=budget.delta_training)
            if private else math.inf
        )
        self.epsilon_domain_ = domain.epsilon
        self.epsilon_spent_ = self.epsilon_domain_ + self.epsilon_training_
        self.delta_training_ = budget.delta_training
        self.delta_domain_ = domain.delta
        self.delta_ = budget.delta_training + domain.delta
        self.n_rows_ = n
        self.accountant_ = ACCOUNTANT
        if private and self.epsilon_spent_ > budget.epsilon * (1 + 1e-12):  # the plan guarantees this
            raise AssertionError(f"spent {self.epsilon_spent_} > budget {budget.epsilon}")

    # -- prediction -----------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "net_"):
            raise NotFittedError("this DPClassifier is not fitted yet; call fit first")

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        """Class probabilities, one column per class in ``classes_`` order."""
        import torch

        self._check_fitted()
        if not isinstance(df, pd.DataFrame):
            raise DataError(f"expected a pandas DataFrame; got {type(df).__name__}")
        missing = [f.name for f in self.features_ if f.name not in df.columns]
        if missing:
            raise DataError(
                f"column '{missing[0]}' is missing from the data; the model was trained with it "
                f"({len(missing)} missing in all)"
            )
        x = torch.from_numpy(_encode_features(df, self.features_, self.domain_))
        with torch.no_grad():
            return torch.softmax(self.net_(x), dim=1).numpy().astype(np.float64)

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """The most probable class label of each row."""
        proba = self.predict_proba(df)
        labels = np.empty(len(proba), dtype=object)
        labels[:] = [self.classes_[i] for i in proba.argmax(axis=1)]
        return labels

    # -- persistence ----------------------------------------------------------------

    def _manifest(self, weights_sha256: str) -> dict:
        from synthera import __version__

        params = self.get_params()
        params["hidden"] = list(params["hidden"])
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "synthera_version": __version__,
            "class": type(self).__name__,
            "params": {k: _json_float(v) for k, v in params.items()},
            "target": self.target_,
            "features": [{"name": f.name, "kind": f.kind, "datetime_format": f.datetime_format}
                         for f in self.features_],
            "classes": list(self.classes_),
            "domain": self.domain_.to_dict(),
            "n_rows": self.n_rows_,
            "epsilon": _json_float(float(self.epsilon)),
            "epsilon_spent": _json_float(self.epsilon_spent_),
            "epsilon_training": _json_float(self.epsilon_training_),
            "epsilon_domain": _json_float(self.epsilon_domain_),
            "delta": self.delta_,
            "delta_training": self.delta_training_,
            "delta_domain": self.delta_domain_,
            "noise_multiplier": self.noise_multiplier_,
            "max_grad_norm": self.max_grad_norm,
            "sample_rate": self.sample_rate_,
            "steps": self.steps_,
            "planned_steps": self.planned_steps_,
            "accountant": self.accountant_,
            "weights_sha256": weights_sha256,
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Save to a folder: ``manifest.json`` plus ``model.safetensors``. No pickle.

        Written beside the target, loaded back, then swapped in as a whole
        (see :mod:`synthera._persist`).
        """
        save_file = require("safetensors.torch", "dp").save_file

        self._check_fitted()
        tensors = {k: v.detach().contiguous().clone() for k, v in self.net_.state_dict().items()}
        manifest = self._manifest("")
        files = {_WEIGHTS: lambda p: save_file(tensors, str(p), metadata={"format": FORMAT})}
        return write_model(path, manifest, files, checksums={_WEIGHTS: "weights_sha256"}, verify=type(self).load)

    @classmethod
    def load(cls, path: str | os.PathLike) -> DPClassifier:
        """Load a folder written by :meth:`save`; refuses foreign, tampered or inconsistent ones.

        Nothing in the folder is executed: the manifest is JSON, the weights
        are safetensors whose checksum must match the manifest, their shapes
        must match the recorded architecture, the recorded ε must equal
        the accountant's ε for the recorded noise, sampling rate and steps,
        and the manifest must match its own checksum.
        """
        folder = Path(path)
        return read_model(folder, checksums={_WEIGHTS: "weights_sha256"}, max_bytes=_MAX_MANIFEST_BYTES,
                          check_header=lambda m: _check_header(folder, m),
                          build=lambda m: cls._from_manifest(folder, m), how_to_make="train a model first")

    @classmethod
    def _from_manifest(cls, folder: Path, manifest: dict) -> DPClassifier:
        import torch
        SafetensorError = require("safetensors", "dp").SafetensorError
        load_file = require("safetensors.torch", "dp").load_file

        weights = folder / _WEIGHTS
        try:
            params = dict(manifest["params"])
            if set(params) != set(cls.param_names()):
                odd = min(set(params) ^ set(cls.param_names()))
                raise ModelFileError(f"{folder}: unexpected or missing parameter '{odd}' in the manifest")
            params = {k: _from_json_float(v) for k, v in params.items()}
            params["hidden"] = tuple(params["hidden"])
            obj = cls(**params)
            obj.check_params()
            obj.target_ = _expect(manifest["target"], str, "target")
            obj.features_ = [_read_feature(f) for f in manifest["features"]]
            obj.classes_ = tuple(manifest["classes"])
            obj.domain_ = Domain.from_dict(manifest["domain"])
            for f in obj.features_ + [_Feature(obj.target_, "categorical", None)]:
                if f.name not in obj.domain_:
                    raise ModelFileError(f"{folder}: column '{f.name}' has no domain in the manifest")
            if tuple(obj.domain_[obj.target_].categories or ()) != obj.classes_ or len(obj.classes_) < 2:
                raise ModelFileError(f"{folder}: the classes do not match the target's domain")
            obj.n_rows_ = _expect(manifest["n_rows"], int, "n_rows")
            obj.noise_multiplier_ = float(manifest["noise_multiplier"])
            obj.sample_rate_ = float(manifest["sample_rate"])
            obj.steps_ = _expect(manifest["steps"], int, "steps")
            obj.planned_steps_ = _expect(manifest["planned_steps"], int, "planned_steps")
            obj.epsilon_spent_ = _from_json_float(manifest["epsilon_spent"])
            obj.epsilon_training_ = _from_json_float(manifest["epsilon_training"])
            obj.epsilon_domain_ = _from_json_float(manifest["epsilon_domain"])
            obj.delta_ = float(manifest["delta"])
            obj.delta_training_ = float(manifest["delta_training"])
            obj.delta_domain_ = float(manifest["delta_domain"])
            obj.accountant_ = _expect(manifest["accountant"], str, "accountant")
            if _from_json_float(manifest["epsilon"]) != float(obj.epsilon):
                raise ModelFileError(f"{folder}: the recorded budget does not match the parameters")
            _check_accounting(folder, obj)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tensors = load_file(str(weights))
            n_inputs = _n_inputs(obj.features_, obj.domain_)
            net = _build_net(n_inputs, obj.hidden, len(obj.classes_), torch.Generator().manual_seed(0))
            expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
            found = {k: tuple(v.shape) for k, v in tensors.items()}
            if expected != found or any(v.dtype != torch.float32 for v in tensors.values()):
                raise ModelFileError(f"{weights}: the weights do not match the architecture in the manifest")
            net.load_state_dict(tensors)
            net.eval()
            obj.net_ = net
        except ModelFileError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, SafetensorError, OSError) as exc:
            raise ModelFileError(
                f"{folder} is not a valid DPClassifier model ({type(exc).__name__}: {exc}); save it again"
            ) from None
        return obj


def load_classifier(path: str | os.PathLike) -> DPClassifier:
    """Load a DP classifier folder written by :meth:`DPClassifier.save`."""
    return DPClassifier.load(path)


# --------------------------------------------------------------------------- inputs


def _as_metadata(df: pd.DataFrame, metadata):
    """``metadata`` as :class:`~synthera.metadata.Metadata`; warns when it looks inferred from these very rows."""
    from synthera.metadata import Metadata

    if not isinstance(df, pd.DataFrame):
        raise DataError(f"expected a pandas DataFrame; got {type(df).__name__}")
    if isinstance(metadata, dict):
        metadata = Metadata.from_dict(metadata)
    if metadata is not None and metadata.n_rows == len(df) and any(
        c.min is not None or c.categories for c in metadata.columns.values()
    ):
        warnings.warn(
            f"the metadata records {len(df):,} rows, like this table: if it was inferred from these rows "
            "(e.g. by `synthera inspect`), its min/max and categories are not public and epsilon does not "
            "cover them; declare only what is public, or pass no metadata",
            SyntheraWarning,
            stacklevel=3,
        )
    return metadata


def _columns(df: pd.DataFrame, target: str, metadata):
    """The column kinds and the feature columns; the target must be categorical or boolean."""
    from synthera.metadata import infer_metadata

    if target not in df.columns:
        raise UserInputError(
            f"target column '{target}' is not in the data; pick one of: {', '.join(map(str, df.columns[:20]))}"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntheraWarning)
        kinds = infer_metadata(df, hints=metadata)
    tkind = kinds[target].kind
    if tkind not in ("categorical", "boolean"):
        raise UserInputError(
            f"target column '{target}' is {tkind}; train-private trains classifiers, so the target must be "
            "categorical or boolean (declare its kind in the metadata)"
        )
    modelled = [n for n in kinds.of_kind("numerical", "datetime", "categorical", "boolean") if n != target]
    if not modelled:
        raise DataError(f"the table has no usable feature columns besides '{target}'")
    return kinds, modelled


def _declared_domain(metadata, columns: list[str], given: Domain | None) -> Domain:
    """The ``given`` domain cut to ``columns``, or the part of the domain the metadata declares."""
    if given is not None:
        missing = [c for c in columns if c not in given]
        if missing:
            raise UserInputError(f"the domain given has no column '{missing[0]}'; include every column used")
        return Domain({c: given[c] for c in columns}, given.epsilon, given.delta)
    if metadata is None:
        return Domain()
    return domain_from_metadata(metadata, [c for c in columns if c in metadata], partial=True)


# --------------------------------------------------------------------------- domain


_TARGET_SHARE = 0.25  # of the domain budget, for the target's classes when features need estimating too


def _estimate(df, kinds, public: Domain, columns: list[str], target: str, epsilon: float, delta: float,
              rng: np.random.Generator) -> Domain:
    """DP domain of the undeclared columns; the target's classes get their own slice of the budget.

    Without its classes a classifier cannot be trained at all, so the target
    gets a quarter of the domain budget (all of it if the features are all
    declared) rather than one column's even share. Basic composition: the
    spent ε and δ are the sums over the two estimates.
    """
    features = [c for c in columns if c != target and c not in public]
    target_todo = target not in public
    share = _TARGET_SHARE if features and target_todo else (1.0 if target_todo else 0.0)
    out = dict(public.columns)
    eps_spent = delta_spent = 0.0
    for names, part in ((features, 1.0 - share), ([target] if target_todo else [], share)):
        if not names:
            continue
        dom = estimate_domain(df, kinds, epsilon=epsilon * part, delta=delta * part, rng=rng, columns=names)
        out.update(dom.columns)
        eps_spent += dom.epsilon
        delta_spent += dom.delta
    return Domain({c: out[c] for c in columns}, eps_spent, delta_spent)


# --------------------------------------------------------------------------- encoding


def _codes(series: pd.Series, categories: tuple) -> np.ndarray:
    """Index of each value in ``categories`` (matched by value, then by text); ``len(categories)`` for the rest."""
    codes = category_codes(series, list(categories), by_text=True)
    return np.where(codes < 0, len(categories), codes)


def _n_inputs(features: list[_Feature], domain: Domain) -> int:
    total = 0
    for f in features:
        dom = domain[f.name]
        if dom.kind == "numerical":
            total += 2 + int(dom.nullable)
        else:
            total += len(dom.categories or ()) + 1 + int(dom.nullable)
    return total


def _encode_features(df: pd.DataFrame, features: list[_Feature], domain: Domain) -> np.ndarray:
    """The model's inputs: float32, every scale taken from ``domain``."""
    blocks = []
    for f in features:
        dom = domain[f.name]
        series = df[f.name]
        if dom.kind == "numerical":
            values = to_float(series, f)
            null = np.isnan(values)
            span = dom.upper - dom.lower
            clipped = np.clip(np.where(null, dom.lower, values), dom.lower, dom.upper) - dom.lower
            linear = 2.0 * clipped / span - 1.0
            logged = 2.0 * np.log1p(clipped) / math.log1p(span) - 1.0
            cols = [np.where(null, 0.0, linear), np.where(null, 0.0, logged)]
            if dom.nullable:
                cols.append(null.astype(float))
            blocks.append(np.column_stack(cols))
        else:
            cats = dom.categories or ()
            codes = _codes(series, cats)
            width = len(cats) + 1 + int(dom.nullable)
            if dom.nullable:
                codes = np.where(series.isna().to_numpy(), len(cats) + 1, codes)
            onehot = np.zeros((len(series), width))
            onehot[np.arange(len(series)), codes] = 1.0
            blocks.append(onehot)
    return np.ascontiguousarray(np.hstack(blocks), dtype=np.float32)


def _build_net(n_inputs: int, hidden: tuple, n_classes: int, generator):
    """The MLP, initialised from ``generator`` (not torch's global seed)."""
    import torch
    from torch import nn

    layers: list = []
    width = n_inputs
    for h in hidden:
        layers += [nn.Linear(width, h), nn.Tanh()]
        width = h
    layers.append(nn.Linear(width, n_classes))
    net = nn.Sequential(*layers)
    with torch.no_grad():
        for layer in net:
            if isinstance(layer, nn.Linear):
                bound = 1.0 / math.sqrt(layer.in_features)
                layer.weight.uniform_(-bound, bound, generator=generator)
                layer.bias.zero_()
    return net


# --------------------------------------------------------------------------- manifest helpers


def _json_float(value: Any) -> Any:
    return "inf" if isinstance(value, float) and math.isinf(value) else value


def _from_json_float(value: Any) -> Any:
    return math.inf if value == "inf" else value


def _expect(value: Any, kind: type, name: str) -> Any:
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ModelFileError(f"manifest field '{name}' must be {kind.__name__}; got {value!r}")
    return value


def _read_feature(spec: Any) -> _Feature:
    if not isinstance(spec, dict) or set(spec) != {"name", "kind", "datetime_format"}:
        raise ModelFileError(f"malformed feature in the manifest: {spec!r}")
    if spec["kind"] not in ("numerical", "datetime", "categorical", "boolean"):
        raise ModelFileError(f"unknown feature kind in the manifest: {spec['kind']!r}")
    fmt = spec["datetime_format"]
    if fmt is not None and not isinstance(fmt, str):
        raise ModelFileError(f"malformed datetime_format in the manifest: {fmt!r}")
    return _Feature(_expect(spec["name"], str, "features.name"), spec["kind"], fmt)


def _check_accounting(folder: Path, obj: DPClassifier) -> None:
    """The privacy claim in the manifest must be what the accountant says for its own numbers."""
    if obj.accountant_ != ACCOUNTANT:
        raise ModelFileError(f"{folder}: unknown accountant {obj.accountant_!r} in the manifest")
    if not math.isclose(obj.delta_, obj.delta_training_ + obj.delta_domain_, rel_tol=1e-9, abs_tol=0):
        raise ModelFileError(f"{folder}: delta does not add up in the manifest")
    if obj.domain_.delta != obj.delta_domain_ or obj.domain_.epsilon != obj.epsilon_domain_:
        raise ModelFileError(f"{folder}: the domain's budget does not match the manifest")
    if not 0 < obj.sample_rate_ <= 1 or obj.steps_ < 0 or obj.steps_ > obj.planned_steps_:
        raise ModelFileError(f"{folder}: impossible training schedule in the manifest")
    if math.isinf(obj.epsilon):
        ok = math.isinf(obj.epsilon_spent_) and obj.noise_multiplier_ == 0
    else:
        recomputed = epsilon_spent(noise_multiplier=obj.noise_multiplier_, sample_rate=obj.sample_rate_,
                                   steps=obj.steps_, delta=obj.delta_training_)
        ok = (
            math.isclose(recomputed, obj.epsilon_training_, rel_tol=1e-9, abs_tol=1e-12)
            and math.isclose(obj.epsilon_spent_, obj.epsilon_training_ + obj.epsilon_domain_, rel_tol=1e-9)
            and obj.epsilon_spent_ <= obj.epsilon * (1 + 1e-12)
        )
    if not ok:
        raise ModelFileError(
            f"{folder}: the privacy claim in the manifest does not match the accountant's for its recorded "
            "noise, sampling rate and steps; the folder was modified"
        )


def _check_header(folder: Path, manifest: dict) -> None:
    other = manifest.get("format") if isinstance(manifest, dict) else None
    hint = "; use `synthera sample` for synthesizer folders" if other == "synthera-model" else ""
    check_format(folder, manifest, expected=FORMAT, version=FORMAT_VERSION, what="DP classifier",
                 redo="train it again", hint=hint, manifest_name=_MANIFEST)
    if manifest.get("class") != "DPClassifier":
        raise ModelFileError(f"{folder} holds a '{manifest.get('class')}' model, not a DPClassifier")
