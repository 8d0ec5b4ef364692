"""The session-invariant checker on synthetic sessions (pure, no network)."""

from __future__ import annotations

import pytest

from pitchey_analysis.probes.invariants import (
    RULE_NAMES,
    RULES,
    SessionTrace,
    Tally,
    check_session,
    close_code_problem,
    describe_wire,
    error_problems,
    find_stack_trace,
    violation_record,
)
from pitchey_analysis.probes.session import parse_frame

TS = 1_764_450_000_000
CONNECTED = {"type": "connected", "authenticated": False, "user": None, "sessionId": "s1", "timestamp": TS}
ERROR = {"type": "error", "code": "invalid_format", "message": "not JSON", "timestamp": TS}


def trace(*frames, **kw) -> SessionTrace:
    return SessionTrace(frames=[(float(i), f) for i, f in enumerate(frames)], **kw)


def rules_of(t: SessionTrace, **kw) -> list[tuple[str, int | None]]:
    return [(v.rule, v.position) for v in check_session(t, **kw)]


def test_rules_are_data():
    assert RULE_NAMES == ("first_frame", "json_frames", "error_shape", "nothing_after_close", "close_codes")
    assert {r.name for r in RULES if r.critical} == {"first_frame", "json_frames", "error_shape"}
    assert all(r.description for r in RULES)


def test_a_correct_session_has_no_violation():
    t = trace(CONNECTED, {"type": "pong", "id": 1}, ERROR, close_received=True, close_code=1000)
    assert check_session(t) == []


def test_empty_session_closed_by_the_server_is_fine():
    # A locked-out address is closed 1008 before any frame (PROTOCOL.md, Limits).
    assert check_session(trace(close_received=True, close_code=1008)) == []


def test_first_frame_must_be_the_declared_one():
    t = trace(ERROR, CONNECTED)
    assert rules_of(t) == [("first_frame", 0)]
    v = check_session(t)[0]
    assert "'error'" in v.detail and v.frame == ERROR


def test_first_frame_comes_exactly_once():
    second = {"type": "connected", "payload": {"sessionId": "s1"}}
    assert rules_of(trace(CONNECTED, {"type": "pong"}, second)) == [("first_frame", 2)]


def test_first_frame_type_is_a_parameter():
    hello = {"type": "hello"}
    assert rules_of(trace(hello, {"type": "pong"}), first_frame="hello") == []
    assert rules_of(trace(CONNECTED), first_frame="hello") == [("first_frame", 0)]


@pytest.mark.parametrize("raw", ["Welcome", "[1,2]", '"text"', '{"kind":"x"}', '{"type":5}', b"\x00\x01"])
def test_frames_must_be_json_objects_with_a_string_type(raw):
    assert rules_of(trace(CONNECTED, parse_frame(raw))) == [("json_frames", 1)]


def test_a_non_json_first_frame_breaks_both_rules():
    assert rules_of(trace(parse_frame("hi"))) == [("first_frame", 0), ("json_frames", 0)]


@pytest.mark.parametrize(
    "frame,needle",
    [
        ({"type": "error", "message": "m", "timestamp": TS}, "'code'"),
        ({"type": "error", "code": 1011, "message": "m", "timestamp": TS}, "'code'"),
        ({"type": "error", "code": "x", "timestamp": TS}, "'message'"),
        ({"type": "error", "code": "x", "message": "m"}, "'timestamp' is missing"),
        ({"type": "error", "code": "x", "message": "m", "timestamp": "2025-11-12T00:00:00Z"}, "not a number"),
        ({"type": "error", "code": "x", "message": "m", "timestamp": 1_764_450_000}, "millisecond"),
        ({"type": "error", "code": "x", "message": "m", "timestamp": True}, "not a number"),
        ({"type": "error", "code": "x", "message": "m", "timestamp": TS, "stack": "Error: x"}, "stack trace"),
        ({"type": "error", "payload": {"error": "Rate limit exceeded"}}, "'code'"),
    ],
)
def test_malformed_error_frames(frame, needle):
    vs = check_session(trace(CONNECTED, frame))
    assert [(v.rule, v.position) for v in vs] == [("error_shape", 1)]
    assert needle in vs[0].detail


@pytest.mark.parametrize(
    "text",
    [
        'Traceback (most recent call last):\n  File "/srv/app.py", line 12, in handle',
        "TypeError: x is undefined\n    at Object.handle (/srv/ws.js:214:13)",
        "boom\n    at async dispatch (/srv/src/ws.ts:9:7)",
        "at /srv/app/index.mjs:3:1",
        "java.lang.NullPointerException\n\tat com.pitchey.Ws.handle(Ws.java:42)",
        "failed in handler.go:88",
        "goroutine 7 [running]:",
    ],
)
def test_stack_traces_are_found(text):
    assert find_stack_trace({"type": "error", "message": text}) is not None
    assert "stack trace" in "; ".join(error_problems({"type": "error", "code": "x", "message": text, "timestamp": TS}))


@pytest.mark.parametrize(
    "text",
    [
        "message must be a JSON object with a string 'type'",
        "unknown message type 'definitely_not_a_type'",
        "meet at 12:30:45 today",
        "too many messages; slow down",
        "cannot subscribe to 'user:999'",
        "see https://pitchey.example/docs for details",
    ],
)
def test_ordinary_messages_are_not_stack_traces(text):
    assert find_stack_trace({"type": "error", "code": "x", "message": text, "timestamp": TS}) is None


def test_nothing_after_the_server_close():
    after = describe_wire(b"\x81\x05hello")
    assert after == [{"opcode": "text", "size_bytes": 7, "payload": "hello"}]
    t = trace(CONNECTED, close_received=True, close_code=1000, after_close=after)
    vs = check_session(t)
    assert [(v.rule, v.position) for v in vs] == [("nothing_after_close", None)]
    assert "7 bytes" in vs[0].detail


def test_after_close_needs_a_close_frame():
    # Data without a server close frame is not "after close".
    assert check_session(trace(CONNECTED, after_close=[{"opcode": "text", "size_bytes": 3}])) == []


@pytest.mark.parametrize(
    "code,ok",
    [
        (1000, True),
        (1001, True),
        (1003, True),
        (1007, True),
        (1008, True),
        (1011, True),
        (1014, True),
        (3000, True),
        (4999, True),
        (None, True),
        (1004, False),
        (1005, False),
        (1006, False),
        (1015, False),
        (999, False),
        (0, False),
        (1016, False),
        (2999, False),
        (5000, False),
    ],
)
def test_close_codes_on_the_wire(code, ok):
    assert (close_code_problem(code) is None) is ok
    vs = rules_of(trace(CONNECTED, close_received=True, close_code=code))
    assert vs == ([] if ok else [("close_codes", None)])


def test_close_code_without_close_frame_is_not_judged():
    # 1006 is what a client reports when no close frame came; nothing was on the wire.
    assert check_session(trace(CONNECTED, close_received=False, close_code=None)) == []


def test_describe_wire_lengths_and_garbage():
    payload = b"x" * 200
    frames = describe_wire(b"\x81\x7e\x00\xc8" + payload + b"\x88\x02\x03\xe8" + b"\x01")
    assert frames[0]["size_bytes"] == 204 and frames[0]["opcode"] == "text"
    assert frames[1] == {"opcode": "close", "size_bytes": 4, "close_code": 1000}
    assert frames[2] == {"opcode": "raw", "size_bytes": 1}


def test_tally_counts_sessions_frames_and_violations():
    tally = Tally()
    tally.check(trace(CONNECTED, ERROR, close_received=True, close_code=1000), probe_id="p#1", conn_id="c1")
    tally.check(trace(CONNECTED, {"type": "connected"}, {"type": "connected"}), probe_id="p#2", conn_id="c2")
    tally.check(trace(CONNECTED, complete=False))
    assert (tally.sessions, tally.frames, tally.partial_sessions) == (3, 6, 1)
    assert tally.violations["first_frame"] == 2 and tally.sessions_violating["first_frame"] == 1
    assert tally.items["error_shape"] == 1 and tally.judged["close_codes"] == 1
    ev = tally.evidence("first_frame")
    assert ev["sessions_checked"] == 3 and ev["frames_checked"] == 6 and ev["violations"] == 2
    assert ev["examples"][0]["probe_id"] == "p#2" and ev["examples"][0]["position"] == 1
    assert len(ev["examples"]) == 2


def test_violation_record_truncates_the_frame():
    v = check_session(trace(parse_frame("x" * 5000)), rules=["json_frames"])[0]
    rec = violation_record(v, probe_id="p", conn_id="c")
    assert rec["rule"] == "json_frames" and rec["position"] == 0 and len(rec["frame"]) <= 512
