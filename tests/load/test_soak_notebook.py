"""The soak notebook runs on a short load run of the embedded target (figures over time)."""

from __future__ import annotations

from pitchey_analysis import ReferenceServer
from pitchey_analysis.load.capture import capture_load
from pitchey_analysis.load.options import LoadPlan
from pitchey_analysis.load.runner import _login
from pitchey_analysis.runner import DEMO_ADMIN
from tests.test_notebooks import run_nb


def test_soak_notebook_on_a_short_load_run(tmp_path):
    with ReferenceServer(disable=["rate_limit"]) as srv:
        path = capture_load(
            LoadPlan(srv.ws_url, levels=(5,), duration_s=2.0, rate_per_conn=20, workers=0, settle_s=0.5, poll_s=0.25),
            out=tmp_path / "runs",
            admin_token=_login(srv.http_url, DEMO_ADMIN),
            progress=False,
        )
    node = run_nb("8.0-soak", tmp_path, run=str(path), window_s=0.5)
    images = sum(
        1
        for c in node.cells
        for o in c.get("outputs", [])
        if "image/png" in o.get("data", {}) or "image/svg+xml" in o.get("data", {})
    )
    text = "".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
        for c in node.cells
        for o in c.get("outputs", [])
    )
    assert "generator saturated for" in text and "sessions_return_to_baseline" in text
    assert images >= 3


def test_soak_notebook_without_a_load_run(tmp_path, monkeypatch, sample_run):
    """A clone with probe-suite runs and no load run: the notebook says there is none, judges nothing, draws nothing
    (no 'missed' round trip for a READY run, no 'saturated (nan%)', no one-point charts)."""
    import shutil

    monkeypatch.delenv("PITCHEY_DATA_DIR", raising=False)
    monkeypatch.setenv("PITCHEY_DATA", str(tmp_path / "data"))
    shutil.copytree(sample_run, tmp_path / "data" / "runs" / sample_run.name)
    for params in ({}, {"run": str(sample_run)}):  # 'latest' finds no load run; a suite run named is not one
        node = run_nb("8.0-soak", tmp_path, **params)
        outputs = [o for c in node.cells for o in c.get("outputs", [])]
        text = "".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in outputs)
        assert "No load run to show" in text, text
        assert "missed" not in text and "nan%" not in text and "saturated" not in text
        assert not any(k.startswith("image/") for o in outputs for k in o.get("data", {}))


def test_session_lifetimes_are_plotted_in_seconds():
    import pandas as pd

    from pitchey_analysis.report import soakfigures

    windows = pd.DataFrame(
        {
            "metric": ["session_lifetime_s", "rtt_ms"],
            "q": [0.5, 0.5],
            "t_mid_s": [1.0, 1.0],
            "estimate": [30.0, 2.0],
            "lo": [29.0, 1.0],
            "hi": [31.0, 3.0],
        }
    )
    assert soakfigures.windowed_latency(windows, "session_lifetime_s").axes[0].get_ylabel() == "s"
    assert soakfigures.windowed_latency(windows, "rtt_ms").axes[0].get_ylabel() == "ms"
