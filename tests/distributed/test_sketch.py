"""Mergeable per-part statistics: exact capped counts and quantile sketches, the same for any split of the rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synthera.distributed import sketch
from synthera.distributed.fit import table_stats
from synthera.tabular.transforms import Discretizer, ValueRuns


def _values(n: int = 20_000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.where(rng.random(n) < 0.3, 0.0, rng.lognormal(3, 2, n) * rng.choice([-1, 1], n))
    x[rng.random(n) < 0.05] = np.nan
    x[:3] = [-0.0, 1e-9, 7.0]
    return x


def _split(x: np.ndarray, parts: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.choice(np.arange(1, x.size), parts - 1, replace=False))
    pieces = np.split(x, cuts)
    return [pieces[i] for i in rng.permutation(parts)]  # merged in any order


def test_sketch_and_counts_do_not_depend_on_the_split():
    x = _values()
    whole = sketch.numeric_sketch(x)
    whole_counts = sketch.value_counts(pd.Series(x), x, cap=10**6)
    for parts, seed in ((2, 1), (7, 2), (40, 3)):
        pieces = _split(x, parts, seed)
        merged = sketch.merge_sketches([sketch.numeric_sketch(p) for p in pieces])
        for key in ("cells", "counts", "lows", "highs"):
            np.testing.assert_array_equal(merged[key], whole[key])
        counted = sketch.merge_counts([sketch.value_counts(pd.Series(p), p, cap=10**6) for p in pieces], cap=10**6)
        assert counted == whole_counts
    assert int(whole["counts"].sum()) == int(np.isfinite(x).sum())
    assert (False, 0.0) in whole_counts and whole_counts[(False, 0.0)] == int((x == 0).sum())  # -0.0 is 0.0


def test_every_value_lies_in_its_cell_within_the_error_bound():
    x = _values()
    s = sketch.numeric_sketch(x)
    finite = x[np.isfinite(x)]
    at = np.searchsorted(s["cells"], sketch.cell_of(finite))
    assert np.array_equal(s["cells"][at], sketch.cell_of(finite))
    assert np.all(s["lows"][at] <= finite) and np.all(finite <= s["highs"][at])
    width = s["highs"] - s["lows"]
    bound = (1 + np.maximum(np.abs(s["lows"]), np.abs(s["highs"]))) * np.expm1(1 / sketch.CELLS_PER_UNIT)
    assert np.all(width <= bound)
    point = s["lows"] == s["highs"]
    assert s["counts"][(s["lows"] == 0) & point].tolist() == [int((x == 0).sum())]  # a point mass stays exact


def test_counts_stop_above_the_cap_whatever_the_split():
    labels = pd.Series([f"v{i}" for i in range(30) for _ in range(2)])
    assert sketch.value_counts(labels, cap=30) == {(False, f"v{i}"): 2 for i in range(30)}
    assert sketch.value_counts(labels, cap=29) is None
    halves = [sketch.value_counts(labels.iloc[:30], cap=29), sketch.value_counts(labels.iloc[30:], cap=29)]
    assert all(h is not None for h in halves)  # each part is under the cap ...
    assert sketch.merge_counts(halves, cap=29) is None  # ... the table is not
    assert sketch.merge_counts([None, {(False, "a"): 1}]) is None
    flags = sketch.value_counts(pd.Series([True, 1, 1, None], dtype=object))
    assert flags == {(True, True): 1, (False, 1): 2}  # True apart from 1, nulls left out


@pytest.mark.parametrize("column", ["age", "gain", "few", "rare"])
def test_discretizer_from_exact_runs_equals_the_in_memory_fit(column):
    rng = np.random.default_rng(0)
    x = {"age": rng.integers(17, 91, 5000).astype(float),
         "gain": np.where(rng.random(5000) < 0.9, 0, rng.integers(100, 99_999, 5000)).astype(float),
         "few": rng.choice([1.0, 2.0, 3.0, 7.0], 500),
         "rare": np.r_[np.zeros(100), [5.0], np.full(100, 10.0)]}[column]
    runs = sketch.value_runs(sketch.value_counts(pd.Series(x), x), sketch.numeric_sketch(x), nulls=3)
    for max_bins, exact_up_to in ((64, 256), (16, 8), (8, 2)):
        memory = Discretizer(max_bins=max_bins, exact_up_to=exact_up_to).fit(x)
        counted = Discretizer(max_bins=max_bins, exact_up_to=exact_up_to).fit(x[:10], runs=runs)
        assert counted.table_.shape == memory.table_.shape
        np.testing.assert_allclose(counted.table_, memory.table_, rtol=1e-12, atol=0)
        assert counted.nullable_ and counted.null_code == len(counted.table_)  # nulls counted in the table


def test_discretizer_from_a_sketch_is_within_the_cell_width():
    x = np.r_[np.zeros(3000), np.random.default_rng(1).lognormal(8, 1.5, 20_000)]
    s = sketch.numeric_sketch(x)
    runs = ValueRuns(s["lows"], s["highs"], s["counts"])
    memory = Discretizer().fit(x)
    sketched = Discretizer().fit(x[:0], runs=runs)
    assert sketched.table_.shape == memory.table_.shape
    assert sketched.table_[0].tolist() == [0.0] * (memory.within + 1)  # the point mass, exact
    bound = (1 + np.abs(memory.table_)) * np.expm1(1 / sketch.CELLS_PER_UNIT) * 2
    assert np.all(np.abs(sketched.table_ - memory.table_) <= bound)
    assert not np.array_equal(sketched.table_, memory.table_)  # approximate, not a copy of the fit


def _write(frame: pd.DataFrame, folder, parts: int) -> None:
    folder.mkdir()
    for i, chunk in enumerate(np.array_split(np.arange(len(frame)), parts)):
        frame.iloc[chunk].to_parquet(folder / f"part-{i:02d}.parquet")


def test_table_stats_are_the_same_for_any_parts_and_on_workers(tmp_path, dask_client):
    rng = np.random.default_rng(5)
    n = 3000
    frame = pd.DataFrame({"x": _values(n, seed=5), "k": rng.integers(0, 9, n),
                          "label": rng.choice(["a", "b", None], n), "id": [f"u{i}" for i in range(n)],
                          "when": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 10**6, n), unit="s")})
    _write(frame, tmp_path / "three", 3)
    _write(frame, tmp_path / "eleven", 11)
    here = table_stats(tmp_path / "three")
    for other in (table_stats(tmp_path / "eleven"), table_stats(tmp_path / "eleven", client=dask_client)):
        assert other["counts"] == here["counts"] and other["nulls"] == here["nulls"]
        for name, cells in here["sketches"].items():
            for key in ("cells", "counts", "lows", "highs"):
                np.testing.assert_array_equal(other["sketches"][name][key], cells[key])
    assert set(here["sketches"]) == {"x", "k", "when"}  # numbers and datetimes
    expected = frame["label"].value_counts()
    assert here["counts"]["label"] == {(False, v): int(c) for v, c in expected.items()}
    assert here["nulls"]["label"] == int(frame["label"].isna().sum()) and len(here["counts"]["id"]) == n
