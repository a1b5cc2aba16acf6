"""Metadata inference, JSON round trips and user-edited metadata."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from synthera import datasets
from synthera.errors import DataError, MetadataError, SyntheraWarning
from synthera.metadata import FORMAT_VERSION, Metadata, infer_metadata


def test_every_adult_column_is_detected_correctly():
    train, test = datasets.load("adult")
    expected = {
        "age": "numerical", "workclass": "categorical", "fnlwgt": "numerical", "education": "categorical",
        "education_num": "numerical", "marital_status": "categorical", "occupation": "categorical",
        "relationship": "categorical", "race": "categorical", "sex": "categorical",
        "capital_gain": "numerical", "capital_loss": "numerical", "hours_per_week": "numerical",
        "native_country": "categorical", "income": "categorical",
    }
    for frame in (train, test):
        md = infer_metadata(frame)
        assert {n: c.kind for n, c in md.columns.items()} == expected
        for name in ("age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week"):
            assert md[name].integer is True and md[name].precision == 0
        assert md["age"].min == 17 and md["age"].max == 90
        assert md["income"].categories == ["<=50K", ">50K"]
        assert md["sex"].categories == ["Female", "Male"]
        assert len(md["native_country"].categories) in (40, 41)
        assert md["workclass"].nullable and not md["age"].nullable
        assert md.primary_key is None


def test_compas_personal_data_ids_dates_and_flags():
    md = infer_metadata(datasets.load("compas").train)
    names = ("name", "first", "last")
    assert {n: md[n].pii_type for n in names} == dict.fromkeys(names, "person_name")
    assert md["id"].kind == "id" and md.primary_key == "id"
    assert md["dob"].kind == "datetime" and md["dob"].datetime_format == "%Y-%m-%d"
    assert md["c_jail_in"].datetime_format == "%Y-%m-%d %H:%M:%S"
    assert md["two_year_recid"].kind == "boolean"
    assert (md["two_year_recid"].true_value, md["two_year_recid"].false_value) == (1, 0)
    assert md["c_charge_desc"].kind == "categorical"
    assert md["days_b_screening_arrest"].kind == "numerical" and md["days_b_screening_arrest"].nullable


def test_german_booleans_and_categories():
    md = infer_metadata(datasets.load("german").train)
    assert md["telephone"].kind == "boolean" and md["telephone"].true_value is True
    assert md["credit"].categories == ["bad", "good"]
    assert md["credit_amount"].kind == "numerical"


def test_mixed_frame(mixed_frame):
    md = infer_metadata(mixed_frame)
    kinds = {n: c.kind for n, c in md.columns.items()}
    assert kinds == {
        "customer_id": "id", "âge": "numerical", "income": "numerical", "score": "numerical",
        "segment": "categorical", "active": "boolean", "joined": "datetime", "email": "pii", "comment": "text",
    }
    assert md["income"].precision == 2 and md["income"].integer is False
    assert md["score"].integer and md["score"].nullable and md["score"].dtype == "Int64"
    assert (md["active"].true_value, md["active"].false_value) == ("yes", "no")
    assert md["joined"].datetime_format == "%Y-%m-%d"
    assert md["email"].pii_type == "email"
    assert md.primary_key == "customer_id"


@pytest.mark.parametrize(
    ("name", "values", "pii_type"),
    [
        ("contact", ["+1 415 555 0100", "(212) 555-0199", "+44 20 7946 0958", "555-123-4567"], "phone"),
        ("client_ip", ["10.0.0.1", "192.168.1.20", "2001:db8::1", "8.8.8.8"], "ip_address"),
        ("card", ["4111 1111 1111 1111", "5500-0000-0000-0004", "340000000000009", "4012888888881881"], "credit_card"),
        ("home", ["12 Baker Street", "742 Evergreen Terrace", "1600 Pennsylvania Ave NW", "4 Privet Drive"],
         "street_address"),
        ("full_name", ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Katherine Johnson"], "person_name"),
        ("e_mail", ["a.b@example.com", "x_y@mail.co.uk", "z+tag@sub.example.org", "q@e.io"], "email"),
    ],
)
def test_personal_data_types(name, values, pii_type):
    md = infer_metadata(pd.DataFrame({name: values * 5}))
    assert md[name].kind == "pii"
    assert md[name].pii_type == pii_type


def test_non_personal_lookalikes_are_not_personal_data():
    df = pd.DataFrame(
        {
            "product_name": ["Widget Pro", "Gadget Mini", "Widget Max", "Gizmo"] * 5,
            "zip": ["02139", "10001", "94105", "60601"] * 5,
            "card_digits": ["4111111111111112", "5500000000000005", "3400000000000008", "4012888888881882"] * 5,
        }
    )
    md = infer_metadata(df)
    assert md["product_name"].kind == "categorical"
    assert md["zip"].kind == "categorical"
    assert md["card_digits"].kind != "pii"  # fails the Luhn check


@pytest.mark.parametrize(
    ("values", "fmt"),
    [
        (["2024-01-31", "2023-12-01"], "%Y-%m-%d"),
        (["31/01/2024", "01/12/2023"], "%d/%m/%Y"),
        (["01/31/2024", "12/01/2023"], "%m/%d/%Y"),
        (["2024-01-31T08:15:00", "2023-12-01T23:00:59"], "%Y-%m-%dT%H:%M:%S"),
        (["2024-01-31T08:15:00.123Z", "2023-12-01T23:00:59.000Z"], "%Y-%m-%dT%H:%M:%S.%fZ"),
        (["31.01.2024", "01.12.2023"], "%d.%m.%Y"),
        (["Jan 31, 2024", "Dec 01, 2023"], "%b %d, %Y"),
    ],
)
def test_datetime_formats(values, fmt):
    md = infer_metadata(pd.DataFrame({"when": values * 3}))
    assert md["when"].kind == "datetime"
    assert md["when"].datetime_format == fmt


def test_integer_date_codes_stay_numbers_until_metadata_says_datetime():
    df = pd.DataFrame({"day": [20240131, 20231201, 20220615, 20210101]})
    md = infer_metadata(df)
    assert md["day"].kind == "numerical" and md["day"].integer
    hints = {"format_version": 1, "columns": {"day": {"kind": "datetime", "datetime_format": "%Y%m%d"}}}
    hinted = infer_metadata(df, hints=hints)
    assert hinted["day"].kind == "datetime"
    assert hinted["day"].min == "2021-01-01T00:00:00" and hinted["day"].max == "2024-01-31T00:00:00"


def test_hint_with_values_that_do_not_match_is_a_clear_error():
    df = pd.DataFrame({"day": [20240131, 20241345]})
    with pytest.raises(MetadataError, match=r"'day': 1 of 2 values do not match datetime format '%Y%m%d'; fix") as err:
        infer_metadata(df, hints={"format_version": 1,
                                  "columns": {"day": {"kind": "datetime", "datetime_format": "%Y%m%d"}}})
    assert "20241345" not in str(err.value)  # cells are counted, never quoted


def test_edited_metadata_round_trip_and_hints(tmp_path, mixed_frame):
    md = infer_metadata(mixed_frame)
    path = tmp_path / "meta.json"
    md.save(path)
    assert Metadata.load(path) == md

    edited = json.loads(path.read_text())
    edited["columns"]["âge"]["min"] = 0
    edited["columns"]["âge"]["max"] = 120
    edited["columns"]["segment"] = {"kind": "categorical", "categories": ["gold", "silver", "bronze", "platinum"]}
    edited["columns"]["customer_id"] = {"kind": "numerical"}
    path.write_text(json.dumps(edited))
    again = infer_metadata(mixed_frame, hints=Metadata.load(path))
    assert (again["âge"].min, again["âge"].max) == (0, 120)
    assert again["segment"].categories == ["gold", "silver", "bronze", "platinum"]
    assert again["customer_id"].kind == "numerical" and again["customer_id"].integer
    assert again["segment"].dtype == "object"  # data facts are re-measured


def test_metadata_json_has_a_format_version(mixed_frame):
    data = json.loads(infer_metadata(mixed_frame).to_json())
    assert data["format_version"] == 2  # nothing newer used: older Synthera still reads it
    assert list(data["columns"]) == list(mixed_frame.columns)


def _events() -> pd.DataFrame:
    return pd.DataFrame({"patient": [1, 1, 2, 2, 3, 3], "day": [0, 5, 0, 3, 1, 9],
                         "part": [1, 2, 0, 3, 2, 2], "whole": [4, 5, 1, 3, 6, 2]})


def test_sequence_fields_round_trip_as_version_3():
    md = infer_metadata(_events(), hints={"format_version": 2, "sequence_key": "patient", "sequence_index": "day",
                                          "constraints": [{"low": "part", "high": "whole"}],
                                          "columns": {"patient": {"kind": "numerical"}, "day": {"kind": "numerical"},
                                                      "part": {"kind": "numerical"}, "whole": {"kind": "numerical"}}})
    assert md.is_sequence and md.constraints == [{"low": "part", "high": "whole"}]
    data = json.loads(md.to_json())
    assert data["format_version"] == FORMAT_VERSION == 3
    assert (data["sequence_key"], data["sequence_index"]) == ("patient", "day")
    assert Metadata.from_json(md.to_json()) == md
    plain = dict(data, format_version=2)
    for name in ("sequence_key", "sequence_index", "constraints"):
        del plain[name]
    assert not Metadata.from_dict(plain).is_sequence  # version 2 files still load


@pytest.mark.parametrize(("change", "message"), [
    ({"sequence_key": "ghost"}, "sequence_key must name one of the columns"),
    ({"sequence_index": None}, "needs both sequence_key and sequence_index; add sequence_index"),
    ({"sequence_index": "patient"}, "two different columns"),
    ({"constraints": [{"low": "part"}]}, "each constraint must be"),
    ({"constraints": [{"low": "part", "high": "ghost"}]}, "high must name one of the columns"),
    ({"constraints": "part<=whole"}, "must be a list"),
])
def test_bad_sequence_fields_are_one_line(change, message):
    data = json.loads(infer_metadata(_events()).to_json())
    data.update({"format_version": 3, "sequence_key": "patient", "sequence_index": "day"}, **change)
    with pytest.raises(MetadataError, match=message) as err:
        Metadata.from_dict(data)
    assert "\n" not in str(err.value)


def test_constraints_must_compare_numbers_or_dates():
    frame = _events().assign(ward=list("abcabc"))
    data = json.loads(infer_metadata(frame).to_json())
    data.update(format_version=3, constraints=[{"low": "ward", "high": "whole"}])
    with pytest.raises(MetadataError, match="constraint column 'ward' is categorical"):
        Metadata.from_dict(data)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"columns": {"a": {"kind": "numerical"}}}, "format_version"),
        ({"format_version": 99, "columns": {"a": {"kind": "numerical"}}}, "newer than this Synthera"),
        ({"format_version": 1, "columns": {"a": {"kind": "number"}}}, "unknown kind 'number'"),
        ({"format_version": 1, "columns": {"a": {"kind": "numerical", "minn": 1}}}, "unknown field 'minn'"),
        ({"format_version": 1, "columns": {"a": {"kind": "numerical", "min": 5, "max": 1}}}, "above max"),
        ({"format_version": 1, "columns": {"a": {"kind": "pii", "pii_type": "dna"}}}, "pii_type must be"),
        ({"format_version": 1, "columns": {"a": {"kind": "datetime", "datetime_format": "YYYY"}}}, "strftime"),
        ({"format_version": 1, "columns": {"a": {}}}, "has no 'kind'"),
        ({"format_version": 1, "columns": {"a": {"kind": "id"}}, "primary_key": "b"}, "primary_key 'b'"),
        ([1, 2], "not a Synthera metadata file"),
    ],
)
def test_bad_metadata_is_named_with_its_fix(doc, message):
    with pytest.raises(MetadataError, match=message):
        Metadata.from_dict(doc)


def test_malformed_json_file(tmp_path):
    path = tmp_path / "m.json"
    path.write_text("{ not json")
    with pytest.raises(MetadataError, match="not valid JSON"):
        Metadata.load(path)
    with pytest.raises(MetadataError, match="not found"):
        Metadata.load(tmp_path / "absent.json")


def test_hint_for_unknown_column():
    with pytest.raises(MetadataError, match="'ghost' is in the metadata but not in the data"):
        infer_metadata(pd.DataFrame({"a": [1, 2]}), hints={"format_version": 1, "columns": {"ghost": {"kind": "id"}}})


def test_check_frame_names_unknown_columns(mixed_frame):
    md = infer_metadata(mixed_frame)
    with pytest.raises(DataError, match="'extra' is in the data but not in the metadata"):
        md.check_frame(mixed_frame.assign(extra=1))
    with pytest.raises(DataError, match="'email' is in the metadata but not in the data"):
        md.check_frame(mixed_frame.drop(columns="email"))
    with pytest.raises(MetadataError, match="unknown column 'nope'"):
        md["nope"]


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame(), "no columns"),
        (pd.DataFrame({"a": []}), "no rows"),
        (pd.DataFrame({"a": [1, 2], "b": [None, None]}), "column 'b' is entirely empty"),
        (pd.DataFrame({"a": [1.0, np.inf]}), "infinite values"),
        (pd.DataFrame([[1, 2]], columns=["a", "a"]), "duplicated column name 'a'"),
        (pd.DataFrame({0: [1, 2]}), "column names must be text"),
    ],
)
def test_unusable_frames(frame, message):
    with pytest.raises(DataError, match=message):
        infer_metadata(frame)


def test_mixed_types_warn_and_become_labels():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        md = infer_metadata(pd.DataFrame({"m": [1, "a", 2.5, None, "b"]}))
    assert md["m"].kind == "categorical"
    assert md["m"].categories == ["1", "2.5", "a", "b"]
    assert any(issubclass(w.category, SyntheraWarning) and "mixes value types" in str(w.message) for w in caught)


def test_float_integers_and_decimals():
    df = pd.DataFrame({"whole": [1.0, 2.0, np.nan, 4.0], "cents": [1.25, 3.5, 2.0, 0.05],
                       "ratio": [0.333, 0.1, 0.25, 1.0]})
    md = infer_metadata(df)
    assert md["whole"].integer and md["whole"].precision == 0 and md["whole"].dtype == "float64"
    assert md["cents"].precision == 2
    assert md["ratio"].precision == 3


def test_native_datetime_column():
    df = pd.DataFrame({"t": pd.to_datetime(["2020-01-01", "2021-06-30", None])})
    md = infer_metadata(df)
    assert md["t"].kind == "datetime" and md["t"].datetime_format is None
    assert md["t"].min == "2020-01-01T00:00:00" and md["t"].nullable


def test_a_malformed_number_is_counted_in_a_warning_and_becomes_missing():
    df = pd.DataFrame({"amount": [str(i % 12) for i in range(40)] + ["12,5x"]})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        md = infer_metadata(df)
    assert md["amount"].kind == "numerical" and md["amount"].nullable
    assert md["amount"].null_fraction == round(1 / 41, 6)
    messages = [str(w.message) for w in caught]
    assert any("column 'amount': 1 of 41 values are not numbers; they are treated as missing" in m for m in messages)
    assert not any("12,5x" in m for m in messages)


def test_hinted_categories_must_cover_the_data():
    df = pd.DataFrame({"c": ["a", "b", "z"]})
    hints = {"format_version": 1, "columns": {"c": {"kind": "categorical", "categories": ["a", "b"]}}}
    with pytest.raises(MetadataError, match="'c' holds 1 values that are not among its categories") as err:
        infer_metadata(df, hints=hints)
    assert "'z'" not in str(err.value)


def test_hinted_personal_data_finds_its_type_or_asks_for_it():
    df = pd.DataFrame({"contact": ["a@b.org", "c@d.com"], "code": ["x1", "y2"]})
    hints = {"format_version": 1, "columns": {"contact": {"kind": "pii"}, "code": {"kind": "pii"}}}
    with pytest.raises(MetadataError, match="column 'code': its values do not tell.*set pii_type"):
        infer_metadata(df, hints=hints)
    hints["columns"]["code"]["pii_type"] = "person_name"
    md = infer_metadata(df, hints=hints)
    assert (md["contact"].pii_type, md["code"].pii_type) == ("email", "person_name")


@pytest.mark.parametrize(
    ("sensitive", "needle"),
    [("sex", "must be a list"), (["nope"], "'nope' is not one of the columns"), (["a", "a"], "twice")],
)
def test_bad_sensitive_declarations_are_one_line_errors(sensitive, needle):
    from synthera.errors import MetadataError
    from synthera.metadata import Metadata

    data = {"format_version": 3, "columns": {"a": {"kind": "categorical"}}, "sensitive": sensitive}
    with pytest.raises(MetadataError, match=needle) as info:
        Metadata.from_dict(data)
    assert "\n" not in str(info.value)
