"""The one column codec (synthera._columns): one date, one number, in the DP domain, evaluation and bias."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synthera._columns import EPOCH, category_codes, datetimes, from_seconds, iso_seconds, strftime, to_seconds
from synthera.metadata import DATETIME_FORMATS, ColumnMetadata, Metadata

DAY = 86400.0


def _dt(fmt=None):
    return ColumnMetadata(kind="datetime", datetime_format=fmt)


def test_naive_values_are_utc_and_offsets_are_converted():
    naive = pd.Series(["1970-01-02 00:00", None])
    assert to_seconds(naive, _dt("%Y-%m-%d %H:%M"))[0] == DAY and np.isnan(to_seconds(naive, _dt())[1])
    mixed = pd.Series(["1970-01-02T02:00:00+02:00", "1970-01-01T19:00:00-05:00"])
    assert to_seconds(mixed, _dt()).tolist() == [DAY, DAY]
    zoned = pd.Series(pd.to_datetime(["1970-01-02 01:00"]).tz_localize("Europe/Paris"))
    assert to_seconds(zoned, _dt("%Y-%m-%d")).tolist() == [DAY]  # parsed values ignore the text format
    objects = pd.Series([pd.Timestamp("1970-01-02", tz="UTC"), pd.Timestamp("1970-01-02")], dtype=object)
    assert to_seconds(objects, _dt()).tolist() == [DAY, DAY]


def test_text_not_in_the_format_is_nan_and_round_trips_keep_the_format():
    col = _dt("%d/%m/%Y")
    assert np.isnan(to_seconds(pd.Series(["1970-01-02"]), col)[0])
    assert from_seconds(np.array([DAY, np.nan]), col, "object").tolist() == ["02/01/1970", None]
    assert from_seconds(np.array([DAY]), _dt(), "datetime64[ns, UTC]")[0] == pd.Timestamp("1970-01-02", tz="UTC")
    assert iso_seconds("1970-01-02T01:00:00+01:00") == DAY and np.isnan(iso_seconds(None))


def test_seconds_become_the_instants_pandas_gives_and_what_pandas_cannot_hold_becomes_nat():
    rng = np.random.default_rng(0)
    seconds = np.concatenate([rng.uniform(-9.2e9, 9.2e9, 20_000), np.round(rng.uniform(0, 2e9, 20_000), 3),
                              [np.nan, -0.5, 0.5, -1.25, 1e-10, -1e-10, 9_223_372_035.0, -9_223_372_035.0]])
    expected = pd.to_datetime(pd.Series(seconds), unit="s", origin=EPOCH, errors="coerce")
    pd.testing.assert_series_equal(pd.Series(datetimes(seconds)), expected)
    # pandas raises on an infinity and wraps around past its range; here they are missing dates
    beyond = np.array([np.inf, -np.inf, 1e12, -1e12, 9_223_372_036.8])
    assert pd.isna(datetimes(beyond)).all()
    assert from_seconds(beyond, _dt(), "datetime64[ns]").isna().all()


@pytest.mark.parametrize("fmt", [*DATETIME_FORMATS, "at %H:%M on %d.%m.%Y (100%%)", "%y%m%d", ""])
def test_dates_are_written_as_pandas_writes_them_in_every_format(fmt):
    rng = np.random.default_rng(1)
    seconds = np.r_[rng.uniform(-9.2e9, 9.2e9, 3000), np.round(rng.uniform(0, 2e9, 3000), 6), np.nan, 0.0, -1e-6]
    col = _dt(fmt)
    stamps = pd.Series(datetimes(seconds))
    expected = stamps.dt.strftime(fmt.replace("%z", "+0000")).astype(object).where(stamps.notna(), None)
    assert from_seconds(seconds, col, "object").tolist() == expected.tolist()


def test_the_fast_writer_leaves_names_and_other_text_to_pandas():
    stamps = datetimes(np.array([0.0, np.nan]))
    assert strftime(stamps, "%d/%m/%Y %H:%M:%S.%f").tolist() == ["01/01/1970 00:00:00.000000", None]
    assert strftime(stamps, "%d %b %Y") is None and strftime(stamps, "%Y年") is None


def test_category_codes_match_labels_by_value_not_spelling():
    assert category_codes(pd.Series([1.0, 2, None, np.int64(1), True, "x"]), [1, 2]).tolist() == [0, 1, -1, 0, -1, -1]


def test_dp_domain_evaluation_and_bias_read_a_mixed_offset_column_alike():
    from synthera.bias._features import feature_frame
    from synthera.dp.domain import to_float
    from synthera.evaluate import EvalData

    rng = np.random.default_rng(0)
    stamps = pd.Timestamp("2021-03-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 10**7, 80), unit="s")
    text = [s.tz_convert(z).isoformat() for s, z in zip(stamps, ["Europe/Paris", "America/New_York"] * 40, strict=True)]
    df = pd.DataFrame({"when": text, "x": rng.normal(size=80)})
    col = _dt()
    expected = ((stamps.tz_localize(None) - pd.Timestamp("1970-01-01")) / pd.Timedelta(seconds=1)).to_numpy()
    md = Metadata(columns={"when": col, "x": ColumnMetadata(kind="numerical")})
    assert to_float(df["when"], col) == pytest.approx(expected)
    assert feature_frame(df, md, ["when"])["when"].to_numpy() == pytest.approx(expected)
    data = EvalData.build(df, df, metadata=md)
    assert data.values("real", "when") == pytest.approx(expected)
