"""The lockout probes read the contract's limits.lockout: its threshold (unless --lockout-attempts overrides it),
its window and its key."""

from __future__ import annotations

from pitchey_analysis.contract import contract_from_text, default_contract
from pitchey_analysis.runner import make_options

LOCKOUT_10 = "lockout: {failures: 10, windowSeconds: 300, key: socket, close: 1008}"


def pitchey_with(lockout: str):
    text = default_contract().text
    assert LOCKOUT_10 in text
    return contract_from_text(text.replace(LOCKOUT_10, lockout), name="pitchey-lockout")


def test_the_contracts_threshold_is_the_default_and_the_option_overrides_it():
    three = pitchey_with("lockout: {failures: 3, windowSeconds: 300, key: socket, close: 1008}")
    for suite in ("quick", "full"):
        assert make_options(suite, contract=three).lockout_attempts == 3
        assert make_options(suite, contract=three, lockout_attempts=7).lockout_attempts == 7
        assert make_options(suite, contract=default_contract()).lockout_attempts == 10


async def test_lockout_probes_send_the_contracts_number_of_failures(make_server, run_one):
    # a service locking out after 3 failures, as its contract says: judged with 3 failures
    three = pitchey_with("lockout: {failures: 3, windowSeconds: 300, key: socket, close: 1008}")
    srv = await make_server(lockout_threshold=3)
    rec = await run_one("resilience.lockout_per_address", srv, contract=three)
    assert (rec["outcome"], rec["reason"]) == ("pass", "ok"), rec["detail"]
    # the same contract against a service that needs 10: 3 failures lock nobody out
    srv = await make_server()
    rec = await run_one("readiness.lockout_spoofing", srv, contract=three)
    assert (rec["outcome"], rec["reason"]) == ("fail", "no_lockout"), rec["detail"]
    assert rec["detail"].startswith("3 failed"), rec["detail"]
    # the option overrides the contract
    rec = await run_one("readiness.lockout_spoofing", srv, contract=three, options={"lockout_attempts": 10})
    assert (rec["outcome"], rec["reason"]) == ("pass", "ok"), rec["detail"]


async def test_a_forwarded_key_is_not_judged_for_spoofing(server, run_one):
    fwd = pitchey_with("lockout: {failures: 10, windowSeconds: 300, key: forwarded, close: 1008}")
    rec = await run_one("readiness.lockout_spoofing", server, contract=fwd)
    assert (rec["outcome"], rec["reason"]) == ("skip", "forwarded_key")


async def test_failures_slower_than_the_window_are_no_evidence(make_server, run_one):
    tiny = pitchey_with("lockout: {failures: 10, windowSeconds: 0.001, key: socket, close: 1008}")
    srv = await make_server(disable=["lockout"])
    rec = await run_one("resilience.lockout_per_address", srv, contract=tiny)
    assert (rec["outcome"], rec["reason"]) == ("skip", "window_exceeded"), rec["detail"]
