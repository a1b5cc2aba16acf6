"""A column that an earlier column fixes in every row (education and its number) is set from it, never contradicted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synthera.tabular import CascadeSynthesizer, load_synthesizer

LEVELS = ["none", "primary", "middle", "high", "college", "bachelor", "master", "doctor"]


def _people(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """``level`` and ``level_num`` say one thing twice; ``doctor`` is held by 40 rows, fewer than a leaf."""
    rng = np.random.default_rng(seed)
    p = np.array([10, 15, 20, 25, 12, 10, 6, 40 / n * 100])
    level = rng.choice(len(LEVELS), n, p=p / p.sum())
    return pd.DataFrame({"level": np.array(LEVELS)[level], "level_num": level + 1,
                         "age": rng.integers(18, 80, n), "score": rng.normal(size=n).round(3)})


def _contradictions(frame: pd.DataFrame) -> float:
    return float((frame["level"].map({v: i + 1 for i, v in enumerate(LEVELS)}) != frame["level_num"]).mean())


def test_a_column_another_fixes_is_set_from_it(tmp_path, monkeypatch):
    real = _people()
    model = CascadeSynthesizer(seed=0, min_samples_leaf=100).fit(real)
    assert {model.columns_[b]: model.columns_[a] for b, (a, _) in model.determined_.items()} == {"level_num": "level"}
    syn = model.sample(20_000, seed=1)
    assert _contradictions(syn) == 0.0
    again = load_synthesizer(model.save(tmp_path / "m"))
    pd.testing.assert_frame_equal(again.sample(500, seed=2), model.sample(500, seed=2))
    doctors = model.sample(300, seed=3, conditions={"level_num": 8})
    assert (doctors["level"] == "doctor").all()
    monkeypatch.setattr(CascadeSynthesizer, "_determine", False)  # the trees alone mix doctors into bigger leaves
    assert _contradictions(CascadeSynthesizer(seed=0, min_samples_leaf=100).fit(real).sample(20_000, seed=1)) > 0.001


def test_near_relations_and_identifiers_fix_nothing():
    real = _people()
    noisy = real.copy()
    noisy.loc[noisy.index[:30], "level_num"] = 0  # the relation holds on 99% of rows: learnt, not imposed
    assert CascadeSynthesizer(seed=0).fit(noisy).determined_ == {}
    rng = np.random.default_rng(4)
    ids = pd.DataFrame({"code": [f"k{i // 2}" for i in range(400)], "flag": rng.choice(["a", "b"], 400)})
    ids["flag"] = ids.groupby("code")["flag"].transform("first")  # each code (2 rows) holds one flag
    assert CascadeSynthesizer(seed=0).fit(ids).determined_ == {}  # two rows per code are no evidence


@pytest.mark.parametrize("edit", [lambda a: a[:-1], lambda a: a + 50])
def test_a_malformed_table_is_refused(edit):
    model = CascadeSynthesizer(seed=0).fit(_people(800))
    info, arrays = model._get_state()
    key = next(k for k in arrays if k.startswith("determined"))
    arrays[key] = edit(arrays[key])
    fresh = CascadeSynthesizer(seed=0)
    fresh.encoder_ = model.encoder_
    with pytest.raises(ValueError, match="determined column's table is malformed"):
        fresh._set_state(info, arrays)


def _places(n: int = 6000, seed: int = 0) -> pd.DataFrame:
    """40 zip codes in 5 cities in 2 states: the zip fixes the city and the state, and is drawn after both."""
    rng = np.random.default_rng(seed)
    zips = rng.integers(0, 40, n)
    city = zips % 5
    return pd.DataFrame({"zip": [f"{z:05d}" for z in zips], "city": [f"city{c}" for c in city],
                         "state": np.where(city < 3, "north", "south"), "spend": rng.normal(city, 1.0, n).round(2)})


def test_a_zip_code_drawn_after_its_city_never_pairs_with_another_city(tmp_path, monkeypatch):
    real = _places()
    model = CascadeSynthesizer(seed=0, min_samples_leaf=1500).fit(real)
    names = {model.columns_[b]: model.columns_[a] for b, (a, _) in model.determined_.items()}
    assert names == {"city": "zip", "state": "city"}  # the city fixes its state; the zip (more codes) its city
    assert model.columns_.index("zip") > model.columns_.index("city")  # the zip is drawn after its city
    pairs = set(zip(real["zip"], real["city"], real["state"], strict=True))
    syn = model.sample(20_000, seed=1)
    assert set(zip(syn["zip"], syn["city"], syn["state"], strict=True)) <= pairs
    in_city = model.sample(500, seed=2, conditions={"city": "city3"})
    assert (in_city["city"] == "city3").all() and set(in_city["zip"]) <= set(real.loc[real["city"] == "city3", "zip"])
    again = load_synthesizer(model.save(tmp_path / "m"))
    pd.testing.assert_frame_equal(again.sample(500, seed=3), model.sample(500, seed=3))
    monkeypatch.setattr(CascadeSynthesizer, "_determine", False)  # leaves of 1500 rows mix the cities' zip codes
    plain = CascadeSynthesizer(seed=0, min_samples_leaf=1500).fit(real).sample(20_000, seed=1)
    assert not set(zip(plain["zip"], plain["city"], plain["state"], strict=True)) <= pairs


def test_a_saved_model_whose_columns_set_each_other_is_refused(tmp_path):

    model = CascadeSynthesizer(seed=0).fit(_places(2000))
    (b, (a, _)), = [(b, v) for b, v in model.determined_.items() if model.columns_[b] == "city"]
    model.determined_[a] = (b, np.zeros(int(model.n_codes_[b]), dtype=np.int64))  # the city would set the zip
    with pytest.raises(ValueError, match="set each other"):
        load_synthesizer(model.save(tmp_path / "m"))
