"""Redaction of secrets before anything is written or logged.

Passwords, tokens, ``Authorization`` headers and ``token=`` query values are
replaced by ``[REDACTED]``. JWT-shaped strings are redacted wherever they
appear, so a token that slipped into free text is caught too.

A known secret (a password, a signing secret) is found in every form it takes when a target echoes it
back: literally, JSON-escaped (``\\u00dc``, ``\\"``, ``\\/``, surrogate pairs, upper- or lower-case hex,
escaped once or again inside another JSON string), percent-encoded (``%C3%9C``, ``+`` for a space) and
HTML-escaped, or any mix of them character by character: :func:`secret_pattern` matches each character
in any of its encodings; and base64-encoded (standard or URL-safe alphabet), at any alignment. URLs lose their userinfo
(``user:password@``) altogether.

That pattern is large: a 260-character token's takes 0.1-0.5 s to compile, on the event loop that also serves the
embedded target, and a run logs in a dozen times. It is compiled only for a text that could hold an encoded form:
one at least as long as the shortest form (:func:`_shortest`) where an encoded character of the forms could begin
(:func:`_plain`: a ``%``, a ``&``, ``\\u``, the JSON escape of one of their characters); other texts are matched
with the literal forms only (:func:`literal_pattern`: the same matches there), and a text shorter than every form
cannot hold the secret at all.
"""

from __future__ import annotations

import functools
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
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s@]*@")

#: JSON's two-character escapes (RFC 8259 §7)
_JSON_SHORT = {'"': '"', "\\": "\\\\", "/": "/", "\b": "b", "\f": "f", "\n": "n", "\r": "r", "\t": "t"}
_HTML = {"&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "#39|#x27|apos"}


def _hex(n: int, width: int) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in f"{n:0{width}x}")


def _char(c: str) -> str:
    """A pattern matching the character ``c`` in any of the encodings a target may echo it in."""
    n = ord(c)
    forms = [re.escape(c)]
    bs = r"\\+"  # one backslash, or more: JSON text inside a JSON string escapes its backslashes again
    if n > 0xFFFF:  # a UTF-16 surrogate pair in JSON
        hi, lo = 0xD800 + ((n - 0x10000) >> 10), 0xDC00 + ((n - 0x10000) & 0x3FF)
        forms.append(f"{bs}u{_hex(hi, 4)}{bs}u{_hex(lo, 4)}")
    else:
        forms.append(f"{bs}u{_hex(n, 4)}")
    if c in _JSON_SHORT:
        forms.append(bs + re.escape(_JSON_SHORT[c]))
    forms.append("".join(f"%{_hex(b, 2)}" for b in c.encode("utf-8")))
    if c == " ":
        forms.append(r"\+")
    if c in _HTML:
        forms.append(f"&(?:{_HTML[c]});")
    forms.append(f"&#(?:0*{n}|[xX]0*{_hex(n, 1)});")
    return "(?:" + "|".join(forms) + ")"


def base64_cores(secret: str) -> list[str]:
    """The parts of ``secret``'s base64 forms that do not depend on what surrounds it (pure): base64 of text that
    holds the secret (``user:password`` in a Basic credential, a body echoed encoded) carries it at one of three
    alignments, each with a middle that only the secret's own bytes decide (RFC 4648 §4; the URL-safe alphabet, §5,
    too). Cores shorter than 6 characters are left out: they would match unrelated text."""
    import base64

    data = secret.encode("utf-8")
    cores = []
    for k in range(3):
        enc = base64.b64encode(b"\0" * k + data).decode()
        core = enc[-(-8 * k // 6) : (8 * (k + len(data))) // 6]
        if len(core) >= 6:
            cores += [core, core.replace("+", "-").replace("/", "_")]
    return list(dict.fromkeys(cores))


@functools.lru_cache(maxsize=256)
def secret_pattern(secret: str) -> re.Pattern[str]:
    """A pattern matching ``secret`` literally or encoded, character by character (see the module's docstring), or
    base64-encoded (:func:`base64_cores`, each character of them in any of its encodings too)."""
    forms = ["".join(_char(c) for c in secret)] + ["".join(_char(c) for c in core) for core in base64_cores(secret)]
    return re.compile("|".join(f"(?:{f})" for f in forms))


@functools.lru_cache(maxsize=256)
def literal_pattern(secret: str) -> re.Pattern[str]:
    """What :func:`secret_pattern` matches in a text without an encoded character (:func:`_plain`): the secret and its
    base64 cores, literally, in the same order (the same leftmost match wins). Cheap to compile."""
    return re.compile("|".join(f"(?:{re.escape(f)})" for f in [secret, *base64_cores(secret)]))


@functools.lru_cache(maxsize=256)
def _shortest(secret: str) -> int:
    """The fewest characters a match of :func:`secret_pattern` spans: each character of a form, in any encoding, is
    one character of text or more."""
    return min([len(secret), *(len(core) for core in base64_cores(secret))])


@functools.lru_cache(maxsize=256)
def _escapes(secret: str) -> tuple[str, ...]:
    """The two-character JSON escapes (``\\"``, ``\\/``...) of the characters of ``secret``'s forms (pure): with
    ``\\u``,
    the only ways a backslash begins one of their encodings (:func:`_char`)."""
    chars = set(secret).union(*base64_cores(secret))
    return ("\\u", *sorted("\\" + _JSON_SHORT[c] for c in chars if c in _JSON_SHORT))


def _plain(text: str, secret: str) -> bool:
    """Whether no encoded character of ``secret``'s forms can begin anywhere in ``text`` (:func:`_char`: a JSON
    escape begins with a backslash and ``u`` or the character's short escape, percent-encoding with ``%``, an HTML
    entity with ``&``; ``+`` is a space encoded)."""
    if "%" in text or "&" in text or ("+" in text and " " in secret):
        return False
    return "\\" not in text or not any(e in text for e in _escapes(secret))


def redact_text(text: str, extra: tuple[str, ...] = ()) -> str:
    """Redact JWTs, ``token=`` values, bearer credentials, URL userinfo and known secrets (in any encoding) in text."""
    text = _JWT.sub(MASK, text)
    text = _TOKEN_Q.sub(r"\1" + MASK, text)
    text = _BEARER.sub(r"\1" + MASK, text)
    text = _USERINFO.sub(r"\1", text)
    for s in extra:
        if s:
            text = text.replace(s, MASK)
            if len(text) >= _shortest(s):
                text = (literal_pattern(s) if _plain(text, s) else secret_pattern(s)).sub(MASK, text)
    return text


def redact_url(url: str) -> str:
    """A URL with secret query values masked and any userinfo (``user:password@``) removed; a URL that does not
    parse (``ws://[::1``) is redacted as text, never raised on."""
    try:
        parts = urlsplit(url)
        query = [
            (k, MASK if k.lower() in SECRET_KEYS else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ]
    except ValueError:
        return redact_text(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
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
