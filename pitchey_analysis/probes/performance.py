"""Performance probes: connect times, round trips, a concurrency ramp.

The probes record raw samples; whether a service-level target is met is
judged by the analysis from those samples (percentiles with intervals).

What ``rtt_ms`` measures: from just before the ping is handed to the client
library to the moment the reader task has parsed the pong, on an idle
connection. It includes the client's own processing (tens of microseconds with
websockets), which is reported by ``make bench`` as the harness overhead.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any

from .base import ProbeContext, Result, classify, probe
from .common import require_session, settle
from .common import round_trip as contract_round_trip
from .flow import timed_connect
from .session import ProbeSession, first_frame_observer


@probe(
    "performance.connect_time",
    runs="timing",
    category="performance",
    critical=False,
    evidence=("succeeded",),
    expected="sequential connects succeed; their stage times are samples judged against the connection-time target",
)
async def connect_time(ctx: ProbeContext) -> Result:
    require_session(ctx)
    n = ctx.options.connect_samples
    failures: collections.Counter[str] = collections.Counter()
    for i in range(n):
        t_off = ctx.recorder.t_offset()
        try:
            timing = await timed_connect(
                await_first=ctx.first_frame_type is not None,
                **ctx.upgrade_with(),
                ssl_context=ctx.ssl_context,
                timeout=ctx.options.open_timeout_s,
                observe=first_frame_observer(ctx),
            )
        except Exception as exc:
            failures[classify(exc).reason] += 1
            ctx.sample("connect_ms", None, t_offset_s=t_off, conn_index=i, ok=False)
            if i >= 2 and sum(failures.values()) == i + 1:
                n = i + 1  # the first three all failed: the outcome is decided, more attempts only wait
                break
            continue
        for metric, v in timing.stages().items():
            if v is not None:
                ctx.sample(metric, v, t_offset_s=t_off, conn_index=i)
    obs = {"connects": n, "succeeded": n - sum(failures.values()), "failures": dict(failures)}
    if failures:
        reason, count = failures.most_common(1)[0]
        return Result.fail(reason, f"{sum(failures.values())} of {n} connects failed (mostly {reason})", obs)
    return Result.ok(f"{n} connects", obs)


async def _pings(
    ctx: ProbeContext, s: ProbeSession, count: int, conn_index: int, *, concurrency: int = 1, metric: str = "rtt_ms"
) -> tuple[int, int]:
    """Strict ping-pong on one session; returns (answered, missed)."""
    ok = missed = streak = 0
    for j in range(count):
        if streak >= 3:
            break  # three unanswered pings in a row: the session is not answering
        mark = s.mark()
        pid = f"rt-{conn_index}-{j}"
        t_off = ctx.recorder.t_offset()
        t0 = time.perf_counter()
        rt = contract_round_trip(ctx, pid)
        assert rt is not None  # REQUIRES: roundTrip
        await s.send(rt[0])
        answer, rid = rt[1], s.last_id

        def is_pong(
            f: dict[str, Any], pid: str = pid, answer: str = answer, rid: Any = rid, c: Any = ctx.contract
        ) -> bool:
            if rid is not None:
                return bool(c.answers_id(f, rid))
            return bool(c.kind_of(f) == answer and (not isinstance(f, dict) or f.get("id", pid) == pid))

        pong = await s.expect(is_pong, ctx.options.timeout_s, since=mark)
        if pong is None:
            missed += 1
            streak += 1
            ctx.sample(metric, None, t_offset_s=t_off, concurrency=concurrency, conn_index=conn_index, ok=False)
            if s.closed:
                break
            continue
        streak = 0
        idx = next(i for i in range(len(s.frames) - 1, mark - 1, -1) if s.frames[i][1] is pong)
        rtt = s.frames[idx][0] - (t0 - s.opened_at) * 1000
        ok += 1
        ctx.sample(metric, rtt, t_offset_s=t_off, concurrency=concurrency, conn_index=conn_index)
    return ok, missed


@probe(
    "performance.round_trip",
    runs="timing",
    category="performance",
    critical=False,
    evidence=("answered",),
    expected="ping round trips on idle connections, anonymous and (with credentials) authenticated, are all answered; "
    "samples judged against the round-trip target (on authenticated sessions when there are any)",
)
async def round_trip(ctx: ProbeContext) -> Result:
    require_session(ctx)
    from .common import login

    up = ctx.contract.upgrade
    # anonymous sessions only where the contract serves them (else a session without a token carries the run's own)
    kinds: list[tuple[str, str | None, str]] = [("anonymous", None, "rtt_ms")] if up is None or up.anonymous else []
    if ctx.user is not None:
        token, _ = await login(ctx, ctx.user)
        if token is not None:
            kinds.append(("authenticated", token, "auth_rtt_ms"))
    if not kinds:
        kinds = [("anonymous", None, "rtt_ms")]
    obs: dict[str, Any] = {}
    missed_total = 0
    for kind, token, metric in kinds:
        total, per = ctx.options.rtt_samples, max(1, ctx.options.rtt_per_session)
        answered = missed = 0
        session_index = 0
        t_start = time.perf_counter()
        while answered + missed < total:
            count = min(per, total - answered - missed)
            async with await ProbeSession.open(ctx, trace=False, token=token) as s:
                await s.connected()
                if token is not None:
                    await settle(ctx, s)
                a, m = await _pings(ctx, s, count, session_index, metric=metric)
            answered, missed = answered + a, missed + m
            session_index += 1
            if a == 0:
                break  # a session that answers nothing: more sessions would only wait out more timeouts
        elapsed = time.perf_counter() - t_start
        obs[kind] = {
            "answered": answered,
            "missed": missed,
            "sessions": session_index,
            "round_trips_per_s": round(answered / elapsed, 1),
            "metric": metric,
        }
        missed_total += missed
    if missed_total:
        return Result.fail(
            "no_answer",
            f"unanswered round trips ({ctx.round_trip_words[0]}): "
            + ", ".join(f"{k} {v['missed']}" for k, v in obs.items() if v["missed"]),
            obs,
        )
    said = " and ".join(f"{v['answered']} {k} round trips over {v['sessions']} sessions" for k, v in obs.items())
    return Result.ok(said, {**obs, "answered": sum(v["answered"] for v in obs.values())})


async def _level(ctx: ProbeContext, level: int) -> dict[str, Any]:
    """Open ``level`` connections at once, then ping on each; returns counts."""
    sessions: list[ProbeSession | None] = [None] * level
    failures: collections.Counter[str] = collections.Counter()

    async def open_one(i: int) -> None:
        t_off = ctx.recorder.t_offset()
        t0 = time.perf_counter()
        try:
            s = await ProbeSession.open(ctx, trace=False)
            first = await s.begun()
            if first is None:
                failures[f"closed_{s.close_code}" if s.closed else "no_answer"] += 1
                await s.close()
                ctx.sample("connect_ms", None, t_offset_s=t_off, concurrency=level, conn_index=i, ok=False)
                return
            sessions[i] = s
            ctx.sample(
                "connect_ms", (time.perf_counter() - t0) * 1000, t_offset_s=t_off, concurrency=level, conn_index=i
            )
        except Exception as exc:
            failures[classify(exc).reason] += 1
            ctx.sample("connect_ms", None, t_offset_s=t_off, concurrency=level, conn_index=i, ok=False)

    await asyncio.gather(*(open_one(i) for i in range(level)))
    open_now = sum(1 for s in sessions if s is not None and not s.closed)

    async def ping_one(i: int) -> None:
        s = sessions[i]
        if s is None or s.closed:
            ctx.sample("rtt_ms", None, t_offset_s=ctx.recorder.t_offset(), concurrency=level, conn_index=i, ok=False)
            return
        a, m = await _pings(ctx, s, 1, i, concurrency=level)
        if m:
            failures[f"closed_{s.close_code}" if s.closed else "no_answer"] += 1

    await asyncio.gather(*(ping_one(i) for i in range(level)))
    for s in sessions:
        if s is not None and s.closed and s.close_code not in (None, 1000):
            s.record_close()
    await asyncio.gather(*(s.close() for s in sessions if s is not None))
    return {"level": level, "open_at_once": open_now, "failures": dict(failures)}


@probe(
    "performance.concurrency_ramp",
    runs="timing",
    leaves=("load",),
    category="performance",
    critical=False,
    evidence=("opened",),
    expected="at each level up to the target level, at least 95% of connections open at once and answer a ping",
)
async def concurrency_ramp(ctx: ProbeContext) -> Result:
    require_session(ctx)
    levels = list(ctx.options.concurrency_levels)
    skipped = []
    if not ctx.loopback and not ctx.allow_disruptive:
        skipped = [lv for lv in levels if lv > 10]
        levels = [lv for lv in levels if lv <= 10]
    results = []
    for level in levels:
        ctx.recorder.event("ramp_level", level=level, probe_id=ctx.probe_id)
        results.append(await _level(ctx, level))
    obs = {"levels": results, "skipped_levels": skipped, "opened": sum(r["open_at_once"] for r in results)}
    worst = None
    for r in results:
        failed = sum(r["failures"].values())
        if r["level"] <= 100 and failed > 0.05 * r["level"]:
            worst = r
            break
    if worst:
        reason = max(worst["failures"], key=worst["failures"].get)
        return Result.fail(
            reason,
            f"level {worst['level']}: {sum(worst['failures'].values())} connections failed (mostly {reason})",
            obs,
        )
    return Result.ok("levels " + ", ".join(f"{r['level']} ({r['open_at_once']} open)" for r in results), obs)
