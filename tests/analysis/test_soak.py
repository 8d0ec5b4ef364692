"""Soak statistics on synthetic series: drift with an interval, windows, saturation, session leaks."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pitchey_analysis.analysis.slo import slo_checks
from pitchey_analysis.analysis.soak import (
    analyze_soak,
    drift,
    generator_saturation,
    latency_drift,
    load_targets,
    session_findings,
    windowed_percentiles,
)

RNG = np.random.default_rng(7)


def _samples(minutes: int, level, per_min: int = 400) -> pd.DataFrame:
    t = np.concatenate([m * 60 + RNG.uniform(0, 60, per_min) for m in range(minutes)])
    v = np.concatenate([level(m) + RNG.exponential(2.0, per_min) for m in range(minutes)])
    return pd.DataFrame({"metric": "rtt_ms", "value_ms": v, "t_offset_s": t, "ok": True})


def test_a_growing_delay_drifts_and_a_flat_one_does_not():
    growing = latency_drift(_samples(30, lambda m: 5 + 0.5 * m))  # +15 ms over 30 minutes
    flat = latency_drift(_samples(30, lambda m: 5.0))
    g, f = growing.iloc[0], flat.iloc[0]
    assert g["status"] == "drifting" and g["lo"] > 0 and abs(g["slope_per_s"] * 60 - 0.5) < 0.15
    assert f["status"] == "flat" and f["lo"] <= f["slope_per_s"] <= f["hi"]
    assert drift(np.arange(3.0), np.arange(3.0)).status == "not verified"


def test_a_tiny_significant_trend_is_not_called_drift():
    t = np.arange(60.0) * 60
    d = drift(t, 10 + 1e-5 * t + RNG.normal(0, 1e-4, 60))  # interval above zero, 0.04 ms over an hour
    assert d.lo > 0 and d.status == "flat"


def test_windowed_percentiles_have_intervals_per_window_and_metric():
    s = pd.concat(
        [_samples(3, lambda m: 5.0), _samples(3, lambda m: 9.0).assign(metric="rtt_ms:get_dashboard_metrics")]
    )
    w = windowed_percentiles(s, 60.0, (0.5, 0.95))
    assert set(w["metric"]) == {"rtt_ms", "rtt_ms:get_dashboard_metrics"} and sorted(set(w["window"])) == [0, 1, 2]
    assert (w["n"] == 400).all() and ((w["lo"] <= w["estimate"]) & (w["estimate"] <= w["hi"])).all()


def _windows(n: int, lagging: int) -> pd.DataFrame:
    lag = np.r_[np.full(lagging, 120.0), np.full(n - lagging, 3.0)]
    return pd.DataFrame(
        {
            "shard": 0,
            "t_offset_s": np.arange(n) * 0.5,
            "open": 10,
            "lag_max_ms": lag,
            "cpu_share": 0.3,
            "sent": 100,
            "late": np.where(lag > 50, 40, 0),
            "dropped": 0,
        }
    )


def test_a_saturated_generator_makes_latency_targets_not_verified():
    samples = _samples(2, lambda m: 1.0)
    targets = load_targets(50.0)
    ok = slo_checks(
        samples,
        pd.DataFrame(columns=["probe", "probe_id"]),
        tls=False,
        targets=targets,
        generator=generator_saturation(_windows(100, 2)),
    )
    sat = generator_saturation(_windows(100, 30))
    bad = slo_checks(samples, pd.DataFrame(columns=["probe", "probe_id"]), tls=False, targets=targets, generator=sat)
    assert ok.iloc[0]["status"] == "met"
    assert sat.saturated and sat.share == 0.3 and sat.late == 1200
    assert bad.iloc[0]["status"] == "not verified" and "generator saturated" in bad.iloc[0]["note"]


def test_saturation_is_a_share_of_time_not_of_windows():
    """A loop stalled for 5 s hands on one long window: 5 s of 10 saturated, not 1 window of 11."""
    w = _windows(11, 1).assign(window_s=[5.0] + [0.5] * 10)
    sat = generator_saturation(w)
    assert (sat.saturated_windows, sat.windows) == (1, 11) and sat.saturated and sat.share == 0.5
    assert "for 5.0 of 10.0 s, 50%, in 1 of 11 windows" in sat.note()
    assert generator_saturation(_windows(11, 1)).share == 1 / 11  # without window lengths: a share of windows


def _polls(sessions) -> pd.DataFrame:
    return pd.DataFrame({"t_offset_s": np.arange(len(sessions), dtype=float), "sessions": sessions})


def test_sessions_growing_while_the_load_is_flat_is_a_leak():
    windows = pd.DataFrame({"shard": 0, "t_offset_s": np.arange(1.0, 9.0, 0.5), "open": 10})
    leak = session_findings(_polls([0] + [10 + 5 * k for k in range(9)] + [50, 50]), windows).set_index("finding")
    clean = session_findings(_polls([0] + [10] * 9 + [0, 0]), windows).set_index("finding")
    assert leak.loc["sessions_return_to_baseline", "status"] == "fail"
    assert leak.loc["sessions_track_load", "status"] == "fail"
    assert (clean["status"] == "pass").all()


def test_analyze_soak_without_target_figures_says_so():
    a = analyze_soak(_samples(2, lambda m: 1.0), _windows(10, 0), pd.DataFrame(), window_s=30)
    assert a.sessions.iloc[0]["status"] == "not verified" and a.slo.iloc[0]["status"] == "met"
    assert len(a.windows) and not a.saturation.saturated
