"""Tables as LightGBM inputs: numbers as floats, dates as seconds, categories with a fixed list of levels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from synthera._columns import category_codes, to_seconds
from synthera.metadata import Metadata

__all__ = ["MODELLED", "feature_frame"]

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
            out[name] = to_seconds(series, col)
        else:
            levels = [col.false_value, col.true_value] if col.kind == "boolean" else list(col.categories)
            codes = category_codes(series, levels)  # -1 (null, or a value not in the metadata) is a missing value
            out[name] = pd.Categorical.from_codes(codes, categories=pd.RangeIndex(len(levels)))
    return pd.DataFrame(out, index=df.index)
