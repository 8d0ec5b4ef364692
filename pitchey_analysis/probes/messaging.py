"""Messaging probes: one per message type of the contract, plus pushes and bad input.

The request/answer probes are generated from the contract's operations
(``probes/generated.py``); the ones below judge what a single exchange cannot
(pushes to other sessions, delivery, access control, bad input).

Each probe that checks a message type sets ``observed['message_type']`` so the
analysis can build the message-type support table: a pass is *full*, a
``wrong_answer`` or a late answer is *partial*, ``no_answer`` is *missing*.
"""

from __future__ import annotations

import copy
import json
import re
import time
from typing import Any

from ..contract import Contract, default_contract, pointer_get
from ..contract.requests import fill_template, subscribe_request
from ..contract.wire import set_pointer
from ..outcomes import Outcome
from . import generated
from .base import Evidence, ProbeContext, Result, probe
from .common import HttpAnswer, authed, http, login, login_user_id, open_started
from .session import ProbeSession

# Request/answer probes of the shipped contract's operations (probes/generated.py), in its order: those before the
# first one judged by a probe written as code below, then (at the end of this module) the rest; made when the
# catalogue is first read, so that importing the probes does not parse the contract.
generated.register(default_contract, until="messaging.presence_update")


async def _recipient_id(ctx: ProbeContext, s: ProbeSession, creds: Any) -> Any:
    """The user id of the session ``s`` logged in as ``creds``: at the contract's login-answer pointer, else at
    its first frame's user pointer; None when the contract says neither."""
    _, ans = await login(ctx, creds)
    rid = login_user_id(ctx, ans) if ctx.contract.login is not None and ctx.contract.login.user_id else None
    ff = ctx.contract.first_frame
    if rid is None and ff is not None and ff.user_id:
        first = next((f for _, f in s.frames if s.kind(f) == ff.type), None)
        rid = ff.user_id_in(first) if first is not None else None
    return rid


def _as_example(value: Any, example_value: Any) -> Any:
    """A user id in the JSON type the request's example has at that place (an integer id for ``4``)."""
    if (
        isinstance(example_value, int)
        and not isinstance(example_value, bool)
        and isinstance(value, str)
        and value.isdigit()
    ):
        return int(value)
    if isinstance(example_value, str) and isinstance(value, int):
        return str(value)
    return value


async def delivery(ctx: ProbeContext, name: str, push_key: str) -> Result:
    """A probe of a request that makes the service push to other sessions, all from the contract: the request
    is the example of the operation mapped to probe ``name``; its ``x-readiness.delivers`` says who receives
    the push (the subscribers of a channel, the recipient the request names, the sender's other sessions), of
    which kind, with which of the request's values and which fixed ones. The answer (where the operation has a
    reply) is judged as a generated probe judges it; the push by its kind, its values and its schema."""
    c = ctx.contract
    op = c.operation_for(name)
    d = op.delivers if op is not None else None
    if op is None or op.request is None or op.request.example is None or d is None:
        return Result.skip("not_in_contract", "the contract maps no request with a declared delivery to this probe")
    request: Any = copy.deepcopy(op.request.example)  # an object, or an array for a contract of array frames
    mtype = op.request.word or op.id
    timeout = ctx.options.timeout_s
    if d.to == "subscribers":
        sub = subscribe_request(c, d.channel)
        if sub is None:
            return Result.skip("not_in_contract", "the contract declares no subscription for the delivery's channel")
        receiver = await authed(ctx)
        await receiver.ask(sub[0], sub[1], timeout)
        sender = await authed(ctx, closing=(receiver,))
        whom = f"{d.channel} subscribers"
    elif d.to == "recipient":
        sender = await authed(ctx)
        other = ctx.admin or ctx.user
        receiver = await authed(ctx, other, closing=(sender,))
        assert (
            other is not None and d.recipient is not None
        )  # authed() stopped without credentials; load checks the pointer
        rid = await _recipient_id(ctx, receiver, other)
        if rid is None:
            await sender.close()
            await receiver.close()
            return Result.skip(
                "not_in_contract",
                "the contract says nowhere what the recipient's user id is (login.userId, firstFrame.userId)",
            )
        request = set_pointer(request, d.recipient, _as_example(rid, pointer_get(request, d.recipient)))
        whom = "the recipient"
    else:
        sender = await authed(ctx)
        receiver = await authed(ctx, closing=(sender,))
        whom = "the user's other session"

    def carried(f: dict[str, Any]) -> bool:
        return c.kind_of(f) == d.message and all(
            pointer_get(f, push) == pointer_get(request, req) for req, push in d.echo
        )

    r: Result | None = None
    async with sender, receiver:
        await generated.run_setup(ctx, sender, op)
        mark, smark = receiver.mark(), sender.mark()
        t0 = time.perf_counter()
        sent = await sender.send(request)
        if op.answer is not None:
            ans = await sender.expect_answer({m.type for m in op.reply}, timeout, since=smark)
            r = generated.judge_answer(op, ans, (time.perf_counter() - t0) * 1000, timeout, c.error_type, c, sent)
        push = await receiver.expect(carried, timeout, since=mark)
    if r is not None and r.outcome != Outcome.PASS:
        return r
    # the answer is owed where the operation has a reply; a request answered by nothing is judged on its push alone
    obs: dict[str, Any] = {
        **((r.observed or {}) if r is not None else {}),
        "message_type": mtype,
        "replied": op.answer is not None,
    }
    if push is None:
        if r is None:
            return Result.fail("no_answer", f"{whom} got no {d.said or d.message}", {**obs, "answer": None})
        return Result.fail("no_push", f"{whom} got no {d.said or d.message}", obs)
    obs[push_key] = push
    said = c.word_of(push)
    off = next((p for p, v in d.values.items() if pointer_get(push, p) != v), None)
    if off is not None:
        return Result.fail("wrong_answer", f"{said} without {off[1:]}: {d.values[off]!r}", obs)
    issue = c.check_frame(push)
    if issue is not None:
        return Result.fail(
            "wrong_answer",
            f"{said} off its schema at {issue.path}: {issue.error}",
            {**obs, "schema_error": issue.as_dict()},
        )
    if r is not None:
        r.observed = obs
        return r
    return Result.ok(f"{said} delivered", obs)


#: the answer of a delivery's request, owed where its operation declares a reply (``replied``)
_ANSWER = Evidence("answer", when="replied")


@probe(
    "messaging.presence_update",
    runs="together",
    category="messaging",
    critical=False,
    evidence=(_ANSWER, "push"),
    expected="presence_update is answered by presence_updated and pushed to presence subscribers",
)
async def presence(ctx: ProbeContext) -> Result:
    return await delivery(ctx, "messaging.presence_update", "push")


@probe(
    "messaging.send_message",
    runs="together",
    category="messaging",
    critical=False,
    disruptive=True,
    evidence=(_ANSWER, "delivered"),
    expected="send_message is answered by message_sent and delivered to the recipient as new_message",
)
async def send_message(ctx: ProbeContext) -> Result:
    return await delivery(ctx, "messaging.send_message", "delivered")


@probe(
    "messaging.typing",
    runs="together",
    category="messaging",
    critical=False,
    evidence=("answer",),
    expected="typing_start reaches the recipient as user_typing with isTyping:true",
)
async def typing(ctx: ProbeContext) -> Result:
    return await delivery(ctx, "messaging.typing", "answer")


@probe(
    "messaging.notification_read",
    runs="together",
    category="messaging",
    critical=False,
    evidence=(_ANSWER, "echoed"),
    expected="notification_read is echoed to all of the user's sessions",
)
async def notification_read(ctx: ProbeContext) -> Result:
    return await delivery(ctx, "messaging.notification_read", "echoed")


generated.register(default_contract)


async def trigger_push(
    ctx: ProbeContext, channel: str, values: dict[str, Any], admin_token: str | None
) -> tuple[HttpAnswer, str] | Result:
    """Make the service push to ``channel`` through the contract's trigger endpoint.

    Returns (the endpoint's answer, what was called), or the result of a probe that cannot have
    its evidence: no trigger in the contract (``not_in_contract``), an endpoint the service lacks
    (``trigger_missing``), or a trigger answered with another status than the contract's (``wrong_status``).
    """
    ch = ctx.contract.channel_for(channel)
    trig = ch.trigger if ch else None
    if trig is None:
        return Result.skip("not_in_contract", f"the contract declares no push trigger for channel {channel!r}")
    what = f"{trig.method} {trig.path}"
    ans = await http(
        ctx,
        trig.method,
        trig.path,
        token=admin_token if trig.admin else None,
        json_body=fill_template(trig.body, values) if trig.body is not None else None,
    )
    if ans.status in (404, 405):
        return Result.skip(
            "trigger_missing",
            f"{what} answered {ans.status}: the push could not be made to happen",
            {"status": ans.status},
        )
    if (trig.status is not None and ans.status != trig.status) or not 200 <= ans.status < 300:
        return Result.fail("wrong_status", f"{what} answered {ans.status}", {"status": ans.status})
    return ans, what


async def subscribed(ctx: ProbeContext, s: ProbeSession, channel: str) -> Result | None:
    """Subscribe ``s`` to ``channel`` with the contract's subscribe request (waiting for its answer); a skip
    ``not_in_contract`` when the contract declares no subscription."""
    sub = subscribe_request(ctx.contract, channel)
    if sub is None:
        return Result.skip("not_in_contract", "the contract declares no subscribe request")
    await s.ask(sub[0], sub[1], ctx.options.timeout_s)
    return None


def judge_push(ctx: ProbeContext, got: dict[str, Any] | None, kinds: tuple[str, ...], missing: str) -> Result:
    """A push awaited of one of the channel's ``kinds``: none (``no_push``), off its schema in the contract
    (``wrong_answer``), or delivered."""
    obs = {"message_type": kinds[0] if kinds else None, "answer": got}
    if got is None:
        return Result.fail("no_push", missing, obs)
    issue = ctx.contract.check_frame(got)
    if issue is not None:
        return Result.fail(
            "wrong_answer",
            f"{ctx.contract.kind_of(got)} off its schema at {issue.path}: {issue.error}",
            {**obs, "schema_error": issue.as_dict()},
        )
    return Result.ok(f"{ctx.contract.kind_of(got)} received", obs)


@probe(
    "messaging.notification_delivery",
    runs="together",
    category="messaging",
    critical=False,
    needs=("admin",),
    disruptive=True,
    evidence=("answer",),
    expected="a notification created with POST /api/notifications reaches the user's 'notifications' subscription",
)
async def notification_delivery(ctx: ProbeContext) -> Result:
    if ctx.admin is None:
        return Result.skip("no_admin", "needs admin credentials (--admin-email/--admin-password)")
    ch = ctx.contract.user_push_channel()
    assert ch is not None  # REQUIRES: userPushChannel
    kinds = ch.pushes
    s = await authed(ctx)
    async with s:
        missing = await subscribed(ctx, s, ch.name)
        if missing is not None:
            return missing
        admin_token, _ = await login(ctx, ctx.admin)
        assert ctx.user is not None  # without credentials authed() above stopped the probe with a skip
        _, ans = await login(ctx, ctx.user)
        uid = login_user_id(ctx, ans)
        mark = s.mark()
        made = await trigger_push(ctx, ch.name, {"userId": uid, "channel": ch.name}, admin_token)
        if isinstance(made, Result):
            return made
        got = await s.expect(lambda f: ctx.contract.kind_of(f) in kinds, ctx.options.timeout_s, since=mark)
    return judge_push(ctx, got, kinds, f"the push made for the user was not delivered on {ch.name}")


@probe(
    "messaging.dashboard_push",
    runs="hold",
    waits="push_timeout_s",
    category="messaging",
    critical=False,
    evidence=("answer",),
    expected="a 'dashboard' subscriber receives dashboard_update with metrics at the push interval",
)
async def dashboard_push(ctx: ProbeContext) -> Result:
    ch = ctx.contract.push_channel()
    assert ch is not None  # REQUIRES: pushChannel
    s = await authed(ctx) if ch.auth else await ProbeSession.open(ctx)
    async with s:
        if not ch.auth:
            await s.connected()
        missing = await subscribed(ctx, s, ch.name)
        if missing is not None:
            return missing
        got = await s.expect(lambda f: ctx.contract.kind_of(f) in ch.pushes, ctx.options.push_timeout_s)
    return judge_push(ctx, got, ch.pushes, f"no {' / '.join(ch.pushes)} within {ctx.options.push_timeout_s:.1f} s")


@probe(
    "messaging.channel_broadcast",
    runs="together",
    category="messaging",
    critical=False,
    needs=("admin",),
    disruptive=True,
    evidence=("answer",),
    expected="a pitch:<id> subscriber receives what POST /api/broadcast sends to that channel",
)
async def broadcast(ctx: ProbeContext) -> Result:
    if ctx.admin is None:
        return Result.skip("no_admin", "needs admin credentials")
    c = ctx.contract
    found = c.broadcast_channel()
    assert found is not None  # REQUIRES: broadcastChannel
    ch, name = found
    # the message broadcast: the example of the first message the channel pushes that has one
    pushed = [m for k in ch.pushes for m in c.server_messages().get(k, ()) if m.example]
    if not pushed:
        return Result.skip("not_in_contract", "the contract has no example of a message the channel pushes")
    msg, kinds = copy.deepcopy(pushed[0].example), tuple(m.type for m in pushed[:1] if m.type)
    admin_token, _ = await login(ctx, ctx.admin)
    async with await ProbeSession.open(ctx) as s:
        await s.connected()
        missing = await subscribed(ctx, s, name)
        if missing is not None:
            return missing
        mark = s.mark()
        made = await trigger_push(ctx, name, {"channel": name, "message": msg}, admin_token)
        if isinstance(made, Result):
            return made
        got = await s.expect(lambda f: c.kind_of(f) in kinds, ctx.options.timeout_s, since=mark)
    return judge_push(ctx, got, kinds, "the broadcast did not reach the subscriber")


def foreign_channel(contract: Contract) -> str | None:
    """A channel only another user may subscribe to: the contract's first owner channel with a pattern, its
    placeholder filled with a user id nobody has (``user:{id}`` -> ``user:999999``); None when it has none."""
    ch = next((c for c in contract.channels.values() if c.owner and "{" in c.name), None)
    return re.sub(r"\{[^}]*\}", "999999", ch.name) if ch is not None else None


@probe(
    "messaging.forbidden_channel",
    runs="together",
    category="messaging",
    critical=True,
    evidence=("answer",),
    expected="subscribing to another user's user:<id> channel gets error forbidden_channel",
)
async def forbidden_channel(ctx: ProbeContext) -> Result:
    c = ctx.contract
    name = foreign_channel(c)
    sub = subscribe_request(c, name) if name is not None else None
    assert sub is not None  # REQUIRES: ownerChannel, subscription
    s = await authed(ctx)
    async with s:
        ans = await s.ask(sub[0], sub[1], ctx.options.timeout_s)
        close = s.close_code if s.closed else None
    obs = {"message_type": c.kind_of(sub[0], sent=True), "answer": ans}
    if ans is None:
        return Result.fail(
            "no_answer",
            f"no answer to the subscription of {name} within {ctx.options.timeout_s:.1f} s",
            obs,
            close_code=close,
        )
    want = c.errors.get("forbiddenChannel")
    if not c.is_named_error(ans, want):
        return Result.fail("wrong_answer", f"answered {c.kind_of(ans)} {c.error_code(ans)}", ans)
    return Result.ok(str(want), {"answer": ans})


async def _bad_input(
    ctx: ProbeContext,
    payload: str | bytes | dict[str, Any],
    what: str,
    code: Any,
    silence: str = "",
    *,
    id_at: str | None = None,
) -> Result:
    """Send one bad input; expect the contract's error frame with ``code`` and the session kept -- or, where the
    contract declares the service ignores such input on purpose (``ignores``), no answer and the session kept."""
    c = ctx.contract
    s, began = await open_started(ctx)
    async with s:
        if began.problem is not None:
            return began.problem
        mark = s.mark()
        if isinstance(payload, dict) and id_at is not None:  # a fresh id by the contract's rule where it has one
            from ..contract import pointer_get

            payload = set_pointer(payload, id_at, s.ids.next(pointer_get(payload, id_at)))
        await s.send(json.dumps(payload) if isinstance(payload, dict) else payload)
        closes = c.closes.get(silence) if silence else None
        if closes is not None:  # the contract says this input closes the session, with this code
            await s.wait_closed(ctx.options.timeout_s)
            close = s.close_code if s.closed else None
            seen: dict[str, Any] = {"message_type": what, "close_code": close, "declared_close": closes}
            if close == closes:
                return Result.ok(f"{what} closed the session {close} as the contract declares", seen)
            if close is None:
                return Result.fail("no_close", f"{what} did not close the session (the contract says {closes})", seen)
            return Result.fail(
                "wrong_close",
                f"{what} closed the session {close} {s.close_reason!r}, the contract says {closes}",
                seen,
                close_code=close,
            )
        quiet = silence in c.ignores
        ans = await s.expect(
            lambda f: c.is_error(f),
            ctx.quiet(ctx.options.quiet_window_s) if quiet else ctx.options.timeout_s,
            since=mark,
        )
        close = s.close_code if s.closed else None
        others = [f for _, f in s.frames[mark:]] if ans is None else []  # what came instead of the error (a success)
    obs = {"message_type": what, "answer": ans, **({"instead": others[:3]} if others else {})}
    if quiet:
        if ans is None and close is None:
            return Result.ok(
                f"{what} ignored as the contract declares (a risk: the client is never told)",
                {**obs, "declared_silence": silence},
            )
        if close is not None:
            return Result.closed(close, s.close_reason, f"{what}, which the contract says is ignored", obs)
    if ans is None:
        instead = f" (answered by {', '.join(str(c.kind_of(f)) for f in others[:3])} instead)" if others else ""
        return Result.fail("no_answer", f"{what} got no error frame{instead}", obs, close_code=close)
    issue = c.check_frame(ans)
    if not c.is_named_error(ans, code) or issue is not None:
        off = f" ({issue.path}: {issue.error})" if issue else ""
        return Result.fail("wrong_answer", f"{what}: error frame other than {code!r} or off its schema{off}", obs)
    return Result.ok(f"error {code}", obs)


@probe(
    "messaging.invalid_json",
    category="messaging",
    critical=False,
    evidence=("answer|declared_silence|declared_close",),
    expected="text that is not JSON gets the contract's error (errors.invalidFormat)",
)
async def invalid_json(ctx: ProbeContext) -> Result:
    return await _bad_input(
        ctx, "this is { not json", "invalid JSON", ctx.contract.errors.get("invalidFormat"), "invalidJson"
    )


@probe(
    "messaging.missing_type",
    category="messaging",
    critical=False,
    evidence=("answer|declared_silence|declared_close",),
    expected="a JSON object without the message kind gets the contract's error (errors.missingKind, else "
    "invalidFormat)",
)
async def missing_type(ctx: ProbeContext) -> Result:
    errors = ctx.contract.errors
    return await _bad_input(
        ctx,
        '{"hello":"world"}',
        "object without a kind",
        errors.get("missingKind", errors.get("invalidFormat")),
        "untyped",
    )


UNKNOWN_KIND = "no_such_type_xyz"


@probe(
    "messaging.unknown_type",
    category="messaging",
    critical=False,
    evidence=("answer|declared_silence|declared_close",),
    expected="a message of an unknown kind gets the contract's error (errors.unknownType)",
)
async def unknown_type(ctx: ProbeContext) -> Result:
    c = ctx.contract
    # a well-formed request of the contract (its envelope, a fresh id) whose kind is one the contract lacks
    op = c.round_trip() or next(iter(c.request_answers()), None)
    base = copy.deepcopy(op.request.example) if op is not None and op.request is not None and op.request.example else {}
    # of the JSON type the contract's kinds are (an unused integer where they are integers), so that the service reads
    # it as a kind it lacks, not as undecodable input
    unknown = c.unknown_kind(UNKNOWN_KIND)
    frame = set_pointer(base, c.kind_pointer or "/type", unknown)
    id_at = op.request.correlation if op is not None and op.request is not None else None
    r = await _bad_input(ctx, frame, "unknown kind", c.errors.get("unknownType"), "unknownType", id_at=id_at)
    echoes = any("received" in m.fields() for m in c.error_messages())
    if r.outcome == Outcome.PASS and echoes and (r.observed or {}).get("answer", {}).get("received") != unknown:
        return Result.fail("wrong_answer", "unknown_type error without 'received'", r.observed)
    return r
