"""How questions are worded: names as words, values as people say them, and the round-trip check.

:class:`Phrases` is the small grammar of question wordings the query
families use; :func:`round_trip_ok` checks that a question (a grammar
draft or a model's rewrite) still names every column and value its SQL uses.

>>> natural_name("hours_per_week"), spoken_value(">50K")
('hours per week', 'more than 50k')
>>> round_trip_ok("How many people have hours per week above 40?", ["hours-per-week"], [40])
(True, [])
"""

from __future__ import annotations

import random
import re
from typing import TYPE_CHECKING

from synthera.text.sql.schema import format_number

if TYPE_CHECKING:
    from synthera.text.sql.grammar import Filter

__all__ = ["Phrases", "natural_name", "round_trip_ok", "spoken_value", "with_article"]


def natural_name(name: str) -> str:
    """A column or table name as words: ``hours_per_week`` -> ``hours per week``."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    text = re.sub(r"[_\-\.\s]+", " ", text)
    return text.strip().lower()


def _squash(text: str) -> str:
    return " " + " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split()) + " "


_SPOKEN_OPERATORS = (("<=", "{} or less"), (">=", "at least {}"), ("<", "less than {}"), (">", "more than {}"))


def spoken_value(value: str) -> str | None:
    """A stored code as a person would say it, or ``None`` when there is no plain way.

    ``'>50K'`` becomes ``'more than 50k'``, ``'Own-child'`` ``'own child'`` and
    ``'car (new)'`` ``'car new'``. Questions sometimes use this form so a model
    learns to write the stored spelling (shown in the schema) rather than
    copy the question's words.
    """
    text = value.strip()
    for op, form in _SPOKEN_OPERATORS:
        rest = text[len(op):].strip()
        if text.startswith(op) and rest[:1].isdigit():
            text = form.format(rest)
            break
    text = " ".join(re.sub(r"[-_/:()\[\]]+", " ", text).lower().split())
    return text if re.fullmatch(r"[a-z0-9 ]*[a-z][a-z0-9 ]*", text) else None


def _mentions_value(question: str, value) -> bool:
    q = question.lower()
    if isinstance(value, str):
        spoken = spoken_value(value)
        return value.lower() in q or (spoken is not None and _squash(spoken) in _squash(question))
    token = format_number(value)
    return re.search(r"(?<![\d.])" + re.escape(token) + r"(?![\d])", q) is not None


def round_trip_ok(question: str, columns, values, implied: dict | None = None) -> tuple[bool, list[str]]:
    """Whether ``question`` mentions every column (by name or as words) and every value.

    ``implied`` maps a column to a value that only that column holds: a
    question naming the value ("how many are divorced?") then names the
    column too. Returns ``(ok, missing)`` with the names and values it leaves out.
    """
    squashed = _squash(question)
    implied = implied or {}
    missing = []
    for col in columns:
        words = _squash(natural_name(col))
        if words not in squashed and col.lower() not in question.lower():
            if col in implied and _mentions_value(question, implied[col]):
                continue
            missing.append(col)
    for value in values:
        if not _mentions_value(question, value):
            missing.append(repr(value))
    return not missing, missing


def with_article(noun_phrase: str) -> str:
    """``"a"`` or ``"an"`` before a phrase."""
    return ("an " if noun_phrase[:1].lower() in "aeiou" else "a ") + noun_phrase


class Phrases:
    """Small grammar for questions: several wordings per construct, picked by the RNG."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def pick(self, *options: str) -> str:
        return self.rng.choice(options)

    def rows(self, table: str) -> str:
        t = natural_name(table)
        return self.pick(f"rows in the {t} table", f"{t} records", f"entries in {t}", f"records of the {t} table")

    def agg(self, fn: str) -> str:
        return {
            "AVG": self.pick("average", "mean"),
            "MIN": self.pick("minimum", "lowest", "smallest"),
            "MAX": self.pick("maximum", "highest", "largest"),
            "SUM": self.pick("total", "sum of"),
            "COUNT": "number of",
        }[fn]

    def op(self, op: str) -> str:
        return {
            ">": self.pick("greater than", "more than", "above"),
            "<": self.pick("less than", "below", "under"),
            ">=": self.pick("at least", "greater than or equal to"),
            "<=": self.pick("at most", "less than or equal to"),
            "=": self.pick("equal to", "of"),
            "!=": self.pick("other than", "not equal to"),
        }[op]

    def with_(self, f: Filter) -> str:
        """A condition that reads after "with" or "have": "age at least 30", "sex Female"."""
        return self._condition(f, ("{a}", "the value {a}", "{a} recorded"),
                               ("{c} {v}", "{c} equal to {v}", "{c} = {v}", "{c} of {v}"),
                               ("{c} {op} {v}", "{ca} {op} {v}", "{c} value {op} {v}"))

    def where(self, f: Filter) -> str:
        """A condition that reads after "where": "the age is at least 30", "sex is Female"."""
        return self._condition(f, ("it is {a}", "the entry is {a}", "the value is {a}"),
                               ("{c} is {v}", "the {c} is {v}", "{c} = {v}", "{c} equals {v}"),
                               ("{c} is {op} {v}", "the {c} is {op} {v}"))

    def _condition(self, f: Filter, alone: tuple[str, ...], equal: tuple[str, ...], other: tuple[str, ...]) -> str:
        """``f`` in one of the given forms.

        ``{a}`` is a value that stands alone, ``{c}`` the column, ``{ca}`` the column with an article, ``{v}``
        the value and ``{op}`` the operator in words, drawn afresh for each form.
        """
        if f.alone is not None:
            return self.pick(*(form.format(a=f.alone) for form in alone))
        c = natural_name(f.column)
        v = f.said if isinstance(f.said, str) else format_number(f.said)
        if f.op == "=":
            return self.pick(*(form.format(c=c, v=v) for form in equal))
        return self.pick(*(form.format(c=c, ca=with_article(c), v=v, op=self.op(f.op)) for form in other))

    def order(self, desc: bool) -> str:
        return self.pick("from highest to lowest", "in descending order") if desc else self.pick(
            "from lowest to highest", "in ascending order")
