"""Gaussian copula synthesizer.

Each column keeps its own marginal distribution exactly; the dependence
between columns is a multivariate normal correlation on normal scores.

Fit: every modelled column is turned into codes (numbers through a fine
:class:`~synthera.tabular.transforms.Discretizer`, categories as they are).
Code ``k`` owns the interval ``[F(k-1), F(k))`` of the column's cumulative
distribution; each row gets a uniform draw inside its interval, mapped to a
normal score with the inverse normal CDF. The correlation of those scores is
the model (made positive definite if needed).

Sample: draw normal vectors with that correlation, map them back to
uniforms, find the code whose interval holds each uniform, decode.

Conditions are exact: the normal score of a conditioned column is confined
to its code's interval, and the joint draw of all conditioned scores comes
from a few Gibbs sweeps over the truncated normal; the other columns follow
from the conditional normal distribution.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from synthera._estimator import Whole
from synthera.errors import UserInputError
from synthera.tabular.base import Synthesizer
from synthera.tabular.transforms import Discretizer, discretizers_from_state, discretizers_state

__all__ = ["GaussianCopulaSynthesizer"]


class GaussianCopulaSynthesizer(Synthesizer):
    """Gaussian copula with exact empirical marginals.

    Parameters
    ----------
    max_bins
        Resolution of numerical marginals (bins, each decoded by within-bin quantiles).
    seed
        Seeds the fit (the uniform draws inside each code's interval).
    """

    def __init__(self, *, max_bins: int = 256, seed: int = 0):
        self.max_bins = max_bins
        self.seed = seed

    _parameter_constraints = {"max_bins": Whole(2)}

    def _fit(self, data: dict[str, np.ndarray], encoder, rng: np.random.Generator) -> None:
        from scipy.special import ndtri

        self.columns_ = list(encoder.modelled)
        self.discretizers_: dict[str, Discretizer] = {}
        cdfs, scores = [], []
        for name in self.columns_:
            info = encoder.info(name)
            if info.kind == "continuous":
                disc = Discretizer(max_bins=self.max_bins).fit(data[name])
                self.discretizers_[name] = disc
                codes, n_codes = disc.transform(data[name]), disc.n_codes
            else:
                codes, n_codes = data[name], info.n_codes
            counts = np.bincount(codes, minlength=n_codes).astype(np.float64)
            cdf = np.concatenate([[0.0], np.cumsum(counts) / counts.sum()])
            cdfs.append(cdf)
            u = cdf[codes] + rng.random(codes.size) * (cdf[codes + 1] - cdf[codes])
            scores.append(ndtri(np.clip(u, 1e-9, 1 - 1e-9)))
        z = np.column_stack(scores) if scores else np.zeros((0, 0))
        corr = np.corrcoef(z, rowvar=False) if z.shape[1] > 1 else np.ones((z.shape[1], z.shape[1]))
        corr = np.nan_to_num(np.atleast_2d(corr))
        np.fill_diagonal(corr, 1.0)
        self.corr_ = _nearest_correlation(corr)
        self.cdfs_ = cdfs

    def _sample(self, n: int, rng: np.random.Generator, conditions: dict[str, Any]) -> dict[str, np.ndarray]:
        from scipy.special import ndtri

        d = len(self.columns_)
        cond_idx = [self.columns_.index(c) for c in conditions]
        if cond_idx:
            z = self._conditioned_scores(n, rng, conditions, cond_idx)
        else:
            # float32 is ample for scores that only pick a bin, and twice as fast
            chol = np.linalg.cholesky(self.corr_).T.astype(np.float32)
            z = rng.standard_normal((n, d), dtype=np.float32) @ chol
        out = {}
        for j, name in enumerate(self.columns_):
            # compare scores with the codes' boundaries on the normal scale: no CDF per value
            cdf = self.cdfs_[j]
            bounds = ndtri(cdf[1:-1]).astype(z.dtype)
            codes = np.searchsorted(bounds, np.ascontiguousarray(z[:, j]), side="right")
            disc = self.discretizers_.get(name)
            out[name] = disc.inverse(codes, rng) if disc is not None else codes
        return out

    def _code(self, name: str, value: Any) -> int:
        disc = self.discretizers_.get(name)
        return int(value) if disc is None else disc.code_of(value)

    def _conditioned_scores(self, n, rng, conditions, cond_idx) -> np.ndarray:
        from scipy.special import ndtri
        from scipy.stats import truncnorm

        d = len(self.columns_)
        bounds = []
        for name, j in zip(conditions, cond_idx, strict=True):
            code = self._code(name, conditions[name])
            lo, hi = self.cdfs_[j][code], self.cdfs_[j][code + 1]
            if hi <= lo:
                raise UserInputError(
                    f"impossible condition {name}={conditions[name]}: the training data never has that value"
                )
            bounds.append((ndtri(max(lo, 1e-12)), ndtri(min(hi, 1 - 1e-12))))
        C = np.asarray(cond_idx)
        R = np.setdiff1d(np.arange(d), C)
        S_cc = self.corr_[np.ix_(C, C)]
        # Gibbs sweeps over the truncated normal of the conditioned scores
        zc = np.column_stack([
            truncnorm.rvs(a, b, size=n, random_state=rng) for a, b in bounds
        ]) if len(C) else np.zeros((n, 0))
        if len(C) > 1:
            prec = np.linalg.inv(S_cc)
            for _ in range(20):
                for k, (a, b) in enumerate(bounds):
                    others = [i for i in range(len(C)) if i != k]
                    mean = -zc[:, others] @ prec[k, others] / prec[k, k]
                    sd = 1.0 / np.sqrt(prec[k, k])
                    zc[:, k] = truncnorm.rvs((a - mean) / sd, (b - mean) / sd, loc=mean, scale=sd, random_state=rng)
        z = np.empty((n, d))
        z[:, C] = zc
        if len(R):
            S_rc = self.corr_[np.ix_(R, C)]
            gain = S_rc @ np.linalg.inv(S_cc)
            cov = self.corr_[np.ix_(R, R)] - gain @ S_rc.T
            chol = np.linalg.cholesky(_nearest_correlation(cov, unit_diagonal=False))
            z[:, R] = zc @ gain.T + rng.standard_normal((n, len(R))) @ chol.T
        return z

    def _get_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        discretizers, arrays = discretizers_state(self.columns_, self.discretizers_)
        arrays["corr"] = self.corr_
        for j, cdf in enumerate(self.cdfs_):
            arrays[f"cdf{j}"] = cdf
        return {"columns": self.columns_, "discretizers": discretizers}, arrays

    def _set_state(self, info: dict, arrays: dict[str, np.ndarray]) -> None:
        self.columns_ = list(info["columns"])
        if self.columns_ != list(self.encoder_.modelled):
            raise ValueError("model columns do not match the metadata")
        d = len(self.columns_)
        self.corr_ = np.asarray(arrays["corr"], dtype=np.float64)
        if self.corr_.shape != (d, d):
            raise ValueError("correlation matrix has the wrong shape")
        np.linalg.cholesky(self.corr_)  # refuses a matrix that is not positive definite
        self.cdfs_ = [np.asarray(arrays[f"cdf{j}"], dtype=np.float64) for j in range(d)]
        self.discretizers_ = discretizers_from_state(self.columns_, info["discretizers"], arrays)


def _nearest_correlation(matrix: np.ndarray, *, unit_diagonal: bool = True, floor: float = 1e-6) -> np.ndarray:
    """Symmetric positive-definite version of ``matrix`` (eigenvalues floored)."""
    sym = (matrix + matrix.T) / 2
    if sym.size == 0:
        return sym
    vals, vecs = np.linalg.eigh(sym)
    fixed = (vecs * np.maximum(vals, floor)) @ vecs.T
    if unit_diagonal:
        scale = np.sqrt(np.diag(fixed))
        fixed = fixed / np.outer(scale, scale)
    return (fixed + fixed.T) / 2
