"""Probes whose failing case needs more than a server switch."""

from __future__ import annotations

from pitchey_analysis.probes import CATALOGUE
from tests.probes.badserver import BadServer, connected_then_silent


async def test_tls_probe_passes_on_verified_wss_and_fails_when_unverified(make_server, run_one):
    import ssl

    srv = await make_server(tls=True)
    rec = await run_one("readiness.tls", srv)
    assert (rec["outcome"], rec["reason"]) == ("pass", "ok")
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    rec = await run_one("readiness.tls", srv, ssl_context=insecure)
    assert (rec["outcome"], rec["reason"]) == ("fail", "tls_unverified")


async def test_tls_probe_skips_plain_loopback(server, run_one):
    rec = await run_one("readiness.tls", server)
    assert (rec["outcome"], rec["reason"]) == ("skip", "not_tls")


async def test_invalid_utf8_probe(server, run_one):
    rec = await run_one("readiness.invalid_utf8", server)
    assert (rec["outcome"], rec["reason"], rec["close_code"]) == ("pass", "ok", 1007)

    async with BadServer(connected_then_silent) as b:
        rec = await run_one("readiness.invalid_utf8", b)
    assert (rec["outcome"], rec["reason"]) == ("fail", "no_close")


async def test_our_client_times_out_an_unanswered_upgrade(server, run_one):
    """The suite's own client gives up on an upgrade that is never answered, within its open timeout."""
    import time

    from pitchey_analysis.probes.base import Options, ProbeContext
    from pitchey_analysis.probes.session import ProbeSession

    async with BadServer(upgrade="never") as b:
        ctx = ProbeContext(ws_url=b.ws_url, http_url=b.http_url, recorder=None, options=Options(open_timeout_s=0.5))
        t0 = time.perf_counter()
        try:
            await ProbeSession.open(ctx)
            raise AssertionError("the upgrade completed?")
        except TimeoutError:
            pass
        assert time.perf_counter() - t0 < 1.5


async def test_handshake_timeout_is_judged_against_the_target(make_server, run_one):
    """A half-sent upgrade held open by the target fails; one the target drops passes; a silent target never passes."""
    srv = await make_server(handshake_timeout=0.3)
    rec = await run_one("resilience.handshake_timeout", srv)
    assert rec["outcome"] == "pass", rec
    srv = await make_server(disable=["handshake_timeout"])
    rec = await run_one("resilience.handshake_timeout", srv)
    assert (rec["outcome"], rec["reason"]) == ("fail", "slowloris_held")

    async with BadServer(upgrade="never") as b:
        rec = await run_one("resilience.handshake_timeout", b)
    assert rec["outcome"] != "pass"
    assert "resilience.handshake_timeout" in CATALOGUE


async def test_no_stack_traces_never_passes_without_error_answers(run_one):
    """A target whose WebSocket side answers nothing gives no error answer to inspect: skip, never pass."""
    async with BadServer(connected_then_silent) as b:
        rec = await run_one("readiness.no_stack_traces", b, options={"timeout_s": 0.3})
    assert (rec["outcome"], rec["reason"]) == ("skip", "no_error_answer"), rec
