"""Incoming messages checked against the contract's JSON Schemas before a handler sees them.

A handler written by hand checks the fields it thought of; a list where a string
belongs then raises inside it (``status in {...}`` with a list: TypeError). The
contract already says what every client message looks like, so the server asks
it first and answers a mismatch with ``invalid_format``.
"""

from __future__ import annotations

import functools
from typing import Any

from ..contract import Message, default_contract

#: Types whose handler answers a malformed message itself, as the contract declares (a bad auth is an auth_error).
SELF_CHECKED = frozenset({"auth"})


@functools.cache
def _requests() -> dict[str, Message]:
    return {m.type: m for o in default_contract().receives() for m in o.messages if m.type}


def warm() -> None:
    """Compile every request's validator now: the first message of a type otherwise pays for it (and the first of
    all for importing jsonschema, about a second), while every other client waits on the same loop."""
    for m in _requests().values():
        m.error({})


def problem(mtype: str, msg: dict[str, Any]) -> str | None:
    """Why ``msg`` does not match the contract's schema of ``mtype`` (a short sentence), or None."""
    if mtype in SELF_CHECKED:
        return None
    schema = _requests().get(mtype)
    if schema is None:
        return None
    issue = schema.error(msg)
    if issue is None:
        return None
    return f"{mtype}: {issue.path} {issue.error}"[:200]
