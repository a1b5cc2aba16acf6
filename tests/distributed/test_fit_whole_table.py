"""A fit on a sample takes its codes from every row: categories, rare merges and number bins of the whole table."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from synthera.cli import app
from synthera.distributed import fit_dataset
from synthera.distributed.fit import infer_dataset_metadata
from synthera.metadata import Metadata
from synthera.tabular import get_synthesizer
from synthera.tabular.transforms import Discretizer
from tests.distributed.conftest import small_frame

pytest.importorskip("dask.distributed")

#: the cascade fits its discretizers from the encoder's whole-table runs (a one-line change to cascade.py)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """Two parts of 1000 rows and one of 10, whose rows alone hold "platinum" and nulls in ``age``.

    With ``sample_rows=100`` the sample takes no row of the small part (49.75, 49.75, 0.50 rows:
    the two largest remainders go to the large parts).
    """
    root = tmp_path_factory.mktemp("whole") / "table"
    root.mkdir()
    big = small_frame(2000, seed=7).drop(columns="customer_id")
    big.loc[:2, "segment"] = "copper"  # 3 rows in the table: merged into "other" by the table's counts
    small = small_frame(10, seed=8).drop(columns="customer_id")
    small["segment"] = "platinum"
    small["age"] = small["age"].astype("Int64")
    small.loc[:3, "age"] = None
    small.loc[4:, "income"] = 1e6 + np.arange(6)
    for i, part in enumerate((big.iloc[:1000], big.iloc[1000:], small)):
        part.astype({"age": "Int64"}).to_parquet(root / f"part-{i}.parquet")
    return root, pd.concat([big, small], ignore_index=True)


def _fit(source, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_dataset(source, get_synthesizer("cascade")(seed=0), sample_rows=100, **kwargs)


def test_a_category_outside_the_sample_gets_its_code_and_its_rows_are_counted(table, dask_client):
    root, whole = table
    model, info = _fit(root)
    assert info["sample_rows"] == 100 and info["rows"] == 2010
    segment = model.metadata_["segment"]
    assert "platinum" in segment.categories and "copper" not in segment.categories
    assert segment.rare_categories == 1  # copper: 3 rows of the table
    assert info["skipped_rows"] == 0 and info["recounted_rows"] == 2010  # age's nulls outside the sample too
    drawn = model.sample(20_000, seed=0)
    assert (drawn["segment"] == "platinum").any()  # learnt from the re-count: the sample held none
    on_workers, _ = _fit(root, client=dask_client)
    pd.testing.assert_frame_equal(on_workers.sample(500, seed=1), model.sample(500, seed=1))


def test_number_bins_come_from_every_row(table):
    root, whole = table
    model, _ = _fit(root)
    disc = model.discretizers_["income"]
    cap = max(2, 100 // 4)
    expected = Discretizer(max_bins=min(model.max_bins, cap), exact_up_to=min(model.exact_up_to, cap))
    expected.fit(whole["income"].to_numpy(dtype=float))  # in memory, on every row
    np.testing.assert_allclose(disc.table_, expected.table_, rtol=1e-12)
    assert disc.table_.max() >= 1e6  # the small part's incomes, never sampled
    assert model.discretizers_["age"].null_code is not None


def test_dataset_metadata_counts_every_row_and_reads_a_sample(table, dask_client):
    root, whole = table
    md, info = infer_dataset_metadata(root, sample_rows=100)
    assert info["rows"] == md.n_rows == 2010 and info["sample_rows"] == 100
    assert md["segment"].categories == ["bronze", "copper", "gold", "platinum", "silver"]  # copper: merged at fit
    assert md["segment"].rare_categories == 1
    assert info["category_rows"]["segment"]["platinum"] == 10
    assert md["income"].max == whole["income"].max() and md["age"].null_fraction == round(4 / 2010, 6)
    on_workers, _ = infer_dataset_metadata(str(root / "*.parquet"), sample_rows=100, client=dask_client)
    assert on_workers.to_dict() == md.to_dict()


def test_a_two_valued_sample_of_a_three_valued_column_is_not_boolean(tmp_path):
    frame = pd.DataFrame({"flag": ["yes", "no"] * 500, "n": [0, 1] * 500})
    frame.to_parquet(tmp_path / "a.parquet")
    pd.DataFrame({"flag": ["maybe"] * 8, "n": [2] * 8}).to_parquet(tmp_path / "b.parquet")
    md, _ = infer_dataset_metadata(tmp_path, sample_rows=50)
    assert md["flag"].kind == "categorical" and md["flag"].categories == ["maybe", "no", "yes"]
    assert md["n"].kind == "numerical" and (md["n"].min, md["n"].max) == (0, 2)


def test_cli_inspect_with_workers_writes_the_whole_tables_metadata(table, tmp_path):
    root, _ = table
    out = tmp_path / "md.json"
    result = CliRunner().invoke(app, ["inspect", str(root), "--workers", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "2,010 rows" in result.output
    assert "platinum" in Metadata.load(out)["segment"].categories
    refused = CliRunner().invoke(app, ["inspect", str(root), "--workers", "0"])
    assert refused.exit_code != 0 and "--workers" in refused.output
    missing = CliRunner().invoke(app, ["inspect", str(tmp_path / "nowhere"), "--workers", "1", "--out", str(out)])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    assert "Traceback" not in missing.output and len(missing.output.strip().splitlines()) == 1


def test_csv_parts_keep_codes_with_leading_zeros_in_every_part(tmp_path):
    # The first part holds zero-padded codes; the second holds none (all five digits, no zero in front).
    # Pandas alone reads 02134 as 2134, and part by part the column's type would differ; the source's
    # decision (text_columns) makes every part and batch read it as text.
    from synthera.distributed._parts import batches, list_parts, text_columns

    rng = np.random.default_rng(0)
    root = tmp_path / "zips"
    root.mkdir()
    first = pd.DataFrame({"zip": rng.choice(["02134", "01002", "12345"], 600), "spend": rng.normal(50, 5, 600)})
    second = pd.DataFrame({"zip": rng.choice(["12345", "54321"], 600), "spend": rng.normal(60, 5, 600)})
    first.to_csv(root / "part-0.csv", index=False)
    second.to_csv(root / "part-1.csv", index=False)
    parts = list_parts(root)
    assert text_columns(parts) == ["zip"]  # spend has decimals: a number, not a code
    assert [next(batches(p, text=["zip"]))["zip"].dtype for p in parts] == [object, object]
    assert next(batches(parts[0]))["zip"].iloc[0] in (2134, 1002, 12345)  # what pandas does unaided
    model, info = _fit(root)
    assert info["skipped_rows"] == 0 and info["recounted_rows"] == 1200  # the re-count reads them as the fit did
    drawn = model.sample(5_000, seed=0)["zip"].astype(str)
    assert set(drawn) <= {"02134", "01002", "12345", "54321"} and "02134" in set(drawn) and "54321" in set(drawn)
