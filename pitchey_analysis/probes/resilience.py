"""Resilience probes: close handshake, server pings, reconnects, timeouts, bad input, lockout."""

from __future__ import annotations

import asyncio
import socket
import time

from .base import ProbeContext, Result, classify, probe
from .session import ProbeSession


@probe("resilience.graceful_close", category="resilience", critical=False,
       expected="a client close 1000 is answered by the server's close 1000 (RFC 6455 §5.5.1)")
async def graceful_close(ctx: ProbeContext) -> Result:
    s = await ProbeSession.open(ctx)
    await s.expect_type("connected", timeout=ctx.options.timeout_s)
    await s.close(1000, "bye")
    rcvd = s.conn.protocol.close_rcvd
    code = rcvd.code if rcvd else None
    if code != 1000:
        return Result.fail("wrong_close", f"server answered the close with {code}", close_code=code,
                           close_reason=rcvd.reason if rcvd else None)
    return Result.ok("1000 answered", close_code=1000)


@probe("resilience.server_ping", category="resilience", critical=False, quick=False,
       expected="the server sends WebSocket ping control frames at its interval (RFC 6455 §5.5.2), which the client answers")
async def server_ping(ctx: ProbeContext) -> Result:
    async with await ProbeSession.open(ctx) as s:
        await s.expect_type("connected", timeout=ctx.options.timeout_s)
        deadline = time.monotonic() + ctx.options.server_ping_wait_s
        json_ping = None
        while time.monotonic() < deadline and not s.pings and not s.closed:
            json_ping = await s.expect_type("ping", timeout=min(0.5, max(0.01, deadline - time.monotonic())))
            if json_ping is not None:
                break
        obs = {"control_pings": len(s.pings), "json_ping": json_ping is not None}
        closed, code = s.closed, s.close_code
        if s.pings:
            return Result.ok(f"ping control frame after {s.pings[0] / 1000:.1f} s; answered by the client", obs)
    if json_ping is not None:
        return Result.fail("json_heartbeat", "the server's heartbeat is a JSON {type:'ping'} message, not a ping control frame", obs)
    if closed:
        return Result.fail(f"closed_{code}", "the connection closed while waiting", obs, close_code=code)
    return Result.fail("no_ping", f"no server ping within {ctx.options.server_ping_wait_s:.0f} s", obs)


@probe("resilience.reconnect", category="resilience", critical=True,
       expected="after a dropped connection a client reconnects (backoff with jitter) and gets 'connected' again; time measured")
async def reconnect(ctx: ProbeContext) -> Result:
    import random

    rng = random.Random(ctx.options.seed)
    times = []
    for i in range(ctx.options.reconnect_samples):
        s = await ProbeSession.open(ctx, trace=i == 0)
        await s.expect_type("connected", timeout=ctx.options.timeout_s)
        t_off = ctx.recorder.t_offset()
        s.conn.transport.abort()  # the network drops the connection
        await s.close()
        t0 = time.perf_counter()
        last: Result | None = None
        for attempt in range(5):
            await asyncio.sleep(rng.uniform(0, 0.05 * 2**attempt))  # full jitter
            try:
                s2 = await ProbeSession.open(ctx, trace=False)
                first = await s2.expect_type("connected", timeout=ctx.options.timeout_s)
                await s2.close()
                if first is not None:
                    last = None
                    break
                last = Result.fail("no_answer", "no connected frame after reconnecting", close_code=s2.close_code)
            except Exception as exc:
                last = classify(exc)
        if last is not None:
            ctx.sample("reconnect_ms", None, t_offset_s=t_off, conn_index=i, ok=False)
            last.detail = f"reconnect {i + 1} failed after 5 attempts: {last.detail}"
            return last
        ms = (time.perf_counter() - t0) * 1000
        times.append(ms)
        ctx.sample("reconnect_ms", ms, t_offset_s=t_off, conn_index=i)
    return Result.ok(f"{len(times)} reconnects, slowest {max(times):.1f} ms", {"reconnect_ms": [round(t, 2) for t in times]})


async def _silent_listener() -> tuple[asyncio.AbstractServer, int, list]:
    """A loopback listener that accepts TCP and never answers the upgrade."""
    held: list = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        try:
            await reader.read(65536)  # read the request, answer nothing
            await asyncio.sleep(3600)
        except (asyncio.CancelledError, ConnectionError):
            pass

    server = await asyncio.start_server(handle, "127.0.0.1", 0, family=socket.AF_INET)
    return server, server.sockets[0].getsockname()[1], held


@probe("resilience.handshake_timeout", category="resilience", critical=False,
       expected="an upgrade that is never answered ends in a timeout within the configured bound (a loopback listener the suite starts)")
async def handshake_timeout(ctx: ProbeContext, *, listener=_silent_listener) -> Result:  # type: ignore[no-untyped-def]
    from websockets.asyncio.client import connect

    bound = ctx.options.handshake_bound_s
    server, port, held = await listener()
    t0 = time.perf_counter()
    try:
        try:
            conn = await asyncio.wait_for(connect(f"ws://127.0.0.1:{port}/ws", open_timeout=bound), bound * 3)
            await conn.close()
            return Result.fail("no_timeout", "the silent listener's upgrade completed?", {"elapsed_ms": (time.perf_counter() - t0) * 1000})
        except TimeoutError:
            elapsed = time.perf_counter() - t0
        except Exception as exc:
            r = classify(exc)
            r.detail = f"expected a timeout, got: {r.detail}"
            r.reason = "wrong_error"
            return r
    finally:
        for w in held:
            w.close()
        server.close()
        await server.wait_closed()
    obs = {"elapsed_ms": round(elapsed * 1000, 1), "bound_ms": bound * 1000}
    if elapsed > bound * 1.5:
        return Result.fail("late_timeout", f"timed out after {elapsed:.2f} s, bound {bound:.2f} s", obs)
    return Result.ok(f"timed out after {elapsed:.2f} s (bound {bound:.2f} s)", obs)


@probe("resilience.invalid_then_working", category="resilience", critical=True,
       expected="after garbage, an object without type and a binary frame, the same connection still answers a ping")
async def invalid_then_working(ctx: ProbeContext) -> Result:
    async with await ProbeSession.open(ctx) as s:
        await s.expect_type("connected", timeout=ctx.options.timeout_s)
        for bad in ("%%% garbage %%%", '{"no":"type"}', b"\x00\x01binary"):
            await s.send(bad)
        mark = s.mark()
        await s.send({"type": "ping", "id": "after-garbage"})
        pong = await s.expect_type("pong", timeout=ctx.options.timeout_s, since=mark)
        closed, code = s.closed, s.close_code
    if pong is None:
        if closed:
            return Result.fail(f"closed_{code}", f"bad input closed the connection ({code})", close_code=code)
        return Result.fail("no_answer", "no pong after bad input")
    return Result.ok("still answering")


@probe("resilience.lockout_per_address", category="resilience", critical=True, disruptive=True, needs=("loopback",), last=True,
       expected="failed authentications lock out only their own address: after 10 from one address, a good client from another is served")
async def lockout_per_address(ctx: ProbeContext) -> Result:
    bad_addr, good_addr = ctx.scratch_address(), ctx.scratch_address()
    if bad_addr is None or good_addr is None:
        return Result.skip("not_loopback", "needs several loopback source addresses")
    for _ in range(ctx.options.lockout_attempts):
        async with await ProbeSession.open(ctx, token="bad-token", local_addr=bad_addr, trace=False) as s:
            await s.expect_type("connected", timeout=ctx.options.timeout_s)
    good = await ProbeSession.open(ctx, local_addr=good_addr)
    await good.expect_type("connected", timeout=ctx.options.timeout_s)
    mark = good.mark()
    await good.send({"type": "ping", "id": "after-lockout"})
    pong = await good.expect_type("pong", timeout=ctx.options.timeout_s, since=mark)
    await good.close()
    if good.close_code == 1008 or (pong is None and good.closed):
        return Result.fail(f"closed_{good.close_code}", f"a good client from another address was closed {good.close_code} {good.close_reason!r}",
                           close_code=good.close_code, close_reason=good.close_reason)
    again = await ProbeSession.open(ctx, local_addr=bad_addr, trace=False)
    await again.expect_type("connected", timeout=ctx.options.timeout_s)
    await again.wait_closed(max(0.5, ctx.options.quiet_window_s * 2))
    await again.close()
    if again.close_code != 1008:
        return Result.fail("no_lockout", "the failing address was not locked out", {"close": again.close_code})
    return Result.ok("only the failing address is locked out")
