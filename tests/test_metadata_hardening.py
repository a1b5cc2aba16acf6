"""Issue 15: personal data in numbers, rare values, offsets, names, locale numbers, date steps, bad bounds."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from synthera.errors import DataError, MetadataError
from synthera.metadata import Metadata, infer_metadata
from synthera.tabular import get_synthesizer, load_synthesizer
from synthera.tabular.fake import _luhn_complete
from synthera.tabular.transforms import RARE_LABEL, Discretizer

N = 200


def _cards(rng: np.random.Generator, n: int) -> np.ndarray:
    body = rng.integers(0, 10, (n, 15))
    body[:, 0] = 5
    return _luhn_complete(body) @ (10 ** np.arange(15, -1, -1, dtype=np.int64))


def _phones(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(201, 990, n) * 10_000_000 + rng.integers(2_000_000, 9_999_999, n)


def _fit_sample(df: pd.DataFrame, n: int = 2000, **kwargs) -> pd.DataFrame:
    return get_synthesizer("cascade")(seed=0).fit(df, **kwargs).sample(n, seed=1)


def _quiet_infer(df: pd.DataFrame) -> Metadata:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return infer_metadata(df)


# -- 2. personal numbers stored as integers ------------------------------------------------------


def test_cards_and_phones_stored_as_integers_are_personal_data_and_never_copied():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"card": _cards(rng, N), "contact": _phones(rng, N), "g": rng.choice(["a", "b"], N)})
    df["card_f"] = df["card"].astype("float64")  # float with .0, e.g. read from a CSV with gaps
    df.loc[3, "card_f"] = np.nan
    md = infer_metadata(df)
    assert (md["card"].kind, md["card"].pii_type) == ("pii", "credit_card")
    assert (md["card_f"].kind, md["card_f"].pii_type) == ("pii", "credit_card")
    assert (md["contact"].kind, md["contact"].pii_type) == ("pii", "phone")
    syn = _fit_sample(df)
    assert syn.dtypes.astype(str).to_dict() == df.dtypes.astype(str).to_dict()
    for col in ("card", "contact", "card_f"):
        assert not set(syn[col].dropna()) & set(df[col].dropna()), col


@pytest.mark.parametrize(
    ("name", "pii_type"),
    [("home_phone", "phone"), ("fax", "phone"), ("ssn", "national_id"), ("passport_no", "national_id"),
     ("social_security_number", "national_id"), ("account_number", "account_number"), ("IBAN", "account_number")],
)
def test_integer_columns_named_like_personal_data(name, pii_type):
    rng = np.random.default_rng(1)
    md = infer_metadata(pd.DataFrame({name: rng.integers(100_000_000, 999_999_999, 50)}))
    assert (md[name].kind, md[name].pii_type) == ("pii", pii_type)


def test_ssn_text_is_a_national_id_not_a_phone():
    rng = np.random.default_rng(2)
    values = [f"{a:03d}-{b:02d}-{c:04d}" for a, b, c in zip(rng.integers(1, 899, 50), rng.integers(1, 99, 50),
                                                             rng.integers(1, 9999, 50), strict=True)]
    md = infer_metadata(pd.DataFrame({"taxpayer": values}))
    assert md["taxpayer"].pii_type == "national_id"
    syn = _fit_sample(pd.DataFrame({"taxpayer": values, "x": rng.normal(size=50)}), n=200)
    assert not set(syn["taxpayer"]) & set(values)


def test_ordinary_integer_columns_stay_numerical():
    rng = np.random.default_rng(3)
    df = pd.DataFrame({
        "cell_count": rng.integers(0, 10**6, N),
        "unix_time": rng.integers(1_600_000_000, 1_700_000_000, N),  # 10 digits, but not a phone pattern
        "price_cents": rng.integers(100, 10**5, N),
    })
    assert {c.kind for c in infer_metadata(df).columns.values()} == {"numerical"}


def test_rare_values_of_a_high_cardinality_integer_column_are_not_replayed():
    rng = np.random.default_rng(4)
    values = rng.choice(np.arange(10**7), 250, replace=False)
    balance = rng.permutation(np.repeat(values, 4))  # 250 values, each held by 4 rows (< k = 5)
    df = pd.DataFrame({"balance": balance, "g": rng.choice(["a", "b"], balance.size)})
    assert infer_metadata(df)["balance"].kind == "numerical"
    syn = _fit_sample(df, n=5000)
    replayed = len(set(syn["balance"]) & set(df["balance"])) / df["balance"].nunique()
    assert replayed < 0.05  # before the fix: 100%
    assert syn["balance"].between(df["balance"].min(), df["balance"].max()).all()


def test_discretizer_codes_only_values_held_by_k_rows():
    rng = np.random.default_rng(5)
    common = np.repeat([10.0, 20.0, 30.0], 50)
    rare = rng.choice(np.arange(1000, 100_000), 60, replace=False).astype(float)
    values = np.concatenate([common, rare])
    disc = Discretizer(max_bins=64, exact_up_to=256).fit(values)
    drawn = np.round(disc.inverse(disc.transform(values), np.random.default_rng(0)))
    assert set(np.unique(drawn[: common.size])) == {10.0, 20.0, 30.0}  # frequent values stay exact
    assert np.isin(drawn[common.size:], rare).mean() < 0.05
    again = Discretizer.from_state(*disc.state())
    assert again.min_count == disc.min_count and np.array_equal(again.table_, disc.table_)


# -- 3. rare values: counted, never quoted, never replayed ----------------------------------------


def test_an_email_in_a_numeric_column_is_counted_not_quoted_and_never_replayed():
    rng = np.random.default_rng(6)
    values = [str(v) for v in rng.integers(1, 500, 400)]
    values[17] = "jane.doe@example.org"
    df = pd.DataFrame({"amount": values, "g": rng.choice(["a", "b"], 400)})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        md = infer_metadata(df)
    messages = " ".join(str(w.message) for w in caught)
    assert "jane" not in messages and "column 'amount': 1 of 400 values are not numbers" in messages
    assert md["amount"].kind == "numerical" and md["amount"].nullable
    syn = _fit_sample(df, n=5000)
    assert not syn.astype(str).apply(lambda c: c.str.contains("jane")).any().any()


def test_an_ssn_in_a_date_column_becomes_missing_and_is_never_replayed():
    rng = np.random.default_rng(7)
    dates = (pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, 300), unit="D")).strftime("%Y-%m-%d")
    values = list(dates)
    values[5] = "123-45-6789"
    df = pd.DataFrame({"visit": values, "x": rng.normal(size=300)})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        md = infer_metadata(df)
    assert md["visit"].kind == "datetime" and md["visit"].nullable
    assert not any("123-45" in str(w.message) for w in caught)
    syn = _fit_sample(df, n=5000)
    assert "123-45-6789" not in set(syn["visit"].dropna())


def test_rare_categories_are_merged_counted_and_never_emitted():
    rng = np.random.default_rng(8)
    city = rng.choice(["Lima", "Oslo", "Pune"], 300).astype(object)
    city[:4] = ["Tromsø", "Tromsø", "Ushuaia", "Hobart"]  # held by 2, 1 and 1 rows
    df = pd.DataFrame({"city": city, "x": rng.normal(size=300)})
    assert _quiet_infer(df)["city"].rare_categories == 3
    model = get_synthesizer("cascade")(seed=0).fit(df)
    assert model.metadata_["city"].categories == ["Lima", "Oslo", "Pune"]  # the saved model never holds them
    syn = model.sample(5000, seed=1)
    assert not {"Tromsø", "Ushuaia", "Hobart"} & set(syn["city"])
    assert set(syn["city"]) <= {"Lima", "Oslo", "Pune", RARE_LABEL}
    assert (syn["city"] == RARE_LABEL).any()  # their share is kept, under one label


def test_rare_categories_survive_save_load_and_metadata_round_trip(tmp_path):
    rng = np.random.default_rng(9)
    city = rng.choice(["Lima", "Oslo"], 100).astype(object)
    city[0] = "Hobart"
    df = pd.DataFrame({"city": city, "x": rng.normal(size=100)})
    model = get_synthesizer("cascade")(seed=0).fit(df)
    folder = model.save(tmp_path / "m")
    assert "Hobart" not in (folder / "manifest.json").read_text()
    again = load_synthesizer(folder)
    pd.testing.assert_frame_equal(again.sample(300, seed=2), model.sample(300, seed=2))
    md = model.metadata_
    assert Metadata.from_json(md.to_json()) == md
    refit = get_synthesizer("cascade")(seed=0).fit(df, metadata=md)  # a saved model's metadata as hints
    assert "Hobart" not in set(refit.sample(500, seed=3)["city"])


# -- 6. timestamps with UTC offsets ---------------------------------------------------------------


def test_offset_timestamps_fit_save_load_and_sample(tmp_path):
    rng = np.random.default_rng(10)
    stamps = pd.Timestamp("2024-03-01 08:00", tz="UTC") + pd.to_timedelta(rng.integers(0, 50_000, N), unit="min")
    zones = ["Europe/Oslo", "America/New_York", "UTC", "Asia/Kolkata"]
    texts = [s.tz_convert(zones[i % 4]).isoformat() for i, s in enumerate(stamps)]  # mixed offsets
    df = pd.DataFrame({"ts": texts, "x": rng.normal(size=N)})
    md = infer_metadata(df)
    assert md["ts"].kind == "datetime" and "%z" in md["ts"].datetime_format
    model = get_synthesizer("cascade")(seed=0).fit(df)
    folder = model.save(tmp_path / "m")
    syn = load_synthesizer(folder).sample(500, seed=0)
    parsed = pd.to_datetime(syn["ts"], format=md["ts"].datetime_format, utc=True)
    assert parsed.notna().all()
    assert parsed.between(stamps.min(), stamps.max()).all()


def test_native_timezone_columns_keep_their_zone():
    rng = np.random.default_rng(11)
    ts = pd.Series(pd.Timestamp("2024-01-01", tz="Europe/Oslo") + pd.to_timedelta(rng.integers(0, 10**6, N), unit="s"))
    df = pd.DataFrame({"ts": ts, "x": rng.normal(size=N)})
    syn = _fit_sample(df, n=200)
    assert str(syn["ts"].dtype) == str(df["ts"].dtype)
    assert syn["ts"].between(ts.min(), ts.max()).all()


# -- 9. false person names ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        ["Steel Hammer", "Oak Table", "Blue Widget", "Desk Lamp", "Gadget Mini", "Copper Kettle", "Glass Vase"],
        ["Lion", "Tiger", "Elephant", "Giraffe", "Zebra", "Penguin", "Dolphin"],
    ],
)
def test_a_name_column_of_products_or_animals_is_not_personal_data(values):
    md = infer_metadata(pd.DataFrame({"name": values * 4}))
    assert md["name"].kind in ("categorical", "text")


def test_a_name_column_of_people_is_personal_data():
    values = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Maria Garcia", "Wei Chen", "John Smith", "Olga Berg"]
    md = infer_metadata(pd.DataFrame({"name": values * 4}))
    assert (md["name"].kind, md["name"].pii_type) == ("pii", "person_name")


# -- 10. thousands separators ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("style", "pattern"),
    [("1,234.56", r"^-?\d{1,3}(,\d{3})*\.\d{2}$"), ("1.234,56", r"^-?\d{1,3}(\.\d{3})*,\d{2}$")],
)
def test_locale_formatted_amounts_are_numbers_written_back_in_their_style(style, pattern):
    rng = np.random.default_rng(12)
    amounts = np.round(rng.uniform(10, 250_000, N), 2)
    swap = str.maketrans(",.", ".,")
    texts = [f"{a:,.2f}" if style == "1,234.56" else f"{a:,.2f}".translate(swap) for a in amounts]
    md = infer_metadata(pd.DataFrame({"amount": texts}))
    assert (md["amount"].kind, md["amount"].number_format, md["amount"].precision) == ("numerical", style, 2)
    assert md["amount"].min == amounts.min() and md["amount"].max == amounts.max()
    syn = _fit_sample(pd.DataFrame({"amount": texts, "x": rng.normal(size=N)}), n=500)
    assert syn["amount"].str.match(pattern).all()
    back = syn["amount"].str.replace("," if style == "1,234.56" else ".", "", regex=False)
    back = back.str.replace(",", ".", regex=False).astype(float)
    assert back.between(amounts.min(), amounts.max()).all()


# -- 11. datetime granularity ---------------------------------------------------------------------


def test_monthly_dates_stay_on_the_first_and_hourly_stamps_on_the_hour():
    rng = np.random.default_rng(13)
    months = pd.date_range("2015-01-01", periods=60, freq="MS")[rng.integers(0, 60, N)]
    hours = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 5000, N), unit="h")
    df = pd.DataFrame({
        "month": months.strftime("%Y-%m-%d"),
        "hour": hours.strftime("%Y-%m-%d %H:%M:%S"),
        "native": hours,
    })
    md = infer_metadata(df)
    steps = (md["month"].datetime_step, md["hour"].datetime_step, md["native"].datetime_step)
    assert steps == ("month", "hour", "hour")
    syn = _fit_sample(df, n=2000)
    month = pd.to_datetime(syn["month"], format="%Y-%m-%d")
    assert (month.dt.day == 1).all()
    for col in (pd.to_datetime(syn["hour"], format="%Y-%m-%d %H:%M:%S"), syn["native"]):
        assert ((col.dt.minute == 0) & (col.dt.second == 0)).all()


# -- 12, 13, 14: metadata validation --------------------------------------------------------------


@pytest.mark.parametrize("bound", [float("nan"), float("inf"), "5"])
def test_bounds_must_be_finite_numbers_or_null(bound):
    doc = {"format_version": 1, "columns": {"age": {"kind": "numerical", "min": 0, "max": bound}}}
    text = json.dumps(doc)  # json writes NaN and Infinity, and reads them back
    with pytest.raises(MetadataError, match="column 'age': max must be a finite number or null") as err:
        Metadata.from_json(text)
    assert "\n" not in str(err.value)
    doc["columns"]["age"]["max"] = None
    assert Metadata.from_dict(doc)["age"].max is None


def test_nested_values_are_refused_with_the_fix():
    df = pd.DataFrame({"tags": [["a", "b"], ["c"], None] * 10, "meta": [{"k": 1}, {"k": 2}, {"k": 3}] * 10,
                       "x": range(30)})
    message = "column 'tags' holds lists or dicts in 20 cells; flatten it or convert it to JSON text"
    with pytest.raises(DataError, match=message):
        infer_metadata(df)
    with pytest.raises(DataError, match="column 'meta'"):
        get_synthesizer("cascade")().fit(df.drop(columns="tags"))


def test_measured_from_data_is_recorded_and_round_trips():
    md = infer_metadata(pd.DataFrame({"a": [1, 2, 3]}))
    assert md.measured_from_data is True
    data = json.loads(md.to_json())
    assert data["measured_from_data"] is True
    assert Metadata.from_json(md.to_json()) == md
    data["measured_from_data"] = False  # a user declaring a public domain
    assert Metadata.from_dict(data).measured_from_data is False
    del data["measured_from_data"]  # files written before the field existed
    assert Metadata.from_dict(data).measured_from_data is False
    data["measured_from_data"] = "yes"
    with pytest.raises(MetadataError, match="measured_from_data"):
        Metadata.from_dict(data)


def test_declared_numbers_with_bad_cells_are_counted_never_quoted():
    values = [str(i) for i in range(60)] + ["bob@example.org"]
    hints = {"format_version": 1, "columns": {"n": {"kind": "numerical"}}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        md = infer_metadata(pd.DataFrame({"n": values}), hints=hints)
    assert md["n"].nullable and md["n"].max == 59
    assert any("column 'n': 1 of 61 values are not numbers" in str(w.message) for w in caught)
    assert not any("bob" in str(w.message) for w in caught)
    with pytest.raises(MetadataError, match="column 'n': 20 of 40 values are not numbers; fix them") as err:
        infer_metadata(pd.DataFrame({"n": ["1", "bob@example.org"] * 20}), hints=hints)
    assert "bob" not in str(err.value)


def test_version_1_files_still_load_and_new_files_say_version_2():
    md = infer_metadata(pd.DataFrame({"a": [1, 2, 3]}))
    data = json.loads(md.to_json())
    assert data["format_version"] == 2
    data["format_version"] = 1
    del data["measured_from_data"]
    assert Metadata.from_dict(data).columns == md.columns
