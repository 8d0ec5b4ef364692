"""Messaging probes: one per message type of the contract, plus pushes and bad input.

The request/answer probes are generated from the contract's operations
(``probes/generated.py``); the ones below judge what a single exchange cannot
(pushes to other sessions, delivery, access control, bad input).

Each probe that checks a message type sets ``observed['message_type']`` so the
analysis can build the message-type support table: a pass is *full*, a
``wrong_answer`` or a late answer is *partial*, ``no_answer`` is *missing*.
"""

from __future__ import annotations

import json
import time
from typing import Any

from ..contract import default_contract
from ..contract.requests import fill_template
from ..contract.wire import set_pointer
from . import generated
from .base import ProbeContext, Result, probe
from .common import HttpAnswer, authed, has_fields, http, login, login_user_id, open_started
from .session import ProbeSession

METRICS_FIELDS: dict[str, type | tuple[type, ...]] = {"activeUsers": int, "connections": int, "messagesPerMinute": (int, float), "uptime_s": (int, float)}


async def _request(ctx: ProbeContext, s: ProbeSession, msg: dict[str, Any], answer_types: tuple[str, ...],
                   spec: dict[str, Any], mtype: str) -> Result:
    """Send ``msg``; require an answer of ``answer_types`` with the fields of ``spec``."""
    mark = s.mark()
    t0 = time.perf_counter()
    await s.send(msg)
    error = ctx.contract.error_type
    ans = await s.expect(lambda f: f.get("type") in answer_types or f.get("type") == error, ctx.options.timeout_s, since=mark)
    rtt = (time.perf_counter() - t0) * 1000
    obs: dict[str, Any] = {"message_type": mtype, "answer": ans, "answer_ms": round(rtt, 3)}
    if ans is None:
        return Result.fail("no_answer", f"no answer to {mtype} within {ctx.options.timeout_s:.1f} s", obs,
                           close_code=s.close_code if s.closed else None)
    if ans.get("type") == error and error not in answer_types:
        return Result.fail("wrong_answer", f"{mtype} answered {error} {ctx.contract.error_code(ans)}", obs)
    bad = has_fields(ans, spec)
    if bad:
        return Result.fail("wrong_answer", f"{mtype} answer lacks or mistypes {bad}", obs)
    if rtt > ctx.options.timeout_s * 1000 / 2:
        return Result.fail("late_answer", f"{mtype} answered after {rtt:.0f} ms", obs)
    return Result.ok(f"{ans.get('type')} in {rtt:.1f} ms", obs)


# Request/answer probes of the contract's operations (probes/generated.py), in catalogue order.
generated.register(default_contract(), "ping")
generated.register(default_contract(), "subscribe")
generated.register(default_contract(), "unsubscribe")
generated.register(default_contract(), "get_dashboard_metrics")


@probe("messaging.presence_update", runs="together", category="messaging", critical=False, evidence=("answer", "push"),
       expected="presence_update is answered by presence_updated and pushed to presence subscribers")
async def presence(ctx: ProbeContext) -> Result:
    watcher = await authed(ctx)
    async with watcher:
        await watcher.send({"type": "subscribe", "channel": "presence"})
        await watcher.expect_type("subscription_confirmed", timeout=ctx.options.timeout_s)
        s = await authed(ctx)
        async with s:
            mark = watcher.mark()
            r = await _request(ctx, s, {"type": "presence_update", "status": "away"}, ("presence_updated",), {"status": str}, "presence_update")
            push = await watcher.expect(lambda f: f.get("type") == "presence" and f.get("status") == "away", ctx.options.timeout_s, since=mark)
    if r.outcome != "pass":
        return r
    if push is None:
        return Result.fail("no_push", "presence subscribers got no presence frame", {"message_type": "presence_update"})
    r.observed = {**(r.observed or {}), "push": push}
    return r


async def _two_sessions(ctx: ProbeContext) -> tuple[ProbeSession, ProbeSession, int]:
    """A sender and a recipient session: the recipient is the admin, or a second session of the user."""
    s1 = await authed(ctx)
    other = ctx.admin or ctx.user
    s2 = await authed(ctx, other, closing=(s1,))
    assert other is not None  # without credentials authed() above stopped the probe with a skip
    token, ans = await login(ctx, other)
    rid = login_user_id(ctx, ans)
    return s1, s2, int(rid) if rid is not None else 0


@probe("messaging.send_message", runs="together", category="messaging", critical=False, disruptive=True, evidence=("answer", "delivered"),
       expected="send_message is answered by message_sent and delivered to the recipient as new_message")
async def send_message(ctx: ProbeContext) -> Result:
    s1, s2, rid = await _two_sessions(ctx)
    async with s1, s2:
        mark = s2.mark()
        r = await _request(ctx, s1, {"type": "send_message", "recipientId": rid, "content": "probe message"},
                           ("message_sent",), {"messageId": (int, str)}, "send_message")
        got = await s2.expect(lambda f: f.get("type") == "new_message" and f.get("content") == "probe message", ctx.options.timeout_s, since=mark)
    if r.outcome == "pass" and got is None:
        return Result.fail("no_push", "the recipient got no new_message", r.observed)
    if r.outcome == "pass":
        r.observed = {**(r.observed or {}), "delivered": got}
    return r


@probe("messaging.typing", runs="together", category="messaging", critical=False, evidence=("answer",),
       expected="typing_start reaches the recipient as user_typing with isTyping:true")
async def typing(ctx: ProbeContext) -> Result:
    s1, s2, rid = await _two_sessions(ctx)
    async with s1, s2:
        mark = s2.mark()
        await s1.send({"type": "typing_start", "recipientId": rid})
        got = await s2.expect(lambda f: f.get("type") == "user_typing", ctx.options.timeout_s, since=mark)
    obs = {"message_type": "typing_start", "answer": got}
    if got is None:
        return Result.fail("no_answer", "the recipient got no user_typing", obs)
    if got.get("isTyping") is not True:
        return Result.fail("wrong_answer", "user_typing without isTyping:true", obs)
    return Result.ok("user_typing delivered", obs)


@probe("messaging.notification_read", runs="together", category="messaging", critical=False, evidence=("answer", "echoed"),
       expected="notification_read is echoed to all of the user's sessions")
async def notification_read(ctx: ProbeContext) -> Result:
    s1 = await authed(ctx)
    s2 = await authed(ctx, closing=(s1,))
    async with s1, s2:
        mark = s2.mark()
        r = await _request(ctx, s1, {"type": "notification_read", "notificationId": 424242}, ("notification_read",),
                           {"notificationId": int}, "notification_read")
        other = await s2.expect_type("notification_read", timeout=ctx.options.timeout_s, since=mark)
    if r.outcome == "pass" and other is None:
        return Result.fail("no_push", "the user's other session got no notification_read", r.observed)
    if r.outcome == "pass":
        r.observed = {**(r.observed or {}), "echoed": other}
    return r


generated.register(default_contract(), "request_initial_data")


async def trigger_push(ctx: ProbeContext, channel: str, values: dict[str, Any], admin_token: str | None
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
    ans = await http(ctx, trig.method, trig.path, token=admin_token if trig.admin else None,
                     json_body=fill_template(trig.body, values) if trig.body is not None else None)
    if ans.status in (404, 405):
        return Result.skip("trigger_missing", f"{what} answered {ans.status}: the push could not be made to happen",
                           {"status": ans.status})
    if (trig.status is not None and ans.status != trig.status) or not 200 <= ans.status < 300:
        return Result.fail("wrong_status", f"{what} answered {ans.status}", {"status": ans.status})
    return ans, what


@probe("messaging.notification_delivery", runs="together", category="messaging", critical=False, needs=("admin",), disruptive=True,
       evidence=("answer",),
       expected="a notification created with POST /api/notifications reaches the user's 'notifications' subscription")
async def notification_delivery(ctx: ProbeContext) -> Result:
    if ctx.admin is None:
        return Result.skip("no_admin", "needs admin credentials (--admin-email/--admin-password)")
    s = await authed(ctx)
    async with s:
        await s.send({"type": "subscribe", "channel": "notifications"})
        await s.expect_type("subscription_confirmed", timeout=ctx.options.timeout_s)
        admin_token, _ = await login(ctx, ctx.admin)
        assert ctx.user is not None  # without credentials authed() above stopped the probe with a skip
        _, ans = await login(ctx, ctx.user)
        uid = login_user_id(ctx, ans)
        mark = s.mark()
        made = await trigger_push(ctx, "notifications", {"userId": uid, "channel": "notifications"}, admin_token)
        if isinstance(made, Result):
            return made
        got = await s.expect(lambda f: f.get("type") == "notification", ctx.options.timeout_s, since=mark)
    obs = {"message_type": "notification", "answer": got}
    if got is None:
        return Result.fail("no_push", "the notification was not delivered", obs)
    bad = has_fields(got, {"id": int, "title": str, "message": str, "timestamp": (int, float)})
    if bad:
        return Result.fail("wrong_answer", f"notification lacks {bad}", obs)
    return Result.ok("delivered", obs)


@probe("messaging.dashboard_push", runs="hold", waits="push_timeout_s", category="messaging", critical=False, evidence=("answer",),
       expected="a 'dashboard' subscriber receives dashboard_update with metrics at the push interval")
async def dashboard_push(ctx: ProbeContext) -> Result:
    s = await authed(ctx)
    async with s:
        await s.send({"type": "subscribe", "channel": "dashboard"})
        got = await s.expect_type("dashboard_update", timeout=ctx.options.push_timeout_s)
    obs = {"message_type": "dashboard_update", "answer": got}
    if got is None:
        return Result.fail("no_push", f"no dashboard_update within {ctx.options.push_timeout_s:.1f} s", obs)
    if has_fields(got.get("metrics"), METRICS_FIELDS):
        return Result.fail("wrong_answer", "dashboard_update metrics off contract", obs)
    return Result.ok("dashboard_update received", obs)


@probe("messaging.channel_broadcast", runs="together", category="messaging", critical=False, needs=("admin",), disruptive=True,
       evidence=("answer",),
       expected="a pitch:<id> subscriber receives what POST /api/broadcast sends to that channel")
async def broadcast(ctx: ProbeContext) -> Result:
    if ctx.admin is None:
        return Result.skip("no_admin", "needs admin credentials")
    admin_token, _ = await login(ctx, ctx.admin)
    async with await ProbeSession.open(ctx) as s:
        await s.connected()
        await s.send({"type": "subscribe", "channel": "pitch:42"})
        await s.expect_type("subscription_confirmed", timeout=ctx.options.timeout_s)
        mark = s.mark()
        msg = {"type": "pitch_stats_update", "pitchId": 42, "views": 10, "likes": 3}
        made = await trigger_push(ctx, "pitch:42", {"channel": "pitch:42", "message": msg}, admin_token)
        if isinstance(made, Result):
            return made
        got = await s.expect_type("pitch_stats_update", timeout=ctx.options.timeout_s, since=mark)
    obs = {"message_type": "pitch_stats_update", "answer": got}
    if got is None:
        return Result.fail("no_push", "the broadcast did not reach the subscriber", obs)
    return Result.ok("delivered", obs)


@probe("messaging.forbidden_channel", runs="together", category="messaging", critical=True, evidence=("answer",),
       expected="subscribing to another user's user:<id> channel gets error forbidden_channel")
async def forbidden_channel(ctx: ProbeContext) -> Result:
    s = await authed(ctx)
    async with s:
        r = await _request(ctx, s, {"type": "subscribe", "channel": "user:999999"},
                           (ctx.contract.error_type, "subscription_confirmed"), {}, "subscribe")
    ans = (r.observed or {}).get("answer") or {}
    if r.reason == "no_answer":
        return r
    want = ctx.contract.errors.get("forbiddenChannel")
    if ctx.contract.error_code(ans) != want:
        return Result.fail("wrong_answer", f"answered {ans.get('type')} {ctx.contract.error_code(ans)}", ans)
    return Result.ok(str(want), {"answer": ans})


async def _bad_input(ctx: ProbeContext, payload: str | bytes | dict[str, Any], what: str, code: Any, silence: str = "",
                     *, id_at: str | None = None) -> Result:
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
        quiet = silence in c.ignores
        ans = await s.expect(lambda f: c.is_error(f), ctx.quiet(ctx.options.quiet_window_s) if quiet else ctx.options.timeout_s, since=mark)
        close = s.close_code if s.closed else None
    obs = {"message_type": what, "answer": ans}
    if quiet:
        if ans is None and close is None:
            return Result.ok(f"{what} ignored as the contract declares (a risk: the client is never told)",
                             {**obs, "declared_silence": silence})
        if close is not None:
            return Result.closed(close, s.close_reason, f"{what}, which the contract says is ignored", obs)
    if ans is None:
        return Result.fail("no_answer", f"{what} got no error frame", obs, close_code=close)
    issue = c.check_frame(ans)
    if c.error_code(ans) != code or issue is not None:
        off = f" ({issue.path}: {issue.error})" if issue else ""
        return Result.fail("wrong_answer", f"{what}: error frame without code {code!r} or off its schema{off}", obs)
    return Result.ok(f"error {code}", obs)


@probe("messaging.invalid_json", category="messaging", critical=False, evidence=("answer|declared_silence",),
       expected="text that is not JSON gets the contract's error (errors.invalidFormat)")
async def invalid_json(ctx: ProbeContext) -> Result:
    return await _bad_input(ctx, "this is { not json", "invalid JSON", ctx.contract.errors.get("invalidFormat"), "invalidJson")


@probe("messaging.missing_type", category="messaging", critical=False, evidence=("answer|declared_silence",),
       expected="a JSON object without the message kind gets the contract's error (errors.missingKind, else invalidFormat)")
async def missing_type(ctx: ProbeContext) -> Result:
    errors = ctx.contract.errors
    return await _bad_input(ctx, '{"hello":"world"}', "object without a kind", errors.get("missingKind", errors.get("invalidFormat")),
                            "untyped")


UNKNOWN_KIND = "no_such_type_xyz"


@probe("messaging.unknown_type", category="messaging", critical=False, evidence=("answer|declared_silence",),
       expected="a message of an unknown kind gets the contract's error (errors.unknownType)")
async def unknown_type(ctx: ProbeContext) -> Result:
    c = ctx.contract
    # a well-formed request of the contract (its envelope, a fresh id) whose kind is one the contract lacks
    op = c.round_trip() or next(iter(c.request_answers()), None)
    base = dict(op.request.example) if op is not None and op.request is not None and op.request.example else {}
    frame = set_pointer(base, c.kind_pointer or "/type", UNKNOWN_KIND)
    id_at = op.request.correlation if op is not None and op.request is not None else None
    r = await _bad_input(ctx, frame, "unknown kind", c.errors.get("unknownType"), "unknownType", id_at=id_at)
    echoes = any("received" in m.fields() for m in c.error_messages())
    if r.outcome == "pass" and echoes and (r.observed or {}).get("answer", {}).get("received") != UNKNOWN_KIND:
        return Result.fail("wrong_answer", "unknown_type error without 'received'", r.observed)
    return r

