"""JSON pointers (RFC 6901) and JSON paths for messages: the contract's way of naming a place in a document."""

from __future__ import annotations

import json
import re
from typing import Any


def resolve_pointer(doc: Any, pointer: str) -> Any:
    """The value at a JSON pointer (RFC 6901) in ``doc``; KeyError when absent."""
    if pointer in ("", "/"):
        return doc if pointer == "" else doc.get("")
    cur = doc
    for part in pointer.lstrip("/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            raise KeyError(pointer)
    return cur


def pointer_parts(pointer: str) -> tuple[str, ...]:
    """The keys of a JSON pointer (RFC 6901), unescaped: ``/a~1b/c`` -> ``("a/b", "c")``; ``""`` -> ``()``."""
    if pointer == "":
        return ()
    return tuple(p.replace("~1", "/").replace("~0", "~") for p in pointer[1:].split("/"))


def pointer_get(doc: Any, pointer: str | None, default: Any = None) -> Any:
    """The value at a JSON pointer, or ``default`` when the pointer is None or absent."""
    if pointer is None:
        return default
    try:
        return resolve_pointer(doc, pointer)
    except (KeyError, TypeError, AttributeError):
        return default


def _path(parts: Any) -> str:
    out = "$"
    for p in parts:
        out += (
            f"[{p}]"
            if isinstance(p, int)
            else (f".{p}" if re.fullmatch(r"[A-Za-z_][\w-]*", str(p)) else f"[{json.dumps(p)}]")
        )
    return out
