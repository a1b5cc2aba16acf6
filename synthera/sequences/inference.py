"""Propose a ``sequence_key`` and ``sequence_index`` for a long table, where they are evident.

A key candidate is a non-float column repeating its values (between 2 and
half as many distinct values as rows, most of them on several rows), named
like an identifier or holding integers/text. An index candidate is a date,
or a number named like a time or position, that orders most rows uniquely
within each entity. The proposal carries its evidence so a user can confirm it.

>>> import pandas as pd
>>> df = pd.DataFrame({"patient": [1, 1, 2, 2, 2], "day": [0, 30, 0, 10, 40], "v": [1., 2, 3, 4, 5]})
>>> infer_sequence(df)["sequence_key"], infer_sequence(df)["sequence_index"]
('patient', 'day')
"""

from __future__ import annotations

import re

import pandas as pd

__all__ = ["infer_sequence"]

_KEY_NAME = re.compile(r"(^id$|_id$|^id_|key|patient|user|customer|account|tailnum|entity|subject|player)", re.I)
_INDEX_NAME = re.compile(r"(date|time|day|month|year|week|hour|seq|step|order|visit|index|^t$|pos|period)", re.I)


def infer_sequence(table: pd.DataFrame) -> dict | None:
    """``{"sequence_key", "sequence_index", "evidence"}`` for the best pair, or None if nothing is evident."""
    n = len(table)
    if n < 4:
        return None
    best = None
    for key in table.columns:
        s = table[key]
        if pd.api.types.is_float_dtype(s) or pd.api.types.is_bool_dtype(s) or s.isna().any():
            continue
        distinct = s.nunique()
        if not 2 <= distinct <= n / 2:
            continue
        repeated = float((s.value_counts() > 1).mean())
        if repeated < 0.5 or not (_KEY_NAME.search(str(key)) or pd.api.types.is_integer_dtype(s)
                                  or pd.api.types.is_object_dtype(s)):
            continue
        for index in table.columns:
            if index == key or table[index].isna().any():
                continue
            t = table[index]
            dated = pd.api.types.is_datetime64_any_dtype(t)
            if not (dated or (pd.api.types.is_numeric_dtype(t) and _INDEX_NAME.search(str(index)))):
                continue
            unique = 1.0 - float(table.duplicated([key, index]).mean())
            if unique < 0.95:
                continue
            score = unique + repeated + 0.5 * bool(_KEY_NAME.search(str(key))) + 0.5 * dated
            if best is None or score > best[0]:
                best = (score, key, index, {"distinct_keys": int(distinct), "repeated_share": repeated,
                                            "unique_pairs_share": unique})
    if best is None:
        return None
    return {"sequence_key": best[1], "sequence_index": best[2], "evidence": best[3]}
