"""The Text-to-SQL grammar (synthera.text.sql): Spider hardness, sampling, verification by execution, round trip."""

from __future__ import annotations

from collections import Counter

import pytest

from synthera.text.sql.analysis import normalize_sql, spider_hardness, sql_features
from synthera.text.sql.grammar import LEVELS, SQLCandidate, SQLSampler
from synthera.text.sql.schema import quote_identifier, sql_literal
from synthera.text.sql.wording import natural_name, round_trip_ok, spoken_value


@pytest.mark.parametrize("sql, level", [
    ("SELECT name FROM t", "easy"),
    ("SELECT COUNT(*) FROM t WHERE a = 1", "easy"),
    ("SELECT a, COUNT(*) FROM t GROUP BY a", "medium"),
    ("SELECT COUNT(*) FROM t WHERE a = 1 AND b = 2", "medium"),
    ("SELECT a FROM t ORDER BY b DESC LIMIT 3", "medium"),
    ("SELECT a FROM t WHERE b > (SELECT AVG(b) FROM t)", "hard"),
    ("SELECT a FROM t WHERE c = 1 ORDER BY b DESC LIMIT 1", "hard"),
    ("SELECT a FROM t WHERE x = 1 INTERSECT SELECT a FROM t WHERE y = 2", "hard"),
    ("SELECT a, COUNT(*) FROM t WHERE b > 1 GROUP BY a HAVING COUNT(*) > 2 ORDER BY COUNT(*) DESC LIMIT 3",
     "extra"),
    ("SELECT COUNT(*) FROM t WHERE a = 1 AND b > (SELECT AVG(b) FROM t)", "extra"),
])
def test_spider_hardness_rules(sql, level):
    assert spider_hardness(sql) == level


def test_features_count_joins_and_nesting():
    f = sql_features("SELECT T1.a FROM s AS T1 JOIN t AS T2 ON T1.k = T2.k WHERE T2.c LIKE '%x%'")
    assert f["component1"] == 3 and "join" in f["features"] and "like" in f["features"]
    g = sql_features("SELECT COUNT(*) FROM s WHERE k IN (SELECT k FROM t WHERE c = 1)")
    assert g["component2"] == 1 and "nested" in g["features"]


def test_normalize_sql_canonical_and_raises_on_garbage():
    assert normalize_sql('select  "unit-price" from sales where x=1') == 'SELECT "unit-price" FROM sales WHERE x = 1'
    with pytest.raises(ValueError):
        normalize_sql("SELECT FROM WHERE (")


def test_round_trip_needs_every_column_and_value():
    ok, missing = round_trip_ok("How many people have hours per week above 40?", ["hours-per-week"], [40])
    assert ok and not missing
    ok, missing = round_trip_ok("How many people work long hours?", ["hours-per-week"], [40])
    assert not ok and "hours-per-week" in missing and "40" in missing
    assert not round_trip_ok("Who has age 140?", ["age"], [14])[0]  # 14 is not 140
    assert natural_name("hoursPerWeek") == "hours per week"
    # A value only one column holds stands for the column, but only when declared so.
    assert round_trip_ok("How many are divorced?", ["marital_status"], ["Divorced"],
                         {"marital_status": "Divorced"}) == (True, [])
    assert not round_trip_ok("How many are divorced?", ["marital_status"], ["Divorced"])[0]
    assert not round_trip_ok("How many are single?", ["marital_status"], ["Divorced"],
                             {"marital_status": "Divorced"})[0]


def test_some_questions_name_a_distinctive_value_without_its_column(people_db):
    """People ask "how many hold a Doctorate?", not "... with education Doctorate?"; training data must too."""
    sampler = SQLSampler(people_db, seed=0)
    value_only = []
    for i in range(300):
        cand = sampler.sample(LEVELS[i % 2])
        if cand is None:
            continue
        for col, value in cand.implied.items():
            assert col in cand.columns and value in cand.values
            assert natural_name(col) not in cand.question.lower()
            assert value.lower() in cand.question.lower() or spoken_value(value) in cand.question.lower()
            # only values one column holds: "Female" (sex) yes, never a number
            assert isinstance(value, str) and any(ch.isalpha() for ch in value)
            value_only.append((col, value))
        assert round_trip_ok(cand.question, cand.columns, cand.values, cand.implied)[0], cand.question
    sampler.close()
    assert len(value_only) >= 10
    assert {col for col, _ in value_only} >= {"sex", "education"}


def test_spoken_values_read_as_people_say_them():
    assert spoken_value(">50K") == "more than 50k" and spoken_value("<=50K") == "50k or less"
    assert spoken_value("Own-child") == "own child" and spoken_value("car (new)") == "car new"
    assert spoken_value("male : single") == "male single"
    assert spoken_value("... < 100 DM") is None and spoken_value("(M1)") == "m1" and spoken_value("42") is None


def test_some_questions_say_a_code_as_people_do_and_still_round_trip(people_db):
    """ "earn more than 50k" must train the model to write income = '>50K', shown in the schema."""
    sampler = SQLSampler(people_db, seed=0)
    spoken = 0
    for i in range(300):
        cand = sampler.sample(LEVELS[i % 2])
        if cand is None:
            continue
        for value in cand.values:
            if isinstance(value, str) and value.lower() not in cand.question.lower():
                assert spoken_value(value) in cand.question.lower(), (value, cand.question)
                assert sql_literal(value) in cand.sql  # the SQL keeps the stored spelling
                spoken += 1
        assert round_trip_ok(cand.question, cand.columns, cand.values, cand.implied)[0], cand.question
    sampler.close()
    assert 10 <= spoken <= 150
    assert not round_trip_ok("How many earn 50k?", ["income"], [">50K"])[0]


def test_sampler_emits_verified_queries_at_every_level(shop_db):
    sampler = SQLSampler(shop_db, seed=3)
    assert sampler.links, "the declared foreign key must be found"
    kept, reasons, levels = 0, Counter(), Counter()
    joined = 0
    for i in range(240):
        cand = sampler.sample(LEVELS[i % 4])
        if cand is None:
            continue
        sampler.finish(cand)
        result = sampler.verify(cand)
        reasons[result.reason or "ok"] += 1
        if result.ok:
            kept += 1
            levels[cand.difficulty] += 1
            joined += "join" in cand.features or "nested" in cand.features
            ok, missing = round_trip_ok(cand.question, cand.columns, cand.values, cand.implied)
            assert ok, (cand.question, missing)
            assert result.rows and result.row_count >= 1
    sampler.close()
    assert kept / sum(reasons.values()) > 0.8, reasons
    assert set(levels) == set(LEVELS)
    assert joined > 0


def test_verify_rejects_errors_empty_results_and_limit_ties(shop_db):
    sampler = SQLSampler(shop_db, seed=0)

    def check(sql):
        return sampler.verify(sampler.finish(SQLCandidate(sql, "q", "manual", ["sales"]))).reason

    assert check("SELECT nope FROM sales") == "failed_execution"
    assert check("SELECT quantity FROM sales WHERE quantity > 1000") == "empty_result"
    assert check("SELECT MAX(quantity) FROM sales WHERE quantity > 1000") == "empty_result"  # one NULL row
    # every region has several stores: LIMIT 1 on a region column ordered by region cuts a tie
    assert check("SELECT city FROM stores ORDER BY region LIMIT 1") == "nondeterministic"
    assert check("SELECT city FROM stores ORDER BY city LIMIT 1") == ""
    assert check('SELECT SUM("unit-price") FROM sales WHERE "order" = \'phone\'') == ""
    sampler.close()


def test_a_family_that_raises_is_counted_as_an_error_not_a_quiet_miss(people_db):
    """Before, any IndexError/ValueError in a family looked like "no query fits"."""
    sampler = SQLSampler(people_db, seed=0)

    def _f_distinct(table):
        raise ValueError("boom")

    sampler._f_distinct = _f_distinct
    for _ in range(60):
        sampler.sample("easy")
    report = sampler.family_report()
    sampler.close()
    assert report["errors"]["f_distinct"] > 0
    assert report["error_examples"]["f_distinct"] == "ValueError: boom"
    assert "f_distinct" not in report["misses"]


def test_families_that_do_not_fit_are_counted_as_misses(people_db):
    sampler = SQLSampler(people_db, seed=0)
    for i in range(400):
        sampler.sample(LEVELS[i % 4])
    report = sampler.family_report()
    sampler.close()
    assert report["errors"] == {}
    assert sum(report["misses"].values()) > 0  # one table, few text labels: some families find no column


def test_filters_are_records_with_named_fields(shop_db):
    from synthera.text.sql.grammar import Filter

    sampler = SQLSampler(shop_db, seed=1)
    for _ in range(20):
        f = sampler._any_filter("sales")
        assert isinstance(f, Filter)
        assert f.sql.startswith(quote_identifier(f.column) + " " + f.op + " ")
        assert f.sql.endswith(sql_literal(f.value))
    sampler.close()
