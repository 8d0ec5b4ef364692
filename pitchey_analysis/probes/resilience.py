"""Resilience probes: close handshake, server pings, reconnects, timeouts, bad input, lockout."""

from __future__ import annotations

import asyncio
import ssl
import time
from urllib.parse import urlsplit

from websockets.exceptions import ConnectionClosed

from .base import ProbeContext, Result, classify, probe
from .common import heartbeat_kinds, round_trip
from .session import ProbeSession
from .vocabulary import ROUND_TRIP_ANSWER


@probe(
    "resilience.graceful_close",
    runs="together",
    category="resilience",
    critical=False,
    evidence=("close_answer",),
    expected="a client close 1000 is answered by the server's close 1000 (RFC 6455 §5.5.1)",
)
async def graceful_close(ctx: ProbeContext) -> Result:
    s = await ProbeSession.open(ctx)
    await s.connected()
    if s.closed:  # the target closed first: there is no answer to our close to judge
        return Result.closed(s.close_code, s.close_reason, "closed before the client's close")
    await s.close(1000, "bye")
    rcvd = s.conn.protocol.close_rcvd
    code = rcvd.code if rcvd else None
    if code != 1000:
        return Result.fail(
            "wrong_close",
            f"server answered the close with {code}",
            close_code=code,
            close_reason=rcvd.reason if rcvd else None,
        )
    return Result.ok("1000 answered", {"close_answer": code}, close_code=1000)


@probe(
    "resilience.server_ping",
    runs="hold",
    waits="server_ping_wait_s",
    category="resilience",
    critical=False,
    quick=False,
    evidence=("control_pings",),
    expected="the server sends WebSocket ping control frames at its interval (RFC 6455 §5.5.2), which the client "
    "answers",
)
async def server_ping(ctx: ProbeContext) -> Result:
    # The outcome depends only on whether a ping *control frame* arrives within the
    # bound; JSON heartbeats are recorded beside it, whatever the order of arrival.
    async with await ProbeSession.open(ctx) as s:
        await s.connected()
        deadline = time.monotonic() + ctx.options.server_ping_wait_s
        while time.monotonic() < deadline and not s.pings and not s.closed:
            await s.expect(lambda f: False, min(0.25, max(0.01, deadline - time.monotonic())))
        beats = heartbeat_kinds(ctx.contract)
        json_pings = [t for t, f in s.frames if ctx.contract.kind_of(f) in beats]
        obs = {
            "control_pings": s.ping_count,
            "first_control_ping_s": round(s.pings[0] / 1000, 3) if s.pings else None,
            "json_heartbeats": len(json_pings),
            "bound_s": round(ctx.options.server_ping_wait_s, 2),
        }
        closed, code, reason = s.closed, s.close_code, s.close_reason
    if obs["control_pings"]:
        return Result.ok(f"ping control frame after {obs['first_control_ping_s']:.1f} s; answered by the client", obs)
    if closed:
        return Result.closed(code, reason, "the connection closed while waiting for a server ping", obs)
    if json_pings:
        return Result.fail(
            "json_heartbeat",
            f"the server's heartbeat is a JSON {'/'.join(sorted(beats))} message, not a ping control frame",
            obs,
        )
    return Result.fail("no_ping", f"no server ping within {ctx.options.server_ping_wait_s:.0f} s", obs)


@probe(
    "resilience.reconnect",
    runs="together",
    category="resilience",
    critical=True,
    evidence=("reconnect_ms",),
    expected="after a dropped connection a client reconnects (backoff with jitter) and gets 'connected' again; time "
    "measured",
)
async def reconnect(ctx: ProbeContext) -> Result:
    import random

    rng = random.Random(ctx.options.seed)
    times = []
    for i in range(ctx.options.reconnect_samples):
        s = await ProbeSession.open(ctx, trace=i == 0)
        await s.connected()
        t_off = ctx.recorder.t_offset()
        s.conn.transport.abort()  # the network drops the connection
        await s.close()
        t0 = time.perf_counter()
        last: Result | None = None
        for attempt in range(5):
            await asyncio.sleep(rng.uniform(0, 0.05 * 2**attempt))  # full jitter
            try:
                s2 = await ProbeSession.open(ctx, trace=False)
                first = await s2.begun()
                if first is not None:
                    await s2.wait_closed(ctx.quiet(ctx.options.settle_s))  # a reconnect closed at once is no reconnect
                await s2.close()
                if first is not None and not s2.closed_by_target:
                    last = None
                    break
                if s2.closed_by_target:
                    last = Result.closed(s2.close_code, s2.close_reason, "the reconnected session was closed")
                else:
                    last = Result.fail("no_answer", f"no {ctx.first_frame_word} frame after reconnecting")
            except Exception as exc:
                last = classify(exc)
        if last is not None:
            ctx.sample("reconnect_ms", None, t_offset_s=t_off, conn_index=i, ok=False)
            last.detail = f"reconnect {i + 1} failed after 5 attempts: {last.detail}"
            return last
        ms = (time.perf_counter() - t0) * 1000
        times.append(ms)
        ctx.sample("reconnect_ms", ms, t_offset_s=t_off, conn_index=i)
    return Result.ok(
        f"{len(times)} reconnects, slowest {max(times):.1f} ms", {"reconnect_ms": [round(t, 2) for t in times]}
    )


async def _half_upgrade(ctx: ProbeContext) -> tuple[float | None, str]:
    """Open TCP (and TLS) to the target, send half an upgrade request and hold it.

    Returns (seconds until the target dropped or answered it, or None if it held
    the connection past the bound; what it did).
    """
    bound = ctx.options.handshake_bound_s
    parts = urlsplit(ctx.ws_url)
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(
            ctx.host, ctx.port, ssl=ctx.ssl_context if ctx.tls else None, server_hostname=ctx.host if ctx.tls else None
        ),
        ctx.options.open_timeout_s,
    )
    try:
        # RFC 9112 §2.1: the head ends with an empty line; this one never does.
        writer.write(
            f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\n".encode()
        )
        await writer.drain()
        t0 = time.perf_counter()
        try:
            data = await asyncio.wait_for(reader.read(4096), bound)
        except TimeoutError:
            return None, "held the connection open"
        except (OSError, ssl.SSLError) as exc:
            return time.perf_counter() - t0, f"reset ({type(exc).__name__})"
        status_line = data.split(b"\r\n", 1)[0].decode(errors="replace")[:60]
        what = f"answered {status_line!r}" if data else "closed the connection"
        return time.perf_counter() - t0, what
    finally:
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), 1.0)
        except (TimeoutError, OSError, ssl.SSLError):
            pass


@probe(
    "resilience.handshake_timeout",
    runs="together",
    waits="handshake_bound_s",
    category="resilience",
    critical=False,
    evidence=("target",),
    expected="a client that sends half an upgrade request and stalls is dropped by the target within the bound "
    "(slow-loris protection)",
)
async def handshake_timeout(ctx: ProbeContext) -> Result:
    # Control: a complete upgrade is served, so a drop of the half one is the target's choice.
    s = await ProbeSession.open(ctx, trace=False)
    await s.close()
    bound = ctx.options.handshake_bound_s
    elapsed, what = await _half_upgrade(ctx)
    obs = {"bound_s": round(bound, 2), "elapsed_s": None if elapsed is None else round(elapsed, 3), "target": what}
    if elapsed is None:
        return Result.fail("slowloris_held", f"the target held a half-sent upgrade request open for {bound:.1f} s", obs)
    return Result.ok(f"the target {what} after {elapsed:.2f} s (bound {bound:.1f} s)", obs)


@probe(
    "resilience.invalid_then_working",
    category="resilience",
    critical=True,
    evidence=(ROUND_TRIP_ANSWER,),
    expected="after garbage, an object without type and a binary frame, the same connection still answers a ping",
)
async def invalid_then_working(ctx: ProbeContext) -> Result:
    # bad input the service answers by closing on purpose: then a new session must work
    declared = {k: v for k, v in ctx.contract.closes.items() if k in ("invalidJson", "untyped", "binary")}
    sent = 0
    async with await ProbeSession.open(ctx) as s:
        await s.connected()
        for what, bad in (
            ("invalidJson", "%%% garbage %%%"),
            ("untyped", '{"no":"type"}'),
            ("binary", b"\x00\x01binary"),
        ):
            try:
                await s.send(bad)
            except ConnectionClosed:
                break
            sent += 1
            if what in declared:
                await s.wait_closed(ctx.quiet(ctx.options.settle_s))
            if s.closed:
                break
        mark = s.mark()
        rt = round_trip(ctx, "after-garbage")
        assert rt is not None  # REQUIRES: roundTrip
        if not s.closed:
            try:
                await s.send(rt[0])
            except ConnectionClosed:
                pass
        # its id, where the contract correlates answers
        pong = await s.expect_answer({rt[1]}, ctx.options.timeout_s, since=mark, errors=False) if not s.closed else None
        closed, code, stray = s.closed, s.close_code, s.stray_answer({rt[1]}, mark)
    if pong is None and closed and code is not None and code in declared.values():
        # closed as the contract declares for bad input: the service must still serve a new session
        async with await ProbeSession.open(ctx) as again:
            await again.connected()
            rt = round_trip(ctx, "after-declared-close")
            assert rt is not None
            m = again.mark()
            await again.send(rt[0])
            pong = await again.expect_answer({rt[1]}, ctx.options.timeout_s, since=m, errors=False)
        obs = {ROUND_TRIP_ANSWER: pong, "bad_inputs_sent": sent, "close_code": code}
        if pong is None:
            return Result.fail(
                "no_answer",
                f"bad input closed the session {code} as the contract declares, but a new session got no answer",
                obs,
            )
        return Result.ok(f"bad input closed the session {code} as the contract declares; a new session answers", obs)
    if pong is None:
        if closed:
            return Result.fail(f"closed_{code}", f"bad input closed the connection ({code})", close_code=code)
        if stray is not None:
            return Result.fail(
                "wrong_answer",
                f"the {ctx.round_trip_words[0]} after bad input was answered with another id",
                {"answer": stray},
            )
        return Result.fail("no_answer", f"no {ctx.round_trip_words[1]} after bad input")
    return Result.ok("still answering", {ROUND_TRIP_ANSWER: pong, "bad_inputs_sent": sent})


@probe(
    "resilience.lockout_per_address",
    runs="together",
    leaves=("lockout",),
    category="resilience",
    critical=True,
    disruptive=True,
    needs=("loopback",),
    last=True,
    evidence=("triggered_by", "good_client"),
    expected="failed authentications (invalid tokens, failed session set-ups) lock out only their own address: a "
    "good client from another is served",
)
async def lockout_per_address(ctx: ProbeContext) -> Result:
    from .readiness import NoAnswer, claimed_from, is_locked, lock_out, lockout_sequence, too_slow

    good_addr = ctx.scratch_address()
    if good_addr is None:
        return Result.skip("not_loopback", "needs several loopback source addresses")
    # the baseline: a client from an address that never failed is served before this probe's own failures; a
    # lockout standing already (left by failures from other addresses, e.g. an earlier probe's) covers it too
    standing, code = await is_locked(ctx, good_addr, claimed_from(ctx, good_addr))
    if standing:
        return Result.fail(
            f"closed_{code}",
            f"a client from an address that never failed was turned away ({code}) before "
            "this probe's own failures: a lockout left by failures from other addresses covers every client",
            {"good_client": code, "sequence": "none of this probe's: the lockout was standing"},
            close_code=code,
        )
    try:
        kind, _bad, seen, took = await lock_out(ctx)
    except NoAnswer as exc:
        return Result.skip("no_answer", f"{exc}: no lockout to judge")
    good = await ProbeSession.open(ctx, local_addr=good_addr, headers=claimed_from(ctx, good_addr))
    await good.begun()
    mark = good.mark()
    rt = round_trip(ctx, "after-lockout")
    assert rt is not None  # REQUIRES: roundTrip
    try:
        await good.send(rt[0])
    except Exception:
        pass  # closed under us: judged below from the close
    pong = await good.expect_answer({rt[1]}, ctx.options.timeout_s, since=mark, errors=False)
    await good.close()
    obs = {
        "triggered_by": kind,
        "tried": seen,
        "sequence": lockout_sequence(ctx, seen),
        "good_client": "served" if pong is not None else good.close_code,
    }
    if good.close_code == 1008 or (pong is None and good.closed):
        return Result.fail(
            f"closed_{good.close_code}",
            f"a good client from another address was closed {good.close_code} "
            f"{good.close_reason!r} after failures ({kind or ', '.join(seen)}) elsewhere",
            obs,
            close_code=good.close_code,
            close_reason=good.close_reason,
        )
    if kind is None:
        if (slow := too_slow(ctx, took)) is not None:
            return slow
        return Result.fail(
            "no_lockout",
            f"{ctx.lockout_attempts} failures of each kind ({', '.join(seen)}) did not lock their address out",
            obs,
        )
    if pong is None:
        return Result.fail("no_answer", f"the good client from another address got no {ctx.round_trip_words[1]}", obs)
    return Result.ok(f"only the failing address is locked out (triggered by {kind})", obs)
