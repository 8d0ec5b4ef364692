"""Redaction of secrets before anything is written or logged.

Passwords, tokens, ``Authorization`` headers and ``token=`` query values are
replaced by ``[REDACTED]``. JWT-shaped strings are redacted wherever they
appear, so a token that slipped into free text is caught too.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "[REDACTED]"
SECRET_KEYS = frozenset(
    {"password", "token", "authorization", "secret", "jwt_secret", "admin_password", "access_token"}
)
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
_TOKEN_Q = re.compile(r"(?i)(token=)[^&\s\"']+")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")


def redact_text(text: str, extra: tuple[str, ...] = ()) -> str:
    """Redact JWTs, ``token=`` values, bearer credentials and known secrets in text."""
    text = _JWT.sub(MASK, text)
    text = _TOKEN_Q.sub(r"\1" + MASK, text)
    text = _BEARER.sub(r"\1" + MASK, text)
    for s in extra:
        if s:
            text = text.replace(s, MASK)
    return text


def redact_url(url: str) -> str:
    """A URL with secret query values and any userinfo password masked."""
    parts = urlsplit(url)
    query = [(k, MASK if k.lower() in SECRET_KEYS else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    netloc = parts.netloc
    if "@" in netloc:
        netloc = MASK + "@" + netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="[]"), parts.fragment))


def redact(obj: Any, extra: tuple[str, ...] = ()) -> Any:
    """Recursively redact a JSON-like value: secret keys are masked, strings scrubbed."""
    if isinstance(obj, dict):
        return {
            k: (MASK if isinstance(k, str) and k.lower() in SECRET_KEYS and v not in (None, "") else redact(v, extra))
            for k, v in obj.items()
        }
    if isinstance(obj, (list, tuple)):
        return [redact(v, extra) for v in obj]
    if isinstance(obj, str):
        return redact_text(obj, extra)
    return obj
