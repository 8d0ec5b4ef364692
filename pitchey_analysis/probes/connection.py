"""Connection probes: health, login, anonymous and authenticated connect, first frames."""

from __future__ import annotations

import time
from typing import Any

from websockets.exceptions import InvalidStatus

from ..contract import pointer_get
from ..outcomes import FAILED, Outcome
from .base import ProbeContext, Result, classify, probe
from .common import (
    authed,
    authed_session,
    every_credential,
    http,
    login,
    login_refused,
    login_user_id,
    need_user,
    round_trip,
    unverified_claims,
)
from .flow import ConnectTiming, timed_connect
from .leaks import find_hash
from .session import ProbeSession, first_frame_observer
from .vocabulary import ROUND_TRIP_ANSWER


@probe(
    "connection.health",
    runs="together",
    category="connection",
    critical=True,
    evidence=("status",),
    expected="the contract's health endpoint (GET /api/health) answers 200 with its status field healthy "
    "(data.status 'healthy')",
)
async def health(ctx: ProbeContext) -> Result:
    ep = ctx.contract.endpoint("health") or {"path": "/api/health", "status": "/data/status"}
    ans = await http(ctx, "GET", ep["path"])
    obs = {"status": ans.status, "body": ans.body}
    if ans.status != 200:
        return Result.fail("wrong_status", f"health answered HTTP {ans.status}", obs)
    healthy = ep.get("healthy", "healthy")
    if ep.get("status") and pointer_get(ans.body, ep["status"]) != healthy:
        return Result.fail("wrong_answer", f"health body lacks {ep['status']} = {healthy!r}", obs)
    return Result.ok("service healthy", obs)


@probe(
    "connection.login",
    runs="together",
    category="connection",
    critical=True,
    evidence=("claims",),
    expected="every login given (each user type and the admin) answers 200 with a token carrying the contract's "
    "claims and the user's id where the contract says",
)
async def login_probe(ctx: ProbeContext) -> Result:
    creds = need_user(ctx)
    if isinstance(creds, Result):
        return creds
    claims_of: dict[str, list[str]] = {}
    obs: dict[str, Any] = {"claims": claims_of}
    for name, c in every_credential(ctx):
        t0 = time.perf_counter()
        token, ans = await login(ctx, c, fresh=True)
        ctx.sample("login_ms", (time.perf_counter() - t0) * 1000, t_offset_s=ctx.recorder.t_offset())
        if token is None:
            return Result.fail(
                "login_failed",
                f"the {name} login answered HTTP {ans.status}",
                {**obs, "login": name, "status": ans.status, "body": ans.body},
            )
        claims = unverified_claims(token)
        claims_of[name] = sorted(claims)
        up, lg = ctx.contract.upgrade, ctx.contract.login
        missing = [k for k in (up.required_claims() if up is not None else {}).values() if k not in claims]
        uid_at = lg.user_id if lg is not None else None
        no_uid = uid_at is not None and pointer_get(ans.body, uid_at) in (None, "")
        if missing or no_uid:
            what = [f"claims {missing}"] * bool(missing) + [f"the user id at {uid_at}"] * no_uid
            return Result.fail(
                "wrong_answer",
                f"the {name} login's answer lacks {' and '.join(what)}",
                {**obs, "login": name, "missing_claims": missing, "user_id_at": uid_at},
            )
    return Result.ok(f"the tokens of {', '.join(claims_of)} carry every claim of the contract", obs)


@probe(
    "connection.login_no_password",
    runs="together",
    category="connection",
    critical=True,
    evidence=("judged",),
    expected="no login answer (of any user type or the admin) contains the password or a password hash "
    "(bcrypt, argon2, PBKDF2, sha-crypt, or a field named for one)",
)
async def login_no_password(ctx: ProbeContext) -> Result:
    # Evidence: only an answer to a login that *succeeded* could have carried the password; each login given is read.
    judged: list[str] = []
    refused: dict[str, int] = {}
    echoes: list[str] = []
    hashes: dict[str, str] = {}
    for name, creds in every_credential(ctx):
        if creds.token and not creds.password:
            continue  # a token the user supplied: no login answer to read
        token, ans = await login(ctx, creds, fresh=True)
        if creds.password and ans.text and creds.password in ans.text:
            echoes.append(name)
        found = find_hash(ans.text, ans.body)
        if found is not None:
            hashes[name] = f"{found[0]} at {found[1]}"
        if token is None:
            refused[name] = ans.status
        else:
            judged.append(name)
    obs = {"judged": judged, "refused": refused, "password_echoed": echoes, "password_hash": hashes}
    if echoes:
        return Result.fail(
            "secret_leak",
            f"the login answer of {', '.join(echoes)} echoes the password in clear text: "
            "whoever reads the answer (browser storage, logs, a proxy) holds the credential",
            obs,
        )
    if hashes:
        where = "; ".join(f"{n}: {h}" for n, h in hashes.items())
        return Result.fail(
            "password_hash",
            f"the login answer of {', '.join(hashes)} carries a password hash ({where}): "
            "whoever reads the answer can guess the password offline, at the speed of their hardware",
            obs,
        )
    if not judged and not refused:
        return Result.skip("no_credentials", "no credentials to log in with")
    if not judged:
        return Result.skip("login_failed", f"no login succeeded (HTTP {refused}): no answer to search", obs)
    return Result.ok(f"no password and no password hash in the successful login answers of {', '.join(judged)}", obs)


@probe(
    "connection.anonymous_connect",
    runs="together",
    category="connection",
    critical=True,
    evidence=("first_frame|status|close_code",),
    expected="an anonymous upgrade gets 'connected' with authenticated:false and the public capabilities; stages timed",
)
async def anonymous_connect(ctx: ProbeContext) -> Result:
    t_off = ctx.recorder.t_offset()
    up = ctx.contract.upgrade
    if up is not None and not up.anonymous:
        return await _anonymous_refused(ctx, up.refused_status)
    settle = ctx.quiet(ctx.options.settle_s)
    timing = await timed_connect(
        await_first=ctx.first_frame_type is not None,
        **ctx.upgrade_with(anonymous=True),
        ssl_context=ctx.ssl_context,
        timeout=ctx.options.open_timeout_s,
        settle_s=settle,
        observe=first_frame_observer(ctx),
    )
    for metric, v in timing.stages().items():
        if v is not None:
            ctx.sample(metric, v, t_offset_s=t_off)
    first = timing.first_frame or {}
    obs = {"first_frame": first, "stages_ms": {k: round(v, 3) for k, v in timing.stages().items() if v is not None}}
    ff = ctx.contract.first_frame
    assert ff is not None  # REQUIRES: firstFrame.authenticated
    if first.get("type") != ff.type:
        return Result.fail("wrong_answer", f"first frame is {first.get('type')!r}, not {ff.type!r}", obs)
    issue = ctx.contract.check_frame(first)
    if (
        issue is not None
        or ff.authenticated_in(first)
        or not set(ff.capabilities_anonymous) <= ff.capabilities_in(first)
    ):
        bad = f"{issue.path}: {issue.error}" if issue else "authenticated or capabilities"
        return Result.fail("wrong_answer", f"{ff.type} frame off contract ({bad})", obs)
    if timing.closed is not None:
        return _closed_after(timing, obs, "anonymous session", ctx.first_frame_word)
    return Result.ok(f"connected in {timing.connect_ms:.1f} ms and stayed open {settle:.2f} s", obs)


async def _anonymous_refused(ctx: ProbeContext, statuses: tuple[int, ...]) -> Result:
    """A service that serves no anonymous session (its contract says so) must refuse an anonymous upgrade:
    with one of its declared statuses, or by closing the session before it is used."""
    try:
        s = await ProbeSession.open(ctx, anonymous=True)
    except InvalidStatus as exc:
        status = exc.response.status_code
        if status in statuses:
            return Result.ok(
                f"the anonymous upgrade was refused with HTTP {status}, as the contract declares", {"status": status}
            )
        return Result.fail(
            "wrong_answer",
            f"the anonymous upgrade was refused with HTTP {status}, not {list(statuses)}",
            {"status": status},
        )
    async with s:
        await s.wait_closed(ctx.options.timeout_s)
        if s.closed:
            return Result.ok(
                f"the anonymous session was closed {s.close_code} before it could be used",
                {"close_code": s.close_code, "frames": s.types()},
            )
    return Result.fail(
        "anonymous_accepted",
        "an anonymous session was served although the contract says it serves none",
        {"frames": s.types()},
    )


def _closed_after(timing: ConnectTiming, obs: dict[str, Any], what: str, began: str) -> Result:
    assert timing.closed is not None
    code, reason, ms = timing.closed
    obs = {**obs, "closed_after_ms": round(ms, 1), "later_frames": timing.later_frames[:5]}
    return Result.closed(code, reason, f"{what} closed {ms:.0f} ms after {began}", obs)


@probe(
    "connection.authenticated_connect",
    runs="together",
    category="connection",
    critical=True,
    evidence=("first_frame",),
    expected="an upgrade with a login token gets 'connected' with authenticated:true, the user and the authenticated "
    "capabilities",
)
async def authenticated_connect(ctx: ProbeContext) -> Result:
    creds = need_user(ctx)
    if isinstance(creds, Result):
        return creds
    token, ans = await login(ctx, creds)
    if token is None:
        return login_refused(creds, ans)
    settle = ctx.quiet(ctx.options.settle_s)
    timing = await timed_connect(
        await_first=ctx.first_frame_type is not None,
        **ctx.upgrade_with(token=token),
        ssl_context=ctx.ssl_context,
        timeout=ctx.options.open_timeout_s,
        settle_s=settle,
        observe=first_frame_observer(ctx),
    )
    first = timing.first_frame or {}
    obs = {"first_frame": first}
    ff = ctx.contract.first_frame
    assert ff is not None  # REQUIRES: firstFrame.authenticated
    if first.get("type") != ff.type:
        return Result.fail("wrong_answer", f"first frame is {first.get('type')!r}", obs)
    if not ff.authenticated_in(first):
        return Result.fail("auth_rejected", "authenticated is not true for a valid login token", obs)
    uid = login_user_id(ctx, ans)
    if not set(ff.capabilities_authenticated) <= ff.capabilities_in(first) or (
        uid is not None and ff.user_id and ff.user_id_in(first) != uid
    ):
        return Result.fail("wrong_answer", f"capabilities or user of the {ff.type} frame are off contract", obs)
    if timing.closed is not None:
        return _closed_after(timing, obs, "authenticated session", ctx.first_frame_word)
    return Result.ok(f"authenticated with the authenticated capabilities; open {settle:.2f} s later", obs)


@probe(
    "connection.user_types",
    runs="together",
    category="connection",
    critical=True,
    evidence=("per_type",),
    expected="every demo user type (creator, investor, production) connects authenticated and its session stays open "
    "and answers a ping",
)
async def user_types(ctx: ProbeContext) -> Result:
    if not ctx.users:
        return Result.skip("no_credentials", "no per-type credentials given")
    seen: dict[str, str] = {}
    results: dict[str, Result] = {}
    for utype, creds in ctx.users.items():
        try:
            s, err = await authed_session(ctx, creds)
        except Exception as exc:
            err, s = classify(exc), None
        if err is not None:
            seen[utype], results[utype] = err.reason, err
            continue
        assert s is not None
        mark = s.mark()
        rt = round_trip(ctx, f"ut-{utype}")
        assert rt is not None  # REQUIRES: roundTrip
        await s.send(rt[0])
        pong = await s.expect_answer({rt[1]}, ctx.options.timeout_s, since=mark, errors=False)  # its id, if correlated
        stray = s.stray_answer({rt[1]}, mark) if pong is None else None
        if s.closed or pong is None:
            err = (
                Result.closed(s.close_code, s.close_reason, f"{utype} session")
                if s.closed
                else Result.fail(
                    "wrong_answer", f"{utype} {ctx.round_trip_words[0]} answered with another id", {"answer": stray}
                )
                if stray
                else Result.fail("no_answer", f"{utype} {ctx.round_trip_words[0]} unanswered")
            )
            seen[utype], results[utype] = err.reason, err
        else:
            seen[utype] = "ok"
        await s.close()
    # A type that failed decides; a type without evidence (refused login, lockout) leaves a gap.
    decided = [r for r in results.values() if r.outcome in FAILED] or [
        r for r in results.values() if r.outcome == Outcome.SKIP
    ]
    if decided:
        r = decided[0]
        r.observed = seen
        r.detail = f"{r.detail}; per type: {seen}"
        return r
    answer = ctx.round_trip_words[1] if round_trip(ctx, "ut") is not None else "its round trip"
    return Result.ok(
        f"every session of {', '.join(seen)} opened authenticated, stayed open and got {answer}", {"per_type": seen}
    )


@probe(
    "connection.single_connected_frame",
    runs="together",
    category="connection",
    critical=False,
    evidence=("first_frame",),
    expected="exactly one 'connected' frame per session",
)
async def single_connected(ctx: ProbeContext) -> Result:
    s = await authed(ctx)
    watched = max(ctx.options.quiet_window_s, 0.5)
    extra = await s.expect_type(ctx.first_frame_type, timeout=ctx.quiet(watched), since=1)
    await s.close()
    if extra is not None:
        return Result.fail("extra_frame", f"a second {ctx.first_frame_type!r} frame followed the first", extra)
    first = next((f for _, f in s.frames if ctx.contract.kind_of(f) == ctx.first_frame_type), None)
    return Result.ok(
        f"one {ctx.first_frame_word} frame", {"first_frame": first, "frames": s.types(), "watched_s": round(watched, 3)}
    )


@probe(
    "connection.ping_on_connected",
    runs="timing",
    category="connection",
    critical=True,
    evidence=(ROUND_TRIP_ANSWER,),
    expected="a ping sent the moment 'connected' arrives is answered with a pong",
)
async def ping_on_connected(ctx: ProbeContext) -> Result:
    creds = need_user(ctx)
    if isinstance(creds, Result):
        return creds
    token, ans = await login(ctx, creds)
    if token is None:
        return login_refused(creds, ans)
    s = await ProbeSession.open(ctx, token=token)
    try:
        first = await s.begun()
        if first is None:
            return Result.fail("no_answer", f"no {ctx.first_frame_word} frame", close_code=s.close_code)
        rt = round_trip(ctx, "early")
        assert rt is not None  # REQUIRES: roundTrip
        said_req, said_ans = ctx.round_trip_words
        mark = s.mark()
        await s.send(rt[0])
        pong = await s.expect_answer({rt[1]}, ctx.options.timeout_s, since=mark, errors=False)  # its id, if correlated
        if pong is None:
            if s.closed:
                return Result.closed(
                    s.close_code,
                    s.close_reason,
                    f"the {said_req} sent right after {ctx.first_frame_word} got no {said_ans}",
                )
            stray = s.stray_answer({rt[1]}, mark)
            if stray is not None:
                return Result.fail(
                    "wrong_answer",
                    f"the {said_req} sent right after {ctx.first_frame_word} was answered with another id",
                    {"answer": stray, "request_id": s.last_id},
                )
            return Result.fail(
                "no_answer",
                f"the {said_req} sent right after {ctx.first_frame_word} got no {said_ans}",
                {"frames": s.types()},
            )
        return Result.ok("answered", {ROUND_TRIP_ANSWER: pong})
    finally:
        await s.close()
