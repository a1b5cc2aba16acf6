"""The one gradient-boosting factory behind every model that evaluation and the bias tools train.

``synthera evaluate`` (detection, utility, fairness) and ``synthera bias``
(model disparity, proxies, mitigation's relabelling) build their LightGBM
models here, so that both commands measure disparity with identically tuned
models. The settings are evaluation's (learning rate 0.1; ``min_child_samples``
grows with the table; 80 % row and column subsampling): its benchmark numbers
and its agreement with SDMetrics were measured with them. Models that predict
a task use :data:`TASK_TREES` trees, probes (detection, proxy finding)
:data:`PROBE_TREES`.
"""

from __future__ import annotations

__all__ = ["PROBE_TREES", "TASK_TREES", "gradient_boosting"]

TASK_TREES = 200  # utility's and fairness' models, bias' disparity model, mitigation's relabeller
PROBE_TREES = 100  # the detector of fidelity, the proxy models of bias


def gradient_boosting(n_rows: int, seed: int, *, classification: bool = True, n_estimators: int = PROBE_TREES):
    """A gradient-boosting model for ``n_rows`` training rows: LightGBM when installed, scikit-learn's otherwise."""
    try:
        import lightgbm as lgb
    except ImportError:  # pragma: no cover - lightgbm is a dependency; this is a safety net
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        cls = HistGradientBoostingClassifier if classification else HistGradientBoostingRegressor
        return cls(max_iter=n_estimators, random_state=seed)
    cls = lgb.LGBMClassifier if classification else lgb.LGBMRegressor
    return cls(
        n_estimators=n_estimators,
        learning_rate=0.1,
        num_leaves=31,
        min_child_samples=max(20, n_rows // 2000),
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        random_state=seed,
        # One thread: OpenMP workers spin-wait, and on a busy two-core machine a second thread
        # can make LightGBM 50x slower; one thread costs ~25% on an idle machine.
        n_jobs=1,
        verbose=-1,
    )
