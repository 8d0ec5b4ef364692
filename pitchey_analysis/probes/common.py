"""Helpers shared by the probe families: HTTP calls, logins, hand-made tokens."""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt

from ..contract import pointer_get
from .base import Credentials, ProbeContext, Result, Stop
from .session import ProbeSession

LOGIN_PATH = "/api/auth/{kind}/login"


@dataclass
class HttpAnswer:
    """An HTTP response as the probes see it."""

    status: int
    headers: dict[str, str]
    text: str
    body: Any  # parsed JSON, or None

    def field(self, *path: str) -> Any:
        """A nested field of the JSON body, or None."""
        cur = self.body
        for p in path:
            if not isinstance(cur, dict):
                return None
            cur = cur.get(p)
        return cur


async def http(
    ctx: ProbeContext,
    method: str,
    path: str,
    *,
    json_body: Any = None,
    data: str | bytes | None = None,
    headers: dict[str, str] | None = None,
    token: str | None = None,
) -> HttpAnswer:
    """One HTTP request to the target (raises network errors for classify)."""
    hdrs = dict(headers or {})
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    timeout = aiohttp.ClientTimeout(total=ctx.options.timeout_s)
    # ssl=True: aiohttp's default verification (ignored for http://); a context only when one was given.
    connector = aiohttp.TCPConnector(ssl=(ctx.ssl_context or True) if ctx.tls else True, force_close=True)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as s:
        # never redirected: a 307/308 would send a login's body (the password) or a token again to wherever the
        # target points (RFC 9110 §15.4.8), and any redirect would send the suite's traffic to a host the user did not
        # name; the 3xx is the target's answer, judged as such
        async with s.request(method, ctx.http_url.rstrip("/") + path, json=json_body, data=data, headers=hdrs,
                             allow_redirects=False) as r:
            text = await r.text(errors="replace")
            try:
                body = json.loads(text)
            except ValueError:
                body = None
            return HttpAnswer(r.status, dict(r.headers), text, body)


async def login(ctx: ProbeContext, creds: Credentials, *, fresh: bool = False) -> tuple[str | None, HttpAnswer]:
    """Log in; returns (token or None, answer). Tokens are cached per user."""
    key = f"{creds.user_type}:{creds.email}"
    if not fresh and key in ctx._tokens:
        cached, cached_body = ctx._tokens[key]
        return cached, HttpAnswer(200, {}, "", cached_body)
    if key in ctx._refused:
        # Refused once: never retried, so that a wrong password cannot lock the user out.
        status, body = ctx._refused[key]
        return None, HttpAnswer(status, {}, "", body)
    lg = ctx.contract.login
    path = creds.login_path or login_path(ctx, creds)
    body = fill_template(lg.body, {"email": creds.email, "password": creds.password}) if lg else \
        {"email": creds.email, "password": creds.password}
    ans = await http(ctx, lg.method if lg else "POST", path, json_body=body)
    token = pointer_get(ans.body, lg.token if lg else "/token") if ans.status == (lg.status if lg else 200) else None
    if isinstance(token, str) and token:
        ctx._tokens[key] = (token, ans.body)
        ctx.recorder.add_secret(token)
        return token, ans
    if ans.status in (lg.refused_status if lg else (400, 401, 403, 404)):
        ctx._refused[key] = (ans.status, ans.body)
    return None, ans


def login_path(ctx: ProbeContext, creds: Credentials) -> str:
    """The login path of a user type (the admin's own when the contract names one), from the contract."""
    c = ctx.contract
    if creds is ctx.admin and c.login is not None and c.login.admin_path:
        return c.login.admin_path
    return c.login_path(creds.user_type) or LOGIN_PATH.format(kind=creds.user_type)


def login_user_id(ctx: ProbeContext, ans: HttpAnswer) -> Any:
    """The user id in a login answer, where the contract's pointer says (None when it does not say)."""
    lg = ctx.contract.login
    return pointer_get(ans.body, lg.user_id if lg else "/user/id")


def fill_template(template: Any, values: dict[str, Any]) -> Any:
    """A body template with ``"{name}"`` strings replaced by values (the value keeps its JSON type; pure)."""
    if isinstance(template, str):
        if template.startswith("{") and template.endswith("}") and template[1:-1] in values:
            return values[template[1:-1]]
        return template
    if isinstance(template, dict):
        return {k: fill_template(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [fill_template(v, values) for v in template]
    return template


def unverified_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT without checking its signature (to inspect what was issued)."""
    try:
        return jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}


def claims_like(ctx: ProbeContext, **over: Any) -> dict[str, Any]:
    """Claims shaped as the contract says, for hand-made tokens: ``iss`` and ``aud`` from
    ``x-readiness.upgrade.jwt``, ``userType`` the contract's first user type."""
    now = int(time.time())
    up, lg = ctx.contract.upgrade, ctx.contract.login
    jwt_facts = up.jwt if up is not None else {}
    user_type = next(iter(lg.paths), None) if lg is not None else None
    base: dict[str, Any] = {"sub": "1", "email": "probe@pitchey-analysis.invalid", "iat": now, "exp": now + 3600}
    if user_type:
        base["userType"] = user_type
    for claim in ("issuer", "audience"):
        if jwt_facts.get(claim):
            base[claim[:3]] = jwt_facts[claim]
    base.update(over)
    return base


def forged_token(ctx: ProbeContext) -> str:
    """Signed with a key the target cannot know."""
    return jwt.encode(claims_like(ctx), secrets.token_hex(32), algorithm="HS256")


def alg_none_token(ctx: ProbeContext) -> str:
    """An unsigned token with ``alg: none`` (RFC 8725 §2.1)."""
    def b64(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims_like(ctx))}."


def signed_token(ctx: ProbeContext, **over: Any) -> str | None:
    """A token signed with the target's secret (None when the secret is not known)."""
    if not ctx.jwt_secret:
        return None
    return jwt.encode(claims_like(ctx, **over), ctx.jwt_secret, algorithm="HS256")


def need_user(ctx: ProbeContext) -> Credentials | Result:
    """The main user's credentials, or a skip result."""
    if ctx.user is None:
        return Result.skip("no_credentials", "no --email/--password given for an authenticated user")
    return ctx.user


def login_refused(creds: Credentials, ans: HttpAnswer) -> Result:
    """No login succeeded: a probe that needs one has no evidence (skip), the login probe judges the login."""
    return Result.skip("login_failed", f"the {creds.user_type} login answered HTTP {ans.status}: no session to judge",
                       {"status": ans.status})


async def watch(ctx: ProbeContext, s: ProbeSession, what: str) -> Result | None:
    """Watch a session for the settle window after the frame a probe judged.

    A session the target closes in that window is not a pass: the close is
    the observation (DESIGN.md, Evidence). Returns the failing result or None.
    """
    await s.wait_closed(ctx.options.settle_s)
    if s.closed:
        return Result.closed(s.close_code, s.close_reason, f"{what}, then closed "
                             f"{s._t_ms() / 1000:.2f} s after opening", {"frames": s.types()})
    return None


async def accepted(ctx: ProbeContext, s: ProbeSession) -> dict[str, Any] | None:
    """Evidence that a session is authenticated: a frame saying so, or an authenticated-only request answered.

    Returns the frame that shows it, or None.
    """
    c = ctx.contract
    ff, success = c.first_frame, c.upgrade.success if c.upgrade else None
    for _, f in s.frames:
        if (ff is not None and f.get("type") == ff.type and ff.authenticated_in(f)) or (success and f.get("type") == success) or (
                isinstance(f.get("payload"), dict) and f["payload"].get("userId") not in (None, "")):
            return f
    op = c.auth_check_operation()
    if s.closed or op is None or op.request is None or op.request.example is None:
        return None
    mark = s.mark()
    answers = {m.type for m in op.reply if m.type != c.error_type}
    try:
        await s.send(op.request.example)
    except Exception:
        return None
    ans = await s.expect(lambda f: f.get("type") in answers or f.get("type") == c.error_type, ctx.options.timeout_s, since=mark)
    if ans is not None and ans.get("type") in answers:
        return ans
    return None


async def authed_session(ctx: ProbeContext, creds: Credentials | None = None, *, trace: bool = True,
                         via: str = "query", metric: str | None = None) -> tuple[ProbeSession | None, Result | None]:
    """Log in and open an authenticated session that received ``connected``.

    Returns (session, None) or (None, failing result).
    """
    creds = creds or ctx.user
    if creds is None:
        return None, Result.skip("no_credentials", "no credentials for an authenticated session")
    token, ans = await login(ctx, creds)
    if token is None:
        return None, login_refused(creds, ans)
    t_off, t0 = ctx.recorder.t_offset(), time.perf_counter()
    if via == "header":
        s = await ProbeSession.open(ctx, header_token=token, trace=trace)
    else:
        s = await ProbeSession.open(ctx, token=token, trace=trace)
    first = await s.expect_type(ctx.first_frame_type, timeout=ctx.options.timeout_s)
    ff = ctx.contract.first_frame
    authed = first is not None and pointer_get(first, ff.authenticated if ff and ff.authenticated else "/authenticated") is True
    if metric and authed:
        ctx.sample(metric, (time.perf_counter() - t0) * 1000, t_offset_s=t_off)
    if first is None or not authed:
        closed = s.closed
        await s.close()
        if first is None:
            if closed:
                return None, Result.closed(s.close_code, s.close_reason, f"no {ctx.first_frame_type} frame", {"frames": s.types()})
            return None, Result.fail("no_answer", f"no {ctx.first_frame_type} frame", {"frames": s.types()})
        return None, Result.fail("auth_rejected", "the login token was not accepted on the WebSocket", first)
    await settle(ctx, s)
    bad = await watch(ctx, s, f"connected authenticated as {creds.user_type}")
    if bad is not None:
        await s.close()
        return None, bad
    return s, None


def round_trip(ctx: ProbeContext, rid: str) -> tuple[dict[str, Any], str] | None:
    """The contract's liveness round trip (``ping`` when declared): the request to send, tagged with ``rid``
    when its example has an ``id``, and the answer's type; None when the contract declares none."""
    op = ctx.contract.round_trip()
    if op is None or op.request is None or op.answer is None or op.answer.type is None:
        return None
    example = dict(op.request.example or {"type": op.request.type})
    if "id" in example:
        example["id"] = rid
    return example, op.answer.type


async def authed(ctx: ProbeContext, creds: Credentials | None = None, *, closing: tuple[ProbeSession, ...] = (),
                 **options: Any) -> ProbeSession:
    """:func:`authed_session`, or :class:`Stop` with its failing result (after closing the sessions ``closing``)."""
    s, err = await authed_session(ctx, creds, **options)
    if err is not None:
        for other in closing:
            await other.close()
        raise Stop(err)
    assert s is not None
    return s


async def settle(ctx: ProbeContext, s: ProbeSession) -> bool:
    """Wait until an authenticated session answers (a ping every 25 ms, up to 1 s).

    Some servers finish setting a session up after 'connected' and drop what
    arrives meanwhile (PROTOCOL.md Part B item 15, caught by its own probe);
    the other probes should judge their own feature, not that race.
    """
    mark = s.mark()
    for i in range(40):
        rt = round_trip(ctx, f"settle-{i}")
        if rt is None:
            return False  # no round trip in the contract to settle with
        request, answer = rt
        await s.send(request)
        if await s.expect_type(answer, timeout=0.025, since=mark) is not None:
            return True
        if s.closed:
            return False
    return False


async def alive(ctx: ProbeContext) -> bool:
    """Whether the target still works at all: an upgrade gets 'connected' and a ping gets any answer.

    Used between probes once several ended unanswered, so that a silent or
    stalled target does not cost every remaining probe its full timeout.
    """
    try:
        s = await ProbeSession.open(ctx, trace=False)
    except Exception:
        return False
    async with s:
        if await s.expect_type(ctx.first_frame_type, timeout=ctx.options.timeout_s) is None:
            return False
        mark = s.mark()
        ops = ctx.contract.request_answers()
        try:
            await s.send(next((o.request.example for o in ops if o.request and o.request.type == "ping"),
                              ops[0].request.example if ops and ops[0].request else {"type": "ping", "id": "liveness"}))
        except Exception:
            return False
        answered = await s.expect(lambda f: True, ctx.options.timeout_s, since=mark) is not None
        # a close with a code is an answer too: the target is there, it just ends the session
        return answered or (s.closed and s.close_code not in (None, 1006))


def has_fields(obj: Any, spec: dict[str, type | tuple[type, ...]]) -> list[str]:
    """The fields of ``spec`` that ``obj`` lacks or has with the wrong type (pure)."""
    if not isinstance(obj, dict):
        return list(spec)
    bad = []
    for k, t in spec.items():
        if k not in obj or not isinstance(obj[k], t) or (isinstance(obj[k], bool) and bool not in (t if isinstance(t, tuple) else (t,))):
            bad.append(k)
    return bad
