"""The whole pipeline on the fake backend: every task, resume after interruption, drop accounting."""

from __future__ import annotations

import json

import pytest

from synthera.errors import UserInputError
from synthera.text.llm import CachedLLM, FakeLLM
from synthera.text.pipeline import GenerationConfig, generate, write_outputs
from synthera.text.sql import execute_sql


def _no_placeholders(records):
    for rec in records:
        turns = rec["conversations"]
        assert [t["role"] for t in turns] == ["user", "assistant"]
        assert all(t["content"].strip() for t in turns)
        assert rec["system"].strip()


def test_text_to_sql_template_examples_all_execute(shop_db):
    cfg = GenerationConfig(task="text-to-sql", n=60, db=str(shop_db), model="template", seed=1)
    result = generate(cfg)
    stats = result.stats
    assert stats["kept"] == 60 == len(result.records)
    assert stats["kept"] + stats["dropped_total"] == stats["candidates"]
    _no_placeholders(result.records)
    sqls = [r["meta"]["sql"] for r in result.records]
    assert len(set(sqls)) == 60
    for rec in result.records:
        meta = rec["meta"]
        assert rec["conversations"][1]["content"] == meta["sql"]
        assert meta["question"] in rec["conversations"][0]["content"]
        assert "CREATE TABLE sales" in meta["schema"]
        rows = execute_sql(shop_db, meta["sql"])
        assert rows and json.loads(meta["result_preview"])["row_count"] == len(rows)
    balance = stats["balance"]["difficulty"]
    assert {k: v["kept"] for k, v in balance.items()} == {"easy": 15, "medium": 24, "hard": 12, "extra": 9}
    assert stats["distribution"]["question_source"] == {"template": 60}
    assert result.manifest["model"].startswith("template")


def test_text_to_sql_same_seed_same_data(people_db):
    cfg = GenerationConfig(task="text-to-sql", n=30, db=str(people_db), model="template", seed=5)
    assert generate(cfg).records == generate(cfg).records
    other = generate(GenerationConfig(task="text-to-sql", n=30, db=str(people_db), model="template", seed=6))
    assert other.records != generate(cfg).records


def test_text_to_sql_with_model_questions_pass_the_round_trip(people_db, tmp_path):
    cfg = GenerationConfig(task="text-to-sql", n=20, db=str(people_db), model="fake", seed=0)
    result = generate(cfg, out=tmp_path / "sql.jsonl")
    sources = result.stats["distribution"]["question_source"]
    assert sources.get("llm", 0) == 20  # the fake keeps every column and value
    assert all(r["meta"]["question"].startswith("Could you tell me") for r in result.records)
    assert (tmp_path / "sql.cache.jsonl").is_file()

    def forgetful(prompt, rng):
        return "Question: What is going on in this table?"

    bad = generate(cfg, llm=FakeLLM(forgetful), out=tmp_path / "bad.jsonl")
    assert bad.stats["kept"] == 20
    assert bad.stats["distribution"]["question_source"] == {"template": 20}
    assert bad.stats["task_stats"]["llm_question_rejected_round_trip"] >= 20
    assert any("round-trip" in note for note in bad.stats["notes"])


@pytest.mark.parametrize("task, attribute", [("summarization", "topic"), ("qa", "topic"),
                                             ("character", "character")])
def test_seed_tasks_run_end_to_end_on_the_fake(task, attribute, tmp_path):
    cfg = GenerationConfig(task=task, n=16, model="fake", seed=2, batch_size=4)
    result = generate(cfg, out=tmp_path / f"{task}.jsonl")
    assert result.stats["kept"] == 16
    _no_placeholders(result.records)
    kept = result.stats["balance"][attribute]
    assert max(v["kept"] for v in kept.values()) - min(v["kept"] for v in kept.values() if v["quota"]) <= 1
    assert result.stats["model"]["id"] == "fake"


def test_drop_accounting_counts_every_reason(tmp_path):
    passages = iter(range(10_000))
    long_text = " ".join(f"word{j}" for j in range(40))

    def scripted(prompt, rng):
        if prompt.rfind("Summarize this paragraph") > prompt.rfind("Write a short paragraph"):
            if prompt.rstrip().endswith("Bees fly."):
                return "Bees."  # too short to keep
            if prompt.rstrip().endswith(long_text):
                return long_text  # as long as the passage: the judge rejects it
            return "Neighbours grow vegetables together on borrowed city land."
        i = next(passages)
        if i % 5 == 0:
            return ""  # empty answer: generation failed
        if i % 5 == 1:
            return "Title:"  # nothing left after cleaning: parse failure
        if i % 5 == 2:
            return "Bees fly."
        if i % 5 == 3:  # the same good passage every time: kept once, then a duplicate
            topic = prompt.rsplit("about ", 1)[1].split(",")[0]
            return (f"People care about {topic}. Community gardens give neighbours a shared place to grow "
                    "vegetables, meet each other and learn about soil. Volunteers share tools, seeds and water. "
                    "Schools bring classes to plant beans. The city lends land that would otherwise stay empty.")
        return long_text

    # n = 24 gives each of the 24 topics a quota of one, so no candidate is over quota
    cfg = GenerationConfig(task="summarization", n=24, model="fake", seed=0, batch_size=5, max_candidates=40)
    result = generate(cfg, llm=FakeLLM(scripted), out=tmp_path / "s.jsonl")
    stats = result.stats
    dropped = stats["dropped"]
    assert stats["kept"] == 1 and stats["stopped"] == "budget"
    assert stats["candidates"] == 40 == stats["kept"] + stats["dropped_total"]
    assert dropped["generation_failed"] == 8 and dropped["parse_failure"] == 8
    assert dropped["too_short"] == 8 and dropped["judge_rejection"] == 8
    assert dropped["duplicate"] + dropped["near_duplicate"] + dropped["too_similar"] == 7
    assert "summary not shorter" in next(iter(stats["judge_rejections"]))
    assert any("budget" in n for n in stats["notes"]) and any("weak" in n for n in stats["notes"])
    _no_placeholders(result.records)


class _Interrupt(Exception):
    pass


def test_interrupted_run_resumes_from_the_cache(tmp_path):
    out = tmp_path / "qa.jsonl"
    cfg = GenerationConfig(task="qa", n=12, model="fake", seed=4, batch_size=3)
    full = generate(cfg, llm=FakeLLM(), out=tmp_path / "reference.jsonl")

    batches = []

    def stop_after_two(progress):
        batches.append(progress)
        if len(batches) == 2:
            raise _Interrupt

    first = FakeLLM()
    with pytest.raises(_Interrupt):
        generate(cfg, llm=first, out=out, on_batch=stop_after_two)
    done = first.calls
    assert done == 18  # two batches of three examples, three steps each (passage, question, answer)
    cache = out.with_name("qa.cache.jsonl")
    assert len(cache.read_text().splitlines()) == done

    second = FakeLLM()
    resumed = generate(cfg, llm=second, out=out)
    assert resumed.records == full.records
    assert second.calls == full.stats["model"]["calls"] - done  # the first answers came from the cache
    assert resumed.stats["model"]["cache_hits"] == done


def test_outputs_are_flock_jsonl_parquet_hf_and_manifest(people_db, tmp_path):
    from synthera.text.output import load_dataset, read_records

    out = tmp_path / "data" / "sql.jsonl"
    result = generate(GenerationConfig(task="text-to-sql", n=25, db=str(people_db), model="template"), out=out)
    paths = write_outputs(result, out)
    assert [p.name for p in paths] == ["sql.jsonl", "sql.parquet", "sql.hf", "sql.manifest.json"]
    records = read_records(out)
    assert records == json.loads(json.dumps(result.records))
    assert set(records[0]) == {"system", "conversations", "meta"}
    ds = load_dataset(out)
    assert len(ds) == 25 and ds[0]["conversations"][1]["role"] == "assistant"
    assert json.loads(ds[3]["meta"])["sql"] == records[3]["meta"]["sql"]
    import pandas as pd

    frame = pd.read_parquet(out.with_suffix(".parquet"))
    assert len(frame) == 25 and list(frame.columns) == ["system", "conversations", "meta"]
    manifest = json.loads(out.with_name("sql.manifest.json").read_text())
    assert manifest["counts"]["kept"] == 25 and "dropped" in manifest["counts"]
    assert manifest["seed"] == 0 and manifest["throughput"]["examples_per_minute"] > 0
    assert not list(out.parent.glob(".*tmp"))


def test_synthetic_database_output_copies_the_db(tmp_path, monkeypatch):
    import pandas as pd

    import synthera.text.sql.databases as t2s
    from synthera.text.sql import database_from_tables

    def fake_synthetic(names, *, rows, seed, progress=False, cache=None):
        frame = pd.DataFrame({"age": list(range(20, 20 + rows)), "sex": ["F", "M"] * (rows // 2)})
        return database_from_tables({"adult": frame}, tmp_path / "cache.db")

    monkeypatch.setattr(t2s, "synthetic_database", fake_synthetic)
    out = tmp_path / "o.jsonl"
    cfg = GenerationConfig(task="text-to-sql", n=10, from_synthetic="adult", synthetic_rows=40, model="template")
    result = generate(cfg, out=out)
    paths = write_outputs(result, out)
    assert out.with_name("o.db") in paths
    assert all(r["meta"]["db"] == "o.db" for r in result.records)
    assert execute_sql(out.with_name("o.db"), result.records[0]["meta"]["sql"])


@pytest.mark.parametrize("kwargs, needle", [
    ({"task": "poetry", "n": 5}, "unknown task"),
    ({"task": "qa", "n": 0}, "n must be a whole number"),
    ({"task": "text-to-sql", "n": 5}, "needs a database"),
    ({"task": "text-to-sql", "n": 5, "db": "missing.db"}, "not found"),
    ({"task": "text-to-sql", "n": 5, "db": "a.db", "from_synthetic": "adult"}, "either"),
    ({"task": "qa", "n": 5, "model": "template"}, "only works for text-to-sql"),
    ({"task": "qa", "n": 5, "db": "a.db"}, "only apply to text-to-sql"),
    ({"task": "text-to-sql", "n": 5, "from_synthetic": "adult", "difficulty": {"trivial": 1}}, "unknown difficulty"),
    ({"task": "qa", "n": 5, "novelty_threshold": 1.5}, "(0, 1]"),
])
def test_config_errors_are_one_clear_line(kwargs, needle):
    with pytest.raises(UserInputError, match=None) as info:
        GenerationConfig(**kwargs).validated()
    assert needle in str(info.value)


def test_cached_backend_is_reused_not_rewrapped(tmp_path, people_db):
    llm = CachedLLM(FakeLLM(), tmp_path / "c.jsonl")
    result = generate(GenerationConfig(task="text-to-sql", n=5, db=str(people_db), model="fake"), llm=llm)
    assert llm.misses >= 5 and result.stats["model"]["calls"] == llm.misses


def test_a_sqlalchemy_url_is_mirrored_to_sqlite(shop_db, tmp_path):
    out = tmp_path / "m.jsonl"
    url = f"sqlite+pysqlite:///{shop_db}"  # goes through SQLAlchemy like PostgreSQL would
    result = generate(GenerationConfig(task="text-to-sql", n=12, db=url, model="template"), out=out)
    assert result.manifest["source"]["kind"] == "mirrored"
    paths = write_outputs(result, out)
    copy = out.with_name("m.db")
    assert copy in paths
    assert result.manifest["database"]["foreign_keys"] == ["sales.store_id -> stores.store_id"]
    for rec in result.records:
        assert execute_sql(copy, rec["meta"]["sql"])


def test_grammar_errors_reach_the_generation_stats(people_db, monkeypatch):
    from synthera.text.sql.grammar import SQLSampler

    def _f_count_where(self, table):
        raise IndexError("a bug in the family")

    monkeypatch.setattr(SQLSampler, "_f_count_where", _f_count_where)
    result = generate(GenerationConfig(task="text-to-sql", n=10, db=str(people_db), model="template", seed=2,
                                       difficulty={"easy": 1}))
    grammar = result.stats["grammar"]
    assert grammar["errors"]["f_count_where"] > 0
    assert "IndexError: a bug in the family" in grammar["error_examples"]["f_count_where"]
    assert any("f_count_where" in note and "bug" in note for note in result.stats["notes"])
    assert result.manifest["stats"]["grammar"] == grammar


def test_task_registry_refuses_overwrites_and_the_pipeline_runs_any_registered_task(monkeypatch):
    from collections import Counter
    from dataclasses import dataclass
    from typing import ClassVar

    from synthera.text import tasks
    from synthera.text.filters import distribution

    with pytest.raises(ValueError, match="already registered"):
        tasks.register_task("qa", tasks.QAOptions)
    with pytest.raises(ValueError, match="already registered"):
        tasks.register_task("new-name", tasks.QAOptions, aliases=("sql",))

    class EchoTask:
        name, attribute, default_novelty, weak_model_note = "echo", "topic", None, False
        lengths: ClassVar[dict] = {"user": (1, 100), "assistant": (1, 100)}

        def __init__(self):
            self.stats = Counter()

        def attribute_values(self):
            return ["a", "b"]

        def propose(self, wanted, rng):
            out = []
            for v in wanted:
                text = f"say {v} {rng.random():.6f}"
                out.append(tasks.Example("sys", text, f"{v}!", {"topic": v}, {"topic": v}, text, text))
            return out

        def judge(self, ex):
            return None

        def describe(self):
            return {}

        def distribution(self, meta):
            return {"topic": distribution(m["topic"] for m in meta)}

        def report(self):
            return {"echoed": True}, []

        def close(self):
            pass

    @dataclass(frozen=True)
    class EchoOptions:
        template_ok: ClassVar[bool] = True

        @classmethod
        def from_config(cls, config):
            return cls()

        def config_fields(self):
            return {"difficulty": None}

        def budget(self, n, has_model):
            return 10 * n

        def build(self, *, llm, seed, out, progress):
            return tasks.BuiltTask(EchoTask())

    monkeypatch.setattr(tasks, "_TASKS", dict(tasks._TASKS))
    tasks.register_task("echo", EchoOptions)
    result = generate(GenerationConfig(task="echo", n=4, model="template"))
    assert result.stats["kept"] == 4 and result.stats["echoed"] is True
    assert result.stats["distribution"] == {"topic": {"a": 2, "b": 2}}


def test_config_errors_name_parameters_not_command_line_flags(tmp_path):
    bad = [{"task": "qa", "n": 0}, {"task": "qa", "n": 5, "seed": -1}, {"task": "qa", "n": 5, "batch_size": 0},
           {"task": "text-to-sql", "n": 5, "from_synthetic": "adult", "synthetic_rows": 3},
           {"task": "text-to-sql", "n": 5, "db": "a.db", "from_synthetic": "adult"},
           {"task": "qa", "n": 5, "model": "template"}, {"task": "qa", "n": 5, "difficulty": {"easy": 1}}]
    for kwargs in bad:
        with pytest.raises(UserInputError) as info:
            GenerationConfig(**kwargs).validated()
        assert "--" not in str(info.value), str(info.value)
    with pytest.raises(UserInputError, match="rows must be at least 10"):
        GenerationConfig(task="text-to-sql", n=5, from_synthetic="adult", synthetic_rows=3).validated()
