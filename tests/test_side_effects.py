"""The suite's own side effects are never judged: a lockout of the run's address makes the probes after it skip."""

from __future__ import annotations

import asyncio
import json

from pitchey_analysis import load_run
from pitchey_analysis.capture.recorder import Recorder
from pitchey_analysis.probes import ProbeContext, Result
from pitchey_analysis.probes.base import ProbeSpec
from pitchey_analysis.probes.session import ProbeSession
from pitchey_analysis.runner import DEMO_ADMIN, DEMO_USERS, SuiteConfig, arun_suite, make_options, run_probe
from pitchey_analysis.runner.watch import Watch
from pitchey_analysis.server import ReferenceServer


async def _fail_auth_from_here(ctx: ProbeContext, n: int) -> None:
    """``n`` upgrades with a garbage token from the run's own address (each a failed authentication)."""
    for _ in range(n):
        async with await ProbeSession.open(ctx, token="bad-token", trace=False) as s:
            await s.begun()
            await s.wait_closed(0.1)


async def test_a_lockout_left_before_the_run_skips_every_probe(tmp_path, monkeypatch):
    monkeypatch.setattr("pitchey_analysis.runner.watch.RECOVERY_S", 2.0)  # the bounded wait for the lockout to pass
    async with ReferenceServer("complete", lockout_threshold=2) as srv:
        cfg = SuiteConfig(
            suite="quick",
            options=make_options("quick"),
            progress=False,
            preflight=False,
            only=["connection", "messaging.ping"],
            user=DEMO_USERS["creator"],
            users=dict(DEMO_USERS),
            admin=DEMO_ADMIN,
            jwt_secret=srv.jwt_secret,
        )
        rec = Recorder(tmp_path / "scratch", {})
        await _fail_auth_from_here(ProbeContext(ws_url=srv.ws_url, http_url=srv.http_url, recorder=rec), 3)
        rec.close("complete")
        run = load_run(
            await arun_suite(srv.ws_url, suite="quick", out=tmp_path / "runs", config=cfg, http_url=srv.http_url)
        )
    # the whole-run judges (session.*) have no sessions to judge
    ran = run.probes[(run.probes["reason"] != "not_in_contract") & ~run.probes["probe"].str.startswith("session.")]
    assert set(ran["outcome"]) == {"skip"} and set(ran["reason"]) == {"locked_out"}, ran[["probe", "outcome", "reason"]]
    assert "locks the run's own address out (close 1008)" in ran["detail"].iloc[0]
    events = [json.loads(line) for line in (run.path / "events.jsonl").read_text().splitlines() if line.strip()]
    assert [e for e in events if e.get("event") == "locked_out_at_start" and e.get("passed") is False]


async def test_a_probe_that_locks_the_run_out_is_not_judged_after(tmp_path):
    async with ReferenceServer("complete", lockout_threshold=2) as srv:
        rec = Recorder(tmp_path, {})
        ctx = ProbeContext(
            ws_url=srv.ws_url,
            http_url=srv.http_url,
            recorder=rec,
            options=make_options("quick"),
            user=DEMO_USERS["creator"],
            jwt_secret=srv.jwt_secret,
        )
        watch = Watch(ctx, rec)
        await watch.start()
        assert watch.down is None

        async def locks(ctx: ProbeContext) -> Result:
            await _fail_auth_from_here(ctx, 3)
            return Result.ok("three garbage tokens refused")

        first = await run_probe(ProbeSpec("t.locks", "authentication", False, "-", locks), ctx, rec, after=watch.after)
        assert first["outcome"] == "pass"  # its own result stands: the lockout is the target doing its job
        why = await watch.before(ProbeSpec("t.next", "messaging", True, "-", locks))
        rec.close("complete")
    assert why is not None and why.startswith("locked_out:") and "after t.locks" in why


def test_lockout_skip_keeps_the_verdict_from_ready(tmp_path, monkeypatch):
    """A run whose probes were all skipped under a lockout is never READY."""
    monkeypatch.setattr("pitchey_analysis.runner.watch.RECOVERY_S", 2.0)
    from pitchey_analysis.analysis import verdict_for_run

    async def go():
        async with ReferenceServer("complete", lockout_threshold=2) as srv:
            rec = Recorder(tmp_path / "scratch", {})
            await _fail_auth_from_here(ProbeContext(ws_url=srv.ws_url, http_url=srv.http_url, recorder=rec), 3)
            rec.close("complete")
            cfg = SuiteConfig(
                suite="quick",
                options=make_options("quick"),
                progress=False,
                preflight=False,
                only=["connection.health", "messaging.ping"],
                user=DEMO_USERS["creator"],
            )
            return await arun_suite(srv.ws_url, suite="quick", out=tmp_path / "runs", config=cfg, http_url=srv.http_url)

    run = load_run(asyncio.run(go()))
    assert verdict_for_run(run).verdict != "READY"
