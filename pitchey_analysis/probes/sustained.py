"""Sustained sessions: a service that drops connections after a few seconds must not pass.

Every other probe holds a session only as long as it needs one answer, so a
server that closes each session a few seconds after it opens passes them all.
This probe opens several sessions at once, subscribes each to a channel, holds
them idle for a window and then pings every one. The decision is a pure
function (:func:`judge`) of per-session facts; the async part only gathers them.

Samples: one ``session_lifetime_s`` per session, its value in **seconds** (the
samples table's column is named ``value_ms`` for every other metric): from the
start of the connect to the server's close, or to the end of the hold for a
session that stayed open. Which sessions the server closed, with their close
codes, is in the probe record's ``observed`` (``drops``).
"""

from __future__ import annotations

import asyncio
import collections
import re
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed

from ..contract import Contract
from ..contract.requests import subscribe_request
from ..outcomes import Outcome
from .base import Evidence, ProbeContext, Result, classify, probe
from .common import began_authenticated, login, require_session, round_trip, settle
from .session import ProbeSession
from .vocabulary import ROUND_TRIP_PLANNED, SESSIONS_BEGAN

METRIC = "session_lifetime_s"
TRACED = 2  # sessions whose frames go to the frames table; the others record only a server close
NON_LOOPBACK_SESSIONS = 10  # sessions held against a non-loopback target without --allow-disruptive
MAX_DROPS_LISTED = 50  # per-session drop entries kept in the record (observed is truncated at 2,000 characters)


@dataclass
class SessionFacts:
    """What one held session showed (plain data, judged by :func:`judge`)."""

    index: int
    opened: bool = False  # the WebSocket upgrade completed
    open_reason: str | None = None  # why it did not open (a classify reason)
    connected: bool = False  # the 'connected' frame arrived
    authenticated: bool = False
    subscribed: bool = False  # subscription_confirmed arrived
    lifetime_s: float | None = None  # connect start to server close, or to the end of the hold
    server_closed: bool = False  # closed by the server before the probe closed it
    close_code: int | None = None
    close_reason: str | None = None
    pong: bool | None = None  # answered the final ping (None: not asked, it was closed)
    pushes: int = 0
    max_push_gap_s: float | None = None  # longest wait for a push while held (None: not judged)


@dataclass
class _Held:
    facts: SessionFacts
    session: ProbeSession | None = None
    t_offset_s: float = 0.0
    closed_at: float | None = None  # perf_counter when the server's close was seen
    subscribed_ms: float | None = None  # session time of subscription_confirmed
    watcher: asyncio.Task[Any] | None = field(default=None, repr=False)


def _pct(values: list[float]) -> dict[str, float]:
    return {"min": round(min(values), 3), "median": round(statistics.median(values), 3), "max": round(max(values), 3)}


def hold_plan(contract: Contract, authenticated: bool) -> tuple[str | None, str | None]:
    """The channel held sessions subscribe to and the push it carries at an interval, from the contract (pure).

    Authenticated sessions take the contract's interval channel (Pitchey: ``dashboard``, ``dashboard_update``);
    anonymous ones, or a contract without one, a public channel, a per-entity one first (``pitch:{id}`` as
    ``pitch:1``), with no interval push. (None, None) when the contract declares no subscription request or no channel.
    """
    if contract.subscription() is None:
        return None, None
    ch = contract.push_channel()
    if ch is not None and (authenticated or not ch.auth):
        return ch.name, ch.pushes[0]
    public = sorted(
        (c for c in contract.channels.values() if not c.auth and not c.owner), key=lambda c: "{" not in c.name
    )
    if not public:
        return None, None
    return re.sub(r"\{[^}]*\}", "1", public[0].name), None


def judge(
    facts: list[SessionFacts],
    *,
    window_s: float,
    push_timeout_s: float,
    channel: str | None,
    push_type: str | None = None,
    credential: bool = False,
    ping: bool = True,
    first: str = "first",
    request: str = "round trip",
) -> Result:
    """The probe's outcome from what every session showed (pure).

    Order: nothing opened; any session closed by the server; sessions that did
    not open; no first frame at all; unanswered final round trips; late pushes; pass. ``first`` and ``request`` name
    the first frame and the round trip's request in the contract's words.
    The observation names what was planned (``credential``: sessions held authenticated; ``channel``: each
    subscribed; ``push_planned``: pushes awaited, the window being longer than the push timeout; ``ping``: a final
    round trip) beside what was seen, so that a pass without it is no pass (the catalogue's evidence).
    """
    n = len(facts)
    opened = [f for f in facts if f.opened]
    drops = [f for f in opened if f.server_closed]
    unanswered = [f for f in opened if not f.server_closed and f.pong is False]
    late = [
        f for f in opened if not f.server_closed and f.max_push_gap_s is not None and f.max_push_gap_s > push_timeout_s
    ]
    open_failures = collections.Counter(f.open_reason or "open_failed" for f in facts if not f.opened)
    judged_push = [f for f in opened if f.max_push_gap_s is not None]
    obs: dict[str, Any] = {
        "sessions": n,
        "opened": len(opened),
        SESSIONS_BEGAN: sum(f.connected for f in opened),
        "authenticated": sum(f.authenticated for f in opened),
        "channel": channel,
        "subscribed": sum(f.subscribed for f in opened),
        "window_s": round(window_s, 3),
        "dropped": len(drops),
        "unanswered": len(unanswered),
        "open_failures": dict(open_failures),
        "pushes_judged": len(judged_push),
        "push_timeout_s": round(push_timeout_s, 3),
        "credential": credential,
        "push_planned": push_type if push_type and channel and window_s >= push_timeout_s else None,
        "pushes": sum(f.pushes for f in opened),
        ROUND_TRIP_PLANNED: ping,
        "pongs": sum(1 for f in opened if f.pong),
    }
    if judged_push:
        obs["max_push_gap_s"] = round(max(f.max_push_gap_s or 0.0 for f in judged_push), 3)
    lifetimes = [f.lifetime_s for f in opened if f.lifetime_s is not None]
    if lifetimes:
        obs["lifetime_s"] = _pct(lifetimes)
    if not opened:
        reason, count = open_failures.most_common(1)[0] if open_failures else ("open_failed", n)
        return Result(
            Outcome.ERROR if reason in ("connect_refused", "network_error") else Outcome.FAIL,
            reason,
            f"none of {n} sessions could be opened (mostly {reason}): nothing was held",
            obs,
        )
    if drops:
        codes = collections.Counter(f.close_code for f in drops)
        code = codes.most_common(1)[0][0]
        close_reason = collections.Counter(f.close_reason or "" for f in drops if f.close_code == code).most_common(1)[
            0
        ][0]
        life = _pct([f.lifetime_s for f in drops if f.lifetime_s is not None] or [0.0])
        obs.update(
            close_codes={str(c): k for c, k in codes.items()},
            drop_lifetime_s=life,
            drops=[[f.index, f.close_code, round(f.lifetime_s or 0.0, 3)] for f in drops[:MAX_DROPS_LISTED]],
        )
        return Result.fail(
            "session_dropped",
            f"{len(drops)} of {n} sessions were closed by the server ({code} {close_reason!r}) "
            f"{life['min']:.2f}–{life['max']:.2f} s after opening (median {life['median']:.2f} s); "
            f"they were to be held idle for {window_s:.1f} s",
            obs,
            close_code=code,
            close_reason=close_reason,
        )
    if open_failures:
        reason, count = open_failures.most_common(1)[0]
        return Result.fail(
            reason, f"{sum(open_failures.values())} of {n} sessions could not be opened (mostly {reason})", obs
        )
    if not any(f.connected for f in opened):
        return Result.fail("no_answer", f"none of {n} sessions received its {first} frame: nothing to hold", obs)
    if unanswered:
        return Result.fail(
            "no_answer",
            f"{len(unanswered)} of {n} sessions did not answer their {request} after {window_s:.1f} s idle",
            obs,
        )
    if late:
        worst = max(f.max_push_gap_s or 0.0 for f in late)
        return Result.fail(
            "missed_pushes",
            f"{len(late)} of {n} sessions waited up to {worst:.1f} s for a {push_type or 'push'} "
            f"while held (push timeout {push_timeout_s:.1f} s)",
            obs,
        )
    pushes = f"; {push_type or 'pushes'} at most {obs['max_push_gap_s']:.2f} s apart" if judged_push else ""
    return Result.ok(
        f"{n} sessions held {window_s:.1f} s on {channel or 'no channel'}: none closed, every one answered "
        f"its {request}{pushes}",
        obs,
    )


def push_gap_s(push_ms: list[float], start_ms: float, end_ms: float) -> float:
    """The longest wait for a push between ``start_ms`` and ``end_ms``, in seconds (pure)."""
    marks = [start_ms] + sorted(t for t in push_ms if start_ms <= t <= end_ms) + [end_ms]
    return max(b - a for a, b in zip(marks, marks[1:], strict=False)) / 1000.0


async def _open(ctx: ProbeContext, h: _Held, token: str | None, channel: str | None, watch_s: float) -> None:
    """Open one session, wait for 'connected', settle, subscribe; starts its close watcher."""
    f = h.facts
    h.t_offset_s = ctx.recorder.t_offset()
    try:
        s = await ProbeSession.open(ctx, token=token, trace=f.index < TRACED)
    except Exception as exc:
        f.open_reason = classify(exc).reason
        return
    h.session, f.opened = s, True

    async def watch() -> None:
        if await s.wait_closed(watch_s):
            h.closed_at = time.perf_counter()

    h.watcher = asyncio.get_running_loop().create_task(watch())
    first = await s.begun()
    if first is None:
        return
    f.connected = True
    f.authenticated = token is not None and began_authenticated(ctx, s, first)  # anonymous sessions never are
    try:
        await settle(ctx, s)  # some servers drop what arrives while they finish setting up (PROTOCOL.md Part B item 15)
        if s.closed or channel is None:
            return
        sub = subscribe_request(ctx.contract, channel)
        if sub is None:
            return
        mark = s.mark()
        ans = await s.ask(sub[0], sub[1], ctx.options.timeout_s)
        ok = ans if ans is not None and not ctx.contract.is_error(ans) else None
    except ConnectionClosed:
        return  # closed by the server while being set up: the watcher saw when
    if ok is not None:
        f.subscribed = True
        h.subscribed_ms = next(t for t, fr in s.frames[mark:] if fr is ok)


async def _final_ping(ctx: ProbeContext, h: _Held) -> None:
    s = h.session
    if s is None or s.closed or not h.facts.connected:
        return
    mark = s.mark()
    rt = round_trip(ctx, f"sustained-{h.facts.index}")
    if rt is None:
        return  # REQUIRES: roundTrip
    try:
        await s.send(rt[0])
    except ConnectionClosed:
        return  # closed under us: the watcher saw it
    pong = await s.expect_answer({rt[1]}, ctx.options.timeout_s, since=mark)
    h.facts.pong = pong is not None


@probe(
    "resilience.sustained_sessions",
    runs="hold",
    waits="sustain_window_s",
    category="resilience",
    critical=True,
    evidence=(
        "opened",
        SESSIONS_BEGAN,
        Evidence("authenticated", when="credential"),
        Evidence("subscribed", when="channel"),
        Evidence("pushes", when="push_planned"),
        Evidence("pongs", when=ROUND_TRIP_PLANNED),
    ),
    expected="sessions held idle for the window (authenticated, and subscribed to the contract's interval channel, "
    "when credentials exist) are not closed by the server, keep receiving its pushes within the push "
    "timeout, and each answers its round trip at the end",
)
async def sustained_sessions(ctx: ProbeContext) -> Result:
    require_session(ctx)
    asked, window = max(1, ctx.options.sustain_sessions), ctx.options.sustain_window_s
    # Against someone else's deployment, hold no more sessions at once than the undisruptive part of the ramp.
    n = asked if ctx.loopback or ctx.allow_disruptive else min(asked, NON_LOOPBACK_SESSIONS)
    token = None
    if ctx.user is not None:
        try:  # a refused login is connection.login's finding: hold anonymous sessions then
            token, _ = await login(ctx, ctx.user)
        except Exception:
            token = None
    channel, push_type = hold_plan(ctx.contract, token is not None)
    watch_s = window + 4 * ctx.options.timeout_s + 5.0  # bounded: the watchers are cancelled at the end anyway
    held = [_Held(SessionFacts(i)) for i in range(n)]
    try:
        await asyncio.gather(*(_open(ctx, h, token, channel, watch_s) for h in held))
        hold_start = time.perf_counter()
        hold_end = hold_start + window
        live = [h.watcher for h in held if h.watcher is not None and not h.watcher.done() and h.facts.connected]
        if live:  # hold idle; ends early only when every session is already closed (or none ever answered)
            await asyncio.wait(live, timeout=window)
        await asyncio.gather(*(_final_ping(ctx, h) for h in held))
        t_end = time.perf_counter()
        for h in held:
            if h.watcher is not None and not h.watcher.done():
                h.watcher.cancel()  # stop watching before the probe's own close
        for h in held:
            _settle_facts(ctx, h, t_end, hold_end, push_type)
    finally:
        await asyncio.gather(*(h.session.close() for h in held if h.session is not None), return_exceptions=True)
        for h in held:
            if h.watcher is not None and not h.watcher.done():
                h.watcher.cancel()
    for h in held:
        f = h.facts
        ctx.sample(
            METRIC,
            f.lifetime_s,
            t_offset_s=h.t_offset_s,
            concurrency=n,
            conn_index=f.index,
            ok=f.lifetime_s is not None,
        )
    result = judge(
        [h.facts for h in held],
        window_s=window,
        push_timeout_s=ctx.options.push_timeout_s,
        channel=channel,
        push_type=push_type,
        credential=token is not None,
        ping=round_trip(ctx, "plan") is not None,
        first=ctx.first_frame_word,
        request=ctx.round_trip_words[0],
    )
    if n < asked and isinstance(result.observed, dict):
        result.observed["sessions_asked"] = asked  # capped: not loopback and no --allow-disruptive
    return result


def _settle_facts(ctx: ProbeContext, h: _Held, t_end: float, hold_end: float, push_type: str | None) -> None:
    """Lifetime, close and push facts of one session, once the hold and the final ping are over."""
    f, s = h.facts, h.session
    if s is None:
        return
    if h.closed_at is not None or s.closed:
        closed_at = h.closed_at if h.closed_at is not None else t_end
        f.server_closed, f.close_code, f.close_reason = True, s.close_code, s.close_reason
        f.lifetime_s = round(closed_at - s.opened_at, 6)
        if f.index >= TRACED:  # untraced sessions: still put the server's close in the frames table
            s.record_close(closed_at)
    else:
        f.lifetime_s = round(t_end - s.opened_at, 6)
    f.pushes = sum(1 for _, fr in s.frames if fr.get("type") == push_type) if push_type else 0
    held_to_ms = (min(t_end, hold_end) - s.opened_at) * 1000
    if (
        push_type
        and f.subscribed
        and not f.server_closed
        and h.subscribed_ms is not None
        and held_to_ms - h.subscribed_ms >= ctx.options.push_timeout_s * 1000
    ):
        push_ms = [t for t, fr in s.frames if fr.get("type") == push_type]
        f.max_push_gap_s = round(push_gap_s(push_ms, h.subscribed_ms, held_to_ms), 3)
