"""Columns that are generated, never learned: identifiers, free text, personal data.

Personal data (names, e-mails, phones, addresses, card numbers, IP addresses,
national identifiers, account numbers) is made up with Faker's word lists and never taken from the training data.
Identifiers are made unique and follow the *shape* of the real ones (which
characters are digits or letters), learned as a handful of templates such as
``99999999AA99A``; the templates say nothing about any person. Free text gets
fake sentences of similar length.

Generation is vectorised over pools of Faker values, so a million fake names
take about a second rather than a minute.
"""

from __future__ import annotations

import string

import numpy as np
import pandas as pd

from synthera.metadata import ColumnMetadata

__all__ = ["describe_generated", "generate_column", "link_person_names"]

_MAX_TEMPLATES = 20
_POOL = 2_000


def describe_generated(series: pd.Series, col: ColumnMetadata) -> dict:
    """JSON-able facts needed to generate a column like ``series`` (no values kept)."""
    values = series.dropna()
    info: dict = {"integer": bool(pd.api.types.is_integer_dtype(series.dtype))}
    numeric = pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype)
    if col.kind == "pii" and numeric:
        info["numeric"] = True  # personal numbers stored as numbers (cards, phones): generated as digits
    if col.kind == "id" and not info["integer"]:
        shapes = values.astype(str).map(_template).value_counts()
        top = shapes.head(_MAX_TEMPLATES)
        info["templates"] = top.index.tolist()
        info["weights"] = (top / top.sum()).round(6).tolist()
    if col.kind == "text":
        words = values.astype(str).str.split().str.len()
        info["words"] = max(1, int(round(words.mean()))) if len(words) else 8
    if col.kind == "pii" and col.pii_type == "person_name" and len(values):
        text = values.astype(str)
        info["case"] = (
            "lower" if (text == text.str.lower()).mean() > 0.9
            else "upper" if (text == text.str.upper()).mean() > 0.9
            else "title"
        )
    if col.kind == "pii" and col.pii_type == "ip_address":
        info["ipv6"] = bool(values.astype(str).str.contains(":").mean() > 0.5) if len(values) else False
    return info


def _template(text: str) -> str:
    return "".join("9" if ch.isdigit() else "A" if ch.isupper() else "a" if ch.islower() else ch for ch in text)


def _faker(rng: np.random.Generator):
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(int(rng.integers(2**31)))
    return fake


def _pool(make, size: int) -> np.ndarray:
    return np.array([make() for _ in range(size)], dtype=object)


def _pick(pool: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    return pool[rng.integers(0, len(pool), n)]


def _digits(n: int, count: int, rng: np.random.Generator) -> np.ndarray:
    table = np.array(list(string.digits))
    return np.array(["".join(row) for row in table[rng.integers(0, 10, (n, count))]], dtype=object)


def _join(*parts: np.ndarray) -> np.ndarray:
    out = parts[0].astype(str)
    for part in parts[1:]:
        out = np.char.add(out, part.astype(str))
    return out.astype(object)


def _name_part(name: str) -> str:
    """'first', 'last' or 'full': which part of a person's name a column holds."""
    lowered = name.lower()
    if any(key in lowered for key in ("first", "given", "fore", "fname")):
        return "first"
    if any(key in lowered for key in ("last", "sur", "family", "lname")):
        return "last"
    return "full"


def _person(name: str, info: dict, n: int, rng: np.random.Generator, fake) -> np.ndarray:
    part = _name_part(name)
    first = _pick(_pool(fake.first_name, _POOL), n, rng)
    last = _pick(_pool(fake.last_name, _POOL), n, rng)
    values = first if part == "first" else last if part == "last" else _join(first, np.full(n, " "), last)
    return _styled(values, info.get("case", "title"))


def _styled(values: np.ndarray, case: str) -> np.ndarray:
    text = values.astype(str)
    return (np.char.lower(text) if case == "lower" else np.char.upper(text) if case == "upper" else text).astype(object)


def link_person_names(frame: dict[str, pd.Series], metadata, generated: dict[str, dict]) -> None:
    """Make full-name columns agree with first- and last-name columns in the same row."""
    names = [n for n, c in metadata.columns.items() if c.kind == "pii" and c.pii_type == "person_name"]
    parts = {_name_part(n): n for n in names}
    if "first" not in parts or "last" not in parts:
        return
    first, last = frame[parts["first"]].astype(object), frame[parts["last"]].astype(object)
    for name in names:
        if _name_part(name) == "full":
            joined = first.str.cat(last, sep=" ")
            styled = pd.Series(_styled(joined.fillna("").to_numpy(), generated[name].get("case", "title")))
            frame[name] = styled.where(frame[name].notna() & joined.notna(), None).astype(object)


def _luhn_complete(body: np.ndarray) -> np.ndarray:
    """Append the Luhn check digit to rows of digits."""
    digits = body[:, ::-1].copy()
    doubled = digits[:, 0::2] * 2
    digits[:, 0::2] = np.where(doubled > 9, doubled - 9, doubled)
    check = (10 - digits.sum(axis=1) % 10) % 10
    return np.concatenate([body, check[:, None]], axis=1)


def _numeric_pii(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Made-up personal numbers as int64: 555-01xx phones, Luhn-valid 4... cards, 9xx national ids."""
    if kind == "phone":  # NANP numbers with the fictional 555-01xx exchange
        area = rng.integers(201, 990, n)
        return area * 10_000_000 + 5_550_100 + rng.integers(0, 100, n)
    if kind == "credit_card":
        body = rng.integers(0, 10, (n, 15))
        body[:, 0] = 4
        full = _luhn_complete(body)
        return full @ (10 ** np.arange(15, -1, -1, dtype=np.int64))
    if kind == "national_id":  # area numbers 900-999 are never issued as SSNs
        return rng.integers(900_000_000, 1_000_000_000, n)
    return rng.integers(10**9, 10**10, n)  # account numbers and the rest: 10 digits


def _pii(name: str, col: ColumnMetadata, info: dict, n: int, rng: np.random.Generator) -> np.ndarray:
    kind = col.pii_type
    if info.get("numeric"):
        return _numeric_pii(kind, n, rng)
    fake = _faker(rng)
    if kind == "person_name":
        return _person(name, info, n, rng, fake)
    if kind == "email":
        user = np.char.lower(_pick(_pool(fake.user_name, _POOL), n, rng).astype(str))
        domains = _pool(fake.free_email_domain, 50)
        return _join(user, _digits(n, 3, rng), np.full(n, "@"), _pick(domains, n, rng))
    if kind == "phone":
        return _join(np.full(n, "+1-"), _digits(n, 3, rng), np.full(n, "-555-"), _digits(n, 4, rng))
    if kind == "street_address":
        numbers = rng.integers(1, 9999, n).astype(str)
        return _join(numbers, np.full(n, " "), _pick(_pool(fake.street_name, _POOL), n, rng))
    if kind == "credit_card":
        body = rng.integers(0, 10, (n, 15))
        body[:, 0] = 4  # Visa-like prefix; the Luhn digit keeps it well-formed
        full = _luhn_complete(body)
        return np.array(["".join(map(str, row)) for row in full], dtype=object)
    if kind == "national_id":  # SSN-shaped, in the never-issued 9xx area
        return _join(np.full(n, "9"), _digits(n, 2, rng), np.full(n, "-"), _digits(n, 2, rng), np.full(n, "-"),
                     _digits(n, 4, rng))
    if kind == "account_number":
        return _digits(n, 10, rng)
    if kind == "ip_address":
        if info.get("ipv6"):
            groups = rng.integers(0, 65536, (n, 8))
            return np.array([":".join(f"{g:x}" for g in row) for row in groups], dtype=object)
        octets = rng.integers(1, 255, (n, 4))
        return np.array([".".join(map(str, row)) for row in octets], dtype=object)
    raise ValueError(f"unknown pii_type {kind!r}")


def _ids(col: ColumnMetadata, info: dict, n: int, rng: np.random.Generator) -> np.ndarray:
    if info.get("integer", False) or not info.get("templates"):
        if info.get("integer", False):
            return rng.permutation(np.arange(1, n + 1))
        return _join(np.full(n, "id-"), np.char.zfill(np.arange(1, n + 1).astype(str), 8))
    templates = np.array(info["templates"], dtype=object)
    chosen = templates[rng.choice(len(templates), n, p=np.asarray(info["weights"]) / np.sum(info["weights"]))]
    out = np.array([_fill(t, rng) for t in chosen], dtype=object)
    # redraw the few collisions a handful of times; templates that cannot hold n distinct values at all (or
    # a crowded short template) go straight to a counter rather than redrawing thousands of times
    rounds = 5 if _capacity(info["templates"]) >= n else 0
    for _ in range(rounds):
        dup = pd.Series(out).duplicated().to_numpy()
        if not dup.any():
            return out
        out[dup] = [_fill(t, rng) for t in chosen[dup]]
    # templates too narrow for n unique values: append a counter
    return _join(out, np.full(n, "-"), np.arange(n).astype(str))


_CLASSES = {"9": string.digits, "A": string.ascii_uppercase, "a": string.ascii_lowercase}


def _capacity(templates) -> int:
    """How many distinct identifiers the templates can spell (``"a99"``: 26 x 10 x 10)."""
    return sum(int(np.prod([len(_CLASSES[ch]) for ch in t if ch in _CLASSES], dtype=float)) for t in templates)


def _fill(template: str, rng: np.random.Generator) -> str:
    return "".join(
        _CLASSES[ch][rng.integers(len(_CLASSES[ch]))] if ch in _CLASSES else ch for ch in template
    )


def _text(info: dict, n: int, rng: np.random.Generator) -> np.ndarray:
    fake = _faker(rng)
    words = info.get("words", 8)
    return _pick(_pool(lambda: fake.sentence(nb_words=words), _POOL), n, rng)


def generate_column(name: str, col: ColumnMetadata, info: dict, n: int, rng: np.random.Generator) -> pd.Series:
    """``n`` generated values for an id, text or pii column, with its null rate."""
    if col.kind == "id":
        values = _ids(col, info, n, rng)
    elif col.kind == "text":
        values = _text(info, n, rng)
    else:
        values = _pii(name, col, info, n, rng)
    series = pd.Series(values, dtype=object if not info.get("integer") else "int64")
    if col.nullable and col.null_fraction > 0:
        mask = rng.random(n) < col.null_fraction
        series = series.astype("Int64" if info.get("integer") else object).mask(mask)
    if info.get("numeric") and not info.get("integer"):
        return series.astype(col.dtype if col.dtype and col.dtype != "object" else "float64")
    if col.dtype and col.dtype not in ("object",) and not info.get("integer"):
        series = series.astype(col.dtype) if col.dtype in ("string",) else series
    return series
