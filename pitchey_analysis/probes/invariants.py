"""Session invariants: rules every session of the contract obeys, whatever the probe (pure).

A probe judges its own feature on its own session; some rules of a contract
hold for *every* session instead (PROTOCOL.md Part A: the first frame,
"All JSON frames are UTF-8 text frames holding one object with a string
type", the form of ``error`` frames, RFC 6455 §7.4 close codes). The session
layer hands each finished session to :func:`check_session` as a
:class:`SessionTrace`; the violations it returns are recorded, and a
:class:`Tally` keeps the per-run counters that the whole-run probes judge.

The rule set is data (:data:`RULES`) and the declared first frame is a
parameter, so that a contract can supply both later.

Nothing here does I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import EllipsisType
from typing import Any

from .vocabulary import CONTROL_PING, CONTROL_PONG


@dataclass(frozen=True)
class Rule:
    """One session invariant."""

    name: str
    critical: bool
    description: str


#: The invariants, in the order the whole-run probes report them.
RULES: tuple[Rule, ...] = (
    Rule(
        "first_frame",
        True,
        "the first frame of every session is the first frame the contract declares, and it comes exactly once",
    ),
    Rule("json_frames", True, "every server text frame is a JSON message whose kind the contract can tell"),
    Rule("error_shape", True, "every error frame matches the contract's error messages and carries no stack trace"),
    Rule("nothing_after_close", False, "nothing arrives after the server's close frame (RFC 6455 §5.5.1)"),
    Rule(
        "close_codes",
        False,
        "every close code on the wire is one RFC 6455 §7.4 allows (1000-1003, 1007-1014, 3000-4999)",
    ),
)
RULE_NAMES = tuple(r.name for r in RULES)

#: RFC 6455 §7.4.1/§7.4.2 and the IANA registry: codes an endpoint may put in a
#: close frame. 1004 is reserved; 1005, 1006 and 1015 are only reported locally
#: and "MUST NOT be set as a status code in a Close control frame".
WIRE_CLOSE_CODES = frozenset(range(1000, 1004)) | frozenset(range(1007, 1015)) | frozenset(range(3000, 5000))

# A millisecond epoch of 2000-01-01 .. 2100-01-01; a seconds epoch (1.7e9) is far below.
MS_EPOCH_MIN = 946_684_800_000
MS_EPOCH_MAX = 4_102_444_800_000

#: Patterns of stack traces of the usual server runtimes (Python, Node/Deno, JVM, Go, .NET).
STACK_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p)
    for p in (
        r"Traceback \(most recent call last\)",  # Python
        r"File \"[^\"]+\", line \d+",  # Python
        r"\bat [\w$.<>\[\] ]+ \([^()\s]+:\d+:\d+\)",  # V8: at fn (file.js:12:5)
        r"\bat (?:file://)?/[^\s()]+:\d+:\d+",  # V8 without a function name
        r"\bat Object\.",  # V8
        r"\bat [\w$.]+\([\w$]+\.(?:java|kt|scala):\d+\)",  # JVM
        r"[\w/\\.-]+\.(?:[cm]?[jt]sx?|py|go|java|kt|rb|php|cs|rs):\d+",  # a source file with a line number
        r"goroutine \d+ \[",  # Go
    )
)
#: Keys that carry a stack trace whatever their value looks like.
STACK_KEYS = frozenset({"stack", "stacktrace", "stackTrace", "stack_trace", "traceback", "trace"})

PAYLOAD_CHARS = 512


@dataclass(frozen=True)
class Violation:
    """One broken rule on one session.

    Attributes:
        rule: the rule's name (see :data:`RULES`).
        position: index of the offending frame among the session's received frames;
            ``None`` for the close frame or what came after it.
        detail: what is wrong, for people.
        frame: the offending frame as received (a parsed frame, or a description).
    """

    rule: str
    position: int | None
    detail: str
    frame: Any = None


@dataclass
class SessionTrace:
    """What one session received, in order.

    Attributes:
        frames: ``(t_ms, frame)`` pairs, ``frame`` as ``session.parse_frame`` gives it
            (non-JSON text carries ``_raw``, a JSON non-object ``_value``, binary data ``_size``).
        close_received: whether the server's close frame arrived.
        close_code: the code in that close frame as it was on the wire (None: no close
            frame, or one without a code, which RFC 6455 §7.1.5 allows).
        after_close: what arrived after the server's close frame (descriptions, see
            :func:`describe_wire`).
        complete: False when only the start of the session was read (a timed connect
            that stops at the first frame): the rules then judge what was read.
        dropped: frames received but not kept (the session's memory bound).
    """

    frames: Sequence[tuple[float, dict[str, Any]]] = ()
    close_received: bool = False
    close_code: int | None = None
    after_close: Sequence[dict[str, Any]] = ()
    complete: bool = True
    dropped: int = 0


# -- single-frame rules -------------------------------------------------------
def _type_kind(frame: dict[str, Any]) -> str | None:
    kind = frame.get("type")
    return kind if isinstance(kind, str) else None


def frame_problem(
    frame: dict[str, Any], kind: Callable[[dict[str, Any]], str | None] = _type_kind, kind_name: str = "a string 'type'"
) -> str | None:
    """Why a received frame is not a JSON message whose kind can be told, or None (pure)."""
    if isinstance(frame, list):  # a message of a contract of array frames
        return None if kind(frame) is not None else f"a JSON array without {kind_name}"
    if frame.get("type") == "binary" and "_size" in frame:
        return f"a binary frame ({frame['_size']} bytes) where the contract has only JSON text frames"
    if frame.get("type") == "invalid" and "_raw" in frame:
        return "a text frame that is not JSON"
    if "_value" in frame and frame.get("type") is None:
        return f"a JSON {type(frame['_value']).__name__} instead of an object"
    if kind(frame) is None:
        return f"a JSON object without {kind_name}"
    return None


@dataclass(frozen=True)
class FrameShape:
    """What the session invariants judge frames by: their kind, the declared first frame (None: none is
    declared), which frames are errors and what is wrong with an error frame. The default is the
    2025 Pitchey shape (the shipped contract's first frame); :meth:`of` takes a contract's."""

    first_frame: str | None = field(default_factory=lambda: shipped_first_frame())
    kind: Callable[[dict[str, Any]], str | None] = _type_kind
    is_error: Callable[[dict[str, Any]], bool] = lambda f: shipped_is_error(f)
    error_issues: Callable[[dict[str, Any]], list[str]] = lambda f: error_problems(f)
    kind_name: str = "a string 'type'"

    @classmethod
    def of(cls, contract: Any) -> FrameShape:
        """The shape a contract declares: its kinds, first frame, error kinds and error schemas."""
        errors = contract.error_messages()

        def error_issues(frame: dict[str, Any]) -> list[str]:
            out = []
            if errors:
                issues = [m.error(frame) for m in errors]
                if all(i is not None for i in issues):
                    first = next(i for i in issues if i is not None)
                    out.append(f"off the contract's error message {first.message} at {first.path}: {first.error}")
            trace = find_stack_trace(frame)
            if trace:
                out.append(f"a stack trace ({trace})")
            return out

        ff = contract.first_frame
        ptr = contract.kind_pointer
        return cls(
            first_frame=ff.type if ff else None,
            kind=contract.kind_of,
            is_error=contract.is_error,
            error_issues=error_issues,
            kind_name=f"a kind at {ptr} or a match among the contract's messages"
            if ptr
            else "a match among the contract's messages",
        )


def shipped_first_frame() -> str | None:
    """The first frame's kind of the shipped contract (the default shape's), read from it when first needed."""
    from ..contract import default_contract

    ff = default_contract().first_frame
    return ff.type if ff else None


def shipped_is_error(frame: dict[str, Any]) -> bool:
    """Whether a frame is an error answer by the shipped contract (the default shape's), read when first needed."""
    from ..contract import default_contract

    return default_contract().is_error(frame)


def find_stack_trace(obj: Any, _depth: int = 0) -> str | None:
    """The first stack-trace-like text in a value (its strings, nested), or None (pure)."""
    if _depth > 8:
        return None
    if isinstance(obj, dict):
        for k, v in obj.items():
            if str(k) in STACK_KEYS and v not in (None, "", [], {}):
                return f"field {k!r}"
            found = find_stack_trace(v, _depth + 1)
            if found:
                return found
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            found = find_stack_trace(v, _depth + 1)
            if found:
                return found
    elif isinstance(obj, str):
        for pat in STACK_PATTERNS:
            m = pat.search(obj)
            if m:
                return repr(m.group(0).strip()[:80])
    return None


def error_problems(frame: dict[str, Any]) -> list[str]:
    """What an ``error`` frame lacks or carries wrongly (pure); empty when well formed."""
    out = []
    if not isinstance(frame.get("code"), str) or not frame.get("code"):
        out.append(f"'code' is {_short(frame.get('code'))}, not a non-empty string")
    if not isinstance(frame.get("message"), str):
        out.append(f"'message' is {_short(frame.get('message'))}, not a string")
    ts = frame.get("timestamp")
    if isinstance(ts, bool) or not isinstance(ts, (int, float)):
        out.append(f"'timestamp' is {_short(ts)}, not a number")
    elif not MS_EPOCH_MIN <= ts < MS_EPOCH_MAX:
        out.append(f"'timestamp' {ts} is not a millisecond epoch")
    trace = find_stack_trace(frame)
    if trace:
        out.append(f"a stack trace ({trace})")
    return out


def close_code_problem(code: int | None) -> str | None:
    """Why a close code may not appear on the wire, or None (RFC 6455 §7.4; pure)."""
    if code is None or code in WIRE_CLOSE_CODES:
        return None
    if code in (1005, 1006, 1015):
        return f"close code {code} is reserved for local use and must never be sent (RFC 6455 §7.4.1)"
    if code == 1004:
        return "close code 1004 is reserved (RFC 6455 §7.4.1)"
    return f"close code {code} is outside the ranges RFC 6455 §7.4.2 allows"


def _short(v: Any) -> str:
    if v is None:
        return "missing"
    return f"{type(v).__name__} {str(v)[:40]!r}"


# -- a whole session ------------------------------------------------------------
def applicable(trace: SessionTrace, shape: FrameShape | None = None) -> dict[str, int]:
    """How many items of a session each rule judges (frames, error frames, close frames; pure)."""
    shape = shape or FrameShape()
    n = len(trace.frames)
    return {
        "first_frame": n if shape.first_frame is not None else 0,
        "json_frames": n,
        "error_shape": sum(1 for _, f in trace.frames if "_value" not in f and shape.is_error(f)),
        "nothing_after_close": 1 if trace.close_received and trace.complete else 0,
        "close_codes": 1 if trace.close_received else 0,
    }


def check_session(
    trace: SessionTrace,
    *,
    first_frame: str | None | EllipsisType = ...,
    rules: Iterable[str] = RULE_NAMES,
    shape: FrameShape | None = None,
) -> list[Violation]:
    """The violations of the session invariants in one session (pure).

    Args:
        trace: what the session received.
        first_frame: the declared first frame's kind (None: none declared; default the shipped contract's),
            when no ``shape`` is given.
        rules: the names of the rules to check.
        shape: how frames are judged (a contract's :meth:`FrameShape.of`); default the Pitchey shape.

    Returns:
        The violations in the order of the frames, close-related ones last.
    """
    if shape is None:
        shape = FrameShape() if isinstance(first_frame, EllipsisType) else FrameShape(first_frame=first_frame)
    first_frame = shape.first_frame
    wanted = set(rules)
    out: list[Violation] = []
    frames = trace.frames
    if "first_frame" in wanted and frames and first_frame is not None:
        head = frames[0][1]
        if shape.kind(head) != first_frame:
            out.append(
                Violation("first_frame", 0, f"the first frame is {shape.kind(head)!r}, not {first_frame!r}", head)
            )
    declared = 0
    for i, (_, frame) in enumerate(frames):
        if first_frame is not None and shape.kind(frame) == first_frame:
            declared += 1
            if "first_frame" in wanted and declared > 1:
                out.append(Violation("first_frame", i, f"{first_frame!r} frame number {declared} (frame {i})", frame))
        problem = frame_problem(frame, shape.kind, shape.kind_name)
        if "json_frames" in wanted and problem:
            out.append(Violation("json_frames", i, problem, frame))
        if "error_shape" in wanted and "_value" not in frame and "_raw" not in frame and shape.is_error(frame):
            bad = shape.error_issues(frame)
            if bad:
                out.append(Violation("error_shape", i, "malformed error frame: " + "; ".join(bad), frame))
    if "nothing_after_close" in wanted and trace.close_received and trace.after_close:
        total = sum(int(d.get("size_bytes", 0)) for d in trace.after_close)
        out.append(
            Violation(
                "nothing_after_close",
                None,
                f"{total} bytes arrived after the server's close frame",
                list(trace.after_close)[:5],
            )
        )
    if "close_codes" in wanted and trace.close_received:
        problem = close_code_problem(trace.close_code)
        if problem:
            out.append(Violation("close_codes", None, problem, {"close_code": trace.close_code}))
    return out


def describe_wire(data: bytes, limit: int = 8) -> list[dict[str, Any]]:
    """Split raw server-to-client bytes into frame descriptions (pure, best effort).

    Used for what arrives after the close frame, which the WebSocket library
    discards unparsed: each entry has ``opcode``, ``size_bytes`` and, for text,
    a ``payload`` preview. Bytes that do not form a frame become one ``raw`` entry.
    """
    names = {0: "continuation", 1: "text", 2: "binary", 8: "close", 9: CONTROL_PING, 10: CONTROL_PONG}
    out: list[dict[str, Any]] = []
    i = 0
    while i < len(data) and len(out) < limit:
        if len(data) - i < 2:
            break
        b0, b1 = data[i], data[i + 1]
        n, hdr = b1 & 0x7F, 2
        if n == 126:
            if len(data) - i < 4:
                break
            n, hdr = int.from_bytes(data[i + 2 : i + 4], "big"), 4
        elif n == 127:
            if len(data) - i < 10:
                break
            n, hdr = int.from_bytes(data[i + 2 : i + 10], "big"), 10
        if b1 & 0x80:
            hdr += 4  # masked (a server must not mask, RFC 6455 §5.1, but describe it anyway)
        payload = data[i + hdr : i + hdr + n]
        entry: dict[str, Any] = {"opcode": names.get(b0 & 0x0F, f"0x{b0 & 0x0F:x}"), "size_bytes": hdr + n}
        if b0 & 0x0F == 1 and not b1 & 0x80:
            entry["payload"] = payload.decode("utf-8", "replace")[:PAYLOAD_CHARS]
        elif b0 & 0x0F == 8 and len(payload) >= 2:
            entry["close_code"] = int.from_bytes(payload[:2], "big")
        out.append(entry)
        i += hdr + n
    if i < len(data):
        out.append({"opcode": "raw", "size_bytes": len(data) - i})
    return out


# -- per-run counters -------------------------------------------------------------
@dataclass
class Tally:
    """Per-run counters of the session checks, kept on the probe context.

    ``sessions`` and ``frames`` count what was checked; ``judged[rule]`` the
    sessions in which the rule had something to judge, ``items[rule]`` how many
    items (frames, error frames, close frames) it judged, ``violations[rule]``
    the violations, ``examples[rule]`` the first few, for the probes' evidence.
    """

    first_frame: str | None = field(default_factory=lambda: shipped_first_frame())
    shape: FrameShape | None = None  # the contract's (ProbeContext sets it); None: the Pitchey shape
    sessions: int = 0
    frames: int = 0
    partial_sessions: int = 0  # sessions read only up to their first frame
    opened: int = 0
    judged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RULE_NAMES, 0))
    items: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RULE_NAMES, 0))
    violations: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RULE_NAMES, 0))
    sessions_violating: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RULE_NAMES, 0))
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {r: [] for r in RULE_NAMES})
    max_examples: int = 3

    def check(self, trace: SessionTrace, *, probe_id: str = "", conn_id: str = "") -> list[Violation]:
        """Check one session, count it, and return its violations."""
        shape = self.shape or FrameShape(first_frame=self.first_frame)
        found = check_session(trace, shape=shape)
        self.sessions += 1
        self.frames += len(trace.frames)
        if not trace.complete:
            self.partial_sessions += 1
        for rule, n in applicable(trace, shape).items():
            self.items[rule] += n
            self.judged[rule] += 1 if n else 0
        seen: set[str] = set()
        for v in found:
            self.violations[v.rule] += 1
            if v.rule not in seen:
                seen.add(v.rule)
                self.sessions_violating[v.rule] += 1
            if len(self.examples[v.rule]) < self.max_examples:
                self.examples[v.rule].append(violation_record(v, probe_id=probe_id, conn_id=conn_id))
        return found

    def evidence(self, rule: str) -> dict[str, Any]:
        """What a whole-run probe names as its evidence for one rule."""
        return {
            "rule": rule,
            "sessions_checked": self.sessions,
            "frames_checked": self.frames,
            "partial_sessions": self.partial_sessions,
            "sessions_judged": self.judged[rule],
            "items_judged": self.items[rule],
            "violations": self.violations[rule],
            "sessions_violating": self.sessions_violating[rule],
            "examples": self.examples[rule],
        }


def violation_record(v: Violation, *, probe_id: str = "", conn_id: str = "") -> dict[str, Any]:
    """A violation as a flat JSON-able record, the frame truncated (redaction is the recorder's job)."""
    frame = v.frame
    if isinstance(frame, dict) and "_raw" in frame:
        text = str(frame["_raw"])
    else:
        text = json.dumps(frame, default=str, separators=(",", ":"), ensure_ascii=False)
    if len(text) > PAYLOAD_CHARS:
        text = text[: PAYLOAD_CHARS - 1] + "…"
    return {
        "rule": v.rule,
        "position": v.position,
        "detail": v.detail,
        "frame": text,
        "probe_id": probe_id,
        "conn_id": conn_id,
    }
