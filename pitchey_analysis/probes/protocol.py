"""Probes of the wire rules a contract declares beyond its messages: ids that must increase, authentication
that must come first, several requests in one frame.

Each runs only where the contract declares the rule (:data:`~.generated.REQUIRES`), builds its requests from
the contract's own examples and matches answers by the contract's correlation ids.
"""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

from ..contract import pointer_get
from ..contract.wire import set_pointer
from .base import ProbeContext, Result, Stop, probe
from .common import authed, login, open_started, round_trip, start
from .session import ProbeSession


def _request(ctx: ProbeContext) -> tuple[dict[str, Any], set[str]] | None:
    """A request of the contract that any session it serves may send, and its answers' kinds."""
    c = ctx.contract
    rt = round_trip(ctx, "wire")
    if rt is not None:
        return rt[0], {rt[1]} | {
            m.type for o in c.request_answers() if o.request and o.request.example == rt[0] for m in o.reply if m.type
        }
    op = c.auth_check_operation() or next(iter(c.request_answers()), None)
    if op is None or op.request is None or op.request.example is None:
        return None
    return copy.deepcopy(op.request.example), {m.type for m in op.reply if m.type}


def _correlated(ctx: ProbeContext, what: str) -> tuple[dict[str, Any], set[str], str] | Result:
    """The request of :func:`_request`, its answers' kinds and where it carries its id; a skip when the contract
    declares no request, or none with a correlation id (``what`` says what the id would be for)."""
    req = _request(ctx)
    if req is None:
        return Result.skip("not_in_contract", "the contract declares no request to send")
    ptr = ctx.contract.correlation_of(req[0])
    if ptr is None:
        return Result.skip("not_in_contract", f"the contract's requests carry no correlation id{what}")
    return req[0], req[1], ptr


async def _session(ctx: ProbeContext) -> ProbeSession:
    """A session as a client of the contract has one: authenticated when there is a credential to use."""
    if ctx.user is not None:
        return await authed(ctx)
    s, began = await open_started(ctx)
    if began.problem is not None:
        await s.close()
        raise Stop(began.problem)
    return s


# Not critical in the catalogue (a contract without the rule has no gap for it); their security failures are critical.
@probe(
    "messaging.id_reuse",
    category="messaging",
    critical=False,
    evidence=("first_answer", "reuse_answer|close_code"),
    expected="a request that reuses an id already used on the session is refused (the contract says ids must increase)",
)
async def id_reuse(ctx: ProbeContext) -> Result:
    c = ctx.contract
    got = _correlated(ctx, "")
    if isinstance(got, Result):
        return got
    request, kinds, ptr = got
    async with await _session(ctx) as s:
        first = await s.ask(request, kinds, ctx.options.timeout_s)
        used = s.last_id
        if first is None:
            return Result.skip(
                "no_answer", "the first request was not answered: nothing to compare a reuse with", {"request_id": used}
            )
        reused = set_pointer(request, ptr, used)
        mark = s.mark()
        await s.send(reused, raw=True)
        ans = await s.expect(lambda f: c.answers_id(f, used) or c.is_error(f), ctx.options.timeout_s, since=mark)
        closed = s.close_code if s.closed else None
    obs = {"request_id": used, "first_answer": first, "reuse_answer": ans}
    if ans is not None and c.is_error(ans):
        return Result.ok(f"the reused id {used!r} was refused ({c.error_code(ans)})", obs)
    if ans is None and closed is not None:
        return Result.ok(f"the reused id {used!r} closed the session {closed}", {**obs, "close_code": closed})
    if ans is None:
        return Result.fail("no_answer", f"a request reusing id {used!r} got no answer at all", obs)
    return Result.fail(
        "reused_id_accepted",
        f"a request reusing id {used!r} was answered as a success "
        f"({c.kind_of(ans)}): answers can be confused with an earlier request's",
        obs,
        critical=True,
    )


@probe(
    "auth.before_authentication",
    category="authentication",
    critical=False,
    evidence=("request", "answer|close_code|authenticated_after"),
    expected="a command sent before the first-message authentication is refused (closed, or an error), never answered",
)
async def before_authentication(ctx: ProbeContext) -> Result:
    c = ctx.contract
    op = c.auth_check_operation() or next((o for o in c.request_answers() if o.auth), None)
    if op is None or op.request is None or op.request.example is None:
        return Result.skip("not_in_contract", "the contract declares no authenticated request to send")
    kinds = {m.type for m in op.reply if m.type}
    async with await ProbeSession.open(ctx, anonymous=True) as s:
        await s.begun()
        if s.closed:
            return Result.skip(
                "closed_first", f"the session was closed {s.close_code} before anything was sent", {"frames": s.types()}
            )
        ans = await s.ask(op.request.example, kinds, ctx.options.timeout_s)
        await s.wait_closed(ctx.quiet(ctx.options.settle_s))
        closed = s.close_code if s.closed else None
        after = None
        if ans is None and closed is None:
            # silence is evidence only from a target that is there: the same session then authenticates
            token = ctx.auto_token or ((await login(ctx, ctx.user))[0] if ctx.user is not None else None)
            after = (await start(ctx, s, token)).authenticated if token else None
    obs = {"request": op.request.type, "answer": ans, "close_code": closed, "authenticated_after": after}
    if ans is not None and not c.is_error(ans) and c.kind_of(ans) in kinds:
        return Result.fail(
            "accepted_before_auth",
            f"{op.request.word} was answered ({c.word_of(ans)}) on a session that never authenticated",
            obs,
            critical=True,
        )
    if ans is not None and c.is_error(ans):
        return Result.ok(f"refused with {c.error_code(ans)!r} before authentication", obs)
    if closed is not None:
        return Result.ok(f"the session was closed {closed} when it sent {op.request.word} unauthenticated", obs)
    return Result.ok(
        f"{op.request.word} got no answer before authentication (the session stayed silent, then authenticated)"
        if after
        else f"{op.request.word} got no answer before authentication",
        obs,
    )


@probe(
    "messaging.stop_pushes",
    category="messaging",
    critical=False,
    evidence=("pushes_before", "watched_s"),
    expected="a request that ends a stream (x-readiness.stops), sent with the stream's id, ends its pushes",
)
async def stop_pushes(ctx: ProbeContext) -> Result:
    c = ctx.contract
    stop = c.stopper()
    assert stop is not None and stop.stops is not None and stop.request is not None  # REQUIRES: stops
    st = stop.stops
    started_by = c.operation(st.operation)
    assert started_by is not None and started_by.request is not None
    start = st.send if st.send is not None else started_by.request.example
    if start is None:
        return Result.skip("not_in_contract", f"the contract has no request that starts {st.operation}'s {st.pushes}")
    ptr = stop.request.correlation or c.correlation_of(stop.request.example)
    if ptr is None:
        return Result.skip("not_in_contract", f"{stop.request.type} carries no correlation id to name the stream with")
    kind = stop.request.type or stop.id
    async with await _session(ctx) as s:
        mark = s.mark()
        await s.send(start)
        rid = s.last_id
        if rid is None:
            return Result.skip("not_in_contract", f"the request that starts {st.pushes} carries no correlation id")

        def pushed(f: dict[str, Any]) -> bool:
            return c.kind_of(f) == st.pushes and c.answers_id(f, rid)

        first = await s.expect(pushed, ctx.options.timeout_s, since=mark)
        second = (
            await s.expect(lambda f: pushed(f) and f is not first, ctx.options.timeout_s, since=mark)
            if first is not None
            else None
        )
        if first is None or second is None:
            return Result.skip(
                "no_push",
                f"the stream did not push {st.pushes} twice: nothing to end",
                {"request_id": rid, "pushes_before": int(first is not None)},
            )
        times = [t for t, f in s.frames[mark:] if pushed(f)]
        gap_s = max((b - a for a, b in zip(times, times[1:], strict=False)), default=0.0) / 1000
        ended = any(c.kind_of(f) not in (None, st.pushes) and c.answers_id(f, rid) for _, f in s.frames[mark:])
        if ended:
            return Result.skip(
                "stream_ended", f"the stream ended on its own before {kind} was sent", {"request_id": rid}
            )
        before = len(times)
        await s.send(set_pointer(stop.request.example, ptr, rid), raw=True)
        grace = ctx.quiet(ctx.options.settle_s)  # pushes already on the wire when the stop was sent
        await asyncio.sleep(grace)
        after_mark = s.mark()
        # long enough that a stream still running shows: several of its own intervals, a second at least
        watched = min(max(3 * gap_s, ctx.quiet(ctx.options.settle_s), 1.0), max(1.0, ctx.options.timeout_s))
        await s.wait_closed(watched)
        late = [f for _, f in s.frames[after_mark:] if pushed(f)]
    obs = {
        "request_id": rid,
        "pushes_before": before,
        "watched_s": round(watched, 3),
        "pushes_after": len(late),
        "grace_s": round(grace, 3),
    }
    if late:
        return Result.fail(
            "pushes_after_stop",
            f"{len(late)} {st.pushes} for id {rid!r} still came {grace:.2f}–"
            f"{grace + watched:.2f} s after {kind} (the stream pushed every {gap_s:.2f} s before)",
            obs,
        )
    return Result.ok(f"no {st.pushes} for id {rid!r} in the {watched:.2f} s after {kind} ({before} before)", obs)


BATCH = 3


@probe(
    "messaging.batch",
    category="messaging",
    critical=False,
    evidence=("answered_ids",),
    expected="several requests in one JSON-array frame are each answered (the contract says clients may batch)",
)
async def batch(ctx: ProbeContext) -> Result:
    c = ctx.contract
    req = _correlated(ctx, " to match a batch's answers")
    if isinstance(req, Result):
        return req
    request, _, ptr = req
    async with await _session(ctx) as s:
        items = [set_pointer(request, ptr, s.ids.next(pointer_get(request, ptr))) for _ in range(BATCH)]
        ids = [pointer_get(i, ptr) for i in items]
        mark = s.mark()
        await s.send(json.dumps(items), raw=True)
        got: dict[Any, dict[str, Any]] = {}
        for _ in range(BATCH):
            ans = await s.expect(
                lambda f: any(c.answers_id(f, i) for i in ids if i not in got), ctx.options.timeout_s, since=mark
            )
            if ans is None:
                break
            got[next(i for i in ids if c.answers_id(ans, i))] = ans
    obs = {"sent_ids": ids, "answered_ids": list(got), "batches_received": s.batches}
    missing = [i for i in ids if i not in got]
    if not got:
        return Result.fail("no_answer", f"a batch of {BATCH} requests got no answer", obs)
    if missing:
        return Result.fail(
            "batch_element_dropped",
            f"{len(missing)} of {BATCH} requests of one batch were never answered (ids {missing})",
            obs,
        )
    return Result.ok(f"all {BATCH} requests of one batch answered", obs)
