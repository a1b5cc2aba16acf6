"""Assertions the test folders share."""

from __future__ import annotations

import numpy as np
import pandas as pd

from synthera.metadata import Metadata


def one_line_error(result, *needles: str, code: int = 2) -> None:
    """A user mistake on the command line: exit ``code``, one ``error: ...`` line on stderr naming ``needles``, no traceback."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr + result.stdout
    for needle in needles:
        assert needle in lines[0], lines[0]


def make_dp_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """A small table for the DP tests (age, hours, segment, label), with a signal to learn."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, n)
    hours = np.round(rng.normal(40, 8, n), 1)
    segment = rng.choice(["gold", "silver", "bronze"], n, p=[0.2, 0.3, 0.5])
    logit = 0.08 * (age - 45) + 1.5 * (segment == "gold") - 1.0 * (segment == "bronze")
    label = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return pd.DataFrame({"age": age, "hours": hours, "segment": segment, "label": label})


def dp_public_metadata() -> Metadata:
    """The public domain of :func:`make_dp_frame`: what a user could declare without looking at the rows."""
    return Metadata.from_dict(
        {
            "format_version": 1,
            "columns": {
                "age": {"kind": "numerical", "min": 0, "max": 120},
                "hours": {"kind": "numerical", "min": 0, "max": 168},
                "segment": {"kind": "categorical", "categories": ["bronze", "gold", "silver"]},
                "label": {"kind": "categorical", "categories": ["no", "yes"]},
            },
        }
    )
