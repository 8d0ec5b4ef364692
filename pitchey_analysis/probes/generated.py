"""Request/answer probes generated from the contract, and what each probe needs the contract to declare.

For every ``action: receive`` operation with a ``reply`` and an example, one
probe: send the example, wait for an answer of one of the reply's types (or
the contract's error message), validate it against the first reply message's
schema with ``jsonschema``, time it. Outcomes (DESIGN.md, message-type support):

- pass (*full*): the expected answer, valid against its schema, echoing the fields the contract names;
- ``wrong_answer`` (*partial*): another reply or an error, or a schema error (its JSON path is in ``observed``);
- ``late_answer`` (*partial*): valid but after half the timeout, each of :data:`LATE_TRIES` times asked;
- ``no_answer`` (*missing*): nothing within the timeout.

The probes written as code (auth, pushes, limits, ...) read their endpoints,
pointers and bounds from the contract too; :data:`REQUIRES` says which
declarations each needs, and :func:`not_in_contract` turns an absent one into
a ``skip`` with reason ``not_in_contract`` when the run is planned.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable
from typing import Any

from ..contract import Contract, Operation
from ..contract import pointer_get as contract_value
from ..contract.requests import subscribe_request
from ..exceptions import UsageError
from .base import CATALOGUE, Evidence, ProbeContext, ProbeSpec, Result
from .common import authed, open_started
from .session import ProbeSession


def session_needs_auth(contract: Contract, op: Operation) -> bool:
    """Whether the operation's example must be sent on an authenticated session.

    An authentication-only operation needs one, and so does an example naming a
    channel that only authenticated sessions may subscribe to.
    """
    if op.auth:
        return True
    if contract.upgrade is not None and not contract.upgrade.anonymous:
        return True  # the service serves no anonymous session
    example = (op.request.example if op.request else None) or {}
    channel = example.get("channel")
    ch = contract.channel_for(channel) if isinstance(channel, str) else None
    return bool(ch and ch.auth)


def expected_text(op: Operation) -> str:
    """What a generated probe expects, for the catalogue."""
    if op.expected:
        return op.expected
    req, ans = op.request, op.answer
    return (
        f"{req.word if req else op.id} is answered by {ans.word if ans else '?'} valid against its schema in the "
        "contract"
    )


def judge_answer(
    op: Operation,
    answer: dict[str, Any] | None,
    rtt_ms: float,
    timeout_s: float,
    error_type: str | None = None,
    contract: Contract | None = None,
    sent: dict[str, Any] | None = None,
) -> Result:
    """The outcome of one request/answer exchange (pure).

    The answer is judged against the operation's reply schema when it is a success, and counts as an error
    when the contract's envelope or error kinds say so (even when it has the reply's kind)."""
    want = op.answer
    assert want is not None and op.request is not None
    request = sent if sent is not None else (op.request.example or {})
    mtype = op.request.word or op.id
    kind = contract.kind_of(answer) if contract is not None and answer is not None else (answer or {}).get("type")
    obs: dict[str, Any] = {"message_type": mtype, "operation": op.id, "answer": answer, "answer_ms": round(rtt_ms, 3)}
    if answer is None:
        return Result.fail("no_answer", f"no answer to {mtype} within {timeout_s:.1f} s", obs)
    is_error = contract.is_error(answer) if contract is not None else error_type is not None and kind == error_type
    if is_error or kind not in {m.type for m in op.reply}:
        code = contract.error_code(answer) if contract is not None else answer.get("code")
        said = contract.kind_word(kind) if contract is not None else str(kind)
        what = f"{said} {code}" if code is not None else said
        return Result.fail(
            "wrong_answer", f"{mtype} answered {'an error: ' if is_error else ''}{what}, not {want.word}", obs
        )
    target = next((m for m in op.reply if m.type == kind), want)
    issue = target.error(answer)
    if issue is not None:
        obs["schema_error"] = issue.as_dict()
        return Result.fail("wrong_answer", f"{mtype} answer off its schema at {issue.path}: {issue.error}", obs)
    at = dict(op.echo_at)
    for f in op.echo:
        if (
            f in request
            and contract_value(answer, at.get(f, "/" + f.replace("~", "~0").replace("/", "~1"))) != request[f]
        ):
            return Result.fail("wrong_answer", f"{want.word} does not echo the {mtype}'s {f}", obs)
    if rtt_ms > timeout_s * 1000 / 2:
        return Result.fail("late_answer", f"{mtype} answered after {rtt_ms:.0f} ms", obs)
    return Result.ok(f"{target.word} in {rtt_ms:.1f} ms", obs)


#: how many times a request answered late is asked in all before ``late_answer`` is the finding
LATE_TRIES = 3


async def run_setup(ctx: ProbeContext, s: ProbeSession, op: Operation) -> None:
    """The operation's declared ``setup`` on the session that sends its request (a Phoenix channel joined before
    ``new_msg``): each step sent, and its answer awaited -- matched by the step's correlation id where the contract
    declares one, else by the ``await`` kind."""
    for step in op.setup:
        mark = s.mark()
        await s.send(step["send"])
        if step.get("await"):
            await s.expect_answer({step["await"]}, ctx.options.timeout_s, since=mark)


async def request_answer(ctx: ProbeContext, op_id: str) -> Result:
    """The generated probe of one operation: send its example (a fresh id where the contract correlates it),
    judge the answer (the frame carrying that id back, else the first of the reply's kinds or an error)."""
    contract = ctx.contract
    op = contract.operation(op_id)
    if op is None or not op.generated:
        return Result.skip("not_in_contract", f"the contract declares no request/answer operation {op_id!r}")
    if op.delivers is not None and delivers(contract, op.probe_name):
        # what it declares it pushes to other sessions is part of its answer: judged with the reply, never dropped
        from .messaging import delivery

        return await delivery(ctx, op.probe_name, "delivered")
    if session_needs_auth(contract, op):
        s = await authed(ctx)
    else:
        s, began = await open_started(ctx)
        if began.problem is not None:
            await s.close()
            return began.problem
    error_type = contract.error_type
    kinds = {m.type for m in op.reply}
    async with s:
        await run_setup(ctx, s, op)
        mark = s.mark()
        t0 = time.perf_counter()
        sent = await s.send(op.request.example)  # type: ignore[union-attr]
        ans = await s.expect_answer(kinds, ctx.options.timeout_s, since=mark)
        rtt = (time.perf_counter() - t0) * 1000
        r = judge_answer(op, ans, rtt, ctx.options.timeout_s, error_type, contract, sent)
        tries = [round(rtt, 3)]
        while r.reason == "late_answer" and len(tries) < LATE_TRIES:
            # one late answer is one sample (a busy moment of the machine, our own probes beside it): the service is
            # late when it is late every time, judged on its fastest answer
            mark = s.mark()
            t0 = time.perf_counter()
            sent = await s.send(op.request.example)  # type: ignore[union-attr]
            again = await s.expect_answer(kinds, ctx.options.timeout_s, since=mark)
            rtt = (time.perf_counter() - t0) * 1000
            tries.append(round(rtt, 3))
            retry = judge_answer(op, again, rtt, ctx.options.timeout_s, error_type, contract, sent)
            if retry.reason != "no_answer":
                r = retry
            if isinstance(r.observed, dict):
                r.observed["answer_ms_tries"] = tries
        if ans is None and s.last_id is not None:
            stray = next((f for _, f in s.frames[mark:] if contract.kind_of(f) in kinds or contract.is_error(f)), None)
            if stray is not None:
                got = [contract_value(stray, p) for p in contract.answer_pointers]
                r = Result.fail(
                    "wrong_answer",
                    f"{op.request.type if op.request else op_id} was answered with id "
                    f"{next((g for g in got if g is not None), None)!r}, not the request's {s.last_id!r}",
                    {"operation": op.id, "request_id": s.last_id, "answer": stray},
                )
        if s.last_id is not None:
            r.observed = {**(r.observed or {}), "request_id": s.last_id} if isinstance(r.observed, dict) else r.observed
        if r.reason == "no_answer" and s.closed:
            r.close_code = s.close_code
    return r


def delivery_text(op: Operation) -> str:
    """What a push probe expects of an operation with ``x-readiness.delivers``, for the catalogue (its
    ``expected`` when declared)."""
    d = op.delivers
    if op.expected or d is None:
        return op.expected
    req = op.request.word if op.request is not None and op.request.type else op.id
    whom = {
        "subscribers": f"the subscribers of {d.channel}",
        "recipient": "the recipient's sessions",
        "self": "the sender's other sessions",
    }.get(d.to, d.to)
    answered = f" is answered by {op.answer.word} and" if op.answer is not None else ""
    return f"{req}{answered} reaches {whom} as {d.said or d.message}"


def make_spec(op: Operation) -> ProbeSpec:
    """The catalogue entry of an operation's generated probe."""
    op_id = op.id

    async def run(ctx: ProbeContext) -> Result:
        return await request_answer(ctx, op_id)

    run.__name__ = f"request_answer_{op_id}"
    expected = delivery_text(op) if op.delivers is not None else expected_text(op)
    return ProbeSpec(
        op.probe_name,
        "messaging",
        op.critical,
        expected,
        run,
        operation=op_id,
        evidence=(Evidence("answer"),),
        runs="together",
    )


def register(contract: Callable[[], Contract], *, until: str | None = None) -> None:
    """Put the generated probes of the contract's request/answer operations into the catalogue, in the contract's
    order (the running order), up to the first operation mapped to the probe ``until`` (a probe written as code,
    registered after this call, that takes that operation's slot; None: to the end). An operation whose probe is
    in the catalogue already (written as code, or registered by an earlier call) keeps that entry. ``contract``
    (the default contract's accessor) is called, and the probes made, when the catalogue is first read: importing
    the probes does not parse the contract."""

    def make(taken: frozenset[str]) -> list[ProbeSpec]:
        out: list[ProbeSpec] = []
        for op in contract().receives():
            if until is not None and op.probe_name == until:
                break
            if op.generated and op.probe_name not in taken and all(s.name != op.probe_name for s in out):
                out.append(make_spec(op))
        return out

    CATALOGUE.later_each(make)


def specs_for(contract: Contract) -> list[ProbeSpec]:
    """The catalogue for a contract, in catalogue order: the probes written as code, then one
    generated probe per request/answer operation (taking the slot of a catalogue entry of the same name)."""
    generated = {o.probe_name: make_spec(o) for o in contract.request_answers()}
    out: list[ProbeSpec] = []
    for spec in CATALOGUE.values():
        op = contract.operation_for(spec.name) if spec.name in REQUIRES and spec.operation is None else None
        push = op is not None and op.delivers is not None
        delivered = push and delivers(contract, spec.name)
        if push:  # a push probe: what it expects in the contract's words
            spec = dataclasses.replace(spec, expected=delivery_text(op))  # type: ignore[arg-type]
            if delivered:  # it judges the reply as the generated probe would, and the delivery too
                generated.pop(spec.name, None)
        elif spec.name in EXPECTED and (said := EXPECTED[spec.name](contract)):  # in the contract's words
            spec = dataclasses.replace(spec, expected=said)
        if spec.operation is not None and spec.name not in generated and not delivered:
            continue  # another contract's request/answer probe (the shipped one's): nothing of this contract's
        if spec.critical and spec.name in ANOTHER_MODEL and ANOTHER_MODEL[spec.name](contract):
            spec = dataclasses.replace(spec, critical=False)  # a way of another session model: no gap in this one
        out.append(generated.pop(spec.name, spec))
    out.extend(generated.values())
    return out


def _attribute(name: str) -> str:
    """The model's attribute of an ``x-readiness`` field (``firstMessage`` -> ``first_message``; pure)."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


# -- what the probes written as code expect, in the words of the contract that judges the run ---------
def _refusal(c: Contract) -> str:
    """How the contract says a refused credential shows (pure)."""
    up, ff = c.upgrade, c.first_frame
    if up is not None and up.refuses_at_upgrade:
        return f"refused at the upgrade with HTTP {'/'.join(map(str, up.refused_status))}"
    fm = (up.first_message if up is not None else None) or {}
    if fm:
        sent = (fm.get("send") or {}).get("type") if isinstance(fm.get("send"), dict) else None
        how = [f"answered {fm['failure']}"] if fm.get("failure") else []
        if up is not None and up.refusal_declared and "close" in up.refusal:
            how.append("the session closed")
        return f"refused after {sent or 'the authentication message'}: {' or '.join(how) or 'never authenticated'}"
    code = c.errors.get("invalidToken")
    if ff is not None and ff.auth_error:
        return f"refused: the {c.kind_word(ff.type)} frame is not authenticated" + (
            f" and its {ff.auth_error} is {code!r}" if code else ""
        )
    return "refused: the session is never authenticated"


def _negative(what: str) -> Any:
    return lambda c: f"{what} is never accepted; {_refusal(c)}"


def _health(c: Contract) -> str | None:
    ep = c.endpoint("health")
    if ep is None:
        return None
    said = f" with {ep['status']} {ep.get('healthy')!r}" if ep.get("status") else ""
    return f"GET {ep['path']} answers 200{said}"


def _user_push(c: Contract) -> str | None:
    ch = c.user_push_channel()
    if ch is None or ch.trigger is None:
        return None
    return (
        f"a push made with {ch.trigger.method} {ch.trigger.path} for the user reaches the user's {ch.name} "
        f"subscription{' as ' + ' / '.join(ch.pushes) if ch.pushes else ''}"
    )


def _broadcast(c: Contract) -> str | None:
    found = c.broadcast_channel()
    if found is None or found[0].trigger is None:
        return None
    trig = found[0].trigger
    return f"a {found[1]} subscriber receives what {trig.method} {trig.path} sends to that channel"


def _interval_push(c: Contract) -> str | None:
    ch = c.push_channel()
    if ch is None:
        return None
    return f"a {ch.name} subscriber receives {' / '.join(ch.pushes)} every {ch.interval_s:g} s"


def _reconnect(c: Contract) -> str:
    ff = c.first_frame
    again = f"gets {c.kind_word(ff.type)} again" if ff is not None else "is served again"
    return f"after a dropped connection a client reconnects (backoff with jitter) and {again}; time measured"


def _rt(c: Contract) -> tuple[str, str] | None:
    """The round trip's request and answer kinds, in the contract's words."""
    op = c.round_trip()
    if op is None or op.request is None or op.answer is None:
        return None
    return op.request.word or op.id, op.answer.word or "its answer"


def _first(c: Contract) -> str:
    return f"'{c.kind_word(c.first_frame.type)}' arrives" if c.first_frame is not None else "the upgrade completes"


def _ping_on_connected(c: Contract) -> str | None:
    rt = _rt(c)
    return None if rt is None else f"'{rt[0]}' sent the moment {_first(c)} is answered with '{rt[1]}'"


def _user_types(c: Contract) -> str | None:
    rt = _rt(c)
    if c.login is None or rt is None:
        return None
    return (
        f"every user type given ({', '.join(c.login.paths)}) connects authenticated and its session stays open "
        f"and answers '{rt[0]}'"
    )


def _connect(authenticated: bool) -> Any:
    def said(c: Contract) -> str | None:
        ff = c.first_frame
        what = "an upgrade with the run's credential" if authenticated else "an anonymous upgrade"
        if ff is None:
            return f"{what} is served{' as authenticated' if authenticated else ''}; stages timed"
        how = (
            ""
            if ff.authenticated is None
            else f" saying at {ff.authenticated} that it is {'' if authenticated else 'not '}authenticated"
        )
        return f"{what} gets '{c.kind_word(ff.type)}'{how}; stages timed"

    return said


def _claims(c: Contract) -> str | None:
    up = c.upgrade
    claims = list(up.required_claims().values()) if up else []
    where = f" with the claims {', '.join(claims)}" if claims else ""
    lg = c.login
    if lg is None:
        return None
    if lg.session == "cookie":
        swap = (
            f", exchanged by {lg.exchange.method} {lg.exchange.path} for a token at {lg.exchange_token}"
            if lg.exchange
            else ""
        )
        return f"every login given answers {lg.status} and sets the session cookie{swap}{where}"
    return f"every login given answers {lg.status} with a token at {lg.token}{where}"


def _subject(c: Contract) -> str | None:
    sub = c.upgrade.claim("subject") if c.upgrade is not None else None
    return None if sub is None else f"each login's token names the user who logged in in its {sub} claim"


def _rate(flood: str) -> Any:
    def said(c: Contract) -> str | None:
        lim = c.limit("rate")
        if lim is None:
            return None
        err = lim.get("error")
        then = " then".join(
            x for x in ((f" {err} errors," if err else ""), (f" the close {lim.close}" if lim.close else "")) if x
        )
        return (
            f"{flood} beyond the declared rate limit ({lim.get('burst')} at once) is "
            f"limited:{then or ' answered by the limit'}"
        )

    return said


def _endpoint(name: str, what: str) -> Any:
    def said(c: Contract) -> str | None:
        ep = c.endpoint(name)
        return None if ep is None or not ep.get("path") else f"GET {ep['path']} {what}"

    return said


def _post_connection(c: Contract) -> str | None:
    up = c.upgrade
    if up is None or up.message is None:
        return None
    return f"{up.message} with a token on an anonymous session is answered with {up.success or 'success'}"


def _size_limit(c: Contract) -> str | None:
    lim = c.limit("messageSize")
    if lim is None:
        return None
    size = int(lim["bytes"])
    sent = size + max(6 * 1024, size // 10)  # as readiness.size_limit sends it
    return (
        f"a message over the contract's size limit ({size / 1024:g} KiB: {sent // 1024} KiB sent) closes the "
        f"connection with its close code ({lim.close or 1009})"
    )


def _header_token(c: Contract) -> str | None:
    up = c.upgrade
    if up is None or not up.header:
        return None
    value = f"{up.scheme} <token>" if up.scheme else "<token>"
    told = (
        "the session is authenticated"
        if c.first_frame is None or not c.first_frame.authenticated
        else f"its '{c.kind_word(c.first_frame.type)}' frame says authenticated"
    )
    return f"'{up.header}: {value}' with a login token really sent on the upgrade: {told}"


def _auth_required(c: Contract) -> str | None:
    op = c.auth_check_operation()
    if op is None or op.request is None:
        return None
    want, close = c.errors.get("authRequired"), c.closes.get("authRequired")
    how = " or ".join(x for x in (f"error {want}" if want else "", f"the close {close}" if close else "") if x)
    return f"{op.request.word} on an anonymous session is refused{': ' + how if how else ''}, never answered"


#: probe -> its expectation in the words of the contract (None: the catalogue's own text)
EXPECTED: dict[str, Any] = {
    "auth.required_for_protected": _auth_required,
    "connection.ping_on_connected": _ping_on_connected,
    "connection.user_types": _user_types,
    "connection.anonymous_connect": _connect(False),
    "connection.authenticated_connect": _connect(True),
    "connection.single_connected_frame": lambda c: (
        f"exactly one '{c.kind_word(c.first_frame.type)}' frame per session" if c.first_frame else None
    ),
    "connection.login": _claims,
    "auth.token_subject": _subject,
    "auth.post_connection": _post_connection,
    "auth.header_token": _header_token,
    "readiness.size_limit": _size_limit,
    "readiness.rate_limit": _rate("a burst of requests"),
    "readiness.control_frame_flood": _rate("a burst of ping control frames"),
    "readiness.health_endpoint": _endpoint("wsHealth", "names the WebSocket endpoint really served"),
    "readiness.stats_requires_auth": _endpoint("stats", "answers 401 without a token"),
    "readiness.stats_non_admin": _endpoint("stats", "answers 403 for every non-admin user type"),
    "readiness.stats_admin": _endpoint("stats", "answers 200 with the declared figures for an admin"),
    "connection.health": _health,
    "auth.invalid_token": _negative("a garbage token"),
    "auth.forged_token": _negative("a token signed with another key"),
    "auth.alg_none": _negative("an alg:none token"),
    "auth.expired_token": _negative("a validly signed but expired token"),
    "auth.wrong_audience": _negative("a validly signed token for another audience"),
    "messaging.notification_delivery": _user_push,
    "messaging.channel_broadcast": _broadcast,
    "messaging.dashboard_push": _interval_push,
    "resilience.reconnect": _reconnect,
    "messaging.stop_pushes": lambda c: (
        (
            f"{o.request.type or o.id} sent with the id of a running {o.stops.operation} "
            f"ends its {o.stops.pushes}: none come after it"
        )
        if (o := c.stopper()) is not None and o.stops is not None and o.request is not None
        else None
    ),
}


# -- probes of a way the contract's session model does not have: never critical for it -----------------
def _carrier_elsewhere(attr: str) -> Any:
    """The contract carries the credential, but not by ``attr`` (query, header, message)."""

    def check(c: Contract) -> bool:
        up = c.upgrade
        return (
            up is not None
            and not getattr(up, attr)
            and any((up.query, up.header, up.cookie, up.subprotocol is not None, up.first_message, up.message))
        )

    return check


def _no_login(c: Contract) -> bool:
    """The service has no login the suite could use: the user supplies the credential, or none is needed."""
    return c.login is None and c.upgrade is not None and c.upgrade.credential in ("token", "none")


def _first_frame_before_auth(c: Contract) -> bool:
    """The first frame comes before the session can authenticate (the credential goes in the client's first message)
    and the contract gives it no place saying authenticated: by the model, not a frame that could say it (a HELLO
    before IDENTIFY). A first frame after an authenticated upgrade could, and its lacking place stays a gap."""
    ff, up = c.first_frame, c.upgrade
    return ff is not None and not ff.authenticated and up is not None and bool(up.first_message)


def _no_anonymous(c: Contract) -> bool:
    return c.upgrade is not None and not c.upgrade.anonymous


#: probe -> whether the contract's session model lacks the way the probe checks (a token carrier it does not use,
#: a login it does not have, a first frame its protocol does not send, anonymous sessions it does not serve, channels
#: it does not have). Such a probe still skips ``not_in_contract`` (the plan lists it), but is not critical for the
#: run: its skip is no gap in the evidence about this service. Features any service may have undeclared (limits,
#: security headers, stats, triggers) stay critical.
ANOTHER_MODEL: dict[str, Any] = {
    "auth.query_token": _carrier_elsewhere("query"),
    "auth.header_token": _carrier_elsewhere("header"),
    "auth.post_connection": _carrier_elsewhere("message"),
    **{
        name: _no_login
        for name in (
            "connection.login_no_password",
            "connection.user_types",
            "connection.ping_on_connected",
            "readiness.login_throttle",
        )
    },
    # the claims a login's token carries: none to check without a login, nor in an opaque token (no upgrade.jwt)
    **{
        name: (lambda c: _no_login(c) or (c.upgrade is not None and not c.upgrade.jwt))
        for name in ("connection.login", "auth.token_subject")
    },
    # a first frame sent before the session could authenticate cannot say it is (a HELLO before IDENTIFY)
    "connection.anonymous_connect": lambda c: _no_anonymous(c) or _first_frame_before_auth(c),
    # authenticated by the first message: the session before it is the anonymous one, auth.before_authentication
    # judges its refusal, unless the contract names how an anonymous session is refused (then this probe judges it)
    "auth.required_for_protected": lambda c: (
        _no_anonymous(c) or (c.upgrade is not None and bool(c.upgrade.first_message) and not declares(c, "authRefusal"))
    ),
    "session.first_frame": lambda c: c.first_frame is None,
    # authenticated at the upgrade with no first frame to say so: the round trips of its sessions are the evidence
    "connection.authenticated_connect": lambda c: _no_login(c) or c.first_frame is None or _first_frame_before_auth(c),
    # a protocol whose every error is a close code (the closes the contract declares are judged where they happen)
    "session.error_shape": lambda c: not c.has_error_frames,
    # attacks on (or checks of) the claims of a signed token: the contract does not say its tokens are JWTs
    # (upgrade.jwt): an opaque token has no claims to carry
    **{
        name: (lambda c: c.upgrade is not None and not c.upgrade.jwt)
        for name in (
            "auth.expired_token",
            "auth.wrong_audience",
            "auth.forged_token",
            "auth.alg_none",
            "auth.unknown_user",
        )
    },
    "messaging.forbidden_channel": lambda c: not c.channels,
}


# -- what the probes written as code need the contract to declare ----------------------------
#: probe -> the declarations it reads (see :func:`declares`); a probe not listed needs none.
REQUIRES: dict[str, tuple[str, ...]] = {
    "connection.health": ("endpoints.health",),
    "connection.login": ("login", "upgrade.jwt"),
    "connection.login_no_password": ("login",),
    # capabilities and the user are compared when the contract says where they are
    "connection.anonymous_connect": ("firstFrame.authenticated",),
    # a login token carried wherever the contract's upgrade carries a credential (query, header, cookie, ...)
    "connection.authenticated_connect": ("login", "credential", "firstFrame.authenticated"),
    "connection.user_types": ("login", "credential", "roundTrip"),
    "connection.single_connected_frame": ("firstFrame",),
    "session.first_frame": ("firstFrame",),
    "messaging.id_reuse": ("ids.increasing",),
    "auth.before_authentication": ("upgrade.firstMessage",),
    "messaging.batch": ("batchRequests",),
    "messaging.stop_pushes": ("stops",),
    "connection.ping_on_connected": ("login", "credential", "roundTrip"),
    "auth.query_token": ("login", "upgrade.query"),
    "auth.header_token": ("login", "upgrade.header"),
    "auth.post_connection": ("login", "upgrade.message"),
    "auth.invalid_token": ("credential", "tokenRefusal"),
    # a forged, unsigned or expired JWT tells something only of a service whose tokens are JWTs (upgrade.jwt); against
    # opaque tokens it is one more garbage token (auth.invalid_token)
    "auth.forged_token": ("credential", "upgrade.jwt", "tokenRefusal"),
    "auth.alg_none": ("credential", "upgrade.jwt", "tokenRefusal"),
    "auth.expired_token": ("credential", "upgrade.jwt", "tokenRefusal"),
    "auth.wrong_audience": ("credential", "upgrade.jwt", "tokenRefusal"),
    "auth.unknown_user": ("credential", "upgrade.jwt"),
    "auth.token_subject": ("login", "login.userId", "upgrade.jwt"),
    # refused by the contract's error (errors.authRequired) or by its declared close (closes.authRequired)
    "auth.required_for_protected": ("authOnly", "authRefusal"),
    "session.error_shape": ("errorFrames",),
    # a request mapped to the probe whose x-readiness.delivers says who receives what (and how to reach them)
    "messaging.presence_update": ("delivers:messaging.presence_update",),
    "messaging.send_message": ("delivers:messaging.send_message",),
    "messaging.typing": ("delivers:messaging.typing",),
    "messaging.notification_read": ("delivers:messaging.notification_read",),
    "messaging.notification_delivery": ("userPushChannel", "subscription"),
    "messaging.dashboard_push": ("pushChannel", "subscription"),
    "messaging.channel_broadcast": ("broadcastChannel", "subscription"),
    "messaging.forbidden_channel": ("ownerChannel", "subscription", "errors.forbiddenChannel"),
    # how the service answers bad input: an error code, a declared silence (ignores) or a declared close (closes)
    "messaging.invalid_json": ("badInput:invalidJson",),
    "messaging.missing_type": ("badInput:untyped",),
    "messaging.unknown_type": ("badInput:unknownType",),
    "performance.round_trip": ("roundTrip",),
    "performance.concurrency_ramp": ("roundTrip",),
    "readiness.health_live": ("endpoints.wsHealth.connections",),
    "readiness.health_endpoint": ("endpoints.wsHealth.endpoint",),
    "readiness.stats_requires_auth": ("endpoints.stats",),
    "readiness.stats_non_admin": ("endpoints.stats", "login"),
    "readiness.stats_admin": ("endpoints.stats", "login"),
    "readiness.security_headers": ("securityHeaders",),
    "readiness.rate_limit": ("limits.rate", "roundTrip"),
    "readiness.origin_check": ("origin",),
    "readiness.size_limit": ("limits.messageSize",),
    "readiness.invalid_utf8": ("limits.invalidUtf8",),
    "readiness.session_leak": ("sessions", "login"),
    "readiness.lockout_spoofing": ("limits.lockout",),
    "resilience.server_ping": ("limits.serverPing",),
    "resilience.invalid_then_working": ("roundTrip",),
    "resilience.lockout_per_address": ("limits.lockout", "roundTrip"),
    "resilience.sustained_sessions": ("roundTrip",),
    # hardening (issue 31): each attack is bounded by what the contract declares
    "resilience.nested_json": ("limits.messageSize", "badInput:nested", "roundTrip"),
    "readiness.control_frame_flood": ("limits.rate",),
    "resilience.tls_handshake_stall": ("limits.handshake",),
    "resilience.keepalive_trickle": ("limits.handshake", "endpoints.health"),
    "readiness.login_throttle": ("login",),
    "readiness.subscription_cap": ("limits.subscriptions", "subscription"),
    "readiness.connection_cap": ("limits.connections",),
    "readiness.memory_retained": ("memory", "roundTrip"),
    "readiness.trigger_authorization": ("triggers", "login"),
}


def declares(contract: Contract, key: str) -> bool:
    """Whether the contract declares what ``key`` names (pure).

    Keys: ``login``, ``login.userId``, ``upgrade.<query|header|message|jwt>``, ``credential`` (a carrier for
    a session's credential), ``tokenRefusal``,
    ``firstFrame[.<field>]``, ``type:<client message type>``, ``channel:<name>``,
    ``trigger:<channel name>``, ``errors.<code name>``, ``endpoints.<name>[.<pointer name>]``,
    ``sessions`` (an open-session count), ``memory`` (a memory gauge), ``triggers`` (any push trigger),
    ``limits.<name>``, ``authOnly``, ``pushChannel``, ``ownerChannel``, ``delivers:<probe>`` (a request mapped to the
    probe that declares its push),
    ``securityHeaders``, ``origin``.
    """
    kind, _, rest = key.partition(":")
    if kind == "delivers":
        return delivers(contract, rest)
    if kind == "badInput":  # an error code for it, or a declared silence, or a declared close
        codes = {
            "invalidJson": ("invalidFormat",),
            "untyped": ("missingKind", "invalidFormat"),
            "unknownType": ("unknownType",),
            "nested": ("invalidFormat",),
        }
        # JSON nested too deep: input without a kind where it parses, not JSON where the parser refuses it
        said = ("untyped", "invalidJson") if rest == "nested" else (rest,)
        return (
            any(contract.errors.get(k) for k in codes.get(rest, ()))
            or any(k in contract.ignores for k in said)
            or any(k in contract.closes for k in said)
        )
    if rest:
        if kind == "type":
            return contract.declares_type(rest)
        ch = contract.channel_for(rest)
        return ch is not None and (kind == "channel" or ch.trigger is not None)
    head, _, sub = key.partition(".")
    if head == "login":
        return contract.login is not None and bool(contract.login.paths) and (not sub or bool(contract.login.user_id))
    if head == "upgrade":
        up = contract.upgrade
        return up is not None and bool(getattr(up, _attribute(sub)))
    if head == "ids":  # ids.increasing: the contract says a session's ids must increase (a reuse is refused)
        return contract.ids.rule == sub
    if head == "batchRequests":
        return contract.batch_requests
    if head == "firstFrame":
        ff = contract.first_frame
        attr = _attribute(sub) if sub else "type"
        return ff is not None and bool(getattr(ff, attr))
    if head == "errors":
        return bool(contract.errors.get(sub))
    if head == "endpoints":
        name, _, ptr = sub.partition(".")
        ep = contract.endpoint(name)
        return ep is not None and (not ptr or bool(ep.get(ptr)))
    if head == "sessions":
        return bool(contract.session_count_sources())
    if head == "memory":  # a resident-memory gauge in a health or stats document
        return bool(contract.memory_sources())
    if head == "triggers":  # an HTTP call that makes the service push (a channel's trigger, or x-readiness.triggers)
        return bool(contract.http_triggers())
    if head == "limits":
        return contract.limit(sub) is not None
    if head == "credential":  # the contract carries a session's credential: on the upgrade or in the first message
        up = contract.upgrade
        return up is not None and any((up.query, up.header, up.cookie, up.subprotocol is not None, up.first_message))
    if head == "tokenRefusal":  # how a refused token shows: an authError in the first frame, an HTTP status, or the
        # answer to (or a declared close after) the first-message authentication
        up, ff = contract.upgrade, contract.first_frame
        return (
            bool(ff is not None and ff.auth_error)
            or bool(up is not None and up.refuses_at_upgrade)
            # a session left anonymous, told by the first frame's authenticated place
            or bool(
                up is not None
                and up.refusal_declared
                and "anonymous" in up.refusal
                and ff is not None
                and ff.authenticated
            )
            or bool(
                up is not None
                and up.first_message
                and (up.first_message.get("failure") or (up.refusal_declared and "close" in up.refusal))
            )
        )
    if head == "userPushChannel":  # a channel whose trigger pushes to one user ({userId})
        return contract.user_push_channel() is not None
    if head == "broadcastChannel":  # a channel whose trigger names the channel it pushes to ({channel})
        return contract.broadcast_channel() is not None
    if head == "pushChannel":  # a channel that pushes at a fixed interval (intervalSeconds and pushes)
        return contract.push_channel() is not None
    if head == "ownerChannel":  # a channel pattern only its owner may subscribe to (user:{id})
        return any(c.owner and "{" in c.name for c in contract.channels.values())
    if head == "stops":  # a request that ends another's pushes (x-readiness.stops)
        return contract.stopper() is not None
    if head == "subscription":  # a request that subscribes a session to a declared channel
        return contract.subscription() is not None
    if head == "roundTrip":
        return contract.round_trip() is not None
    if head == "authOnly":
        return bool(contract.auth_only_types())
    if head == "authRefusal":  # how an authenticated-only request on an anonymous session is refused
        return bool(contract.errors.get("authRequired")) or "authRequired" in contract.closes
    if head == "errorFrames":  # the protocol has error frames (not every error a close)
        return contract.has_error_frames
    if head == "securityHeaders":
        return bool(contract.security_headers)
    if head == "origin":
        return contract.origin is not None
    raise UsageError(f"unknown contract declaration {key!r}")


def delivers(contract: Contract, probe: str) -> bool:
    """Whether the contract maps a request with an example to ``probe`` and declares what it delivers, with a
    way to reach the receiver: a subscription to the declared channel, a user id for the recipient."""
    op = contract.operation_for(probe)
    d = op.delivers if op is not None else None
    if d is None:
        return False
    if d.to == "subscribers":
        return (
            d.channel is not None
            and contract.channel_for(d.channel) is not None
            and subscribe_request(contract, d.channel) is not None
        )
    if d.to == "recipient":
        lg, ff = contract.login, contract.first_frame
        return bool(lg is not None and lg.user_id) or bool(ff is not None and ff.user_id)
    return True


#: requirements that are no single field, in words
_WORDS = {
    "authRefusal": "how an anonymous session is refused (errors.authRequired or closes.authRequired)",
    "errorFrames": "error frames (x-readiness.errors)",
}


def _generic(key: str) -> str:
    """A requirement in words that name no message or channel of another service (the reader's contract lacks it)."""
    kind, _, rest = key.partition(":")
    if not rest:
        return key
    if key in _WORDS:
        return _WORDS[key]
    return {
        "type": "the client message this probe sends",
        "channel": "the subscription channel this probe uses",
        "delivers": "a request mapped to this probe with what it delivers and to whom (x-readiness.delivers)",
        "badInput": "how the service answers this input (an errors code, ignores or closes)",
        "trigger": "a push trigger for the channel this probe uses",
    }.get(kind, key)


def not_in_contract(spec: ProbeSpec, contract: Contract) -> str | None:
    """What the contract lacks for a probe (a sentence), or None when it declares everything the probe reads."""
    if spec.operation is not None:
        op = contract.operation(spec.operation)
        if op is None or not op.generated or op.probe_name != spec.name:
            return "the contract has no request/answer operation for this probe"
        return None
    lacking = [k for k in REQUIRES.get(spec.name, ()) if not declares(contract, k)]
    if lacking:
        return f"the contract does not declare {', '.join(dict.fromkeys(_generic(k) for k in lacking))}"
    return None
