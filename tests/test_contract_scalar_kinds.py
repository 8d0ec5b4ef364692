"""Kinds that are not strings: Discord's gateway names its messages by the INTEGER ``op`` (tests/shapes/gateway).

Its kinds are first-class: derived from the schemas as string kinds are, compared by JSON value (``10`` is not
``"10"``), shown as text, referred to by the messages' keys in ``x-readiness``; an unknown kind sent to such a service
is an unused integer; a protocol with no error frames plans no error probe as a gap.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from pitchey_analysis.contract import contract_from_text, load_contract
from pitchey_analysis.probes import ProbeContext
from pitchey_analysis.runner import plan

GATEWAY = Path(__file__).resolve().parent / "shapes" / "gateway.asyncapi.yaml"


def test_integer_constants_are_the_kinds():
    c = load_contract(GATEWAY)
    assert c.kind_pointer == "/op"
    assert {k: m.type for k, m in c.messages.items()}["heartbeatAck"] == "11"
    assert not any(m.by_schema for m in c.messages.values())  # each told by its op, none by its schema alone
    assert c.messages["hello"].kind == 10 and c.messages["hello"].word == "hello"
    # compared by JSON value: the string "11" is no heartbeatAck, and shows as the quoted string it is
    assert c.kind_of({"op": 11}) == "11"
    assert c.kind_of({"op": "11"}) == '"11"'
    assert c.kind_of({"op": 99}) == "99" and c.kind_of({"op": True}) == "true"
    # the references of x-readiness name messages by their keys: the kinds of those messages
    assert c.first_frame is not None and c.first_frame.type == "10"
    assert c.upgrade is not None and c.upgrade.first_message is not None and c.upgrade.first_message["success"] == "0"
    op = c.operation("presence_update")
    assert op is not None and op.delivers is not None and op.delivers.message == "0"
    assert op.delivers.said == "presenceUpdateEvent"
    # shown in the contract's words: a number is no word, the message key is
    hb = c.operation("heartbeat")
    assert hb is not None and hb.label() == "heartbeat → heartbeatAck"
    assert c.kind_word("10") == "hello" and c.kind_word("99") == "99"
    assert (
        c.word_of({"op": 0, "d": {"user": {"id": "1"}, "status": "idle"}, "s": 1, "t": "PRESENCE_UPDATE"})
        == "presenceUpdateEvent"
    )
    # a request of a kind is written with the kind's JSON value
    assert c.kind_value("11") == 11


def test_the_kind_pointer_is_derived_from_integer_constants_too():
    """Without ``kind``: /op (seven distinct integers) tells the messages apart, not /t (three dispatch names)."""
    d = yaml.safe_load(GATEWAY.read_text())
    del d["x-readiness"]["kind"]
    assert contract_from_text(yaml.safe_dump(d), name="gw").kind_pointer == "/op"


def test_an_unknown_kind_is_of_the_declared_kinds_json_type():
    c = load_contract(GATEWAY)
    unknown = c.unknown_kind("no_such_type_xyz")
    assert isinstance(unknown, int) and not isinstance(unknown, bool)
    assert str(unknown) not in {m.type for m in c.messages.values()}
    assert c.unknown_kind("a") != c.unknown_kind("b")  # distinct seeds, distinct kinds (the churn's unique kinds)
    strings = load_contract(Path(__file__).resolve().parent / "shapes" / "jsonrpc.asyncapi.yaml")
    assert strings.unknown_kind("no_such_type_xyz") == "no_such_type_xyz"


def test_a_protocol_whose_errors_are_closes_has_no_error_frame_gap():
    """No error frames at all (every error a declared close): the error-frame probes are of another model, and the
    refusals are judged by the declared closes."""
    c = load_contract(GATEWAY)
    assert not c.has_error_frames
    ctx = ProbeContext(ws_url="ws://127.0.0.1:1/gateway", http_url="", recorder=None, contract=c)
    steps = {s.name: (s, w) for s, w in plan("quick", ctx)}
    spec, why = steps["session.error_shape"]
    assert (why or "").startswith("not_in_contract") and not spec.critical
    for name in ("resilience.nested_json", "auth.required_for_protected", "readiness.rate_limit"):
        assert steps[name][1] is None, (name, steps[name][1])  # judged by the declared closes
    # HELLO precedes IDENTIFY; an opaque token (no upgrade.jwt) carries no claims to check
    for name in (
        "connection.anonymous_connect",
        "connection.authenticated_connect",
        "connection.login",
        "auth.token_subject",
    ):
        spec, why = steps[name]
        assert (why or "").startswith("not_in_contract") and not spec.critical, name
    # without the declared close for an anonymous request, auth.before_authentication judges that session: no gap
    d = yaml.safe_load(GATEWAY.read_text())
    del d["x-readiness"]["closes"]["authRequired"]
    c2 = contract_from_text(yaml.safe_dump(d), name="gw")
    spec, why = {
        s.name: (s, w)
        for s, w in plan(
            "quick", ProbeContext(ws_url="ws://127.0.0.1:1/gateway", http_url="", recorder=None, contract=c2)
        )
    }["auth.required_for_protected"]
    assert (why or "").startswith("not_in_contract") and not spec.critical
