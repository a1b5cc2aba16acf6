"""Text metrics as plain functions: SQuAD normalisation, F1, BLEU, ROUGE-L, SQL execution, bits per byte."""

from __future__ import annotations

import math
import sqlite3

import pytest
import sacrebleu

from synthera.errors import UserInputError
from synthera.text.metrics import (
    METRICS,
    accuracy,
    bits_per_byte,
    bleu,
    exact_match,
    execution_accuracy,
    execution_match,
    normalize_answer,
    register_metric,
    rouge_l,
    sql_exact_match,
    token_f1,
)
from synthera.text.sql import SQLExecutionError, execute_sql, sql_key


@pytest.fixture
def db():
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE people (name TEXT, age INTEGER, city TEXT, salary REAL)")
    conn.executemany("INSERT INTO people VALUES (?, ?, ?, ?)", [
        ("ann", 30, "Oslo", 100.0), ("bob", 40, "Oslo", 200.0), ("cid", 40, "Lima", 300.0), ("dan", 25, "Lima", 50.0),
    ])
    yield conn
    conn.close()


def test_squad_normalisation_and_exact_match():
    assert normalize_answer("The  Cat, sat!") == "cat sat"
    assert normalize_answer("an apple a day") == "apple day"
    assert exact_match(["The cat!", "dog"], ["cat", "a cat"]) == 0.5
    assert exact_match(["Paris"], [["London", "paris"]]) == 1.0  # best of several references


def test_accuracy_is_strict():
    assert accuracy([" yes ", "No"], ["yes", "no"]) == 0.5


def test_token_f1_by_hand():
    # prediction "black cat" vs gold "cat": precision 1/2, recall 1 -> F1 2/3
    assert token_f1(["a black cat"], ["the cat"]) == pytest.approx(2 / 3)
    assert token_f1(["cat cat"], ["cat"]) == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert token_f1([""], [""]) == 1.0 and token_f1(["x"], [""]) == 0.0
    assert token_f1(["red"], [["blue", "red"]]) == 1.0


def test_bleu_matches_sacrebleu():
    preds = ["the cat sat on the mat", "a dog ran in the park today"]
    refs = ["the cat sat on a mat", "a dog ran in the park"]
    assert bleu(preds, refs) == pytest.approx(sacrebleu.corpus_bleu(preds, [refs]).score)
    assert bleu(refs, refs) == pytest.approx(100.0)
    multi = bleu(["the cat sat on the mat"], [["a cat sat on the mat", "the cat sat on the mat"]])
    assert multi == pytest.approx(100.0)


def test_rouge_l_by_hand():
    # LCS("the cat sat", "the cat sat down") = 3; P = 1, R = 3/4 -> F = 6/7
    assert rouge_l(["the cat sat"], ["the cat sat down"]) == pytest.approx(6 / 7)
    # LCS("a b c d", "a c b d") = 3 -> P = R = 3/4
    assert rouge_l(["a b c d"], ["a c b d"]) == pytest.approx(0.75)
    assert rouge_l(["x y"], ["z"]) == 0.0
    assert rouge_l(["The Cat."], ["the cat"]) == 1.0


def test_length_mismatch_and_single_strings_are_user_errors():
    with pytest.raises(UserInputError, match="2 predictions but 1 references"):
        exact_match(["a", "b"], ["a"])
    with pytest.raises(UserInputError, match="not one string"):
        token_f1("abc", "abc")


def test_sql_exact_match_ignores_case_space_and_semicolon_but_not_literals():
    assert sql_key("select  COUNT( * ) from t ;") == "select count(*) from t"
    assert sql_key("SELECT a FROM t WHERE x=1") == sql_key("select A from T where x = 1")
    assert sql_key("not sql (") == "not sql ("  # broken text keeps its own spelling
    assert sql_exact_match(["SELECT name FROM t WHERE c = 'Oslo';"], ["select name  from t where c = 'Oslo'"]) == 1.0
    assert sql_exact_match(["SELECT name FROM t WHERE c = 'oslo'"], ["SELECT name FROM t WHERE c = 'Oslo'"]) == 0.0


def test_execution_compares_result_multisets(db):
    gold = "SELECT name FROM people WHERE age = 40"
    assert execution_match("SELECT name FROM people WHERE age > 35", gold, db)
    assert execution_match("SELECT name FROM people WHERE age = 40 ORDER BY name DESC", gold, db)  # order free
    assert not execution_match("SELECT age FROM people WHERE age = 40 GROUP BY age", "SELECT age FROM people "
                               "WHERE age = 40", db)  # duplicates count
    # ... but Spider removes DISTINCT before running either query; strict mode keeps it
    assert execution_match("SELECT DISTINCT age FROM people WHERE age = 40", "SELECT age FROM people "
                           "WHERE age = 40", db)
    assert not execution_match("SELECT DISTINCT age FROM people WHERE age = 40", "SELECT age FROM people "
                               "WHERE age = 40", db, mode="strict")
    assert not execution_match("SELECT name FROM people", gold, db)
    assert not execution_match("SELECT nme FROM people", gold, db)  # an error is a miss
    assert not execution_match("not sql at all", gold, db)


def test_order_matters_when_the_gold_sorts(db):
    gold = "SELECT name FROM people ORDER BY salary DESC"
    assert execution_match("SELECT name FROM people ORDER BY salary DESC", gold, db)
    assert not execution_match("SELECT name FROM people ORDER BY salary", gold, db)
    assert not execution_match("SELECT name FROM people", gold, db)
    # the official Spider rule looks for the text "order by" anywhere in the gold, literals included;
    # strict mode looks outside string literals only
    pred, gold = ("SELECT name FROM people WHERE city <> 'order by' ORDER BY name DESC",
                  "SELECT name FROM people WHERE city <> 'order by'")
    assert execution_match(pred, gold, db, mode="strict")
    assert execute_sql(db, pred) != execute_sql(db, gold) and not execution_match(pred, gold, db)


def test_spider_mode_applies_the_official_query_rules(db):
    from synthera.text.sql import prepare_for_mode

    assert execution_match("SELECT city FROM people", "SELECT DISTINCT city FROM people", db)  # DISTINCT removed
    assert not execution_match("SELECT city FROM people", "SELECT DISTINCT city FROM people", db, mode="strict")
    assert execution_match("SELECT name FROM people WHERE age > = 40", "SELECT name FROM people WHERE age >= 40", db)
    assert not execution_match("SELECT name FROM people WHERE age > = 40", "SELECT name FROM people WHERE age >= 40",
                               db, mode="bird")
    gold, pred, ordered = prepare_for_mode("SELECT DISTINCT a FROM t WHERE b = 'distinct' ORDER BY a",
                                           "SELECT COUNT(DISTINCT a) FROM t WHERE c ! = 1")
    assert gold == "SELECT  a FROM t WHERE b = 'distinct' ORDER BY a" and ordered
    assert pred == "SELECT COUNT( a) FROM t WHERE c != 1"


def test_numbers_compare_exactly_and_column_names_are_ignored(db):
    assert execution_match("SELECT AVG(salary) AS mean FROM people", "SELECT SUM(salary) / 4.0 FROM people", db)
    assert execution_match("SELECT 2.0", "SELECT 2", db)
    assert not execution_match("SELECT 1.0 / 3", "SELECT 0.33333333", db)  # Spider: exact values
    assert not execution_match("SELECT 1.0 / 3", "SELECT 0.333333333", db)
    assert not execution_match("SELECT 0.1 + 0.2", "SELECT 0.3", db)
    assert execution_match("SELECT 1.0 / 3", "SELECT 0.33333333", db, mode="strict")  # the former 4 decimals
    assert not execution_match("SELECT 0.334", "SELECT 1.0 / 3", db)


def test_column_order_is_free_under_spider_rules_only(db):
    gold = "SELECT name, age FROM people WHERE age = 40"
    assert execution_match("SELECT age, name FROM people WHERE age = 40", gold, db)
    assert not execution_match("SELECT age, name FROM people WHERE age = 40", gold, db, mode="strict")
    assert not execution_match("SELECT age, name FROM people WHERE age = 40", gold, db, mode="bird")
    # BIRD compares sets: a duplicated row is the same answer
    assert execution_match("SELECT name, age FROM people WHERE age = 40 UNION ALL SELECT name, age FROM people "
                           "WHERE age = 40", gold, db, mode="bird")


def test_execution_accuracy_with_one_or_many_connections(db):
    preds = ["SELECT COUNT(*) FROM people", "SELECT MAX(age) FROM people", "SELECT 1"]
    golds = ["SELECT COUNT(name) FROM people", "SELECT MAX(age) FROM people", "SELECT 2"]
    assert execution_accuracy(preds, golds, db) == pytest.approx(2 / 3)
    assert execution_accuracy(preds, golds, [db, db, db]) == pytest.approx(2 / 3)
    with pytest.raises(UserInputError, match="gold query fails"):
        execution_accuracy(["SELECT 1"], ["SELECT nope FROM people"], db)


def test_queries_cannot_write_or_run_forever(db):
    with pytest.raises(SQLExecutionError):
        execute_sql(db, "DELETE FROM people")
    with pytest.raises(SQLExecutionError):
        execute_sql(db, "DROP TABLE people")
    with pytest.raises(SQLExecutionError):
        execute_sql(db, "SELECT 1; DELETE FROM people")
    assert not execution_match("DELETE FROM people", "SELECT name FROM people", db)
    assert db.execute("SELECT COUNT(*) FROM people").fetchone() == (4,)
    forever = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT MAX(x) FROM c"
    with pytest.raises(SQLExecutionError, match="timeout"):
        execute_sql(db, forever, timeout_s=0.2)
    assert execute_sql(db, "SELECT COUNT(*) FROM people") == [(4,)]  # the connection is still usable


def test_bits_per_byte_is_the_validator_formula():
    assert bits_per_byte(1.5, 100, 400) == pytest.approx(1.5 * 100 / math.log(2) / 400)
    assert bits_per_byte(math.log(2), 10, 10) == pytest.approx(1.0)
    assert math.isinf(bits_per_byte(1.0, 10, 0))
    assert math.isinf(bits_per_byte(float("nan"), 10, 10))


def test_registry_refuses_overwrite():
    assert {"exact_match", "token_f1", "bleu", "rouge_l", "accuracy"} <= set(METRICS)
    with pytest.raises(ValueError, match="already registered"):
        register_metric("bleu", lambda p, r: 0.0)
