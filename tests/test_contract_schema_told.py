"""Messages told by their schema alone (no kind field, no correlation id, errors without a code), as an API
Gateway-style service speaks (tests/shapes/apigw.asyncapi.yaml): how the contract reads them."""

from __future__ import annotations

from pathlib import Path

import yaml

from pitchey_analysis.contract import contract_from_text, load_contract
from pitchey_analysis.probes import ProbeContext
from pitchey_analysis.runner import plan

APIGW = Path(__file__).resolve().parent / "shapes" / "apigw.asyncapi.yaml"
FORBIDDEN = {"message": "Forbidden", "connectionId": "c1", "requestId": "r1"}
INTERNAL = {"message": "Internal server error", "connectionId": "c1", "requestId": "r2"}


def test_a_declared_error_message_is_one_the_service_sends():
    """An error message named in errors.messages but in no reply (the answer to malformed JSON) is still a message
    the service sends: conformance finds it, no `not_json` violation."""
    c = load_contract(APIGW)
    assert "internalError" in c.server_messages()
    assert c.check_frame(INTERNAL) is None
    assert c.kind_of(INTERNAL) == "internalError" and c.kind_of(FORBIDDEN) == "forbidden"


def test_a_case_without_a_code_names_its_error_message():
    """errors.unknownType (...) names the code, or, for error messages with no code field, the error message."""
    c = load_contract(APIGW)
    assert c.is_named_error(FORBIDDEN, "forbidden") and not c.is_named_error(FORBIDDEN, "internalError")
    assert c.is_named_error(INTERNAL, "internalError")
    assert not c.is_named_error({"pong": True, "at": 1}, "forbidden")  # a success body is no error
    coded = load_contract("pitchey")  # a code still decides where the contract has one
    err = {"type": "error", "code": "unknown_type", "message": "x"}
    assert coded.is_named_error(err, "unknown_type") and not coded.is_named_error(err, "invalid_format")


def test_a_delivery_may_carry_the_requests_values_elsewhere():
    """delivers.echo: a list names the same place in request and push; a mapping the request's place -> the push's."""
    c = load_contract(APIGW)
    op = c.operation_for("messaging.send_message")
    assert op is not None and op.delivers is not None
    assert op.delivers.echo == (("/data/text", "/text"), ("/data/room", "/room"))
    pitchey = load_contract("pitchey")
    same = [o.delivers for o in pitchey.receives() if o.delivers is not None and o.delivers.echo]
    assert same and all(a == b for d in same for a, b in d.echo)


def test_a_header_token_service_without_a_first_frame_plans_its_login_probes_with_no_gap():
    """The login-token probes carry the token where the upgrade does (a raw Authorization header here), not only
    in the query; with no first frame to say a session is authenticated, authenticated_connect is no gap."""
    c = load_contract(APIGW)
    ctx = ProbeContext(ws_url="ws://127.0.0.1:1/production", http_url="", recorder=None, contract=c)
    specs = {s.name: (s, w) for s, w in plan("quick", ctx)}
    for name in ("connection.user_types", "connection.ping_on_connected", "auth.header_token"):
        assert specs[name][1] is None, (name, specs[name][1])
    spec, why = specs["connection.authenticated_connect"]
    assert (why or "").startswith("not_in_contract") and not spec.critical
    d = yaml.safe_load(APIGW.read_text())
    d["x-readiness"]["firstFrame"] = {"type": "pong"}  # a first frame without its authenticated pointer: a gap
    spec2, _ = {
        s.name: (s, w)
        for s, w in plan(
            "quick",
            ProbeContext(
                ws_url="ws://127.0.0.1:1/production",
                http_url="",
                recorder=None,
                contract=contract_from_text(yaml.safe_dump(d), name="ff"),
            ),
        )
    }["connection.authenticated_connect"]
    assert spec2.critical


def test_the_catalogue_says_the_contracts_size_limit_and_header():
    """Expectations in the contract's words: its own size limit (not 64 KiB), its header as sent (a raw token)."""
    c = load_contract(APIGW)
    said = {
        s.name: s.expected
        for s, _ in plan(
            "quick", ProbeContext(ws_url="ws://127.0.0.1:1/production", http_url="", recorder=None, contract=c)
        )
    }
    assert said["readiness.size_limit"] == (
        "a message over the contract's size limit (128 KiB: 140 KiB sent) closes the "
        "connection with its close code (1009)"
    )
    assert said["auth.header_token"].startswith("'Authorization: <token>' with a login token"), said[
        "auth.header_token"
    ]
    assert "authenticated:true" not in said["auth.header_token"]
    pitchey = {
        s.name: s.expected
        for s, _ in plan("quick", ProbeContext(ws_url="ws://127.0.0.1:1/ws", http_url="", recorder=None))
    }
    assert "(64 KiB: 70 KiB sent)" in pitchey["readiness.size_limit"]
    assert pitchey["auth.header_token"].startswith("'Authorization: Bearer <token>'")


def test_the_auth_methods_table_names_the_header_as_sent():
    """A raw token in Authorization is reported as such, not as a Bearer header (from the probe's observed header
    and scheme); a run recorded without them keeps the catalogue's name."""
    import json

    import pandas as pd

    from pitchey_analysis.analysis.tables import auth_methods

    def probes(observed: str) -> pd.DataFrame:
        return pd.DataFrame(
            [
                {
                    "probe": "auth.header_token",
                    "probe_id": "h#1",
                    "outcome": "pass",
                    "reason": "ok",
                    "observed": observed,
                    "started_at": 0.0,
                    "attempt": 1,
                }
            ]
        )

    samples = pd.DataFrame(columns=["probe_id", "metric", "ok", "value_ms"])
    raw = auth_methods(probes(json.dumps({"header": "Authorization", "scheme": ""})), samples)
    assert list(raw[raw["probe"] == "auth.header_token"]["method"]) == ["Authorization: <token> header"]
    bearer = auth_methods(probes(json.dumps({"header": "Authorization", "scheme": "Bearer"})), samples)
    assert list(bearer[bearer["probe"] == "auth.header_token"]["method"]) == ["Authorization: Bearer <token> header"]
    old = auth_methods(probes(json.dumps({"header": "Authorization"})), samples)
    assert list(old[old["probe"] == "auth.header_token"]["method"]) == ["Authorization: Bearer header"]


def test_an_answer_may_echo_a_field_elsewhere():
    """x-readiness.echo as field -> pointer: {action: join, room: r1} answered {joined: r1, members} echoes the room."""
    from pitchey_analysis.probes.generated import judge_answer

    c = load_contract(APIGW)
    op = next(o for o in c.receives() if o.id == "join")
    assert op.echo == ("room",) and op.echo_at == (("room", "/joined"),)
    sent = {"action": "join", "room": "r1"}
    assert judge_answer(op, {"joined": "r1", "members": 1}, 1.0, 5.0, c.error_type, c, sent).outcome == "pass"
    r = judge_answer(op, {"joined": "r2", "members": 1}, 1.0, 5.0, c.error_type, c, sent)
    assert (r.outcome, r.reason) == ("fail", "wrong_answer") and "echo" in r.detail
