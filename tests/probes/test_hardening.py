"""The hardening probes (issue 31): their pure parts, and none passes against a target that does nothing.

Their failing cases against the reference server with each protection switched off, and their passes against
``complete``, are in ``test_each_probe.py`` (CASES).
"""

from __future__ import annotations

import dataclasses
import json
import ssl

import pytest

from pitchey_analysis.contract import default_contract
from pitchey_analysis.contract.requests import subscribe_request
from pitchey_analysis.probes.hardening import (
    CHURN_BYTES,
    MAX_DEPTH,
    MIN_CHURN_BYTES,
    churn_channel,
    churn_plan,
    grace_s,
    handshake_deadline,
    judge_flood,
    judge_memory,
    nested_json,
    settled,
    subscription_channels,
)
from tests.conftest import SHORT
from tests.probes.badserver import BadServer, connected_then_silent
from tests.probes.test_each_probe import CONTEXT, _with_limits

HARDENING = (
    "resilience.nested_json",
    "readiness.control_frame_flood",
    "resilience.tls_handshake_stall",
    "resilience.keepalive_trickle",
    "readiness.login_throttle",
    "readiness.subscription_cap",
    "readiness.connection_cap",
)


def test_nested_json_is_valid_deep_and_inside_the_limit():
    text = nested_json(65536)
    assert len(text) < 65536 and text.count("[") == MAX_DEPTH
    small = nested_json(1000)
    assert len(small) <= 1000 - 64 and small.count("[") == small.count("]") > 400
    with pytest.raises(RecursionError):
        json.loads(text)  # what the probe exercises: a recursive parser's stack


def test_the_waits_follow_the_declared_deadline():
    assert grace_s(1.0) == 1.5 and grace_s(0.2) == pytest.approx(0.7) and grace_s(10) == 15
    assert handshake_deadline(default_contract()) == 1.0
    assert handshake_deadline(_with_limits(handshake={"seconds": 2.5})) == 2.5


def test_subscription_channels_come_from_the_contract():
    c = default_contract()
    assert subscription_channels(c, 3) == ["pitch:1", "pitch:2", "pitch:3"]
    example, kinds = subscribe_request(c) or ({}, set())
    assert example["type"] == "subscribe" and kinds == {"subscription_confirmed"}
    fixed = dataclasses.replace(c, channels={k: v for k, v in c.channels.items() if "{" not in k})
    assert subscription_channels(fixed, 65) == ["presence"]  # the only public channel without a pattern


def test_the_churn_fits_the_declared_limits():
    c = default_contract()
    plan = churn_plan(c)
    assert plan is not None
    # 64 KiB messages: kinds of 60 KiB; a burst of 120: 112 messages, a round trip and 16 subscriptions among them
    assert (plan.kind_bytes, plan.kinds, plan.subscriptions) == (60 * 1024, 95, 16)
    assert CHURN_BYTES <= plan.bytes < CHURN_BYTES + plan.kinds * plan.kind_bytes
    small = churn_plan(_with_limits(rate={"burst": 10, "refillPerSecond": 1}, subscriptions={"perSession": 1}))
    assert small is not None and (small.kinds, small.subscriptions, small.sessions) == (3, 1, 200)
    assert churn_plan(_with_limits(messageSize={"bytes": 1024})) is None  # no churn worth judging a gauge by
    assert churn_channel(c, "churn-ab-1-2") == "pitch:churn-ab-1-2"
    fixed = dataclasses.replace(c, channels={k: v for k, v in c.channels.items() if "{" not in k})
    assert churn_channel(fixed, "x") is None and churn_plan(fixed).subscriptions == 0  # type: ignore[union-attr]
    assert MIN_CHURN_BYTES < CHURN_BYTES


def test_the_memory_judgement():
    mib = 2**20
    assert settled([100 * mib, 101 * mib, 100 * mib]) and not settled([100 * mib, 104 * mib, 100 * mib])
    assert not settled([100 * mib, 100 * mib])  # too few readings
    assert settled([1000 * mib, 1005 * mib, 1008 * mib])  # within 1 % of a large figure
    assert judge_memory(100 * mib, [180 * mib, 170 * mib], 64 * mib) == (True, 70 * mib)
    assert judge_memory(100 * mib, [140 * mib, 110 * mib], 64 * mib) == (False, 10 * mib)  # the lowest once settled
    assert judge_memory(100 * mib, [90 * mib], 64 * mib) == (False, -10 * mib)


@pytest.mark.parametrize(
    "facts,outcome",
    [
        ({"pongs": 120, "limited": 3, "closed": True, "code": 1008}, ("pass", "ok")),
        ({"pongs": 160, "limited": 0, "closed": False, "code": None}, ("fail", "control_flood_unlimited")),
        ({"pongs": 120, "limited": 40, "closed": False, "code": None}, ("fail", "no_close")),
        ({"pongs": 120, "limited": 0, "closed": True, "code": 1006}, ("fail", "closed_1006")),
        ({"pongs": 0, "limited": 0, "closed": False, "code": None}, ("fail", "no_answer")),
        (
            {"pongs": 0, "limited": 0, "closed": True, "code": 1008, "reason": "Too many failed connection attempts"},
            ("skip", "locked_out"),
        ),
    ],
)
def test_judge_flood(facts, outcome):
    facts = {"reason": "Rate limit exceeded", **facts}
    r = judge_flood(sent=160, errors=facts["limited"], want=1008, err_code="rate_limited", took_s=0.1, **facts)
    assert (r.outcome, r.reason) == outcome, r.detail


def test_judge_flood_by_the_declared_close_alone():
    """A contract that declares no error frame for its rate limit (a close code is the whole answer): the detail
    names only what the contract declares, never an error of another protocol."""
    unlimited = judge_flood(
        sent=160,
        pongs=160,
        errors=0,
        limited=0,
        closed=False,
        code=None,
        reason=None,
        want=4008,
        err_code=None,
        took_s=None,
    )
    assert (unlimited.outcome, unlimited.reason) == ("fail", "control_flood_unlimited")
    assert "rate_limited" not in unlimited.detail and "no close 4008" in unlimited.detail, unlimited.detail
    limited = judge_flood(
        sent=160,
        pongs=120,
        errors=0,
        limited=0,
        closed=True,
        code=4008,
        reason="Rate limited",
        want=4008,
        err_code=None,
        took_s=0.2,
    )
    assert (limited.outcome, limited.reason) == ("pass", "ok") and "error" not in limited.detail, limited.detail


def _over(name: str) -> dict:
    make = CONTEXT.get(name)
    return make() if make is not None else {}


@pytest.mark.parametrize("name", HARDENING)
@pytest.mark.parametrize("silence", ["connected_then_silent", "answers_nothing"])
async def test_no_hardening_probe_passes_against_a_silent_target(run_one, name, silence):
    kw = {"behaviour": connected_then_silent} if silence == "connected_then_silent" else {"http_status": None}
    over = _over(name)
    async with BadServer(**kw) as b:
        if name == "resilience.tls_handshake_stall":
            b.ws_url = b.ws_url.replace("ws://", "wss://")  # a TLS target that never answers its handshake
            over["ssl_context"] = ssl.create_default_context()
        rec = await run_one(name, b, options={"scale": SHORT}, **over)
    assert rec["outcome"] != "pass", rec
    assert rec["reason"] != "probe_error", rec["detail"]  # a crash of the probe is no judgement
