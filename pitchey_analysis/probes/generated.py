"""Request/answer probes generated from the contract, and what each probe needs the contract to declare.

For every ``action: receive`` operation with a ``reply`` and an example, one
probe: send the example, wait for an answer of one of the reply's types (or
the contract's error message), validate it against the first reply message's
schema with ``jsonschema``, time it. Outcomes (DESIGN.md, message-type support):

- pass (*full*): the expected answer, valid against its schema, echoing the fields the contract names;
- ``wrong_answer`` (*partial*): another reply or an error, or a schema error (its JSON path is in ``observed``);
- ``late_answer`` (*partial*): valid but after half the timeout;
- ``no_answer`` (*missing*): nothing within the timeout.

The probes written as code (auth, pushes, limits, ...) read their endpoints,
pointers and bounds from the contract too; :data:`REQUIRES` says which
declarations each needs, and :func:`not_in_contract` turns an absent one into
a ``skip`` with reason ``not_in_contract`` when the run is planned.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from ..contract import Contract, Operation
from ..contract import pointer_get as contract_value
from ..contract.requests import subscribe_request
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
    return f"{req.type if req else op.id} is answered by {ans.type if ans else '?'} valid against its schema in the contract"


def judge_answer(op: Operation, answer: dict[str, Any] | None, rtt_ms: float, timeout_s: float,
                 error_type: str = "error", contract: Contract | None = None, sent: dict[str, Any] | None = None) -> Result:
    """The outcome of one request/answer exchange (pure).

    The answer is judged against the operation's reply schema when it is a success, and counts as an error
    when the contract's envelope or error kinds say so (even when it has the reply's kind)."""
    want = op.answer
    assert want is not None and op.request is not None
    request = sent if sent is not None else (op.request.example or {})
    mtype = op.request.type or op.id
    kind = contract.kind_of(answer) if contract is not None and answer is not None else (answer or {}).get("type")
    obs: dict[str, Any] = {"message_type": mtype, "operation": op.id, "answer": answer, "answer_ms": round(rtt_ms, 3)}
    if answer is None:
        return Result.fail("no_answer", f"no answer to {mtype} within {timeout_s:.1f} s", obs)
    is_error = contract.is_error(answer) if contract is not None else kind == error_type
    if is_error or kind not in {m.type for m in op.reply}:
        code = contract.error_code(answer) if contract is not None else answer.get("code")
        what = f"{kind} {code}" if code is not None else str(kind)
        return Result.fail("wrong_answer", f"{mtype} answered {'an error: ' if is_error else ''}{what}, not {want.type}", obs)
    target = next((m for m in op.reply if m.type == kind), want)
    issue = target.error(answer)
    if issue is not None:
        obs["schema_error"] = issue.as_dict()
        return Result.fail("wrong_answer", f"{mtype} answer off its schema at {issue.path}: {issue.error}", obs)
    for f in op.echo:
        if f in request and answer.get(f) != request[f]:
            return Result.fail("wrong_answer", f"{want.type} does not echo the {mtype}'s {f}", obs)
    if rtt_ms > timeout_s * 1000 / 2:
        return Result.fail("late_answer", f"{mtype} answered after {rtt_ms:.0f} ms", obs)
    return Result.ok(f"{kind} in {rtt_ms:.1f} ms", obs)


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
        if ans is None and s.last_id is not None:
            stray = next((f for _, f in s.frames[mark:] if contract.kind_of(f) in kinds or contract.is_error(f)), None)
            if stray is not None:
                got = [contract_value(stray, p) for p in contract.answer_pointers]
                r = Result.fail("wrong_answer", f"{op.request.type if op.request else op_id} was answered with id "
                                f"{next((g for g in got if g is not None), None)!r}, not the request's {s.last_id!r}",
                                {"operation": op.id, "request_id": s.last_id, "answer": stray})
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
    req = op.request.type if op.request is not None and op.request.type else op.id
    whom = {"subscribers": f"the subscribers of {d.channel}", "recipient": "the recipient's sessions",
            "self": "the sender's other sessions"}.get(d.to, d.to)
    answered = f" is answered by {op.answer.type} and" if op.answer is not None else ""
    return f"{req}{answered} reaches {whom} as {d.message}"


def make_spec(op: Operation) -> ProbeSpec:
    """The catalogue entry of an operation's generated probe."""
    op_id = op.id

    async def run(ctx: ProbeContext) -> Result:
        return await request_answer(ctx, op_id)

    run.__name__ = f"request_answer_{op_id}"
    expected = delivery_text(op) if op.delivers is not None else expected_text(op)
    return ProbeSpec(op.probe_name, "messaging", op.critical, expected, run, operation=op_id,
                     evidence=(Evidence("answer"),), runs="together")


def register(contract: Contract, op_id: str) -> None:
    """Put an operation's generated probe into the catalogue (the default contract's, in running order)."""
    op = contract.operation(op_id)
    if op is None or not op.generated:
        raise ValueError(f"operation {op_id!r} of {contract.name} has no generated probe")
    spec = make_spec(op)
    if spec.name in CATALOGUE:
        raise ValueError(f"duplicate probe name {spec.name!r}")
    CATALOGUE[spec.name] = spec


def specs_for(contract: Contract) -> list[ProbeSpec]:
    """The catalogue for a contract, in catalogue order: the probes written as code, then one
    generated probe per request/answer operation (taking the slot of a catalogue entry of the same name)."""
    generated = {o.probe_name: make_spec(o) for o in contract.request_answers()}
    out: list[ProbeSpec] = []
    for spec in CATALOGUE.values():
        op = contract.operation_for(spec.name) if spec.name in REQUIRES and spec.operation is None else None
        if op is not None and op.delivers is not None:  # a push probe: what it expects in the contract's words
            spec = dataclasses.replace(spec, expected=delivery_text(op))
            if delivers(contract, spec.name):  # it judges the reply as the generated probe would, and the delivery too
                generated.pop(spec.name, None)
        out.append(generated.pop(spec.name, spec))
    out.extend(generated.values())
    return out


# -- what the probes written as code need the contract to declare ----------------------------
#: probe -> the declarations it reads (see :func:`declares`); a probe not listed needs none.
REQUIRES: dict[str, tuple[str, ...]] = {
    "connection.health": ("endpoints.health",),
    "connection.login": ("login", "upgrade.jwt"),
    "connection.login_no_password": ("login",),
    # capabilities and the user are compared when the contract says where they are
    "connection.anonymous_connect": ("firstFrame.authenticated",),
    "connection.authenticated_connect": ("login", "upgrade.query", "firstFrame.authenticated"),
    "connection.user_types": ("login", "upgrade.query", "roundTrip"),
    "connection.single_connected_frame": ("firstFrame",),
    "session.first_frame": ("firstFrame",),
    "messaging.id_reuse": ("ids.increasing",),
    "auth.before_authentication": ("upgrade.firstMessage",),
    "messaging.batch": ("batchRequests",),
    "connection.ping_on_connected": ("login", "upgrade.query", "roundTrip"),
    "auth.query_token": ("login", "upgrade.query"),
    "auth.header_token": ("login", "upgrade.header"),
    "auth.post_connection": ("login", "upgrade.message"),
    "auth.invalid_token": ("upgrade.query", "tokenRefusal"),
    # a forged, unsigned or expired JWT tells something only of a service whose tokens are JWTs (upgrade.jwt); against
    # opaque tokens it is one more garbage token (auth.invalid_token)
    "auth.forged_token": ("upgrade.query", "upgrade.jwt", "tokenRefusal"),
    "auth.alg_none": ("upgrade.query", "upgrade.jwt", "tokenRefusal"),
    "auth.expired_token": ("upgrade.query", "upgrade.jwt", "tokenRefusal"),
    "auth.wrong_audience": ("upgrade.query", "upgrade.jwt", "tokenRefusal"),
    "auth.unknown_user": ("upgrade.query", "upgrade.jwt"),
    "auth.token_subject": ("login", "login.userId", "upgrade.jwt"),
    "auth.required_for_protected": ("authOnly", "errors.authRequired"),
    # a request mapped to the probe whose x-readiness.delivers says who receives what (and how to reach them)
    "messaging.presence_update": ("delivers:messaging.presence_update",),
    "messaging.send_message": ("delivers:messaging.send_message",),
    "messaging.typing": ("delivers:messaging.typing",),
    "messaging.notification_read": ("delivers:messaging.notification_read",),
    "messaging.notification_delivery": ("trigger:notifications", "type:subscribe"),
    "messaging.dashboard_push": ("pushChannel", "type:subscribe"),
    "messaging.channel_broadcast": ("trigger:pitch:42", "type:subscribe"),
    "messaging.forbidden_channel": ("ownerChannel", "type:subscribe", "errors.forbiddenChannel"),
    "messaging.invalid_json": ("errors.invalidFormat",),
    "messaging.missing_type": ("errors.invalidFormat",),
    "messaging.unknown_type": ("errors.unknownType",),
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
    "resilience.nested_json": ("limits.messageSize", "errors.invalidFormat", "roundTrip"),
    "readiness.control_frame_flood": ("limits.rate",),
    "resilience.tls_handshake_stall": ("limits.handshake",),
    "resilience.keepalive_trickle": ("limits.handshake", "endpoints.health"),
    "readiness.login_throttle": ("login",),
    "readiness.subscription_cap": ("limits.subscriptions", "type:subscribe"),
    "readiness.connection_cap": ("limits.connections",),
    "readiness.memory_retained": ("memory", "roundTrip"),
    "readiness.trigger_authorization": ("triggers", "login"),
}


def declares(contract: Contract, key: str) -> bool:
    """Whether the contract declares what ``key`` names (pure).

    Keys: ``login``, ``login.userId``, ``upgrade.<query|header|message|jwt>``,
    ``firstFrame[.<field>]``, ``type:<client message type>``, ``channel:<name>``,
    ``trigger:<channel name>``, ``errors.<code name>``, ``endpoints.<name>[.<pointer name>]``,
    ``sessions`` (an open-session count), ``memory`` (a memory gauge), ``triggers`` (any push trigger),
    ``limits.<name>``, ``authOnly``, ``pushChannel``, ``ownerChannel``, ``delivers:<probe>`` (a request mapped to the probe that declares its push),
    ``securityHeaders``, ``origin``.
    """
    kind, _, rest = key.partition(":")
    if kind == "delivers":
        return delivers(contract, rest)
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
        return up is not None and bool(getattr(up, {"firstMessage": "first_message"}.get(sub, sub)))
    if head == "ids":  # ids.increasing: the contract says a session's ids must increase (a reuse is refused)
        return contract.ids.rule == sub
    if head == "batchRequests":
        return contract.batch_requests
    if head == "firstFrame":
        ff = contract.first_frame
        attr = {"authError": "auth_error", "": "type"}.get(sub, sub)
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
    if head == "tokenRefusal":  # how a refused token shows: an authError in the first frame, or an HTTP status
        up, ff = contract.upgrade, contract.first_frame
        return bool(ff is not None and ff.auth_error) or bool(up is not None and up.refuses_at_upgrade)
    if head == "pushChannel":  # a channel that pushes at a fixed interval (intervalSeconds and pushes)
        return contract.push_channel() is not None
    if head == "ownerChannel":  # a channel pattern only its owner may subscribe to (user:{id})
        return any(c.owner and "{" in c.name for c in contract.channels.values())
    if head == "roundTrip":
        return contract.round_trip() is not None
    if head == "authOnly":
        return bool(contract.auth_only_types())
    if head == "securityHeaders":
        return bool(contract.security_headers)
    if head == "origin":
        return contract.origin is not None
    raise ValueError(f"unknown contract declaration {key!r}")


def delivers(contract: Contract, probe: str) -> bool:
    """Whether the contract maps a request with an example to ``probe`` and declares what it delivers, with a
    way to reach the receiver: a subscription to the declared channel, a user id for the recipient."""
    op = contract.operation_for(probe)
    d = op.delivers if op is not None else None
    if d is None:
        return False
    if d.to == "subscribers":
        return d.channel is not None and contract.channel_for(d.channel) is not None and subscribe_request(contract, d.channel) is not None
    if d.to == "recipient":
        lg, ff = contract.login, contract.first_frame
        return bool(lg is not None and lg.user_id) or bool(ff is not None and ff.user_id)
    return True


def _generic(key: str) -> str:
    """A requirement in words that name no message or channel of another service (the reader's contract lacks it)."""
    kind, _, rest = key.partition(":")
    if not rest:
        return key
    return {"type": "the client message this probe sends", "channel": "the subscription channel this probe uses",
            "delivers": "a request mapped to this probe with what it delivers and to whom (x-readiness.delivers)",
            "trigger": "a push trigger for the channel this probe uses"}.get(kind, key)


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
