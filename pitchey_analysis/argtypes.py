"""Typed argument parsers for the command line: what a value must be, said once, refused by argparse.

Each function here is an argparse ``type=``: it turns the text into the value or raises
``ArgumentTypeError``, which argparse prints as the same usage error as any other (the usage, then one
``error:`` line) and exits 2. A number is finite (``inf`` and ``nan`` parse as floats, and an infinite
``--duration`` or a NaN ``--deadline`` would run forever or compare false everywhere), inside its range,
and an integer where a count is meant.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from collections.abc import Callable
from typing import Any

#: the largest number of seconds any duration, deadline, window or settle time may be (a week)
MAX_SECONDS = 7 * 24 * 3600.0


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:g}"


def number(
    *,
    low: float | None = None,
    low_open: bool = False,
    high: float | None = None,
    integer: bool = False,
    what: str = "a number",
) -> Callable[[str], Any]:
    """A parser of a finite number (``integer``: a whole one) in ``[low, high]`` (``low_open``: ``> low``)."""
    rule = ", ".join(
        x
        for x in (
            (f"> {_fmt(low)}" if low_open else f">= {_fmt(low)}") if low is not None else "",
            f"<= {_fmt(high)}" if high is not None else "",
        )
        if x
    )

    def parse(text: str) -> Any:
        try:
            value: float | int = int(text, 10) if integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} expected, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
        if (low is not None and (value <= low if low_open else value < low)) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text!r}")
        return value

    parse.__name__ = "integer" if integer else "number"  # argparse names the type in its message on a ValueError
    return parse


#: seconds, > 0 and at most a week
positive_seconds = number(low=0, low_open=True, high=MAX_SECONDS, what="seconds")
#: seconds, >= 0 and at most a week
seconds = number(low=0, high=MAX_SECONDS, what="seconds")
#: a multiplier of every timeout, 0.05 to 1000: below it the suite's shortest waits (tens of ms) would end before a
#: loopback target could answer, and the run would blame the target for the tool's own setting
scale = number(low=0.05, high=1000, what="a factor")
#: a count of at least 1 (samples, attempts, workers)
count = number(low=1, integer=True, high=10_000_000, what="an integer")
#: messages per second per connection: 0 (the closed model) to 100,000
rate = number(low=0, high=100_000, what="a rate")
#: a TCP port: 0 (any free port) to 65535
port = number(low=0, high=65535, integer=True, what="a port number")

_KNOB = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def knob(text: str) -> tuple[str, Any]:
    """``NAME=VALUE``: an identifier, then a JSON value (a finite number, true, ...) or else the text itself."""
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not _KNOB.match(name):
        raise argparse.ArgumentTypeError(
            f"--knob takes NAME=VALUE with NAME a knob name, e.g. ping_interval=5 (got {text!r})"
        )
    try:
        value: Any = json.loads(raw)
    except (ValueError, RecursionError):
        value = raw.strip()
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"--knob {name}: the value must be a finite number, got {raw!r}")
    return name, value


def check_knob_types(knobs: dict[str, Any], cls: type) -> str | None:
    """What is wrong with ``knobs`` for the dataclass ``cls`` (an unknown name, a value of the wrong type, a
    negative number), in one line, or None. Every number of a knob is a duration, a rate or a count: >= 0."""
    import dataclasses
    import types
    import typing

    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for name, value in knobs.items():
        if name not in names:
            return f"unknown knob {name!r} (see --list-switches)"
        hint = hints[name]
        parts = (
            typing.get_args(hint)
            if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
            else (hint,)
        )
        widen: dict[Any, list[type]] = {float: [int, float], frozenset: [list], tuple: [list]}
        accepted: list[type] = []
        for t in parts:
            origin = typing.get_origin(t) or t
            accepted += widen.get(origin, [origin])
        if isinstance(value, bool) and bool not in accepted or not isinstance(value, tuple(accepted)):
            return (
                f"--knob {name}: {json.dumps(value)[:40]} is not {' or '.join(sorted({a.__name__ for a in accepted}))}"
            )
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
            return f"--knob {name}: must be >= 0, got {value}"
    return None


def choice(names: tuple[str, ...] | Callable[[], tuple[str, ...]], what: str) -> Callable[[str], str]:
    """A parser of one of ``names`` (a function of them: looked up when a value is parsed, so that the module that
    knows them is imported only then)."""

    def parse(text: str) -> str:
        known = names() if callable(names) else names
        if text not in known:
            raise argparse.ArgumentTypeError(f"unknown {what} {text!r}; choose from {', '.join(known)}")
        return text

    parse.__name__ = what
    return parse


def _profiles() -> tuple[str, ...]:
    from .server.profile import PROFILE_NAMES

    return PROFILE_NAMES


def _features() -> tuple[str, ...]:
    from .server.profile import FEATURES

    return tuple(FEATURES)


#: an embedded server profile, and a Part A feature it can switch off
profile = choice(_profiles, "profile")
feature = choice(_features, "feature")

#: an HTTP field name (RFC 9110 §5.1: a token)
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
#: what no field value and no path may hold: control characters (RFC 9110 §5.5; HTAB aside) and, in a path, spaces
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def has_control(text: str) -> bool:
    """Whether ``text`` holds a line break or another control character (HTAB aside)."""
    return bool(_CONTROL.search(text))


def credential(text: str) -> str:
    """A credential sent in a header or a query (a token): without a line break or a control character (a token read
    with its file's newline would add a header of its own, or be refused by every server as the target's fault)."""
    if has_control(text):
        raise argparse.ArgumentTypeError("the value holds a line break or a control character (a file's newline?)")
    return text


def header(text: str) -> tuple[str, str]:
    """``Name: value``: a field name a server can parse and a value without a line break or a control character
    (a CR LF in a value would add a header of its own to the request)."""
    name, sep, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not sep or not _TOKEN.match(name):
        raise argparse.ArgumentTypeError(f"header must be 'Name: value' with Name an HTTP field name, got {text!r}")
    if _CONTROL.search(value):
        raise argparse.ArgumentTypeError(f"header {name}: the value holds a line break or a control character")
    return name, value


def http_path(text: str) -> str:
    """A path on the target: ``/`` first (joined to the target's base, never another host: ``@evil/`` or
    ``http://...`` would send a login elsewhere), no space and no control character."""
    if not text.startswith("/") or text.startswith("//") or _CONTROL.search(text) or " " in text:
        raise argparse.ArgumentTypeError(
            f"a path on the target expected, starting with one / and without spaces, got {text!r}"
        )
    return text


def formats(text: str) -> tuple[str, ...]:
    """``html``, ``pdf`` or ``html,pdf``: the report's formats."""
    out = tuple(dict.fromkeys(f.strip() for f in text.split(",") if f.strip()))
    if not out or any(f not in ("html", "pdf") for f in out):
        raise argparse.ArgumentTypeError(f"--format takes html, pdf or html,pdf (got {text!r})")
    return out


__all__ = [
    "MAX_SECONDS",
    "check_knob_types",
    "choice",
    "count",
    "credential",
    "feature",
    "formats",
    "has_control",
    "header",
    "http_path",
    "knob",
    "number",
    "port",
    "positive_seconds",
    "profile",
    "rate",
    "scale",
    "seconds",
]
