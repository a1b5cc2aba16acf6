"""Quality and diversity filters that count every example they drop, by reason.

* :class:`DropCounter` keeps one count per reason (:data:`DROP_REASONS`); a
  dropped example is never written out, not even as an empty row.
* :class:`NoveltyFilter` removes exact duplicates (a normalised key),
  near-duplicates (MinHash LSH from ``datasketch`` over word shingles) and
  examples too similar to one already kept (ROUGE-L F1 at or above a
  threshold, 0.7 as in Self-Instruct).
* :class:`Balancer` fills per-attribute quotas (difficulty, topic, persona)
  so that no slice dominates, and reports the distribution.
* :func:`rouge_l` is the LCS-based ROUGE-L F1 on lower-cased word tokens.

>>> from synthera.text.filters import rouge_l
>>> round(rouge_l("the cat sat on the mat", "the cat lay on the mat"), 3)
0.833
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from synthera._extras import require

__all__ = [
    "DROP_REASONS",
    "Balancer",
    "DropCounter",
    "NoveltyFilter",
    "distribution",
    "lcs_length",
    "repetition_ratio",
    "rouge_l",
    "tokens",
]

#: Every reason an example can be dropped for, in the order the manifest lists them.
DROP_REASONS = (
    "generation_failed",  # the model returned nothing usable (empty answer, error)
    "parse_failure",  # the answer or SQL did not have the required shape / did not parse
    "failed_execution",  # the SQL raised an error or timed out
    "empty_result",  # the SQL returned no rows (or only NULLs)
    "nondeterministic",  # the SQL's rows depend on scan order or a LIMIT cuts a tie
    "duplicate",  # same normalised key as a kept example
    "near_duplicate",  # MinHash Jaccard at or above the threshold with a kept example
    "too_similar",  # ROUGE-L at or above the novelty threshold with a kept example
    "too_short",
    "too_long",
    "judge_rejection",  # the task's judge found it unfaithful, ungrounded, repetitive or off-role
    "over_quota",  # its attribute slice (e.g. difficulty) was already full
)

_WORD = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens (letters and digits)."""
    return _WORD.findall(text.lower())


def lcs_length(a: Sequence, b: Sequence) -> int:
    """Length of the longest common subsequence (O(len(a)·len(b)) time, O(len(b)) memory)."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l(a: str | Sequence[str], b: str | Sequence[str]) -> float:
    """ROUGE-L F1 between two texts (or token lists): 2·LCS / (len(a) + len(b))."""
    ta = tokens(a) if isinstance(a, str) else list(a)
    tb = tokens(b) if isinstance(b, str) else list(b)
    if not ta or not tb:
        return 0.0
    lcs = lcs_length(ta, tb)
    return 2.0 * lcs / (len(ta) + len(tb))


def repetition_ratio(text: str, n: int = 3) -> float:
    """Share of repeated word n-grams (0 for none; close to 1 for a looping generation)."""
    words = tokens(text)
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)


class DropCounter:
    """Counts of dropped examples by reason, plus a few examples of each for the manifest."""

    def __init__(self, keep_examples: int = 3):
        self.counts: Counter = Counter()
        self.examples: dict[str, list[str]] = {}
        self.keep_examples = keep_examples

    def drop(self, reason: str, example: str = "") -> None:
        if reason not in DROP_REASONS:
            raise ValueError(f"unknown drop reason {reason!r}; use one of {DROP_REASONS}")
        self.counts[reason] += 1
        if example:
            shown = self.examples.setdefault(reason, [])
            if len(shown) < self.keep_examples:
                shown.append(example[:300])

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, int]:
        """Every reason, in :data:`DROP_REASONS` order, zeros included."""
        return {r: int(self.counts.get(r, 0)) for r in DROP_REASONS}


class NoveltyFilter:
    """Exact, near-duplicate (MinHash) and ROUGE-L novelty checks against the kept examples.

    Parameters
    ----------
    minhash_threshold
        Estimated Jaccard similarity of word shingles at or above which an
        example is a near-duplicate (``None`` turns the check off).
    novelty_threshold
        ROUGE-L F1 at or above which an example is too similar to a kept one
        (``None`` turns the check off). Self-Instruct uses 0.7.
    shingle
        Words per shingle for MinHash.
    num_perm
        MinHash permutations.
    """

    def __init__(
        self,
        *,
        minhash_threshold: float | None = 0.9,
        novelty_threshold: float | None = 0.7,
        shingle: int = 2,
        num_perm: int = 64,
    ):
        self.minhash_threshold = minhash_threshold
        self.novelty_threshold = novelty_threshold
        self.shingle = shingle
        self.num_perm = num_perm
        self._keys: set[str] = set()
        self._kept: list[tuple[list[str], Counter]] = []
        self._lsh = None
        self._hashes: dict[str, object] = {}
        if minhash_threshold is not None:
            self._lsh = require("datasketch", "text").MinHashLSH(threshold=minhash_threshold, num_perm=num_perm)

    def _minhash(self, words: list[str]):
        m = require("datasketch", "text").MinHash(num_perm=self.num_perm, seed=1)
        k = self.shingle
        grams = {" ".join(words[i:i + k]) for i in range(max(1, len(words) - k + 1))}
        m.update_batch([g.encode("utf-8") for g in grams])
        return m

    def check(self, key: str | tuple[str, ...], text: str) -> tuple[str | None, object]:
        """The drop reason for this example (``None`` if it is new) and a handle for :meth:`add`.

        ``key`` is compared exactly with the kept examples' keys; with several keys, a match of any is a duplicate.
        """
        if not self._keys.isdisjoint(_keys(key)):
            return "duplicate", None
        words = tokens(text)
        mh = None
        if self._lsh is not None:
            mh = self._minhash(words)
            for other in self._lsh.query(mh):
                if self._hashes[other].jaccard(mh) >= self.minhash_threshold:
                    return "near_duplicate", None
        if self.novelty_threshold is not None and words:
            counts = Counter(words)
            for kept_words, kept_counts in self._kept:
                # ROUGE-L F1 <= 2·overlap/(la+lb): skip the LCS when even that bound is below the threshold.
                total = len(words) + len(kept_words)
                if 2 * min(len(words), len(kept_words)) / total < self.novelty_threshold:
                    continue
                overlap = sum((counts & kept_counts).values())
                if 2 * overlap / total < self.novelty_threshold:
                    continue
                if rouge_l(words, kept_words) >= self.novelty_threshold:
                    return "too_similar", None
        return None, (words, mh)

    def add(self, key: str | tuple[str, ...], handle) -> None:
        """Record a kept example (``handle`` comes from :meth:`check`)."""
        words, mh = handle
        self._keys.update(_keys(key))
        if self.novelty_threshold is not None and words:
            self._kept.append((words, Counter(words)))
        if self._lsh is not None and mh is not None:
            name = str(len(self._hashes))
            self._hashes[name] = mh
            self._lsh.insert(name, mh)


def _keys(key: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return (key,) if isinstance(key, str) else tuple(key)


class Balancer:
    """Quotas over one attribute (e.g. difficulty or topic), filled as evenly as requested.

    Parameters
    ----------
    values_or_shares
        Either a list of values (equal shares) or a mapping value -> share.
    n
        Total number of examples; quotas are the shares times ``n`` with
        largest-remainder rounding so they sum to ``n``.
    """

    def __init__(self, values_or_shares: Sequence | Mapping, n: int):
        if isinstance(values_or_shares, Mapping):
            shares = {k: float(v) for k, v in values_or_shares.items()}
        else:
            shares = {v: 1.0 for v in values_or_shares}
        total = sum(shares.values())
        if not shares or total <= 0:
            raise ValueError("a balancer needs at least one value with a positive share")
        self.shares = {k: v / total for k, v in shares.items()}
        exact = {k: s * n for k, s in self.shares.items()}
        quotas = {k: math.floor(x) for k, x in exact.items()}
        rest = n - sum(quotas.values())
        for k in sorted(exact, key=lambda k: (-(exact[k] - quotas[k]), list(exact).index(k)))[:rest]:
            quotas[k] += 1
        self.quotas = quotas
        self.filled: Counter = Counter()

    def open(self, value) -> bool:
        return self.filled[value] < self.quotas.get(value, 0)

    def take(self, value) -> None:
        self.filled[value] += 1

    def next_values(self, k: int, rng: random.Random, pending: Counter | None = None) -> list:
        """``k`` values to try next, least filled (relative to quota) first, ties broken by ``rng``."""
        pending = Counter(pending or {})
        out = []
        for _ in range(k):
            open_values = [v for v in self.quotas if self.quotas[v] > 0]
            if not open_values:
                break

            def need(v):
                return (self.filled[v] + pending[v]) / self.quotas[v]

            best = min(need(v) for v in open_values)
            choices = [v for v in open_values if need(v) == best]
            value = rng.choice(sorted(choices, key=str))
            pending[value] += 1
            out.append(value)
        return out

    def done(self) -> bool:
        return all(self.filled[v] >= q for v, q in self.quotas.items())

    def report(self) -> dict:
        """Requested shares, quotas, kept counts and kept shares."""
        kept = sum(self.filled.values())
        return {
            str(v): {
                "requested_share": round(self.shares[v], 4),
                "quota": self.quotas[v],
                "kept": self.filled[v],
                "kept_share": round(self.filled[v] / kept, 4) if kept else 0.0,
            }
            for v in self.quotas
        }


def distribution(values: Iterable) -> dict[str, int]:
    """Counts of each value, most common first (lists are counted element by element)."""
    counts: Counter = Counter()
    for v in values:
        if isinstance(v, (list, tuple)):
            counts.update(str(x) for x in v)
        else:
            counts[str(v)] += 1
    return dict(counts.most_common())
