"""Readiness probes: health and stats endpoints, TLS, headers, limits, leaks."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from .base import ProbeContext, Result, probe
from .common import has_fields, http, login
from .flow import timed_connect
from .session import ProbeSession, first_frame_observer

SECURITY_HEADERS = ("X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy", "Content-Security-Policy")
STACK_MARKERS = ("Traceback (most recent call last)", 'File "', "    at ", "Exception in")


async def _health_connections(ctx: ProbeContext) -> tuple[int | None, dict]:
    ans = await http(ctx, "GET", "/api/ws/health")
    return ans.field("data", "websocket", "connections"), {"status": ans.status, "body": ans.body}


@probe("readiness.health_live", category="readiness", critical=False,
       expected="/api/ws/health has status, ISO timestamp, uptime_s and websocket{enabled, endpoint, connections}, and its connection count moves when clients connect")
async def health_live(ctx: ProbeContext) -> Result:
    before, obs = await _health_connections(ctx)
    data = (obs["body"] or {}).get("data") if isinstance(obs["body"], dict) else None
    bad = has_fields(data, {"status": str, "timestamp": str, "uptime_s": (int, float), "websocket": dict})
    if obs["status"] != 200 or bad:
        return Result.fail("wrong_answer", f"ws health answered {obs['status']} lacking {bad}", obs)
    sessions = []
    try:
        for _ in range(3):
            s = await ProbeSession.open(ctx, trace=False)
            await s.expect_type("connected", timeout=ctx.options.timeout_s)
            sessions.append(s)
        after, obs2 = await _health_connections(ctx)
    finally:
        await asyncio.gather(*(s.close() for s in sessions))
    o = {"connections_before": before, "connections_with_3_more": after}
    if not isinstance(before, int) or not isinstance(after, int) or after - before < 3:
        return Result.fail("static_health", "the health connection count did not move with 3 more clients", o)
    return Result.ok("live figures", o)


@probe("readiness.health_endpoint", category="readiness", critical=False,
       expected="/api/ws/health names the WebSocket endpoint really served (host, port, path)")
async def health_endpoint(ctx: ProbeContext) -> Result:
    ans = await http(ctx, "GET", "/api/ws/health")
    endpoint = ans.field("data", "websocket", "endpoint")
    want, got = urlsplit(ctx.ws_url), urlsplit(endpoint or "")
    same = (got.hostname, got.port or (443 if got.scheme == "wss" else 80), got.path) == (want.hostname, ctx.port, want.path)
    obs = {"reported": endpoint, "served": ctx.ws_url_with()}
    if not same:
        return Result.fail("wrong_answer", f"health reports {endpoint!r}, the service is at {ctx.ws_url_with()!r}", obs)
    return Result.ok("endpoint matches", obs)


@probe("readiness.stats_requires_auth", category="readiness", critical=True,
       expected="/api/ws/stats answers 401 without a token")
async def stats_requires_auth(ctx: ProbeContext) -> Result:
    ans = await http(ctx, "GET", "/api/ws/stats")
    if ans.status != 401:
        return Result.fail("wrong_answer", f"stats without a token answered {ans.status}", {"status": ans.status})
    return Result.ok("401")


@probe("readiness.stats_non_admin", category="readiness", critical=True,
       expected="/api/ws/stats answers 403 for a non-admin user")
async def stats_non_admin(ctx: ProbeContext) -> Result:
    creds = ctx.users.get("creator") or ctx.user
    if creds is None:
        return Result.skip("no_credentials", "needs a non-admin user")
    token, ans = await login(ctx, creds)
    if token is None:
        return Result.fail("login_failed", f"login answered {ans.status}")
    got = await http(ctx, "GET", "/api/ws/stats", token=token)
    if got.status != 403:
        return Result.fail("wrong_answer", f"stats for a {creds.user_type} answered {got.status}, expected 403", {"status": got.status})
    return Result.ok("403")


@probe("readiness.stats_admin", category="readiness", critical=False, needs=("admin",),
       expected="/api/ws/stats answers 200 with connections, messages, errors, rate_limited, uptime_s for an admin")
async def stats_admin(ctx: ProbeContext) -> Result:
    if ctx.admin is None:
        return Result.skip("no_admin", "needs admin credentials")
    token, ans = await login(ctx, ctx.admin)
    if token is None:
        return Result.fail("login_failed", f"admin login answered {ans.status}")
    got = await http(ctx, "GET", "/api/ws/stats", token=token)
    data = got.field("data")
    bad = has_fields(data, {"connections": dict, "messages": dict, "errors": dict, "rate_limited": int, "uptime_s": (int, float)})
    if got.status != 200 or bad:
        return Result.fail("wrong_answer", f"stats answered {got.status}, lacking {bad}", {"status": got.status})
    return Result.ok("figures present", {"connections": data["connections"]})


@probe("readiness.security_headers", category="readiness", critical=True,
       expected="every HTTP response carries X-Content-Type-Options, X-Frame-Options, Referrer-Policy, Content-Security-Policy (and HSTS over TLS)")
async def security_headers(ctx: ProbeContext) -> Result:
    missing: dict[str, list[str]] = {}
    for path in ("/api/health", "/api/ws/health", "/no-such-route"):
        ans = await http(ctx, "GET", path)
        names = {k.lower() for k in ans.headers}
        want = SECURITY_HEADERS + (("Strict-Transport-Security",) if ctx.tls else ())
        lack = [h for h in want if h.lower() not in names]
        if lack:
            missing[path] = lack
    if missing:
        return Result.fail("missing_headers", f"security headers missing: {missing}", missing)
    return Result.ok("all present")


@probe("readiness.tls", category="readiness", critical=True, needs=("tls",),
       expected="wss:// with TLS 1.2 or newer and a certificate that verifies")
async def tls(ctx: ProbeContext) -> Result:
    if not ctx.tls:
        if ctx.loopback:
            return Result.skip("not_tls", "a ws:// target on loopback (no TLS to check)")
        return Result.fail("not_tls", "the target is served without TLS (ws://): traffic and tokens travel in clear")
    timing = await timed_connect(ctx.ws_url_with(), ssl_context=ctx.ssl_context, timeout=ctx.options.open_timeout_s, observe=first_frame_observer(ctx))
    ctx.sample("tls_handshake_ms", timing.tls_handshake_ms, t_offset_s=ctx.recorder.t_offset())
    obs = {"tls_version": timing.tls_version, "verified": ctx.ssl_context is not None and ctx.ssl_context.verify_mode != 0}
    if timing.tls_version not in ("TLSv1.2", "TLSv1.3"):
        return Result.fail("weak_tls", f"negotiated {timing.tls_version}", obs)
    if not obs["verified"]:
        return Result.fail("tls_unverified", "certificate checks were switched off (--insecure)", obs)
    return Result.ok(f"{timing.tls_version}, certificate verified", obs)


@probe("readiness.no_stack_traces", category="readiness", critical=True,
       expected="error bodies (malformed JSON, unknown route, bad login) are JSON without stack traces")
async def no_stack_traces(ctx: ProbeContext) -> Result:
    answers = [
        await http(ctx, "POST", "/api/auth/creator/login", data="{not json", headers={"Content-Type": "application/json"}),
        await http(ctx, "GET", "/no-such-route"),
        await http(ctx, "POST", "/api/auth/creator/login", json_body={"email": "x@y.invalid"}),
    ]
    for a in answers:
        if any(m in a.text for m in STACK_MARKERS):
            return Result.fail("stack_trace", f"an HTTP {a.status} body holds a stack trace", {"status": a.status, "excerpt": a.text[:200]})
        if a.body is None:
            return Result.fail("wrong_answer", f"an HTTP {a.status} error body is not JSON", {"status": a.status, "excerpt": a.text[:120]})
    return Result.ok("clean JSON errors", [a.status for a in answers])


@probe("readiness.rate_limit", category="readiness", critical=True,
       expected="a burst beyond the limit gets error rate_limited frames, then close 1008")
async def rate_limit(ctx: ProbeContext) -> Result:
    n = ctx.options.burst_size
    async with await ProbeSession.open(ctx, trace=False) as s:
        await s.expect_type("connected", timeout=ctx.options.timeout_s)
        for i in range(n):
            if s.closed:
                break
            try:
                await s.send({"type": "ping", "id": f"b{i}"})
            except Exception:
                break
        closed = await s.wait_closed(ctx.options.timeout_s)
        code = s.close_code if closed else None
        limited = [f for _, f in s.frames if f.get("type") == "error"]
    codes = sorted({str(f.get("code") or f.get("payload")) for f in limited})
    obs = {"sent": n, "errors": len(limited), "codes": codes, "close": code}
    if code != 1008:
        reason = "no_close" if limited else "no_rate_limit"
        return Result.fail(reason, f"{n} messages in a burst: {len(limited)} error frames and no close 1008", obs, close_code=code)
    if not any(f.get("code") == "rate_limited" for f in limited):
        return Result.fail("wrong_answer", "closed 1008 without error frames coded rate_limited first", obs, close_code=1008)
    return Result.ok(f"{len(limited)} rate_limited errors, then 1008", obs, close_code=1008)


@probe("readiness.origin_check", category="readiness", critical=True,
       expected="an upgrade from a foreign Origin is refused with HTTP 403")
async def origin_check(ctx: ProbeContext) -> Result:
    from websockets.exceptions import InvalidStatus

    try:
        s = await ProbeSession.open(ctx, headers={"Origin": "https://evil.example.invalid"})
    except InvalidStatus as exc:
        status = exc.response.status_code
        if status == 403:
            return Result.ok("403")
        return Result.fail("wrong_answer", f"foreign origin answered {status}", {"status": status})
    await s.close()
    return Result.fail("origin_accepted", "an upgrade from a foreign origin was accepted")


@probe("readiness.size_limit", category="readiness", critical=True,
       expected="a 70 KiB message closes the connection with 1009")
async def size_limit(ctx: ProbeContext) -> Result:
    async with await ProbeSession.open(ctx, trace=False) as s:
        await s.expect_type("connected", timeout=ctx.options.timeout_s)
        try:
            await s.send('{"type":"ping","pad":"' + "x" * (70 * 1024) + '"}')
        except Exception:
            pass
        closed = await s.wait_closed(ctx.options.timeout_s)
        code = s.close_code if closed else None
    if code != 1009:
        return Result.fail("no_close" if code is None else f"closed_{code}",
                           f"a 70 KiB message gave {'no close' if code is None else code}", close_code=code)
    return Result.ok("1009", close_code=1009)


@probe("readiness.invalid_utf8", category="readiness", critical=False,
       expected="a text frame with invalid UTF-8 closes the connection with 1007")
async def invalid_utf8(ctx: ProbeContext) -> Result:
    from websockets.frames import Frame, Opcode

    async with await ProbeSession.open(ctx, trace=False) as s:
        await s.expect_type("connected", timeout=ctx.options.timeout_s)
        # RFC 6455 §8.1: the endpoint must fail the connection (1007).
        s.conn.protocol.send_frame(Frame(Opcode.TEXT, b'{"type":"ping","x":"\xff\xfe"}'))
        s.conn.send_data()
        closed = await s.wait_closed(ctx.options.timeout_s)
        code = s.close_code if closed else None
    if code != 1007:
        return Result.fail("no_close" if code is None else f"closed_{code}", f"invalid UTF-8 gave {code or 'no close'}",
                           close_code=code)
    return Result.ok("1007", close_code=1007)


@probe("readiness.session_leak", category="readiness", critical=False,
       expected="the server's session count returns to its baseline after clients leave, even right after the upgrade")
async def session_leak(ctx: ProbeContext) -> Result:
    admin_token = None
    if ctx.admin is not None:
        admin_token, _ = await login(ctx, ctx.admin)

    async def count() -> int | None:
        if admin_token:
            return (await http(ctx, "GET", "/api/ws/stats", token=admin_token)).field("data", "connections", "total")
        return (await http(ctx, "GET", "/api/ws/health")).field("data", "websocket", "connections")

    if ctx.user is None:
        return Result.skip("no_credentials", "needs a user to open authenticated sessions")
    token, _ = await login(ctx, ctx.user)
    base = await count()
    for _ in range(5):
        s = await ProbeSession.open(ctx, token=token, trace=False)
        await s.conn.close()  # leave at once, while the server may still be setting the session up
        await s.close()
    for _ in range(20):
        await asyncio.sleep(0.1)
        now = await count()
        if now == base:
            return Result.ok("back to baseline", {"baseline": base, "after": now})
    if not isinstance(base, int):
        return Result.skip("no_figures", "the target reports no session count")
    return Result.fail("session_leak", f"session count {now} after clients left (baseline {base})", {"baseline": base, "after": now})


async def _fail_auth(ctx: ProbeContext, n: int, local: str, headers: dict[str, str] | None = None) -> None:
    """``n`` upgrades with an invalid token from ``local``."""
    for _ in range(n):
        async with await ProbeSession.open(ctx, token="bad-token", local_addr=local, trace=False, headers=headers) as s:
            await s.expect_type("connected", timeout=ctx.options.timeout_s)


async def _locked(ctx: ProbeContext, local: str, headers: dict[str, str] | None = None) -> tuple[bool, int | None]:
    """Whether a client from ``local`` is turned away with 1008."""
    s = await ProbeSession.open(ctx, local_addr=local, trace=False, headers=headers)
    await s.expect_type("connected", timeout=ctx.options.timeout_s)
    await s.wait_closed(max(0.5, ctx.options.quiet_window_s * 2))
    await s.close()
    return (s.close_code == 1008 and s.close_reason != "Rate limit exceeded"), s.close_code


@probe("readiness.lockout_spoofing", category="readiness", critical=True, disruptive=True, needs=("loopback",), last=True,
       expected="the failed-authentication lockout follows the socket address: X-Forwarded-For neither evades it nor aims it at another client")
async def lockout_spoofing(ctx: ProbeContext) -> Result:
    a1, a2, a3 = ctx.scratch_address(), ctx.scratch_address(), ctx.scratch_address()
    if a1 is None or a2 is None or a3 is None:
        return Result.skip("not_loopback", "needs several loopback source addresses")
    n = ctx.options.lockout_attempts
    # Evasion: lock a1 out, then come back from a1 claiming another address.
    await _fail_auth(ctx, n, a1)
    plain_locked, plain_code = await _locked(ctx, a1)
    if not plain_locked:
        return Result.fail("no_lockout", f"{n} failed authentications from {a1} did not lock it out", {"close": plain_code})
    evaded_locked, evaded_code = await _locked(ctx, a1, {"X-Forwarded-For": "198.51.100.77", "X-Real-IP": "198.51.100.77"})
    if not evaded_locked:
        return Result.fail("spoofable_lockout", "a locked-out address got in again by sending another X-Forwarded-For",
                           {"plain": plain_code, "with_header": evaded_code})
    # Aiming: failures from a3 that claim to come from a2 must not lock a2 out.
    await _fail_auth(ctx, n, a3, {"X-Forwarded-For": a2, "X-Real-IP": a2})
    victim_locked, victim_code = await _locked(ctx, a2)
    if victim_locked:
        return Result.fail("spoofable_lockout", "failures claimed in X-Forwarded-For locked another client out",
                           {"victim_close": victim_code}, close_code=victim_code)
    return Result.ok("lockout keyed by the socket address", {"plain": plain_code, "with_header": evaded_code, "victim": victim_code})
