"""What the neural synthesizers (CTGAN, TVAE) share.

:class:`ModeTransformer` is the data representation of Xu et al., "Modeling
Tabular Data using Conditional GAN" (NeurIPS 2019), section 4.2:

* a continuous column is modelled by a variational Gaussian mixture; a value
  ``x`` becomes a scalar ``alpha = (x - mu_k) / (4 sigma_k)`` in ``[-1, 1]``
  plus a one-hot of its mode ``k``, the mode drawn from the value's posterior
  over the modes. A nullable column gets one more slot in that one-hot, the
  null indicator (its ``alpha`` is 0). One addition to the paper: a value held
  by at least 5% of the rows (``capital_gain == 0``) is a mode of width 0, so
  it comes back exactly rather than as a narrow bell of nearby values;
* a discrete column becomes the one-hot of its code (the null code included).

So every column owns exactly one *span* of one-hot (softmax) positions, and a
continuous column also owns one *alpha* position. A network's raw output is
activated by :class:`SpanOps`: ``tanh`` on the alphas, a (Gumbel-)softmax
within each span. The matrix holds all alphas first, then the spans sorted by
width, so spans of equal width are activated together as one tensor view
instead of column by column.

Also here: moving a torch module's weights to and from plain numpy arrays
(models save as ``npz``, never pickle), seeding torch from a numpy generator
without touching torch's global random state, and importing torch lazily.
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from typing import Any

import numpy as np

from synthera._estimator import Rule
from synthera.errors import DataError, SyntheraError

__all__ = [
    "ModeTransformer",
    "SpanOps",
    "adam",
    "arrays_to_module",
    "LAYER_SIZES",
    "check_dims",
    "import_torch",
    "init_linear_layers",
    "module_to_arrays",
    "thread_count",
    "torch_generator",
    "torch_threads",
]

# Fit each column's mixture on at most this many sampled rows: the mixture only places
# the modes (the network still trains on every row), and its cost grows with rows x modes
# x iterations. This is how our fit beats SDV's to the first epoch: ~4.5 s on Adult
# against 21-35 s for SDV, which fits the mixtures on every row (same shared 2-core machine).
_MIXTURE_ROWS = 5_000
# A value held by at least this share of a column's rows is a point mass: a mode of its own.
_POINT_MASS = 0.05


def import_torch():
    """``torch``, or a clear error saying how to install it."""
    try:
        import torch
    except ImportError:
        raise SyntheraError(
            "the ctgan and tvae models need PyTorch, which is not installed; "
            "pip install torch (the CPU build is enough: pip install torch --index-url https://download.pytorch.org/whl/cpu)"
        ) from None
    return torch


def torch_generator(rng: np.random.Generator):
    """A local ``torch.Generator`` seeded from ``rng``; torch's global RNG is left alone."""
    torch = import_torch()
    return torch.Generator().manual_seed(int(rng.integers(2**62)))


# Threads for these networks when OMP_NUM_THREADS is not set. Their matrices are small
# (batches of 500 rows, layers of a few hundred units): on Adult an epoch took 2.0 s (CTGAN)
# and 0.53 s (TVAE) on one thread against 1.4 s and 0.39 s on two, and splitting such
# products over more than a few threads costs more in synchronisation than it saves.
_MAX_THREADS = 4


def thread_count() -> int:
    """``OMP_NUM_THREADS`` if set, else the cores this process may use, at most ``_MAX_THREADS``."""
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, _MAX_THREADS))


@contextmanager
def torch_threads():
    """Run torch on :func:`thread_count` intra-op threads; restore the count after.

    The count depends only on the machine (and ``OMP_NUM_THREADS``), never on
    its load, so a fit is reproducible on a given machine: matrix products sum
    in an order that depends on the thread count. On a machine whose cores are
    busy with other jobs, set ``OMP_NUM_THREADS=1``: torch's threads wait for
    each other, and an oversubscribed 2-core machine ran a CTGAN epoch ten
    times slower on two threads than on one.
    """
    torch = import_torch()
    before, wanted = torch.get_num_threads(), thread_count()
    if wanted != before:
        torch.set_num_threads(wanted)
    try:
        yield torch
    finally:
        if wanted != before:
            torch.set_num_threads(before)


def _is_layer_sizes(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in value
    )


#: the constraint of hidden layer sizes: a list or tuple of whole numbers >= 1
LAYER_SIZES = Rule(_is_layer_sizes, "be a list of layer sizes (whole numbers >= 1), e.g. [256, 256]")


def check_dims(name: str, value: Any) -> None:
    """Hidden layer sizes: a list or tuple of whole numbers >= 1."""
    LAYER_SIZES.check(name, value)


# --------------------------------------------------------------------------- transformer


class ModeTransformer:
    """Encoded columns <-> the mode-specific normalised matrix a network learns from.

    Parameters
    ----------
    max_modes
        Most mixture components per continuous column.
    weight_threshold
        Components whose weight falls below this are dropped.
    mixture_rows
        The mixture is fitted on at most this many sampled rows of a column.
    """

    def __init__(self, max_modes: int = 10, weight_threshold: float = 0.005, mixture_rows: int = _MIXTURE_ROWS):
        self.max_modes = max_modes
        self.weight_threshold = weight_threshold
        self.mixture_rows = mixture_rows

    # -- fitting ----------------------------------------------------------------------

    def fit(self, data: dict[str, np.ndarray], encoder, rng: np.random.Generator) -> ModeTransformer:
        self.columns_: list[dict] = []
        self.modes_: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for name in encoder.modelled:
            info = encoder.info(name)
            if info.kind == "continuous":
                means, stds, weights = self._fit_mixture(np.asarray(data[name], dtype=np.float64), rng)
                self.modes_[name] = (means, stds, weights)
                width = means.size + int(info.nullable)
            else:
                width = int(info.n_codes)
            self.columns_.append({"name": name, "kind": info.kind, "nullable": bool(info.nullable), "width": width})
        self._layout()
        return self

    def _fit_mixture(self, values: np.ndarray, rng: np.random.Generator):
        """``(means, stds, weights)`` of the column's modes, sorted by mean.

        A value held by at least ``_POINT_MASS`` of the rows (``capital_gain ==
        0``, ``hours_per_week == 40``) is a mode of its own with width 0, so it
        is decoded exactly instead of as a narrow bell around it; the mixture
        models the other values.
        """
        x = values[~np.isnan(values)]
        if x.size == 0:  # a column that is always null: one placeholder mode, never used
            return np.zeros(1), np.zeros(1), np.ones(1)
        distinct, counts = np.unique(x, return_counts=True)
        heavy = counts >= _POINT_MASS * x.size
        points, point_weights = distinct[heavy], counts[heavy] / x.size
        rest = x[~np.isin(x, points)]
        means, stds, weights = self._mixture(rest, rng) if rest.size else (np.zeros(0), np.zeros(0), np.zeros(0))
        means = np.concatenate([points, means])
        stds = np.concatenate([np.zeros(points.size), stds])
        weights = np.concatenate([point_weights, weights * rest.size / x.size])
        order = np.argsort(means, kind="stable")
        return means[order], stds[order], weights[order] / weights.sum()

    def _mixture(self, x: np.ndarray, rng: np.random.Generator):
        from sklearn.mixture import BayesianGaussianMixture

        if x.size > self.mixture_rows:
            x = rng.choice(x, self.mixture_rows, replace=False)
        center, scale = float(x.mean()), float(x.std())
        if not scale > 0:
            return np.array([center]), np.zeros(1), np.ones(1)
        z = ((x - center) / scale)[:, None]
        mixture = BayesianGaussianMixture(
            n_components=int(min(self.max_modes, np.unique(z).size)),
            covariance_type="diag",  # the same model in one dimension, and cheaper than "full"
            weight_concentration_prior_type="dirichlet_process",
            weight_concentration_prior=1e-3,
            max_iter=100,
            tol=1e-4 * z.shape[0],  # sklearn's bound is a sum over rows: 1e-4 nats per row
            random_state=int(rng.integers(2**31)),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # few distinct values: a convergence warning says nothing useful
            mixture.fit(z)
        weights = mixture.weights_
        keep = weights >= self.weight_threshold
        if not keep.any():
            keep = weights == weights.max()
        means = center + scale * mixture.means_[keep, 0]
        stds = scale * np.sqrt(mixture.covariances_[keep, 0])
        return means, stds, weights[keep] / weights[keep].sum()

    def _layout(self) -> None:
        """Positions in the matrix: all alphas first, then the spans sorted by width.

        The order of the matrix columns is internal to the networks, so it is
        chosen for speed: spans of equal width sit side by side and are a
        single ``(rows, spans, width)`` view for softmax, no gathering.
        """
        continuous = [j for j, c in enumerate(self.columns_) if c["kind"] == "continuous"]
        width = np.asarray([c["width"] for c in self.columns_], dtype=np.int64)
        order = np.argsort(width, kind="stable")  # ties keep table order
        start = np.zeros(len(self.columns_), dtype=np.int64)
        start[order] = len(continuous) + np.concatenate([[0], np.cumsum(width[order])[:-1]]).astype(np.int64)
        self.dim = len(continuous) + int(width.sum())
        self.alpha_cols = np.arange(len(continuous), dtype=np.int64)
        self.span_start = start
        self.span_width = width
        self.is_discrete = np.asarray([c["kind"] == "discrete" for c in self.columns_], dtype=bool)

    @property
    def names(self) -> list[str]:
        return [c["name"] for c in self.columns_]

    # -- transforms -------------------------------------------------------------------

    def transform(self, data: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
        """The float32 matrix, one row per row of ``data``; modes drawn from each value's posterior."""
        n = len(next(iter(data.values()))) if data else 0
        out = np.zeros((n, self.dim), dtype=np.float32)
        rows = np.arange(n)
        a = 0
        for j, col in enumerate(self.columns_):
            start = self.span_start[j]
            values = np.asarray(data[col["name"]])
            if col["kind"] == "discrete":
                codes = values.astype(np.int64)
                if codes.size and (codes.min() < 0 or codes.max() >= col["width"]):
                    raise DataError(f"column '{col['name']}' holds codes outside 0..{col['width'] - 1}")
                out[rows, start + codes] = 1.0
                continue
            means, stds, weights = self.modes_[col["name"]]
            x = values.astype(np.float64)
            null = np.isnan(x)
            if null.any() and not col["nullable"]:
                raise DataError(f"column '{col['name']}' has nulls but had none in training; refit the model")
            valid = np.flatnonzero(~null)
            xv = x[valid]
            mode = _draw_modes(xv, means, stds, weights, rng)
            spread = np.where(stds[mode] > 0, 4 * stds[mode], 1.0)
            out[valid, self.alpha_cols[a]] = np.clip((xv - means[mode]) / spread, -1.0, 1.0)
            out[valid, start + mode] = 1.0
            if null.any():
                out[null, start + means.size] = 1.0
            a += 1
        return out

    def inverse(self, alphas: np.ndarray, choices: np.ndarray) -> dict[str, np.ndarray]:
        """Encoded columns from ``alphas`` (rows x continuous columns) and span ``choices`` (rows x columns)."""
        out = {}
        a = 0
        for j, col in enumerate(self.columns_):
            k = np.asarray(choices[:, j], dtype=np.int64)
            if col["kind"] == "discrete":
                out[col["name"]] = k
                continue
            means, stds, _ = self.modes_[col["name"]]
            mode = np.minimum(k, means.size - 1)
            x = np.clip(alphas[:, a].astype(np.float64), -1.0, 1.0) * 4 * stds[mode] + means[mode]
            x[k >= means.size] = np.nan  # the null indicator
            out[col["name"]] = x
            a += 1
        return out

    def span_log_frequencies(self, matrix: np.ndarray, floor: float = 1e-3) -> np.ndarray:
        """Per matrix position: log of how often it is hot within its span (0 at alphas).

        Used as the output layer's initial bias, so an untrained network already
        draws every category and mode at its training frequency.
        """
        bias = np.zeros(self.dim, dtype=np.float32)
        freq = matrix.mean(axis=0) if len(matrix) else np.zeros(self.dim)
        for start, width in zip(self.span_start, self.span_width, strict=True):
            bias[start:start + width] = np.log(freq[start:start + width] + floor)
        return bias

    # -- state ------------------------------------------------------------------------

    def state(self, prefix: str = "modes") -> tuple[dict, dict[str, np.ndarray]]:
        info = {"max_modes": self.max_modes, "weight_threshold": self.weight_threshold,
                "mixture_rows": self.mixture_rows, "columns": self.columns_}
        arrays = {}
        for j, col in enumerate(self.columns_):
            if col["kind"] == "continuous":
                means, stds, weights = self.modes_[col["name"]]
                arrays[f"{prefix}{j}"] = np.stack([means, stds, weights])
        return info, arrays

    @classmethod
    def from_state(cls, info: dict, arrays: dict[str, np.ndarray], encoder, prefix: str = "modes") -> ModeTransformer:
        obj = cls(int(info["max_modes"]), float(info["weight_threshold"]), int(info["mixture_rows"]))
        obj.columns_ = [
            {"name": str(c["name"]), "kind": str(c["kind"]), "nullable": bool(c["nullable"]), "width": int(c["width"])}
            for c in info["columns"]
        ]
        if obj.names != list(encoder.modelled):
            raise ValueError("model columns do not match the metadata")
        obj.modes_ = {}
        for j, col in enumerate(obj.columns_):
            enc = encoder.info(col["name"])
            if col["kind"] != enc.kind or col["nullable"] != enc.nullable:
                raise ValueError(f"column '{col['name']}' does not match the metadata")
            if col["kind"] == "discrete":
                if col["width"] != enc.n_codes:
                    raise ValueError(f"column '{col['name']}' has {col['width']} codes, the metadata {enc.n_codes}")
                continue
            table = np.asarray(arrays[f"{prefix}{j}"], dtype=np.float64)
            if table.ndim != 2 or table.shape[0] != 3 or table.shape[1] + int(col["nullable"]) != col["width"]:
                raise ValueError(f"mixture of column '{col['name']}' has the wrong shape")
            if not (np.all(np.isfinite(table)) and np.all(table[1] >= 0) and np.all(table[2] > 0)):
                raise ValueError(f"mixture of column '{col['name']}' is malformed")
            obj.modes_[col["name"]] = (table[0], table[1], table[2])
        obj._layout()
        return obj


def _draw_modes(x: np.ndarray, means: np.ndarray, stds: np.ndarray, weights: np.ndarray, rng) -> np.ndarray:
    """Each value's mode: its point mass if it is one, else a draw from its posterior over the bells."""
    mode = np.full(x.size, -1, dtype=np.int64)
    points = np.flatnonzero(stds == 0)
    if points.size:
        pos = np.clip(np.searchsorted(means[points], x), 0, points.size - 1)
        hit = means[points][pos] == x
        mode[hit] = points[pos[hit]]
    bells = np.flatnonzero(stds > 0)
    rest = np.flatnonzero(mode < 0)
    if rest.size and bells.size:
        m, s = means[bells], stds[bells]
        logp = np.log(weights[bells]) - np.log(s) - 0.5 * ((x[rest, None] - m) / s) ** 2
        gumbel = -np.log(-np.log(rng.random(logp.shape).clip(1e-12, 1 - 1e-12)))
        mode[rest] = bells[np.argmax(logp + gumbel, axis=1)]
    elif rest.size:  # values that are no point mass of a column without bells: nearest point mass
        mode[rest] = np.argmin(np.abs(x[rest, None] - means), axis=1)
    return mode


# --------------------------------------------------------------------------- span operations


class SpanOps:
    """Per-span softmax, log-sum-exp, cross-entropy, sampling and tanh on torch tensors.

    A step's autograd graph should hold a handful of whole-width operations,
    not one slice per span: every slice of a tensor costs, on the backward
    pass, a full-size zero gradient, a copy into it and an add. So the span
    operations work on the whole one-hot part at once:

    * a per-row, per-span maximum (taken without gradient) keeps every
      exponent at most 0;
    * span sums of ``exp`` are one product with the 0/1 ``(positions, spans)``
      membership matrix;
    * a span's sum is at least 1 (its maximum contributes ``exp(0)``), so its
      logarithm never underflows, whatever the logits of other spans.

    The transformer lays spans out sorted by width, so the maximum and
    sampling (no gradient) use one ``(rows, spans, width)`` view per distinct
    width.
    """

    def __init__(self, transformer: ModeTransformer):
        torch = import_torch()
        self.n_alpha = len(transformer.alpha_cols)
        self.dim = transformer.dim
        order = np.argsort(transformer.span_start, kind="stable")  # span k in matrix order is column order[k]
        widths = transformer.span_width[order]
        n_spans = len(order)
        position_span = np.repeat(np.arange(n_spans), widths)  # span of each one-hot position, matrix order
        membership = np.zeros((self.dim - self.n_alpha, n_spans), dtype=np.float32)
        membership[np.arange(position_span.size), position_span] = 1.0
        self.groups: list[tuple[int, int, int, int]] = []  # (first column, end column, spans, width)
        pos = self.n_alpha
        for w in np.unique(widths):
            count = int((widths == w).sum())
            self.groups.append((pos, pos + count * int(w), count, int(w)))
            pos += count * int(w)
        self._membership = torch.as_tensor(membership)
        self._membership_t = self._membership.T.contiguous()
        # results per span come out in matrix order; span_position[j] is column j's place there
        self.span_position = torch.as_tensor(np.argsort(order), dtype=torch.long)
        self.span_start = torch.as_tensor(transformer.span_start, dtype=torch.long)
        self._torch = torch

    def _span_max(self, z):
        """``(rows, spans)`` maximum of each span of the one-hot part ``z`` (matrix order), without gradient."""
        torch = self._torch
        n = self.n_alpha
        with torch.no_grad():
            return torch.cat([z[:, a - n:b - n].reshape(-1, s, w).amax(dim=2) for a, b, s, w in self.groups], dim=1)

    def _exp_sums(self, z):
        """``(exp(z - span max), span sums of it, span max)`` for the one-hot part ``z``.

        The span maximum is spread back over the span's positions by a product
        with the membership matrix: exact (one term of each sum is non-zero),
        and cheaper than an index.
        """
        m = self._span_max(z)
        e = self._torch.exp(z - m @ self._membership_t)
        return e, e @ self._membership, m

    def gumbel(self, shape, generator):
        u = self._torch.rand(shape, generator=generator).clamp_(1e-7, 1 - 1e-7)
        return -self._torch.log(-self._torch.log(u))

    def activate(self, raw, generator, tau: float = 0.2):
        """tanh on alphas, Gumbel-softmax with temperature ``tau`` within spans (differentiable)."""
        torch = self._torch
        z = (raw[:, self.n_alpha:] + self.gumbel((raw.shape[0], self.dim - self.n_alpha), generator)) / tau
        e, sums, _ = self._exp_sums(z)
        return torch.cat([torch.tanh(raw[:, : self.n_alpha]), e / (sums @ self._membership_t)], dim=1)

    def alphas(self, raw):
        return self._torch.tanh(raw[:, : self.n_alpha])

    def span_logsumexp(self, raw):
        """``(rows, spans)``: log-sum-exp of the logits of each span, in column order."""
        _, sums, m = self._exp_sums(raw[:, self.n_alpha:])
        return (self._torch.log(sums) + m)[:, self.span_position]

    def cross_entropy(self, raw, target):
        """Sum over rows and spans of the cross-entropy of the logits against one-hot ``target``."""
        z = raw[:, self.n_alpha:]
        _, sums, m = self._exp_sums(z)
        return (self._torch.log(sums) + m).sum() - (z * target[:, self.n_alpha:]).sum()

    def choose(self, raw, generator):
        """``(rows, spans)`` int64 numpy: a draw from each span's softmax (Gumbel-max), in column order."""
        torch = self._torch
        noisy = raw + self.gumbel(raw.shape, generator)
        parts = [noisy[:, a:b].reshape(-1, s, w).argmax(dim=-1) for a, b, s, w in self.groups]
        return torch.cat(parts, dim=1)[:, self.span_position].numpy().astype(np.int64)


def adam(params, **kwargs):
    """Adam with the fused CPU kernel where torch has one (about 10x faster per step than the loop)."""
    torch = import_torch()
    params = list(params)
    try:
        return torch.optim.Adam(params, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, **kwargs)


# --------------------------------------------------------------------------- weights <-> arrays


def init_linear_layers(module, generator) -> None:
    """Uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) weights and biases, drawn from a local generator."""
    torch = import_torch()
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, torch.nn.Linear):
                bound = 1.0 / np.sqrt(layer.in_features)
                layer.weight.uniform_(-bound, bound, generator=generator)
                if layer.bias is not None:
                    layer.bias.uniform_(-bound, bound, generator=generator)


def module_to_arrays(module, prefix: str) -> dict[str, np.ndarray]:
    """A module's ``state_dict`` as numpy arrays under ``prefix.key``."""
    return {f"{prefix}.{key}": value.detach().cpu().numpy().copy() for key, value in module.state_dict().items()}


def arrays_to_module(module, arrays: dict[str, np.ndarray], prefix: str) -> None:
    """Load arrays saved by :func:`module_to_arrays`; every key and shape must match exactly."""
    torch = import_torch()
    expected = module.state_dict()
    given = {key[len(prefix) + 1:]: value for key, value in arrays.items() if key.startswith(prefix + ".")}
    missing, extra = set(expected) - set(given), set(given) - set(expected)
    if missing or extra:
        raise ValueError(
            f"{prefix} weights do not match the model: missing {sorted(missing)[:3]}, unexpected {sorted(extra)[:3]}"
        )
    state = {}
    for key, ref in expected.items():
        value = np.asarray(given[key])
        if tuple(value.shape) != tuple(ref.shape):
            raise ValueError(f"{prefix}.{key} has shape {value.shape}, the model needs {tuple(ref.shape)}")
        if value.dtype.kind not in "fiu":
            raise ValueError(f"{prefix}.{key} is not numeric")
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            raise ValueError(f"{prefix}.{key} holds non-finite numbers")
        state[key] = torch.as_tensor(value.astype(np.float32 if ref.is_floating_point() else np.int64))
    module.load_state_dict(state, strict=True)
