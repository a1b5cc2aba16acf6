"""SequenceSynthesizer: layout, carried-over values, calendars, context, constraints, seeds, save/load."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synthera.errors import ModelFileError, NotFittedError, SyntheraWarning, UserInputError
from synthera.sequences import SequenceSynthesizer
from synthera.sequences.constraints import count_violations
from synthera.tabular.transforms import RARE_LABEL

from .conftest import make_histories


def test_sample_has_training_layout_and_sorted_histories(fitted, histories):
    out = fitted.sample(50, seed=0)
    assert list(out.columns) == list(histories.columns)
    assert out["patient"].nunique() == 50
    assert out["date"].dtype == histories["date"].dtype
    assert out.equals(out.sort_values(["patient", "date"], kind="stable").reset_index(drop=True))
    lengths = out.groupby("patient").size()
    assert lengths.min() >= 1 and lengths.max() <= histories.groupby("patient").size().max()


def test_constant_columns_stay_constant_and_carried_values_persist(fitted, histories):
    assert fitted.constant_ == ["group"]
    out = fitted.sample(seed=1)
    assert out.groupby("patient")["group"].nunique().max() == 1
    same = lambda f: (f["ward"].to_numpy()[1:] == f["ward"].to_numpy()[:-1])[  # noqa: E731
        f["patient"].to_numpy()[1:] == f["patient"].to_numpy()[:-1]].mean()
    assert same(out) > 0.8  # the ward carries over (real: about 0.9); independent rows would give about 0.35


def test_gaps_follow_the_calendar_of_each_group(fitted):
    out = fitted.sample(seed=2)
    gaps = out.groupby("patient")["date"].diff().dt.days.dropna()
    assert set(gaps.unique()) <= {7, 30}
    by_group = out.assign(gap=out.groupby("patient")["date"].diff().dt.days).dropna().groupby("group")["gap"].mean()
    assert by_group["a"] > 25 and by_group["b"] < 12


def test_monthly_index_stays_on_month_starts():
    rng = np.random.default_rng(0)
    lengths = rng.integers(2, 8, 120)
    ids = np.repeat(np.arange(120), lengths)
    pos = np.concatenate([np.arange(k) for k in lengths])
    month = pd.to_datetime("2019-01-01") + pd.to_timedelta(0, unit="D")
    dates = [month + pd.DateOffset(months=int(p)) for p in pos]
    df = pd.DataFrame({"acct": ids, "month": pd.to_datetime(dates), "amount": rng.gamma(2, 50, ids.size)})
    model = SequenceSynthesizer().fit(df, sequence_key="acct", sequence_index="month")
    assert model.unit_ == "month"
    out = model.sample(seed=0)
    assert (out["month"].dt.day == 1).all()


def test_seconds_become_the_timestamps_pandas_gives_with_nulls_kept():
    from synthera.sequences._prepare import timestamps

    seconds = np.array([0.4, 1.6e9 + 0.5, np.nan, -1.9e9, 1.6e9 + 1.5, 2.5, np.inf])
    expected = pd.to_datetime(np.round(np.where(np.isinf(seconds), np.nan, seconds)), unit="s")
    got = timestamps(seconds)
    assert got.dtype == expected.dtype
    assert got.isna().tolist() == [False, False, True, False, False, False, True]
    assert (got[~got.isna()] == expected[~expected.isna()]).all()


def test_same_seed_same_histories_and_different_seed_differs(fitted):
    a, b, c = fitted.sample(30, seed=5), fitted.sample(30, seed=5), fitted.sample(30, seed=6)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_detected_constraint_holds_in_every_sample(fitted):
    assert {"low": "part", "high": "whole"} in fitted.constraints_
    out = fitted.sample(seed=3)
    assert count_violations(out, fitted.constraints_) == 0


def test_user_constraints_replace_detected_ones(histories):
    model = SequenceSynthesizer(constraints=[]).fit(histories, sequence_key="patient", sequence_index="date")
    assert model.constraints_ == []
    with pytest.raises(UserInputError, match="nope"):
        SequenceSynthesizer(constraints=[{"low": "nope", "high": "whole"}]).fit(
            histories, sequence_key="patient", sequence_index="date")


def test_context_table_conditions_lengths():
    rng = np.random.default_rng(1)
    n = 300
    kind = rng.choice(["short", "long"], n)
    lengths = np.where(kind == "short", rng.integers(2, 4, n), rng.integers(10, 14, n))
    ids = np.repeat(np.arange(n), lengths)
    pos = np.concatenate([np.arange(k) for k in lengths])
    events = pd.DataFrame({"pid": ids, "visit": pos, "value": rng.normal(size=ids.size)})
    parents = pd.DataFrame({"pid": np.arange(n), "kind": kind})
    model = SequenceSynthesizer().fit(events, sequence_key="pid", sequence_index="visit", context=parents)
    assert model.parent_columns_ == ["kind"]
    wanted = pd.DataFrame({"pid": [900, 901, 902, 903], "kind": ["short", "short", "long", "long"]})
    out = model.sample(seed=0, context=wanted)
    sizes = out.groupby("pid").size()
    assert sizes[[900, 901]].max() <= 4 and sizes[[902, 903]].min() >= 8
    cond = model.sample(40, seed=0, conditions={"kind": "long"})
    assert cond.groupby("pid").size().min() >= 8


def test_save_load_round_trip_and_tamper(fitted, tmp_path):
    path = fitted.save(tmp_path / "seq")
    loaded = SequenceSynthesizer.load(path)
    pd.testing.assert_frame_equal(loaded.sample(20, seed=0), fitted.sample(20, seed=0))
    manifest = (path / "manifest.json").read_text()
    (path / "manifest.json").write_text(manifest.replace('"patient"', '"patient2"', 1))
    with pytest.raises(ModelFileError):
        SequenceSynthesizer.load(path)
    assert not any(p.name.endswith(".pkl") for p in tmp_path.rglob("*"))


def test_sample_before_fit_is_refused():
    with pytest.raises(NotFittedError):
        SequenceSynthesizer().sample(3, seed=0)


def test_sampling_is_linear_not_per_event_python():
    df = make_histories(n=1000, seed=3, max_len=30)
    model = SequenceSynthesizer().fit(df, sequence_key="patient", sequence_index="date")
    import time

    t = time.perf_counter()
    out = model.sample(2000, seed=0)
    assert len(out) > 20_000
    assert time.perf_counter() - t < 20  # one vectorised pass per position, not per event


def test_first_values_numeric_index_bools_and_nulls():
    rng = np.random.default_rng(4)
    lengths = rng.integers(2, 9, 150)
    ids = np.repeat(np.arange(150), lengths)
    pos = np.concatenate([np.arange(k) for k in lengths])
    level = np.repeat(rng.normal(10, 3, 150), lengths)
    value = level + rng.normal(0, 0.3, ids.size)
    value[rng.random(ids.size) < 0.1] = np.nan
    df = pd.DataFrame({"eid": [f"e{i}" for i in ids], "step": pos * 2.5, "value": value,
                       "flag": rng.random(ids.size) < 0.3})
    model = SequenceSynthesizer(first_values=True).fit(df, sequence_key="eid", sequence_index="step")
    out, entities = model.sample_with_context(80, seed=0)
    assert out["flag"].dtype == bool and out["value"].isna().any() and out["step"].dtype == np.float64
    assert not any(c.startswith("__") for c in entities.columns)
    # the entity level persists: per-entity spread far below the spread across entities
    assert out.groupby("eid")["value"].std().median() < 0.5 * out["value"].std()


def test_persisting_levels_are_drawn_as_steps_and_keep_their_lag_one_relation():
    rng = np.random.default_rng(7)
    lengths = rng.integers(4, 12, 300)
    ids = np.repeat(np.arange(300), lengths)
    pos = np.concatenate([np.arange(k) for k in lengths])
    level = np.exp(np.repeat(rng.normal(0, 1, 300), lengths))
    value = level * np.exp(rng.normal(0, 0.05, ids.size))  # a skewed level that persists within each history
    df = pd.DataFrame({"eid": ids, "t": pos, "value": value, "noise": rng.normal(size=ids.size)})
    model = SequenceSynthesizer().fit(df, sequence_key="eid", sequence_index="t")
    assert "value" in model.delta_ and "noise" not in model.delta_

    def lag_corr(f):
        same = f["eid"].to_numpy()[1:] == f["eid"].to_numpy()[:-1]
        x = np.log(f["value"].to_numpy())
        return np.corrcoef(x[1:][same], x[:-1][same])[0, 1]

    out = model.sample(seed=0)
    assert lag_corr(out) > 0.9 * lag_corr(df)
    assert out["value"].min() >= df["value"].min() and out["value"].max() <= df["value"].max()


def test_histories_walked_in_chunks_match_the_layout(monkeypatch, fitted, histories):
    from synthera.sequences import _steps

    monkeypatch.setattr(_steps, "_CHUNK_EVENTS", 40)
    out = fitted.sample(25, seed=4)
    assert out["patient"].nunique() == 25 and list(out.columns) == list(histories.columns)
    assert out.equals(out.sort_values(["patient", "date"], kind="stable").reset_index(drop=True))
    assert out.groupby("patient")["group"].nunique().max() == 1


def _flights(n_planes: int = 120, seed: int = 0) -> pd.DataFrame:
    """Planes flying over one month (every history runs to its end); a flight's distance is set by its route."""
    rng = np.random.default_rng(seed)
    routes = {("A", "X"): 500.0, ("A", "Y"): 900.0, ("B", "X"): 520.0, ("B", "Y"): 950.0}
    rows = []
    for plane in range(n_planes):
        n = int(rng.integers(2, 25))
        times = np.sort(rng.uniform(0, 30 * 1440, n)).round()
        for t in times:
            origin, dest = ("A", "B")[rng.integers(2)], ("X", "Y")[rng.integers(2)]
            rows.append((plane, pd.Timestamp("2013-01-01") + pd.Timedelta(minutes=float(t)), origin, dest,
                         routes[(origin, dest)]))
    return pd.DataFrame(rows, columns=["plane", "departure", "origin", "dest", "distance"]).drop_duplicates(
        ["plane", "departure"])


def test_route_sets_distance_and_histories_fit_the_window():
    table = _flights()
    model = SequenceSynthesizer(seed=0).fit(table, sequence_key="plane", sequence_index="departure")
    assert model.derived_["distance"][:2] == ["origin", "dest"]
    out = model.sample(150, seed=0)
    expected = out["origin"].str.cat(out["dest"]).map({"AX": 500.0, "AY": 900.0, "BX": 520.0, "BY": 950.0})
    assert (out["distance"] == expected).mean() > 0.99
    spans = out.groupby("plane")["departure"].agg(lambda s: (s.max() - s.min()).total_seconds())
    assert spans.max() <= (table["departure"].max() - table["departure"].min()).total_seconds()
    gaps = out.groupby("plane")["departure"].diff().dropna()
    assert (gaps > pd.Timedelta(0)).mean() > 0.95  # scaled gaps are not piled onto zero


def test_model_saved_without_newer_fields_still_loads(tmp_path):
    import json

    from synthera._persist import MANIFEST_HASH_FIELD, manifest_digest

    model = SequenceSynthesizer(seed=0).fit(_flights(60), sequence_key="plane", sequence_index="departure")
    folder = model.save(tmp_path / "m")
    manifest = json.loads((folder / "manifest.json").read_text())
    for name in ("derived_", "gap_floor_"):
        manifest["fitted"].pop(name)
    manifest[MANIFEST_HASH_FIELD] = manifest_digest(manifest)  # as a model saved before these fields existed
    (folder / "manifest.json").write_text(json.dumps(manifest))
    loaded = SequenceSynthesizer.load(folder)
    assert loaded.sample(5, seed=0)["plane"].nunique() == 5


def test_steps_that_would_leave_the_bins_are_drawn_again_among_the_steps_that_stay():
    from synthera.sequences._steps import _feasible_steps

    n, bins = 2, 4  # step s is class n + s + bins - 1: classes 2 .. 8 for steps -3 .. +3
    probs = np.zeros((1, n + 2 * bins - 1))
    probs[0, [n + 2 + bins - 1, n - 1 + bins - 1, n + bins - 1]] = [0.5, 0.25, 0.25]  # +2, -1, 0
    up = n + 2 + bins - 1
    before = np.r_[np.full(4000, 3), np.full(1000, 0), np.full(10, bins)]  # top bin, bottom bin, null lag
    drawn = np.full(before.size, up)
    out = _feasible_steps(before, drawn, np.zeros(before.size, dtype=np.int64), probs, n, bins,
                          np.random.default_rng(0))
    top = out[:4000] - n - bins + 1
    assert set(np.unique(top)) == {-1, 0}  # +2 from the top bin leaves the bins: -1 or 0, as likely
    assert abs(np.mean(top == -1) - 0.5) < 0.05
    assert (out[4000:] == up).all()  # +2 from the bottom bin stays inside; a null lag keeps its draw
    again = _feasible_steps(before, drawn, np.zeros(before.size, dtype=np.int64), probs, n, bins,
                            np.random.default_rng(0))
    assert np.array_equal(out, again)


def _routes(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Planes that each fly two of 40 destinations, picked at random at every flight."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(4, 12, n)
    ids = np.repeat(np.arange(n), lengths)
    pos = np.concatenate([np.arange(k) for k in lengths])
    places = np.array([f"d{i:02d}" for i in range(40)])
    pair = np.stack([rng.choice(40, 2, replace=False) for _ in range(n)])
    dest = places[pair[ids, rng.integers(0, 2, ids.size)]]
    date = pd.Timestamp("2021-01-01") + pd.to_timedelta(pos, unit="D")
    return pd.DataFrame({"plane": ids, "day": date, "dest": dest})


def _repeat_share(frame: pd.DataFrame) -> float:
    d, key = frame["dest"].to_numpy(), frame["plane"].to_numpy()
    two = (key[2:] == key[:-2]) & (key[2:] == key[1:-1])
    return float(((d[2:] == d[1:-1]) | (d[2:] == d[:-2]))[two].mean())


def test_many_valued_category_repeats_the_values_before_and_survives_save_load(monkeypatch, tmp_path):
    from synthera.sequences import _steps

    table = _routes()
    model = SequenceSynthesizer().fit(table, sequence_key="plane", sequence_index="day")
    assert set(model.repeat_) == {"dest"}
    out = model.sample(seed=0)
    assert set(out["dest"]) <= set(table["dest"])
    real, synthetic = _repeat_share(table), _repeat_share(out)
    assert abs(synthetic - real) < 0.15  # real: about 0.75
    monkeypatch.setattr(_steps, "_REPEAT_VALUES", 10_000)  # no repeat classes: the tree alone
    plain = SequenceSynthesizer().fit(table, sequence_key="plane", sequence_index="day")
    assert plain.repeat_ == {}
    assert _repeat_share(plain.sample(seed=0)) < synthetic - 0.1
    model.save(tmp_path / "m")
    assert SequenceSynthesizer.load(tmp_path / "m").sample(20, seed=3).equals(model.sample(20, seed=3))


def _carriers(n: int = 300, carriers: int = 20, per: int = 4, seed: int = 0) -> pd.DataFrame:
    """Planes of 20 carriers, each plane flying two of its carrier's 4 destinations at random at every flight."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(4, 12, n)
    ids = np.repeat(np.arange(n), lengths)
    pos = np.concatenate([np.arange(k) for k in lengths])
    carrier = rng.integers(0, carriers, n)
    pair = np.stack([per * c + rng.choice(per, 2, replace=False) for c in carrier])
    places = np.array([f"d{i:03d}" for i in range(carriers * per)])
    dest = places[pair[ids, rng.integers(0, 2, ids.size)]]
    date = pd.Timestamp("2021-01-01") + pd.to_timedelta(pos, unit="D")
    names = np.array([f"c{i:02d}" for i in range(carriers)])
    return pd.DataFrame({"plane": ids, "day": date, "carrier": names[carrier][ids], "dest": dest})


def _off_carrier(frame: pd.DataFrame, per: int = 4) -> float:
    """Share of flights to a destination of another carrier (among flights whose carrier and destination are named)."""
    carrier = pd.to_numeric(frame["carrier"].str[1:], errors="coerce")
    dest = pd.to_numeric(frame["dest"].str[1:], errors="coerce")
    named = carrier.notna() & dest.notna()
    return float(((dest // per) != carrier)[named].mean())


def test_fresh_values_of_a_repeating_category_follow_the_entity_category(monkeypatch, tmp_path):
    from synthera.sequences import _steps

    table = _carriers()
    model = SequenceSynthesizer().fit(table, sequence_key="plane", sequence_index="day")
    assert set(model.repeat_) == {"dest"} and model.given_["dest"][0] == "carrier"
    out = model.sample(seed=0)
    assert set(out["dest"]) <= set(table["dest"]) | {RARE_LABEL}  # one destination of 4 flights is rare
    monkeypatch.setattr(_steps, "_GIVEN_GAIN", np.inf)  # no table: the tree alone
    plain = SequenceSynthesizer().fit(table, sequence_key="plane", sequence_index="day")
    assert plain.given_ == {}
    assert _off_carrier(table) == 0.0
    assert _off_carrier(out) < 0.05 and _off_carrier(plain.sample(seed=0)) > 0.3  # 0.004 against 0.61
    model.save(tmp_path / "m")
    assert SequenceSynthesizer.load(tmp_path / "m").sample(20, seed=3).equals(model.sample(20, seed=3))


def test_given_ratios_ignore_a_category_that_names_its_entity():
    from synthera.sequences._steps import _given_ratios

    rng = np.random.default_rng(0)
    entity = np.repeat(np.arange(200), 6)
    value = rng.integers(0, 30, entity.size)  # no category says anything of the value
    assert _given_ratios(entity, 200, value, 30, entity) is None  # one group per entity: its own values only
    by_half = (value >= 15).astype(np.int64)  # a category that does
    gain, ratios = _given_ratios(by_half, 2, value, 30, entity)
    assert gain > 0.5 and ratios.shape == (2, 30)
    assert ratios[0, :15].min() > 1.5 and ratios[0, 15:].max() < 0.2


def _tours(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Planes that mostly fly between two of 40 destinations in turn (a, b, a, b), now and then elsewhere,
    but never to the destination of the flight before."""
    rng = np.random.default_rng(seed)
    rows = []
    for plane in range(n):
        home = rng.choice(40, 2, replace=False)
        last = -1
        for p in range(int(rng.integers(5, 12))):
            dest = home[p % 2] if rng.random() < 0.7 else rng.choice(np.setdiff1d(np.arange(40), [last]))
            if dest == last:
                dest = home[(p + 1) % 2]
            rows.append((plane, p, f"d{dest:02d}"))
            last = dest
    frame = pd.DataFrame(rows, columns=["plane", "pos", "dest"])
    frame["day"] = pd.Timestamp("2021-01-01") + pd.to_timedelta(frame.pop("pos"), unit="D")
    return frame[["plane", "day", "dest"]]


def _same_as_before(frame: pd.DataFrame) -> float:
    d, key = frame["dest"].to_numpy(), frame["plane"].to_numpy()
    return float((d[1:] == d[:-1])[key[1:] == key[:-1]].mean())


def test_a_fresh_value_is_never_one_of_the_two_before(monkeypatch):
    """A fresh destination differs from the two before in training, so a drawn one does too."""
    from synthera.sequences import _steps

    table = _tours()
    model = SequenceSynthesizer().fit(table, sequence_key="plane", sequence_index="day")
    assert set(model.repeat_) == {"dest"} and _same_as_before(table) == 0.0
    assert _same_as_before(model.sample(seed=0)) == 0.0
    drawn = _steps._fresh_draw

    def as_the_leaf_stood(probs, leaves, m, regular, before, ratios, u):
        return drawn(probs, leaves, m, regular, [], ratios, u)

    monkeypatch.setattr(_steps, "_fresh_draw", as_the_leaf_stood)
    assert _same_as_before(model.sample(seed=0)) > 0.01  # 0.019: a fresh draw lands on the one before


def test_a_table_too_large_for_the_model_file_is_not_kept(monkeypatch):
    from synthera.sequences import _steps

    table = _carriers()
    monkeypatch.setattr(_steps, "_GIVEN_CELLS", 20 * 80 - 1)  # carriers x destinations is one cell over
    model = SequenceSynthesizer().fit(table, sequence_key="plane", sequence_index="day")
    assert set(model.repeat_) == {"dest"} and model.given_ == {}


def test_dates_read_as_text_keep_their_format_and_their_order(tmp_path):
    df = make_histories(80)
    stay = np.random.default_rng(0).integers(0, 9, len(df))
    df["leave"] = (df["date"] + pd.to_timedelta(stay, unit="D")).dt.strftime("%d/%m/%Y")
    df["date"] = df["date"].dt.strftime("%Y-%m-%d")  # a CSV read as it is: every date a text
    model = SequenceSynthesizer().fit(df, sequence_key="patient", sequence_index="date")
    assert {"low": "date", "high": "leave"} in model.constraints_
    out = model.sample(seed=0)
    start = pd.to_datetime(out["date"], format="%Y-%m-%d")  # raises if the index lost its format
    end = pd.to_datetime(out["leave"], format="%d/%m/%Y")
    assert out["date"].str.len().eq(10).all() and (start <= end).all()
    model.save(tmp_path / "m")
    pd.testing.assert_frame_equal(SequenceSynthesizer.load(tmp_path / "m").sample(seed=0), out)


def test_a_date_that_moves_with_its_event_keeps_its_distance_from_it():
    df = make_histories(200)
    stay = np.random.default_rng(0).integers(0, 9, len(df))
    df["leave"] = df["date"] + pd.to_timedelta(stay, unit="D")
    model = SequenceSynthesizer().fit(df, sequence_key="patient", sequence_index="date")
    assert list(model.offsets_) == ["leave"]
    out = model.sample(seed=0)
    assert out["leave"].dtype == df["leave"].dtype
    days = (out["leave"] - out["date"]).dt.total_seconds() / 86400
    # drawn as a date of its own and clipped to the visit, 64% of stays came out as zero days (real 12%)
    assert days.between(0, 8).all() and (days == 0).mean() < 0.25
    real = np.bincount(stay, minlength=9) / stay.size
    synthetic = np.bincount(np.round(days).astype(int), minlength=9) / len(days)
    assert np.abs(real - synthetic).sum() / 2 < 0.1  # total variation of the stay lengths


def test_text_dates_that_do_not_parse_are_counted_in_one_warning_without_their_values():
    df = make_histories(60)
    df["leave"] = (df["date"] + pd.Timedelta(days=2)).dt.strftime("%d/%m/%Y")
    df["date"] = df["date"].dt.strftime("%Y-%m-%d")
    df.loc[[3, 10], "leave"] = "soon"
    with pytest.warns(SyntheraWarning) as caught:
        model = SequenceSynthesizer().fit(df, sequence_key="patient", sequence_index="date")
    lines = [str(w.message) for w in caught if "not dates" in str(w.message)]
    assert lines == [f"column 'leave': 2 of {len(df)} values are not dates in format '%d/%m/%Y'; "
                     "they are treated as missing"]
    assert "soon" not in model.sample(seed=0)["leave"].astype(str).tolist()


def test_a_history_over_its_span_loses_time_from_its_longest_gaps():
    from synthera.sequences.model import _fit_spans

    #        history 0: overruns   history 1: short     2: no span   3: span under its floors
    gap = np.array([0.0, 2, 3, 50, 40, 0, 4, 6, 0, 9, 9, 0, 5, 5])
    entity = np.repeat([0, 1, 2, 3], [5, 3, 3, 3])
    spans = np.array([60.0, 20.0, np.nan, 2.0])
    out = _fit_spans(gap, entity, spans, floor=1.0)
    first = out[:5]
    assert first.sum() == pytest.approx(60.0, abs=1e-6)
    assert list(first[:3]) == [0.0, 2.0, 3.0]  # the turnarounds keep their length
    assert first[3] == pytest.approx(27.5, abs=1e-6) and first[4] == pytest.approx(27.5, abs=1e-6)
    # a short history is stretched above the floor alike: 1 + 3 * k and 1 + 5 * k make 20
    assert out[5:8].sum() == pytest.approx(20.0) and (out[6] - 1) / (out[7] - 1) == pytest.approx(3 / 5)
    assert list(out[8:11]) == [0.0, 9.0, 9.0]  # no span: as drawn
    assert out[11:].sum() == pytest.approx(2.0) and out[12] == pytest.approx(out[13])  # whole gaps scaled
