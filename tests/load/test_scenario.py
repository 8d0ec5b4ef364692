"""Scenarios: parsing, and latency reported per operation type."""

from __future__ import annotations

import json

import pytest

from pitchey_analysis import ReferenceServer, load_run
from pitchey_analysis.load.capture import capture_load
from pitchey_analysis.load.cli import _login
from pitchey_analysis.load.scenario import load_scenario, parse_scenario
from pitchey_analysis.suite import DEMO_USERS, UsageError

TWO_OPS = """
name: two-ops
stages: [{connections: 4, duration_s: 2}]
users:
  - name: creator
    login: creator
    rate_per_s: 20
    channels: [dashboard]
    operations:
      - {type: ping, weight: 1}
      - {type: get_dashboard_metrics, weight: 1}
      - {type: typing_start, weight: 0.2, answer: null}
"""


def test_a_scenario_with_two_operation_types_reports_latency_for_each(tmp_path):
    sc = parse_scenario(TWO_OPS)
    assert sc.stages == ((4, 2.0),) and sc.logins == ("creator",)
    assert [o.answer for o in sc.users[0].operations] == ["pong", "dashboard_metrics", None]
    with ReferenceServer(disable=["rate_limit"], dashboard_interval=0.3) as srv:
        users = sc.with_tokens({"creator": _login(srv.http_url, DEMO_USERS["creator"])})
        path = capture_load(srv.ws_url, out=tmp_path, levels=[], stages=list(sc.stages), duration_s=0, workers=0,
                            users=users, settle_s=0.2, progress=False, manifest={"config": {"scenario": sc.describe()}})
    run = load_run(path)
    ok = run.samples[run.samples["ok"] & run.samples["metric"].isin(["rtt_ms", "rtt_ms:get_dashboard_metrics"])]
    counts = ok.groupby("metric", observed=True).size()
    assert counts["rtt_ms"] > 30 and counts["rtt_ms:get_dashboard_metrics"] > 30, counts
    observed = json.loads(run.probes.iloc[0]["observed"])
    timed = run.samples[run.samples["metric"].astype(str).str.startswith("rtt_ms")]
    assert observed["errors"] == {} and observed["answered"] == len(timed) == int(timed["ok"].sum())  # every sample kept
    assert observed["sent"] > observed["answered"]  # typing_start: sent, counted, never timed
    assert run.manifest["config"]["scenario"]["users"][0]["login"] == "creator"
    pushes = run.samples[run.samples["metric"] == "push_ms:dashboard_update"]  # the dashboard channel's pushes, timed
    assert len(pushes) >= 4 and pushes["value_ms"].between(-50, 1000).all()


def test_the_built_in_scenario_and_bad_ones():
    sc = load_scenario("default", duration_s=5, connections=10)
    assert sc.name == "dashboard" and {k for k in sc.logins if k} == {"creator", "investor"} and None in sc.logins
    for bad in ("users: []", "users: [{operations: [{weight: 1}]}]", "stages: [{connections: 0}]\nusers: [{}]",
                "users: [{rate_per_s: -1}]"):
        with pytest.raises(UsageError):
            parse_scenario(bad, duration_s=1, connections=1)
