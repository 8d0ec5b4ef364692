"""The load engine against the reference server, with small bounded counts."""

from __future__ import annotations

import json
import threading
import time
import urllib.request

import numpy as np
import pytest

from pitchey_analysis import ReferenceServer, load_run
from pitchey_analysis.load import LoadPlan, ShardSpec, record_load, run_load, run_shard, split
from tests.waiting import eventually


def test_split_is_even_and_complete():
    assert split(10, 3) == [4, 3, 3] and sum(split(50_000, 4)) == 50_000


def test_all_connections_of_a_level_are_open_at_once():
    seen = []
    done = threading.Event()
    with ReferenceServer(disable=["rate_limit"]) as srv:

        def watch():
            end = time.monotonic() + 6
            while time.monotonic() < end:  # the server's count every 50 ms, until the shard is done
                seen.append(len(srv.hub.sessions))
                if done.wait(0.05):
                    return

        t = threading.Thread(target=watch)
        t.start()
        try:
            r = run_shard(ShardSpec(url=srv.ws_url, connections=60, duration_s=1.0, model="hold"))
        finally:
            done.set()
            t.join()
    assert r.opened == 60 and r.held == 60 and r.max_open == 60
    assert max(seen) == 60  # checked against the server's own count


def test_open_model_counts_from_the_scheduled_send_time():
    """With the server stalled for 200 ms, the stall shows in the open model's p99."""
    with ReferenceServer(disable=["rate_limit"]) as srv:

        def received() -> int:
            try:
                return sum(srv.hub.received_by_type.values())
            except RuntimeError:  # a first message of a type added its key while we read
                return 0

        def stall():
            # once the shard's messages flow (200 of its 1,000), not after a guessed time: a slow start is no stall
            eventually(lambda: received() >= 200, 10.0, "the shard's first 200 messages")
            srv._loop.call_soon_threadsafe(time.sleep, 0.2)  # block the server's event loop for 200 ms

        t = threading.Thread(target=stall)
        t.start()
        try:
            r = run_shard(ShardSpec(url=srv.ws_url, connections=10, duration_s=2.0, model="open", rate_per_conn=50))
        finally:
            t.join()
    rtt = r.value_ms[(np.asarray(r.metric) == "rtt_ms") & r.ok]
    assert r.errors == {} and rtt.size > 900
    assert np.percentile(rtt, 99) > 100  # the messages scheduled during the stall waited for it
    assert np.percentile(rtt, 50) < 20


def test_sends_a_stalled_generator_never_made_are_counted_dropped():
    """The shard's own loop blocked for 1.5 s from 0.5 s into a 1 s run: every scheduled send is made or counted."""
    stalled = []

    async def sink(msg):
        if not stalled:
            stalled.append(True)
            time.sleep(1.5)  # the generator's event loop stops (its first flush, 0.5 s in)

    with ReferenceServer(disable=["rate_limit"]) as srv:
        r = run_shard(ShardSpec(url=srv.ws_url, connections=10, duration_s=1.0, model="open", rate_per_conn=50), sink)
    assert r.opened == 10 and stalled
    assert abs(r.sent + r.dropped - 500) <= 10, (r.sent, r.dropped)  # 10 connections x 50 a second x 1 s
    assert r.dropped >= 100, (r.sent, r.dropped)


def test_two_worker_dask_cluster_both_contribute_and_results_form_a_run(tmp_path):
    with ReferenceServer(disable=["rate_limit"]) as srv:
        result = run_load(
            LoadPlan(srv.ws_url, levels=(20,), duration_s=1.0, model="open", rate_per_conn=10, workers=2),
            progress=False,
        )
    assert len({s.pid for s in result.shards}) == 2
    assert all(s.answered > 0 for s in result.shards)
    path = record_load(result, tmp_path, {"target": {"ws_url": srv.ws_url}})
    run = load_run(path)
    rtt = run.samples[run.samples["metric"] == "rtt_ms"]
    assert len(rtt) == result.answered and rtt["ok"].all()
    assert sorted(run.samples.loc[run.samples["metric"] == "connect_ms", "conn_index"]) == list(range(20))
    observed = json.loads(run.probes.iloc[0]["observed"])
    assert {s["pid"] for s in observed["shards"]} == {s.pid for s in result.shards}


def test_worker_pool_serves_one_port_from_several_processes():
    from pitchey_analysis.server import make_profile
    from pitchey_analysis.server.workers import WorkerPool

    with WorkerPool(make_profile(disable=["rate_limit"]), workers=2) as pool:
        with urllib.request.urlopen(pool.http_url + "/api/health", timeout=5) as r:
            assert json.load(r)["data"]["status"] == "healthy"
        r = run_shard(ShardSpec(url=pool.ws_url, connections=40, duration_s=0.5, model="hold"))
    assert r.held == 40


@pytest.mark.slow
def test_load_cli(tmp_path):
    import subprocess
    import sys

    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pitchey_analysis.cli",
            "load",
            "--connections",
            "10",
            "--duration",
            "1",
            "--rate",
            "5",
            "--workers",
            "2",
            "--settle",
            "0",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "level 10: opened 10/10" in r.stdout and "no errors" in r.stdout and "run dataset:" in r.stdout
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pitchey_analysis.cli",
            "load",
            "--levels",
            "5,15",
            "--hold",
            "--duration",
            "0.5",
            "--workers",
            "0",
            "--settle",
            "0",
            "--out",
            str(tmp_path / "ramp"),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "level 15: opened 15/15, held 15" in r.stdout
    run = load_run(next((tmp_path / "ramp").iterdir()))
    assert sorted(run.probes["probe"]) == ["load.level_15", "load.level_5"]
    assert set(run.samples["concurrency"]) == {5, 15}
    m = run.manifest  # the one manifest builder: the load run's target, server, versions, host and commit
    assert (
        m["target"]["embedded"]
        and m["target"]["http_url"].startswith("http://")
        and m["server"]["profile"]["name"] == "complete"
    )
    assert {"versions", "python", "os", "host", "git_commit", "created"} <= set(m) and "pitchey-analysis" in m[
        "versions"
    ]


def test_wss_target_verified_with_its_ca():
    with ReferenceServer(tls=True, disable=["rate_limit"]) as srv:
        ok = run_shard(ShardSpec(url=srv.ws_url, connections=5, duration_s=0.3, model="hold", cafile=str(srv.ca_file)))
        bad = run_shard(ShardSpec(url=srv.ws_url, connections=2, duration_s=0.3, model="hold"))
    assert ok.held == 5
    assert bad.opened == 0 and any("SSL" in k or "Certificate" in k for k in bad.errors), bad.errors
