"""Authentication probes: the three ways to authenticate and the negative cases."""

from __future__ import annotations

import time
from typing import Any

from websockets.exceptions import InvalidStatus

from ..contract import pointer_get
from ..contract.requests import fill_template
from ..outcomes import Outcome
from .base import Evidence, ProbeContext, Result, classify, probe
from .common import (
    accepted,
    alg_none_token,
    authed,
    authed_session,
    claim,
    every_credential,
    forged_token,
    login,
    login_refused,
    need_user,
    signed_token,
    unverified_claims,
)
from .session import ProbeSession


@probe(
    "auth.query_token",
    runs="together",
    category="authentication",
    critical=True,
    evidence=("authenticated_by",),
    expected="?token=<login token> gives authenticated:true (the login token is accepted on /ws)",
)
async def query_token(ctx: ProbeContext) -> Result:
    s = await authed(ctx, via="query", metric="auth_connect_ms")
    await s.close()
    return Result.ok("authenticated by query token", {"authenticated_by": s.authenticated_by})


@probe(
    "auth.header_token",
    runs="together",
    category="authentication",
    critical=True,
    evidence=("authenticated_by", "header"),
    expected="'Authorization: Bearer <token>' really sent on the upgrade gives authenticated:true",
)
async def header_token(ctx: ProbeContext) -> Result:
    s = await authed(ctx, via="header", metric="auth_connect_ms")
    up = ctx.contract.upgrade
    name = up.header if up and up.header else "Authorization"
    sent = s.conn.request.headers.get(name, "") if s.conn.request else ""
    await s.close()
    if not sent or (up is not None and up.scheme and not sent.startswith(f"{up.scheme} ")):
        return Result(Outcome.ERROR, "probe_error", f"the {name} header was not sent")
    return Result.ok(
        "authenticated by header",
        {"authenticated_by": s.authenticated_by, "header": name, "scheme": up.scheme if up is not None else "Bearer"},
    )


@probe(
    "auth.post_connection",
    runs="together",
    category="authentication",
    critical=True,
    evidence=("answer",),
    expected="{type:'auth', token} on an anonymous session is answered with auth_success",
)
async def post_connection(ctx: ProbeContext) -> Result:
    creds = need_user(ctx)
    if isinstance(creds, Result):
        return creds
    token, ans = await login(ctx, creds)
    if token is None:
        return login_refused(creds, ans)
    c = ctx.contract
    up = c.upgrade
    if up is None or not up.message:
        return Result.skip("not_in_contract", "the contract declares no authentication message")
    request, success = auth_message(ctx, token), up.success or ""
    answers = tuple(t for t in (success, up.failure, c.error_type) if t)
    async with await ProbeSession.open(ctx) as s:
        if await s.begun() is None:
            return Result.fail("no_answer", f"no {ctx.first_frame_type} frame")
        mark = s.mark()
        t_off, t0 = ctx.recorder.t_offset(), time.perf_counter()
        await s.send(request)
        answer = await s.expect_answer(answers, ctx.options.timeout_s, since=mark)
        if answer is not None:
            ctx.sample("auth_ms", (time.perf_counter() - t0) * 1000, t_offset_s=t_off)
    if answer is None:
        return Result.fail("no_answer", f"no {success or 'answer'} within the timeout")
    if not success or answer.get("type") != success:
        return Result.fail("auth_rejected", f"answered {answer.get('type')} {answer.get('code')}", answer)
    return Result.ok(success, {"answer": answer})


def auth_message(ctx: ProbeContext, token: str) -> dict[str, Any]:
    """The contract's authentication message carrying ``token``: its example with ``{token}`` filled in,
    else ``{type: <message>, token}``."""
    up = ctx.contract.upgrade
    mtype = up.message if up else None
    msg = next((m for m in ctx.contract.messages.values() if m.type == mtype and m.example is not None), None)
    if msg is not None:
        filled: dict[str, Any] = fill_template(msg.example, {"token": token})
        return filled
    return {"type": mtype, "token": token}


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
            ctx._control = Result.skip(
                "control_failed",
                f"the control case failed (a valid login token is not accepted: "
                f"{err.reason}), so a refusal would prove nothing",
                {"control": err.reason},
            )
    return None if ctx._control == "ok" else ctx._control


async def _negative(ctx: ProbeContext, token: str | None, want: str | None, what: str) -> Result:
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
        up = ctx.contract.upgrade
        if up is not None and up.refuses_at_upgrade and status in up.refused_status:
            return Result.ok(
                f"{what} refused at the upgrade with HTTP {status}, as the contract declares",
                {"status": status, "security": "refused"},
            )
        if status in (401, 403):
            return Result.fail(
                "refused_at_upgrade",
                f"{what} refused at the upgrade (HTTP {status}), not with an anonymous session and authError {want!r}",
                {"status": status, "security": "refused"},
                critical=False,
            )
        return classify(exc)
    ff, first_type = ctx.contract.first_frame, ctx.first_frame_type
    up = ctx.contract.upgrade
    if up is not None and up.refuses_at_upgrade:  # refused by an HTTP status: an upgrade that went through accepted it
        async with s:
            first = await s.begun()
        return Result.fail(
            "token_accepted",
            f"{what} was ACCEPTED: the upgrade went through where the contract "
            f"refuses with HTTP {'/'.join(map(str, up.refused_status))}",
            {"security": "accepted", "evidence": first},
            critical=True,
        )
    async with s:
        # the session begins as the contract says: its first frame, then the token in the first message where
        # that is the credential's carrier (sent by begun(), never left unsent)
        first = await s.begun()
        await s.wait_closed(ctx.quiet(ctx.options.settle_s))
        proof = await accepted(ctx, s) if first is not None or s.frames else None
        code = s.close_code if s.closed else None
    if proof is not None:
        return Result.fail(
            "token_accepted",
            f"{what} was ACCEPTED: the session was authenticated",
            {"security": "accepted", "evidence": proof},
            critical=True,
        )
    if code is not None and up is not None and up.refusal_declared and "close" in up.refusal:
        return Result.ok(
            f"{what} refused by closing {code} {s.close_reason!r}, as the contract declares",
            {"security": "refused", "close_code": code, "first_frame": first},
        )
    if first is None:
        if code is not None:
            r = Result.closed(code, s.close_reason, f"no {first_type} frame for {what}", {"security": "refused"})
            if r.outcome == Outcome.FAIL:
                r.reason, r.critical = "refused_by_close", False
                r.detail = (
                    f"{what} refused by closing {code} {s.close_reason!r}, not with an anonymous session and "
                    f"authError {want!r}"
                )
            return r
        return Result.skip("no_answer", f"no {first_type} frame and no close for {what}: nothing to judge")
    obs = {"security": "refused", "first_frame": first}
    if want is None:
        return Result.ok(
            f"{what} refused (no authenticated frame, an authenticated-only request refused); "
            "the contract names no authError code to compare",
            obs,
        )
    got = ff.auth_error_in(first) if ff else None
    if got != want:
        return Result.fail(
            "wrong_answer", f"{what} was refused, but authError is {got!r}, expected {want!r}", obs, critical=False
        )
    return Result.ok(
        f"{what} refused (no authenticated frame, an authenticated-only request refused) with authError {want}", obs
    )


@probe(
    "auth.invalid_token",
    runs="together",
    category="authentication",
    critical=True,
    evidence=("security", "first_frame|status|close_code"),
    expected="a garbage token gives authenticated:false with authError 'invalid_token'",
)
async def invalid_token(ctx: ProbeContext) -> Result:
    return await _negative(ctx, "invalid_token", ctx.contract.errors.get("invalidToken"), "a garbage token")


@probe(
    "auth.forged_token",
    runs="together",
    category="authentication",
    critical=True,
    evidence=("security", "first_frame|status|close_code"),
    expected="a token signed with another key gives authenticated:false with authError 'invalid_token'",
)
async def forged(ctx: ProbeContext) -> Result:
    return await _negative(ctx, forged_token(ctx), ctx.contract.errors.get("invalidToken"), "a forged token")


@probe(
    "auth.alg_none",
    runs="together",
    category="authentication",
    critical=True,
    evidence=("security", "first_frame|status|close_code"),
    expected="an alg:none token gives authenticated:false with authError 'invalid_token'",
)
async def alg_none(ctx: ProbeContext) -> Result:
    return await _negative(ctx, alg_none_token(ctx), ctx.contract.errors.get("invalidToken"), "an alg:none token")


@probe(
    "auth.expired_token",
    runs="together",
    category="authentication",
    critical=True,
    needs=("jwt_secret",),
    evidence=("security", "first_frame|status|close_code"),
    expected="a validly signed but expired token gives authenticated:false with authError 'expired_token'",
)
async def expired(ctx: ProbeContext) -> Result:
    return await _negative(
        ctx,
        signed_token(ctx, **{claim(ctx, "issuedAt"): 1_600_000_000, claim(ctx, "expiry"): 1_600_003_600}),
        ctx.contract.errors.get("expiredToken"),
        "an expired token",
    )


@probe(
    "auth.wrong_audience",
    runs="together",
    category="authentication",
    critical=True,
    needs=("jwt_secret",),
    evidence=("security", "first_frame|status|close_code"),
    expected="a validly signed token for another audience gives authError 'invalid_token'",
)
async def wrong_audience(ctx: ProbeContext) -> Result:
    return await _negative(
        ctx,
        signed_token(ctx, **{claim(ctx, "audience"): "someone-else"}),
        ctx.contract.errors.get("invalidToken"),
        "a wrong-audience token",
    )


@probe(
    "auth.unknown_user",
    runs="together",
    category="authentication",
    critical=False,
    needs=("jwt_secret",),
    evidence=("frames", Evidence("error_code", when="expected_code"), "open_after_s"),
    expected="a valid token for a user who does not exist gets 'connected' first, then error user_not_found, and an "
    "anonymous session",
)
async def unknown_user(ctx: ProbeContext) -> Result:
    token = signed_token(ctx, **{claim(ctx, "subject"): "987654321"})
    if token is None:
        return Result.skip("no_jwt_secret", "needs the target's signing secret (--jwt-secret)")
    c, first_type = ctx.contract, ctx.first_frame_type
    want = c.errors.get("userNotFound")
    async with await ProbeSession.open(ctx, token=token, local_addr=ctx.scratch_address()) as s:
        err = await s.expect(
            lambda f: c.kind_of(f) == c.error_type,
            ctx.options.timeout_s if want else ctx.quiet(ctx.options.quiet_window_s),
        )
        first = await s.expect_type(first_type, timeout=0.2) if first_type else None
        # the session must go on anonymous: watched for the settle window after what was judged
        watched = ctx.quiet(ctx.options.settle_s)
        await s.wait_closed(watched)
        code = s.close_code if s.closed else None
    order = s.types()[:3]
    obs: dict[str, Any] = {
        "frames": order,
        "expected_code": want,
        "error_code": c.error_code(err) if err else None,
        "close": code,
        "open_after_s": None if code is not None else round(watched, 3),
    }
    if want is not None and (err is None or not c.is_named_error(err, want)):
        return Result.fail(
            "wrong_answer",
            f"expected {c.error_type} {want}, got {err}",
            {**obs, "error": err},
            close_code=code,
            close_reason=s.close_reason if code else None,
        )
    if first_type and order[:1] != [first_type]:
        # PROTOCOL.md Part A: the first frame of every session comes first, the error after it.
        return Result.fail("connected_not_first", f"the first frames are {order}: {first_type!r} is not first", obs)
    if first is not None and c.first_frame is not None and c.first_frame.authenticated_in(first):
        return Result.fail(
            "auth_accepted", "the unknown user was treated as authenticated", {**obs, "first_frame": first}
        )
    if code is not None:
        # not an anonymous session: ended (e.g. 1011, the lookup's internal error) instead of going on without a user
        return Result.closed(
            code, s.close_reason, f"a token of a user who does not exist: {order} then the session", obs
        )
    said = f"{c.error_type} {want}" if want else "no declared error code to compare"
    return Result.ok(f"{said}; the session went on anonymous for {watched:.2f} s", obs)


@probe(
    "auth.token_subject",
    runs="together",
    category="authentication",
    critical=True,
    evidence=("judged",),
    expected="each login's token (every user type and the admin) names the user who logged in in its subject claim",
)
async def token_subject(ctx: ProbeContext) -> Result:
    users = every_credential(ctx)
    if not users:
        return Result.skip("no_credentials", "no credentials to log in with")
    seen: dict[str, object] = {}
    judged = []
    for name, creds in users:
        token, ans = await login(ctx, creds, fresh=True)
        if token is None:
            seen[name] = f"login HTTP {ans.status}"
            continue
        lg = ctx.contract.login
        uid = pointer_get(ans.body, lg.user_id) if lg is not None and lg.user_id else None
        subject = claim(ctx, "subject")  # RFC 7519's name unless declared
        sub = unverified_claims(token).get(subject)
        seen[name] = {"user_id": uid, "sub": sub}
        if uid is None or sub is None:
            continue  # nothing to compare
        judged.append(name)
        if str(sub) != str(uid):
            return Result.fail(
                "wrong_subject",
                f"the {name} login signs {subject}={sub} for user {uid}: its token acts as another user",
                {"per_login": seen, "judged": judged},
            )
    obs = {"per_login": seen, "judged": judged}
    if not judged and all(isinstance(v, str) for v in seen.values()):
        return Result.skip("login_failed", "no login succeeded: no token to inspect", obs)
    if not judged:
        return Result.skip("no_evidence", "no login gave both a token subject and a user id to compare", obs)
    return Result.ok(f"the tokens of {', '.join(judged)} name their users", obs)


@probe(
    "auth.required_for_protected",
    runs="together",
    category="authentication",
    critical=True,
    evidence=("answer|declared_close",),
    expected="an authenticated-only message on an anonymous session gets error auth_required",
)
async def required(ctx: ProbeContext) -> Result:
    c = ctx.contract
    # refused by the contract's error, or by the close it declares for that (a protocol whose errors are closes)
    op, want, close = c.auth_check_operation(), c.errors.get("authRequired"), c.closes.get("authRequired")
    if op is None or op.request is None or op.request.example is None or not (want or close):
        return Result.skip(
            "not_in_contract",
            "the contract declares no authenticated-only request with an example, "
            "or no authRequired error code or close",
        )
    answers = {m.type for m in op.reply} | {c.error_type}
    async with await ProbeSession.open(ctx) as s:
        await s.connected()
        mark = s.mark()
        await s.send(op.request.example)
        ans = await s.expect_answer(answers, ctx.options.timeout_s, since=mark)
        closed = ans is None and close is not None and await s.wait_closed(ctx.quiet(ctx.options.settle_s))
        code, reason = s.close_code, s.close_reason
    if close is not None and ans is None and closed:
        if code == close:
            return Result.ok(
                f"{op.request.word} refused by closing {close} as the contract declares",
                {"declared_close": close},
                close_code=code,
                close_reason=reason,
            )
        return Result.fail(
            "wrong_close",
            f"{op.request.word} closed the session {code}, the contract says {close}",
            {"declared_close": close},
            close_code=code,
            close_reason=reason,
        )
    if ans is None:
        return Result.fail("no_answer", f"no answer to an authenticated-only message ({op.request.word})")
    if not want or not c.is_named_error(ans, want):
        return Result.fail("wrong_answer", f"{op.request.word} answered {c.word_of(ans)} {c.error_code(ans)}", ans)
    return Result.ok(f"{op.request.word} refused with {want}", {"answer": ans})
