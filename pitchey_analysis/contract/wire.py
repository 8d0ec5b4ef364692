"""How frames are told apart, matched to their requests and numbered -- as the contract says (pure).

A service's messages are not always ``{"type": ...}`` objects answered by kind. The contract says,
or its schemas show:

- **the kind** of a message: a JSON pointer whose ``const`` tells the messages apart (``/type``,
  ``/method``, ``/header/msg_type``), declared as ``x-readiness.kind`` or derived from the schemas
  (the pointer whose constants differ between the most messages). A message with no constant there
  is told by its schema: a frame is that message when it validates against it.
- **correlation**: AsyncAPI 3.0's ``correlationId`` (``$message.payload#/id``) on a message says where
  a request carries its id and where its answer carries it back (``/parent_header/msg_id``); answers
  are matched by that value, not by kind.
- **ids**: ``x-readiness.ids.rule`` -- ``increasing`` integers per session, ``unique`` strings, or the
  ``example``'s value as is (default: increasing when the example's id is an integer, else unique).
- **batches**: ``x-readiness.batch: true`` -- a frame holding a JSON array is several messages.
- **the envelope**: ``x-readiness.errors.when`` -- ``{pointer: /success, equals: false}`` or
  ``{pointer: /error}`` (present) tells an error answer from a success of the same shape.
"""

from __future__ import annotations

import copy
import itertools
import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .pointers import pointer_get

#: the kind of frames that are not a JSON object of the contract (set by the reader, never by the target)
MARKERS = ("_raw", "_size", "_value")
_MISSING = object()


def is_marker(frame: Any) -> bool:
    """Whether a frame is the reader's note of something that is not a JSON object (invalid, binary, a bare value)."""
    return isinstance(frame, dict) and any(k in frame for k in MARKERS)


def correlation_pointer(message_node: Any) -> str | None:
    """The JSON pointer into the payload named by a message's ``correlationId.location``
    (``$message.payload#/id`` -> ``/id``); None when it names none or a header."""
    cid = message_node.get("correlationId") if isinstance(message_node, dict) else None
    loc = cid.get("location") if isinstance(cid, dict) else None
    if not isinstance(loc, str) or not loc.startswith("$message.payload#"):
        return None
    ptr = loc[len("$message.payload#") :]
    return ptr if ptr.startswith("/") else None


def consts(schema: Any, prefix: str = "", depth: int = 0) -> Iterator[tuple[str, Any]]:
    """Every (pointer, constant) a payload schema fixes: ``const`` or a one-value ``enum`` of a property or of
    an array's positional item (``prefixItems``: ``/3`` of ``[join_ref, ref, topic, event, payload]``), through
    nested objects, arrays and ``allOf`` members (3 levels deep; pure)."""
    if not isinstance(schema, dict) or depth > 3:
        return
    for part in schema.get("allOf") or ():
        yield from consts(part, prefix, depth + 1)
    named = list((schema.get("properties") or {}).items()) + list(enumerate(schema.get("prefixItems") or ()))
    for name, sub in named:
        if not isinstance(sub, dict):
            continue
        ptr = f"{prefix}/{str(name).replace('~', '~0').replace('/', '~1')}"
        if "const" in sub:
            yield ptr, sub["const"]
        elif isinstance(sub.get("enum"), list) and len(sub["enum"]) == 1:
            yield ptr, sub["enum"][0]
        yield from consts(sub, ptr, depth + 1)


def is_kind_value(value: Any) -> bool:
    """Whether a JSON value can name a message's kind: a non-empty string or another JSON scalar (a number, a
    boolean: Discord's ``op: 10``); never null, an object or an array (pure)."""
    return (isinstance(value, str) and value != "") or isinstance(value, (bool, int, float))


def kind_key(value: Any) -> tuple[str, Any]:
    """A kind's JSON value as a key compared by JSON value: ``10`` and ``"10"`` differ, ``1`` and ``1.0`` do not,
    ``true`` is no number (pure)."""
    if isinstance(value, bool):
        return "boolean", value
    if isinstance(value, (int, float)):
        return "number", value
    return "string", value


def kind_text(value: Any) -> str:
    """A kind as the tool shows and names it: a string as is, any other JSON scalar as its JSON text (``10``,
    ``true``; pure)."""
    return value if isinstance(value, str) else json.dumps(value)


def derive_kind_pointer(schemas: Iterable[Any]) -> str | None:
    """The pointer that tells messages apart: the one whose constants (strings or other JSON scalars, see
    :func:`is_kind_value`) take the most distinct values (ties: more messages, then ``/type``, then the shorter);
    None when no pointer tells two messages apart."""
    values: dict[str, list[Any]] = {}
    for schema in schemas:
        seen = set()
        for ptr, value in consts(schema):
            if ptr not in seen and is_kind_value(value):
                seen.add(ptr)
                values.setdefault(ptr, []).append(kind_key(value))
    best = sorted(values.items(), key=lambda kv: (-len(set(kv[1])), -len(kv[1]), kv[0] != "/type", len(kv[0]), kv[0]))
    for ptr, vals in best:
        if len(set(vals)) >= 2:
            return ptr
    return "/type" if "/type" in values else None


def set_pointer(obj: Any, pointer: str, value: Any) -> Any:
    """A copy of ``obj`` with ``value`` at ``pointer`` (objects on the way made as needed; pure)."""
    out = copy.deepcopy(obj)
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.lstrip("/").split("/")]
    cur = out
    for p in parts[:-1]:
        if isinstance(cur, list) and p.isdigit() and int(p) < len(cur):
            cur = cur[int(p)]
            continue
        if not isinstance(cur, dict):
            return out
        nxt = cur.get(p)
        if not isinstance(nxt, (dict, list)):
            nxt = cur[p] = {}
        cur = nxt
    if isinstance(cur, dict):
        cur[parts[-1]] = value
    elif isinstance(cur, list) and parts[-1].isdigit() and int(parts[-1]) < len(cur):
        cur[int(parts[-1])] = value
    return out


@dataclass(frozen=True)
class Envelope:
    """How an error answer is told from a success of the same shape: the value at ``pointer`` equals
    ``equals``, or (no ``equals``) a value is present there."""

    pointer: str
    equals: Any = _MISSING

    @property
    def by_presence(self) -> bool:
        """Whether any value at the pointer says error (no ``equals`` declared)."""
        return self.equals is _MISSING

    def is_error(self, frame: Any) -> bool:
        value = pointer_get(frame, self.pointer, _MISSING)
        if value is _MISSING:
            return False
        return True if self.equals is _MISSING else bool(value == self.equals)


@dataclass(frozen=True)
class Ids:
    """How requests are numbered: ``increasing`` integers per session (from ``start``), ``unique`` strings,
    or the ``example``'s value as is."""

    rule: str | None = None  # None: by the example's value (an integer: increasing; else unique)
    start: int = 1

    def rule_for(self, example_value: Any) -> str:
        if self.rule:
            return self.rule
        return "increasing" if isinstance(example_value, int) and not isinstance(example_value, bool) else "unique"


class IdSource:
    """The ids of one session, by the contract's rule: never the same id twice on a session."""

    def __init__(self, ids: Ids) -> None:
        self.ids = ids
        self._counter = itertools.count(ids.start)
        self.last: int = ids.start - 1

    def next(self, example_value: Any) -> Any:
        rule = self.ids.rule_for(example_value)
        if rule == "example":
            return example_value
        if rule == "increasing":
            self.last = next(self._counter)
            return self.last
        return f"pa-{uuid.uuid4().hex[:12]}"
