"""The report's tables name what the run's contract declares, in its terms: the codes of its limits, the rows of its
messages and errors, the carriers of its credential, every close code the run observed (trial issue: a
Discord-like gateway reported under the reference server's codes and rows)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from pitchey_analysis.analysis import auth_methods, security_checks
from pitchey_analysis.analysis.defects import close_codes
from pitchey_analysis.capture.records import frame_from_rows
from pitchey_analysis.contract import load_contract
from pitchey_analysis.judged import LEGACY_ERROR_LABELS, declared_record, message_type_rows
from pitchey_analysis.runner.planning import judged_by

from .test_tables_and_verdict import probes, samples

SHAPES = Path(__file__).resolve().parents[1] / "shapes"

GATEWAY = {
    "closes": {
        "invalidJson": 4002,
        "untyped": 4002,
        "unknownType": 4001,
        "limits.messageSize": 4002,
        "limits.invalidUtf8": 1007,
        "limits.rate": 4008,
    },
    "rate_error": None,
    "carriers": {"firstMessage": "first message (identify → ready)"},
}


def test_security_checks_name_the_codes_the_contract_declares():
    p = probes(
        [
            ("readiness.size_limit", "readiness", "pass", "ok", True),
            ("readiness.invalid_utf8", "readiness", "pass", "ok", True),
            ("readiness.rate_limit", "readiness", "fail", "wrong_answer", True),
        ]
    )
    checks = list(security_checks(p, GATEWAY)["check"])
    assert "message size limit (close 4002)" in checks and "invalid UTF-8 refused (close 1007)" in checks
    assert "rate limit (close 4008)" in checks
    assert not any(code in c for c in checks for code in ("1009", "1008"))  # the reference server's codes
    with_error = list(security_checks(p, {**GATEWAY, "rate_error": "slow_down"})["check"])
    assert "rate limit (errors slow_down, then close 4008)" in with_error
    bare = list(security_checks(p)["check"])  # nothing known of the contract: no code at all
    assert {"message size limit", "invalid UTF-8 refused", "rate limit"} <= set(bare)


def test_a_runs_message_table_holds_only_what_its_contract_declares():
    c = load_contract(str(SHAPES / "graphqlws.asyncapi.yaml"))  # bad input closes 4400, no error frames
    rec = judged_by(SimpleNamespace(contract=c, suite="quick", only=None), [])
    table = rec["contract"]["message_table"]
    assert not set(table) & LEGACY_ERROR_LABELS
    assert table["input that is not JSON → close 4400"] == "messaging.invalid_json"
    assert table["a message of an unknown kind → close 4400"] == "messaging.unknown_type"
    # its first-message authentication is judged by the probes of authenticated sessions, not a probe never planned
    assert table["connection_init → connection_ack"] == "connection.user_types"
    assert rec["contract"]["declared"]["carriers"] == {
        "firstMessage": "first message (connection_init → connection_ack)"
    }
    # the shipped contract keeps its rows, pushes and error answers in its own spelling
    pitchey = judged_by(SimpleNamespace(contract=load_contract("pitchey"), suite="full", only=None), [])["contract"][
        "message_table"
    ]
    assert {
        "notification (push)",
        "dashboard_update (push)",
        "pitch_stats_update (broadcast)",
        "error unknown_type",
    } <= set(pitchey)


def test_a_run_recorded_with_pitcheys_error_rows_in_its_table_is_shown_without_them():
    stored = {
        "hello": "connection.single_connected_frame",
        "error invalid_format (not JSON)": "messaging.invalid_json",
        "error unknown_type": "messaging.unknown_type",
    }
    manifest = {
        "contract": {
            "name": "gateway",
            "message_types": {"hello": "connection.single_connected_frame"},
            "error_types": {},
            "message_table": stored,
        }
    }
    assert message_type_rows(manifest) == {"hello": "connection.single_connected_frame"}
    spelled = {**manifest["contract"], "error_types": {"error unknown_type": "messaging.unknown_type"}}
    assert "error unknown_type" in message_type_rows({"contract": spelled})


def test_auth_methods_cover_the_contracts_declared_carrier():
    p = probes(
        [
            ("connection.user_types", "connection", "pass", "ok", True),
            ("auth.query_token", "authentication", "skip", "not_in_contract", False),
        ]
    )
    table = auth_methods(p, samples("auth_connect_ms", [], "x#1"), GATEWAY["carriers"])
    assert list(table["method"]) == ["first message (identify → ready)"]
    assert list(table["status"]) == ["working"] and list(table["probe"]) == ["connection.user_types"]
    failing = probes([("connection.user_types", "connection", "fail", "auth_failed", True)])
    assert list(auth_methods(failing, samples("auth_ms", [], "x#1"), GATEWAY["carriers"])["status"]) == [
        "failing (auth_failed)"
    ]
    assert declared_record(load_contract(str(SHAPES / "firstauth.asyncapi.yaml")))["carriers"] == {
        "firstMessage": "first message (auth → auth_ok / auth_invalid)"
    }


def test_close_codes_list_every_code_the_run_observed_declared_or_not():
    frames = frame_from_rows(
        "frames",
        [
            {
                "run_id": "r",
                "probe_id": "auth.before_authentication#1",
                "conn_id": "c1",
                "direction": "in",
                "t_ms": 1.0,
                "type": "close",
                "size_bytes": 2,
                "payload": "4003 Not authenticated",
            },
            {
                "run_id": "r",
                "probe_id": "messaging.invalid_json#1",
                "conn_id": "c2",
                "direction": "in",
                "t_ms": 1.0,
                "type": "close",
                "size_bytes": 2,
                "payload": "4002 Decode error",
            },
        ],
    )
    p = probes(
        [
            ("auth.before_authentication", "authentication", "pass", "ok", True),
            ("messaging.invalid_json", "messaging", "pass", "ok", False),
            ("readiness.rate_limit", "readiness", "fail", "wrong_answer", True),
            ("readiness.invalid_utf8", "readiness", "pass", "ok", True),
        ]
    )
    p.loc[p["probe"] == "readiness.rate_limit", "close_code"] = 4008  # no frame of these sessions was kept
    p.loc[p["probe"] == "readiness.invalid_utf8", "close_code"] = 1007
    p.loc[p["probe"] == "messaging.invalid_json", "close_code"] = 4002  # its frame says so already: counted once
    t = close_codes(frames, p, GATEWAY["closes"]).set_index("code")
    assert list(t.index) == [1007, 4002, 4003, 4008]
    assert t.loc[4008, "contract"] == "declared: limits.rate" and t.loc[4008, "probes"] == "readiness.rate_limit"
    assert t.loc[4002, "count"] == 1 and "invalidJson" in t.loc[4002, "contract"]
    assert t.loc[4003, "contract"] == "not declared"
    assert "provoked on purpose" in t.loc[4008, "meaning"]
