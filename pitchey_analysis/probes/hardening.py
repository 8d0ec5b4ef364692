"""Hardening probes (issue 31): does the target hold when a client attacks it, as its contract bounds it?

Each probe plays one hostile client and judges the target only by what its
contract declares: the error it answers bad input with (``errors``), its
message size and rate limits, its handshake deadline (``limits.handshake``),
its subscription and connection caps (``limits.subscriptions``,
``limits.connections``) and its login. What a probe needs the contract to
declare is in ``generated.REQUIRES``; a probe whose attack could lock users
out or fill the target is ``disruptive`` (loopback, or ``--allow-disruptive``).

The decisions are plain functions of what was seen (``judge_*``); the async
code only gathers the facts. Every wait is bounded by the declared deadline
plus a grace (:func:`grace_s`), so no probe holds a run longer than a few
seconds on loopback.
"""

from __future__ import annotations

import asyncio
import copy
import math
import resource
import secrets
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from websockets.exceptions import ConnectionClosed, InvalidStatus

from ..contract import Contract, pointer_get
from ..contract.requests import login_body, subscribe_request
from ..contract.wire import set_pointer
from ..net import MAX_BODY_BYTES, read_body
from .base import ProbeContext, Result, classify, is_lockout_close, probe
from .common import http as http_get
from .common import login, login_refused, open_started, round_trip
from .session import ProbeSession
from .vocabulary import CONTROL_PONG

#: nesting depth of the deep-JSON probe, at most (60 KB of brackets: deeper than any parser's stack)
MAX_DEPTH = 30_000
#: wrong passwords a brute force sends, per phase, before it calls the login unthrottled
BRUTE_ATTEMPTS = 30
#: most connections the connection-cap probe opens (past it the cap is not judged)
MAX_CAP_PROBED = 2_000
#: the most subscriptions the subscription-cap probe sends on one session
MAX_SUBSCRIPTIONS_PROBED = 10_000
#: file descriptors kept free for everything else the suite opens while the cap probe holds its connections
FD_RESERVE = 64


def grace_s(deadline_s: float) -> float:
    """How long past a declared deadline the probe waits before it calls a connection held (pure): half the
    deadline more, and at least half a second (a timer fires late on a loaded machine, never early)."""
    return deadline_s + max(0.5, deadline_s / 2)


def handshake_deadline(contract: Contract) -> float | None:
    """The declared deadline for a TLS handshake and each request head (``limits.handshake.seconds``)."""
    lim = contract.limit("handshake")
    return float(lim["seconds"]) if lim is not None and lim.get("seconds") else None


async def _dropped_within(reader: asyncio.StreamReader, seconds: float) -> tuple[float | None, str]:
    """Read until the target ends the connection (EOF or reset) or ``seconds`` pass.

    Returns (seconds until it ended, or None when it held the connection; what it did).
    """
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    end = t0 + seconds
    got = 0
    try:
        while True:
            left = end - loop.time()
            if left <= 0:
                return None, "held the connection open"
            data = await asyncio.wait_for(reader.read(65536), left)
            if not data:
                return loop.time() - t0, "closed the connection" + (f" after {got} bytes" if got else "")
            got += len(data)
    except TimeoutError:
        return None, "held the connection open"
    except (ConnectionError, ssl.SSLError, OSError) as exc:
        return loop.time() - t0, f"reset the connection ({type(exc).__name__})"


async def _close_writer(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), 1.0)
    except (TimeoutError, OSError, ssl.SSLError):
        pass


# -- deeply nested JSON ----------------------------------------------------------------------
def nested_json(size_limit: int) -> str:
    """A valid JSON array nested as deep as fits well inside ``size_limit`` bytes (pure)."""
    depth = max(1, min(MAX_DEPTH, (size_limit - 64) // 2))
    return "[" * depth + "]" * depth


@probe(
    "resilience.nested_json",
    category="resilience",
    critical=True,
    evidence=("session_kept|served_again",),
    expected="deeply nested JSON inside the declared size limit gets the contract's error and the session stays "
    "(its round trip answered after), or the close the contract declares for such input and a new session "
    "is served; over HTTP, a login with such a body is refused with a 4xx, never a 5xx",
)
async def deep_json(ctx: ProbeContext) -> Result:
    c = ctx.contract
    lim = c.limit("messageSize")
    assert lim is not None  # REQUIRES: limits.messageSize
    text = nested_json(int(lim["bytes"]))
    depth = text.count("[")
    quiet = bool({"untyped", "invalidJson"} & set(c.ignores))  # declared silence on input without a kind
    # a declared close for input without a kind (parsed) or that is not JSON (refused by the parser): the contract's
    # answer to it, as good as an error frame where the service refuses that way
    closes = {c.closes[k] for k in ("untyped", "invalidJson") if k in c.closes}
    obs: dict[str, Any] = {"depth": depth, "bytes": len(text), "size_limit": int(lim["bytes"])}
    s, began = await open_started(ctx)
    async with s:
        if began.problem is not None:
            return began.problem
        mark = s.mark()
        t0 = time.perf_counter()
        await s.send(text)
        err = await s.expect(
            c.is_error, ctx.quiet(ctx.options.quiet_window_s) if quiet else ctx.options.timeout_s, since=mark
        )
        obs["answer_ms"] = round((time.perf_counter() - t0) * 1000, 1) if err is not None else None
        obs["error_code"] = c.error_code(err) if err is not None else None
        obs["error_kind"] = c.kind_of(err) if err is not None else None  # what names it where errors carry no code
        rt = round_trip(ctx, "after-nested")
        assert rt is not None  # REQUIRES: roundTrip
        pong = None
        if not s.closed:
            try:
                pong = await s.ask(rt[0], {rt[1]}, ctx.options.timeout_s)
            except ConnectionClosed:
                pong = None
            if pong is not None:  # a close right after the answer is a session lost too
                await s.wait_closed(ctx.quiet(min(ctx.options.settle_s, 0.2)))
        closed, code, reason = s.closed, s.close_code, s.close_reason
    obs["session_kept"] = pong is not None and not closed
    if closed and err is None and code in closes:  # refused as the contract declares: a new session must be served
        again = await _served_again(ctx)
        obs.update(declared_close=code, served_again=again is not None)
        if again is None:
            return Result.fail(
                "session_lost",
                f"JSON nested {depth} deep closed the session {code} as the contract "
                "declares, but a new session got no answer to its round trip",
                obs,
                close_code=code,
            )
    elif closed:
        what = (
            f"JSON nested {depth} deep ({len(text) // 1024} KiB, inside the {int(lim['bytes']) // 1024} KiB limit)"
            f"{' after the error' if err is not None else ''}"
        )
        if is_lockout_close(code, reason):
            return Result.closed(code, reason, what, obs)
        shown = f"{code} {reason!r}" if reason else str(code)
        return Result.fail(
            "session_closed",
            f"{what}: the target closed the session {shown} instead of answering the contract's error and keeping it",
            obs,
            close_code=code,
            close_reason=reason,
        )
    if err is None and not quiet and not obs.get("served_again"):
        return Result.fail(
            "no_answer", f"JSON nested {depth} deep got no error frame within {ctx.options.timeout_s:.1f} s", obs
        )
    if pong is None and not obs.get("served_again"):
        return Result.fail(
            "session_lost", f"after JSON nested {depth} deep the session no longer answers its round trip", obs
        )
    http = await _nested_login(ctx, text)
    if http is not None:
        obs["http_login_status"] = http
        if http >= 500:
            return Result.fail(
                "server_error", f"a login whose body is JSON nested {depth} deep was answered HTTP {http}", obs
            )
    if obs.get("served_again"):
        return Result.ok(
            f"JSON nested {depth} deep: closed {code} as the contract declares; a new session answers"
            + (f"; over HTTP {http}" if http is not None else ""),
            obs,
            close_code=code,
        )
    named = obs["error_code"] if obs["error_code"] is not None else obs["error_kind"]
    what = f"error {named}" if err is not None else "ignored as the contract declares"
    return Result.ok(
        f"JSON nested {depth} deep: {what} in {obs['answer_ms'] or 0:.0f} ms, the session kept"
        + (f"; over HTTP {http}" if http is not None else ""),
        obs,
    )


async def _served_again(ctx: ProbeContext) -> Any:
    """The answer to the round trip of a new session (None: no answer): the service still serves after a close."""
    rt = round_trip(ctx, "after-declared-close")
    assert rt is not None  # REQUIRES: roundTrip
    try:
        async with await ProbeSession.open(ctx) as again:
            await again.connected()
            return await again.ask(rt[0], {rt[1]}, ctx.options.timeout_s)
    except (ConnectionClosed, OSError, TimeoutError):
        return None


async def _nested_login(ctx: ProbeContext, text: str) -> int | None:
    """The status of a login whose body is ``text`` (None: no login declared, or no answer)."""
    lg = ctx.contract.login
    path = next(iter(lg.paths.values()), None) if lg is not None else None
    if path is None:
        return None
    try:
        return (await _http(ctx, lg.method if lg else "POST", path, data=text))[0]
    except (aiohttp.ClientError, TimeoutError, OSError):
        return None


async def _http(
    ctx: ProbeContext,
    method: str,
    path: str,
    *,
    json_body: Any = None,
    data: str | None = None,
    local: str | None = None,
) -> tuple[int, dict[str, str]]:
    """One HTTP request (from the loopback address ``local`` when given): (status, headers). Never redirected."""
    timeout = aiohttp.ClientTimeout(total=ctx.options.timeout_s)
    connector = aiohttp.TCPConnector(
        ssl=(ctx.ssl_context or True) if ctx.tls else True, force_close=True, local_addr=(local, 0) if local else None
    )
    headers = {"Content-Type": "application/json"} if data is not None else None
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        async with session.request(
            method, ctx.http_url.rstrip("/") + path, json=json_body, data=data, headers=headers, allow_redirects=False
        ) as r:
            await read_body(r)
            return r.status, dict(r.headers)


# -- control-frame flood ---------------------------------------------------------------------
def judge_flood(
    *,
    sent: int,
    pongs: int,
    errors: int,
    limited: int,
    closed: bool,
    code: int | None,
    reason: str | None,
    want: int,
    err_code: str | None,
    took_s: float | None,
) -> Result:
    """The outcome of a ping flood (pure): limited like other traffic means closed with the rate limit's code
    (``err_code``: the error the contract says comes first; None: it declares none, the close alone limits)."""
    obs = {
        "pings_sent": sent,
        "pongs": pongs,
        "error_frames": errors,
        "rate_limited_errors": limited,
        "close": code if closed else None,
        "closed_after_s": None if took_s is None else round(took_s, 3),
    }
    if closed and is_lockout_close(code, reason):
        return Result.closed(code, reason, "the flood could not be judged", obs)
    if closed and code == want:
        errs = f"{limited} {err_code} errors, then " if err_code is not None else ""
        return Result.ok(
            f"{sent} pings: {pongs} pongs, {errs}closed {want} {took_s or 0:.2f} s after the flood began",
            obs,
            close_code=want,
        )
    if closed:
        return Result.closed(code, reason, f"{sent} ping control frames ({pongs} answered)", obs)
    if limited or errors:
        return Result.fail(
            "no_close", f"{sent} ping control frames got {limited or errors} error frames and no close {want}", obs
        )
    if not pongs:
        return Result.fail(
            "no_answer",
            f"{sent} ping control frames got no pong, no error and no close: nothing to judge "
            "the limit by (RFC 6455 §5.5.2: a ping is answered with a pong)",
            obs,
        )
    return Result.fail(
        "control_flood_unlimited",
        f"{sent} ping control frames in a burst: {pongs} answered with pongs, "
        f"{f'no {err_code} error and ' if err_code is not None else ''}no close {want}: control frames are "
        "outside the rate limit",
        obs,
    )


@probe(
    "readiness.control_frame_flood",
    leaves=("load",),
    category="readiness",
    critical=True,
    evidence=("pings_sent", "close"),
    expected="a burst of ping control frames beyond the declared rate limit is limited like other messages: "
    "rate_limited errors, then the rate limit's close (1008), within the answer timeout",
)
async def control_frame_flood(ctx: ProbeContext) -> Result:
    lim = ctx.contract.limit("rate")
    assert lim is not None  # REQUIRES: limits.rate
    want = lim.close or 1008
    err_code = lim.get("error") or ctx.contract.errors.get("rateLimited")  # None: the declared close is the answer
    n = max(ctx.options.burst_size, int(lim["burst"]) + 40)
    pongs = 0
    s, began = await open_started(ctx, trace=False)
    async with s:
        if began.problem is not None:
            return began.problem
        conn = s.conn
        noted = getattr(conn, "on_control", None)

        def count(kind: str, data: bytes) -> None:
            nonlocal pongs
            if kind == CONTROL_PONG:
                pongs += 1
            if noted is not None:
                noted(kind, data)

        conn.on_control = count  # type: ignore[attr-defined]
        mark = s.mark()
        t0 = time.perf_counter()
        sent = 0
        for _ in range(n):
            if s.closed:
                break
            try:
                await conn.ping()  # RFC 6455 §5.5.2: a control frame, answered with a pong
            except (ConnectionClosed, RuntimeError):
                break
            sent += 1
        # wait for the close; a target that has answered every ping with a pong limited none of them: a settle
        # window for a late close is then enough
        end = time.monotonic() + ctx.options.timeout_s
        while not s.closed and time.monotonic() < end:
            if (
                pongs >= sent
                and await s.wait_closed(min(ctx.quiet(ctx.options.settle_s), end - time.monotonic())) is False
            ):
                break
            await s.wait_closed(min(0.05, max(0.0, end - time.monotonic())))
        took = time.perf_counter() - t0 if s.closed else None
        c = ctx.contract
        errors = [f for _, f in s.frames[mark:] if c.is_error(f)]
        limited = sum(1 for f in errors if c.error_code(f) == err_code)
        closed, code, reason = s.closed, s.close_code, s.close_reason
    return judge_flood(
        sent=sent,
        pongs=pongs,
        errors=len(errors),
        limited=limited,
        closed=closed,
        code=code,
        reason=reason,
        want=want,
        err_code=err_code,
        took_s=took,
    )


# -- a stalled TLS handshake -----------------------------------------------------------------
#: the first 5 bytes of a ClientHello: a TLS handshake record announcing 200 bytes that never come
CLIENT_HELLO_START = b"\x16\x03\x01\x00\xc8"


@probe(
    "resilience.tls_handshake_stall",
    runs="together",
    waits="handshake_bound_s",
    category="resilience",
    critical=False,
    needs=("tls",),
    evidence=("target",),
    expected="a connection that sends 5 bytes of a TLS ClientHello and stalls is dropped within the declared "
    "handshake deadline (limits.handshake), as a stalled request head is",
)
async def tls_handshake_stall(ctx: ProbeContext) -> Result:
    if not ctx.tls:
        return Result.skip("not_tls", "a ws:// target: no TLS handshake to stall")
    deadline = handshake_deadline(ctx.contract)
    assert deadline is not None  # REQUIRES: limits.handshake
    # Control: a complete wss upgrade is served, so a drop of the stalled one is the target's choice.
    control = await ProbeSession.open(ctx, trace=False)
    await control.close()
    bound = grace_s(deadline)
    reader, writer = await asyncio.wait_for(asyncio.open_connection(ctx.host, ctx.port), ctx.options.open_timeout_s)
    try:
        writer.write(CLIENT_HELLO_START)
        await writer.drain()
        elapsed, what = await _dropped_within(reader, bound)
    finally:
        await _close_writer(writer)
    obs = {
        "deadline_s": deadline,
        "waited_s": round(bound, 2),
        "elapsed_s": None if elapsed is None else round(elapsed, 3),
        "target": what,
    }
    if elapsed is None:
        return Result.fail(
            "handshake_held",
            f"a TLS handshake stalled after 5 bytes was held open for {bound:.1f} s (declared deadline {deadline:g} s)",
            obs,
        )
    if elapsed > deadline + max(0.5, deadline / 2):
        return Result.fail(
            "handshake_held",
            f"a stalled TLS handshake was dropped only after {elapsed:.2f} s (declared deadline {deadline:g} s)",
            obs,
        )
    return Result.ok(f"a stalled TLS handshake: the target {what} after {elapsed:.2f} s (deadline {deadline:g} s)", obs)


# -- a trickled second request on a kept-alive connection -----------------------------------
async def _read_response(reader: asyncio.StreamReader, timeout: float) -> tuple[int, dict[str, str]] | None:
    """One HTTP/1.1 response (status, lower-case headers), its body read; None when none came in time."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    except (
        TimeoutError,
        asyncio.IncompleteReadError,
        asyncio.LimitOverrunError,
        ConnectionError,
        ssl.SSLError,
        OSError,
    ):
        return None
    lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split(" ", 2)[1])
    except (IndexError, ValueError):
        return None
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
    try:
        if "content-length" in headers:
            await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), timeout)
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            await asyncio.wait_for(reader.readuntil(b"0\r\n\r\n"), timeout)
    except (TimeoutError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, OSError):
        return None
    return status, headers


@probe(
    "resilience.keepalive_trickle",
    runs="together",
    waits="handshake_bound_s",
    category="resilience",
    critical=False,
    evidence=("target",),
    expected="on a kept-alive HTTP connection, a second request head sent in part and stalled is dropped within "
    "the declared deadline for a request head (limits.handshake), as the first request's is",
)
async def keepalive_trickle(ctx: ProbeContext) -> Result:
    deadline = handshake_deadline(ctx.contract)
    ep = ctx.contract.endpoint("health")
    assert deadline is not None and ep is not None  # REQUIRES: limits.handshake, endpoints.health
    http = urlsplit(ctx.http_url)
    tls = http.scheme == "https"
    port = http.port or (443 if tls else 80)
    host = http.hostname or ctx.host
    head = f"GET {ep['path']} HTTP/1.1\r\nHost: {http.netloc}\r\nUser-Agent: pitchey-analysis\r\n"
    bound = grace_s(deadline)
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(
            host,
            port,
            ssl=(ctx.ssl_context or ssl.create_default_context()) if tls else None,
            server_hostname=host if tls else None,
        ),
        ctx.options.open_timeout_s,
    )
    try:
        writer.write((head + "\r\n").encode())
        await writer.drain()
        first = await _read_response(reader, ctx.options.timeout_s)
        if first is None:
            return Result.fail(
                "no_answer", f"GET {ep['path']} got no complete answer within {ctx.options.timeout_s:.1f} s"
            )
        status, headers = first
        if not 200 <= status < 300:
            return Result.skip(
                "control_failed",
                f"GET {ep['path']} answered HTTP {status}: no kept-alive request to follow",
                {"status": status},
            )
        # RFC 9112 §2.1: the head ends with an empty line; the second one never does
        try:
            writer.write(head.encode())
            await writer.drain()
        except (ConnectionError, ssl.SSLError, OSError):
            pass  # closed already: judged below as the drop it is
        elapsed, what = await _dropped_within(reader, bound)
    finally:
        await _close_writer(writer)
    keep = headers.get("connection", "").lower() != "close"
    obs = {
        "deadline_s": deadline,
        "waited_s": round(bound, 2),
        "elapsed_s": None if elapsed is None else round(elapsed, 3),
        "target": what,
        "keep_alive_offered": keep,
    }
    if elapsed is None:
        return Result.fail(
            "keepalive_held",
            f"a second request head trickled on a kept-alive connection was held open for "
            f"{bound:.1f} s (declared deadline {deadline:g} s)",
            obs,
        )
    if not keep:
        return Result.ok(
            "the target closes the connection after each answer (Connection: close): no kept-alive connection to hold",
            obs,
        )
    return Result.ok(
        f"a trickled second request head: the target {what} after {elapsed:.2f} s (deadline {deadline:g} s)", obs
    )


# -- login brute force --------------------------------------------------------------------------
async def _guesses(
    ctx: ProbeContext, path: str, emails: list[str], local: str | None, refused: tuple[int, ...]
) -> tuple[int | None, int, dict[str, Any]]:
    """Wrong passwords, one login after another, until a 429: (the attempt that got it or None, attempts, facts).

    Raises :class:`_Odd` on an answer that is neither a refusal of the credentials nor a 429."""
    lg = ctx.contract.login
    method = lg.method if lg is not None else "POST"
    facts: dict[str, Any] = {}
    for i, email in enumerate(emails, start=1):
        status, headers = await _http(
            ctx, method, path, json_body=login_body(ctx.contract, email, "wrong-" + secrets.token_hex(6)), local=local
        )
        if status == 429:
            facts["retry_after"] = headers.get("Retry-After")
            return i, i, facts
        if status not in refused:
            raise _Odd(status, i)
    return None, len(emails), facts


class _Odd(Exception):
    """A login answer neither a refusal nor a throttle; private control flow, judged in this probe as a record."""

    def __init__(self, status: int, attempt: int) -> None:
        super().__init__(status, attempt)
        self.status, self.attempt = status, attempt


@probe(
    "readiness.login_throttle",
    leaves=("login_throttle",),
    category="readiness",
    critical=True,
    disruptive=True,
    last=True,
    evidence=("account", "address"),
    expected=f"HTTP login brute force is throttled with 429: wrong passwords for one account (and then its right "
    f"one), and wrong logins for many accounts from one address, within {BRUTE_ATTEMPTS} attempts each",
)
async def login_throttle(ctx: ProbeContext) -> Result:
    lg = ctx.contract.login
    assert lg is not None  # REQUIRES: login
    user = ctx.user
    path = (
        (user.login_path if user is not None and user.login_path else None)
        or (lg.paths.get(user.user_type) if user is not None else None)
        or next(iter(lg.paths.values()))
    )
    account = user.email if user is not None and user.email else "brute-force@pitchey-analysis.invalid"
    refused = tuple(lg.refused_status)
    obs: dict[str, Any] = {"attempts_per_phase": BRUTE_ATTEMPTS}
    # Each phase from a fresh loopback address where there is one, so the suite never throttles itself.
    by_account, by_address = ctx.scratch_address(), ctx.scratch_address()
    try:
        hit, tried, facts = await _guesses(ctx, path, [account] * BRUTE_ATTEMPTS, by_account, refused)
        obs["account"] = {"throttled_at": hit, "tried": tried, **facts}
        if hit is not None and user is not None and user.password and not user.token:
            status, _ = await _http(
                ctx, lg.method, path, json_body=login_body(ctx.contract, account, user.password), local=by_account
            )
            obs["account"]["right_password_after"] = status
            if status == lg.status:
                return Result.fail(
                    "throttle_bypassed",
                    f"{hit - 1} wrong passwords were refused and the {hit}th throttled "
                    f"with 429, but the right password right after was let in (HTTP {status})",
                    obs,
                )
        emails = [f"brute-{i}-{secrets.token_hex(3)}@pitchey-analysis.invalid" for i in range(BRUTE_ATTEMPTS)]
        hit2, tried2, facts2 = await _guesses(ctx, path, emails, by_address, refused)
        obs["address"] = {"throttled_at": hit2, "tried": tried2, **facts2}
    except _Odd as odd:
        return Result.fail(
            "wrong_answer",
            f"wrong login {odd.attempt} was answered HTTP {odd.status}: neither a refusal "
            f"of the credentials ({', '.join(map(str, refused))}) nor 429",
            obs,
        )
    if hit is None:
        return Result.fail(
            "no_throttle",
            f"{tried} wrong passwords for one account in a row were all refused as wrong "
            "credentials, none throttled with 429: the password can be guessed at the speed of the login",
            obs,
        )
    if hit2 is None:
        return Result.fail(
            "no_throttle",
            f"{tried2} failed logins for {tried2} accounts from one address were all refused "
            "as wrong credentials, none throttled with 429",
            obs,
        )
    return Result.ok(
        f"throttled with 429 after {hit - 1} wrong passwords for one account and after {hit2 - 1} failed "
        "logins from one address",
        obs,
    )


# -- subscriptions beyond the declared cap -------------------------------------------------------
def subscription_channels(contract: Contract, n: int) -> list[str]:
    """``n`` distinct public channel names a session may subscribe to, from the contract (pure): a per-entity
    pattern (``pitch:{id}`` as ``pitch:1``, ``pitch:2``...) first; fewer when it declares none."""
    public = [c.name for c in contract.channels.values() if not c.auth and not c.owner]
    pattern = next((p for p in public if "{" in p and "}" in p), None)
    if pattern is not None:
        head, _, rest = pattern.partition("{")
        tail = rest.partition("}")[2]
        return [f"{head}{i}{tail}" for i in range(1, n + 1)]
    return public[:n]


@probe(
    "readiness.subscription_cap",
    runs="together",
    category="readiness",
    critical=False,
    evidence=("confirmed", "refused_with"),
    expected="a session is confirmed up to the declared subscription cap (limits.subscriptions.perSession) and "
    "the subscription past it is refused with the declared error",
)
async def subscription_cap(ctx: ProbeContext) -> Result:
    c = ctx.contract
    lim = c.limit("subscriptions")
    req = subscribe_request(c)
    assert lim is not None and req is not None  # REQUIRES: limits.subscriptions, subscription
    cap, err_code = int(lim["perSession"]), lim.get("error")
    if cap + 1 > MAX_SUBSCRIPTIONS_PROBED:  # the channels' names are built before any is sent: bounded first
        return Result.skip(
            "cap_too_high",
            f"a cap of {cap:,} subscriptions is more than this probe sends ({MAX_SUBSCRIPTIONS_PROBED:,})",
        )
    channels = subscription_channels(c, cap + 1)
    if len(channels) <= cap:
        return Result.skip(
            "not_in_contract",
            f"the contract declares {len(channels)} public channels, not enough to subscribe past a cap of {cap}",
        )
    rate = c.limit("rate")
    pace = 0.0
    if rate is not None and cap + 2 > int(rate["burst"]):
        refill = float(rate.get("refillPerSecond") or 0)
        extra_s = (cap + 2 - int(rate["burst"])) / refill if refill > 0 else float("inf")
        if extra_s > 10:
            return Result.skip(
                "rate_bound",
                f"the declared rate limit ({rate['burst']} in a burst) lets no session send "
                f"{cap + 1} subscriptions in reasonable time: the cap is not judged",
            )
        pace = 1 / refill
    example, kinds = req
    obs: dict[str, Any] = {"cap": cap, "channel_pattern": channels[0]}
    s, began = await open_started(ctx, trace=False)
    async with s:
        if began.problem is not None:
            return began.problem
        for i, channel in enumerate(channels, start=1):
            if pace and i > int(rate["burst"]) - 2:  # type: ignore[index]
                await asyncio.sleep(pace)
            try:
                ans = await s.ask(set_pointer(example, "/channel", channel), kinds, ctx.options.timeout_s)
            except ConnectionClosed:
                ans = None
            if ans is None:
                obs["confirmed"] = i - 1
                if s.closed:
                    return Result.closed(s.close_code, s.close_reason, f"subscription {i} of {cap + 1}", obs)
                return Result.fail(
                    "no_answer",
                    f"subscription {i} ({channel!r}) got no answer within {ctx.options.timeout_s:.1f} s",
                    obs,
                )
            if c.is_error(ans):
                code = c.error_code(ans)
                obs.update(confirmed=i - 1, refused_with=code)
                if i <= cap:
                    return Result.fail(
                        "wrong_answer", f"subscription {i} was refused ({code}) below the declared cap of {cap}", obs
                    )
                if err_code is not None and code != err_code:
                    return Result.fail(
                        "wrong_answer",
                        f"the subscription past the cap was refused with {code}, not the declared {err_code}",
                        obs,
                    )
                return Result.ok(f"{cap} subscriptions confirmed, the {cap + 1}th refused ({code})", obs)
        obs["confirmed"] = len(channels)
    return Result.fail(
        "no_cap",
        f"{len(channels)} subscriptions of one session were all confirmed (declared cap {cap}): "
        "a client can make the service hold any number of channels",
        obs,
    )


# -- connections beyond the declared cap ---------------------------------------------------------
@probe(
    "readiness.connection_cap",
    runs="figures",
    leaves=("connections",),
    category="readiness",
    critical=False,
    disruptive=True,
    evidence=("served", "refused_status"),
    expected="connections up to the declared cap (limits.connections.max) are served, the next upgrade is refused "
    "with the declared status (503), and a slot freed is served again",
)
async def connection_cap(ctx: ProbeContext) -> Result:
    lim = ctx.contract.limit("connections")
    assert lim is not None  # REQUIRES: limits.connections
    cap, want = int(lim["max"]), int(lim.get("status") or 503)
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    room = (soft if soft != resource.RLIM_INFINITY else 1 << 20) - FD_RESERVE
    if cap + 1 > min(room, MAX_CAP_PROBED):
        return Result.skip(
            "cap_too_high",
            f"a cap of {cap} connections is more than this probe opens "
            f"({min(room, MAX_CAP_PROBED)}: the suite's file limit and its own bound)",
        )
    held: list[ProbeSession] = []
    obs: dict[str, Any] = {"cap": cap, "status": want}
    try:
        refused_at = None
        for i in range(cap + 1):
            try:
                s = await ProbeSession.open(ctx, trace=i < 2)
            except InvalidStatus as exc:
                status = exc.response.status_code
                obs.update(served=len(held), refused_status=status)
                if status != want:
                    return Result.fail(
                        "wrong_status",
                        f"connection {i + 1} was refused with HTTP {status}, not the declared {want}",
                        obs,
                    )
                refused_at = i + 1
                break
            held.append(s)
            if await s.begun() is None:
                return Result.fail(
                    "no_answer", f"connection {i + 1} was upgraded but never began as the contract says", obs
                )
        if refused_at is None:
            obs["served"] = len(held)
            return Result.fail(
                "no_cap",
                f"{len(held)} connections were all served (declared cap {cap}): a client can "
                "open connections until the service runs out of file descriptors",
                obs,
            )
        if refused_at == 1:
            return Result.skip(
                "no_room", f"the first connection was refused with {want}: the target is at its cap already"
            )
        await held.pop().close()
        released = None
        t0 = time.monotonic()
        while released is None and time.monotonic() - t0 < ctx.options.timeout_s:
            try:
                again = await ProbeSession.open(ctx, trace=False)
            except InvalidStatus:
                await asyncio.sleep(0.05)
                continue
            held.append(again)
            released = time.monotonic() - t0
        obs["served_again_after_s"] = None if released is None else round(released, 3)
        if released is None:
            return Result.fail(
                "slot_not_released",
                f"after one of {refused_at - 1} connections closed, upgrades were still "
                f"refused {ctx.options.timeout_s:.1f} s later",
                obs,
            )
        return Result.ok(
            f"{refused_at - 1} connections served, the next refused with {want}, served again "
            f"{released:.2f} s after one closed",
            obs,
        )
    except Exception as exc:
        r = classify(exc)
        r.detail = f"with {len(held)} connections open: {r.detail}"
        return r
    finally:
        await asyncio.gather(*(s.close() for s in held), return_exceptions=True)


# -- memory retained after a churn of clients ---------------------------------------------------
#: bytes of unique kinds a churn sends: well above what the gauge of a service at rest wanders by
CHURN_BYTES = 64 * 1024 * 1024
#: a churn the contract's limits keep smaller than this proves nothing against a gauge's noise
MIN_CHURN_BYTES = 16 * 1024 * 1024
#: sessions a churn opens at most, one after another (a small declared rate limit leaves fewer messages each)
MAX_CHURN_SESSIONS = 200
#: the longest unique kind a churn sends (a little under the 64 KiB most services allow a message)
MAX_KIND_BYTES = 60 * 1024
#: channels each churn session subscribes to, within the declared cap
CHURN_SUBSCRIPTIONS = 16
#: how long the gauge is read once the clients left, at most, and how often; it has settled once the last
#: SETTLED readings are within SETTLED_BYTES (or 1 %) of each other
SETTLE_S, SETTLE_EVERY_S, SETTLED, SETTLED_BYTES = 5.0, 0.25, 3, 1024 * 1024


@dataclass(frozen=True)
class Churn:
    """What a churn sends, from the contract's limits (pure data)."""

    kind_bytes: int  # the length of each unique kind
    kinds: int  # unique kinds per session
    subscriptions: int  # unique channels per session
    sessions: int

    @property
    def bytes(self) -> int:
        """The unique kinds' bytes over the whole churn."""
        return self.kind_bytes * self.kinds * self.sessions


def churn_plan(contract: Contract, churn_bytes: int = 0) -> Churn | None:
    """How a churn fits the contract (pure): kinds as long as a message may be, as many per session as the
    declared rate limit's burst allows (a round trip and a few subscriptions included), enough sessions for
    :data:`CHURN_BYTES` or ``churn_bytes`` (at most :data:`MAX_CHURN_SESSIONS`). None when no churn the limits
    allow is big enough (:data:`MIN_CHURN_BYTES`)."""
    size = contract.limit("messageSize")
    kind_bytes = min(MAX_KIND_BYTES, int(size["bytes"]) - 512) if size is not None else 16 * 1024
    rate = contract.limit("rate")
    burst = int(rate["burst"]) if rate is not None else 120
    budget = burst - 8 if burst > 16 else burst // 2  # a margin under the burst
    cap = contract.limit("subscriptions")
    subs = min(CHURN_SUBSCRIPTIONS, budget // 4, int(cap["perSession"]) if cap is not None else CHURN_SUBSCRIPTIONS)
    if subscribe_request(contract) is None or churn_channel(contract, "x") is None:
        subs = 0
    kinds = budget - subs - 1
    if kind_bytes < 1024 or kinds < 1:
        return None
    sessions = min(MAX_CHURN_SESSIONS, math.ceil((churn_bytes or CHURN_BYTES) / (kinds * kind_bytes)))
    plan = Churn(kind_bytes, kinds, subs, sessions)
    return plan if plan.bytes >= MIN_CHURN_BYTES else None


def churn_channel(contract: Contract, unique: str) -> str | None:
    """A public channel name no one else uses, from the contract's per-entity pattern (``pitch:{id}`` as
    ``pitch:<unique>``; pure); None when it declares no such pattern."""
    public = [c.name for c in contract.channels.values() if not c.auth and not c.owner]
    pattern = next((p for p in public if "{" in p and "}" in p), None)
    if pattern is None:
        return None
    head, _, rest = pattern.partition("{")
    return f"{head}{unique}{rest.partition('}')[2]}"


def settled(series: list[int]) -> bool:
    """Whether the last :data:`SETTLED` readings of a gauge agree (within 1 MiB, or 1 %; pure)."""
    last = series[-SETTLED:]
    return len(last) == SETTLED and max(last) - min(last) <= max(SETTLED_BYTES, min(last) // 100)


def judge_memory(before: int, after: list[int], churned: int) -> tuple[bool, int]:
    """(memory was retained, the bytes retained; pure): the lowest reading once the clients left, less where
    the gauge stood before, is more than half of what the churn sent."""
    retained = min(after) - before
    return retained > churned // 2, retained


async def _settle(gauge: Any, reads_at_most: int) -> list[tuple[float, int | None]]:
    """Read the gauge every SETTLE_EVERY_S until it settles or ``reads_at_most`` readings: [(seconds, bytes)].

    A read that finds no figure ends the series only while none was ever found (the gauge is absent); once one was,
    a missing read is a busy moment of the target (it answers its churn's last frames) and the reading goes on."""
    t0 = time.monotonic()
    series: list[tuple[float, int | None]] = []
    for i in range(reads_at_most):
        if i:
            await asyncio.sleep(SETTLE_EVERY_S)
        series.append((round(time.monotonic() - t0, 2), await gauge()))
        found = [v for _, v in series if v is not None]
        if (not found and i + 1 >= SETTLED) or settled(found):
            break
    return series


async def _churn_session(ctx: ProbeContext, plan: Churn, n: int, tag: str) -> tuple[Result | None, dict[str, Any]]:
    """One churn session: ``plan.kinds`` messages of unique unknown kinds, ``plan.subscriptions`` unique channels,
    then the round trip that shows they were all read. Returns (the session's failure to begin, or None; what
    happened)."""
    c = ctx.contract
    op = c.round_trip() or next(iter(c.request_answers()), None)
    base = copy.deepcopy(op.request.example) if op is not None and op.request is not None and op.request.example else {}
    kind_at = c.kind_pointer or "/type"
    sub = subscribe_request(c)
    s, began = await open_started(ctx, trace=False)
    async with s:
        if began.problem is not None:
            return began.problem, {}
        try:
            for i in range(plan.kinds):
                head = f"churn-{tag}-{n}-{i}-"
                await s.send(set_pointer(base, kind_at, c.unknown_kind(head + "x" * (plan.kind_bytes - len(head)))))
            for j in range(plan.subscriptions if sub is not None else 0):
                assert sub is not None
                req = subscribe_request(c, churn_channel(c, f"churn-{tag}-{n}-{j}"))
                assert req is not None
                await s.send(req[0])
            rt = round_trip(ctx, f"churn-{n}")
            assert rt is not None  # REQUIRES: roundTrip
            mark = s.mark()
            await s.send(rt[0])
            # its answer, past the errors the unknown kinds got (answered in order: all were read before it)
            ans = await s.expect_answer({rt[1]}, ctx.options.timeout_s, since=mark, errors=False)
        except ConnectionClosed:
            ans = None
        return None, {
            "answered": ans is not None,
            "closed": s.closed,
            "close_code": s.close_code if s.closed else None,
            "close_reason": s.close_reason if s.closed else None,
        }


@probe(
    "readiness.memory_retained",
    category="readiness",
    critical=True,
    disruptive=True,
    quick=False,
    evidence=("sessions_answered", "churn_bytes", "after"),
    expected="after a churn of clients (anonymous where the contract allows) sending messages of unique unknown kinds "
    "(about 64 MB of them, within the declared size and rate limits) and subscribing to unique channels, "
    "the memory gauge the contract names settles, once they left, within half the churn of where it began",
)
async def memory_retained(ctx: ProbeContext) -> Result:
    c = ctx.contract
    sources = c.memory_sources()
    assert sources  # REQUIRES: memory
    admin_token = None
    if any(admin for _, _, admin in sources) and ctx.admin is not None:
        admin_token, ans = await login(ctx, ctx.admin)
        if admin_token is None and all(admin for _, _, admin in sources):
            return login_refused(ctx.admin, ans)
    readable = [(path, ptr, admin) for path, ptr, admin in sources if not admin or admin_token]
    if not readable:
        return Result.skip(
            "no_admin",
            f"the memory gauge ({sources[0][0]} {sources[0][1]}) needs an admin token: give admin credentials",
        )

    answer_bytes: dict[str, int] = {}  # the largest answer of the gauge's endpoint read, before and after the churn

    async def gauge() -> int | None:
        for path, ptr, admin in readable:
            ans = await http_get(ctx, "GET", path, token=admin_token if admin else None)
            size = len(ans.text.encode("utf-8", "replace"))
            answer_bytes[phase] = max(answer_bytes.get(phase, 0), size)
            v = pointer_get(ans.body, ptr)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0:
                return int(v)
        return None

    phase = "before"

    where = ", ".join(f"{path} {ptr}" for path, ptr, _ in readable)
    plan = churn_plan(c, ctx.options.churn_bytes)
    if plan is None:
        return Result.skip(
            "churn_too_small",
            "the declared message size and rate limits allow no churn of "
            f"{MIN_CHURN_BYTES // 2**20} MiB in {MAX_CHURN_SESSIONS} sessions",
        )
    before_series = await _settle(gauge, SETTLED + 2)
    obs: dict[str, Any] = {
        "gauge": where,
        "before": before_series,
        "kind_bytes": plan.kind_bytes,
        "kinds_per_session": plan.kinds,
        "subscriptions_per_session": plan.subscriptions,
    }
    found_before = [v for _, v in before_series if v is not None]
    if not found_before:
        return Result.skip(
            "figures_absent", f"the target reports no memory figure where the contract says ({where})", obs
        )
    before = int(found_before[-1])
    tag = secrets.token_hex(4)
    t0 = time.monotonic()
    answered = closed = 0
    seen_close: dict[str, Any] = {}
    for n in range(plan.sessions):
        try:
            problem, got = await _churn_session(ctx, plan, n, tag)
        except (TimeoutError, OSError) as exc:
            if n == 0:
                raise  # the target cannot be reached at all: the runner classifies it
            obs["churn_stopped"] = f"session {n + 1}: {classify(exc).reason}"  # the churn so far is judged
            break
        if problem is not None:
            if n == 0:
                return problem
            break
        answered += bool(got["answered"])
        if got["closed"] and not got["answered"]:
            closed += 1
            seen_close = {"code": got["close_code"], "reason": got["close_reason"]}
            if is_lockout_close(got["close_code"], got["close_reason"]):
                return Result.closed(got["close_code"], got["close_reason"], f"churn session {n + 1}", obs)
    churned = answered * plan.kinds * plan.kind_bytes
    obs.update(
        sessions=plan.sessions,
        sessions_answered=answered,
        sessions_closed=closed,
        churn_bytes=churned,
        churn_s=round(time.monotonic() - t0, 2),
    )
    if closed:
        obs["close"] = seen_close
    if churned < MIN_CHURN_BYTES:
        if not answered and not closed:
            return Result.fail(
                "no_answer",
                f"none of {plan.sessions} churn sessions got its round trip answered "
                f"within {ctx.options.timeout_s:.1f} s",
                obs,
            )
        return Result.skip(
            "churn_refused",
            f"only {answered} of {plan.sessions} churn sessions were answered "
            f"({closed} closed by the target): too little churn to judge the memory gauge by",
            obs,
        )
    phase = "after"
    after_series = await _settle(gauge, max(SETTLED, int(SETTLE_S / SETTLE_EVERY_S)))
    obs["after"] = after_series
    after = [v for _, v in after_series if v is not None]
    if not after and answer_bytes.get("after", 0) >= MAX_BODY_BYTES > 2 * answer_bytes.get("before", 0):
        # the gauge's own answer outgrew what the tool reads (a bound against bombs) with the churn: what the clients
        # sent is kept in it -- an answer a service that frees it could not give
        obs["answer_bytes"] = answer_bytes
        return Result.fail(
            "memory_retained",
            f"{answered} sessions sent {churned / 2**20:.0f} MiB of unique unknown "
            f"kinds; once they left, the gauge's answer ({where}) had grown from "
            f"{answer_bytes.get('before', 0):,} bytes to more than {MAX_BODY_BYTES:,}: the service keeps "
            "what its clients sent",
            obs,
        )
    if not after:
        return Result.skip("figures_absent", f"the memory figure ({where}) was gone once the clients left", obs)
    kept, retained = judge_memory(before, after, churned)
    mib = 2**20
    obs.update(retained_bytes=retained, threshold_bytes=churned // 2)
    what = (
        f"{answered} sessions sent {churned / mib:.0f} MiB of unique unknown kinds"
        + (f" and {plan.subscriptions} unique subscriptions each" if plan.subscriptions else "")
        + f"; {where}: {before / mib:.0f} MiB before, {min(after) / mib:.0f} MiB once they left "
        f"(settled over {after_series[-1][0]:.1f} s)"
    )
    if kept:
        return Result.fail(
            "memory_retained",
            f"{what}: {retained / mib:.0f} MiB retained after the clients left, more than half of the churn",
            obs,
        )
    return Result.ok(f"{what}: {max(0, retained) / mib:.0f} MiB retained", obs)
