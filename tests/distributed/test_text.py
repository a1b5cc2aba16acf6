"""Sharded text generation: the same records here and on 2 workers, exact quotas, global dedup, drop accounting."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from synthera.cli import app
from synthera.distributed.text import generate_sharded, shard_quotas, shard_seed
from synthera.errors import UserInputError
from synthera.text.pipeline import GenerationConfig
from synthera.text.sql import database_from_tables
from tests.helpers import one_line_error
from tests.text.conftest import shop_tables

pytest.importorskip("dask.distributed")

LEVELS = {"easy": 10, "medium": 16, "hard": 8, "extra": 6}  # the default shares' quotas at n = 40


@pytest.fixture(scope="module")
def shop_db(tmp_path_factory):
    return database_from_tables(shop_tables(), tmp_path_factory.mktemp("db") / "shop.db",
                                primary_keys={"stores": "store_id", "sales": "sale_id"},
                                foreign_keys=[("sales", "store_id", "stores", "store_id")])


@pytest.fixture(scope="module")
def sql_config(shop_db):
    return GenerationConfig(task="text-to-sql", n=40, db=str(shop_db), model="template", seed=3)


@pytest.fixture(scope="module")
def in_process(sql_config):
    return generate_sharded(sql_config, shards=4)


def _adds_up(stats: dict) -> None:
    assert stats["kept"] + stats["dropped_total"] == stats["candidates"]
    assert sum(stats["dropped"].values()) == stats["dropped_total"]
    shards = stats["shards"]
    assert shards["dropped_in_shards"] + shards["dropped_globally"] == stats["dropped_total"]
    assert shards["forwarded"] == stats["kept"] + shards["dropped_globally"]


def test_shard_quotas_add_up_exactly():
    for shards in (1, 3, 4, 7, 40, 41):
        parts = shard_quotas(LEVELS, shards)
        assert len(parts) == shards
        assert {v: sum(p[v] for p in parts) for v in LEVELS} == LEVELS
        sizes = [sum(p.values()) for p in parts]
        assert max(sizes) - min(sizes) <= 1
        assert all(max(p[v] for p in parts) - min(p[v] for p in parts) <= 1 for v in LEVELS)
    assert shard_seed(3, 0) == shard_seed(3, 0) != shard_seed(3, 1) != shard_seed(4, 1)


def test_two_workers_give_the_in_process_records(sql_config, in_process, dask_client):
    on_workers = generate_sharded(sql_config, shards=4, client=dask_client)
    assert on_workers.records == in_process.records
    assert on_workers.stats["dropped"] == in_process.stats["dropped"]


def test_quotas_exact_sql_distinct_and_drops_add_up(in_process):
    stats = in_process.stats
    assert stats["kept"] == 40 == len(in_process.records) and stats["stopped"] == "done"
    assert {k: v["kept"] for k, v in stats["balance"]["difficulty"].items()} == LEVELS
    sqls = [r["meta"]["sql"] for r in in_process.records]
    assert len(set(sqls)) == 40  # no SQL twice, although each shard only knew its own
    assert stats["shards"]["count"] == 4
    assert stats["dropped"]["duplicate"] > 0  # this small database repeats queries across shards: dropped globally
    _adds_up(stats)
    # the task's own counters are summed over the shards; facts about the database are the driver's
    assert sum(stats["grammar"]["misses"].values()) > 0 and stats["grammar"]["joins"]["links"] == 1
    assert stats["task_stats"]["template_round_trip_ok"] >= stats["shards"]["forwarded"]


@pytest.mark.parametrize("cap", [1, 2])
def test_template_dedup_holds_across_shards(sql_config, cap):
    """Each shard only knows its own queries; merging them keeps at most ``cap`` per template and no SQL twice."""
    from collections import Counter

    from synthera.text.sql.analysis import sql_template

    cfg = GenerationConfig(**{**sql_config.as_dict(), "sql_dedup": "template", "template_cap": cap})
    result = generate_sharded(cfg, shards=4)
    per_template = Counter(sql_template(r["meta"]["sql"]) for r in result.records)
    assert result.stats["kept"] == 40 and max(per_template.values()) == cap
    assert len({r["meta"]["sql"] for r in result.records}) == 40
    assert result.stats["shards"]["dropped_globally"] > 0  # the shards did repeat each other: the merge caught it
    _adds_up(result.stats)


def test_fake_model_task_on_workers_loads_the_model_once_per_worker(dask_client, tmp_path):
    cfg = GenerationConfig(task="qa", n=12, model="fake", seed=4, batch_size=3)
    here = generate_sharded(cfg, shards=3, out=tmp_path / "here.jsonl")
    there = generate_sharded(cfg, shards=3, out=tmp_path / "there.jsonl", client=dask_client)
    assert there.records == here.records and there.stats["kept"] == 12
    topics = there.stats["balance"]["topic"]
    assert all(v["kept"] == v["quota"] for v in topics.values())
    assert there.stats["model"]["calls"] > 0
    _adds_up(there.stats)
    loaded = dask_client.run(lambda: len(__import__("synthera.distributed.text", fromlist=["_LLMS"])._LLMS))
    assert all(n <= 1 for n in loaded.values()) and sum(loaded.values()) >= 1


def test_cli_scheduler_writes_the_sharded_records(shop_db, in_process, dask_client, tmp_path):
    out = tmp_path / "sql.jsonl"
    args = ["text", "generate", "--task", "text-to-sql", "--n", "40", "--db", str(shop_db), "--model", "template",
            "--seed", "3", "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--scheduler", dask_client.scheduler.address])
    assert result.exit_code == 0, result.stderr
    assert "shards: 1 in 1 round(s)" in result.stdout
    written = [json.loads(line) for line in out.read_text().splitlines()]
    # 40 examples make one shard by default; its records are those of a 1-shard run in this process
    sql_config = GenerationConfig(task="text-to-sql", n=40, db=str(shop_db), model="template", seed=3)
    assert [r["meta"]["sql"] for r in written] == [r["meta"]["sql"] for r in generate_sharded(sql_config).records]
    one_line_error(CliRunner().invoke(app, [*args, "--workers", "0"]), "--workers", ">= 1")
    one_line_error(CliRunner().invoke(app, [*args, "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"]),
                   "not both")


def test_bad_shards_are_one_line():
    cfg = GenerationConfig(task="qa", n=4, model="fake")
    for bad in (0, 1.5, True):
        with pytest.raises(UserInputError, match="shards must be a whole number"):
            generate_sharded(cfg, shards=bad)
    with pytest.raises(UserInputError, match="surplus"):
        generate_sharded(cfg, surplus=-1)


def test_short_slices_are_topped_up_by_later_rounds(sql_config):
    """Without spares, the globally dropped duplicates leave slices short: a top-up round fills them exactly."""
    result = generate_sharded(sql_config, shards=4, surplus=0)
    stats = result.stats
    assert stats["shards"]["rounds"] >= 2 and stats["shards"]["count"] > 4
    assert stats["kept"] == 40 and stats["stopped"] == "done"
    assert {k: v["kept"] for k, v in stats["balance"]["difficulty"].items()} == LEVELS
    assert len({r["meta"]["sql"] for r in result.records}) == 40
    _adds_up(stats)


def test_max_candidates_is_a_global_budget(sql_config):
    cfg = GenerationConfig(**{**sql_config.as_dict(), "max_candidates": 30})
    stats = generate_sharded(cfg, shards=4).stats
    assert stats["candidates"] <= 30 and stats["kept"] < 40 and stats["stopped"] == "budget"
    _adds_up(stats)
