"""Soak end to end on loopback: a session leak under churn is caught, a growing delay is reported as drift."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest

from pitchey_analysis import ReferenceServer, load_run
from pitchey_analysis.analysis.soak import analyze_soak, latency_drift
from pitchey_analysis.capture.dataset import load_events
from pitchey_analysis.load import ShardSpec, run_shard
from pitchey_analysis.load.capture import capture_load
from pitchey_analysis.load.options import LoadPlan
from pitchey_analysis.load.runner import _login
from pitchey_analysis.load.spec import UserSpec
from pitchey_analysis.runner import DEMO_ADMIN, DEMO_USERS
from pitchey_analysis.server import Defect


@pytest.mark.parametrize(
    "defects, leaks", [([Defect.LOOKUP_SESSION_LEAK], True), ([], False)], ids=["item-18", "complete"]
)
def test_sessions_leaking_under_churn_are_found(tmp_path, defects, leaks):
    """Authenticated users who leave right after 'connected' (during the user lookup under item 18)."""
    # a longer lookup than the default 3-20 ms, so that leaving "during the lookup" does not depend on this machine's
    # speed
    with ReferenceServer(defects=defects, disable=["rate_limit"], lookup_delay_ms=(40.0, 60.0)) as srv:
        admin, creator = _login(srv.http_url, DEMO_ADMIN), _login(srv.http_url, DEMO_USERS["creator"])
        assert admin and creator
        churn = UserSpec("churn", token=creator, rate_per_s=0.0, session_s=0.0, rejoin_s=0.05)
        path = capture_load(
            LoadPlan(srv.ws_url, levels=(4,), duration_s=2.5, workers=0, settle_s=1.0, poll_s=0.25),
            out=tmp_path,
            users=(churn,),
            admin_token=admin,
            progress=False,
        )
    run = load_run(path)
    a = analyze_soak(run.samples, load_events(run, "generator"), load_events(run, "target_stats"), window_s=0.5)
    found = a.sessions.set_index("finding")["status"]
    observed = json.loads(run.probes.iloc[0]["observed"])
    connects = run.samples[run.samples["metric"] == "connect_ms"]
    assert len(connects) > 20 and observed["opened"] == len(connects)  # the users came and went many times
    assert creator not in (path / "events.jsonl").read_text() and creator not in (path / "manifest.json").read_text()
    if leaks:
        assert found["sessions_return_to_baseline"] == "fail" and found["sessions_track_load"] == "fail", a.sessions
    else:
        assert (found == "pass").all(), a.sessions


class _DelayServer:
    """A scripted target whose answer delay grows with time (``growth_ms_per_s``), in a thread."""

    def __init__(self, growth_ms_per_s: float) -> None:
        self.growth = growth_ms_per_s
        self.ready = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        import websockets

        self.stop = asyncio.Event()
        t0 = time.monotonic()

        async def handler(ws):
            async for msg in ws:
                delay = (2.0 + self.growth * (time.monotonic() - t0)) / 1000.0
                mid = json.loads(msg).get("id")
                asyncio.get_running_loop().call_later(
                    delay, lambda m=mid: asyncio.ensure_future(ws.send(json.dumps({"type": "pong", "id": m})))
                )

        async with websockets.serve(handler, "127.0.0.1", 0) as server:
            self.url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
            self.loop = asyncio.get_running_loop()
            self.ready.set()
            await self.stop.wait()

    def __enter__(self) -> _DelayServer:
        self.thread.start()
        self.ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(5)


def _drift(growth: float) -> dict:
    with _DelayServer(growth) as srv:
        r = run_shard(ShardSpec(url=srv.url, connections=4, duration_s=3.0, rate_per_conn=25, await_first_frame=False))
    import pandas as pd

    samples = pd.DataFrame(
        {"metric": r.metric, "value_ms": r.value_ms, "t_offset_s": r.t_offset_s - r.t_offset_s.min(), "ok": r.ok}
    )
    # a change under 5 ms is not drift here: a busy test machine moves a loopback median by a few ms
    return latency_drift(samples, window_s=0.25, abs_change=5.0).set_index("metric").loc["rtt_ms"].to_dict()


def test_a_target_with_a_growing_delay_drifts_and_a_flat_one_does_not():
    growing, flat = _drift(10.0), _drift(0.0)  # +30 ms over the run against a steady 2 ms
    assert growing["status"] == "drifting" and growing["lo"] > 0, growing
    assert flat["status"] == "flat", flat
