"""Filters: ROUGE-L, MinHash near-duplicates, novelty, quotas, drop counts."""

from __future__ import annotations

import random

import pytest

from synthera.text.filters import Balancer, DropCounter, NoveltyFilter, lcs_length, repetition_ratio, rouge_l


def test_lcs_and_rouge_l_match_hand_computed_values():
    assert lcs_length("abcbdab", "bdcaba") == 4
    assert rouge_l("the cat sat on the mat", "the cat lay on the mat") == pytest.approx(2 * 5 / 12)
    assert rouge_l("a b c", "a b c") == 1.0
    assert rouge_l("a b c", "x y z") == 0.0
    assert rouge_l("", "x") == 0.0


def test_novelty_filter_drops_exact_near_and_similar():
    f = NoveltyFilter(minhash_threshold=0.8, novelty_threshold=0.7)
    first = "the river flooded the lower fields for a week after the storm"
    reason, handle = f.check("k1", first)
    assert reason is None
    f.add("k1", handle)
    assert f.check("k1", "anything else entirely")[0] == "duplicate"
    assert f.check("k2", first + " .")[0] == "near_duplicate"
    similar = "the river flooded the lower fields for two weeks after the big storm"
    assert f.check("k3", similar)[0] in ("near_duplicate", "too_similar")
    assert f.check("k4", "electric buses lose range on very cold winter days")[0] is None


def test_novelty_threshold_off_keeps_similar_text():
    f = NoveltyFilter(minhash_threshold=None, novelty_threshold=None)
    _, h = f.check("a", "how many people have sex Female")
    f.add("a", h)
    assert f.check("b", "how many people have sex Male")[0] is None


def test_several_keys_are_a_duplicate_when_any_was_kept():
    f = NoveltyFilter(minhash_threshold=None, novelty_threshold=None)
    _, h = f.check(("select 1", "select ? #0"), "one")
    f.add(("select 1", "select ? #0"), h)
    assert f.check(("select 1", "select ? #1"), "two")[0] == "duplicate"  # the same SQL in another slot
    assert f.check(("select 2", "select ? #0"), "two")[0] == "duplicate"  # the template's slot is taken
    assert f.check("select ? #0", "two")[0] == "duplicate"
    assert f.check(("select 2", "select ? #1"), "two")[0] is None


def test_balancer_quotas_sum_to_n_and_follow_shares():
    b = Balancer({"easy": 0.25, "medium": 0.4, "hard": 0.2, "extra": 0.15}, 7)
    assert sum(b.quotas.values()) == 7
    assert b.quotas["medium"] == 3
    rng = random.Random(0)
    for value in b.next_values(7, rng):
        b.take(value)
    assert b.done()
    assert b.report()["medium"]["kept"] == 3
    even = Balancer(["a", "b", "c"], 6)
    assert set(even.quotas.values()) == {2}


def test_drop_counter_counts_and_refuses_unknown_reason():
    d = DropCounter()
    d.drop("duplicate", "x")
    d.drop("duplicate")
    d.drop("failed_execution", "SELECT")
    assert d.total == 3
    assert d.as_dict()["duplicate"] == 2 and d.as_dict()["too_long"] == 0
    with pytest.raises(ValueError):
        d.drop("bored")


def test_repetition_ratio_flags_loops():
    assert repetition_ratio("one two three four five six") == 0.0
    assert repetition_ratio("go on and " * 20) > 0.8
