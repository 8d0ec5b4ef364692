"""Readiness probes: health and stats endpoints, TLS, headers, limits, leaks."""

from __future__ import annotations

import asyncio
import copy
import json
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from websockets.exceptions import InvalidStatus

from ..contract import pointer_get
from ..contract.wire import set_pointer
from .base import Evidence, ProbeContext, Result, is_lockout_close, probe
from .common import (
    HttpAnswer,
    any_request,
    claim,
    every_credential,
    has_fields,
    http,
    login,
    login_refused,
    round_trip,
    signed_token,
)
from .flow import timed_connect
from .leaks import find_leak
from .session import ProbeSession, first_frame_observer
from .windows import MIN_INTERVAL_S, MIN_QUIET_S, Series, poll, quiet_window

SECURITY_HEADERS = ("X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy", "Content-Security-Policy")


def _endpoint(ctx: ProbeContext, name: str, default: str) -> dict[str, Any]:
    """An endpoint of the contract (``x-readiness.endpoints``)."""
    return ctx.contract.endpoint(name) or {"path": default}


async def _health_connections(ctx: ProbeContext) -> tuple[int | None, dict[str, Any]]:
    ep = _endpoint(ctx, "wsHealth", "/api/ws/health")
    ans = await http(ctx, "GET", ep["path"])
    return pointer_get(ans.body, ep.get("connections")), {"status": ans.status, "body": ans.body}


@probe(
    "readiness.health_live",
    runs="figures",
    category="readiness",
    critical=False,
    evidence=("connections_with_3_more",),
    expected="the WebSocket health endpoint (endpoints.wsHealth) answers 200 with the figures its contract points at "
    "(status, a connection count), and its connection count moves when clients connect",
)
async def health_live(ctx: ProbeContext) -> Result:
    before, obs = await _health_connections(ctx)
    # the figures the contract points at, not one service's layout of its health answer
    ep = _endpoint(ctx, "wsHealth", "/api/ws/health")
    bad = [
        f"{k} at {ep[k]}"
        for k in ("status", "connections")
        if isinstance(ep.get(k), str) and pointer_get(obs["body"], ep[k]) is None
    ]
    if not bad and (not isinstance(before, int) or isinstance(before, bool)):
        bad = [f"an integer connection count at {ep.get('connections')}"]
    if obs["status"] != 200 or bad:
        return Result.fail("wrong_answer", f"ws health answered {obs['status']} lacking {bad}", obs)
    sessions = []
    try:
        for _ in range(3):
            s = await ProbeSession.open(ctx, trace=False)
            await s.connected()
            sessions.append(s)
        after, obs2 = await _health_connections(ctx)
    finally:
        await asyncio.gather(*(s.close() for s in sessions))
    o = {"connections_before": before, "connections_with_3_more": after}
    if not isinstance(before, int) or not isinstance(after, int) or after - before < 3:
        return Result.fail("static_health", "the health connection count did not move with 3 more clients", o)
    return Result.ok("live figures", o)


@probe(
    "readiness.health_endpoint",
    runs="together",
    category="readiness",
    critical=False,
    evidence=("reported",),
    expected="/api/ws/health names the WebSocket endpoint really served (host, port, path)",
)
async def health_endpoint(ctx: ProbeContext) -> Result:
    ep = _endpoint(ctx, "wsHealth", "/api/ws/health")
    ans = await http(ctx, "GET", ep["path"])
    endpoint = pointer_get(ans.body, ep.get("endpoint"))
    want, got = urlsplit(ctx.ws_url), urlsplit(endpoint or "")
    same = (got.hostname, got.port or (443 if got.scheme == "wss" else 80), got.path) == (
        want.hostname,
        ctx.port,
        want.path,
    )
    obs = {"reported": endpoint, "served": ctx.ws_url_with()}
    if not same:
        return Result.fail("wrong_answer", f"health reports {endpoint!r}, the service is at {ctx.ws_url_with()!r}", obs)
    return Result.ok("endpoint matches", obs)


@probe(
    "readiness.stats_requires_auth",
    runs="together",
    category="readiness",
    critical=True,
    evidence=("status",),
    expected="/api/ws/stats answers 401 without a token",
)
async def stats_requires_auth(ctx: ProbeContext) -> Result:
    ans = await http(ctx, "GET", _endpoint(ctx, "stats", "/api/ws/stats")["path"])
    if ans.status != 401:
        return Result.fail("wrong_answer", f"stats without a token answered {ans.status}", {"status": ans.status})
    return Result.ok("401", {"status": ans.status})


@probe(
    "readiness.stats_non_admin",
    runs="together",
    category="readiness",
    critical=True,
    evidence=("per_login",),
    expected="/api/ws/stats answers 403 for every non-admin user type",
)
async def stats_non_admin(ctx: ProbeContext) -> Result:
    users = [(n, c) for n, c in every_credential(ctx) if c is not ctx.admin]
    if not users:
        return Result.skip("no_credentials", "needs a non-admin user")
    path = _endpoint(ctx, "stats", "/api/ws/stats")["path"]
    seen: dict[str, int] = {}
    refused: dict[str, int] = {}
    for name, creds in users:
        token, ans = await login(ctx, creds)
        if token is None:
            refused[name] = ans.status
            continue
        got = await http(ctx, "GET", path, token=token)
        seen[name] = got.status
        if got.status != 403:
            return Result.fail(
                "wrong_answer",
                f"stats for the {name} (not an admin) answered {got.status}, expected 403: "
                "every user can read the service's figures",
                {"status": got.status, "per_login": seen},
            )
    if not seen:
        name, creds = users[0]
        return login_refused(creds, HttpAnswer(refused[name], {}, "", None))
    return Result.ok(f"403 for {', '.join(seen)}", {"per_login": seen, "login_refused": refused})


@probe(
    "readiness.stats_admin",
    runs="together",
    category="readiness",
    critical=False,
    needs=("admin",),
    evidence=("connections",),
    expected="/api/ws/stats answers 200 with connections, messages, errors, rate_limited, uptime_s for an admin",
)
async def stats_admin(ctx: ProbeContext) -> Result:
    if ctx.admin is None:
        return Result.skip("no_admin", "needs admin credentials")
    token, ans = await login(ctx, ctx.admin)
    if token is None:
        return login_refused(ctx.admin, ans)
    got = await http(ctx, "GET", _endpoint(ctx, "stats", "/api/ws/stats")["path"], token=token)
    data = got.field("data")
    bad = has_fields(
        data, {"connections": dict, "messages": dict, "errors": dict, "rate_limited": int, "uptime_s": (int, float)}
    )
    if got.status != 200 or bad:
        return Result.fail("wrong_answer", f"stats answered {got.status}, lacking {bad}", {"status": got.status})
    return Result.ok("figures present", {"connections": data["connections"]})


@probe(
    "readiness.security_headers",
    runs="together",
    category="readiness",
    critical=True,
    evidence=("checked",),
    expected="every HTTP response carries X-Content-Type-Options, X-Frame-Options, Referrer-Policy, "
    "Content-Security-Policy (and HSTS over TLS)",
)
async def security_headers(ctx: ProbeContext) -> Result:
    missing: dict[str, list[str]] = {}
    checked: list[str] = []
    for path in ("/api/health", "/api/ws/health", "/no-such-route"):
        ans = await http(ctx, "GET", path)
        names = {k.lower() for k in ans.headers}
        want = (ctx.contract.security_headers or SECURITY_HEADERS) + (("Strict-Transport-Security",) if ctx.tls else ())
        lack = [h for h in want if h.lower() not in names]
        checked.append(f"{path} {ans.status}")
        if lack:
            missing[path] = lack
    if missing:
        return Result.fail("missing_headers", f"security headers missing: {missing}", missing)
    return Result.ok("all present", {"checked": checked})


@probe(
    "readiness.tls",
    runs="together",
    category="readiness",
    critical=True,
    needs=("tls",),
    evidence=("tls_version",),
    expected="wss:// with TLS 1.2 or newer and a certificate that verifies",
)
async def tls(ctx: ProbeContext) -> Result:
    if not ctx.tls:
        if ctx.loopback:
            return Result.skip("not_tls", "a ws:// target on loopback (no TLS to check)")
        return Result.fail("not_tls", "the target is served without TLS (ws://): traffic and tokens travel in clear")
    timing = await timed_connect(
        await_first=ctx.first_frame_type is not None,
        **ctx.upgrade_with(),
        ssl_context=ctx.ssl_context,
        timeout=ctx.options.open_timeout_s,
        observe=first_frame_observer(ctx),
    )
    ctx.sample("tls_handshake_ms", timing.tls_handshake_ms, t_offset_s=ctx.recorder.t_offset())
    obs = {
        "tls_version": timing.tls_version,
        "verified": ctx.ssl_context is not None and ctx.ssl_context.verify_mode != 0,
    }
    if timing.tls_version not in ("TLSv1.2", "TLSv1.3"):
        return Result.fail("weak_tls", f"negotiated {timing.tls_version}", obs)
    if not obs["verified"]:
        return Result.fail("tls_unverified", "certificate checks were switched off (--insecure)", obs)
    return Result.ok(f"{timing.tls_version}, certificate verified", obs)


@probe(
    "readiness.no_stack_traces",
    runs="together",
    category="readiness",
    critical=True,
    evidence=("http", "ws_error_answers"),
    expected="error answers (HTTP: malformed JSON, unknown route, bad login; WebSocket: malformed JSON, unknown type) "
    "hold no stack trace, whatever their format",
)
async def no_stack_traces(ctx: ProbeContext) -> Result:
    # Judged by evidence of a leak (leaks.LEAK_PATTERNS), never by the body's format: a plain-text 404 is no leak.
    # A pass needs error answers of both sides inspected; without them there is nothing to judge (skip).
    login_path = next(iter(ctx.contract.login.paths.values())) if ctx.contract.login else None
    requests: list[tuple[str, str, dict[str, Any]]] = [("GET", "/no-such-route", {})]
    if login_path:
        requests[:0] = [
            ("POST", login_path, {"data": "{not json", "headers": {"Content-Type": "application/json"}}),
            ("POST", login_path, {"json_body": {"email": "x@y.invalid"}}),
        ]
    inspected: list[dict[str, Any]] = []
    unanswered: list[str] = []
    for method, path, kw in requests:
        try:
            a = await http(ctx, method, path, **kw)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            unanswered.append(f"{method} {path}: {type(exc).__name__}")
            continue
        if a.status < 400:
            continue  # not an error answer: nothing to inspect
        leak = find_leak(a.text, a.body)
        obs = {"side": "http", "request": f"{method} {path}", "status": a.status, "json": a.body is not None}
        if leak:
            return Result.fail(
                "stack_trace",
                f"the HTTP {a.status} answer to {method} {path} holds a {leak[0]}",
                {**obs, "pattern": leak[0], "excerpt": leak[1][:200]},
            )
        issue = ctx.contract.http_error_issue(a.body if a.body is not None else a.text)
        if issue is not None:  # conformance, not a leak: noted in the observation
            obs["off_contract"] = f"{issue.path}: {issue.error}"[:200]
        inspected.append(obs)
    ws_errors, ws_leak = await _ws_error_answers(ctx)
    if ws_leak:
        return Result.fail(
            "stack_trace",
            f"a WebSocket error answer holds a {ws_leak[0]}",
            {"side": "ws", "pattern": ws_leak[0], "excerpt": ws_leak[1][:200]},
        )
    o = {
        "http": inspected,
        "ws_error_answers": ws_errors,
        "http_unanswered": unanswered,
        "http_not_json": sum(1 for i in inspected if not i["json"]),
        "http_off_contract": sum(1 for i in inspected if i.get("off_contract")),
    }
    if not inspected or not ws_errors:
        side = " and ".join(n for n, got in (("HTTP", inspected), ("WebSocket", ws_errors)) if not got)
        return Result.skip("no_error_answer", f"no {side} error answer to inspect for stack traces", o)
    note = (
        f" ({o['http_off_contract']} HTTP error bodies off the contract's errors.httpBody)"
        if o["http_off_contract"]
        else ""
    )
    return Result.ok(
        f"{len(inspected)} HTTP and {len(ws_errors)} WebSocket error answers without a stack trace{note}", o
    )


async def _ws_error_answers(ctx: ProbeContext) -> tuple[list[str], tuple[str, str] | None]:
    """Send malformed JSON and an unknown type; the error answers got (their types or close codes) and the first
    leak."""
    c = ctx.contract
    err_type = c.error_type
    answers: list[str] = []
    # an unknown kind in a frame the service would otherwise read: a request of the contract (its envelope, an
    # array's positions) with another kind at the kind pointer
    op = c.round_trip() or next(iter(c.request_answers()), None)
    base = copy.deepcopy(op.request.example) if op is not None and op.request is not None and op.request.example else {}
    unknown = set_pointer(base, c.kind_pointer or "/type", c.unknown_kind("__probe_no_such_type__"))
    async with await ProbeSession.open(ctx, trace=False) as s:
        await s.connected()
        since = s.mark()
        for bad in ("{not json", unknown):
            if s.closed:
                break
            m = s.mark()
            try:
                await s.send(bad)
            except Exception:
                break
            await s.expect(ctx.contract.is_error, ctx.options.timeout_s, since=m)
        frames = [f for _, f in s.frames[since:]]
        if s.closed:
            answers.append(f"close {s.close_code}")
        for f in frames:
            leak = find_leak(f.get("_raw") if isinstance(f, dict) and f.get("type") == "invalid" else None, f)
            if leak:
                return answers, leak
            if ctx.contract.is_error(f):
                answers.append(str(ctx.contract.kind_of(f) or err_type))
        if s.close_reason:
            leak = find_leak(s.close_reason)
            if leak:
                return answers, leak
    return answers, None


# the error frames are owed only where the contract declares them for the limit; the close always
@probe(
    "readiness.rate_limit",
    leaves=("load",),
    category="readiness",
    critical=True,
    evidence=(Evidence("errors", when="errors_declared"), "close"),
    expected="a burst beyond the limit gets error rate_limited frames, then close 1008",
)
async def rate_limit(ctx: ProbeContext) -> Result:
    lim = ctx.contract.limit("rate")
    if lim is None:
        return Result.skip("not_in_contract", "the contract declares no rate limit")
    # the error frames the contract says come before the close; none declared: the declared close is the whole answer
    want, err_code = lim.close or 1008, lim.get("error") or ctx.contract.errors.get("rateLimited")
    n = max(ctx.options.burst_size, int(lim["burst"]) + 40)
    async with await ProbeSession.open(ctx, trace=False) as s:
        await s.connected()
        for i in range(n):
            if s.closed:
                break
            rt = round_trip(ctx, f"b{i}")
            assert rt is not None  # REQUIRES: roundTrip
            try:
                await s.send(rt[0])
            except Exception:
                break
        closed = await s.wait_closed(ctx.options.timeout_s)
        code = s.close_code if closed else None
        limited = [f for _, f in s.frames if ctx.contract.kind_of(f) == ctx.contract.error_type]
    codes = sorted(
        {str(ctx.contract.error_code(f) or (f.get("payload") if isinstance(f, dict) else None)) for f in limited}
    )
    obs = {"sent": n, "errors": len(limited), "codes": codes, "close": code, "errors_declared": err_code is not None}
    if is_lockout_close(code, s.close_reason):
        return Result.closed(code, s.close_reason, "the burst could not be judged", obs)
    if code != want:
        reason = "no_close" if limited else "no_rate_limit"
        return Result.fail(
            reason, f"{n} messages in a burst: {len(limited)} error frames and no close {want}", obs, close_code=code
        )
    if err_code is None:  # no error frame declared for the limit: the close is the evidence
        return Result.ok(f"{n} messages in a burst: closed {want} as the contract declares", obs, close_code=want)
    if not any(ctx.contract.error_code(f) == err_code for f in limited):
        return Result.fail(
            "wrong_answer", f"closed {want} without error frames coded {err_code} first", obs, close_code=want
        )
    return Result.ok(f"{len(limited)} {err_code} errors, then {want}", obs, close_code=want)


@probe(
    "readiness.origin_check",
    runs="together",
    category="readiness",
    critical=True,
    evidence=("status",),
    expected="an upgrade from a foreign Origin is refused with HTTP 403",
)
async def origin_check(ctx: ProbeContext) -> Result:
    from websockets.exceptions import InvalidStatus

    # Control: an upgrade without a foreign Origin is served, so a refusal below is the origin check's doing.
    try:
        control = await ProbeSession.open(ctx)
    except InvalidStatus as exc:
        return Result.skip(
            "control_failed", f"an upgrade without a foreign Origin was refused too (HTTP {exc.response.status_code})"
        )
    await control.close()
    try:
        s = await ProbeSession.open(ctx, headers={"Origin": "https://evil.example.invalid"})
    except InvalidStatus as exc:
        status = exc.response.status_code
        if status == 403:
            return Result.ok("403", {"status": status, "control": "served without a foreign Origin"})
        return Result.fail("wrong_answer", f"foreign origin answered {status}", {"status": status})
    await s.close()
    return Result.fail("origin_accepted", "an upgrade from a foreign origin was accepted")


#: the largest message the size-limit probe builds and sends (the declared limit and a tenth more must fit)
MAX_OVERSIZE_BYTES = 64 << 20


def oversized(ctx: ProbeContext, size: int) -> str:
    """A message of the contract's own shape (its round trip's request, else its first request example) padded past
    ``size`` bytes: an object gains a ``pad`` field, an array a last element (pure)."""
    example = any_request(ctx, "oversized")
    pad = "x" * size
    if isinstance(example, dict):
        return json.dumps({**example, "pad": pad}, separators=(",", ":"))
    if isinstance(example, list):
        return json.dumps([*example, pad], separators=(",", ":"))
    return json.dumps({"pad": pad})


@probe(
    "readiness.size_limit",
    category="readiness",
    critical=True,
    evidence=("close",),
    expected="a message over the contract's size limit (64 KiB: 70 KiB sent) closes the connection with its close "
    "code (1009)",
)
async def size_limit(ctx: ProbeContext) -> Result:
    lim = ctx.contract.limit("messageSize")
    if lim is None:
        return Result.skip("not_in_contract", "the contract declares no message size limit")
    want = lim.close or 1009
    size = int(lim["bytes"]) + max(6 * 1024, int(lim["bytes"]) // 10)
    if size > MAX_OVERSIZE_BYTES:  # a contract (from anyone) must not make the tool build and send gigabytes
        return Result.skip(
            "cap_too_high",
            f"a limit of {int(lim['bytes']):,} bytes: the message past it ({size:,} bytes) "
            f"is more than this probe sends ({MAX_OVERSIZE_BYTES:,})",
        )
    async with await ProbeSession.open(ctx, trace=False) as s:
        await s.connected()
        try:
            await s.send(oversized(ctx, size), raw=True)
        except Exception:
            pass
        closed = await s.wait_closed(ctx.options.timeout_s)
        code = s.close_code if closed else None
    if is_lockout_close(code, s.close_reason):
        return Result.closed(code, s.close_reason, "the size limit could not be judged")
    if code != want:
        return Result.fail(
            "no_close" if code is None else f"closed_{code}",
            f"a {size // 1024} KiB message gave {'no close' if code is None else code}, not {want}",
            close_code=code,
        )
    return Result.ok(str(want), {"close": code, "sent_kib": size // 1024}, close_code=want)


@probe(
    "readiness.invalid_utf8",
    category="readiness",
    critical=False,
    evidence=("close",),
    expected="a text frame with invalid UTF-8 closes the connection with 1007",
)
async def invalid_utf8(ctx: ProbeContext) -> Result:
    from websockets.frames import Frame, Opcode

    async with await ProbeSession.open(ctx, trace=False) as s:
        await s.connected()
        # RFC 6455 §8.1: the endpoint must fail the connection (1007).
        s.conn.protocol.send_frame(Frame(Opcode.TEXT, b'{"type":"ping","x":"\xff\xfe"}'))
        s.conn.send_data()
        closed = await s.wait_closed(ctx.options.timeout_s)
        code = s.close_code if closed else None
    lim = ctx.contract.limit("invalidUtf8")
    want = lim.close if lim and lim.close else 1007
    if code != want:
        return Result.fail(
            "no_close" if code is None else f"closed_{code}",
            f"invalid UTF-8 gave {code or 'no close'}, not {want}",
            close_code=code,
        )
    return Result.ok(str(want), {"close": code}, close_code=want)


def session_count_sources(ctx: ProbeContext) -> list[tuple[str, str, bool]]:
    """Where the target reports its open-session count, as its contract says: (path, JSON pointer, needs admin)."""
    return ctx.contract.session_count_sources()


#: sessions held at once to see the count follow; sessions per churn cycle; churn cycles
LEAK_HELD, LEAK_CHURN, LEAK_CYCLES = 3, 5, 3


def judge_leak(base: int, held: Series, released: Series, cycles: list[Series], *, quiet_s: float) -> Result:
    """The session-leak outcome from the series read (pure).

    Pass: the count, once settled, is back at its baseline after the held sessions closed and after every churn
    cycle. Fail ``session_leak``: settled above the baseline after them (the series shows it grow cycle by cycle).
    Skip ``figures_unsettled``: the count never settled within the deadline, so no value can be compared.
    """
    after = [c.last for c in cycles]
    obs: dict[str, Any] = {
        "baseline": base,
        "with_held": held.last,
        "held": LEAK_HELD,
        "reaction_s": round(held.reached_s or 0.0, 3),
        "quiet_s": round(quiet_s, 3),
        "released": released.last,
        "churn_per_cycle": LEAK_CHURN,
        "cycles": after,
        "series": [x.evidence() for x in (held, released, *cycles)],
    }
    trail = " -> ".join(str(v) for v in [base, released.last, *after])
    unsettled = [x.phase for x in (released, *cycles) if not x.settled]
    grew = [x for x in (released, *cycles) if x.settled and isinstance(x.last, int) and x.last > base]
    if grew:
        return Result.fail(
            "session_leak",
            f"the session count settled at {grew[-1].last} after {grew[-1].phase} (baseline "
            f"{base}); over {LEAK_CYCLES} cycles of {LEAK_CHURN} sessions that left at once it went {trail}: "
            "sessions of clients that left are still held by the service",
            obs,
        )
    if unsettled:
        return Result.skip(
            "figures_unsettled",
            f"the session count did not settle (unchanged for {quiet_s:.2f} s) after "
            f"{', '.join(unsettled)}: {trail}; no value to compare with the baseline",
            obs,
        )
    return Result.ok(
        f"back to the baseline {base} after {LEAK_HELD} held sessions closed and after each of {LEAK_CYCLES} "
        f"cycles of {LEAK_CHURN} sessions that left at once (the count followed in {held.reached_s or 0:.2f} s; "
        f"settled when unchanged for {quiet_s:.2f} s)",
        obs,
    )


@probe(
    "readiness.session_leak",
    runs="figures",
    category="readiness",
    critical=False,
    evidence=("cycles", "with_held"),
    expected="the server's session count returns to its baseline after clients leave, even right after the upgrade, "
    "over several cycles, read once it has settled",
)
async def session_leak(ctx: ProbeContext) -> Result:
    if ctx.user is None:
        return Result.skip("no_credentials", "needs a user to open authenticated sessions")
    admin_token = None
    if ctx.admin is not None:
        admin_token, _ = await login(ctx, ctx.admin)

    sources = session_count_sources(ctx)
    if not sources:
        return Result.skip("not_in_contract", "the contract declares no open-session count (x-readiness.endpoints)")

    async def count() -> int | None:
        for path, pointer, admin in sources:
            if admin and not admin_token:
                continue
            v = pointer_get((await http(ctx, "GET", path, token=admin_token if admin else None)).body, pointer)
            if isinstance(v, int) and not isinstance(v, bool):
                return v
        return None

    token, ans = await login(ctx, ctx.user)
    if token is None:
        return login_refused(ctx.user, ans)
    deadline = 2 * ctx.options.timeout_s  # scaled with every other wait (--timeout-scale)

    def record(x: Series) -> Series:
        ctx.recorder.event(
            "figure_series",
            probe_id=ctx.probe_id,
            figure="sessions",
            phase=x.phase,
            settled=x.settled,
            points=[[round(t, 3), v] for t, v in x.points],
        )
        return x

    baseline = record(await poll(count, "baseline", quiet_s=MIN_QUIET_S, deadline_s=deadline))
    base = baseline.last
    if not isinstance(base, int):
        return Result.skip(
            "figures_absent",
            "the target reports no session count where the contract says "
            f"({', '.join(p + ' ' + k for p, k, _ in sources)})",
        )
    # Control, and the target's own pace: the count must follow sessions held open (or "back to baseline" proves
    # nothing), and how long it takes to follow is how long a read must stay unchanged to count as settled.
    held_sessions: list[ProbeSession] = []
    try:
        for _ in range(LEAK_HELD):
            h = await ProbeSession.open(ctx, token=token, trace=False)
            held_sessions.append(h)
            await h.connected()
        held = record(
            await poll(
                count,
                f"{LEAK_HELD} held",
                quiet_s=0,
                deadline_s=deadline,
                until=lambda v: isinstance(v, int) and v >= base + LEAK_HELD,
            )
        )
    finally:
        await asyncio.gather(*(h.close() for h in held_sessions))
    if held.reached_s is None:
        return Result.skip(
            "figures_static",
            f"the session count did not follow {LEAK_HELD} sessions held open for "
            f"{deadline:.1f} s ({base} -> {held.last})",
            {"baseline": base, "with_held": held.last, "series": [baseline.evidence(), held.evidence()]},
        )
    quiet = quiet_window(held.reached_s, MIN_INTERVAL_S)
    released = record(await poll(count, "the held sessions closed", quiet_s=quiet, deadline_s=deadline + quiet))
    cycles = []
    for i in range(LEAK_CYCLES):
        for _ in range(LEAK_CHURN):
            s = await ProbeSession.open(ctx, token=token, trace=False)
            await s.conn.close()  # leave at once, while the server may still be setting the session up
            await s.close()
        cycles.append(record(await poll(count, f"cycle {i + 1}", quiet_s=quiet, deadline_s=deadline + quiet)))
    return judge_leak(base, held, released, cycles, quiet_s=quiet)


class NoAnswer(Exception):
    """The target does not answer at all: a lockout cannot be judged (control flow inside this module: the probe
    records it as a skip, so it is not under PitcheyAnalysisError)."""


#: Kinds of failed authentication a lockout may count (PROTOCOL.md Part A limits; Part B items 8 and 17).
FAILURE_KINDS = ("invalid_token", "unknown_user")


def failure_kinds(ctx: ProbeContext) -> list[str]:
    """The failure kinds this run can produce (an unknown user needs the signing secret)."""
    return [k for k in FAILURE_KINDS if k != "unknown_user" or ctx.jwt_secret]


async def fail_auth(ctx: ProbeContext, n: int, local: str, kind: str, headers: dict[str, str] | None = None) -> bool:
    """``n`` failed authentications of one kind from ``local``: the first alone (a target that does not answer it
    is not asked again), the others side by side (a lockout counts failures, whatever their order; none of ours
    succeeds in between). False when the first got no answer at all.

    ``invalid_token``: an upgrade with a garbage token; ``unknown_user``: a validly
    signed token for a user that does not exist (a failed session set-up).
    """
    token = "bad-token" if kind == "invalid_token" else signed_token(ctx, **{claim(ctx, "subject"): "987654321"})
    # how long the set-up may take to end: a garbage token is refused as the upgrade is read (a round trip's work:
    # the run's quiet window), an unknown user only after a lookup of the user (slower than a round trip by far on a
    # service with a database: as long as the configured window; it still ends at the error)
    setup_s = ctx.options.quiet_window_s if kind == "unknown_user" else ctx.quiet(ctx.options.quiet_window_s)

    async def one() -> str:
        try:
            async with await ProbeSession.open(ctx, token=token, local_addr=local, trace=False, headers=headers) as s:
                first = await s.begun()
                if first is None and not s.closed:
                    return "silent"
                # the failure is counted once the set-up ends: wait for its error or close
                await s.expect(lambda f: ctx.contract.kind_of(f) == ctx.contract.error_type, setup_s, since=1)
        except InvalidStatus:
            return "refused"  # refused at the upgrade: locked out already
        return "failed"

    first = await one()
    if first != "failed":
        return first == "refused"  # silent: more attempts would only wait
    await asyncio.gather(*(one() for _ in range(n - 1)))
    return True


def lockout_limit(ctx: ProbeContext) -> dict[str, Any]:
    """The contract's lockout (``limits.lockout``): its values and close code (default 1008)."""
    lim = ctx.contract.limit("lockout")
    return {**(lim.values if lim is not None else {}), "close": (lim.close if lim is not None else None) or 1008}


def claimed_from(ctx: ProbeContext, addr: str) -> dict[str, str] | None:
    """Headers naming ``addr`` as the client when the contract keys the lockout on the forwarded address."""
    if lockout_limit(ctx).get("key") == "forwarded":
        return {"X-Forwarded-For": addr, "X-Real-IP": addr}
    return None


def too_slow(ctx: ProbeContext, took_s: float) -> Result | None:
    """A skip when the failures took longer than the contract's lockout window: no lockout is then no evidence."""
    window = lockout_limit(ctx).get("windowSeconds")
    if window and took_s > float(window):
        return Result.skip(
            "window_exceeded",
            f"{ctx.lockout_attempts} failed authentications took {took_s:.1f} s, longer than "
            f"the contract's lockout window of {window} s: no lockout to judge",
            {"took_s": round(took_s, 2)},
        )
    return None


async def is_locked(
    ctx: ProbeContext, local: str | None, headers: dict[str, str] | None = None, *, strict: bool = False
) -> tuple[bool, int | None]:
    """Whether a client from ``local`` (None: the run's own address) is turned away (the contract's lockout close, or
    403/429 at the upgrade). ``strict``: only a close whose reason says lockout, or 429 (a target that closes every
    session 1008 for another reason is not locked out)."""
    try:
        s = await ProbeSession.open(ctx, local_addr=local, trace=False, headers=headers, audit=not strict)
    except InvalidStatus as exc:
        status = exc.response.status_code
        return status in ((429,) if strict else (403, 429)), status
    await s.begun()
    await s.wait_closed(ctx.quiet(max(0.5, ctx.options.quiet_window_s * 2)))
    await s.close()
    want = lockout_limit(ctx)["close"]
    if strict:
        return is_lockout_close(s.close_code, s.close_reason), s.close_code
    locked = is_lockout_close(s.close_code, s.close_reason) or (
        s.close_code == want and "rate" not in (s.close_reason or "").lower()
    )
    return locked, s.close_code


async def lock_out(
    ctx: ProbeContext, headers: dict[str, str] | None = None
) -> tuple[str | None, str | None, dict[str, int | None], float]:
    """Try each failure kind from its own fresh address until one locks it out.

    The contract's lockout says how many failures (``ctx.lockout_attempts``) and what
    an address is (``key: forwarded``: the X-Forwarded-For the client names).
    Returns (the kind that triggered the lockout, its address, the close seen per kind
    tried, the longest time one kind's failures took in seconds).
    """
    seen: dict[str, int | None] = {}
    took = 0.0
    for kind in failure_kinds(ctx):
        addr = ctx.scratch_address()
        assert addr is not None
        t0 = time.monotonic()
        if not await fail_auth(ctx, ctx.lockout_attempts, addr, kind, headers or claimed_from(ctx, addr)):
            raise NoAnswer(f"the target does not answer upgrades with a {ctx.first_frame_type!r} frame")
        took = max(took, time.monotonic() - t0)
        locked, code = await is_locked(ctx, addr, claimed_from(ctx, addr))
        seen[kind] = code
        if locked:
            return kind, addr, seen, took
    return None, None, seen, took


def lockout_sequence(ctx: ProbeContext, seen: dict[str, int | None]) -> list[dict[str, Any]]:
    """The failures that were sent, in order, as a lockout finding records them: each kind from its own fresh
    address, no success in between, and what a client from that address met next."""
    return [
        {
            "kind": kind,
            "failures": ctx.lockout_attempts,
            "from": "a fresh address",
            "successes_between": 0,
            "then_close": code,
        }
        for kind, code in seen.items()
    ]


@probe(
    "readiness.lockout_spoofing",
    runs="together",
    leaves=("lockout",),
    category="readiness",
    critical=True,
    disruptive=True,
    needs=("loopback",),
    last=True,
    evidence=("triggered_by",),
    expected="the failed-authentication lockout follows the socket address: neither X-Forwarded-For nor X-Real-IP "
    "evades it or aims it at another client",
)
async def lockout_spoofing(ctx: ProbeContext) -> Result:
    if ctx.scratch_address() is None:
        return Result.skip("not_loopback", "needs several loopback source addresses")
    n = ctx.lockout_attempts
    if lockout_limit(ctx).get("key") == "forwarded":
        return Result.skip(
            "forwarded_key",
            "the contract keys the lockout on the forwarded address (a trusted proxy's "
            "X-Forwarded-For): whether clients can spoof it is decided at the proxy, not observable here",
        )
    spoof = {"X-Forwarded-For": "198.51.100.77", "X-Real-IP": "198.51.100.77"}
    # Evasion: lock an address out, then come back from it claiming another address.
    try:
        kind, a1, seen, took = await lock_out(ctx)
    except NoAnswer as exc:
        return Result.skip("no_answer", f"{exc}: no lockout to judge")
    if kind is None or a1 is None:
        if (slow := too_slow(ctx, took)) is not None:
            return slow
        return Result.fail(
            "no_lockout",
            f"{n} failed authentications of each kind ({', '.join(seen)}) did not lock their address out",
            {"tried": seen},
        )
    evaded_locked, evaded_code = await is_locked(ctx, a1, spoof)
    if not evaded_locked:
        return Result.fail(
            "spoofable_lockout",
            "a locked-out address got in again by sending another X-Forwarded-For / X-Real-IP",
            {"triggered_by": kind, "sequence": lockout_sequence(ctx, seen), "with_headers": evaded_code},
        )
    # Aiming: failures from a3 that claim to come from a2 must not lock a2 out.
    a2, a3 = ctx.scratch_address(), ctx.scratch_address()
    assert a2 is not None and a3 is not None
    await fail_auth(ctx, n, a3, kind, {"X-Forwarded-For": a2, "X-Real-IP": a2})
    victim_locked, victim_code = await is_locked(ctx, a2)
    if victim_locked:
        return Result.fail(
            "spoofable_lockout",
            "failures claimed in X-Forwarded-For / X-Real-IP locked another client out",
            {"triggered_by": kind, "victim_close": victim_code},
            close_code=victim_code,
        )
    return Result.ok(
        f"lockout (triggered by {kind}) keyed by the socket address",
        {
            "triggered_by": kind,
            "tried": seen,
            "sequence": lockout_sequence(ctx, seen),
            "with_headers": evaded_code,
            "victim": victim_code,
        },
    )
