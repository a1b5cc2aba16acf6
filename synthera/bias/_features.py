"""Tables as LightGBM inputs: numbers as floats, dates as seconds, categories with a fixed list of levels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from synthera.metadata import Metadata

__all__ = ["MODELLED", "booster", "feature_frame"]

MODELLED = ("numerical", "datetime", "categorical", "boolean")


def feature_frame(df: pd.DataFrame, metadata: Metadata, columns: Sequence[str]) -> pd.DataFrame:
    """``columns`` of ``df`` encoded for a tree model; levels come from the metadata so frames line up."""
    out = {}
    for name in columns:
        col = metadata[name]
        series = df[name]
        if col.kind == "numerical":
            out[name] = pd.to_numeric(series, errors="coerce").astype(np.float64)
        elif col.kind == "datetime":
            parsed = pd.to_datetime(series, format=col.datetime_format, errors="coerce")
            seconds = (parsed - pd.Timestamp("1970-01-01", tz=parsed.dt.tz)) / pd.Timedelta(seconds=1)
            out[name] = seconds.astype(np.float64)
        else:
            levels = [col.false_value, col.true_value] if col.kind == "boolean" else list(col.categories)
            labels = [str(v) for v in levels]
            text = series.map(lambda v: None if pd.isna(v) else str(v))
            out[name] = pd.Categorical(text, categories=list(dict.fromkeys(labels)))
    return pd.DataFrame(out, index=df.index)


def booster(seed: int, *, n_estimators: int = 200):
    """The LightGBM classifier the bias tools train (one thread: see synthera.evaluate.fidelity)."""
    import lightgbm as lgb

    return lgb.LGBMClassifier(n_estimators=n_estimators, learning_rate=0.05, num_leaves=31, min_child_samples=20,
                              random_state=seed, n_jobs=1, verbose=-1)
