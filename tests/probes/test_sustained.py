"""resilience.sustained_sessions: drops by the server are the observation; silence never passes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pitchey_analysis import load_run
from pitchey_analysis.analysis.sessions import dropped_sessions, session_lifetimes
from pitchey_analysis.probes.base import Result
from pitchey_analysis.probes.sustained import SessionFacts, judge, push_gap_s
from pitchey_analysis.runner import DEMO_USERS, SuiteConfig, arun_suite, make_options
from tests.conftest import UNIT
from tests.probes.badserver import BadServer, connected_then_silent

PROBE = "resilience.sustained_sessions"
#: A 3 s hold (after the timeout scale) with 5 sessions keeps each run short.
SHORT: dict[str, Any] = {"sustain_window_s": 3.0 / UNIT, "sustain_sessions": 5}


async def run_probe_only(ws_url: str, tmp_path, *, user=True):
    cfg = SuiteConfig(
        suite="quick",
        options=make_options("quick", **SHORT),
        progress=False,
        only=[PROBE],
        user=DEMO_USERS["creator"] if user else None,
        preflight=False,
    )
    path = await asyncio.wait_for(arun_suite(ws_url, suite="quick", out=tmp_path, config=cfg), 60)
    run = load_run(path)
    rec = run.probes.iloc[0]
    return run, rec


async def test_sessions_closed_after_two_seconds_fail_with_their_close(make_server, tmp_path):
    srv = await make_server(close_after=2.0)
    run, rec = await run_probe_only(srv.ws_url, tmp_path)
    assert (rec["outcome"], rec["reason"]) == ("fail", "session_dropped"), rec["detail"]
    assert rec["close_code"] == 1012 and rec["close_reason"] == "Forced close"
    assert bool(rec["critical"]) is True
    life = session_lifetimes(run.samples, run.probes)
    assert len(life) == 5 and life["dropped"].all() and (life["close_code"] == 1012).all()
    assert life["lifetime_s"].between(1.9, 3.0).all(), life
    finding = dropped_sessions(run.samples, run.probes)
    assert finding is not None
    assert finding.title() == "The service closes sessions after about 2 s"
    assert (finding.dropped, finding.sessions, finding.close_code) == (5, 5, 1012)
    assert "1012" in finding.sentence() and "Forced close" in finding.sentence()
    # the closes of untraced sessions are in the frames table too (the close timeline shows them)
    closes = run.frames[(run.frames["type"] == "close") & run.frames["payload"].str.startswith("1012")]
    assert closes["conn_id"].nunique() == 5


async def test_idle_timeout_shorter_than_the_window_ends_with_the_servers_close(make_server, tmp_path):
    srv = await make_server(idle_timeout=1.0, ping_interval=60.0, ping_timeout=60.0)
    run, rec = await run_probe_only(srv.ws_url, tmp_path)
    assert (rec["outcome"], rec["reason"]) == ("fail", "session_dropped"), rec["detail"]
    assert (rec["close_code"], rec["close_reason"]) == (1000, "Session timeout")
    finding = dropped_sessions(run.samples, run.probes)
    assert finding is not None and finding.close_code == 1000 and finding.lifetime_max_s < 3.0


async def test_sessions_closed_while_being_set_up_are_drops_too(make_server, tmp_path):
    srv = await make_server(close_after=0.05)
    run, rec = await run_probe_only(srv.ws_url, tmp_path)
    assert (rec["outcome"], rec["reason"], rec["close_code"]) == ("fail", "session_dropped", 1012), rec["detail"]
    assert session_lifetimes(run.samples, run.probes)["lifetime_s"].max() < 1.0


async def test_passes_against_complete_with_pushes_on_schedule(make_server, tmp_path):
    srv = await make_server()
    run, rec = await run_probe_only(srv.ws_url, tmp_path)
    assert (rec["outcome"], rec["reason"]) == ("pass", "ok"), rec["detail"]
    assert '"pushes_judged":5' in rec["observed"] and '"authenticated":5' in rec["observed"]
    life = session_lifetimes(run.samples, run.probes)
    assert len(life) == 5 and not life["dropped"].any() and (life["lifetime_s"] >= 3.0).all()
    assert dropped_sessions(run.samples, run.probes) is None


async def test_anonymous_without_credentials(make_server, tmp_path):
    srv = await make_server()
    _, rec = await run_probe_only(srv.ws_url, tmp_path, user=False)
    assert (rec["outcome"], rec["reason"]) == ("pass", "ok"), rec["detail"]
    assert '"authenticated":0' in rec["observed"] and '"channel":"pitch:1"' in rec["observed"]


async def test_sessions_that_stop_getting_pushes_fail(make_server, tmp_path):
    srv = await make_server(disable=["push_dashboard"])
    _, rec = await run_probe_only(srv.ws_url, tmp_path)
    assert (rec["outcome"], rec["reason"]) == ("fail", "missed_pushes"), rec["detail"]


_answers_nothing = connected_then_silent  # 'connected', then silence


@pytest.mark.parametrize("behaviour", [_answers_nothing, None], ids=["connected-then-silent", "no-frame-at-all"])
@pytest.mark.slow
async def test_a_silent_server_does_not_pass(tmp_path, behaviour):
    async with BadServer(behaviour) as b:
        _, rec = await run_probe_only(b.ws_url, tmp_path)
    assert (rec["outcome"], rec["reason"]) == ("fail", "no_answer"), rec["detail"]


async def test_nothing_listening_does_not_pass(tmp_path):
    from pitchey_analysis.net import free_port

    _, rec = await run_probe_only(f"ws://127.0.0.1:{free_port()}/ws", tmp_path)
    assert (rec["outcome"], rec["reason"]) == ("error", "connect_refused"), rec["detail"]


async def test_at_most_ten_sessions_against_someone_elses_deployment(make_server, run_one, monkeypatch):
    from pitchey_analysis.probes.base import ProbeContext

    monkeypatch.setattr(ProbeContext, "loopback", property(lambda self: False))
    srv = await make_server()
    rec = await run_one(PROBE, srv, options={"sustain_window_s": 1.0 / UNIT, "sustain_sessions": 12})
    assert rec["outcome"] == "pass", rec["detail"]
    assert '"sessions":10,' in rec["observed"] and '"sessions_asked":12' in rec["observed"]
    rec = await run_one(
        PROBE, srv, allow_disruptive=True, options={"sustain_window_s": 1.0 / UNIT, "sustain_sessions": 12}
    )
    assert '"sessions":12,' in rec["observed"] and "sessions_asked" not in rec["observed"]


# -- the decision, without sockets ----------------------------------------------
def _held(i: int, **kw) -> SessionFacts:
    base = dict(
        opened=True, connected=True, authenticated=True, subscribed=True, lifetime_s=5.1, pong=True, max_push_gap_s=1.0
    )
    return SessionFacts(i, **{**base, **kw})


def _judge(facts: list[SessionFacts]) -> Result:
    return judge(facts, window_s=5.0, push_timeout_s=3.0, channel="dashboard")


def test_judge_pass_needs_every_session():
    assert _judge([_held(i) for i in range(3)]).outcome == "pass"
    assert _judge([_held(0), _held(1, pong=False)]).reason == "no_answer"
    assert _judge([_held(0), _held(1, max_push_gap_s=4.0)]).reason == "missed_pushes"
    assert _judge([_held(0), SessionFacts(1, open_reason="upgrade_rejected")]).reason == "upgrade_rejected"


def test_judge_a_drop_outranks_everything_and_names_its_close():
    r = _judge(
        [
            _held(0, server_closed=True, close_code=1001, close_reason="Going away", lifetime_s=3.0),
            _held(1, pong=False),
            SessionFacts(2, open_reason="connect_timeout"),
        ]
    )
    assert (r.outcome, r.reason, r.close_code, r.close_reason) == ("fail", "session_dropped", 1001, "Going away")
    assert "after opening (median 3.00 s)" in r.detail


def test_judge_nothing_opened_is_never_a_pass():
    assert _judge([SessionFacts(i, open_reason="connect_refused") for i in range(2)]).outcome == "error"
    r = _judge([_held(i, connected=False, subscribed=False, pong=None, max_push_gap_s=None) for i in range(2)])
    assert (r.outcome, r.reason) == ("fail", "no_answer")


def test_push_gap():
    assert push_gap_s([1000.0, 2000.0, 2500.0], 0.0, 3000.0) == 1.0
    assert push_gap_s([], 500.0, 4000.0) == 3.5
