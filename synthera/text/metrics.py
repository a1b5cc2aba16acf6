"""Metrics for generated text, as plain functions.

Every function takes predictions and references as sequences of strings (a
reference may also be a list of acceptable answers; the best one counts) and
returns a number, so a report can call them one by one and record a failing
one as an error instead of crashing.

- :func:`exact_match` and :func:`token_f1` follow the SQuAD v1.1 script:
  lower case, no punctuation, no articles (a/an/the), single spaces.
- :func:`accuracy` is strict equality after trimming surrounding whitespace
  (labels, yes/no answers).
- :func:`bleu` is corpus BLEU from ``sacrebleu`` (tokenizer 13a), 0-100.
- :func:`rouge_l` is the mean ROUGE-L F-measure (longest common subsequence of
  lower-cased word tokens, :func:`synthera.text.filters.rouge_l`), 0-1.
- :func:`execution_accuracy` runs predicted and gold SQL on a SQLite database
  with :func:`synthera.text.sql.execute_sql` and compares the results with
  :func:`synthera.text.sql.results_match` (Spider's rules by default: a bag of
  rows, ordered when the gold query sorts with ``ORDER BY``, columns in any order).
- :func:`bits_per_byte` is the score FLock's validator sends for a submission:
  ``loss * target_tokens / ln 2 / target_bytes``; lower is better.

>>> from synthera.text.metrics import exact_match, token_f1, rouge_l
>>> exact_match(["The cat!"], ["cat"])
1.0
>>> round(token_f1(["a black cat"], ["the cat"]), 3)
0.667
>>> round(rouge_l(["the cat sat"], ["the cat sat down"]), 3)
0.857
"""

from __future__ import annotations

import math
import re
import sqlite3
import string
from collections import Counter
from collections.abc import Sequence

from synthera._extras import require
from synthera.errors import UserInputError
from synthera.text.filters import rouge_l as _rouge_l_tokens
from synthera.text.sql.analysis import sql_key
from synthera.text.sql.execute import SQLExecutionError, execute_sql, prepare_for_mode, results_match

__all__ = [
    "METRICS",
    "accuracy",
    "bits_per_byte",
    "bleu",
    "exact_match",
    "execution_accuracy",
    "execution_match",
    "normalize_answer",
    "register_metric",
    "rouge_l",
    "sql_exact_match",
    "token_f1",
]

Reference = str | Sequence[str]

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)
_WORD = re.compile(r"[a-z0-9]+")


# --------------------------------------------------------------------------- helpers


def _pairs(predictions: Sequence[str], references: Sequence[Reference]) -> list[tuple[str, list[str]]]:
    if isinstance(predictions, str) or isinstance(references, str):
        raise UserInputError("predictions and references must be lists of strings, not one string")
    if len(predictions) != len(references):
        raise UserInputError(
            f"got {len(predictions)} predictions but {len(references)} references; pass one reference per prediction"
        )
    pairs = []
    for pred, ref in zip(predictions, references, strict=True):
        golds = [ref] if isinstance(ref, str) else list(ref)
        if not golds:
            raise UserInputError("a reference list is empty; give at least one acceptable answer per example")
        pairs.append(("" if pred is None else str(pred), [str(g) for g in golds]))
    return pairs


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, drop punctuation and articles, collapse spaces."""
    text = str(text).lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


# --------------------------------------------------------------------------- string metrics


def exact_match(predictions: Sequence[str], references: Sequence[Reference]) -> float:
    """Share of predictions equal to a reference after SQuAD normalisation (0-1)."""
    return _mean([float(any(normalize_answer(p) == normalize_answer(g) for g in golds))
                  for p, golds in _pairs(predictions, references)])


def accuracy(predictions: Sequence[str], references: Sequence[Reference]) -> float:
    """Share of predictions exactly equal to a reference, ignoring only surrounding whitespace (0-1)."""
    return _mean([float(any(p.strip() == g.strip() for g in golds)) for p, golds in _pairs(predictions, references)])


def sql_exact_match(predictions: Sequence[str], references: Sequence[Reference]) -> float:
    """Share of predicted queries equal to the gold one after :func:`synthera.text.sql.sql_key` (0-1).

    Both are spelled canonically by ``sqlglot``; keywords and names are compared without case,
    string literals exactly.
    """
    return _mean([float(any(sql_key(p) == sql_key(g) for g in golds))
                  for p, golds in _pairs(predictions, references)])


def _f1(prediction: str, gold: str) -> float:
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    overlap = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    return _f_measure(overlap, len(pred_tokens), len(gold_tokens))


def _f_measure(matched: int, n_pred: int, n_gold: int) -> float:
    """Harmonic mean of precision ``matched / n_pred`` and recall ``matched / n_gold`` (0 when nothing matches)."""
    if matched == 0:
        return 0.0
    precision, recall = matched / n_pred, matched / n_gold
    return 2 * precision * recall / (precision + recall)


def token_f1(predictions: Sequence[str], references: Sequence[Reference]) -> float:
    """Mean token-overlap F1 after SQuAD normalisation, best reference per example (0-1)."""
    return _mean([max(_f1(p, g) for g in golds) for p, golds in _pairs(predictions, references)])


def bleu(predictions: Sequence[str], references: Sequence[Reference]) -> float:
    """Corpus BLEU (sacrebleu, tokenizer 13a), 0-100.

    Examples with several references use them all; sacrebleu needs the same
    number per example, so shorter lists are padded with their last item.
    """
    sacrebleu = require("sacrebleu", "text")

    pairs = _pairs(predictions, references)
    if not pairs:
        return float("nan")
    width = max(len(golds) for _, golds in pairs)
    streams = [[golds[min(k, len(golds) - 1)] for _, golds in pairs] for k in range(width)]
    return float(sacrebleu.corpus_bleu([p for p, _ in pairs], streams).score)


def _rouge_l_pair(prediction: str, gold: str) -> float:
    pred = _WORD.findall(prediction.lower())
    ref = _WORD.findall(gold.lower())
    if not pred or not ref:
        return float(pred == ref)
    return _rouge_l_tokens(pred, ref)


def rouge_l(predictions: Sequence[str], references: Sequence[Reference]) -> float:
    """Mean ROUGE-L F-measure over examples, best reference per example (0-1).

    Tokens are lower-cased runs of letters and digits, as in Google's
    ``rouge-score`` without stemming.
    """
    return _mean([max(_rouge_l_pair(p, g) for g in golds) for p, golds in _pairs(predictions, references)])


# --------------------------------------------------------------------------- SQL execution

def execution_match(
    prediction: str,
    gold: str,
    connection: sqlite3.Connection,
    *,
    timeout_s: float = 5.0,
    mode: str = "spider",
) -> bool:
    """Whether ``prediction`` returns the same answer as ``gold`` on ``connection``.

    Both run through :func:`synthera.text.sql.execute_sql` (read-only, at most 100,000 rows) and
    are compared by :func:`synthera.text.sql.results_match` in ``mode`` (``spider``, ``bird`` or
    ``strict``), after :func:`synthera.text.sql.prepare_for_mode` (for ``spider``, the official
    evaluator's rules: DISTINCT removed, ``> =`` repaired, row order kept when the gold says
    ``order by``). On one database this is execution accuracy (EX); Spider's test-suite accuracy
    (TS) runs both on a suite of databases. A prediction that fails to run is a mismatch; a gold
    query that fails is a user error.
    """
    gold, prediction, ordered = prepare_for_mode(gold, prediction, mode)
    try:
        gold_rows = execute_sql(connection, gold, timeout_s=timeout_s, max_rows=100_000, truncate=False)
    except SQLExecutionError as exc:
        raise UserInputError(f"the gold query fails on the database ({exc}): {gold}; fix the test set") from None
    try:
        pred_rows = execute_sql(connection, prediction, timeout_s=timeout_s, max_rows=100_000, truncate=False)
    except SQLExecutionError:
        return False
    return results_match(gold_rows, pred_rows, ordered=ordered, mode=mode)


def execution_accuracy(
    predictions: Sequence[str],
    references: Sequence[str],
    connections: sqlite3.Connection | Sequence[sqlite3.Connection],
    *,
    timeout_s: float = 5.0,
    mode: str = "spider",
) -> float:
    """Share of predicted queries whose results match the gold query's (0-1); see :func:`execution_match`.

    ``connections`` is one SQLite connection for every example, or one per
    example (test sets that span several databases).
    """
    pairs = _pairs(predictions, references)
    if isinstance(connections, sqlite3.Connection):
        connections = [connections] * len(pairs)
    if len(connections) != len(pairs):
        raise UserInputError(f"got {len(connections)} database connections for {len(pairs)} examples")
    return _mean([float(execution_match(p, golds[0], conn, timeout_s=timeout_s, mode=mode))
                  for (p, golds), conn in zip(pairs, connections, strict=True)])


# --------------------------------------------------------------------------- bits per byte


def bits_per_byte(loss: float, target_tokens: int, target_bytes: int) -> float:
    """FLock's validator score: ``loss * target_tokens / ln 2 / target_bytes`` (lower is better).

    Parameters
    ----------
    loss
        The validator's ``eval_loss``: cross-entropy in nats, averaged over the
        examples (batch size 1, so each example's mean over its own target
        tokens counts once).
    target_tokens
        Number of assistant (target) tokens over all examples, after truncation.
    target_bytes
        UTF-8 bytes of those tokens decoded without special tokens.

    Returns
    -------
    float
        Bits per byte; ``inf`` when there are no bytes or the loss is not finite
        (the validator then reports its failure value).
    """
    if target_bytes <= 0 or loss is None or not math.isfinite(float(loss)):
        return float("inf")
    return float(loss) * target_tokens / math.log(2) / target_bytes


# --------------------------------------------------------------------------- registry

METRICS: dict[str, object] = {}


def register_metric(name: str, function, *, overwrite: bool = False) -> None:
    """Add a text metric ``function(predictions, references) -> float`` under ``name``."""
    if name in METRICS and not overwrite:
        raise ValueError(f"a text metric named {name!r} is already registered; pass overwrite=True to replace it")
    METRICS[name] = function


for _name, _function in (
    ("exact_match", exact_match),
    ("accuracy", accuracy),
    ("sql_exact_match", sql_exact_match),
    ("token_f1", token_f1),
    ("bleu", bleu),
    ("rouge_l", rouge_l),
):
    register_metric(_name, _function)
