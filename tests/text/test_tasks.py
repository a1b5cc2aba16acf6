"""Seed-task parsing and judges: what a small model's answer must look like to be kept."""

from __future__ import annotations

from synthera.text.tasks import CharacterTask, Example, QATask, SummarizationTask, parse_fields


def test_parse_fields_tolerates_markdown_case_and_line_breaks():
    text = "**Passage:** The river rose.\nIt flooded fields.\n\n**summary:** Fields flooded."
    assert parse_fields(text, ("Passage", "Summary")) == {"Passage": "The river rose. It flooded fields.",
                                                         "Summary": "Fields flooded."}
    assert parse_fields("The river rose.\nSummary: Fields flooded.", ("Passage", "Summary"))["Passage"] == \
        "The river rose."
    assert parse_fields("Passage: only one field", ("Passage", "Summary")) is None
    assert parse_fields("Passage: \nSummary: x", ("Passage", "Summary")) is None


def _ex(task, **meta):
    return Example("s", meta.pop("user", "u" * 50), meta.pop("assistant", "a" * 20), {}, meta, "k", "t")


def test_summarization_judge():
    task = SummarizationTask(llm=None)
    passage = ("Rooftop beehives in the city tripled after the council set simple rules for keepers. Complaints "
               "were rare and mostly about wasps. Schools now receive free starter kits and learn how bees "
               "pollinate the parks around them every spring and summer.")
    good = _ex(task, topic="urban beekeeping", passage=passage,
               summary="Beehives tripled under simple rules, complaints were rare, and schools get starter kits.")
    assert task.judge(good) is None
    unfaithful = _ex(task, topic="urban beekeeping", passage=passage,
                     summary="Volcanoes erupt violently under oceanic tectonic pressure zones worldwide.")
    assert "unfaithful" in task.judge(unfaithful)
    off_topic = _ex(task, topic="tidal energy", passage=passage, summary="Beehives tripled and schools get kits.")
    assert "off topic" in task.judge(off_topic)


def test_qa_judge_wants_a_grounded_answer():
    task = QATask(llm=None)
    passage = ("The library's new 3D printer can be booked for two hours at a time by any member with a regular "
               "library card, and staff help with the first print.")
    assert task.judge(_ex(task, passage=passage, question="How long can the printer be booked?",
                          answer="Two hours at a time.")) is None
    assert "grounded" in task.judge(_ex(task, passage=passage, question="How long can the printer be booked?",
                                        answer="Until the dragons return from the northern mountains."))


def test_character_judge_rejects_broken_character():
    task = CharacterTask(llm=None)
    ok = _ex(task, user="Any advice for my first day at work?",
             assistant="Check your list twice, learn one name a day, and ask questions early.")
    assert task.judge(ok) is None
    broken = _ex(task, user="Any advice for my first day at work?",
                 assistant="As an AI language model, I do not have days at work, but here is advice.")
    assert "breaks character" in task.judge(broken)
