"""Evidence of a leaked stack trace in an error answer, or of a password hash in a login answer (pure).

An error body is judged by what it holds, not by its format: plain text, HTML
or JSON without a trace is not a leak. A leak is a pattern a runtime writes when
it prints a stack or an exception: Python tracebacks, Java/Kotlin, JavaScript,
Go, .NET, Ruby and PHP frames, source file paths with line numbers, qualified
exception class names, and the debug pages of common web frameworks.

A password hash is known by the shapes password-hashing libraries write
(bcrypt, argon2, PBKDF2 as Django and passlib store it, sha-crypt) or by a
field named for one: whoever reads the answer can guess the password offline.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

#: (name, pattern): the first that matches names the leak.
LEAK_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(p, re.MULTILINE))
    for name, p in (
        ("python traceback", r"Traceback \(most recent call last\)"),
        ("python frame", r'File "[^"\n]+", line \d+'),
        ("java frame", r"\bat [\w$.<>]+\((?:[\w$-]+\.(?:java|kt|scala|groovy|clj):\d+|Native Method|Unknown Source)\)"),
        ("java exception", r'Exception in thread "|\bCaused by: [\w$.]+(?:Exception|Error)\b'),
        ("javascript frame", r"\bat (?:[\w$.<>\[\] ]+ \()?(?:file://|node:|/|[A-Za-z]:\\)[^\s()]*:\d+:\d+\)?"),
        ("go stack", r"\bgoroutine \d+ \[[\w ]+\]:|^panic: |\.go:\d+ \+0x[0-9a-f]+"),
        (
            ".net frame",
            r"\bat [\w.`<>\[\],]+\([^)\n]*\) in [^\n]+:line \d+|--- End of (?:inner exception )?stack trace",
        ),
        ("ruby frame", r"\.rb:\d+:in [`'‘]"),
        (
            "php error",
            r"\b(?:Fatal error|Warning|Notice|Parse error): .+ in \S+\.php(?: on line |:)\d+|\bStack trace:\s*#0 ",
        ),
        (
            "file path with line number",
            r"(?:/|[A-Za-z]:\\|\b)[\w.\\/-]*[\w-]\.(?:py|pyx|js|mjs|cjs|ts|tsx|java|kt|scala|go|rb|php|cs|vb|fs|rs|ex|exs|erl|c|cc|cpp|h)"
            r"(?::\d+|\", line \d+|\(\d+\)|, line \d+| line \d+)",
        ),
        ("qualified exception class", r"\b(?:[a-z_][\w]*\.)+[A-Z][\w$]*(?:Exception|Error)\b"),
        ("exception class", r"\b[A-Z][A-Za-z0-9]+(?:Exception|Error): "),
        (
            "framework debug page",
            r"(?i)Werkzeug Debugger|DEBUG = True|django\.core\.|Whoops[!,] .*(?:went wrong|looks like)"
            r"|Server Error in '[^']*' Application|Action Controller: Exception "
            r"caught|Symfony\\Component\\|Illuminate\\"
            r"|<title>[^<]*(?:Traceback|Exception)[^<]*</title>",
        ),
    )
)


def _strings(value: Any) -> Iterator[str]:
    """Every string inside a JSON value (keys too), so escaped newlines read as newlines."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def find_leak(text: str | None, body: Any = None) -> tuple[str, str] | None:
    """(pattern name, excerpt) of the first trace pattern in an error answer, or None.

    ``text`` is the answer as received; ``body`` its parsed JSON (if any), whose
    strings are searched one by one so that traces inside JSON strings count.
    """
    if body is None and text:
        try:
            body = json.loads(text)
        except ValueError:
            body = None
    pieces = [text or "", *(_strings(body) if body is not None else ())]
    for piece in pieces:
        for name, pat in LEAK_PATTERNS:
            m = pat.search(piece)
            if m is not None:
                start = max(0, m.start() - 40)
                return name, piece[start : m.end() + 80]
    return None


#: (name, pattern) of stored password hashes, as their libraries write them (modular crypt format and Django's).
HASH_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(p))
    for name, p in (
        ("bcrypt", r"\$2[abxy]?\$\d{2}\$[./A-Za-z0-9]{53}"),
        ("argon2", r"\$argon2(?:id|i|d)\$(?:v=\d+\$)?m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+"),
        (
            "pbkdf2",
            r"\bpbkdf2_sha(?:1|256|512)\$\d+\$[^$\s\"]+\$[A-Za-z0-9+/=]+"
            r"|\$pbkdf2(?:-sha(?:1|256|512))?\$\d+\$[./A-Za-z0-9+=]+\$[./A-Za-z0-9+=]+",
        ),
        ("sha-crypt", r"\$[56]\$(?:rounds=\d+\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{43,86}"),
    )
)
#: Field names that say they hold a password hash, whatever its shape (``passwordHash``, ``password_digest``,
#: ``hashed_password``).
HASH_FIELD = re.compile(
    r"(?i)^(?:password|passwd|pwd)[_-]?(?:hash|digest|salt)$|^hashed[_-]?password$|^encrypted[_-]?password$"
)


def _fields(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (JSON path, value) of a JSON value."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield f"{path}/{k}", v
            yield from _fields(v, f"{path}/{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _fields(v, f"{path}/{i}")


def find_hash(text: str | None, body: Any = None) -> tuple[str, str] | None:
    """(hash kind, where) of the first password hash in an answer, or None.

    ``where`` is the JSON path of the field holding it, or ``text`` when only the raw answer holds it.
    The hash itself is never returned: it goes to no record.
    """
    if body is None and text:
        try:
            body = json.loads(text)
        except ValueError:
            body = None
    for path, value in _fields(body):
        name = path.rsplit("/", 1)[-1]
        if isinstance(value, str) and value:
            for kind, pat in HASH_PATTERNS:
                if pat.search(value):
                    return kind, path
            if HASH_FIELD.match(name):
                return "named field", path
    for kind, pat in HASH_PATTERNS:
        if pat.search(text or ""):
            return kind, "text"
    return None
