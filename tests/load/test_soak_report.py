"""The report's soak section: shown for a run with load over time, absent for a probe-suite run."""

from __future__ import annotations

from IPython.display import HTML, Image, Markdown

from pitchey_analysis import ReferenceServer, load_run
from pitchey_analysis.load.capture import capture_load
from pitchey_analysis.load.options import LoadPlan
from pitchey_analysis.report.soak import soak_section


def test_a_load_run_gets_a_soak_section_and_a_suite_run_none(tmp_path, sample_run):
    with ReferenceServer(disable=["rate_limit"]) as srv:
        path = capture_load(
            LoadPlan(srv.ws_url, levels=(4,), duration_s=3.0, rate_per_conn=20, workers=0, settle_s=0.5),
            out=tmp_path,
            progress=False,
        )
    parts = soak_section(load_run(path), window_s=0.5)
    assert isinstance(parts[0], Markdown) and "Over time (soak)" in parts[0].data
    html = "".join(p.data for p in parts if isinstance(p, HTML))
    assert (
        all(f'id="soak-{t}"' in html for t in ("drift", "slo", "polled", "sessions")) and "rtt_ms" in html
    )  # a metric name stays whole (no break after "_")
    assert sum(isinstance(p, Image) for p in parts) >= 3  # latency per window, sessions, the generator's lag
    assert soak_section(load_run(sample_run)) == []
