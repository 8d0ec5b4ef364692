"""Every user type and role, every secret (issue 25, part 3).

The probes that judge a login read the answer of every credential given (each user type and the admin), each
named in the evidence; a password hash in a login answer is a critical finding; the push triggers the contract
declares are called as users who should be refused.
"""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from pitchey_analysis.contract import ContractError, contract_from_text, default_contract
from pitchey_analysis.findings import text_for
from pitchey_analysis.probes.authorization import Call, judge
from pitchey_analysis.probes.leaks import find_hash

HASHES = {
    "bcrypt": "$2b$12$" + "R9h/cIPz0gi.URNNX3kh2O" + "PST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
    "argon2": "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
    "pbkdf2": "pbkdf2_sha256$600000$hYXuXnBbhl1J$AbhQrmSXuqbFX8DVBqTVJOnXdoqTx0dJ0NDy1x2AZjo=",
    "sha-crypt": "$6$rounds=5000$saltstring$" + "x" * 86,
}


@pytest.mark.parametrize("kind", sorted(HASHES))
def test_password_hash_shapes_are_found_and_never_returned(kind):
    found = find_hash(None, {"success": True, "user": {"id": 4, "hash": HASHES[kind]}})
    assert found == (kind, "/user/hash")
    assert HASHES[kind] not in repr(found)  # where it is, never what it is
    assert find_hash(json.dumps({"u": HASHES[kind]})) == (kind, "/u")


def test_passlib_pbkdf2_and_a_field_named_for_a_hash():
    assert find_hash(None, {"h": "$pbkdf2-sha256$29000$N2ZMaE$6KEv5Pk0ECRv"})[0] == "pbkdf2"
    assert find_hash(None, {"user": {"password_digest": "5f4dcc3b5aa765d61d8327deb882cf99"}}) == (
        "named field",
        "/user/password_digest",
    )


@pytest.mark.parametrize(
    "body",
    [
        {"token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "user": {"id": 1, "email": "a@b.c"}},
        {"price": "$2.50", "note": "$5 off, then $6 more", "id": "3f2b8c1e-0d4a-4b7e-9a61-5c2d8e7f1a90"},
        {"passwordChangedAt": "2026-01-01", "hasPassword": True},
    ],
)
def test_ordinary_login_answers_hold_no_hash(body):
    assert find_hash(json.dumps(body), body) is None


# -- the login probes read every credential ---------------------------------------------------
async def test_a_password_echoed_for_the_second_user_type_only_is_caught_and_named(make_server, run_one):
    srv = await make_server(password_echo_for=["investor"])
    rec = await run_one("connection.login_no_password", srv)
    assert (rec["outcome"], rec["reason"]) == ("fail", "secret_leak"), rec["detail"]
    assert "investor" in rec["detail"] and "creator" not in rec["detail"]
    obs = json.loads(rec["observed"])
    assert obs["password_echoed"] == ["investor"]
    assert set(obs["judged"]) == {"creator", "investor", "production", "admin"}  # each login named


async def test_a_password_hash_in_the_admin_login_answer_is_a_critical_finding(make_server, run_one):
    srv = await make_server(password_hash_for=["admin"])
    rec = await run_one("connection.login_no_password", srv)
    assert (rec["outcome"], rec["reason"], bool(rec["critical"])) == ("fail", "password_hash", True), rec["detail"]
    assert "admin" in rec["detail"] and "pbkdf2 at /user/passwordHash" in rec["detail"]
    assert "pbkdf2_sha256$" not in rec["detail"] + rec["observed"]  # the hash itself goes to no record
    text, specific = text_for("connection.login_no_password", "password_hash")
    assert specific and "offline" in text["impact"]


async def test_claims_and_subjects_are_judged_for_every_login_and_the_admin(make_server, run_one):
    srv = await make_server()
    rec = await run_one("connection.login", srv)
    assert rec["outcome"] == "pass" and set(json.loads(rec["observed"])["claims"]) == {
        "creator",
        "investor",
        "production",
        "admin",
    }
    rec = await run_one("auth.token_subject", srv)
    assert rec["outcome"] == "pass" and "admin" in json.loads(rec["observed"])["judged"]
    srv = await make_server(defects=[12])  # the stats endpoint open to user ids 1-3
    rec = await run_one("readiness.stats_non_admin", srv, users={"production": run_one_users()["production"]})
    assert (rec["outcome"], rec["reason"]) == ("fail", "wrong_answer") and "production" in rec["detail"]


def run_one_users():
    from pitchey_analysis.runner import DEMO_USERS

    return dict(DEMO_USERS)


# -- who may call the push triggers -----------------------------------------------------------
async def test_every_declared_trigger_refuses_callers_without_its_role(make_server, run_one):
    srv = await make_server()
    rec = await run_one("readiness.trigger_authorization", srv)
    assert (rec["outcome"], rec["reason"]) == ("pass", "ok"), rec["detail"]
    obs = json.loads(rec["observed"])
    assert set(obs["judged"]) == {"POST /api/notifications", "POST /api/broadcast", "POST /api/ws/notify"}
    refused = [dict(zip(obs["columns"], c, strict=True)) for c in obs["calls"] if not c[4]]
    callers = {(c["trigger"], c["as"]) for c in refused}
    assert {("POST /api/notifications", t) for t in ("no token", "creator", "investor", "production")} <= callers
    assert ("POST /api/ws/notify", "creator") in callers  # a user naming another user's id
    assert all(c["status"] in (401, 403) for c in refused) and obs["refused"] == len(refused)


async def test_a_trigger_without_authorization_lets_any_user_notify_any_other(make_server, run_one):
    doc = copy.deepcopy(default_contract().document)
    for ch in doc["x-readiness"]["channels"].values():
        ch.pop("trigger", None)  # only the notify endpoint: its ownership rule alone is judged
    contract = contract_from_text(yaml.safe_dump(doc), name="notify-only")
    srv = await make_server(disable=["trigger_authz"])
    rec = await run_one("readiness.trigger_authorization", srv, contract=contract)
    assert (rec["outcome"], rec["reason"], bool(rec["critical"])) == ("fail", "trigger_unauthorized", True), rec[
        "detail"
    ]
    assert rec["detail"].startswith("POST /api/ws/notify (role owner) accepted the creator for the investor's id (2)")
    assert "push to another user's sessions" in rec["detail"]
    srv = await make_server(disable=["trigger_authz"])
    rec = await run_one("readiness.trigger_authorization", srv)
    assert (
        rec["reason"] == "trigger_unauthorized"
        and "/api/notifications (role admin) accepted the creator, not an admin" in rec["detail"]
    )


async def test_a_declared_trigger_the_service_lacks_is_no_evidence(make_server, run_one):
    doc = copy.deepcopy(default_contract().document)
    for ch in doc["x-readiness"]["channels"].values():
        ch.pop("trigger", None)
    doc["x-readiness"]["triggers"] = {"gone": {"method": "POST", "path": "/api/no-such-trigger", "role": "admin"}}
    srv = await make_server()
    rec = await run_one(
        "readiness.trigger_authorization", srv, contract=contract_from_text(yaml.safe_dump(doc), name="gone")
    )
    assert (rec["outcome"], rec["reason"]) == ("skip", "trigger_missing"), rec["detail"]


def _call(caller, status, *, allowed=False, role="admin", target=None):
    return Call("POST /t", role, caller, target, 7 if target else None, allowed, status)


def test_the_trigger_judgement():
    r = judge([_call("no token", 201), _call("admin", 201, allowed=True)])
    assert r.reason == "trigger_unauthorized" and "anyone who can reach the service" in r.detail and r.critical
    r = judge([_call("no token", 401), _call("creator", 403), _call("admin", 500, allowed=True)])
    assert (r.outcome, r.reason) == ("skip", "control_failed")  # the allowed caller refused too: proves nothing
    r = judge([_call("no token", 401), _call("creator", 403)])  # no admin credentials: no control, the refusals stand
    assert r.outcome == "pass" and r.observed["refused"] == 2


def test_the_contract_declares_triggers_and_their_roles():
    c = default_contract()
    roles = {name: call.role for name, call, _ in c.http_triggers()}
    assert roles == {"notifications": "admin", "pitch:{id}": "admin", "notify": "owner"}
    doc = copy.deepcopy(c.document)
    doc["x-readiness"]["triggers"]["notify"]["role"] = "anyone"
    with pytest.raises(ContractError):
        contract_from_text(yaml.safe_dump(doc), name="bad-role")
