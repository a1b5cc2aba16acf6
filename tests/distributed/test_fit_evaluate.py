"""Fit and evaluate tables larger than memory: statistics merged by addition, models on fixed-seed samples."""

from __future__ import annotations

import json
import warnings
from contextlib import contextmanager

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import synthera.distributed as distributed
from synthera.cli import app
from synthera.distributed import evaluate as dist_evaluate
from synthera.distributed import evaluate_dataset, fit_dataset
from synthera.distributed.recount import leaf_counts, recount_leaves
from synthera.evaluate import evaluate
from synthera.tabular import get_synthesizer, load_synthesizer
from synthera.tabular.cascade import tree_members
from tests.distributed.conftest import small_frame

pytest.importorskip("dask.distributed")


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    """A 900-row real table in three Parquet parts and a 600-row synthetic one in two."""
    root = tmp_path_factory.mktemp("tables")
    real = small_frame(900, seed=1).drop(columns="customer_id")
    real.loc[5, "income"] = 1e7  # one extreme row: the sample should not decide the bounds
    synthetic = small_frame(600, seed=2).drop(columns="customer_id")
    for name, frame, parts in (("real", real, 3), ("synthetic", synthetic, 2)):
        (root / name).mkdir()
        for i, chunk in enumerate(frame.iloc[k::parts] for k in range(parts)):
            chunk.to_parquet(root / name / f"part-{i}.parquet")
    return root, real, synthetic


def _fit(frame_or_source, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if isinstance(frame_or_source, pd.DataFrame):
            return get_synthesizer("cascade")(seed=0).fit(frame_or_source)
        return fit_dataset(frame_or_source, get_synthesizer("cascade")(seed=0), **kwargs)


def _trees(model) -> list:
    """Every tree of a cascade, a column's forest member by member."""
    return [member for tree in model.trees_ for member in tree_members(tree)]


def test_fit_on_all_rows_equals_the_in_memory_fit(tables):
    root, real, _ = tables
    model, info = _fit(root / "real")
    assert info == {"rows": 900, "parts": 3, "sample_rows": 900, "seed": 0, "recounted_rows": 900, "skipped_rows": 0}
    memory = _fit(real)
    for recounted, fitted in zip(_trees(model), _trees(memory), strict=True):  # re-counting all rows changes nothing
        np.testing.assert_allclose(recounted.leaf_probs, fitted.leaf_probs, rtol=0, atol=1e-12)
    pd.testing.assert_frame_equal(model.sample(200, seed=4), memory.sample(200, seed=4))


def test_leaf_frequencies_are_recounted_over_every_row(tables, dask_client):
    root, real, _ = tables
    here, info = _fit(root / "real", sample_rows=300, seed=3)
    assert info["sample_rows"] == 300 and info["recounted_rows"] == 900 and info["skipped_rows"] == 0
    expected = leaf_counts(here, real)  # the same trees, walked by every row in memory
    for tree, counts in zip(_trees(here), expected, strict=True):
        reached = counts.sum(axis=1) > 0
        np.testing.assert_allclose(tree.leaf_probs[reached], counts[reached] / counts[reached].sum(axis=1)[:, None],
                                   rtol=0, atol=1e-15)
    on_workers, _ = _fit(root / "real", sample_rows=300, seed=3, client=dask_client)
    for a, b in zip(_trees(here), _trees(on_workers), strict=True):  # counts merged by addition: any split agrees
        np.testing.assert_array_equal(a.leaf_probs, b.leaf_probs)
    unrecounted, _ = _fit(root / "real", sample_rows=300, seed=3, recount=False)
    pairs = zip(_trees(here), _trees(unrecounted), strict=True)
    assert any(not np.array_equal(a.leaf_probs, b.leaf_probs) for a, b in pairs)  # the sample's own shares differ


def test_rows_the_model_cannot_code_are_skipped_and_counted(tmp_path):
    frame = small_frame(300).drop(columns="customer_id")
    model = _fit(frame)
    other = frame.copy()
    other.loc[:39, "segment"] = "platinum"  # a category the model never saw (and no "other" code)
    other.loc[40:44, "age"] = None  # nulls in a column fitted without any
    other.to_parquet(tmp_path / "part.parquet")
    counted = recount_leaves(model, [str(tmp_path / "part.parquet")])
    assert counted == {"rows": 255, "skipped_rows": 45}
    assert len(model.sample(50, seed=0)) == 50


def test_fit_on_a_sample_keeps_the_whole_tables_bounds(tables, dask_client):
    root, real, _ = tables
    model, info = _fit(root / "real", sample_rows=300, seed=3)
    assert info["sample_rows"] == 300 and info["rows"] == 900
    assert model.metadata_["income"].max == real["income"].max() == 1e7
    on_workers, _ = _fit(str(root / "real" / "*.parquet"), sample_rows=300, seed=3, client=dask_client)
    pd.testing.assert_frame_equal(on_workers.sample(100, seed=1), model.sample(100, seed=1))


def test_shapes_and_trends_equal_the_in_memory_numbers(tables, dask_client):
    root, real, synthetic = tables
    full = evaluate_dataset(root / "real", root / "synthetic", sampled_metrics=False, client=dask_client)
    memory = evaluate(real, synthetic, metrics=["column_shapes", "column_pair_trends"]).results["fidelity"]
    assert full["rows"] == {"real": 900, "synthetic": 600}
    assert full["column_shapes"] == pytest.approx(memory["column_shapes"], abs=1e-12)
    assert full["column_pair_trends"] == pytest.approx(memory["column_pair_trends"], abs=1e-12)
    for name, entry in full["per_column"].items():
        assert entry["score"] == pytest.approx(memory["per_column"][name]["score"], abs=1e-12)


def test_histogrammed_columns_stay_within_their_error_bound(tables, monkeypatch):
    root, real, synthetic = tables
    monkeypatch.setattr(dist_evaluate, "EXACT_VALUES", 5)  # force the histogram path for every number column
    full = evaluate_dataset(root / "real", root / "synthetic", sampled_metrics=False)
    memory = evaluate(real, synthetic, metrics=["column_shapes"]).results["fidelity"]["per_column"]
    income = full["per_column"]["income"]
    assert income["exact"] is False and 0 < income["ks_error_bound"] < 0.5
    assert abs(income["score"] - memory["income"]["score"]) <= income["ks_error_bound"] + 1e-12


def test_cli_fit_and_evaluate_with_workers(tables, dask_client, monkeypatch, tmp_path):
    root, _, _ = tables

    @contextmanager
    def same_cluster(workers=None, scheduler=None):
        assert workers == 2 and scheduler is None
        yield dask_client

    monkeypatch.setattr(distributed, "cluster", same_cluster)
    runner = CliRunner()
    result = runner.invoke(app, ["fit", str(root / "real"), "--out", str(tmp_path / "m"), "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert "sample of 900 of 900 rows" in result.output
    assert "re-counted over all 900 rows" in " ".join(result.output.split())
    assert len(load_synthesizer(tmp_path / "m").sample(5, seed=0)) == 5
    result = runner.invoke(app, ["evaluate", "--real", str(root / "real"), "--synthetic", str(root / "synthetic"),
                                 "--out", str(tmp_path / "e"), "--workers", "2"])
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "e" / "results.json").read_text())
    assert saved["scale"]["rows"] == {"real": 900, "synthetic": 600}
    assert saved["scale"]["sampled_rows"] == {"real": 900, "synthetic": 600}


def test_every_tree_of_a_forest_is_recounted(tables):
    root, real, _ = tables
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        forest, _ = fit_dataset(root / "real", get_synthesizer("cascade")(seed=0, n_trees=3), sample_rows=300,
                                seed=3)
    assert any(len(tree_members(t)) == 3 for t in forest.trees_)
    expected = leaf_counts(forest, real)  # every member walked by every row in memory
    assert len(expected) == len(_trees(forest)) > len(forest.trees_)
    for tree, counts in zip(_trees(forest), expected, strict=True):
        reached = counts.sum(axis=1) > 0
        np.testing.assert_allclose(tree.leaf_probs[reached], counts[reached] / counts[reached].sum(axis=1)[:, None],
                                   rtol=0, atol=1e-15)
    assert len(forest.sample(100, seed=0)) == 100


def test_csv_parts_with_zero_padded_codes_score_against_a_parquet_sample_of_the_same_rows(tmp_path):
    # The real parts are CSV (no types), the synthetic ones Parquet (text): read unaided, the real zips would be
    # the numbers 2134, 1002, ..., and the zip code would be scored as a quantity (a KS test on zip codes).
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"zip": rng.choice(["02134", "01002", "12345", "00501"], 2000),
                          "spend": rng.gamma(2, 30, 2000)})
    real, synthetic = tmp_path / "real", tmp_path / "synthetic"
    real.mkdir()
    synthetic.mkdir()
    for i, part in enumerate((frame.iloc[:1000], frame.iloc[1000:])):
        part.to_csv(real / f"part-{i}.csv", index=False)
        part.to_parquet(synthetic / f"part-{i}.parquet")
    full = evaluate_dataset(real, synthetic, sampled_metrics=False)
    assert full["per_column"]["zip"]["metric"] == "TVComplement"  # codes, compared as categories
    assert full["per_column"]["zip"]["score"] == pytest.approx(1.0)
