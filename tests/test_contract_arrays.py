"""Contracts whose frames are JSON arrays (Phoenix Channels v2: ``[join_ref, ref, topic, event, payload]``), and a
target URL's own query: the contract layer reads them through its pointers, as it reads objects (pure tests; the
service itself is judged in tests/test_shapes.py)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from pitchey_analysis.contract import ContractError, load_contract, validate_document
from pitchey_analysis.contract.lint import lint
from pitchey_analysis.contract.requests import request_id, subscribe_request, upgrade_target, with_query
from pitchey_analysis.contract.wire import IdSource
from pitchey_analysis.probes.session import parse_frames

PHOENIX = Path(__file__).resolve().parent / "shapes" / "phoenix.asyncapi.yaml"
JSONRPC = Path(__file__).resolve().parent / "shapes" / "jsonrpc.asyncapi.yaml"


@pytest.fixture(scope="module")
def phx():
    return load_contract(PHOENIX)


def test_the_target_query_is_kept_beside_the_credential(phx):
    url, _, _ = upgrade_target(phx, "ws://127.0.0.1:4000/socket/websocket?vsn=2.0.0", "a b/c")
    assert url == "ws://127.0.0.1:4000/socket/websocket?vsn=2.0.0&token=a%20b%2Fc"
    # a token the URL already carries is replaced, not doubled
    url, _, _ = upgrade_target(phx, "ws://h/socket/websocket?token=old&vsn=2.0.0", "new")
    assert url == "ws://h/socket/websocket?vsn=2.0.0&token=new"
    assert upgrade_target(phx, "ws://h/ws", "t")[0] == "ws://h/ws?token=t"
    assert with_query("", "token", "x") == "token=x"


def test_array_examples_are_requests_not_crashes(phx):
    from pitchey_analysis.load.plan import make
    from pitchey_analysis.load.spec import Operation as LoadOperation
    from pitchey_analysis.probes.common import round_trip

    request, answer = round_trip(SimpleNamespace(contract=phx), "liveness")
    assert request == [None, "1", "phoenix", "heartbeat", {}] and answer == "phx_reply"
    assert phx.round_trip().request.example == [None, "1", "phoenix", "heartbeat", {}]  # a copy was sent, not this
    made = make(phx, LoadOperation(""))
    assert made.id_at == ("1",) and made.correlated and "heartbeat" in made.tail and not made.pad
    assert made.answer == "phx_reply" and made.answers == ("phx_reply",)
    sub, kinds = subscribe_request(phx, "room:42")
    assert sub == ["1", "1", "room:42", "phx_join", {}] and kinds == {"phx_reply"}
    assert request_id(phx, sub) == ("/1", "unique")


def test_array_frames_are_read_through_the_contract_pointers(phx):
    ok = json.dumps([None, "7", "phoenix", "phx_reply", {"status": "ok", "response": {}}])
    err = json.dumps(["1", "8", "room:x", "phx_reply", {"status": "error", "response": {"reason": "unmatched topic"}}])
    [frame] = parse_frames(ok, batch=phx.batch, arrays=phx.array_frames)
    assert frame == json.loads(ok)
    assert phx.kind_of(frame) == "phx_reply" and phx.answers_id(frame, "7") and not phx.answers_id(frame, "6")
    assert not phx.is_error(frame) and phx.check_frame(frame) is None
    [bad] = parse_frames(err, batch=phx.batch, arrays=phx.array_frames)
    assert phx.is_error(bad) and phx.error_code(bad) == "unmatched topic"
    assert phx.kind_of(["1", None, "room:x", "new_msg", {"body": "hi", "user_id": 1}]) == "new_msg"
    # a request gets a fresh ref at its correlation pointer, as an object gets its id
    stamped, rid = phx.stamped(["1", "1", "room:x", "phx_join", {}], IdSource(phx.ids))
    assert stamped[1] == rid and rid != "1"


def test_an_array_is_a_batch_only_where_the_contract_declares_batches(phx):
    rpc = load_contract(JSONRPC)
    assert rpc.batch and not rpc.array_frames and phx.array_frames and not phx.batch
    two = json.dumps([{"jsonrpc": "2.0", "id": 1, "result": 1}, {"jsonrpc": "2.0", "id": 2, "result": 2}])
    assert len(parse_frames(two, batch=rpc.batch, arrays=rpc.array_frames)) == 2
    # a contract of object messages keeps an array as the reader's note (the json_frames invariant judges it)
    header = load_contract(Path(__file__).resolve().parent / "shapes" / "header.asyncapi.yaml")
    assert not header.array_frames
    assert parse_frames("[1, 2]", batch=header.batch, arrays=header.array_frames) == [{"type": None, "_value": [1, 2]}]


def test_contract_check_finds_array_kinds_at_the_kind_pointer(phx):
    assert phx.kind_pointer == "/3"
    assert {m.type for m in phx.messages.values()} >= {"heartbeat", "phx_join", "phx_reply", "new_msg", "phx_close"}
    assert not [i for i in lint(phx) if "kind pointer" in i.message], lint(phx)


def test_delivered_and_pushed_kinds_are_read_at_the_declared_kind_pointer():
    doc = yaml.safe_load(PHOENIX.read_text())
    validate_document(doc)  # delivers.message new_msg is the kind at /3
    # the same with object messages named at /event (Phoenix's V1 serializer)
    obj = copy.deepcopy(doc)
    obj["x-readiness"]["kind"] = "/event"
    for m in obj["components"]["messages"].values():
        items = m["payload"].pop("prefixItems")
        m["payload"] = {
            "type": "object",
            "properties": dict(zip(["join_ref", "ref", "topic", "event", "payload"], items, strict=True)),
        }
        m.pop("examples", None)
    obj["x-readiness"]["channels"]["room:{id}"]["pushes"] = ["new_msg"]
    validate_document(obj)
    obj["x-readiness"]["channels"]["room:{id}"]["pushes"] = ["no_such_kind"]
    with pytest.raises(ContractError, match="no message has type 'no_such_kind'"):
        validate_document(obj)


def test_without_a_kind_pointer_messages_are_named_by_their_keys():
    """kind: null -- every message told by its schema, named by its key: a delivery naming the kind at /3 names no
    message, and the error says what the messages are called."""
    doc = yaml.safe_load(PHOENIX.read_text())
    doc["x-readiness"]["kind"] = None
    with pytest.raises(ContractError, match=r"no message has type 'new_msg' .*named by their keys.*newMsgPush"):
        validate_document(doc)
    doc["operations"]["new_msg"]["x-readiness"]["delivers"]["message"] = "newMsgPush"
    validate_document(doc)


def test_a_timed_connects_first_frame_is_read_as_an_array_message_too(phx):
    """flow.timed_connect hands its first frame as the reader's note; the observer reads it as the session would."""
    from collections import Counter

    from pitchey_analysis.probes.invariants import SessionTrace
    from pitchey_analysis.probes.session import first_frame_observer, parse_frame

    seen = []
    invariants = SimpleNamespace(opened=0, check=lambda trace, **kw: seen.append(list(trace.frames)) or [])
    ctx = SimpleNamespace(
        contract=phx,
        probe_id="p",
        invariants=invariants,
        recorder=SimpleNamespace(),
        conformance=SimpleNamespace(frames=0, violations=Counter(), examples=[], max_examples=5),
        new_conn_id=lambda: "c",
    )
    frame = ["1", None, "room:x", "new_msg", {"body": "hi", "user_id": 1}]
    first_frame_observer(ctx)(SessionTrace(frames=[(1.0, parse_frame(json.dumps(frame)))], complete=False))
    assert seen == [[(1.0, frame)]] and ctx.conformance.frames == 1 and not ctx.conformance.violations
