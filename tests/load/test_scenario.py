"""Scenarios: parsing, and latency reported per operation type."""

from __future__ import annotations

import json

import pytest

from pitchey_analysis import ReferenceServer, load_run
from pitchey_analysis.exceptions import UsageError
from pitchey_analysis.load.capture import capture_load
from pitchey_analysis.load.options import LoadPlan
from pitchey_analysis.load.runner import _login
from pitchey_analysis.load.scenario import load_scenario, parse_scenario
from pitchey_analysis.runner import DEMO_USERS

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
        path = capture_load(
            LoadPlan(srv.ws_url, stages=sc.stages, duration_s=0, workers=0, settle_s=0.2),
            out=tmp_path,
            users=users,
            progress=False,
            manifest={"config": {"scenario": sc.describe()}},
        )
    run = load_run(path)
    ok = run.samples[run.samples["ok"] & run.samples["metric"].isin(["rtt_ms", "rtt_ms:get_dashboard_metrics"])]
    counts = ok.groupby("metric", observed=True).size()
    assert counts["rtt_ms"] > 30 and counts["rtt_ms:get_dashboard_metrics"] > 30, counts
    observed = json.loads(run.probes.iloc[0]["observed"])
    timed = run.samples[run.samples["metric"].astype(str).str.startswith("rtt_ms")]
    assert observed["errors"] == {} and observed["answered"] == len(timed) == int(
        timed["ok"].sum()
    )  # every sample kept
    assert observed["sent"] > observed["answered"]  # typing_start: sent, counted, never timed
    assert run.manifest["config"]["scenario"]["users"][0]["login"] == "creator"
    pushes = run.samples[run.samples["metric"] == "push_ms:dashboard_update"]  # the dashboard channel's pushes, timed
    assert len(pushes) >= 4 and pushes["value_ms"].between(-50, 1000).all()


def test_the_built_in_scenario_and_bad_ones():
    sc = load_scenario("default", duration_s=5, connections=10)
    assert sc.name == "dashboard" and {k for k in sc.logins if k} == {"creator", "investor"} and None in sc.logins
    for bad in (
        "users: []",
        "users: [{operations: [{weight: 1}]}]",
        "stages: [{connections: 0}]\nusers: [{}]",
        "users: [{rate_per_s: -1}]",
    ):
        with pytest.raises(UsageError):
            parse_scenario(bad, duration_s=1, connections=1)


def test_active_intervals_follow_the_stages():
    from pitchey_analysis.load.engine import active_intervals

    stages = ((2, 1.0), (6, 1.0), (2, 0.5), (6, 1.0))
    assert active_intervals(0, stages) == [(0.0, 3.5)]
    assert active_intervals(3, stages) == [(1.0, 2.0), (2.5, 3.5)]
    assert active_intervals(7, stages) == []


def test_a_continuous_ramp_joins_and_leaves_at_the_stage_bounds(tmp_path):
    from pitchey_analysis.analysis.soak import client_open_over_time
    from pitchey_analysis.capture.dataset import load_events

    sc = parse_scenario(
        "ramp: continuous\nstages: [{connections: 2, duration_s: 1}, {connections: 6, duration_s: 1.5}, "
        "{connections: 2, duration_s: 1}]\nusers: [{rate_per_s: 10}]"
    )
    with ReferenceServer(disable=["rate_limit"]) as srv:
        path = capture_load(
            LoadPlan(srv.ws_url, stages=sc.stages, ramp=sc.ramp, duration_s=0, workers=0, settle_s=0.2),
            out=tmp_path,
            users=sc.users,
            progress=False,
        )
    run = load_run(path)
    assert list(run.probes["probe"]) == ["load.ramp_6"]
    opened = client_open_over_time(load_events(run, "generator"))
    import itertools

    steps = [k for k, _ in itertools.groupby(opened["open"])]  # the open count, window after window
    nonzero = [k for k in steps if k]  # (a window may fall in the instant of joining or leaving)
    assert nonzero[0] == 2 and max(nonzero) == 6 and nonzero[-1] == 2 and steps[-1] == 0, opened.to_string()
    assert json.loads(run.probes.iloc[0]["observed"])["errors"] == {}


TICKER = __import__("pathlib").Path(__file__).resolve().parents[1] / "ticker" / "ticker.asyncapi.yaml"


def test_a_contract_says_which_operations_exist_and_what_answers_them():
    from pitchey_analysis.contract import load_contract
    from pitchey_analysis.load.scenario import contract_scenario

    ticker = load_contract(TICKER)
    sc = parse_scenario(
        "users: [{operations: [quote, {type: clock, weight: 2}]}]", duration_s=1, connections=1, contract=ticker
    )
    quote, clock = sc.users[0].operations
    assert (quote.answer, dict(quote.fields)) == (
        "price",
        {"symbol": "ACME"},
    )  # the answer and the example, from the contract
    assert (clock.answer, clock.fields) == ("time", ())
    for bad, why in (
        ("users: [{operations: [ping]}]", "no operation sending 'ping'"),
        ("users: [{login: creator, operations: [quote]}]", "logs in trader"),
        ("users: [{channels: [dashboard], operations: [quote]}]", "not a channel"),
    ):
        with pytest.raises(UsageError, match=why):
            parse_scenario(bad, duration_s=1, connections=1, contract=ticker)
    # made from the contract: anonymous visitors send what needs no login (the ticker's token is not ?token=)
    made = load_scenario(None, contract=ticker, duration_s=1, connections=1)
    assert [(u.name, [o.type for o in u.operations]) for u in made.users] == [("visitor", ["quote", "clock"])]
    assert [u.get("login") for u in contract_scenario(load_contract("pitchey"))["users"]] == ["creator", None]
    # Pitchey's contract gives the built-in scenario the answers it had before
    pitchey = load_scenario("default", contract=load_contract("pitchey"), duration_s=1, connections=1)
    plain = load_scenario("default", duration_s=1, connections=1)
    assert [[o.answer for o in u.operations] for u in pitchey.users] == [
        [o.answer for o in u.operations] for u in plain.users
    ]


async def test_load_logs_in_as_the_contract_says_and_carries_the_token_its_way(monkeypatch):
    """The ticker's login (POST /v1/session {login, secret}, the token at /access/jwt) by preflight's one login path,
    and its token on the upgrade as ``?access_token=``: an authenticated-only request is answered."""
    import asyncio

    from pitchey_analysis.contract import load_contract
    from pitchey_analysis.load import ShardSpec, run_shard
    from pitchey_analysis.load.plan import complete
    from pitchey_analysis.load.runner import _tokens
    from pitchey_analysis.probes import Credentials

    from ..ticker.server import TickerServer

    ticker = load_contract(TICKER)
    async with TickerServer() as t:
        token = await asyncio.to_thread(
            _login, t.http_url, Credentials("trader@ticker.test", "Ticker123", "trader"), ticker
        )
        assert token in t.tokens
        with pytest.raises(UsageError, match=r"failed \(401\)"):  # refused: said, never retried
            await asyncio.to_thread(_login, t.http_url, Credentials("trader@ticker.test", "wrong", "trader"), ticker)
        monkeypatch.setenv("PITCHEY_EMAIL", "trader@ticker.test")
        monkeypatch.setenv("PITCHEY_PASSWORD", "Ticker123")
        tokens = await asyncio.to_thread(_tokens, t.http_url, {"trader"}, False, ticker)
        sc = parse_scenario(
            "users: [{login: trader, rate_per_s: 20, operations: [portfolio]}]",
            duration_s=0.5,
            connections=2,
            contract=ticker,
        )
        spec = complete(ShardSpec(url=t.ws_url, connections=2, duration_s=0.5, users=sc.with_tokens(tokens)), ticker)
        assert spec.connects[0].url.endswith(f"?access_token={tokens['trader']}")
        r = await asyncio.to_thread(run_shard, spec)
    assert r.errors == {} and r.answered >= 10 and r.answered == r.sent, (r.errors, r.sent, r.answered)


async def test_cli_load_with_a_contract(tmp_path):
    """``load --contract``: the ticker loaded with the operations of its own contract (no Pitchey ping in sight); its
    round trip (``quote``, as the probe suite's liveness check takes it) is the run's ``rtt_ms``."""
    import asyncio
    import os
    import sys

    from ..ticker.server import TickerServer

    async with TickerServer() as t:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "pitchey_analysis",
            "load",
            "--target",
            t.ws_url,
            "--contract",
            str(TICKER),
            "--connections",
            "3",
            "--duration",
            "2",
            "--workers",
            "0",
            "--settle",
            "0.2",
            "--out",
            str(tmp_path),
            env={**os.environ, "PITCHEY_TIMEOUT_SCALE": "1"},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()[-800:]
    assert " round trips, p50" in out.decode() and " clock, p50" in out.decode() and "no errors" in out.decode()
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    run = load_run(run_dir)
    assert run.manifest["config"]["contract"]["name"] == "ticker"
    assert {"rtt_ms", "rtt_ms:clock"} <= set(run.samples["metric"].astype(str))
    assert [o["type"] for o in run.manifest["config"]["users"][0]["operations"]] == ["quote", "clock"]


def test_cli_load_refuses_what_the_contract_cannot_do(capsys):
    from pitchey_analysis.cli import main

    assert main(["load", "--contract", str(TICKER), "--connections", "1", "--duration", "1", "--workers", "0"]) == 2
    assert "serves the pitchey contract only" in capsys.readouterr().err
