"""One redaction for every message Synthera prints or raises.

Passwords reach Synthera inside database URLs (``postgresql://me:pw@host/db``,
``...?password=pw``, libpq's ``password=pw`` key/value form), and tokens
reach it through the environment (``FLOCK_API_KEY``, ``HF_TOKEN``) or come
back from servers (``Bearer …``, signed-URL signatures). :func:`redact`
masks all of them in any text, so the CLI can pass every line it prints
through one function.

>>> redact("cannot reach postgresql://me:hunter2@db.host/shop?sslmode=require")
'cannot reach postgresql://me:***@db.host/shop?sslmode=require'
>>> redact("postgresql://db.host/shop?user=me&password=hunter2")
'postgresql://db.host/shop?user=me&password=***'
>>> redact("host=db user=me password=hunter2 dbname=shop")
'host=db user=me password=*** dbname=shop'
"""

from __future__ import annotations

import os
import re

__all__ = ["MASK", "SECRET_ENV_HINTS", "redact", "secrets_in"]

MASK = "***"
#: Environment variables whose values are secrets when their name holds one of these words.
SECRET_ENV_HINTS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "API_KEY", "ACCESS_KEY", "PRIVATE_KEY", "CREDENTIAL")
_MIN_SECRET = 6  # shorter environment values are too likely to occur by chance in ordinary text

# user:password@ in any URL (the user part may be empty: scheme://:pw@host). The password runs to the
# last "@" of the token, so one holding "@" or "/" is masked whole.
_URL_CREDENTIALS = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@]*:)(?P<secret>[^\s'\"<>]+)(?P<tail>@)")
# secret-bearing keys in query strings and libpq/ODBC key=value strings; a key ending in one of the words
# (sslpassword, X-Amz-Signature, client_secret, refresh_token, aws_access_key_id...) counts too
_SECRET_KEYS = (
    r"[\w.\-]*(?:password|passwd|pwd|secret|token|signature|credential|api_key|apikey|access_key|private_key"
    r"|access_key_id|sessionkey|session_key)|pass|key|sig|auth|authorization"
)
_KEY_VALUE = re.compile(
    rf"(?P<head>(?:(?<=[?&;\s,(\[{{\"'])|^)(?:{_SECRET_KEYS})\s*=\s*)(?P<secret>'[^']*'|\"[^\"]*\"|[^&;\s,'\"]+)",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(?P<head>\b(?:Bearer|Basic|Token)\s+)(?P<secret>[A-Za-z0-9._~+/=\-]{8,})", re.IGNORECASE)
_JSON_SECRET = re.compile(
    rf"(?P<head>[\"'](?:{_SECRET_KEYS})[\"']\s*:\s*)(?P<secret>\"[^\"]*\"|'[^']*')",
    re.IGNORECASE,
)
_HF_TOKEN = re.compile(r"\bhf_[A-Za-z0-9]{20,}\b")


def _mask(match: re.Match) -> str:
    secret = match.group("secret")
    quote = secret[0] if secret[:1] in ("'", '"') else ""
    return f"{match.group('head')}{quote}{MASK}{quote}{match.groupdict().get('tail') or ''}"


def _env_secrets() -> list[str]:
    values = []
    for name, value in os.environ.items():
        upper = name.upper()
        if value and len(value) >= _MIN_SECRET and any(hint in upper for hint in SECRET_ENV_HINTS):
            values.append(value)
    return sorted(set(values), key=len, reverse=True)


def secrets_in(text: object) -> list[str]:
    """The secrets :func:`redact` would mask in ``text`` (longest first), with their decoded forms.

    A driver's error may quote a password out of its URL context (psycopg
    names the host it failed to resolve, which holds the rest of a password
    with an "@"), so callers pass these to ``redact(message, known=...)``.
    Pieces of a password split at "@" count too when 3 characters or longer.

    >>> secrets_in("postgresql://me:p%40ss-word@h/db?password=pw2")
    ['p%40ss-word', 'p@ss-word', 'ss-word', 'pw2']
    """
    from urllib.parse import unquote

    found = []
    for pattern in (_URL_CREDENTIALS, _KEY_VALUE, _JSON_SECRET):
        for match in pattern.finditer(str(text)):
            secret = match.group("secret").strip("'\"")
            for value in (secret, unquote(secret)):
                found.append(value)
                found.extend(piece for piece in value.split("@")[1:] if len(piece) >= 3)
    unique = [v for v in dict.fromkeys(found) if v]
    return sorted(unique, key=len, reverse=True)


def redact(text: object, *, known: tuple[str, ...] | list[str] = ()) -> str:
    """``text`` as a string with passwords, tokens and signatures replaced by ``***``.

    Covers URL credentials, secret query parameters and key/value pairs
    (``password=``, ``token=``, ``X-Amz-Signature=``...), JSON fields with
    such names, ``Bearer`` tokens, Hugging Face tokens, the values of
    environment variables whose names say they hold a secret, and the
    ``known`` secrets (see :func:`secrets_in`) wherever they appear.
    """
    out = str(text)
    for value in sorted({*known, *_env_secrets()}, key=len, reverse=True):
        if value:
            out = out.replace(value, MASK)
    out = _URL_CREDENTIALS.sub(_mask, out)
    out = _KEY_VALUE.sub(_mask, out)
    out = _JSON_SECRET.sub(_mask, out)
    out = _BEARER.sub(_mask, out)
    return _HF_TOKEN.sub("hf_" + MASK, out)
