"""The run's schedule: probes side by side give the outcomes of one at a time, and the plan shows the schedule."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from pitchey_analysis import load_run
from pitchey_analysis.contract import default_contract
from pitchey_analysis.probes import ProbeContext
from pitchey_analysis.runner import SuiteConfig, arun_suite, make_options, plan
from pitchey_analysis.runner.schedule import schedule, stage_of

#: the targets both schedules are run against: the model service, the 2025-11 deployment, three defect switches
TARGETS = {
    "complete": ("complete", None),
    "pitchey-2025-11": ("pitchey-2025-11", None),
    "invalid-token-accepted": ("complete", {"enable_defects": [5]}),
    "no-signature-check": ("complete", {"disable": ["signature_check"]}),
    "no-post-connection-auth": ("complete", {"enable_defects": [1]}),
}


def _outcomes(tmp_path, profile: str, server: dict | None, sequential: bool) -> dict[str, tuple[str, str]]:
    cfg = SuiteConfig(suite="quick", options=make_options("quick"), progress=False, sequential=sequential)
    out = tmp_path / ("sequential" if sequential else "together")
    run = load_run(asyncio.run(arun_suite(profile=profile, suite="quick", out=out, config=cfg, server_options=server)))
    assert run.manifest["schedule"]["sequential"] is sequential
    return {r.probe: (r.outcome, r.reason) for r in run.probes.itertuples()}


@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.slow
def test_together_gives_the_outcomes_of_one_at_a_time(tmp_path, target):
    profile, server = TARGETS[target]
    one_at_a_time = _outcomes(tmp_path, profile, server, sequential=True)
    together = _outcomes(tmp_path, profile, server, sequential=False)
    differ = {
        p: (one_at_a_time.get(p), together.get(p))
        for p in set(one_at_a_time) | set(together)
        if one_at_a_time.get(p) != together.get(p)
    }
    assert differ == {}
    if target != "complete":
        assert any(o == "fail" for o, _ in together.values())


def test_the_schedule_keeps_timing_and_disruption_apart():
    ctx = ProbeContext(ws_url="ws://127.0.0.1:1/ws", http_url="", recorder=None, contract=default_contract())
    steps = plan("full", ctx)
    stages = schedule(steps)
    assert [st.mode for st in stages] == ["alone", "together", "alone"]
    by_name = {s.name: i for i, st in enumerate(stages) for s, _ in st.steps}
    # nothing else runs beside the timing probes (first), the readers of the target's own figures, the connection cap
    quiet = [s for s, why in stages[0].steps if why is None]
    assert [s.name for s in quiet[:4]] == [
        "connection.ping_on_connected",
        "performance.connect_time",
        "performance.round_trip",
        "performance.concurrency_ramp",
    ]
    # nor beside the probes that load it (the holds judge push intervals, which our own load would stretch)
    for name in (
        "readiness.session_leak",
        "readiness.health_live",
        "readiness.connection_cap",
        "readiness.rate_limit",
        "readiness.control_frame_flood",
    ):
        assert by_name[name] == 0, name
    together = [s for s, _ in stages[1].steps]
    # holds start first, in the background of the together stage
    holds = [s.name for s in together if s.runs == "hold"]
    assert "resilience.sustained_sessions" in holds and [s.name for s in together[: len(holds)]] == holds
    # frames outside the contract: one at a time beside the idle holds only, before the pool starts
    alone = [s.name for s in together if s.runs == "alone" and not s.last]
    assert {"readiness.invalid_utf8", "readiness.size_limit", "messaging.invalid_json"} <= set(alone)
    # the memory churn too: it stays within the declared size and rate limits (traffic the service promises to carry
    # beside its idle sessions), unlike the floods, and it must run with no pool beside it (its gauge is the process's)
    assert "readiness.memory_retained" in alone
    assert [s.name for s in together[len(holds) : len(holds) + len(alone)]] == alone
    # the pool starts with the probes that wait for a target's deadline (else they would end it alone, last)
    pool = [s for s in together if s.runs == "together" and not s.last]
    waiting = [s.name for s in pool if s.waits]
    assert {"resilience.handshake_timeout", "resilience.tls_handshake_stall"} <= set(waiting)
    assert [s.name for s in pool[: len(waiting)]] == waiting
    # what every later probe would inherit (a login throttle, lockouts) comes once the others have ended
    assert [s.name for s in together if s.last] == [s.name for s in together[-3:]]
    assert {s.name for s in together[-3:]} == {
        "readiness.login_throttle",
        "readiness.lockout_spoofing",
        "resilience.lockout_per_address",
    }
    assert all(s.final for s, _ in stages[2].steps)
    # one at a time keeps the catalogue's order
    assert [s for s, _ in schedule(steps, sequential=True)[0].steps] == [s for s, _ in steps]
    assert {stage_of(s) for s, _ in steps} == {0, 1, 2}


def test_dry_run_shows_the_schedule():
    out = subprocess.run(
        [sys.executable, "-m", "pitchey_analysis", "run", "--dry-run"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "expected wall time" in out and "then the others side by side, at most 6 at once" in out
    assert "resilience.sustained_sessions" in out.split("stage 2")[1].split("stage 3")[0]
    seq = subprocess.run(
        [sys.executable, "-m", "pitchey_analysis", "run", "--dry-run", "--sequential"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "in 1 stage;" in seq and "one at a time" in seq
    bad = subprocess.run(
        [sys.executable, "-m", "pitchey_analysis", "run", "--dry-run", "--sequential", "--parallel", "3"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_quiet_windows_come_from_the_run_s_round_trips():
    from pitchey_analysis.probes.base import PACE_MIN_SAMPLES, QUIET_FLOOR_S

    ctx = ProbeContext(
        ws_url="ws://127.0.0.1:1/ws", http_url="", recorder=None, options=make_options("full", scale=1.0)
    )
    assert ctx.quiet(0.5) == 0.5  # before the run has seen enough round trips: the configured window
    probe_ctx = ctx.for_probe("p#1")
    for _ in range(PACE_MIN_SAMPLES):
        probe_ctx.state.pace.note(0.3)  # a healthy local target: 0.3 ms
    assert ctx.quiet(0.5) == QUIET_FLOOR_S  # shared by every probe of the run; never below the floor
    for _ in range(200):
        ctx.state.pace.note(20.0)  # a slow target: ten times its p99
    assert ctx.quiet(0.5) == 0.2 and ctx.quiet(0.1) == 0.1  # never above the configured window
    slow = ProbeContext(
        ws_url="ws://127.0.0.1:1/ws", http_url="", recorder=None, options=make_options("full", scale=3.0)
    )
    for _ in range(PACE_MIN_SAMPLES):
        slow.state.pace.note(0.3)
    assert slow.quiet(2.0) == QUIET_FLOOR_S * 3  # a larger timeout scale widens the floor


def test_a_probe_alone_is_not_paced_by_our_own_load():
    """Round trips measured under our own load (the pool of other probes sending, or a probe that loads the target:
    the concurrency ramp) pace only the windows taken under load: a probe that runs alone afterwards (a lockout
    probe, beside idle holds) watches as long as the target answers unloaded."""
    from pitchey_analysis.probes.base import PACE_MIN_SAMPLES, QUIET_FLOOR_S

    ctx = ProbeContext(
        ws_url="ws://127.0.0.1:1/ws", http_url="", recorder=None, options=make_options("full", scale=1.0)
    )
    for _ in range(PACE_MIN_SAMPLES):
        ctx.state.pace.note(0.3)  # the run's start: nothing else runs
    ctx.state.running |= {"ramp"}
    ctx.state.loads.add("ramp")
    assert ctx.state.under_load()  # one probe, but one that loads the target
    for _ in range(200):
        ctx.state.pace.note(30.0, loaded=True)  # the ramp's pings, 100 sessions at once
    assert ctx.quiet(0.5) == 0.3  # its own windows allow for its load
    ctx.state.running.clear()
    ctx.state.loads.clear()
    ctx.state.running |= {"a", "b", "hold"}
    ctx.state.holds.add("hold")
    assert ctx.state.under_load()
    for _ in range(200):
        ctx.state.pace.note(40.0, loaded=True)  # the pool's
    assert ctx.quiet(0.5) == 0.4  # in the pool: ten times the p99 of every round trip so far
    ctx.state.running -= {"b"}
    assert not ctx.state.under_load()  # one probe beside an idle hold: alone
    assert ctx.quiet(0.5) == QUIET_FLOOR_S
    for _ in range(PACE_MIN_SAMPLES):
        ctx.state.pace.note(20.0)  # measured alone, later: the target itself got slower
    assert ctx.quiet(0.5) == 0.2


def test_a_pooled_probe_that_could_not_connect_is_asked_again_alone(tmp_path):
    """A probe of the pool whose connection timed out is asked again once the pool has drained (attempt 2, the one
    the analysis reads, an event naming it); a second such ending stops the asking (the target's own pace)."""
    import time

    from pitchey_analysis.capture.recorder import Recorder
    from pitchey_analysis.probes.base import Evidence, ProbeSpec, Result
    from pitchey_analysis.runner.run import Runner
    from pitchey_analysis.server import ReferenceServer

    calls: dict[str, int] = {}

    def spec(name: str, first: str, then: str) -> ProbeSpec:
        async def body(ctx):
            calls[name] = calls.get(name, 0) + 1
            reason = first if calls[name] == 1 else then
            return Result.ok("fine", {"seen": 1}) if reason == "ok" else Result.fail(reason, "no connection")

        return ProbeSpec(name, "connection", True, "x", body, runs="together", evidence=(Evidence("seen"),))

    async def go():
        async with ReferenceServer("complete") as srv:
            rec = Recorder(tmp_path, {})
            ctx = ProbeContext(ws_url=srv.ws_url, http_url=srv.http_url, recorder=rec, contract=default_contract())
            runner = Runner(ctx, rec, time.monotonic() + 60, 60)
            steps = (
                (spec("t.flaky", "connect_timeout", "ok"), None),
                (spec("t.other", "ok", "ok"), None),
                (spec("t.dead", "connect_timeout", "connect_timeout"), None),
                (spec("t.dead2", "bad_handshake", "bad_handshake"), None),
            )
            await runner.together(steps, parallel=4)
            rec.close("complete")
            return rec.dir

    run = load_run(asyncio.run(go()))
    last = run.probes.sort_values("attempt").groupby("probe").tail(1).set_index("probe")
    assert (last.loc["t.flaky", "outcome"], last.loc["t.flaky", "attempt"]) == ("pass", 2)
    assert last.loc["t.other", "attempt"] == 1 and calls["t.other"] == 1
    # one of the dead ones asked again, failing the same way: the other is not asked (its finding stands)
    assert sorted(calls[n] for n in ("t.dead", "t.dead2")) == [1, 2]
    events = [json.loads(line) for line in (run.path / "events.jsonl").read_text().splitlines()]
    assert "t.flaky" in {e.get("probe") for e in events if e.get("event") == "asked_again_alone"}
