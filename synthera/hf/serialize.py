"""Rows written as text, so that a language model can read a table.

The default writes every column but the target as ``name is value`` and joins
them with commas, in the table's column order::

    age is 39, workclass is State-gov, education is Bachelors, ...

Column names are made readable (``hours_per_week`` becomes ``hours per
week``), numbers are written the way people write them (``39``, never
``39.0``; ``0.25``, never ``2.5e-01``), and a missing value leaves its column
out of the sentence (or is written as ``null_text`` when one is given).

A custom template is a string with ``{column}`` fields, e.g.
``"A {age} year old {sex} who works {hours_per_week} hours a week as {occupation}."``;
``{{`` and ``}}`` write literal braces. In a custom template a missing value
is written as ``null_text`` (``"unknown"`` unless given). A template may not
name the target: the model has to predict it, not read it.

Examples
--------
>>> import pandas as pd
>>> rows = pd.DataFrame({"age": [39], "hours_per_week": [40.0], "income": ["<=50K"]})
>>> RowTemplate().render(rows, target="income")
['age is 39, hours per week is 40']
>>> RowTemplate(text="{age} years, {hours_per_week} h").render(rows, target="income")
['39 years, 40 h']
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from synthera.errors import UserInputError

__all__ = ["RowTemplate", "format_value", "readable_name", "template_fields"]

_FIELD = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_SPACES = re.compile(r"\s+")


def readable_name(column: str) -> str:
    """``hours_per_week`` -> ``hours per week``: underscores become spaces, runs of spaces collapse."""
    return _SPACES.sub(" ", str(column).replace("_", " ")).strip()


def format_value(value) -> str | None:
    """A cell as words: ``None`` for a missing value, integers without ``.0``, no exponents.

    Examples
    --------
    >>> [format_value(v) for v in (39, 39.0, 0.25, 39.123456789, 1e-7, float("nan"), True, "Never-married")]
    ['39', '39', '0.25', '39.12346', '0.0000001', None, 'True', 'Never-married']
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "infinity" if value > 0 else "minus infinity"
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        # seven significant digits, never an exponent: 0.25, 0.0000001, 39.12346
        return np.format_float_positional(value, precision=7, unique=True, fractional=False, trim="-")
    if isinstance(value, pd.Timestamp):
        return value.isoformat() if (value.hour, value.minute, value.second) != (0, 0, 0) else value.date().isoformat()
    text = _SPACES.sub(" ", str(value)).strip()
    return text if text else None


def template_fields(text: str) -> list[str]:
    """The column names a custom template refers to, in order of first use."""
    names: list[str] = []
    for match in _FIELD.finditer(text):
        name = match.group(1)
        if name is not None and name not in names:
            names.append(name)
    return names


@dataclass(frozen=True)
class RowTemplate:
    """How a row becomes a sentence.

    Parameters
    ----------
    text : str, optional
        A custom template with ``{column}`` fields. ``None`` (default) lists
        every column but the target as ``item`` joined by ``separator``.
    item : str
        The phrase for one column in the default list; ``{name}`` is the
        readable column name and ``{value}`` the value.
    separator : str
        What joins the phrases of the default list.
    null_text : str, optional
        How a missing value is written. ``None`` (default) leaves the column
        out of the default list and writes ``"unknown"`` in a custom template.
    exclude : tuple of str
        Columns never written (besides the target), e.g. a row id or a
        sampling weight.
    """

    text: str | None = None
    item: str = "{name} is {value}"
    separator: str = ", "
    null_text: str | None = None
    exclude: tuple[str, ...] = field(default_factory=tuple)

    def columns(self, frame_columns, *, target: str | None = None) -> list[str]:
        """The columns the text is built from, checked against the table; target and excluded ones left out."""
        available = [str(c) for c in frame_columns]
        missing = [c for c in self.exclude if c not in available]
        if missing:
            raise UserInputError(
                f"excluded column {missing[0]!r} is not in the table; columns are: {', '.join(available)}"
            )
        if self.text is None:
            if "{value}" not in self.item:
                raise UserInputError(
                    f"the item phrase {self.item!r} has no {{value}} field; e.g. '{{name}} is {{value}}'"
                )
            cols = [c for c in available if c != target and c not in self.exclude]
            if not cols:
                raise UserInputError("no column is left to write once the target and excluded columns are removed")
            return cols
        used = template_fields(self.text)
        if not used:
            raise UserInputError(
                f"the template {self.text!r} has no {{column}} field; name at least one column in braces"
            )
        for name in used:
            if name == target:
                raise UserInputError(
                    f"the template uses the target column {{{name}}}; leave it out, the model has to predict it"
                )
            if name not in available:
                raise UserInputError(
                    f"the template refers to {{{name}}}, which is not a column; columns are: {', '.join(available)}"
                )
            if name in self.exclude:
                raise UserInputError(f"the template uses {{{name}}}, which is also excluded; drop one of the two")
        return used

    def render(self, frame: pd.DataFrame, *, target: str | None = None) -> list[str]:
        """One string per row of ``frame``.

        Parameters
        ----------
        frame : pandas.DataFrame
            The rows to write.
        target : str, optional
            The column to predict; it is never written.
        """
        cols = self.columns(frame.columns, target=target)
        values = {c: [format_value(v) for v in frame[c].tolist()] for c in cols}
        n = len(frame)
        if self.text is None:
            names = {c: readable_name(c) for c in cols}
            out = []
            for i in range(n):
                parts = []
                for c in cols:
                    v = values[c][i]
                    if v is None:
                        if self.null_text is None:
                            continue
                        v = self.null_text
                    parts.append(self.item.replace("{name}", names[c]).replace("{value}", v))
                out.append(self.separator.join(parts))
            return out
        null = "unknown" if self.null_text is None else self.null_text

        def fill(i: int) -> str:
            def one(match: re.Match) -> str:
                token = match.group(0)
                if token == "{{":
                    return "{"
                if token == "}}":
                    return "}"
                v = values[match.group(1)][i]
                return null if v is None else v

            return _FIELD.sub(one, self.text)

        return [fill(i) for i in range(n)]

    def to_dict(self) -> dict:
        """The template's settings, for results.json."""
        return {"text": self.text, "item": self.item, "separator": self.separator, "null_text": self.null_text,
                "exclude": list(self.exclude)}
