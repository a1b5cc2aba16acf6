"""SynthGen Text-to-SQL after SynSQL: template-level dedup, several candidate questions, question styles."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from synthera.errors import UserInputError
from synthera.text.llm import FakeLLM
from synthera.text.pipeline import GenerationConfig, generate
from synthera.text.sql.analysis import normalize_sql, sql_template
from synthera.text.tasks import QUESTION_STYLES, _most_consistent


@pytest.mark.parametrize("sql, template", [
    ("SELECT name FROM t1 WHERE age > 30 AND city = 'O''slo' LIMIT 3",
     "select name from t1 where age > ? and city = ? limit ?"),
    ("SELECT col2 FROM t WHERE x IN (1, 2, 3)", "select col2 from t where x in (?)"),
    ("select AVG(x) from T where y < -2.5", "select avg(x) from t where y < ?"),
    ('SELECT "a 1" FROM t WHERE b = \'x\'', 'select "a 1" from t where b = ?'),
])
def test_sql_template_masks_literals_only(sql, template):
    assert sql_template(normalize_sql(sql)) == template


def test_template_dedup_keeps_one_query_per_shape(people_db, tmp_path):
    plain = generate(GenerationConfig(task="text-to-sql", n=40, db=str(people_db), model="template", seed=3),
                     out=tmp_path / "a.jsonl")
    shapes = plain.stats["distribution"]["sql_templates"]
    assert shapes["examples"] == len(plain.records) and 0 < shapes["templates"] <= shapes["examples"]
    deduped = generate(GenerationConfig(task="text-to-sql", n=40, db=str(people_db), model="template", seed=3,
                                        sql_dedup="template"), out=tmp_path / "b.jsonl")
    templates = [sql_template(r["meta"]["sql"]) for r in deduped.records]
    assert len(templates) == len(set(templates)) > 0
    assert deduped.stats["distribution"]["sql_templates"]["largest"] == 1


def test_template_cap_keeps_a_few_queries_per_shape(people_db, tmp_path):
    capped = generate(GenerationConfig(task="text-to-sql", n=40, db=str(people_db), model="template", seed=3,
                                       sql_dedup="template", template_cap=2), out=tmp_path / "c.jsonl")
    per_template = Counter(sql_template(r["meta"]["sql"]) for r in capped.records)
    assert max(per_template.values()) == 2  # some shape is kept twice, none three times
    sqls = [normalize_sql(r["meta"]["sql"]) for r in capped.records]
    assert len(sqls) == len(set(sqls))  # repeated SQL is still dropped


def _rewriter():
    """Echo the draft in three wordings, the first and the last of which agree."""
    seen: dict[str, int] = {}

    def answer(text, rng):
        draft = next(line.split(":", 1)[1].strip() for line in reversed(text.splitlines())
                     if line.startswith("Draft question:"))
        k = seen[draft] = seen.get(draft, -1) + 1
        return [f"Tell me: {draft}", f"Quick one, {draft}", f"Tell me: {draft}"][k % 3]

    return answer


def test_several_candidates_and_rotating_styles(people_db, tmp_path):
    prompts = []
    rewrite = _rewriter()

    def record(text, rng):
        prompts.append(text)
        return rewrite(text, rng)

    result = generate(GenerationConfig(task="text-to-sql", n=12, db=str(people_db), model="fake", seed=0,
                                       question_candidates=3), out=tmp_path / "c.jsonl", llm=FakeLLM(record))
    metas = [r["meta"] for r in result.records]
    llm = [m for m in metas if m["question_source"] == "llm"]
    assert llm and all(m["question"].startswith("Tell me:") for m in llm)  # the consensus wording wins
    styles = result.stats["distribution"]["question_style"]
    assert set(styles) - {"None"} <= set(QUESTION_STYLES) and len(set(styles) - {"None"}) >= 3
    assert len(prompts) >= 3 * len(result.records)  # three candidates per query
    said = [p for p in prompts if any(s in p for s in QUESTION_STYLES.values())]
    assert len(said) == len(prompts)


def test_most_consistent_is_the_consensus():
    assert _most_consistent(["list all the people", "list all people", "what a day"]) in (
        "list all the people", "list all people")
    assert _most_consistent(["only", "two"]) == "only"


def test_options_are_checked(people_db):
    with pytest.raises(UserInputError, match="sql_dedup must be sql or template"):
        GenerationConfig(task="text-to-sql", n=2, db=str(people_db), model="template", sql_dedup="x").validated()
    with pytest.raises(UserInputError, match="question_candidates must be a whole number from 1 to 16"):
        GenerationConfig(task="text-to-sql", n=2, db=str(people_db), model="template",
                         question_candidates=0).validated()
    with pytest.raises(UserInputError, match="template_cap only applies with sql_dedup template"):
        GenerationConfig(task="text-to-sql", n=2, db=str(people_db), model="template", template_cap=3).validated()
    with pytest.raises(UserInputError, match="template_cap must be a whole number from 1 to 1000"):
        GenerationConfig(task="text-to-sql", n=2, db=str(people_db), model="template", sql_dedup="template",
                         template_cap=0).validated()
    with pytest.raises(UserInputError, match=re.escape("only apply to text-to-sql, not qa")):
        GenerationConfig(task="qa", n=2, model="fake", question_candidates=3).validated()
