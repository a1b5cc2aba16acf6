"""A database sampled by blocks of root entities: the same bytes anywhere, self-contained blocks, keys that join."""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from synthera.cli import app
from synthera.distributed import read_sampled_database, sample_database
from synthera.distributed import relational as dist_relational
from synthera.errors import UserInputError
from synthera.relational import RelationalSynthesizer, Schema
from synthera.relational.schema import key_in
from tests.helpers import kill_when_written, one_line_error
from tests.relational.conftest import shop

REPO = Path(__file__).resolve().parents[2]
PER_BLOCK = 40  # 120 real customers at scale 2: 6 blocks of root entities


@pytest.fixture(scope="module")
def shop_dir(tmp_path_factory):
    """customers -> orders -> items <- products, fitted and saved."""
    tables, schema = shop()
    folder = tmp_path_factory.mktemp("shop") / "model"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        RelationalSynthesizer().fit(tables, schema=schema).save(folder)
    return folder


@pytest.fixture(scope="module")
def reference(shop_dir, tmp_path_factory):
    """The database sampled in this process."""
    out = tmp_path_factory.mktemp("ref") / "db"
    sample_database(shop_dir, scale=2, seed=5, out=out, roots_per_block=PER_BLOCK)
    return out


def _files(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_two_workers_write_the_same_bytes(shop_dir, reference, dask_client, tmp_path):
    manifest = sample_database(shop_dir, scale=2, seed=5, out=tmp_path / "db", roots_per_block=PER_BLOCK,
                               client=dask_client)
    assert manifest["blocks"] == 6 and manifest["root_table"] == "customers"
    assert manifest["tables"]["customers"]["rows"] == 240
    assert _files(tmp_path / "db") == _files(reference)
    assert not [p for p in tmp_path.iterdir() if p.name != "db"]  # no staging left behind


def test_keys_join_and_are_unique_across_blocks(reference):
    tables, schema = read_sampled_database(reference)
    assert sorted(tables) == ["customers", "items", "orders", "products"]
    for fk in schema.foreign_keys:
        values = tables[fk.child][fk.columns].dropna()
        assert len(values) and key_in(values, tables[fk.parent][fk.parent_columns]).all(), fk.name
    for name, t in schema.tables.items():
        assert not tables[name].duplicated(t.primary_key).any(), name
    stride = json.loads((reference / "_manifest.json").read_text())["key_stride"]
    assert set(tables["customers"]["id"] // stride) == set(range(6))  # one key range per block


def test_read_database_reads_a_sampled_folder(reference):
    from synthera.relational.io import database_tables, read_database

    tables, schema = read_sampled_database(reference)
    assert sorted(database_tables(reference)) == sorted(tables)
    again, schema_again = read_database(reference)
    assert sorted(again) == sorted(tables)
    for name in tables:
        pd.testing.assert_frame_equal(again[name], tables[name])
    assert [fk.name for fk in schema_again.foreign_keys] == [fk.name for fk in schema.foreign_keys]


def test_every_block_is_a_self_contained_slice(reference):
    _, schema = read_sampled_database(reference)
    for b in range(6):
        part = {t: pq.read_table(reference / t / f"part-{b:05d}.parquet").to_pandas() for t in schema.tables}
        assert len(part["customers"]) == PER_BLOCK
        for fk in schema.foreign_keys:
            values = part[fk.child][fk.columns].dropna()
            assert key_in(values, part[fk.parent][fk.parent_columns]).all(), (b, fk.name)


def test_same_seed_same_bytes_other_seed_other_rows(shop_dir, reference, tmp_path):
    sample_database(shop_dir, scale=2, seed=5, out=tmp_path / "again", roots_per_block=PER_BLOCK)
    assert _files(tmp_path / "again") == _files(reference)
    sample_database(shop_dir, scale=2, seed=6, out=tmp_path / "other", roots_per_block=PER_BLOCK)
    assert _files(tmp_path / "other") != _files(reference)


def test_a_failed_block_leaves_no_folder(shop_dir, tmp_path, monkeypatch):
    real = dist_relational.sample_block

    def failing(model, block, plan, seed):
        if block == 3:
            raise RuntimeError("worker lost")
        return real(model, block, plan, seed)

    monkeypatch.setattr(dist_relational, "sample_block", failing)
    with pytest.raises(RuntimeError, match="worker lost"):
        sample_database(shop_dir, scale=2, seed=5, out=tmp_path / "db", roots_per_block=PER_BLOCK)
    assert list(tmp_path.iterdir()) == []


def test_a_killed_driver_leaves_no_folder(shop_dir, tmp_path):
    out = tmp_path / "never"
    code = ("from synthera.distributed import sample_database; "
            f"sample_database({str(shop_dir)!r}, scale=50, seed=0, out={str(out)!r}, roots_per_block=20)")
    kill_when_written(["-c", code], watch=tmp_path, pattern=".never.tmp-*/orders/part-*.parquet", repo=REPO)
    assert not out.exists()
    assert list(tmp_path.glob(".never.tmp-*"))  # the half-built database stays hidden beside it


def test_an_incomplete_folder_is_refused(reference, tmp_path):
    import shutil

    shutil.copytree(reference, tmp_path / "db")
    (tmp_path / "db" / "_SUCCESS").unlink()
    with pytest.raises(UserInputError, match="not a complete synthetic database"):
        read_sampled_database(tmp_path / "db")


def test_cli_routes_a_database_model_to_blocks(shop_dir, reference, dask_client, tmp_path):
    runner = CliRunner()
    address = dask_client.scheduler.address
    result = runner.invoke(app, ["sample", str(shop_dir), "--scale", "1", "--seed", "2", "--scheduler", address,
                                 "--out", str(tmp_path / "synthetic")])
    assert result.exit_code == 0, result.output
    tables, _ = read_sampled_database(tmp_path / "synthetic")
    assert len(tables["customers"]) == 120
    one_line_error(runner.invoke(app, ["sample", str(shop_dir), "--workers", "2", "--out", str(tmp_path / "x.db")]),
                   "folder")
    one_line_error(runner.invoke(app, ["sample", str(shop_dir), "--workers", "2", "--rows-per-file", "5",
                                       "--out", str(tmp_path / "y")]), "--rows-per-file")


def test_keys_no_block_can_renumber_are_refused(tmp_path):
    rng = np.random.default_rng(0)
    stores = pd.DataFrame({"region": np.repeat(["n", "s"], 20), "number": np.tile(np.arange(20), 2),
                           "size": rng.integers(1, 9, 40)})
    schema = Schema.from_dict({"tables": {"stores": {"primary_key": ["region", "number"]}}, "foreign_keys": []})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        RelationalSynthesizer().fit({"stores": stores}, schema=schema).save(tmp_path / "m")
    with pytest.raises(UserInputError, match="table 'stores' has a primary key") as info:
        sample_database(tmp_path / "m", scale=1, seed=0, out=tmp_path / "db", roots_per_block=10)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "db").exists()


def test_bad_arguments_are_one_line(shop_dir, reference, tmp_path):
    with pytest.raises(UserInputError, match="roots_per_block"):
        sample_database(shop_dir, scale=1, seed=0, out=tmp_path / "a", roots_per_block=0)
    with pytest.raises(UserInputError, match="scale"):
        sample_database(shop_dir, scale=0, seed=0, out=tmp_path / "a")
    with pytest.raises(UserInputError, match="already exists"):
        sample_database(shop_dir, scale=1, seed=0, out=reference)


def test_conditions_hold_in_every_block_and_tables_read_alone(shop_dir, tmp_path):
    manifest = sample_database(shop_dir, scale=1, seed=1, out=tmp_path / "us", roots_per_block=50,
                               conditions={"customers": {"country": "US"}})
    assert manifest["blocks"] == 3
    tables, schema = read_sampled_database(tmp_path / "us", tables=["customers", "orders"])
    assert sorted(tables) == ["customers", "orders"] and len(schema.foreign_keys) == 1
    assert set(tables["customers"]["country"]) == {"US"}
    assert tables["orders"]["customer_id"].isin(tables["customers"]["id"]).all()


def test_a_public_table_is_written_once_with_its_real_keys(tmp_path):
    tables, schema = shop(n_customers=60)
    declared = json.loads(schema.to_json())
    declared["tables"]["products"]["public"] = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        RelationalSynthesizer().fit(tables, schema=Schema.from_dict(declared)).save(tmp_path / "m")
    manifest = sample_database(tmp_path / "m", scale=1, seed=0, out=tmp_path / "db", roots_per_block=20)
    assert manifest["public"] == ["products"] and len(manifest["tables"]["products"]["parts"]) == 1
    synthetic, _ = read_sampled_database(tmp_path / "db")
    pd.testing.assert_frame_equal(synthetic["products"], tables["products"])
    assert synthetic["items"]["product_id"].isin(tables["products"]["product_id"]).all()
