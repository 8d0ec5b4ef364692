"""History: every run of a target over time, from the analysis and from the command line."""

from __future__ import annotations

import shutil

from pitchey_analysis import load_run
from pitchey_analysis.analysis.history import history, target_key
from pitchey_analysis.cli import main
from pitchey_analysis.config import sample_run_dirs


def test_history_orders_runs_and_keeps_intervals():
    runs = [load_run(p) for p in reversed(sample_run_dirs())]
    h = history(runs)
    assert list(h["runs"]["run_id"]) == sorted(r.run_id for r in runs)  # oldest first whatever the input order
    assert set(h["runs"]["verdict"]) >= {"READY", "NOT READY"}
    overall = h["categories"][h["categories"]["category"] == "overall"]
    assert (overall["lo"] <= overall["rate"]).all() and (overall["rate"] <= overall["hi"]).all()
    assert {"connect_ms", "rtt_ms"} <= set(h["p95"]["metric"])


def test_history_filters_by_target():
    runs = [load_run(p) for p in sample_run_dirs()]
    keys = {target_key(r.manifest) for r in runs}
    assert "embedded:complete" in keys
    h = history(runs, target="embedded:complete")
    assert set(h["runs"]["target"]) == {"embedded:complete"}


def test_history_command(tmp_path, capsys):
    for p in sample_run_dirs():
        shutil.copytree(p, tmp_path / "runs" / p.name)
    fig = tmp_path / "trend.png"
    assert main(["history", "--runs-dir", str(tmp_path / "runs"), "--figure", str(fig)]) == 0
    out = capsys.readouterr().out
    assert "NOT READY" in out and "READY" in out and "authentication" in out and "rtt_ms p95" in out
    assert fig.read_bytes()[:4] == b"\x89PNG"
    assert main(["history", "--runs-dir", str(tmp_path / "runs"), "--target", "wss://nowhere"]) == 0
    assert "no runs" in capsys.readouterr().out


def _zero_sample_run(src, dst):
    """A copy of a run whose samples table is empty (as a silent target or an --only subset leaves it)."""
    import pandas as pd

    shutil.copytree(src, dst)
    samples = pd.read_parquet(dst / "samples.parquet")
    samples.iloc[0:0].to_parquet(dst / "samples.parquet", index=False)
    events = [
        line
        for line in (dst / "events.jsonl").read_text().splitlines()
        if '"kind": "sample"' not in line and '"kind":"sample"' not in line
    ]
    (dst / "events.jsonl").write_text("\n".join(events) + "\n")
    return dst


def test_history_of_a_run_with_no_sample(tmp_path, capsys):
    sample = sample_run_dirs()[-1]
    run = _zero_sample_run(sample, tmp_path / "runs" / sample.name)
    h = history([load_run(run)])
    assert len(h["runs"]) == 1 and h["p95"].empty
    fig = tmp_path / "trend.png"
    assert main(["history", "--runs-dir", str(tmp_path / "runs"), "--figure", str(fig)]) == 0
    out = capsys.readouterr().out
    assert sample.name in out and fig.read_bytes()[:4] == b"\x89PNG"


def test_one_trend_per_target_and_contract(tmp_path, capsys):
    """Runs of another profile or judged against another contract are another trend: never a point of this one."""
    import json

    from pitchey_analysis.analysis.history import trends
    from pitchey_analysis.report import figures

    runs_dir = tmp_path / "runs"
    for p in sample_run_dirs():
        shutil.copytree(p, runs_dir / p.name)
    src = next(p for p in sample_run_dirs() if target_key(load_run(p).manifest) == "embedded:complete")
    other = runs_dir / "20261201T000000Z-0c0c0c"
    shutil.copytree(src, other)
    m = json.loads((other / "manifest.json").read_text())
    m.update(
        run_id=other.name, started_at="2026-12-01T00:00:00+00:00", contract={"name": "my-service", "sha256": "ab" * 32}
    )
    (other / "manifest.json").write_text(json.dumps(m))
    h = history([load_run(p) for p in sorted(runs_dir.iterdir())])
    parts = dict(trends(h))
    assert len(parts) == 3, list(parts)  # complete/pitchey, pitchey-2025-11/pitchey, complete/my-service
    for name, part in parts.items():
        assert set(part["runs"]["trend"]) == {name} and set(part["categories"]["run_id"]) <= set(part["runs"]["run_id"])
    assert "embedded:complete · contract my-service abababab" in parts
    assert len(figures.history(h).axes) == 6  # a row of two plots per trend
    assert main(["history", "--runs-dir", str(runs_dir)]) == 0
    out = capsys.readouterr().out
    assert out.count("== trend ") == 3 and "trend 3 of 3: embedded:complete · contract my-service abababab" in out
