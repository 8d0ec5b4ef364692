"""No pass without its observation (issue 25, part 4), checked mechanically over the whole catalogue.

Every probe declares the fields of its observation a pass must carry (``@probe(..., evidence=...)``); the runner
holds every pass to them (``ProbeSpec.fn``): a pass whose declared counts are missing or 0 is recorded as a skip
``no_evidence``. The known cases: ``auth.unknown_user`` passing while the session was closed 1011, and
``resilience.sustained_sessions`` passing with no subscription, no push or no authenticated session.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from pitchey_analysis.capture.recorder import Recorder
from pitchey_analysis.contract import contract_from_text, default_contract, load_contract
from pitchey_analysis.probes import CATALOGUE, ProbeContext, ProbeSpec, Result
from pitchey_analysis.probes.base import Evidence, held_to_evidence, lacking
from pitchey_analysis.probes.generated import specs_for
from pitchey_analysis.probes.sustained import SessionFacts, judge
from pitchey_analysis.runner import make_options, run_probe
from tests.probes.badserver import CONNECTED, BadServer, close, text

SHAPES = Path(__file__).resolve().parents[1] / "shapes"
TICKER = Path(__file__).resolve().parents[1] / "ticker"


def _catalogues() -> list[ProbeSpec]:
    """Every catalogue entry, and the generated probes of every contract the tests judge services by."""
    specs = {s.name: s for s in CATALOGUE.values()}
    contracts = [
        default_contract(),
        *(load_contract(p) for p in sorted(SHAPES.glob("*.asyncapi.yaml"))),
        *(load_contract(p) for p in sorted(TICKER.glob("*.asyncapi.*"))),
    ]
    for c in contracts:
        for s in specs_for(c):
            specs.setdefault(f"{c.name}:{s.name}", s)
    return list(specs.values())


def _emptied(spec: ProbeSpec) -> list[dict]:
    """Observations a probe could produce without observing anything: none, empty, its declared fields at 0 or empty,
    and with every plan its conditional fields name set (what it set out to do) but nothing seen."""
    zeros = {f: 0 for e in spec.evidence for f in e.field.split("|")}
    plans = {e.when: True for e in spec.evidence if e.when}
    empties: tuple[object, ...] = ([], {}, "", None, False)
    return [{}, zeros, {**zeros, **plans}, {f: empties[i % len(empties)] for i, f in enumerate(zeros)}]


@pytest.mark.parametrize("spec", _catalogues(), ids=lambda s: s.name)
def test_no_probe_can_pass_with_an_empty_evidence_record(spec):
    assert spec.evidence, f"{spec.name} declares no evidence: a pass of it could carry nothing"
    for observed in (None, *_emptied(spec)):
        r = held_to_evidence(spec.evidence, Result.ok("looked fine", observed))
        assert (r.outcome, r.reason) == ("skip", "no_evidence"), (spec.name, observed)


def test_the_rule_is_pure_and_keeps_what_was_seen():
    ev = (Evidence("opened"), Evidence("subscribed", when="channel"), Evidence("first_frame|status"))
    assert lacking(ev, {"opened": 3, "status": 403}) == []
    assert lacking(ev, {"opened": 3, "status": 403, "channel": "dashboard", "subscribed": 0}) == ["subscribed"]
    assert lacking(ev, {"opened": 0, "first_frame": {}, "channel": None}) == ["opened", "first_frame|status"]
    failed = Result.fail("no_answer", "nothing", {})
    assert held_to_evidence(ev, failed) is failed  # only a pass is held to its evidence
    r = held_to_evidence(ev, Result.ok("held", {"opened": 2, "channel": "dashboard", "subscribed": 0, "status": 200}))
    assert (r.outcome, r.reason) == ("skip", "no_evidence") and "subscribed" in r.detail and "'held'" in r.detail
    assert r.observed["opened"] == 2  # the observation is kept as it was


async def test_the_runner_records_a_pass_without_its_observation_as_a_skip(tmp_path):
    async def passes_on_nothing(ctx: ProbeContext) -> Result:
        return Result.ok("all good")

    rec = Recorder(tmp_path / "runs", {"test": "evidence"})
    ctx = ProbeContext(
        ws_url="ws://127.0.0.1:9/ws", http_url="http://127.0.0.1:9", recorder=rec, options=make_options("quick")
    )
    try:
        spec = ProbeSpec("t.empty", "connection", True, "-", passes_on_nothing, evidence=(Evidence("answer"),))
        record = await run_probe(spec, ctx, rec)
        plain = await run_probe(ProbeSpec("t.undeclared", "connection", True, "-", passes_on_nothing), ctx, rec)
    finally:
        rec.close()
    assert (record["outcome"], record["reason"]) == ("skip", "no_evidence"), record
    assert (plain["outcome"], plain["reason"]) == ("pass", "ok")  # outside the catalogue, nothing declared: as written


# -- the known cases ---------------------------------------------------------------------------
def _contract_without_user_not_found():
    """The shipped contract as another service's might read: no userNotFound code to compare."""
    doc = copy.deepcopy(default_contract().document)
    del doc["x-readiness"]["errors"]["userNotFound"]
    return contract_from_text(yaml.safe_dump(doc), name="no-user-not-found")


async def _anonymous_then_internal_error(reader, writer):
    """'connected' (anonymous), an error frame without a code, then close 1011: the session was not kept."""
    writer.write(text(CONNECTED) + text({"type": "error", "message": "internal error"}) + close(1011, "User not found"))
    await writer.drain()


async def test_unknown_user_closed_1011_is_not_a_pass(make_server, run_one):
    # a contract naming no userNotFound code once let this pass as "None, session anonymous": nothing was compared
    async with BadServer(_anonymous_then_internal_error) as b:
        rec = await run_one("auth.unknown_user", b, contract=_contract_without_user_not_found(), jwt_secret="k" * 40)
    assert (rec["outcome"], rec["reason"], rec["close_code"]) == ("fail", "closed_1011", 1011), rec
    srv = await make_server()
    rec = await run_one("auth.unknown_user", srv, contract=_contract_without_user_not_found())
    assert (rec["outcome"], rec["reason"]) == ("pass", "ok"), rec
    assert '"open_after_s":' in rec["observed"] and '"expected_code":null' in rec["observed"]


def _facts(n: int, **kw) -> list[SessionFacts]:
    return [SessionFacts(i, opened=True, connected=True, pong=True, lifetime_s=3.0, **kw) for i in range(n)]


@pytest.mark.parametrize(
    "what,facts,plan",
    [
        ("no subscription", _facts(5, authenticated=True), {"credential": True}),
        ("no push", _facts(5, authenticated=True, subscribed=True), {"credential": True}),
        ("no authenticated session", _facts(5, subscribed=True, pushes=3), {"credential": True}),
        (
            "no ping answered",
            [
                SessionFacts(i, opened=True, connected=True, pong=None, subscribed=True, authenticated=True, pushes=2)
                for i in range(5)
            ],
            {"credential": True},
        ),
    ],
)
def test_sustained_sessions_without_their_observation_do_not_pass(what, facts, plan):
    r = judge(facts, window_s=30.0, push_timeout_s=7.0, channel="dashboard", push_type="dashboard_update", **plan)
    assert r.outcome == "pass"  # the judgement alone found nothing wrong ...
    held = held_to_evidence(CATALOGUE["resilience.sustained_sessions"].evidence, r)
    assert (held.outcome, held.reason) == ("skip", "no_evidence"), what  # ... but saw nothing to judge


def test_sustained_sessions_owe_only_what_they_set_out_to_see():
    # anonymous sessions on a channel without interval pushes (no credential given): held and pinged is the evidence
    r = judge(
        [SessionFacts(i, opened=True, connected=True, pong=True, subscribed=True, lifetime_s=3.0) for i in range(3)],
        window_s=3.0,
        push_timeout_s=1.2,
        channel="pitch:1",
        push_type=None,
        credential=False,
    )
    assert held_to_evidence(CATALOGUE["resilience.sustained_sessions"].evidence, r).outcome == "pass"


async def test_sustained_sessions_unsubscribed_against_a_server_are_no_pass(make_server, run_one):
    from tests.conftest import UNIT

    srv = await make_server(disable=["answer_subscribe"], dashboard_interval=0.3)
    rec = await run_one(
        "resilience.sustained_sessions",
        srv,
        options={"sustain_window_s": 1.5 / UNIT, "sustain_sessions": 3, "scale": UNIT},
    )
    assert (rec["outcome"], rec["reason"]) == ("skip", "no_evidence"), rec
    assert '"subscribed":0' in rec["observed"] and "subscribed" in rec["detail"]
