"""Authentication probes: the three ways to authenticate and the negative cases."""

from __future__ import annotations

import time

from websockets.exceptions import InvalidStatus

from .base import ProbeContext, Result, classify, probe
from .common import (
    accepted,
    alg_none_token,
    authed,
    authed_session,
    forged_token,
    login,
    login_refused,
    need_user,
    signed_token,
    unverified_claims,
)
from .session import ProbeSession


@probe("auth.query_token", category="authentication", critical=True,
       expected="?token=<login token> gives authenticated:true (the login token is accepted on /ws)")
async def query_token(ctx: ProbeContext) -> Result:
    s = await authed(ctx, via="query", metric="auth_connect_ms")
    await s.close()
    return Result.ok("authenticated by query token")


@probe("auth.header_token", category="authentication", critical=True,
       expected="'Authorization: Bearer <token>' really sent on the upgrade gives authenticated:true")
async def header_token(ctx: ProbeContext) -> Result:
    s = await authed(ctx, via="header", metric="auth_connect_ms")
    sent = s.conn.request.headers.get("Authorization", "") if s.conn.request else ""
    await s.close()
    if not sent.startswith("Bearer "):
        return Result("error", "probe_error", "the Authorization header was not sent")
    return Result.ok("authenticated by header")


@probe("auth.post_connection", category="authentication", critical=True,
       expected="{type:'auth', token} on an anonymous session is answered with auth_success")
async def post_connection(ctx: ProbeContext) -> Result:
    creds = need_user(ctx)
    if isinstance(creds, Result):
        return creds
    token, ans = await login(ctx, creds)
    if token is None:
        return login_refused(creds, ans)
    async with await ProbeSession.open(ctx) as s:
        if await s.expect_type("connected", timeout=ctx.options.timeout_s) is None:
            return Result.fail("no_answer", "no connected frame")
        mark = s.mark()
        t_off, t0 = ctx.recorder.t_offset(), time.perf_counter()
        await s.send({"type": "auth", "token": token})
        answer = await s.expect_type("auth_success", "auth_error", "error", timeout=ctx.options.timeout_s, since=mark)
        if answer is not None:
            ctx.sample("auth_ms", (time.perf_counter() - t0) * 1000, t_offset_s=t_off)
    if answer is None:
        return Result.fail("no_answer", "no auth_success within the timeout")
    if answer.get("type") != "auth_success":
        return Result.fail("auth_rejected", f"answered {answer.get('type')} {answer.get('code')}", answer)
    return Result.ok("auth_success", answer)


async def auth_control(ctx: ProbeContext) -> Result | None:
    """The control case of every refusal test: a valid login token *is* accepted (judged once per run).

    Returns None when the control holds, else the skip that the negative probes report.
    """
    if ctx._control is None:
        s, err = await authed_session(ctx, trace=False)
        if s is not None:
            await s.close()
            ctx._control = "ok"
        else:
            assert err is not None
            ctx._control = Result.skip("control_failed", f"the control case failed (a valid login token is not accepted: "
                                       f"{err.reason}), so a refusal would prove nothing", {"control": err.reason})
    return None if ctx._control == "ok" else ctx._control  # type: ignore[return-value]


async def _negative(ctx: ProbeContext, token: str | None, want: str, what: str) -> Result:
    """A bad token must not authenticate (critical, judged first); its refusal should carry the contract's authError.

    The security outcome comes first: was the token *accepted* (authenticated
    in any frame of the session, or an authenticated-only request answered)?
    Only then the form of the refusal, a non-critical contract deviation.
    """
    if token is None:
        return Result.skip("no_jwt_secret", f"{what} needs the target's signing secret (--jwt-secret)")
    control = await auth_control(ctx)
    if control is not None:
        return control
    # Negative tokens count as failed authentications: use another loopback
    # source address so that the suite does not lock itself out (PROTOCOL.md note).
    try:
        s = await ProbeSession.open(ctx, token=token, local_addr=ctx.scratch_address())
    except InvalidStatus as exc:
        status = exc.response.status_code
        if status in (401, 403):
            return Result.fail("refused_at_upgrade", f"{what} refused at the upgrade (HTTP {status}), not with an anonymous "
                               f"session and authError {want!r}", {"status": status, "security": "refused"}, critical=False)
        return classify(exc)
    async with s:
        first = await s.expect_type("connected", timeout=ctx.options.timeout_s)
        await s.wait_closed(ctx.options.settle_s)
        proof = await accepted(ctx, s) if first is not None else None
        code = s.close_code if s.closed else None
    if proof is not None:
        return Result.fail("token_accepted", f"{what} was ACCEPTED: the session was authenticated", {"security": "accepted", "evidence": proof},
                           critical=True)
    if first is None:
        if code is not None:
            r = Result.closed(code, s.close_reason, f"no connected frame for {what}", {"security": "refused"})
            if r.outcome == "fail":
                r.reason, r.critical = "refused_by_close", False
                r.detail = f"{what} refused by closing {code} {s.close_reason!r}, not with an anonymous session and authError {want!r}"
            return r
        return Result.skip("no_answer", f"no connected frame and no close for {what}: nothing to judge")
    obs = {"security": "refused", "first_frame": first}
    if first.get("authError") != want:
        return Result.fail("wrong_answer", f"{what} was refused, but authError is {first.get('authError')!r}, expected {want!r}",
                           obs, critical=False)
    return Result.ok(f"{what} refused (no authenticated frame, an authenticated-only request refused) with authError {want}", obs)


@probe("auth.invalid_token", category="authentication", critical=True,
       expected="a garbage token gives authenticated:false with authError 'invalid_token'")
async def invalid_token(ctx: ProbeContext) -> Result:
    return await _negative(ctx, "invalid_token", "invalid_token", "a garbage token")


@probe("auth.forged_token", category="authentication", critical=True,
       expected="a token signed with another key gives authenticated:false with authError 'invalid_token'")
async def forged(ctx: ProbeContext) -> Result:
    return await _negative(ctx, forged_token(ctx), "invalid_token", "a forged token")


@probe("auth.alg_none", category="authentication", critical=True,
       expected="an alg:none token gives authenticated:false with authError 'invalid_token'")
async def alg_none(ctx: ProbeContext) -> Result:
    return await _negative(ctx, alg_none_token(ctx), "invalid_token", "an alg:none token")


@probe("auth.expired_token", category="authentication", critical=True, needs=("jwt_secret",),
       expected="a validly signed but expired token gives authenticated:false with authError 'expired_token'")
async def expired(ctx: ProbeContext) -> Result:
    return await _negative(ctx, signed_token(ctx, iat=1_600_000_000, exp=1_600_003_600), "expired_token", "an expired token")


@probe("auth.wrong_audience", category="authentication", critical=True, needs=("jwt_secret",),
       expected="a validly signed token for another audience gives authError 'invalid_token'")
async def wrong_audience(ctx: ProbeContext) -> Result:
    return await _negative(ctx, signed_token(ctx, aud="someone-else"), "invalid_token", "a wrong-audience token")


@probe("auth.unknown_user", category="authentication", critical=False, needs=("jwt_secret",),
       expected="a valid token for a user who does not exist gets 'connected' first, then error user_not_found, and an anonymous session")
async def unknown_user(ctx: ProbeContext) -> Result:
    token = signed_token(ctx, sub="987654321")
    if token is None:
        return Result.skip("no_jwt_secret", "needs the target's signing secret (--jwt-secret)")
    async with await ProbeSession.open(ctx, token=token, local_addr=ctx.scratch_address()) as s:
        err = await s.expect(lambda f: f.get("type") == "error", ctx.options.timeout_s)
        first = await s.expect_type("connected", timeout=0.2)
        code = s.close_code if s.closed else None
    if err is None or err.get("code") != "user_not_found":
        return Result.fail("wrong_answer", f"expected error user_not_found, got {err}", err,
                           close_code=code, close_reason=s.close_reason if code else None)
    order = s.types()[:3]
    if order[:1] != ["connected"]:
        # PROTOCOL.md Part A: 'connected' is the first frame of every session, the error after it.
        return Result.fail("connected_not_first", f"the first frames are {order}: 'connected' is not first", {"frames": order})
    if first is not None and first.get("authenticated") is True:
        return Result.fail("auth_accepted", "the unknown user was treated as authenticated", first)
    return Result.ok("user_not_found, session anonymous")


@probe("auth.token_subject", category="authentication", critical=True,
       expected="each login's token has sub = the id of the user who logged in")
async def token_subject(ctx: ProbeContext) -> Result:
    users = list(ctx.users.values()) or ([ctx.user] if ctx.user else [])
    if not users:
        return Result.skip("no_credentials", "no credentials to log in with")
    seen: dict[str, object] = {}
    judged = []
    for creds in users:
        token, ans = await login(ctx, creds, fresh=True)
        if token is None:
            seen[creds.user_type] = f"login HTTP {ans.status}"
            continue
        uid = (ans.field("user") or {}).get("id")
        sub = unverified_claims(token).get("sub")
        seen[creds.user_type] = {"user_id": uid, "sub": sub}
        if uid is None or sub is None:
            continue  # nothing to compare
        judged.append(creds.user_type)
        if str(sub) != str(uid):
            return Result.fail("wrong_subject", f"the {creds.user_type} login signs sub={sub} for user {uid}", seen)
    if not judged and all(isinstance(v, str) for v in seen.values()):
        return Result.skip("login_failed", "no login succeeded: no token to inspect", seen)
    if not judged:
        return Result.skip("no_evidence", "no login gave both a token subject and a user id to compare", seen)
    return Result.ok(f"the tokens of {', '.join(judged)} name their users", seen)


@probe("auth.required_for_protected", category="authentication", critical=True,
       expected="an authenticated-only message on an anonymous session gets error auth_required")
async def required(ctx: ProbeContext) -> Result:
    async with await ProbeSession.open(ctx) as s:
        await s.connected()
        mark = s.mark()
        await s.send({"type": "request_initial_data"})
        ans = await s.expect(lambda f: f.get("type") in ("error", "initial_data"), ctx.options.timeout_s, since=mark)
    if ans is None:
        return Result.fail("no_answer", "no answer to an authenticated-only message")
    if ans.get("type") != "error" or ans.get("code") != "auth_required":
        return Result.fail("wrong_answer", f"answered {ans.get('type')} {ans.get('code')}", ans)
    return Result.ok("auth_required")
