"""Scenario stages change the rate, not only the connections."""

from __future__ import annotations

import numpy as np
import pytest

from pitchey_analysis import ReferenceServer
from pitchey_analysis.exceptions import UsageError
from pitchey_analysis.load import ShardSpec, run_shard
from pitchey_analysis.load.scenario import parse_scenario
from pitchey_analysis.load.spec import UserSpec


def test_a_stage_rate_scale_is_parsed_and_checked():
    sc = parse_scenario(
        "stages: [{connections: 4, duration_s: 1}, {connections: 4, duration_s: 1, rate_scale: 3}]\nusers: [{}]"
    )
    assert sc.stages == ((4, 1.0), (4, 1.0)) and sc.stage_rates == (1.0, 3.0)
    assert sc.describe()["stage_rates"] == [1.0, 3.0]
    assert parse_scenario("stages: [{connections: 4, duration_s: 1}]\nusers: [{}]").stage_rates == ()
    with pytest.raises(UsageError, match="rate_scale"):
        parse_scenario("stages: [{connections: 4, duration_s: 1, rate_scale: 0}]\nusers: [{}]")


def test_the_same_connections_send_faster_in_a_faster_stage():
    with ReferenceServer(disable=["rate_limit"]) as srv:
        r = run_shard(
            ShardSpec(
                url=srv.ws_url,
                connections=4,
                duration_s=0,
                users=(UserSpec(rate_per_s=10),),
                stages=((4, 1.5), (4, 1.5)),
                stage_rates=(1.0, 4.0),
            )
        )
    rtt = np.asarray(r.metric) == "rtt_ms"
    t = r.t_offset_s[rtt & r.ok]
    start = r.t_offset_s[np.asarray(r.metric) == "connect_ms"].max()
    first = np.sum((t >= start + 0.3) & (t < start + 1.3))  # a second inside each stage, away from its bounds
    second = np.sum((t >= start + 1.8) & (t < start + 2.8))
    assert r.errors == {} and first > 20, (first, second, r.errors)
    assert 2.5 < second / first < 6, (first, second)  # 4 connections at 10/s, then at 40/s
