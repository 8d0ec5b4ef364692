"""Probes whose failing case needs more than a server switch."""

from __future__ import annotations

import asyncio

from pitchey_analysis.probes import CATALOGUE
from pitchey_analysis.probes.resilience import handshake_timeout
from tests.probes.badserver import CONNECTED, BadServer, read_frame, text


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

    async def tolerant(reader, writer):  # a server that never checks UTF-8
        writer.write(text(CONNECTED))
        await writer.drain()
        while True:
            op, _ = await read_frame(reader)
            if op == 0x8:
                return

    async with BadServer(tolerant) as b:
        rec = await run_one("readiness.invalid_utf8", b)
    assert (rec["outcome"], rec["reason"]) == ("fail", "no_close")


async def test_handshake_timeout_probe(server, run_one):
    rec = await run_one("resilience.handshake_timeout", server)
    assert rec["outcome"] == "pass"

    from pitchey_analysis.probes.base import Options, ProbeContext

    class NullRec:
        def t_offset(self):
            return 0.0

    ctx = ProbeContext(ws_url=server.ws_url, http_url=server.http_url, recorder=NullRec(), options=Options(handshake_bound_s=0.5))

    class Srv:
        def close(self):
            pass

        async def wait_closed(self):
            pass

    async def listener():  # the target itself: the upgrade completes, so the probe must fail
        return Srv(), server.port, []

    r = await asyncio.wait_for(handshake_timeout(ctx, listener=listener), 10)
    assert (r.outcome, r.reason) == ("fail", "no_timeout")
    assert "resilience.handshake_timeout" in CATALOGUE
