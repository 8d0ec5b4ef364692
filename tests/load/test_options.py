"""The load plan: the user's choices checked once, the levels they make, and the manifest's record of them."""

from __future__ import annotations

import dataclasses
import json

import pytest

from pitchey_analysis.exceptions import UsageError
from pitchey_analysis.load import Level, LoadPlan
from pitchey_analysis.load.spec import ECHO_PING, ShardSpec

#: ``config`` of ``pitchey-analysis load --connections 50 --duration 3 --workers 1`` as main wrote it before the plan
#: (commit d2e637e), less what is not the plan's: the contract, ``token_supplied`` and ``users``
CLI_RUN_CONFIG = {
    "cafile": None,
    "insecure": False,
    "levels": [50],
    "stages": None,
    "stage_rates": None,
    "ramp": False,
    "duration_s": 3.0,
    "model": "open",
    "rate_per_conn": 1.0,
    "workers": 1,
    "scheduler": None,
    "settle_s": 2.0,
    "poll_s": 1.0,
    "source_addresses": [],
    "lag_bound_ms": 50.0,
    "saturated_share_max": 0.1,
    "shard": {"flush_s": 0.5, "lag_probe_s": 0.01, "late_bound_s": 0.05, "drop_after_s": 1.0, "answer_timeout": 10.0},
}
#: ``config`` of ``capture_load(url, levels=[], stages=[(2, 0.3), (4, 0.3)], stage_rates=[1.0, 2.0], ramp=True,
#: duration_s=0, workers=0, settle_s=0.1, poll_s=0.2, source_addresses=("127.0.0.2",), flush_s=0.25, answer_timeout=5.0,
#: lag_bound_ms=40.0, max_share=0.2)`` as main wrote it (commit d2e637e), less the caller's ``manifest`` and the users
LIBRARY_RUN_CONFIG = {
    "levels": [],
    "stages": [[2, 0.3], [4, 0.3]],
    "stage_rates": [1.0, 2.0],
    "ramp": True,
    "duration_s": 0,
    "model": "open",
    "rate_per_conn": 1.0,
    "workers": 0,
    "scheduler": None,
    "settle_s": 0.1,
    "poll_s": 0.2,
    "source_addresses": ["127.0.0.2"],
    "lag_bound_ms": 40.0,
    "saturated_share_max": 0.2,
    "shard": {"flush_s": 0.25, "lag_probe_s": 0.01, "late_bound_s": 0.05, "drop_after_s": 1.0, "answer_timeout": 5.0},
}


def test_the_record_is_what_runs_recorded_before_the_plan():
    """Old runs and new read the same: the keys and values of ``config`` are those main wrote for the same options (a
    run made from Python now records its TLS options too, as the command's runs always did)."""
    cli = LoadPlan("ws://127.0.0.1:8080/ws", levels=(50,), duration_s=3.0, workers=1)
    assert cli.manifest_record() == CLI_RUN_CONFIG
    lib = LoadPlan(
        "ws://127.0.0.1:8080/ws",
        stages=[(2, 0.3), (4, 0.3)],
        stage_rates=[1.0, 2.0],
        ramp=True,  # type: ignore[arg-type]
        duration_s=0,
        workers=0,
        settle_s=0.1,
        poll_s=0.2,
        source_addresses=("127.0.0.2",),
        flush_s=0.25,
        answer_timeout=5.0,
        lag_bound_ms=40.0,
        max_share=0.2,
    )
    assert lib.manifest_record() == {"cafile": None, "insecure": False, **LIBRARY_RUN_CONFIG}
    assert (
        json.loads(json.dumps(lib.manifest_record())) == lib.manifest_record()
    )  # JSON values: what a reader gets back


def test_the_plan_holds_no_secret_and_the_shards_defaults():
    """Tokens travel beside the plan (the admin token, the users'), never in it nor in its record; its shard
    options default to the shard's own defaults."""
    names = {f.name for f in dataclasses.fields(LoadPlan)}
    assert not {n for n in names if "token" in n or "password" in n}
    for name in names & {f.name for f in dataclasses.fields(ShardSpec)} - {
        "url",
        "duration_s",
        "stages",
        "stage_rates",
    }:
        assert getattr(LoadPlan("ws://h/", levels=(1,)), name) == getattr(ShardSpec, name), name


def test_the_plan_is_frozen_and_its_sequences_are_tuples():
    plan = LoadPlan("ws://h/", levels=[1, 2], stages=[[3, 1.0]], stage_rates=[2], source_addresses=["127.0.0.2"])  # type: ignore[arg-type]
    assert (plan.levels, plan.stages, plan.stage_rates, plan.source_addresses) == (
        (1, 2),
        ((3, 1.0),),
        (2,),
        ("127.0.0.2",),
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.workers = 3  # type: ignore[misc]
    assert hash(plan) == hash(dataclasses.replace(plan))


@pytest.mark.parametrize(
    "options, message",
    [
        ({"levels": (0,)}, "--connections must be at least 1"),
        ({"levels": (5, 0)}, "--levels must be at least 1 each"),
        ({"levels": (5,), "duration_s": 0}, "--duration must be positive"),
        ({"levels": (5,), "rate_per_conn": -1}, "--rate must be 0 (closed model) or positive"),
        ({"levels": (5,), "workers": -1}, "--workers must be 0 (in this process) or more"),
        ({"levels": (5,), "settle_s": -1}, "--settle must be 0 or more"),
        (
            {"levels": (5,), "source_addresses": ("localhost",)},
            "--source-address: source address 'localhost' is not an IP address",
        ),
        (
            {"levels": (5,), "source_addresses": ("::1",)},
            "--source-address: source address ::1 is IPv6 but the target 127.0.0.1 is IPv4",
        ),
        ({"levels": (5,), "model": "burst"}, "the model must be one of open, closed, hold, not 'burst'"),
        ({"stages": ((5, 1.0),), "stage_rates": (1.0, 2.0)}, "2 stage rates for 1 stages"),
        ({"levels": (5,), "stage_rates": (1.0,)}, "1 stage rates for 0 stages"),
        ({}, "no level to run: give levels or stages"),
        (
            {"levels": (5,), "url": "http://127.0.0.1:9/"},
            "malformed target URL 'http://127.0.0.1:9/': expected ws://host:port/path",
        ),
        ({"levels": (10**9,), "workers": 1}, "connections a worker, and a worker may open"),
    ],
)
def test_a_plan_that_cannot_work_is_refused_with_the_commands_words(options, message):
    with pytest.raises(UsageError) as exc:
        LoadPlan(**{"url": "ws://127.0.0.1:9/ws", **options})
    assert message in str(exc.value)


def test_every_problem_is_said_at_once_and_a_scheduler_lifts_the_local_files_limit():
    with pytest.raises(UsageError) as exc:
        LoadPlan("ws://127.0.0.1:9/ws", levels=(5,), duration_s=-1, workers=-2)
    assert str(exc.value) == "--duration must be positive; --workers must be 0 (in this process) or more"
    assert LoadPlan("ws://127.0.0.1:9/ws", levels=(10**9,), scheduler="tcp://elsewhere:8786").levels == (10**9,)
    assert LoadPlan("ws://h/", stages=((2, 1.0),), duration_s=0).duration_s == 0  # stages give the durations


def test_the_schedule_runs_levels_stages_or_one_ramp():
    plan = LoadPlan("ws://h/", levels=(10, 20), duration_s=3.0, ping=ECHO_PING)
    assert plan.schedule() == (Level(10, 3.0), Level(20, 3.0))
    assert [lv.name for lv in plan.schedule()] == ["load.level_10", "load.level_20"]
    stages = LoadPlan("ws://h/", levels=(10,), stages=((4, 1.0), (8, 2.0)), stage_rates=(1.0, 3.0))
    assert stages.schedule() == (Level(4, 1.0, rate_scale=1.0), Level(8, 2.0, rate_scale=3.0))
    ramp = dataclasses.replace(stages, ramp=True)
    assert ramp.schedule() == (Level(8, 3.0, "load.ramp", ((4, 1.0), (8, 2.0)), (1.0, 3.0)),)
    assert ramp.schedule()[0].name == "load.ramp_8"


def test_run_load_runs_one_level_and_says_so_when_the_plan_has_more():
    from pitchey_analysis.load import run_load

    with pytest.raises(UsageError, match="the plan has 2 levels: run_load runs one of them"):
        run_load(LoadPlan("ws://127.0.0.1:9/ws", levels=(1, 2), workers=0), progress=False)
