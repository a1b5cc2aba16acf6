"""Rows to text: the default list, custom templates, nulls, numbers, and mistakes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synthera.errors import UserInputError
from synthera.hf.serialize import RowTemplate, format_value, readable_name, template_fields


@pytest.fixture
def rows() -> pd.DataFrame:
    return pd.DataFrame({
        "age": [39, 50],
        "workclass": ["State-gov", None],
        "hours_per_week": [40.0, np.nan],
        "ratio": [0.25, 1e-7],
        "income": ["<=50K", ">50K"],
    })


def test_default_lists_every_column_but_the_target(rows):
    texts = RowTemplate().render(rows, target="income")
    assert texts[0] == "age is 39, workclass is State-gov, hours per week is 40, ratio is 0.25"
    assert "income" not in " ".join(texts) and "50K" not in " ".join(texts)


def test_nulls_are_left_out_by_default_and_written_when_asked(rows):
    assert RowTemplate().render(rows, target="income")[1] == "age is 50, ratio is 0.0000001"
    with_null = RowTemplate(null_text="unknown").render(rows, target="income")[1]
    assert with_null == "age is 50, workclass is unknown, hours per week is unknown, ratio is 0.0000001"


def test_custom_item_separator_and_exclude(rows):
    t = RowTemplate(item="{name}: {value}", separator="; ", exclude=("ratio",))
    assert t.render(rows, target="income")[0] == "age: 39; workclass: State-gov; hours per week: 40"


def test_custom_template_fills_fields_and_braces(rows):
    t = RowTemplate(text="{{row}} A {age} year old, {workclass}, {hours_per_week} h")
    assert t.render(rows, target="income") == ["{row} A 39 year old, State-gov, 40 h",
                                               "{row} A 50 year old, unknown, unknown h"]
    assert RowTemplate(text="{workclass}", null_text="n/a").render(rows, target="income")[1] == "n/a"
    assert template_fields("{a} and {b} and {a} {{c}}") == ["a", "b"]


def test_template_naming_the_target_is_refused(rows):
    with pytest.raises(UserInputError, match="target column"):
        RowTemplate(text="{age} earns {income}").render(rows, target="income")


@pytest.mark.parametrize(("template", "needle"), [
    (RowTemplate(text="{agee}"), "not a column"),
    (RowTemplate(text="no fields"), "no {column} field"),
    (RowTemplate(exclude=("nope",)), "excluded column 'nope'"),
    (RowTemplate(item="{name}"), "no {value} field"),
    (RowTemplate(exclude=("age", "workclass", "hours_per_week", "ratio")), "no column is left"),
])
def test_template_mistakes_name_the_problem(rows, template, needle):
    with pytest.raises(UserInputError, match=needle.replace("{", r"\{").replace("}", r"\}")):
        template.render(rows, target="income")


def test_numbers_are_written_as_people_write_them():
    assert format_value(np.int64(39)) == "39"
    assert format_value(39.0) == "39"
    assert format_value(np.float32(2.5)) == "2.5"
    assert format_value(1234567.0) == "1234567"
    assert format_value(-3.1400) == "-3.14"
    assert format_value(39.123456789) == "39.12346"
    assert format_value(1e-7) == "0.0000001"
    assert format_value(float("nan")) is None
    assert format_value(pd.NA) is None
    assert format_value(np.bool_(True)) == "True"
    assert format_value(pd.Timestamp("2024-01-31")) == "2024-01-31"
    assert format_value("  two\nlines ") == "two lines"
    assert readable_name("hours_per_week") == "hours per week"


def test_nullable_integer_column_has_no_decimal_point():
    frame = pd.DataFrame({"n": pd.array([3, None], dtype="Int64"), "y": ["a", "b"]})
    assert RowTemplate().render(frame, target="y") == ["n is 3", ""]
