"""Whether the target speaks the contract at all, and whether it still answers (the runner's two checks).

Before the first probe, :func:`speaks` opens sessions as the contract says and sends its liveness round trip:
a target whose every upgrade is refused with the declared credentials, or whose frames match none of the
contract's messages, or which sends nothing where the contract promises a first frame or an answer, does not
speak this contract -- the run then says so instead of listing specific findings that are really "wrong
protocol". After each probe, :func:`answers` tells whether the target still answers; the runner decides what
a silence means (this probe's frames stopped it, or it went silent on its own).
"""

from __future__ import annotations

import asyncio
from typing import Any

from websockets.exceptions import InvalidStatus

from .base import PACE_MIN_SAMPLES, ProbeContext, compact
from .common import alive, any_request, open_started, round_trip

#: how many frames the check keeps as what was seen
SEEN = 5


async def speaks(ctx: ProbeContext) -> dict[str, Any]:
    """``{"speaks": True | False | None, "why": ..., "seen": [...]}`` from two sessions opened as the contract says.

    ``None``: the contract gives nothing to check (no first frame, no request with an answer) and the target said
    nothing either -- no evidence either way. ``False`` only on positive evidence.
    """
    c = ctx.contract
    seen: list[str] = []
    codes: list[int | None] = []
    statuses: list[int] = []
    closes: list[str] = []  # sessions the target closed before sending any frame: "code 'reason'"
    matched = unmatched = 0
    expected_something = c.first_frame is not None or c.round_trip() is not None or bool(c.request_answers())
    for attempt in range(2):
        try:
            s, began = await open_started(ctx, trace=False, audit=False)
        except InvalidStatus as exc:
            statuses.append(exc.response.status_code)
            continue
        except Exception as exc:  # unreachable: the preflight and the probes say so, not this check
            return {"speaks": None, "why": f"the upgrade failed: {type(exc).__name__}", "seen": seen}
        async with s:
            if not s.closed:  # even without the declared first frame: what it answers to our request tells
                request = any_request(ctx, f"speaks-{attempt}")
                if request is not None:
                    mark = s.mark()
                    try:
                        await s.send(request)
                        await s.expect(lambda f: True, ctx.options.timeout_s, since=mark)
                    except Exception:
                        pass
            if not s.frames and s.closed_by_target:
                closes.append(f"{s.close_code} {s.close_reason!r}" if s.close_reason else str(s.close_code))
                codes.append(s.close_code)
            for _, f in s.frames:
                # a known kind off its schema is conformance's finding, not another protocol
                if c.kind_of(f) in c.server_messages():
                    matched += 1
                else:
                    unmatched += 1
                if len(seen) < SEEN:
                    seen.append(compact(f, 200))
        if matched:
            return {"speaks": True, "why": f"{matched} frame(s) of the contract's messages", "seen": seen}
    up = c.upgrade
    if statuses and up is not None and not up.anonymous and ctx.user is None:
        return {
            "speaks": None,
            "seen": seen,
            "statuses": statuses,
            "why": "the service serves no anonymous session and no credential was given",
        }
    if len(statuses) == 2 and all(st in (401, 403) for st in statuses):
        # refused as unauthorised where the contract says its sessions are served so: another session model
        return {
            "speaks": False,
            "seen": seen,
            "statuses": statuses,
            "why": f"every upgrade made as the contract says was refused (HTTP {', '.join(map(str, statuses))})",
        }
    if len(codes) == 2 and all(refuses_session(code) for code in codes):
        # closed as a refusal (a protocol, policy or negotiation close) before any frame, every time: another
        # session model (a subprotocol, a credential, a first message it wants and the contract does not say)
        return {
            "speaks": False,
            "seen": closes,
            "closes": [c for c in codes if c is not None],
            "why": f"every session opened as the contract says was closed before any frame ({'; '.join(closes)})",
        }
    if unmatched:
        return {
            "speaks": False,
            "seen": seen,
            "why": f"{unmatched} frame(s) arrived and none matches a message the contract says the service sends",
        }
    if expected_something:  # silence is not another protocol: the runner's liveness checks judge a silent target
        return {
            "speaks": None,
            "seen": seen,
            "why": "no frame arrived where the contract promises a first frame or an answer",
        }
    return {
        "speaks": None,
        "why": "the contract declares nothing to check it by, and the target said nothing",
        "seen": seen,
    }


def refuses_session(code: int | None) -> bool:
    """Whether a close before any frame refuses the session as spoken (RFC 6455 §7.4.1: 1002 protocol error, 1003
    unsupported data, 1008 policy, 1010 a missing extension; 4000-4999 the application's own, e.g. graphql-ws's 4406
    subprotocol not acceptable) rather than reports the target's own failure (1001, 1006, 1011; pure)."""
    return code is not None and (code in (1002, 1003, 1008, 1010) or 4000 <= code <= 4999)


async def answers(ctx: ProbeContext, *, tries: int = 2, gap_s: float = 0.25) -> bool:
    """Whether the target answers its liveness check (as :func:`~.common.alive`), tried ``tries`` times."""
    for i in range(tries):
        if await alive(ctx):
            return True
        if i + 1 < tries:
            await asyncio.sleep(gap_s)
    return False


async def pace(ctx: ProbeContext, rounds: int = PACE_MIN_SAMPLES) -> int:
    """The run's pace, measured before its first probe: ``rounds`` of the contract's liveness round trip on one
    session, each answer timed into the run's :class:`~.base.Pace` (:meth:`~.base.ProbeContext.quiet`), so that the
    first waits for an absence (the runner's lockout check) last ten round trips, not the configured window.
    Returns the round trips answered; a contract without a round trip, or a target that does not answer, leaves
    the windows at their configured bound (no evidence, no shortcut)."""
    rt = round_trip(ctx, "pace")
    if rt is None:
        return 0
    answered = 0
    try:
        s, _ = await open_started(ctx, trace=False, audit=False)
    except Exception:  # unreachable or refused: the speaks check and the probes tell
        return 0
    async with s:
        for _ in range(rounds):
            try:
                if s.closed or await s.ask(rt[0], {rt[1]}, ctx.options.timeout_s) is None:
                    break
            except Exception:  # garbage, a close, a timeout: the probes judge the target, this only paces the run
                break
            answered += 1
    return answered
