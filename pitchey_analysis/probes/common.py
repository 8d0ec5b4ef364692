"""Helpers shared by the probe families: HTTP calls, logins, hand-made tokens."""

from __future__ import annotations

import base64
import copy
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
from websockets.exceptions import ConnectionClosed

from ..contract import Contract, pointer_get
from ..contract.model import JWT_CLAIM_NAMES
from ..contract.requests import auth_message, login_body
from ..net import read_body
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
    cookies: tuple[str, ...] = ()  # the Set-Cookie headers

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
        async with s.request(
            method, ctx.http_url.rstrip("/") + path, json=json_body, data=data, headers=hdrs, allow_redirects=False
        ) as r:
            text = (await read_body(r)).decode(r.charset or "utf-8", errors="replace")  # bounded: a body may be a bomb
            try:
                body = json.loads(text)
            except ValueError:
                body = None
            return HttpAnswer(r.status, dict(r.headers), text, body, tuple(r.headers.getall("Set-Cookie", ())))


async def login(ctx: ProbeContext, creds: Credentials, *, fresh: bool = False) -> tuple[str | None, HttpAnswer]:
    """Log in as the contract says; returns (token or None, answer). Tokens are cached per user.

    A credential the user supplied (``--token``) is used as is. A cookie-session login
    (``login.session: cookie``) keeps the session's cookies for the upgrade and, with ``login.exchange``,
    trades them for the WebSocket token.
    """
    if creds.token:
        return creds.token, HttpAnswer(200, {}, "", None)
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
    ans = await http(
        ctx, lg.method if lg else "POST", path, json_body=login_body(ctx.contract, creds.email, creds.password)
    )
    token: Any = None
    if ans.status == (lg.status if lg else 200):
        if lg is not None and lg.session == "cookie":
            token = await _cookie_token(ctx, ans)
        else:
            token = pointer_get(ans.body, lg.token if lg else "/token")
    if isinstance(token, str) and token:
        ctx._tokens[key] = (token, ans.body)
        ctx.recorder.add_secret(token)
        return token, ans
    if ans.status in (lg.refused_status if lg else (400, 401, 403, 404)):
        ctx._refused[key] = (ans.status, ans.body)
    return None, ans


async def _cookie_token(ctx: ProbeContext, ans: HttpAnswer) -> str | None:
    """The WebSocket credential of a cookie-session login: the exchange call's token, else the session cookie
    the upgrade carries (``upgrade.cookie``)."""
    lg, up = ctx.contract.login, ctx.contract.upgrade
    cookie = "; ".join(c.split(";", 1)[0] for c in ans.cookies if "=" in c)
    if not cookie or lg is None:
        return None
    ctx.recorder.add_secret(cookie)
    if lg.exchange is not None:
        ex = await http(ctx, lg.exchange.method, lg.exchange.path, headers={"Cookie": cookie})
        if ex.status != (lg.exchange.status or 200):
            return None
        tok = pointer_get(ex.body, lg.exchange_token)
        return tok if isinstance(tok, str) and tok else None
    if up is not None and up.cookie:
        for part in cookie.split("; "):
            name, _, value = part.partition("=")
            if name == up.cookie and value:
                return value
    ctx.session_cookie = cookie
    return cookie


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


def unverified_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT without checking its signature (to inspect what was issued)."""
    try:
        return jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}


def claim(ctx: ProbeContext, role: str) -> str:
    """The claim name of ``role`` in the contract's tokens: declared, else RFC 7519's."""
    up = ctx.contract.upgrade
    return up.claim_name(role) if up is not None else JWT_CLAIM_NAMES[role]


def claims_like(ctx: ProbeContext, **over: Any) -> dict[str, Any]:
    """Claims shaped as the contract says, for hand-made tokens, under its claim names (RFC 7519's where it declares
    none): the subject a user the run logged in as (a token of another user's would prove nothing), the issuer and
    audience of ``x-readiness.upgrade.jwt``, the contract's first user type, issued now and expiring in an hour."""
    now = int(time.time())
    up, lg = ctx.contract.upgrade, ctx.contract.login
    jwt_facts = up.jwt if up is not None else {}

    uid: Any = 1
    if lg is not None and lg.user_id:
        uid = next((v for _, body in ctx._tokens.values() if (v := pointer_get(body, lg.user_id)) is not None), 1)
    subject = claim(ctx, "subject")
    # RFC 7519's sub is a string; a claim of the contract's own naming keeps the login answer's type
    base: dict[str, Any] = {
        subject: str(uid) if subject == "sub" else uid,
        claim(ctx, "issuedAt"): now,
        claim(ctx, "expiry"): now + 3600,
    }
    if up is not None and up.claim("email"):
        base[claim(ctx, "email")] = "probe@pitchey-analysis.invalid"
    user_type = next(iter(lg.paths), None) if lg is not None else None
    if user_type:
        base[claim(ctx, "userType")] = user_type
    for role in ("issuer", "audience"):
        if jwt_facts.get(role):
            base[claim(ctx, role)] = jwt_facts[role]
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


def every_credential(ctx: ProbeContext) -> list[tuple[str, Credentials]]:
    """Every credential the run was given, each with the name its evidence shows: the user types (the main user's
    among them), then the admin; a second credential of one type is named with its e-mail."""
    out: list[tuple[str, Credentials]] = []
    seen: set[tuple[str, str, bool]] = set()
    for c in [*ctx.users.values(), *([ctx.user] if ctx.user is not None else []), *([ctx.admin] if ctx.admin else [])]:
        admin = c is ctx.admin
        key = (c.user_type, c.email, admin)
        if key in seen:
            continue
        seen.add(key)
        name = "admin" if admin else (c.user_type if c.email or not c.token else "token")
        if any(n == name for n, _ in out):
            name = f"{name} ({c.email or 'token'})"
        out.append((name, c))
    return out


def login_refused(creds: Credentials, ans: HttpAnswer) -> Result:
    """No login succeeded: a probe that needs one has no evidence (skip), the login probe judges the login."""
    return Result.skip(
        "login_failed",
        f"the {creds.user_type} login answered HTTP {ans.status}: no session to judge",
        {"status": ans.status},
    )


async def watch(ctx: ProbeContext, s: ProbeSession, what: str) -> Result | None:
    """Watch a session for the settle window after the frame a probe judged.

    A session the target closes in that window is not a pass: the close is
    the observation (DESIGN.md, Evidence). Returns the failing result or None.
    """
    await s.wait_closed(ctx.quiet(ctx.options.settle_s))
    if s.closed:
        return Result.closed(
            s.close_code,
            s.close_reason,
            f"{what}, then closed {s._t_ms() / 1000:.2f} s after opening",
            {"frames": s.types()},
        )
    return None


async def accepted(ctx: ProbeContext, s: ProbeSession) -> dict[str, Any] | None:
    """Evidence that a session is authenticated: a frame saying so, or an authenticated-only request answered.

    Returns the frame that shows it, or None.
    """
    c = ctx.contract
    ff, up = c.first_frame, c.upgrade
    success = {x for x in (up.success if up else None, (up.first_message or {}).get("success") if up else None) if x}
    for _, f in s.frames:
        kind = c.kind_of(f)
        if (ff is not None and kind == ff.type and ff.authenticated and ff.authenticated_in(f)) or (kind in success):
            return f
    op = c.auth_check_operation()
    if s.closed or op is None or op.request is None or op.request.example is None:
        return None
    answers = {m.type for m in op.reply if m.type not in c.error_kinds()}
    try:
        ans = await s.ask(op.request.example, answers, ctx.options.timeout_s)
    except Exception:
        return None
    if ans is not None and c.kind_of(ans) in answers and not c.is_error(ans):
        return ans
    return None


@dataclass
class Started:
    """How a session began: its declared first frame (None: none declared, or it did not come), whether it is
    authenticated (None: the contract gives no way to tell at this point), and a failing result when it could
    not begin as the contract says."""

    first: dict[str, Any] | None
    authenticated: bool | None
    problem: Result | None = None


async def start(ctx: ProbeContext, s: ProbeSession, token: str | None = None) -> Started:
    """Begin a session as the contract says: wait for its declared first frame (only when one is declared),
    then, with a credential and first-message authentication declared, send it and wait for the answer."""
    c, t = ctx.contract, ctx.options.timeout_s
    ff, up = c.first_frame, c.upgrade
    first = None
    if ff is not None:
        first = await s.expect_type(ff.type, timeout=t)
        if first is None:
            if s.closed:
                return Started(
                    None,
                    None,
                    Result.closed(s.close_code, s.close_reason, f"no {ff.type} frame", {"frames": s.types()}),
                )
            return Started(None, None, Result.fail("no_answer", f"no {ff.type} frame", {"frames": s.types()}))
    if not token:
        return Started(first, False)
    msg = auth_message(c, token)
    if msg is not None and up is not None and up.first_message is not None:
        ok, bad = up.first_message.get("success"), up.first_message.get("failure")
        s.auto_token = None  # sent here: connected()/begun() must not send a second one
        try:
            ans = await s.ask(msg, {k for k in (ok, bad) if k}, t)
        except ConnectionClosed:  # closed by the target before it could be sent: judged below as a close
            await s.wait_closed(t)
            ans = None
        s.auth_sent, s.auth_answer = msg, ans
        if ans is None:
            what = f"no answer to the authentication message within {t:.1f} s"
            if s.closed:
                return Started(first, False, Result.closed(s.close_code, s.close_reason, what, {"frames": s.types()}))
            return Started(first, None, Result.fail("no_answer", what, {"frames": s.types()}))
        kind = c.kind_of(ans)
        return Started(ans, kind == ok if ok else not (kind == bad or c.is_error(ans)))
    if ff is not None and ff.authenticated and first is not None:
        return Started(first, ff.authenticated_in(first))
    if up is not None and up.refuses_at_upgrade:
        return Started(first, True)  # the upgrade carried the credential and was not refused
    return Started(first, None)


def began_authenticated(ctx: ProbeContext, s: ProbeSession, first: dict[str, Any] | None) -> bool:
    """Whether a session that began (its first frame ``first``, its first-message authentication sent by
    :meth:`ProbeSession.begun` or :func:`start`) is authenticated by the contract's rules: the answer to the
    first-message authentication, else the first frame's ``authenticated`` pointer, else an upgrade that carried
    the credential where a refusal is an HTTP status (pure)."""
    c = ctx.contract
    ff, up = c.first_frame, c.upgrade
    if s.auth_sent is not None and up is not None and up.first_message is not None:
        ans = s.auth_answer
        if ans is None:
            return False
        ok, bad = up.first_message.get("success"), up.first_message.get("failure")
        kind = c.kind_of(ans)
        return kind == ok if ok else not (kind == bad or c.is_error(ans))
    if ff is not None and first is not None and ff.authenticated is not None:
        return ff.authenticated_in(first)
    # no place in the first frame says so: a credential carried on an upgrade that refuses bad ones with a status
    return bool(up is not None and up.refuses_at_upgrade and first is not None and not s.closed)


async def authed_session(
    ctx: ProbeContext,
    creds: Credentials | None = None,
    *,
    trace: bool = True,
    via: str = "query",
    metric: str | None = None,
) -> tuple[ProbeSession | None, Result | None]:
    """Log in and open a session authenticated as the contract says (its credential carried the declared way,
    its first frame or first-message answer read the declared way).

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
    began = await start(ctx, s, token)
    if began.problem is not None:
        await s.close()
        return None, began.problem
    authed = began.authenticated
    evidence = began.first
    if authed is None:
        evidence = await accepted(ctx, s)
        authed = evidence is not None
    if metric and authed:
        ctx.sample(metric, (time.perf_counter() - t0) * 1000, t_offset_s=t_off)
    if not authed:
        closed = s.closed
        await s.close()
        if closed:
            return None, Result.closed(
                s.close_code, s.close_reason, "the credential was not accepted", {"frames": s.types()}
            )
        return None, Result.fail(
            "auth_rejected", "the credential was not accepted on the WebSocket", evidence or {"frames": s.types()}
        )
    s.authenticated_by = evidence if evidence is not None else {"upgrade": "not refused"}
    await settle(ctx, s)
    bad = await watch(ctx, s, f"connected authenticated as {creds.user_type}")
    if bad is not None:
        await s.close()
        return None, bad
    return s, None


def round_trip(ctx: ProbeContext, rid: str) -> tuple[dict[str, Any], str] | None:
    """The contract's liveness round trip (``ping`` when declared): the request to send, tagged with ``rid``
    when its example has an uncorrelated ``id`` (a correlated one gets the session's next id when sent),
    and the answer's kind; None when the contract declares none."""
    op = ctx.contract.round_trip()
    if op is None or op.request is None or op.answer is None or op.answer.type is None:
        return None
    example = copy.deepcopy(op.request.example)  # an object, or an array for a contract of array frames
    if isinstance(example, dict) and "id" in example and ctx.contract.correlation_of(example) is None:
        example["id"] = rid
    return example, op.answer.type


def heartbeat_kinds(contract: Contract) -> frozenset[str]:
    """The kinds of a JSON heartbeat from the service: the request of the contract's liveness round trip, sent by the
    service to the client (a heartbeat of its protocol where RFC 6455 §5.5.2 has a ping control frame); empty when
    the contract has no round trip (pure)."""
    op = contract.round_trip()
    return (
        frozenset({op.request.type}) if op is not None and op.request is not None and op.request.type else frozenset()
    )


def any_request(ctx: ProbeContext, rid: str) -> Any:
    """A request the target should answer: the contract's round trip (:func:`round_trip`), else its first
    request/answer operation's example; None when it declares neither."""
    rt = round_trip(ctx, rid)
    ops = ctx.contract.request_answers()
    return rt[0] if rt else (ops[0].request.example if ops and ops[0].request else None)


async def authed(
    ctx: ProbeContext, creds: Credentials | None = None, *, closing: tuple[ProbeSession, ...] = (), **options: Any
) -> ProbeSession:
    """:func:`authed_session`, or :class:`Stop` with its failing result (after closing the sessions ``closing``)."""
    s, err = await authed_session(ctx, creds, **options)
    if err is not None:
        for other in closing:
            await other.close()
        raise Stop(err)
    assert s is not None
    return s


async def settle(ctx: ProbeContext, s: ProbeSession) -> bool:
    """Wait until an authenticated session answers (its round trip every 25 ms, up to 1 s).

    Some servers finish setting a session up after 'connected' and drop what
    arrives meanwhile (PROTOCOL.md Part B item 15, caught by its own probe);
    the other probes should judge their own feature, not that race.
    """
    for i in range(40):
        rt = round_trip(ctx, f"settle-{i}")
        if rt is None:
            return False  # no round trip in the contract to settle with
        request, answer = rt
        if await s.ask(request, {answer}, 0.025) is not None:
            return True
        if s.closed:
            return False
    return False


async def open_started(ctx: ProbeContext, *, trace: bool = True, audit: bool = True) -> tuple[ProbeSession, Started]:
    """A session as a client of the contract opens one: anonymous where the contract serves anonymous
    sessions, else with the main user's credential; begun (:func:`start`)."""
    up = ctx.contract.upgrade
    token = None
    if up is not None and not up.anonymous and ctx.user is not None:
        token, _ = await login(ctx, ctx.user)
    s = await ProbeSession.open(ctx, token=token, trace=trace, audit=audit)
    return s, await start(ctx, s, token)


async def alive(ctx: ProbeContext) -> bool:
    """Whether the target still works at all: an upgrade begins as the contract says and its round trip
    (any request it declares) gets any answer.

    Used between probes once several ended unanswered, so that a silent or
    stalled target does not cost every remaining probe its full timeout.
    """
    try:
        s, began = await open_started(ctx, trace=False, audit=False)
    except Exception:
        return False
    async with s:
        if began.problem is not None and not s.closed:
            return False
        if s.frames:
            return True  # the target speaks: frames are arriving
        request = any_request(ctx, "liveness")
        if request is None:
            return not s.closed  # nothing to ask: an upgrade held open is all the evidence there is
        mark = s.mark()
        try:
            await s.send(request)
        except Exception:
            return False
        answered = await s.expect(lambda f: True, ctx.options.timeout_s, since=mark) is not None
        # a close with a code is an answer too: the target is there, it just ends the session
        return answered or (s.closed and s.close_code not in (None, 1006))


def require_session(ctx: ProbeContext) -> None:
    """Stop a probe that opens many sessions (and counts their failures) with a skip when none can be had for the
    user's reason: the service serves no anonymous session and no credential was given."""
    up = ctx.contract.upgrade
    if up is not None and not up.anonymous and ctx.auto_token is None:
        raise Stop(
            Result.skip(
                "no_credentials",
                "the service serves no anonymous session (its contract says so) and no "
                "credential was given (--email/--password or --token)",
            )
        )


def has_fields(obj: Any, spec: dict[str, type | tuple[type, ...]]) -> list[str]:
    """The fields of ``spec`` that ``obj`` lacks or has with the wrong type (pure)."""
    if not isinstance(obj, dict):
        return list(spec)
    bad = []
    for k, t in spec.items():
        if (
            k not in obj
            or not isinstance(obj[k], t)
            or (isinstance(obj[k], bool) and bool not in (t if isinstance(t, tuple) else (t,)))
        ):
            bad.append(k)
    return bad
