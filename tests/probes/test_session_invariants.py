"""Whole-run session-invariant probes in real (partial) runs of the suite, and their place in the plan."""

from __future__ import annotations

import asyncio
import json

import pytest

from pitchey_analysis.capture.dataset import load_run
from pitchey_analysis.probes import CATALOGUE, ProbeContext
from pitchey_analysis.probes.invariant_probes import judge
from pitchey_analysis.probes.invariants import RULE_NAMES, SessionTrace, Tally
from pitchey_analysis.runner import SuiteConfig, arun_suite, make_options, plan

SESSION_PROBES = [f"session.{r}" for r in RULE_NAMES]
SOME = [
    "connection.anonymous_connect",
    "auth.unknown_user",
    "messaging.invalid_json",
    "messaging.ping",
    "resilience.graceful_close",
]


def run(tmp_path, only, **server_options):
    cfg = SuiteConfig(suite="quick", options=make_options("quick"), only=only, progress=False)
    out = asyncio.run(arun_suite(suite="quick", out=tmp_path, config=cfg, server_options=server_options or None))
    probes = load_run(out).probes.set_index("probe")
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    return probes, [e for e in events if e.get("event") == "invariant_violation"]


def test_whole_run_probes_come_last_after_the_lockout_probes():
    ctx = ProbeContext(ws_url="ws://127.0.0.1:1/ws", http_url="http://127.0.0.1:1", recorder=None)
    names = [s.name for s, _ in plan("full", ctx)]
    assert names[-len(SESSION_PROBES) :] == SESSION_PROBES
    lockouts = [i for i, n in enumerate(names) if CATALOGUE[n].last]
    assert lockouts and max(lockouts) < names.index(SESSION_PROBES[0])


def test_critical_where_part_a_makes_it_a_must():
    assert {n for n in SESSION_PROBES if CATALOGUE[n].critical} == {
        "session.first_frame",
        "session.json_frames",
        "session.error_shape",
    }


def test_a_run_against_complete_passes_every_invariant_with_its_figures(tmp_path):
    probes, violations = run(tmp_path, [*SOME, "session"])
    assert violations == []
    for name in SESSION_PROBES:
        row = probes.loc[name]
        assert (row.outcome, row.reason) == ("pass", "ok"), row.detail
        observed = json.loads(row.observed)
        assert (
            observed["sessions_checked"] >= len(SOME) and observed["frames_checked"] > 0 and observed["violations"] == 0
        )
        assert f"{observed['sessions_checked']} sessions and {observed['frames_checked']} frames checked" in row.detail


def test_a_broken_invariant_is_recorded_with_rule_frame_and_position(tmp_path):
    probes, violations = run(tmp_path, [*SOME, "session"], disable=["connected_first"])
    row = probes.loc["session.first_frame"]
    assert (row.outcome, row.reason) == ("fail", "wrong_first_frame")
    assert probes.loc["session.json_frames"].outcome == "pass"
    first = [v for v in violations if v["rule"] == "first_frame"]
    assert first and first[0]["position"] == 0 and '"user_not_found"' in first[0]["frame"]
    assert first[0]["probe_id"].startswith("auth.unknown_user#")


def test_no_session_means_skip_not_pass(tmp_path):
    probes, _ = run(tmp_path, ["session"])
    assert set(probes.outcome) == {"skip"} and set(probes.reason) == {"no_sessions"}


@pytest.mark.parametrize(
    "rule,reason",
    [
        ("error_shape", "no_error_frames"),
        ("close_codes", "no_close_frames"),
        ("nothing_after_close", "no_server_close"),
    ],
)
def test_nothing_to_judge_for_a_rule_is_a_skip(rule, reason):
    tally = Tally()
    tally.check(SessionTrace(frames=[(0.0, {"type": "connected"})], complete=False))
    r = judge(tally, rule)
    assert (r.outcome, r.reason) == ("skip", reason)
    assert judge(tally, "first_frame").outcome == "pass"


def test_a_timed_connect_is_checked_on_its_first_frame(tmp_path):
    probes, _ = run(tmp_path, ["connection.anonymous_connect", "session"])
    observed = json.loads(probes.loc["session.first_frame"].observed)
    assert (observed["sessions_checked"], observed["partial_sessions"], observed["frames_checked"]) == (1, 1, 1)
    assert probes.loc["session.first_frame"].outcome == "pass"
    # Only the first frame was read: no close frame to judge, so no verdict on close codes.
    assert (probes.loc["session.close_codes"].outcome, probes.loc["session.close_codes"].reason) == (
        "skip",
        "no_close_frames",
    )
