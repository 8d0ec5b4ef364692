"""Rates, SLO status, tables and the verdict on small hand-made DataFrames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pitchey_analysis.analysis import (
    WEIGHTS,
    category_rates,
    compare_latency,
    compare_outcomes,
    compare_rates,
    issues,
    message_type_support,
    overall_score,
    slo_checks,
    verdict,
)
from pitchey_analysis.capture.records import frame_from_rows


def probes(rows):
    base = {
        "run_id": "r",
        "attempt": 1,
        "started_at": "2026-01-01T00:00:00+00:00",
        "duration_ms": 1.0,
        "detail": "d",
        "expected": "e",
        "observed": None,
        "close_code": None,
        "close_reason": None,
    }
    return frame_from_rows(
        "probes",
        [
            {
                **base,
                "probe_id": f"{r[0]}#1",
                "probe": r[0],
                "category": r[1],
                "outcome": r[2],
                "reason": r[3],
                "critical": r[4],
            }
            for r in rows
        ],
    )


def samples(metric, values, probe_id, concurrency=1, ok=True):
    return frame_from_rows(
        "samples",
        [
            {
                "run_id": "r",
                "probe_id": probe_id,
                "metric": metric,
                "value_ms": v,
                "t_offset_s": 0.0,
                "concurrency": concurrency,
                "conn_index": i,
                "ok": ok,
            }
            for i, v in enumerate(values)
        ],
    )


P = probes(
    [
        ("connection.health", "connection", "pass", "ok", True),
        ("connection.login", "connection", "fail", "login_failed", True),
        ("messaging.ping", "messaging", "pass", "ok", True),
        ("messaging.typing", "messaging", "skip", "no_credentials", False),
        ("performance.connect_time", "performance", "pass", "ok", False),
        ("performance.round_trip", "performance", "pass", "ok", False),
        ("performance.concurrency_ramp", "performance", "pass", "ok", False),
    ]
)


def test_category_rates_leave_skips_out():
    r = category_rates(P).set_index("category")
    assert (r.loc["connection", "passed"], r.loc["connection", "judged"], r.loc["connection", "rate"]) == (1, 2, 0.5)
    assert (r.loc["messaging", "judged"], r.loc["messaging", "skipped"], r.loc["messaging", "rate"]) == (1, 1, 1.0)
    assert r.loc["overall", "judged"] == 6
    assert np.isnan(r.loc["readiness", "rate"])


def test_overall_score_is_the_documented_weighting():
    r = category_rates(P)
    w = WEIGHTS
    expected = (w["connection"] * 0.5 + w["messaging"] * 1 + w["performance"] * 1) / (
        w["connection"] + w["messaging"] + w["performance"]
    )
    assert overall_score(r) == pytest.approx(expected)
    assert sum(WEIGHTS.values()) == pytest.approx(1.0)


def _slo(connect, rtt, level_ok, tls=False):
    s = pd.concat(
        [
            samples("connect_ms", connect, "performance.connect_time#1"),
            samples("rtt_ms", rtt, "performance.round_trip#1"),
            samples("rtt_ms", [1.0] * len(level_ok), "performance.concurrency_ramp#1", concurrency=100).assign(
                ok=level_ok
            ),
        ],
        ignore_index=True,
    )
    return slo_checks(s, P, tls=tls).set_index("target")


def test_slo_met_missed_not_verified():
    s = _slo(np.linspace(1, 20, 100), np.linspace(60, 80, 400), [True] * 100)
    assert s.loc["connection time p95", "status"] == "met"
    assert s.loc["message round trip p95", "status"] == "missed"
    assert s.loc["TLS handshake p95", "status"] == "not applicable"
    assert s.loc["concurrency", "status"] == "met"
    s = _slo(np.linspace(1, 20, 50), np.linspace(1, 2, 400), [True] * 90 + [False] * 10)
    assert (
        s.loc["connection time p95", "status"] == "not verified" and "too few" in s.loc["connection time p95", "note"]
    )
    assert s.loc["concurrency", "status"] == "missed"
    s = _slo(np.linspace(1, 20, 100), np.linspace(1, 2, 400), [True] * 97 + [False] * 3)
    assert s.loc["concurrency", "status"] == "not verified"  # 97%: interval straddles 95%


def slo_frame(statuses):
    return pd.DataFrame([{"target": f"t{i}", "status": s, "note": ""} for i, s in enumerate(statuses)])


@pytest.mark.parametrize(
    "rows,slo,want",
    [
        ([("a", "connection", "fail", "x", True)], ["met"], "NOT READY"),
        ([("a", "connection", "error", "x", True)], ["met"], "NOT READY"),
        ([("a", "connection", "pass", "ok", True)], ["missed"], "NOT READY"),
        ([("a", "connection", "skip", "x", True)], ["met"], "INSUFFICIENT EVIDENCE"),
        ([("a", "connection", "pass", "ok", True)], ["not verified"], "INSUFFICIENT EVIDENCE"),
        (
            [("a", "connection", "pass", "ok", True), ("b", "messaging", "fail", "x", False)],
            ["met"],
            "READY WITH RISKS",
        ),
        (
            [("a", "connection", "pass", "ok", True), ("b", "messaging", "skip", "x", False)],
            ["met", "not applicable"],
            "READY",
        ),
        # rule order: a critical failure beats a gap in the evidence
        (
            [("a", "connection", "fail", "x", True), ("b", "connection", "skip", "x", True)],
            ["not verified"],
            "NOT READY",
        ),
    ],
)
def test_verdict_rules_in_order(rows, slo, want):
    v = verdict(probes(rows), slo_frame(slo))
    assert v.verdict == want
    if want != "READY":
        assert len(v.reasons) >= 1 and set(v.reasons["rule"]) == {v.rule}


def test_a_verdict_keeps_its_gaps_whichever_rule_decided():
    """A target missed decides NOT READY (rule 1); the critical probe skipped beside it is still a gap in the
    evidence, which the exit policy reads (missing evidence is not a pass)."""
    v = verdict(probes([("a", "connection", "skip", "x", True)]), slo_frame(["missed"]))
    assert v.verdict == "NOT READY" and v.rule == 1
    assert v.gaps == ["a"]
    clean = verdict(probes([("a", "connection", "pass", "ok", True)]), slo_frame(["missed"]))
    assert clean.verdict == "NOT READY" and clean.gaps == []


def test_message_type_support_levels():
    p = probes(
        [
            ("messaging.ping", "messaging", "fail", "wrong_answer", True),
            ("messaging.subscribe", "messaging", "fail", "no_answer", True),
            ("messaging.unsubscribe", "messaging", "pass", "ok", False),
        ]
    )
    mt = message_type_support(p).set_index("probe")
    assert mt.loc["messaging.ping", "support"] == "partial"
    assert mt.loc["messaging.subscribe", "support"] == "missing"
    assert mt.loc["messaging.unsubscribe", "support"] == "full"
    assert mt.loc["messaging.typing", "support"] == "not tested"


def test_issues_grouped_by_reason():
    p = probes(
        [
            ("a", "connection", "fail", "no_answer", False),
            ("b", "messaging", "fail", "no_answer", True),
            ("c", "messaging", "fail", "wrong_answer", False),
            ("d", "messaging", "pass", "ok", True),
        ]
    )
    i = issues(p).set_index("reason")
    assert i.loc["no_answer", "count"] == 2 and i.loc["no_answer", "impact"] == "critical"
    assert i.loc["no_answer", "probes"] == "a, b"
    assert i.loc["wrong_answer", "impact"] == "non-critical"
    assert list(issues(p)["reason"]) == ["no_answer", "wrong_answer"]  # critical first


def test_compare_flags_only_significant_changes():
    a = probes([(f"p{i}", "connection", "pass", "ok", True) for i in range(40)])
    b = probes([(f"p{i}", "connection", "pass" if i < 20 else "fail", "ok", True) for i in range(40)])
    c = compare_rates(a, b).set_index("category")
    assert c.loc["connection", "change"] == pytest.approx(-0.5) and c.loc["connection", "significant"]
    same = compare_rates(a, a).set_index("category")
    assert not same.loc["connection", "significant"]
    fast = samples("rtt_ms", np.linspace(1, 2, 500), "x")
    slow = samples("rtt_ms", np.linspace(3, 4, 500), "x")
    lat = compare_latency(fast, slow).set_index(["metric", "percentile"])
    assert lat.loc[("rtt_ms", "p95"), "significant"] and lat.loc[("rtt_ms", "p95"), "direction"] == "slower"
    assert not compare_latency(fast, fast).set_index(["metric", "percentile"]).loc[("rtt_ms", "p50"), "significant"]


def test_compare_leaves_out_probes_skipped_in_one_run():
    """Gains that come from probes skipped in one run are no change: A skipped 30 probes B passes."""
    a = probes(
        [
            (f"p{i}", "connection", "pass" if i < 10 else "skip", "ok" if i < 10 else "no_credentials", True)
            for i in range(40)
        ]
        + [("q", "connection", "fail", "no_answer", True)]
    )
    b = probes(
        [(f"p{i}", "connection", "pass", "ok", True) for i in range(40)]
        + [("q", "connection", "fail", "no_answer", True)]
    )
    c = compare_rates(a, b).set_index("category")
    assert not c.loc["connection", "significant"] and c.loc["connection", "change"] == pytest.approx(0)
    assert c.loc["connection", "compared"] == 11 and c.loc["connection", "only_b"] == 30


def test_compare_outcomes_name_what_changed():
    a = probes(
        [
            ("x", "connection", "fail", "no_answer", True),
            ("y", "connection", "fail", "no_answer", True),
            ("z", "connection", "pass", "ok", True),
            ("w", "connection", "skip", "no_credentials", True),
        ]
    )
    b = probes(
        [
            ("x", "connection", "pass", "ok", True),
            ("y", "connection", "pass", "ok", True),
            ("z", "connection", "fail", "no_answer", True),
            ("w", "connection", "pass", "ok", True),
        ]
    )
    b.loc[b["probe"] == "x", "observed"] = "HTTP 401 {error}"
    ch = compare_outcomes(a, b).set_index("probe")["change"]
    assert ch["x"] == "fixed"
    assert ch["y"].startswith("pass without recorded evidence")  # a vacuous fail -> pass is not an improvement
    assert ch["z"] == "broke" and ch["w"].startswith("judged in B only")


def test_compare_latency_names_no_change_of_no_size():
    a = samples("rtt_ms", np.full(400, 0.098) + np.linspace(0, 1e-4, 400), "x")
    b = samples("rtt_ms", np.full(400, 0.101) + np.linspace(0, 1e-4, 400), "x")
    row = compare_latency(a, b).set_index(["metric", "percentile"]).loc[("rtt_ms", "p95")]
    assert row["significant"] and row["direction"] == "significant, too small to matter"


def test_compare_warns_when_contracts_differ():
    from pitchey_analysis.analysis.compare import contracts_differ

    m = {"contract": {"name": "pitchey", "sha256": "a" * 64}}
    assert contracts_differ(m, m) is None and contracts_differ({}, m) is None
    assert "different contracts" in contracts_differ(m, {"contract": {"name": "ticker", "sha256": "b" * 64}})
    assert "sha256" in contracts_differ(m, {"contract": {"name": "pitchey", "sha256": "c" * 64}})
