"""The contract as data: the shipped document equals PROTOCOL.md Part A, validation names the path of the first
error."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from pitchey_analysis.cli import main
from pitchey_analysis.contract import ContractError, build, load_contract, parse_text, shipped, validate_document

PROTOCOL = Path("/work/shared/PROTOCOL.md")

#: PROTOCOL.md Part A's table "Client → server messages and their answers" (sent types, answers with their fields),
#: used when PROTOCOL.md is not at hand.
PART_A_ROWS: list[tuple[list[str], list[tuple[str, list[str]]]]] = [
    (["ping"], [("pong", ["id", "timestamp", "serverTime"])]),
    (["auth"], [("auth_success", ["user"]), ("auth_error", ["code", "message"])]),
    (["subscribe"], [("subscription_confirmed", ["channel"]), ("error", ["code"])]),
    (["unsubscribe"], [("unsubscribed", ["channel"])]),
    (["get_dashboard_metrics"], [("dashboard_metrics", ["metrics", "timestamp"])]),
    (["presence_update"], [("presence_updated", ["status"]), ("presence", ["userId", "status"])]),
    (
        ["send_message"],
        [("message_sent", ["messageId"]), ("new_message", ["messageId", "senderId", "content", "timestamp"])],
    ),
    (["typing_start", "typing_stop"], [("user_typing", ["userId", "isTyping"])]),
    (["notification_read"], [("notification_read", ["notificationId"])]),
    (["request_initial_data"], [("initial_data", ["userId", "notifications", "unreadMessagesCount", "serverTime"])]),
]


def _objects(cell: str) -> list[tuple[str, list[str]]]:
    """``{type:"x", a, b:{...}}`` objects of a table cell -> (type, top-level field names)."""
    out = []
    for m in re.finditer(r"\{type:\"([a-z_]+)\"(?:/\"([a-z_]+)\")?", cell):
        depth, i, body = 1, m.end(), ""
        while i < len(cell) and depth:
            ch = cell[i]
            depth += ch == "{"
            depth -= ch == "}"
            if depth == 1 or (depth == 2 and ch == "{"):
                body += ch if depth == 1 else ""
            i += 1
        fields = [f.strip().split(":")[0].rstrip("?") for f in body.split(",") if f.strip()]
        fields = [f for f in fields if re.fullmatch(r"[A-Za-z_]+", f)]
        for t in filter(None, (m.group(1), m.group(2))):
            out.append((t, fields))
    return out


def part_a_rows() -> list[tuple[list[str], list[tuple[str, list[str]]]]]:
    if not PROTOCOL.exists():
        return PART_A_ROWS
    text = PROTOCOL.read_text()
    section = text.split("### Client → server messages and their answers", 1)[1].split("\n### ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`{type:"):
            continue
        sent = [t for t, _ in _objects(cells[0])]
        answers = _objects(cells[1]) + _objects(cells[2])
        rows.append((sent, answers))
    assert len(rows) >= 10, "PROTOCOL.md Part A's message table was not found"
    return rows


def test_the_table_is_read():
    rows = part_a_rows()
    assert (["ping"], [("pong", ["id", "timestamp", "serverTime"])]) in rows
    assert any(sent == ["typing_start", "typing_stop"] for sent, _ in rows)


@pytest.mark.parametrize(
    "sent,answers",
    part_a_rows(),
    ids=lambda v: "/".join(v) if isinstance(v, list) and v and isinstance(v[0], str) else "",
)
def test_every_row_of_part_a_is_an_operation(sent, answers):
    c = load_contract("pitchey")
    receives = {m.type: o for o in c.receives() for m in o.messages}
    server = c.server_messages()
    for t in sent:
        assert t in receives, f"{t} is not a receive operation of the pitchey contract"
    for t, fields in answers:
        assert t in server, f"answer {t} is not a message the contract says the service sends"
        have = set().union(*(m.fields() for m in server[t]))
        assert set(fields) <= have, f"{t} lacks {set(fields) - have} in its schema"
    op = receives[sent[0]]
    if op.reply:
        assert op.reply[0].type == answers[0][0], "the first reply message is the answer of the table"


def test_part_a_error_rows_and_first_frame():
    c = load_contract("pitchey")
    assert c.errors["invalidFormat"] == "invalid_format" and c.errors["unknownType"] == "unknown_type"
    assert c.errors["authRequired"] == "auth_required"
    assert c.first_frame is not None and c.first_frame.type == "connected"
    assert set(c.server_messages()["connected"][0].fields()) >= {
        "authenticated",
        "user",
        "sessionId",
        "timestamp",
        "capabilities",
        "authError",
    }
    assert c.auth_only_types() == {
        "get_dashboard_metrics",
        "presence_update",
        "send_message",
        "typing_start",
        "typing_stop",
        "notification_read",
        "request_initial_data",
    }
    assert c.limit("messageSize").close == 1009 and c.limit("lockout")["failures"] == 10


def test_shipped_contracts_validate():
    assert "pitchey" in shipped()
    for name in shipped():
        c = load_contract(name)
        validate_document(c.document)  # the default contract is not validated again when the package loads it
        assert c.document["asyncapi"].startswith("3.0")
        assert c.sha256 and c.text


def _doc() -> dict:
    return copy.deepcopy(load_contract("pitchey").document)


@pytest.mark.parametrize(
    "mutate,path",
    [
        (lambda d: d["operations"]["ping"].__setitem__("action", "recv"), "$.operations.ping.action"),
        (
            lambda d: d["operations"]["ping"]["reply"]["messages"][0].__setitem__(
                "$ref", "#/channels/ws/messages/nope"
            ),
            "$.operations.ping.reply.messages[0]['$ref']",
        ),
        (
            lambda d: d["x-readiness"]["limits"]["messageSize"].__setitem__("close", 99),
            "$.x-readiness.limits.messageSize.close",
        ),
        (
            lambda d: d["x-readiness"]["endpoints"]["stats"].__setitem__("sessions", "data.total"),
            "$.x-readiness.endpoints.stats.sessions",
        ),
        (lambda d: d.__setitem__("asyncapi", "2.6.0"), "$.asyncapi"),
        (
            lambda d: d["components"]["messages"]["ping"]["examples"][0]["payload"].__setitem__("id", 7),
            "$.components.messages.ping.examples[0].payload.id",
        ),
    ],
)
def test_validation_names_the_path_of_the_first_error(mutate, path):
    d = _doc()
    mutate(d)
    with pytest.raises(ContractError) as err:
        validate_document(d)
    assert err.value.path.replace('"', "'") == path, err.value


def test_every_field_is_optional():
    d = {"asyncapi": "3.0.0", "info": {"title": "t", "version": "1"}, "operations": {}}
    validate_document(d)
    c = build(d)
    assert c.login is None and c.first_frame is None and c.request_answers() == []


def test_contract_check_cli(tmp_path, capsys):
    assert main(["contract", "check", "pitchey"]) == 0
    out = capsys.readouterr().out
    assert "messaging.ping" in out and "valid AsyncAPI 3.0" in out
    bad = _doc()
    bad["operations"]["subscribe"]["action"] = "listen"
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(bad))
    assert main(["contract", "check", str(f)]) == 2
    assert "$.operations.subscribe.action" in capsys.readouterr().err
    assert main(["contract", "check", str(tmp_path / "none.yaml")]) == 2


def test_json_and_yaml_read_alike(tmp_path):
    import json

    f = tmp_path / "p.json"
    f.write_text(json.dumps(_doc()))
    c = load_contract(f)
    assert c.file_format == "json" and [o.id for o in c.request_answers()] == [
        o.id for o in load_contract().request_answers()
    ]
    assert parse_text(f.read_text()) == _doc()


#: Reads the server's dispatch, the debugger's sweep and the client's channel table with the default contract
#: swapped for one that lacks ``typing_stop`` and names the dashboard channel ``board``, and prints what they hold.
_OTHER_DEFAULT = """
import copy, functools, json
import pitchey_analysis.contract as C
import pitchey_analysis.contract.load as L
d = copy.deepcopy(L.default_contract().document)
del d["operations"]["typing_stop"]
channels = d["x-readiness"]["channels"]
channels["board"] = channels.pop("dashboard")
other = L.build(d, name="pitchey")
L.default_contract = C.default_contract = functools.cache(lambda: other)
from pitchey_analysis.client import PitcheyClient, channel_pushes
from pitchey_analysis.debug import default_sweep
from pitchey_analysis.server.ws import auth_only_types, handlers
client = PitcheyClient("http://127.0.0.1:9", "ws://127.0.0.1:9/ws")
print(json.dumps({"handlers": sorted(handlers()), "auth_only": sorted(auth_only_types()),
                  "sweep": [t for t, _ in default_sweep()],
                  "channels": {k: sorted(channel_pushes(client.contract, k)) for k in ("board", "dashboard")}}))
"""


def test_one_source_of_truth_reads_the_contract():
    """The server's dispatch, the debugger's sweep and the client's channels follow the contract: the same modules
    imported with another default contract hold its types (comparing them with the contract they were built from, as
    this test once did, could not fail), and with the shipped one they hold PROTOCOL.md Part A's."""
    import json
    import subprocess
    import sys

    from pitchey_analysis.client import channel_pushes
    from pitchey_analysis.debug import default_sweep
    from pitchey_analysis.server.ws import WebSocketHandler, auth_only_types, handlers

    part_a = {t for sent, _ in part_a_rows() for t in sent}
    assert set(handlers()) == part_a and part_a <= {label for label, _ in default_sweep()}
    assert "typing_stop" in auth_only_types() and "ping" not in auth_only_types()
    assert all(callable(getattr(WebSocketHandler, h, None)) for h in handlers().values()), (
        "a client type without its on_<type> handler"
    )
    c = load_contract("pitchey")
    assert channel_pushes(c, "pitch:3") == {"pitch_stats_update"} and channel_pushes(c, "dashboard") == {
        "dashboard_update"
    }

    got = json.loads(
        subprocess.run(
            [sys.executable, "-c", _OTHER_DEFAULT], capture_output=True, text=True, check=True, timeout=120
        ).stdout
    )
    assert set(got["handlers"]) == part_a - {"typing_stop"}
    assert "typing_stop" not in got["auth_only"] and "typing_start" in got["auth_only"]
    assert "typing_stop" not in got["sweep"] and "typing_start" in got["sweep"]
    assert got["channels"] == {"board": ["dashboard_update"], "dashboard": []}


def test_a_contract_without_stats_lockout_and_push_triggers_plans_not_in_contract():
    from pitchey_analysis.contract import contract_from_text
    from pitchey_analysis.probes import ProbeContext
    from pitchey_analysis.runner import plan

    d = _doc()
    x = d["x-readiness"]
    del x["endpoints"]["stats"], x["limits"]["lockout"]
    for ch in x["channels"].values():
        ch.pop("trigger", None)
    c = contract_from_text(yaml.safe_dump(d), name="no-stats")
    ctx = ProbeContext(ws_url="ws://127.0.0.1:1/ws", http_url="", recorder=None, contract=c)
    why = {s.name: w for s, w in plan("full", ctx)}
    for name in (
        "readiness.stats_requires_auth",
        "readiness.stats_non_admin",
        "readiness.stats_admin",
        "readiness.lockout_spoofing",
        "resilience.lockout_per_address",
        "messaging.notification_delivery",
        "messaging.channel_broadcast",
    ):
        assert (why[name] or "").startswith("not_in_contract:"), (name, why[name])
    assert why["readiness.session_leak"] is None  # the health endpoint still reports a session count
    assert why["messaging.ping"] is None and why["readiness.size_limit"] is None
    pitchey_ctx = ProbeContext(ws_url="ws://127.0.0.1:1/ws", http_url="", recorder=None)
    # everything but the connection cap, which the deployment sets (the reference server's follows its file limit),
    # and the wire rules of other session models (increasing ids, first-message auth, client batches, a request
    # ending another's stream by its id)
    lacking = {s.name for s, w in plan("full", pitchey_ctx) if (w or "").startswith("not_in_contract")}
    assert lacking == {
        "readiness.connection_cap",
        "messaging.id_reuse",
        "auth.before_authentication",
        "messaging.batch",
        "messaging.stop_pushes",
    }, lacking


def test_message_type_rows_follow_the_runs_contract():
    from pitchey_analysis.judged import MESSAGE_TYPES, message_type_rows

    assert message_type_rows({}) == MESSAGE_TYPES
    pitchey = message_type_rows({"contract": {"message_types": load_contract("pitchey").message_type_rows()}})
    assert set(pitchey.values()) == set(MESSAGE_TYPES.values())  # every Pitchey row, now from the contract
    assert pitchey["ping → pong"] == "messaging.ping" and pitchey["error unknown_type"] == "messaging.unknown_type"
    plan = [{"probe": p, "skip": "not_in_contract:x"} for p in MESSAGE_TYPES.values()]
    assert message_type_rows({"contract": {"message_types": {"quote → price": "messaging.quote"}}, "plan": plan}) == {
        "quote → price": "messaging.quote"
    }


def test_the_contracts_targets_judge_the_run():
    from pitchey_analysis.judged import DEFAULT_TARGETS, targets_from_manifest

    assert targets_from_manifest({"contract": {"targets": load_contract("pitchey").targets}}) == DEFAULT_TARGETS
    assert targets_from_manifest({}) == DEFAULT_TARGETS
    got = {
        t.name: t.threshold
        for t in targets_from_manifest(
            {"contract": {"targets": {"connectP95Ms": 250, "concurrency": {"minSuccessRate": 0.9}}}}
        )
    }
    assert got["connection time p95"] == 250 and got["concurrency"] == 0.9


def test_serve_and_debug_refuse_other_contracts(capsys):
    ticker = str(Path(__file__).resolve().parent / "ticker" / "ticker.asyncapi.yaml")
    assert main(["serve", "--contract", ticker]) == 2
    assert "pitchey contract only" in capsys.readouterr().err
    assert main(["debug", "--contract", ticker]) == 2
    assert "pitchey contract only" in capsys.readouterr().err


def _respelled() -> dict:
    """Pitchey's contract spelled differently: every name the stateful probes look up is renamed."""
    d = _doc()
    x = d["x-readiness"]
    x["errors"].update(
        {"message": "fault", "code": "/why", "authRequired": "sign_in_first", "invalidToken": "token_bad"}
    )
    x["channels"]["board"] = {**x["channels"].pop("dashboard"), "intervalSeconds": 10}
    # its example still names the old channel: the subscription request is marked as such
    d["operations"]["subscribe"].setdefault("x-readiness", {})["subscribes"] = True
    x["limits"]["serverPing"]["intervalSeconds"] = 60
    x["upgrade"]["jwt"] = {"algorithms": ["HS256"], "issuer": "acme", "audience": "acme-rt"}
    x["login"]["users"] = {"member": {"path": "/login"}}
    d["operations"]["request_initial_data"]["x-readiness"]["authCheck"] = False
    return d


def test_the_stateful_probes_lookups_follow_the_contract():
    from pitchey_analysis.probes.sustained import hold_plan
    from pitchey_analysis.runner.options import contract_waits

    pitchey = load_contract("pitchey")
    assert (
        pitchey.error_type == "error"
        and pitchey.error_code({"type": "error", "code": "auth_required"}) == "auth_required"
    )
    assert pitchey.auth_check_operation().id == "request_initial_data"
    assert pitchey.round_trip().id == "ping"
    assert contract_waits(pitchey) == {"push_timeout_s": 7.0, "server_ping_wait_s": 35.0}  # the defaults of before
    assert hold_plan(pitchey, True) == ("dashboard", "dashboard_update") and hold_plan(pitchey, False) == (
        "pitch:1",
        None,
    )
    assert pitchey.error_rows()["error auth_required"] == "auth.required_for_protected"

    other = build(_respelled())
    assert other.error_type == "fault"
    assert other.error_code({"type": "fault", "why": "sign_in_first"}) == "sign_in_first"
    assert other.error_code({"type": "error", "code": "auth_required"}) is None
    assert other.auth_check_operation().id == "get_dashboard_metrics"  # the first auth-only request with an answer
    assert contract_waits(other) == {"push_timeout_s": 12.0, "server_ping_wait_s": 65.0}
    assert hold_plan(other, True) == ("board", "dashboard_update")
    assert other.error_rows()["fault sign_in_first"] == "auth.required_for_protected"
    assert other.error_rows()["fault unknown_type"] == "messaging.unknown_type"
    ticker = load_contract(Path(__file__).parent / "ticker" / "ticker.asyncapi.yaml")
    assert (
        ticker.round_trip().id == "quote" and contract_waits(ticker) == {} and hold_plan(ticker, True) == (None, None)
    )


def test_hand_made_tokens_carry_the_contracts_claims():
    from pitchey_analysis.probes.base import ProbeContext
    from pitchey_analysis.probes.common import claims_like

    ctx = ProbeContext("ws://127.0.0.1:1/ws", "http://127.0.0.1:1", recorder=None, contract=build(_respelled()))
    c = claims_like(ctx)
    assert (c["iss"], c["aud"], c["userType"]) == ("acme", "acme-rt", "member")
    pitchey = claims_like(ProbeContext("ws://127.0.0.1:1/ws", "http://127.0.0.1:1", recorder=None))
    assert (pitchey["iss"], pitchey["aud"], pitchey["userType"]) == ("pitchey", "pitchey-ws", "creator")


def test_validation_skips_jsonschema_unused_format_plugin():
    """The console command (and the tests) import jsonschema without its IRI format plugin, whose grammars cost
    seconds of CPU per process (jsonschema#1428); contracts still validate, formats were never checked."""
    import subprocess
    import sys

    code = (
        "import sys; from pitchey_analysis.contract import skip_unused_format_plugins, read_document, "
        "validate_document; "
        "skip_unused_format_plugins(); validate_document(read_document('pitchey')[1]); import jsonschema; "
        "print('lark' in sys.modules, 'jsonschema' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False True", out


def test_contract_check_says_what_silently_misleads():
    """Valid documents that mislead: two operations judged by one probe, a success rate no run can show, an
    unknown key (named, with the keys allowed there, in one path spelling)."""
    from pitchey_analysis.contract import ContractError, contract_from_text
    from pitchey_analysis.contract.lint import lint

    text = (Path(__file__).resolve().parent / "shapes" / "jsonrpc.asyncapi.yaml").read_text()
    twice = text.replace(
        "    x-readiness: {critical: true}\n", "    x-readiness: {critical: true, probe: messaging.calc}\n", 1
    ).replace(
        "    messages: [{$ref: '#/channels/rpc/messages/add'}]\n",
        "    messages: [{$ref: '#/channels/rpc/messages/add'}]\n    x-readiness: {probe: messaging.calc}\n",
        1,
    )
    errors = [i for i in lint(contract_from_text(twice)) if i.severity == "error"]
    assert errors and "messaging.calc" in errors[0].message and errors[0].path == "$.operations.add"
    rate = text.replace("  limits:\n", "  targets: {concurrency: {level: 20, minSuccessRate: 0.9}}\n  limits:\n", 1)
    errors = [i for i in lint(contract_from_text(rate)) if i.severity == "error"]
    assert errors and "can never be shown at level 20" in errors[0].message
    assert not [i for i in lint(contract_from_text(text)) if i.severity == "error"]
    with pytest.raises(ContractError) as err:
        contract_from_text(text.replace("  batch: true\n", "  batchh: true\n", 1))
    assert str(err.value).startswith("$.x-readiness: unknown key 'batchh'; allowed here: ") and "batch," in str(
        err.value
    )


def test_push_probes_run_only_where_the_contract_declares_what_their_request_delivers():
    """messaging.presence_update/send_message/typing/notification_read send the example of the operation mapped
    to them and judge the push its x-readiness.delivers declares; without it, or without a way to reach the
    receiver, they are not planned (nothing of Pitchey's shape is sent)."""
    from pitchey_analysis.contract import contract_from_text
    from pitchey_analysis.probes import ProbeContext
    from pitchey_analysis.runner import plan

    names = ("messaging.presence_update", "messaging.send_message", "messaging.typing", "messaging.notification_read")
    d = _doc()
    for op in d["operations"].values():
        (op.get("x-readiness") or {}).pop("delivers", None)
    d["x-readiness"]["login"].pop("userId")
    d["x-readiness"]["firstFrame"].pop("userId")
    c = contract_from_text(yaml.safe_dump(d), name="no-delivers")
    why = {
        s.name: w
        for s, w in plan("full", ProbeContext(ws_url="ws://127.0.0.1:1/ws", http_url="", recorder=None, contract=c))
    }
    for name in names:
        assert (why[name] or "").startswith("not_in_contract:") and "delivers" in why[name], (name, why[name])
    d = _doc()
    d["x-readiness"]["login"].pop("userId")
    d["x-readiness"]["firstFrame"].pop("userId")
    c = contract_from_text(yaml.safe_dump(d), name="no-user-id")
    why = {
        s.name: w
        for s, w in plan("full", ProbeContext(ws_url="ws://127.0.0.1:1/ws", http_url="", recorder=None, contract=c))
    }
    assert why["messaging.send_message"] and why["messaging.typing"]  # no recipient id to put in the request
    assert why["messaging.presence_update"] is None and why["messaging.notification_read"] is None
    # a delivery names what it needs: a channel for subscribers, a pointer for a recipient
    d = _doc()
    d["operations"]["presence_update"]["x-readiness"]["delivers"].pop("channel")
    with pytest.raises(ContractError, match="names no channel"):
        validate_document(d)
    d = _doc()
    d["operations"]["send_message"]["x-readiness"]["delivers"]["message"] = "nope"
    with pytest.raises(ContractError, match="no message has type 'nope'"):
        validate_document(d)


def test_a_pattern_channel_says_where_its_pushes_carry_its_placeholders():
    """``carries``: a subscriber of pitch:3 takes the pushes with 3 at /pitchId; a name that is no placeholder of the
    channel does not validate; a channel saying nothing takes every push of its kinds."""
    ch = load_contract("pitchey").channels["pitch:{id}"]
    assert ch.carries == (("id", "/pitchId"),)
    assert ch.carries_push("pitch:3", {"type": "pitch_stats_update", "pitchId": 3, "views": 1})
    assert not ch.carries_push("pitch:1", {"type": "pitch_stats_update", "pitchId": 3, "views": 1})
    assert load_contract("pitchey").channels["dashboard"].carries_push("dashboard", {"anything": 1})
    d = _doc()
    d["x-readiness"]["channels"]["pitch:{id}"]["carries"] = {"pitch": "/pitchId"}
    with pytest.raises(ContractError) as err:
        validate_document(d)
    assert "placeholder {pitch}" in str(err.value) and "carries" in err.value.path


def test_the_unsubscribe_request_is_declared_never_guessed():
    """``unsubscribes: true`` marks the request ending a subscription; without it there is none (a request whose set-up
    subscribes first, Phoenix's new_msg, is no unsubscribe)."""
    from pitchey_analysis.contract.requests import unsubscribe_request

    assert unsubscribe_request(load_contract("pitchey"), "pitch:3") == (
        {"type": "unsubscribe", "channel": "pitch:3"},
        {"unsubscribed"},
    )
    d = _doc()
    del d["operations"]["unsubscribe"]["x-readiness"]["unsubscribes"]
    assert build(d).unsubscription() is None
    phoenix = load_contract(Path(__file__).resolve().parent / "shapes" / "phoenix.asyncapi.yaml")
    assert phoenix.subscription() is not None and phoenix.unsubscription() is None
