"""Columns that hold protected attributes of people, found by their names.

A synthesizer that averages small groups with the majority amplifies bias
(issue 21: a model trained on synthetic Adult rows was 60% more racially
disparate than one trained on the real rows). The cascade keeps the groups of
its ``sensitive`` columns apart; :func:`detect_sensitive` is what it uses when
the user declared none, so the default protects the usual attributes too.

Only categorical columns qualify (an age counts once it is binned into groups),
with between 2 and :data:`MAX_CATEGORIES` categories, and the detected columns
together make at most :data:`MAX_GROUPS` groups: more groups than that would
leave most of them too small to be told apart from the pooled leaves.

>>> detect_sensitive({"age": None, "race": 5, "sex": 2, "native-country": 41, "usage": 3})
['sex', 'race']
>>> detect_sensitive({"age_group": 3, "personal_status_sex": 4, "page": 2})
['age_group', 'personal_status_sex']
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["MAX_CATEGORIES", "MAX_GROUPS", "PROTECTED_WORDS", "detect_sensitive"]

#: words in a column's name that mark a protected attribute (whole words of the name)
PROTECTED_WORDS = frozenset({"sex", "gender", "race", "ethnicity", "ethnic", "religion", "nationality", "disability"})
#: words that mark one only when the column is categorical (an age binned into groups)
GROUPED_WORDS = frozenset({"age"})
#: most categories a detected column may have
MAX_CATEGORIES = 20
#: most groups (combinations of the detected columns' categories)
MAX_GROUPS = 64


def _words(name: str) -> set[str]:
    """The lower-case words of a column name: ``personal_status_sex``, ``ageGroup`` and ``Age Group`` all split."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)
    return set(re.findall(r"[a-z]+", spaced.lower()))


def detect_sensitive(columns: Mapping[str, int | None]) -> list[str]:
    """The columns to treat as sensitive when none were declared.

    ``columns`` maps each column name to its number of categories, or ``None``
    for a numerical column. Candidates are taken fewest categories first while
    the number of groups stays within :data:`MAX_GROUPS`; the result keeps that
    order (ties in table order).
    """
    found = [(n, name) for name, n in columns.items()
             if n is not None and 2 <= n <= MAX_CATEGORIES and _words(name) & (PROTECTED_WORDS | GROUPED_WORDS)]
    out, groups = [], 1
    for n, name in sorted(found, key=lambda item: item[0]):
        if groups * n <= MAX_GROUPS:
            out.append(name)
            groups *= n
    return out
