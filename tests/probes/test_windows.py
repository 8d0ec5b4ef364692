"""Observation windows from the target's behaviour (issue 25, part 2): figures read until they settle.

The reference server's ``session_count_lag_s`` knob makes its stats and health endpoints report the open-session
count as it was that long ago, as a backend that counts sessions in a background task does: read right after a
change, the count has not moved yet.
"""

from __future__ import annotations

import json

import aiohttp

from pitchey_analysis.probes.readiness import LEAK_CHURN, judge_leak
from pitchey_analysis.probes.windows import MIN_QUIET_S, Series, poll, quiet_window, settled
from pitchey_analysis.runner import DEMO_USERS


def test_settled_needs_one_value_over_the_quiet_window():
    assert settled([(0.0, 3), (0.1, 3), (0.2, 3)], 0.15)
    assert not settled([(0.0, 3), (0.1, 3)], 0.15)  # not yet long enough
    assert not settled([(0.0, 0), (0.1, 3), (0.2, 3)], 0.15)  # it just moved
    assert not settled([(0.0, None), (0.5, None)], 0.15)  # nothing read is nothing settled
    assert not settled([(0.0, 3)], 0.0)


def test_the_quiet_window_follows_the_targets_pace():
    assert quiet_window(0.0, 0.05) == MIN_QUIET_S
    assert quiet_window(0.21, 0.05) == 0.47  # a count 200 ms late is read unchanged for twice that, and a read more


def test_a_series_is_kept_run_length_encoded():
    s = Series("cycle 1", [(0.0, 0), (0.05, 0), (0.1, 5), (0.15, 5), (0.2, 5)], settled=True)
    assert s.runs() == [[0.0, 0, 2], [0.1, 5, 3]] and s.last == 5
    assert s.evidence() == {"phase": "cycle 1", "runs": [[0.0, 0, 2], [0.1, 5, 3]], "settled": True, "value": 5}


async def test_polling_is_bounded_whatever_the_figure_does():
    values = iter(range(1000))

    async def moving() -> int:
        return next(values)

    s = await poll(moving, "never settles", quiet_s=0.2, deadline_s=0.3, interval_s=0.05)
    assert not s.settled and 4 <= len(s.points) <= 8


def _series(phase: str, *values: int, settled: bool = True) -> Series:
    return Series(
        phase,
        [(i * 0.05, v) for i, v in enumerate(values)],
        settled=settled,
        reached_s=0.2 if "held" in phase else None,
    )


def test_the_leak_judgement():
    held, released = _series("3 held", 0, 3), _series("released", 0, 0, 0)
    ok = judge_leak(0, held, released, [_series(f"cycle {i}", 0, 0, 0) for i in (1, 2, 3)], quiet_s=0.45)
    assert ok.outcome == "pass" and ok.observed["cycles"] == [0, 0, 0]
    leak = judge_leak(0, held, released, [_series(f"cycle {i}", 0, 5 * i, 5 * i) for i in (1, 2, 3)], quiet_s=0.45)
    assert (leak.outcome, leak.reason) == ("fail", "session_leak") and "0 -> 0 -> 5 -> 10 -> 15" in leak.detail
    unsettled = judge_leak(0, held, released, [_series("cycle 1", 0, 2, 1, settled=False)], quiet_s=0.45)
    assert (unsettled.outcome, unsettled.reason) == ("skip", "figures_unsettled")


async def _stats_total(http_url: str, token: str) -> int:
    async with (
        aiohttp.ClientSession() as s,
        s.get(http_url + "/api/ws/stats", headers={"Authorization": f"Bearer {token}"}) as r,
    ):
        return int((await r.json())["data"]["connections"]["total"])


async def test_the_lag_switch_hides_a_new_session_from_an_early_read(make_server):
    from websockets.asyncio.client import connect

    srv = await make_server(session_count_lag_s=0.2)
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            srv.http_url + "/api/auth/creator/login",
            json={"email": "admin@demo.com", "password": DEMO_USERS["creator"].password},
        ) as r,
    ):
        token = (await r.json())["token"]
    async with connect(srv.ws_url) as ws:
        await ws.recv()  # 'connected': the server counts the session
        assert await _stats_total(srv.http_url, token) == 0  # ... and reports it only 200 ms later

        async def total() -> int:
            return await _stats_total(srv.http_url, token)

        seen = await poll(total, "one held", quiet_s=0, deadline_s=2.0, until=lambda v: v == 1)
    assert seen.reached_s is not None and seen.reached_s >= 0.1, seen.points


async def test_a_leak_is_caught_when_the_count_lags_and_a_clean_server_still_passes(make_server, run_one):
    srv = await make_server(defects=[18], session_count_lag_s=0.2, lookup_delay_ms=(80.0, 80.0))
    rec = await run_one("readiness.session_leak", srv)
    assert (rec["outcome"], rec["reason"]) == ("fail", "session_leak"), rec["detail"]
    obs = json.loads(rec["observed"])
    assert obs["reaction_s"] >= 0.1 and obs["quiet_s"] >= 0.3  # the window was taken from the target's own pace
    cycles = obs["cycles"]
    assert cycles == sorted(cycles) and cycles[-1] - obs["baseline"] >= LEAK_CHURN, cycles  # it grows cycle by cycle
    assert [p["phase"] for p in obs["series"]][:2] == ["3 held", "the held sessions closed"]

    srv = await make_server(session_count_lag_s=0.2, lookup_delay_ms=(80.0, 80.0))
    rec = await run_one("readiness.session_leak", srv)
    assert (rec["outcome"], rec["reason"]) == ("pass", "ok"), rec["detail"]
    obs = json.loads(rec["observed"])
    assert obs["cycles"] == [obs["baseline"]] * 3 and obs["with_held"] == obs["baseline"] + 3
