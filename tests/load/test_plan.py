"""The load engine's plan, made from each contract (pure): request bytes around the id slot, answers matched its way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pitchey_analysis.contract import default_contract, load_contract
from pitchey_analysis.exceptions import UsageError
from pitchey_analysis.load.engine import _request_frame
from pitchey_analysis.load.plan import complete, make
from pitchey_analysis.load.scenario import parse_scenario
from pitchey_analysis.load.spec import ECHO_PING, ROUND_TRIP, Operation, ShardSpec, UserSpec

SHAPES = Path(__file__).resolve().parents[1] / "shapes"


def sent(op: Operation, mid: int = 1000000000007, size: int = 0) -> object:
    """What a shard sends for ``op`` with id ``mid``, parsed."""
    head, tail = _request_frame(op, size, mid)
    return json.loads(head + str(mid).encode() + tail if op.id_kind else head)


def test_jsonrpc_requests_carry_integer_ids_and_are_answered_by_id():
    c = load_contract(SHAPES / "jsonrpc.asyncapi.yaml")
    ping = make(c, ROUND_TRIP)
    assert sent(ping) == {"jsonrpc": "2.0", "id": 1000000000007, "method": "ping"}  # an integer, as the id rule says
    assert ping.correlated and ping.answers == ("",) and ping.metric() == "rtt_ms"  # its answer has no method
    add = make(c, Operation("add", fields=(("params", [40, 2]),)))
    assert sent(add) == {"jsonrpc": "2.0", "id": 1000000000007, "method": "add", "params": [40, 2]}
    w = complete(ShardSpec(url="ws://127.0.0.1:9/rpc", connections=1, duration_s=1), c).wire
    assert w is not None and w.answer_at == (("id",),) and w.kind_at == ("method",) and w.batch
    assert w.first_frame is None and w.error_at == ("error",)  # the error answer told by its schema: /error present


def test_header_messages_carry_string_ids_deep_and_answers_name_them_elsewhere():
    c = load_contract(SHAPES / "header.asyncapi.yaml")
    op = make(c, ROUND_TRIP)
    msg = sent(op)
    assert isinstance(msg, dict) and msg["header"] == {"msg_type": "kernel_info_request", "msg_id": "1000000000007"}
    assert op.id_at == ("header", "msg_id") and op.answers == ("kernel_info_reply",)
    w = complete(ShardSpec(url="ws://127.0.0.1:9/kernel", connections=1, duration_s=1), c).wire
    assert w is not None and w.answer_at == (("parent_header", "msg_id"),) and w.kind_at == ("header", "msg_type")


def test_first_message_auth_and_the_envelope_come_from_the_contract():
    c = load_contract(SHAPES / "firstauth.asyncapi.yaml")
    spec = complete(
        ShardSpec(
            url="ws://127.0.0.1:9/api/websocket",
            connections=1,
            duration_s=1,
            users=(UserSpec(token="tok-1"), UserSpec()),
        ),
        c,
    )
    w = spec.wire
    assert (
        w is not None
        and w.first_frame == "auth_required"
        and w.auth_ok == "auth_ok"
        and w.auth_refused == {"auth_invalid"}
    )
    assert w.error_at == ("success",) and w.error_equals == (False,) and w.error_kinds == frozenset()
    assert [json.loads(x.auth) if x.auth else None for x in spec.connects] == [
        {"type": "auth", "access_token": "tok-1"},
        None,
    ]
    assert spec.connects[0].url == "ws://127.0.0.1:9/api/websocket"  # the token goes in the first message only
    assert sent(spec.ping) == {"id": 1000000000007, "type": "ping"}


def test_pitchey_the_round_trip_padded_as_before_and_the_answer_by_kind():
    c = default_contract()
    spec = complete(
        ShardSpec(
            url="ws://127.0.0.1:9/ws", connections=1, duration_s=1, subscribe="pitch:1", users=(UserSpec(token="t0k"),)
        )
    )
    ping = spec.ping
    assert (ping.type, ping.answer, ping.correlated, ping.answers) == ("ping", "pong", False, ("pong",))
    head, tail = _request_frame(ping, 100, 1000000000007)
    assert len(head + b"1000000000007" + tail) == 100  # the same bytes as the engine always sent
    assert json.loads(head + b"1000000000007" + tail)["id"] == "1000000000007"
    w = spec.wire
    assert w is not None and w.first_frame == "connected" and w.echo_at == (("pong", ("id",)),)
    assert dict(w.subscribe)["pitch:1"].head == '{"type":"subscribe","channel":"pitch:1"}'
    assert spec.connects[0].url == "ws://127.0.0.1:9/ws?token=t0k"
    echo = complete(
        ShardSpec(url="ws://127.0.0.1:9/", connections=1, duration_s=1, ping=ECHO_PING, await_first_frame=False)
    )
    assert echo.ping.answers == ("ping",) and echo.wire is not None and echo.wire.first_frame is None
    assert make(c, Operation("typing_start")).answer is None  # no reply: counted, not timed
    assert parse_scenario("users: [{operations: [ping]}]", duration_s=1, connections=1).users[0].operations[0] == ping


def test_what_the_contract_cannot_do_is_said():
    ticker = load_contract(Path(__file__).resolve().parents[1] / "ticker" / "ticker.asyncapi.yaml")
    with pytest.raises(UsageError, match="no operation sending 'ping'"):
        make(ticker, Operation("ping"))
    with pytest.raises(UsageError, match="no subscription request"):
        complete(ShardSpec(url="ws://127.0.0.1:9/", connections=1, duration_s=1, subscribe="prices"), ticker)
