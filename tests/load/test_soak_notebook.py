"""The soak notebook runs on a short load run of the embedded target (figures over time)."""

from __future__ import annotations

from pitchey_analysis import ReferenceServer
from pitchey_analysis.load.capture import capture_load
from pitchey_analysis.load.cli import _login
from pitchey_analysis.suite import DEMO_ADMIN
from tests.test_notebooks import run_nb


def test_soak_notebook_on_a_short_load_run(tmp_path):
    with ReferenceServer(disable=["rate_limit"]) as srv:
        path = capture_load(srv.ws_url, out=tmp_path / "runs", levels=[5], duration_s=2.0, rate_per_conn=20, workers=0,
                            admin_token=_login(srv.http_url, DEMO_ADMIN), settle_s=0.5, poll_s=0.25, progress=False)
    node = run_nb("8.0-soak", tmp_path, run=str(path), window_s=0.5)
    images = sum(1 for c in node.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {}) or "image/svg+xml" in o.get("data", {}))
    text = "".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for c in node.cells for o in c.get("outputs", []))
    assert "generator saturated for" in text and "sessions_return_to_baseline" in text
    assert images >= 3
