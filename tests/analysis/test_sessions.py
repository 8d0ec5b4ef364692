"""Dropped sessions from samples and the probe record (pure), and their histogram."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import pandas as pd

from pitchey_analysis.analysis.sessions import dropped_sessions, session_lifetimes
from pitchey_analysis.report import figures


def _probes(
    outcome: str, reason: str, observed: dict, code: int | None = None, close_reason: str | None = None
) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "probe_id": "p1",
                "probe": "resilience.sustained_sessions",
                "attempt": 1,
                "started_at": pd.Timestamp("2026-11-29T21:00:00Z"),
                "outcome": outcome,
                "reason": reason,
                "observed": json.dumps(observed),
                "close_code": pd.array([code], dtype="Int64")[0],
                "close_reason": close_reason,
                "critical": True,
            }
        ]
    )


def _samples(values: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "probe_id": "p1",
            "metric": "session_lifetime_s",
            "value_ms": values,
            "t_offset_s": 0.0,
            "concurrency": len(values),
            "conn_index": range(len(values)),
            "ok": True,
        }
    )


def test_lifetimes_mark_the_sessions_the_server_closed():
    obs = {
        "sessions": 3,
        "dropped": 2,
        "window_s": 30.0,
        "close_codes": {"1001": 2},
        "drops": [[0, 1001, 2.9], [2, 1001, 3.1]],
    }
    probes, samples = _probes("fail", "session_dropped", obs, 1001, "Going away"), _samples([2.9, 30.2, 3.1])
    life = session_lifetimes(samples, probes)
    assert life["dropped"].tolist() == [True, False, True]
    assert life["close_code"].tolist()[0] == 1001 and pd.isna(life["close_code"].tolist()[1])
    d = dropped_sessions(samples, probes)
    assert d is not None and d.title() == "The service closes sessions after about 3 s"
    assert (d.dropped, d.sessions, d.close_code, d.close_reason) == (2, 3, 1001, "Going away")
    assert d.lifetime_min_s == 2.9 and d.lifetime_max_s == 3.1
    assert "2 of 3 sessions held idle for 30.0 s" in d.sentence()
    fig = figures.session_lifetimes(life, d.window_s)  # the figure drawn, not only returned
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["closed by the server (2)", "held to the end (1)"]
    assert ax.get_title() == "Session lifetimes (n = 3)" and [line.get_xdata()[0] for line in ax.lines] == [30.0]
    plt.close(fig)


def test_no_finding_when_the_probe_passed_or_did_not_run():
    assert dropped_sessions(_samples([30.1]), _probes("pass", "ok", {"sessions": 1})) is None
    assert dropped_sessions(_samples([1.0]), _probes("fail", "no_answer", {"sessions": 1})) is None
    empty = _probes("pass", "ok", {}).iloc[0:0]
    assert dropped_sessions(_samples([]), empty) is None
    assert session_lifetimes(_samples([]), empty).empty
    fig = figures.session_lifetimes(session_lifetimes(_samples([]), empty))
    assert [t.get_text() for t in fig.axes[0].texts] == ["no session lifetimes recorded"]
    plt.close(fig)


def test_immediate_closes_are_named_as_such():
    obs = {"sessions": 1, "dropped": 1, "window_s": 5.0, "close_codes": {"1008": 1}, "drops": [[0, 1008, 0.02]]}
    d = dropped_sessions(
        _samples([0.02]), _probes("fail", "session_dropped", obs, 1008, "Too many failed connection attempts")
    )
    assert d is not None and d.title() == "The service closes sessions right after they open"
