"""Propose a ``sequence_key`` and ``sequence_index`` for a long table, where they are evident.

A key candidate is a non-float column repeating its values (between 2 and
half as many distinct values as rows, most of them on several rows), named
like an identifier or holding integers/text. An index candidate is a date
(native, or text that reads as dates), or a number named like a time or
position, that orders most rows uniquely within each entity. A key not named
like an identifier must also explain that order (:func:`_explains`): without
it, an age or a city beside a purchase date in a plain table would be
proposed, its (age, date) pairs unique only because the dates nearly are.
Columns a key holds constant are no evidence: COMPAS's decile score holds its
score text constant, Adult's capital gain the income. The proposal carries
its evidence so a user can confirm it (:func:`evidence_lines`).

>>> import pandas as pd
>>> df = pd.DataFrame({"patient": [1, 1, 2, 2, 2], "day": [0, 30, 0, 10, 40], "v": [1., 2, 3, 4, 5]})
>>> infer_sequence(df)["sequence_key"], infer_sequence(df)["sequence_index"]
('patient', 'day')
"""

from __future__ import annotations

import re
import warnings

import pandas as pd

__all__ = ["evidence_lines", "infer_sequence", "parse_dates"]

_KEY_NAME = re.compile(r"(^id$|_id$|^id_|key|patient|user|customer|account|tailnum|entity|subject|player)", re.I)
_INDEX_NAME = re.compile(r"(date|time|day|month|year|week|hour|seq|step|order|visit|index|^t$|pos|period)", re.I)
#: share of a text column's sampled values that must read as dates for it to count as a date column
_DATE_SHARE = 0.95
_DATE_SAMPLE = 200
_DATE_HEAD = 20_000  # rows the sample is drawn from


def _text_dates(series: pd.Series) -> pd.Series | None:
    """``series`` parsed as dates when it is text that (nearly) always reads as a date, else None."""
    if not (pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series)):
        return None
    head = series.iloc[:_DATE_HEAD]  # the distinct values of a million rows cost more than reading them
    sample = pd.Series(head.dropna().unique()[:_DATE_SAMPLE]).astype(str)
    if sample.empty or pd.to_numeric(sample, errors="coerce").notna().mean() > 0.5:
        return None  # numbers written as text are codes, not dates
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if pd.to_datetime(sample, errors="coerce", format="mixed").notna().mean() < _DATE_SHARE:
            return None
        return pd.to_datetime(series, errors="coerce", format="mixed")


def parse_dates(table: pd.DataFrame, metadata=None) -> pd.DataFrame:
    """``table`` with its text date columns (by the metadata's ``datetime`` kind, else by reading them) as datetimes.

    A CSV holds dates as text; order relations (``start <= end``) and calendar gaps need them as dates.
    """
    out = table.copy()
    for name in table.columns:
        col = metadata.columns.get(name) if metadata is not None else None
        if pd.api.types.is_datetime64_any_dtype(table[name]):
            continue
        if col is not None:
            if col.kind == "datetime":
                out[name] = pd.to_datetime(table[name].astype("string"), errors="coerce",
                                           format=col.datetime_format or "mixed")
            continue
        parsed = _text_dates(table[name])
        if parsed is not None:
            out[name] = parsed
    return out


def _key_candidate(s: pd.Series, name: str, n: int) -> tuple[int, float] | None:
    if pd.api.types.is_float_dtype(s) or pd.api.types.is_bool_dtype(s):  # nulls: checked by the caller
        return None
    distinct = s.nunique()
    if not 2 <= distinct <= n / 2:
        return None
    repeated = float((s.value_counts() > 1).mean())
    if repeated < 0.5 or not (_KEY_NAME.search(name) or pd.api.types.is_integer_dtype(s)
                              or pd.api.types.is_object_dtype(s)):
        return None
    return int(distinct), repeated


def _explains(pairs: pd.DataFrame) -> bool:
    """Whether the key ``k`` keeps apart rows that share an index value ``i`` far more than chance would.

    With the key's values shuffled (group sizes kept), two rows sharing an index value fall in one group
    with probability ``sum s(s-1) / n(n-1)``; an entity key rarely holds two events at one time, so it
    leaves at most a fifth of the pairs chance expects, and chance must expect a few (at least
    :data:`_CHANCE_PAIRS`): where the index alone is (nearly) unique, no key is evident from it.
    """
    n = len(pairs)
    sizes = pairs["k"].value_counts().to_numpy(dtype=float)
    shared = pairs["i"].value_counts().to_numpy(dtype=float)
    chance = float((shared * (shared - 1) / 2).sum() * (sizes * (sizes - 1)).sum() / (n * (n - 1)))
    within = pairs.value_counts().to_numpy(dtype=float)
    seen = float((within * (within - 1) / 2).sum())
    return chance >= max(_CHANCE_PAIRS, 0.01 * n) and seen <= 0.2 * chance


#: fewest pairs of rows sharing an index value that chance must put in one group before a key can explain them
_CHANCE_PAIRS = 5


def infer_sequence(table: pd.DataFrame) -> dict | None:
    """``{"sequence_key", "sequence_index", "evidence"}`` for the best pair, or None if nothing is evident."""
    n = len(table)
    if n < 4:
        return None
    complete = ~table.isna().any()  # once: on a million rows of text, each check takes a tenth of a second
    dated = {c: table[c] for c in table.columns if pd.api.types.is_datetime64_any_dtype(table[c])}
    for c in table.columns:
        if c not in dated and complete[c]:
            parsed = _text_dates(table[c])
            if parsed is not None and not parsed.isna().any():
                dated[c] = parsed
    indexes = {c: dated.get(c, table[c]) for c in table.columns if complete[c] and (
        c in dated or (pd.api.types.is_numeric_dtype(table[c]) and not pd.api.types.is_bool_dtype(table[c])
                       and _INDEX_NAME.search(str(c))))}
    distinct_values = {c: t.nunique() for c, t in indexes.items()}
    best = None
    for key in table.columns if indexes else []:
        found = _key_candidate(table[key], str(key), n) if complete[key] else None
        if found is None:
            continue
        distinct, repeated = found
        named = bool(_KEY_NAME.search(str(key)))
        for index, t in indexes.items():
            if index == key or distinct * distinct_values[index] < 0.95 * n:  # too few pairs to be unique
                continue
            pairs = pd.DataFrame({"k": table[key].to_numpy(), "i": t.to_numpy()})
            unique = 1.0 - float(pairs.duplicated().mean())
            if unique < 0.95 or not (named or _explains(pairs)):
                continue
            score = unique + repeated + 0.5 * named + 0.5 * (index in dated)
            if best is None or score > best[0]:
                best = (score, key, index, {"distinct_keys": distinct, "repeated_share": repeated,
                                            "unique_pairs_share": unique, "mean_length": n / distinct,
                                            "index_is_date": index in dated})
    if best is None:
        return None
    return {"sequence_key": best[1], "sequence_index": best[2], "evidence": best[3]}


def evidence_lines(proposal: dict) -> list[str]:
    """One line for the key and one for the index of a :func:`infer_sequence` proposal, with their evidence."""
    ev = proposal["evidence"]
    key, index = proposal["sequence_key"], proposal["sequence_index"]
    what = "dates" if ev["index_is_date"] else "numbers named like a time or position"
    return [f"sequence_key: {key} (proposed: {ev['distinct_keys']:,} entities, {ev['repeated_share']:.0%} of them "
            f"with several rows, {ev['mean_length']:.1f} rows each on average)",
            f"sequence_index: {index} (proposed: {what}; {ev['unique_pairs_share']:.1%} of ({key}, {index}) pairs "
            "are unique)"]
