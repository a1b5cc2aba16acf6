"""The four SynthGen tasks: Text-to-SQL and three Self-Instruct-style seed pipelines.

A task turns a list of wanted attribute values (chosen by the pipeline's
balancer: a difficulty, a topic, a character) into candidate
:class:`Example` objects, or :class:`Drop` records that say why a candidate
failed. The pipeline then applies the shared filters (length, duplicates,
near-duplicates, ROUGE-L novelty, the task's judge, quotas).

* :class:`TextToSQLTask` samples and verifies SQL (see
  :mod:`synthera.text.sql`); with a model, it rewrites each grammar
  question by back-translation and keeps the rewrite only if the round trip
  holds.
* :class:`SummarizationTask`, :class:`QATask` and :class:`CharacterTask`
  build each example in short steps (passage, then summary; passage, question,
  answer; user message, then the character's reply), each a chat prompt whose
  earlier turns are two hand-written seeds (:mod:`synthera.text.seeds`), on a
  balanced topic, persona or character; a rule-based judge rejects unfaithful
  summaries, ungrounded answers, broken characters and looping text.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol

from synthera.errors import UserInputError
from synthera.text import seeds as S
from synthera.text.filters import distribution, repetition_ratio, rouge_l, tokens

__all__ = [
    "BuiltTask",
    "CharacterTask",
    "Drop",
    "Example",
    "QATask",
    "SeedTaskOptions",
    "SummarizationTask",
    "Task",
    "TaskOptions",
    "TextToSQLOptions",
    "TextToSQLTask",
    "available_tasks",
    "get_task_options",
    "parse_fields",
    "register_task",
    "resolve_task",
]

_STOP = frozenset(
    [
        "a", "an", "the", "and", "or", "but", "of", "to", "in", "on", "at", "for", "with", "by", "from", "as", "is",
        "are", "was", "were", "be", "been", "it", "its", "this", "that", "these", "those", "there", "their", "they",
        "them", "he", "she", "his", "her", "we", "our", "you", "your", "i", "my", "me", "not", "no", "so", "if",
        "then", "than", "too", "very", "can", "will", "would", "should", "could", "do", "does", "did", "has", "have",
        "had", "into", "about", "over", "after", "before", "also", "just", "more", "most", "some", "such", "each",
        "which", "who", "whom", "what", "when", "where", "why", "how", "all", "any", "one", "two",
    ]
)


def _content(text: str) -> list[str]:
    return [t for t in tokens(text) if t not in _STOP and len(t) > 2]


@dataclass
class Example:
    """One candidate training example (a system prompt and one user/assistant exchange)."""

    system: str
    user: str
    assistant: str
    attributes: dict
    meta: dict
    key: str | tuple[str, ...]  # what exact dedup compares (several keys: a repeat of any one is a duplicate)
    novelty_text: str

    def record(self) -> dict:
        """The FLock conversation record, with the task's details under ``meta``."""
        return {
            "system": self.system,
            "conversations": [{"role": "user", "content": self.user}, {"role": "assistant", "content": self.assistant}],
            "meta": self.meta,
        }


@dataclass
class Drop:
    """A candidate that failed before the shared filters, with its reason."""

    reason: str
    attributes: dict = field(default_factory=dict)
    text: str = ""


def parse_fields(text: str, names: Sequence[str]) -> dict[str, str] | None:
    """Pull ``Name: value`` fields out of a model answer, in the given order.

    Tolerates markdown bold (``**Summary:**``), any case, and values that run
    over several lines. Returns ``None`` if a field is missing or empty.
    """
    clean = text.replace("**", "").replace("__", "")
    pattern = "|".join(re.escape(n) for n in names)
    parts = re.split(rf"(?im)^\s*(?:#+\s*)?({pattern})\s*:\s*", clean)
    found: dict[str, str] = {}
    lead = " ".join(parts[0].split()).strip()
    if lead and not re.match(rf"(?i)\s*({pattern})\s*:", clean) and names[0].lower() not in [
            p.lower() for p in parts[1::2]]:
        found[names[0]] = lead  # the first field answered without its label
    for label, value in zip(parts[1::2], parts[2::2], strict=True):
        key = next(n for n in names if n.lower() == label.lower())
        if key not in found:
            found[key] = " ".join(value.split()).strip().strip('"').strip()
    if any(not found.get(n) for n in names):
        return None
    return found


def _seed_for(base: int, *parts) -> int:
    digest = hashlib.sha256(("|".join(map(str, (base, *parts)))).encode()).hexdigest()
    return int(digest[:8], 16)


# --------------------------------------------------------------------------- Text-to-SQL


_SQL_SYSTEM = (
    "You are a Text-to-SQL assistant. Given a SQLite database schema and a question, "
    "answer with one SQL query that answers it, and nothing else."
)
_REWRITE_SHOTS = (
    ("SELECT COUNT(*) FROM employees WHERE department = 'Sales'",
     "How many rows in the employees table have department Sales?",
     "How many employees work in the Sales department?"),
    ("SELECT city, AVG(price) FROM listings GROUP BY city",
     "For every city, give the average price.",
     "What is the average listing price in each city?"),
    ("SELECT name FROM products ORDER BY weight DESC LIMIT 3",
     "List the name of the 3 products records with the highest weight.",
     "Which 3 products have the highest weight? Give their names."),
)


#: How a rewritten question may be phrased (one per query, spread evenly).
QUESTION_STYLES = {
    "formal": "Phrase it formally and precisely.",
    "colloquial": "Phrase it casually, as you would ask a colleague.",
    "imperative": "Phrase it as a request starting with a verb such as List, Show, Give or Find.",
    "vague": "Phrase it briefly, leaving out words a reader can infer, but still naming every column and value.",
}


def _most_consistent(texts: Sequence[str]) -> str:
    """The text with the highest mean ROUGE-L to the others (the first on a tie): the consensus wording."""
    if len(texts) < 3:
        return texts[0]
    scores = [sum(rouge_l(t, o) for j, o in enumerate(texts) if j != i) for i, t in enumerate(texts)]
    return texts[scores.index(max(scores))]


class TextToSQLTask:
    """Verified Text-to-SQL examples over one SQLite database.

    Parameters
    ----------
    db
        SQLite file (or ``sqlite:///`` URL).
    shares
        Requested difficulty shares (``easy``/``medium``/``hard``/``extra``).
    llm
        ``None`` for grammar questions only, or a cached backend used to
        rewrite them (back-translation from the SQL plus the grammar draft).
    seed
        Seeds the sampler.
    db_label
        What ``meta.db`` says (e.g. the copied file's name).
    dedup
        ``"sql"``: drop a query already proposed (up to case and spacing);
        ``"template"``: also drop one that differs only in its literals
        (:func:`~synthera.text.sql.analysis.sql_template`, as OmniSQL's SynSQL does).
        The stats report how many templates the kept examples use either way.
    template_cap
        With ``dedup="template"``: how many queries one template may keep
        (1, the default, is SynSQL's strict dedup; a few more keep common
        shapes with different literals). Repeated SQL is dropped regardless.
    question_candidates
        With a model: questions written per query (sampled at temperature 0.7
        when more than one); of those passing the round-trip check, the one
        most consistent with the others (highest mean ROUGE-L to them) is kept.
    question_styles
        With a model: each rewrite asks for one of :data:`QUESTION_STYLES`
        (formal, colloquial, imperative, vague but answerable), spread evenly.
    """

    name = "text-to-sql"
    attribute = "difficulty"
    lengths: ClassVar[dict] = {"user": (20, 20_000), "assistant": (15, 2_000)}
    default_novelty = None  # distinct SQL is enforced instead; grammar questions share wording by design
    max_new_tokens = 48
    temperature = 0.0
    stop = ("\n\n", "\nQuestion:", "\nSQL:")  # one question, then the model tends to go on

    def __init__(self, db, *, shares: Mapping[str, float], llm=None, seed: int = 0, db_label: str = "",
                 timeout_s: float = 2.0, dedup: str = "sql", template_cap: int = 1, question_candidates: int = 1,
                 question_styles: bool = True, join_share: float | None = None):
        from synthera.text.sql.grammar import SQLSampler

        if dedup not in ("sql", "template"):
            raise UserInputError(f"sql_dedup must be sql or template; got {dedup!r}")
        if question_candidates < 1:
            raise UserInputError(f"question_candidates must be >= 1; got {question_candidates}")
        _check_template_cap(template_cap, dedup)
        self.dedup = dedup
        self.template_cap = template_cap
        self._per_template: Counter = Counter()
        self.question_candidates = question_candidates
        self.question_styles = question_styles
        self._styles_used: Counter = Counter()

        self.sampler = SQLSampler(db, seed=seed, timeout_s=timeout_s, join_share=join_share)
        self.shares = dict(shares)
        self.llm = llm
        self.seed = seed
        self.db_label = db_label
        self.ddl = self.sampler.schema_prompt()
        self._seen: set[str] = set()
        self.stats: Counter = Counter()

    weak_model_note = False  # a weak model only loses rewrites here; the grammar question stays

    def attribute_values(self) -> Mapping[str, float]:
        return self.shares

    def describe(self) -> dict:
        return self.sampler.describe_database()

    def distribution(self, meta: Sequence[dict]) -> dict:
        """How the kept examples spread over difficulty, SQL features, families, question sources and styles, and
        tables; ``sql_templates`` counts the distinct query shapes (literals masked) among them."""
        from synthera.text.sql.analysis import sql_template
        from synthera.text.sql.grammar import is_join_family

        keys = ("difficulty", "features", "family", "question_source", "question_style", "tables")
        out = {k: distribution(m.get(k) for m in meta) for k in keys}
        templates = Counter(sql_template(m["sql"]) for m in meta)
        out["sql_templates"] = {"templates": len(templates), "examples": len(meta),
                                "largest": max(templates.values(), default=0)}
        joins = sum(is_join_family(m.get("family", "")) for m in meta)
        out["joins"] = {"kept": joins, "share": round(joins / len(meta), 4) if meta else 0.0}
        return out

    def report(self) -> tuple[dict, list[str]]:
        """Extra statistics (the grammar's misses and errors per family, the rewrite acceptance) and notes."""
        grammar = self.sampler.family_report()
        extra: dict = {"grammar": grammar}
        notes = []
        if grammar["errors"]:
            listed = ", ".join(f"{k} {v} ({grammar['error_examples'][k]})" for k, v in grammar["errors"].items())
            notes.append(f"query families raised errors, a bug in the grammar: {listed}")
        ts = self.stats
        tried = sum(ts.get(k, 0) for k in ("llm_question_accepted", "llm_question_rejected_round_trip",
                                           "llm_question_unparsed"))
        if tried:
            share = ts.get("llm_question_accepted", 0) / tried
            extra["llm_question_acceptance"] = round(share, 4)
            notes.append(f"{share:.0%} of model-rewritten questions passed the round-trip check; the others fell "
                         "back to grammar questions")
        return extra, notes

    def close(self) -> None:
        self.sampler.close()

    def propose(self, wanted: Sequence[str], rng: random.Random) -> list[Example | Drop]:
        from synthera.text.sql.analysis import dedup_key, sql_template
        from synthera.text.sql.grammar import preview_json

        out: list[Example | Drop] = []
        ready = []
        for level in wanted:
            cand = None
            for _ in range(20):  # some families need columns a table lacks; try another
                cand = self.sampler.sample(level)
                if cand is not None:
                    break
            if cand is None:
                self.stats["no_query_fits"] += 1
                continue
            try:
                self.sampler.finish(cand)
            except ValueError as exc:
                out.append(Drop("parse_failure", {"difficulty": level}, f"{cand.sql} ({exc})"))
                continue
            key = dedup_key(cand.sql)
            template = sql_template(cand.sql) if self.dedup == "template" else None
            slot = self._per_template[template] if template is not None else 0
            repeat = key in self._seen or slot >= self.template_cap
            self.sampler.note_duplicate(cand, repeat)
            if repeat:
                out.append(Drop("duplicate", {"difficulty": cand.difficulty}, cand.sql))
                continue
            self._seen.add(key)
            if template is not None:
                self._per_template[template] += 1
                # what merging shards compares: one key per template, or with a cap its slot and the SQL itself
                key = template if self.template_cap == 1 else (key, f"{template} #{slot}")
            result = self.sampler.verify(cand)
            if not result.ok:
                out.append(Drop(result.reason, {"difficulty": cand.difficulty}, f"{cand.sql} -- {result.detail}"))
                continue
            ready.append((cand, key, preview_json(result.rows, result.row_count), result.row_count))
        questions = self._questions([c for c, *_ in ready])
        for (cand, key, preview, row_count), (question, source, style) in zip(ready, questions, strict=True):
            meta = {
                "task": self.name, "question": question, "sql": cand.sql, "schema": self.ddl,
                "difficulty": cand.difficulty, "features": cand.features, "family": cand.family,
                "tables": cand.tables, "result_preview": preview, "row_count": row_count,
                "question_source": source, "question_style": style, "db": self.db_label,
            }
            user = f"Database schema:\n{self.ddl}\n\nQuestion: {question}"
            out.append(Example(_SQL_SYSTEM, user, cand.sql, {"difficulty": cand.difficulty}, meta, key, question))
        return out

    def _questions(self, cands) -> list[tuple[str, str, str | None]]:
        """``(question, source, style)`` per query: the model's most consistent rewrite, else the grammar's."""
        from synthera.text.sql.wording import round_trip_ok

        if not cands:
            return []
        if self.llm is None:
            for c in cands:
                ok, _ = round_trip_ok(c.question, c.columns, c.values, c.implied)
                self.stats["template_round_trip_failed" if not ok else "template_round_trip_ok"] += 1
            return [(c.question, "template", None) for c in cands]
        styles = [self._style(c) for c in cands]
        k = self.question_candidates
        prompts = [self._rewrite_prompt(c, style) for c, style in zip(cands, styles, strict=True) for _ in range(k)]
        seeds = [_seed_for(self.seed, "sql-question", c.sql, *([j] if j else [])) for c in cands for j in range(k)]
        answers = self.llm.generate(prompts, max_new_tokens=self.max_new_tokens,
                                    temperature=self.temperature if k == 1 else 0.7, seeds=seeds, stop=self.stop)
        out = []
        for i, (cand, style) in enumerate(zip(cands, styles, strict=True)):
            texts = [_first_paragraph(a).split("\n")[0].strip() if a else "" for a in answers[i * k:(i + 1) * k]]
            good = [t for t in texts if t and round_trip_ok(t, cand.columns, cand.values, cand.implied)[0]
                    and 8 <= len(t) <= 400 and not t.lower().startswith("select")]
            if good:
                self.stats["llm_question_accepted"] += 1
                out.append((_most_consistent(good), "llm", style))
            else:
                self.stats["llm_question_rejected_round_trip" if any(texts) else "llm_question_unparsed"] += 1
                out.append((cand.question, "template", None))
        return out

    def _style(self, cand) -> str | None:
        if not self.question_styles:
            return None
        low = min(self._styles_used[s] for s in QUESTION_STYLES)
        options = [s for s in QUESTION_STYLES if self._styles_used[s] == low]
        style = options[_seed_for(self.seed, "style", cand.sql) % len(options)]
        self._styles_used[style] += 1
        return style

    @staticmethod
    def _rewrite_prompt(cand, style: str | None = None) -> list[dict]:
        """Back-translation as a few-shot chat: SQL plus the grammar draft in, one natural question out."""
        ask = ("SQL: {}\nDraft question: {}\nRewrite the draft as one natural question a data analyst would ask. "
               "Keep every column name and every value exactly as written.")
        messages = []
        for sql, draft, question in _REWRITE_SHOTS:
            messages += [{"role": "user", "content": ask.format(sql, draft)},
                         {"role": "assistant", "content": question}]
        final = ask.format(cand.sql, cand.question)
        if style is not None:
            final += " " + QUESTION_STYLES[style]
        return [*messages, {"role": "user", "content": final}]

    def judge(self, ex: Example) -> str | None:
        return None  # execution already verified it


# --------------------------------------------------------------------------- seed pipelines


@dataclass(frozen=True)
class _Stage:
    """One model call per example: build a prompt, generate, clean the answer into ``field``."""

    field: str
    max_new_tokens: int
    temperature: float
    stop: tuple[str, ...]


_PREFIX = re.compile(r"^(?:here(?:'s| is)[^:\n]*:|sure[,!.][^\n]*\n|(?:passage|paragraph|summary|question|answer|"
                     r"message|user|reply|response|title)\s*:)\s*", re.IGNORECASE)


def _strip_label(text: str) -> str:
    text = text.strip().strip('"“”').strip()
    for _ in range(3):
        new = _PREFIX.sub("", text, count=1).strip().strip('"“”').strip()
        if new == text:
            break
        text = new
    return text


def _first_paragraph(text: str) -> str:
    for part in re.split(r"\n\s*\n", text.strip()):
        part = _strip_label(part)
        if part and not part.endswith(":"):
            return " ".join(part.split())
    return ""


def _paragraphs(text: str, max_sentences: int = 6) -> str:
    """Prose from a model answer: heading-like lines dropped, at most ``max_sentences`` sentences."""
    lines = [_strip_label(line) for line in text.splitlines()]
    lines = [line for line in lines if line and not line.endswith(":") and not line.startswith(("#", "-", "*"))]
    prose = " ".join(" ".join(lines).split())
    sentences = re.split(r"(?<=[.!?])\s+", prose)
    return " ".join(sentences[:max_sentences]).strip()


class _SeedTask:
    """Shared machinery: balanced attributes, staged few-shot chat prompts, a rule judge.

    Each example is built in small steps (e.g. a passage, then its summary),
    one short model call per step, because a 135M model follows one plain
    instruction far better than a multi-field format. The seeds are shown as
    earlier chat turns (few-shot), Self-Instruct style.
    """

    name = ""
    attribute = "topic"
    stages: tuple[_Stage, ...] = ()
    lengths: ClassVar[dict] = {"user": (40, 4_000), "assistant": (10, 1_500)}
    default_novelty = 0.7

    def __init__(self, *, llm, seed: int = 0):
        self.llm = llm
        self.seed = seed
        self.stats: Counter = Counter()
        self._secondary: dict[str, Counter] = {}
        self._calls = 0

    distribution_keys: tuple[str, ...] = ("topic", "persona")
    weak_model_note = True  # every field comes from the model: a weak one shows in the acceptance rate

    def attribute_values(self) -> Sequence[str]:
        return S.TOPICS

    def describe(self) -> dict:
        return {"stages": [s.field for s in self.stages]}

    def distribution(self, meta: Sequence[dict]) -> dict:
        """How the kept examples spread over the task's balanced attributes."""
        return {k: distribution(m[k] for m in meta) for k in self.distribution_keys}

    def report(self) -> tuple[dict, list[str]]:
        """Extra statistics and notes for the run's stats (none for the seed tasks)."""
        return {}, []

    def close(self) -> None:
        pass

    def _least_used(self, name: str, options: Sequence[str], rng: random.Random) -> str:
        counts = self._secondary.setdefault(name, Counter())
        low = min(counts[o] for o in options)
        value = rng.choice([o for o in options if counts[o] == low])
        counts[value] += 1
        return value

    def propose(self, wanted: Sequence[str], rng: random.Random) -> list[Example | Drop]:
        jobs = [self._job(value, rng) for value in wanted]
        drops: dict[int, Drop] = {}
        alive = list(range(len(jobs)))
        for stage in self.stages:
            if not alive:
                break
            prompts = [self._prompt(stage.field, jobs[i], rng) for i in alive]
            seeds = []
            for _ in alive:
                self._calls += 1
                seeds.append(_seed_for(self.seed, self.name, self._calls))
            answers = self.llm.generate(prompts, max_new_tokens=stage.max_new_tokens,
                                        temperature=stage.temperature, seeds=seeds, stop=stage.stop)
            survivors = []
            for i, answer in zip(alive, answers, strict=True):
                attrs = {self.attribute: jobs[i][self.attribute]}
                if not answer or not answer.strip():
                    drops[i] = Drop("generation_failed", attrs, f"empty {stage.field}")
                    continue
                value = self._clean(stage.field, answer)
                if not value:
                    drops[i] = Drop("parse_failure", attrs, f"{stage.field}: {answer}")
                    continue
                jobs[i][stage.field] = value
                survivors.append(i)
            alive = survivors
        return [drops[i] if i in drops else self._example(jobs[i], rng) for i in range(len(jobs))]

    @staticmethod
    def _chat(shots: Sequence[tuple[str, str]], final: str, system: str | None = None) -> list[dict]:
        messages = [{"role": "system", "content": system}] if system else []
        for user, assistant in shots:
            messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
        return [*messages, {"role": "user", "content": final}]

    def _shots(self, pool: Sequence[dict], rng: random.Random, k: int = 2) -> list[dict]:
        return rng.sample(list(pool), k)

    def _clean(self, field: str, answer: str) -> str:
        return _first_paragraph(answer)

    def _job(self, value: str, rng: random.Random) -> dict:
        raise NotImplementedError

    def _prompt(self, field: str, job: dict, rng: random.Random) -> list[dict]:
        raise NotImplementedError

    def _example(self, job: dict, rng: random.Random) -> Example:
        raise NotImplementedError

    @staticmethod
    def _looping(*texts: str) -> bool:
        return any(repetition_ratio(t) > 0.3 for t in texts)


def _passage_request(topic: str, persona: str) -> str:
    return f"Write a short paragraph of four or five sentences about {topic}, in the voice of {persona}."


_PASSAGE = _Stage("passage", 160, 0.8, ("\n\n\n",))


class SummarizationTask(_SeedTask):
    """Passage + summary pairs on balanced topics, written in the voice of balanced personas."""

    name = "summarization"
    stages = (_PASSAGE, _Stage("summary", 60, 0.0, ("\n\n",)))
    system = "You are a helpful assistant that writes short, faithful summaries."
    instructions = (
        "Summarize the following passage in one or two sentences.",
        "Write a brief summary of this text.",
        "Give a short summary of the passage below.",
        "What is the main point of this passage? Answer in one or two sentences.",
    )

    def _job(self, value, rng):
        return {"topic": value, "persona": self._least_used("persona", S.PERSONAS, rng)}

    def _prompt(self, field, job, rng):
        seeds = self._shots(S.SUMMARIZATION_SEEDS, rng)
        if field == "passage":
            shots = [(_passage_request(s["topic"], s["persona"]), s["passage"]) for s in seeds]
            return self._chat(shots, _passage_request(job["topic"], job["persona"]))
        shots = [(f"Summarize this paragraph in one sentence.\n\n{s['passage']}", s["summary"]) for s in seeds]
        return self._chat(shots, f"Summarize this paragraph in one sentence.\n\n{job['passage']}")

    def _clean(self, field, answer):
        return _paragraphs(answer) if field == "passage" else _first_paragraph(answer)

    def _example(self, job, rng):
        passage, summary = job["passage"], job["summary"]
        instruction = rng.choice(self.instructions)
        meta = {"task": self.name, "topic": job["topic"], "persona": job["persona"], "passage": passage,
                "summary": summary}
        return Example(self.system, f"{instruction}\n\n{passage}", summary, {"topic": job["topic"]}, meta,
                       " ".join(tokens(passage)), passage)

    def judge(self, ex: Example) -> str | None:
        passage, summary = ex.meta["passage"], ex.meta["summary"]
        pw, sw = tokens(passage), tokens(summary)
        if len(pw) < 30:
            return "passage under 30 words"
        if len(sw) < 5 or len(sw) > 0.6 * len(pw):
            return "summary not shorter than 60% of the passage"
        if self._looping(passage, summary):
            return "repetitive text"
        pc, sc = set(_content(passage)), _content(summary)
        if sc and sum(w in pc for w in sc) / len(sc) < 0.4:
            return "summary words mostly absent from the passage (unfaithful)"
        if rouge_l(sw, pw[: len(sw)]) > 0.95:
            return "summary copies the passage opening"
        # Loose relevance: some topic word shares its first three letters with a passage word
        # ("beekeeping" ~ "beehives"); catches passages about something else entirely.
        stems = {w[:3] for w in _content(passage)}
        topic_words = _content(ex.meta["topic"])
        if topic_words and not any(w[:3] in stems for w in topic_words):
            return "passage is off topic"
        return None


class QATask(_SeedTask):
    """Passage, question and grounded answer triples on balanced topics and personas."""

    name = "qa"
    stages = (_PASSAGE, _Stage("question", 40, 0.7, ("\n",)), _Stage("answer", 40, 0.0, ("\n\n",)))
    system = "You answer questions using only the information in the given passage."

    def _job(self, value, rng):
        return {"topic": value, "persona": self._least_used("persona", S.PERSONAS, rng)}

    def _prompt(self, field, job, rng):
        seeds = self._shots(S.QA_SEEDS, rng)
        if field == "passage":
            shots = [(_passage_request(s["topic"], s["persona"]), s["passage"]) for s in seeds]
            return self._chat(shots, _passage_request(job["topic"], job["persona"]))
        if field == "question":
            ask = "Write one question that this paragraph answers.\n\n{}"
            return self._chat([(ask.format(s["passage"]), s["question"]) for s in seeds], ask.format(job["passage"]))
        ask = "Paragraph: {}\n\nQuestion: {}\nAnswer in a few words, using only the paragraph."
        shots = [(ask.format(s["passage"], s["question"]), s["answer"]) for s in seeds]
        return self._chat(shots, ask.format(job["passage"], job["question"]))

    def _clean(self, field, answer):
        if field == "passage":
            return _paragraphs(answer, max_sentences=5)
        text = _first_paragraph(answer)
        if field == "question":
            return text[: text.index("?") + 1] if "?" in text else ""
        return text

    def _example(self, job, rng):
        passage, question, answer = job["passage"], job["question"], job["answer"]
        meta = {"task": self.name, "topic": job["topic"], "persona": job["persona"], "passage": passage,
                "question": question, "answer": answer}
        user = f"Passage: {passage}\n\nQuestion: {question}"
        return Example(self.system, user, answer, {"topic": job["topic"]}, meta,
                       " ".join(tokens(question + " " + answer)), f"{passage} {question}")

    def judge(self, ex: Example) -> str | None:
        passage, question, answer = ex.meta["passage"], ex.meta["question"], ex.meta["answer"]
        pw, qw, aw = tokens(passage), tokens(question), tokens(answer)
        if len(pw) < 20:
            return "passage under 20 words"
        if len(qw) < 4:
            return "question under 4 words"
        if not aw or len(aw) > 40:
            return "answer empty or over 40 words"
        if self._looping(passage):
            return "repetitive text"
        pc, ac = set(_content(passage)), _content(answer)
        if ac and sum(w in pc for w in ac) / len(ac) < 0.6:
            return "answer not grounded in the passage"
        if rouge_l(qw, aw) > 0.8:
            return "answer repeats the question"
        if question.lower() in passage.lower():
            return "question copied from the passage"
        return None


class CharacterTask(_SeedTask):
    """In-character replies to user messages, balanced over characters, situations and topics."""

    name = "character"
    attribute = "character"
    stages = (_Stage("user", 50, 0.9, ("\n\n",)), _Stage("reply", 120, 0.8, ("\nUser:", "\n\n\n")))
    lengths: ClassVar[dict] = {"user": (10, 1_500), "assistant": (20, 1_500)}
    distribution_keys = ("character", "scenario", "topic")

    def attribute_values(self):
        return [c["name"] for c in S.CHARACTERS]

    def _job(self, value, rng):
        card = next(c for c in S.CHARACTERS if c["name"] == value)
        return {"character": value, "description": card["description"],
                "scenario": self._least_used("scenario", S.SCENARIOS, rng),
                "topic": self._least_used("topic", S.TOPICS, rng)}

    @staticmethod
    def _system(job) -> str:
        return f"You are {job['character']}, {job['description']}. Stay in character and answer in their voice."

    def _prompt(self, field, job, rng):
        if field == "user":
            seeds = self._shots(S.CHARACTER_SEEDS, rng)
            shots = [(f"Write a short message that someone {s['scenario']} might send to {s['character']}.",
                      s["user"]) for s in seeds]
            return self._chat(shots, f"Write a short message that someone {job['scenario']} about {job['topic']} "
                                     f"might send to {job['character']}.")
        own = [(s["user"], s["reply"]) for s in S.CHARACTER_SEEDS if s["character"] == job["character"]]
        return self._chat(own[:1], job["user"], system=self._system(job))

    def _clean(self, field, answer):
        text = _first_paragraph(answer) if field == "user" else _paragraphs(answer, max_sentences=6)
        name = ""
        if field == "reply":
            name = text.split(":", 1)[0] if ":" in text[:40] else ""
        return text[len(name) + 1:].strip() if name and len(name.split()) <= 4 else text

    def _example(self, job, rng):
        user, reply = job["user"], job["reply"]
        meta = {"task": self.name, "character": job["character"], "scenario": job["scenario"],
                "topic": job["topic"]}
        return Example(self._system(job), user, reply, {"character": job["character"]}, meta,
                       " ".join(tokens(job["character"] + " " + user + " " + reply)), f"{user} {reply}")

    def judge(self, ex: Example) -> str | None:
        user, reply = ex.user, ex.assistant
        low = reply.lower()
        if any(p in low for p in ("as an ai", "language model", "i am an assistant", "i'm an assistant",
                                  "ai assistant")):
            return "reply breaks character"
        if len(tokens(user)) < 3 or len(tokens(reply)) < 6:
            return "user message or reply too thin"
        if rouge_l(user, reply) >= 0.7:
            return "reply repeats the user message"
        if self._looping(reply):
            return "repetitive text"
        return None


# --------------------------------------------------------------------------- the task protocol and registry


class Task(Protocol):
    """What the generation loop needs from a task (see :func:`synthera.text.pipeline.generate`)."""

    name: str
    attribute: str  # the attribute the balancer spreads examples over
    lengths: Mapping[str, tuple[int, int]]  # character bounds of the user and assistant turns
    default_novelty: float | None  # ROUGE-L threshold unless the config sets one
    weak_model_note: bool  # whether a low acceptance rate says the model is too weak
    stats: Counter

    def attribute_values(self) -> Mapping[str, float] | Sequence[str]: ...

    def propose(self, wanted: Sequence[str], rng: random.Random) -> list[Example | Drop]: ...

    def judge(self, ex: Example) -> str | None: ...

    def describe(self) -> dict: ...

    def distribution(self, meta: Sequence[dict]) -> dict: ...

    def report(self) -> tuple[dict, list[str]]: ...

    def close(self) -> None: ...


@dataclass
class BuiltTask:
    """A ready task, the database file to copy beside the output (if any), and where its data came from."""

    task: Task
    database: Path | None = None
    source: dict = field(default_factory=dict)


class TaskOptions(Protocol):
    """A task's own options, validated from a :class:`~synthera.text.pipeline.GenerationConfig`."""

    template_ok: ClassVar[bool]  # runs without a language model (``model="template"``)

    @classmethod
    def from_config(cls, config) -> TaskOptions: ...

    def config_fields(self) -> dict: ...

    def budget(self, n: int, has_model: bool) -> int: ...

    def build(self, *, llm, seed: int, out: Path | None, progress: bool) -> BuiltTask: ...


_TASKS: dict[str, type] = {}
_ALIASES: dict[str, str] = {}


def register_task(name: str, options: type, *, aliases: Sequence[str] = ()) -> None:
    """Register a task under ``name`` (and ``aliases``) with its options class; refuses to overwrite."""
    for key in (name, *aliases):
        if key in _TASKS or key in _ALIASES:
            raise ValueError(f"a text task named {key!r} is already registered; pick another name")
    _TASKS[name] = options
    _ALIASES.update({alias: name for alias in aliases})


def available_tasks() -> list[str]:
    """The registered task names, in registration order."""
    return list(_TASKS)


def resolve_task(name: str) -> str:
    """The registered name for ``name`` or one of its aliases; raises :class:`UserInputError`."""
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in _TASKS:
        raise UserInputError(f"unknown task '{name}'; use one of: {', '.join(_TASKS)}")
    return key


def get_task_options(name: str) -> type:
    """The options class of a registered task (``name`` may be an alias)."""
    return _TASKS[resolve_task(name)]


@dataclass(frozen=True)
class TextToSQLOptions:
    """Text-to-SQL's options: a database (a file or URL, or bundled datasets to synthesise) and difficulty shares.

    ``difficulty`` holds the normalised shares after :meth:`from_config`.
    """

    db: str | None = None
    from_synthetic: str | None = None
    rows: int = 2000
    difficulty: dict | None = None
    dedup: str = "sql"
    question_candidates: int = 1
    question_styles: bool = True
    join_share: float | None = None
    template_cap: int = 1
    template_ok: ClassVar[bool] = True

    @classmethod
    def from_config(cls, config) -> TextToSQLOptions:
        from synthera.text.sql.execute import sqlite_path

        if config.db and config.from_synthetic:
            raise UserInputError("pass either db or from_synthetic, not both")
        if not config.db and not config.from_synthetic:
            raise UserInputError(
                "text-to-sql needs a database: db (a SQLite file or a SQLAlchemy URL) or from_synthetic (e.g. adult)")
        if config.db:
            file = sqlite_path(config.db)
            if file is not None and not file.is_file():
                raise UserInputError(f"database not found: {config.db}; check the path")
        if config.from_synthetic and config.synthetic_rows < 10:
            raise UserInputError(f"rows must be at least 10; got {config.synthetic_rows}")
        dedup = getattr(config, "sql_dedup", "sql")
        if dedup not in ("sql", "template"):
            raise UserInputError(f"sql_dedup must be sql or template; got {dedup!r}")
        cap = getattr(config, "template_cap", 1)
        _check_template_cap(cap, dedup)
        candidates = getattr(config, "question_candidates", 1)
        if isinstance(candidates, bool) or not isinstance(candidates, int) or not 1 <= candidates <= 16:
            raise UserInputError(f"question_candidates must be a whole number from 1 to 16; got {candidates!r}")
        join_share = getattr(config, "join_share", None)
        if join_share is not None and (isinstance(join_share, bool) or not isinstance(join_share, (int, float))
                                       or not 0 <= join_share <= 1):
            raise UserInputError(f"join_share must be a number from 0 to 1; got {join_share!r}")
        return cls(config.db, config.from_synthetic, config.synthetic_rows, _shares(config.difficulty), dedup,
                   candidates, bool(getattr(config, "question_styles", True)), join_share, cap)

    def config_fields(self) -> dict:
        return {"difficulty": self.difficulty}

    def budget(self, n: int, has_model: bool) -> int:
        return max(20, 6 * n) if has_model else max(50, 20 * n)

    def build(self, *, llm, seed: int, out: Path | None, progress: bool) -> BuiltTask:
        db, label, copy, source = self._synthetic(seed, out, progress) if self.from_synthetic else self._given(out)
        task = TextToSQLTask(db, shares=self.difficulty, llm=llm, seed=seed, db_label=label, dedup=self.dedup,
                             template_cap=self.template_cap, question_candidates=self.question_candidates,
                             question_styles=self.question_styles, join_share=self.join_share)
        return BuiltTask(task, copy, source)

    def _synthetic(self, seed: int, out: Path | None, progress: bool):
        """Build (or reuse) the synthetic database: ``(file, label, file to copy, source)``."""
        import time

        from synthera.text.sql import databases

        start = time.perf_counter()
        db = Path(databases.synthetic_database(self.from_synthetic, rows=self.rows, seed=seed, progress=progress))
        label = (out.name[: -len(out.suffix)] + ".db") if out is not None else db.name
        source = {"kind": "synthetic", "datasets": self.from_synthetic, "rows_per_table": self.rows,
                  "synthesizer": "cascade", "seed": seed, "build_seconds": round(time.perf_counter() - start, 2)}
        return db, label, db, source

    def _given(self, out: Path | None):
        """A SQLite file as it is, or another database mirrored to SQLite: ``(file, label, copy, source)``."""
        import tempfile
        import time

        from synthera._secrets import redact
        from synthera.text.sql import databases
        from synthera.text.sql.execute import sqlite_path

        file = sqlite_path(self.db)
        if file is not None:
            label = str(file.resolve())
            return file, label, None, {"kind": "given", "db": label}
        start = time.perf_counter()
        target = (out.with_name(out.name[: -len(out.suffix)] + ".db") if out is not None
                  else Path(tempfile.mkdtemp()) / "mirror.db")
        db = databases.mirror_database(self.db, target)
        label = (out.name[: -len(out.suffix)] + ".db") if out is not None else db.name
        source = {"kind": "mirrored", "db": redact(self.db), "dialect": "sqlite",
                  "build_seconds": round(time.perf_counter() - start, 2)}
        return db, label, db, source


def _check_template_cap(cap, dedup: str) -> None:
    if isinstance(cap, bool) or not isinstance(cap, int) or not 1 <= cap <= 1000:
        raise UserInputError(f"template_cap must be a whole number from 1 to 1000; got {cap!r}")
    if cap != 1 and dedup != "template":
        raise UserInputError("template_cap only applies with sql_dedup template; add it or drop template_cap")


def _shares(raw: Mapping[str, float] | None) -> dict[str, float]:
    """Requested difficulty shares, checked and scaled to sum to 1 over every level."""
    import math

    from synthera.text.sql.grammar import DEFAULT_SHARES, LEVELS

    raw = raw or DEFAULT_SHARES
    unknown = sorted(set(raw) - set(LEVELS))
    if unknown:
        raise UserInputError(f"unknown difficulty level {unknown[0]!r}; use {', '.join(LEVELS)}")
    if any((not isinstance(v, (int, float))) or math.isnan(v) or v < 0 for v in raw.values()):
        raise UserInputError("difficulty shares must be numbers >= 0")
    total = sum(raw.values())
    if total <= 0:
        raise UserInputError("difficulty shares must not all be zero")
    return {k: raw.get(k, 0.0) / total for k in LEVELS}


@dataclass(frozen=True)
class SeedTaskOptions:
    """The seed tasks take no options of their own; the database and difficulty options are refused."""

    task_class: ClassVar[type] = _SeedTask
    template_ok: ClassVar[bool] = False

    @classmethod
    def from_config(cls, config) -> SeedTaskOptions:
        name = cls.task_class.name
        if config.db or config.from_synthetic:
            raise UserInputError(f"db and from_synthetic only apply to text-to-sql, not {name}")
        if config.difficulty:
            raise UserInputError(f"difficulty only applies to text-to-sql, not {name}")
        return cls()

    def config_fields(self) -> dict:
        return {"difficulty": None}

    def budget(self, n: int, has_model: bool) -> int:
        return max(20, 6 * n)

    def build(self, *, llm, seed: int, out: Path | None, progress: bool) -> BuiltTask:
        return BuiltTask(self.task_class(llm=llm, seed=seed))


class SummarizationOptions(SeedTaskOptions):
    task_class = SummarizationTask


class QAOptions(SeedTaskOptions):
    task_class = QATask


class CharacterOptions(SeedTaskOptions):
    task_class = CharacterTask


register_task("text-to-sql", TextToSQLOptions, aliases=("text2sql", "text_to_sql", "sql"))
register_task("summarization", SummarizationOptions, aliases=("summarisation", "summary"))
register_task("qa", QAOptions)
register_task("character", CharacterOptions, aliases=("roleplay", "role-play", "dialogue"))

from synthera.text import tool_use  # noqa: E402, F401 - registers "tool-use" (it builds on the classes above)
