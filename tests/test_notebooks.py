"""Notebooks: stripped, paired with their py:percent twins, and executed with papermill."""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import papermill as pm
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_notebooks_exist_numbered():
    names = [p.stem for p in NOTEBOOKS]
    assert names == ["1.0-capture-run", "2.0-latency-distributions", "3.0-success-rates", "4.0-readiness-report", "5.0-compare-runs", "6.0-soak"]


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs_and_in_step_with_twin(nb):
    node = nbformat.read(nb, as_version=4)
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in node.cells if c.cell_type == "code")
    twin = nb.with_suffix(".py")
    assert twin.exists()
    py = jupytext.read(twin)
    assert [(c.cell_type, c.source) for c in py.cells] == [(c.cell_type, c.source) for c in node.cells]
    params = [c for c in node.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    for c in node.cells:
        if c.cell_type == "code":
            assert len(c.source.splitlines()) <= 15, f"cell too long, move it into the package:\n{c.source}"


def run_nb(name: str, out_dir: Path, **params) -> nbformat.NotebookNode:
    out = out_dir / f"{name}.ipynb"
    try:
        pm.execute_notebook(str(ROOT / "notebooks" / f"{name}.ipynb"), str(out), parameters=params, kernel_name="python3",
                            progress_bar=False, cwd=str(ROOT))
    except pm.PapermillExecutionError as exc:
        pytest.fail(f"{name}: cell {exc.exec_count} raised {exc.ename}: {exc.evalue}", pytrace=False)
    node = nbformat.read(out, as_version=4)
    assert node.metadata["papermill"]["parameters"] == params  # executed parameters recorded
    return node


@pytest.mark.parametrize("name", ["2.0-latency-distributions", "3.0-success-rates", "4.0-readiness-report"])
def test_notebooks_on_the_sample_run(tmp_path, sample_run, name):
    run_nb(name, tmp_path, run=str(sample_run))


@pytest.mark.parametrize("name", ["2.0-latency-distributions", "3.0-success-rates", "4.0-readiness-report"])
def test_notebooks_on_a_pitchey_2025_11_run(tmp_path, defect_run, name):
    run_nb(name, tmp_path, run=str(defect_run))


def test_compare_notebook(tmp_path, sample_run, defect_run):
    node = run_nb("5.0-compare-runs", tmp_path, run_a=str(sample_run), run_b=str(defect_run))
    text = "".join(str(o.get("data", {}).get("text/markdown", "")) for c in node.cells for o in c.get("outputs", []))
    assert "NOT READY" in text


def test_capture_notebook_runs_the_quick_suite(tmp_path):
    node = run_nb("1.0-capture-run", tmp_path, suite="quick", out=str(tmp_path / "runs"))
    assert list((tmp_path / "runs").glob("*/probes.parquet"))
    printed = "".join(o.get("text", "") for c in node.cells for o in c.get("outputs", []) if o.get("output_type") == "stream")
    assert "complete" in printed


def test_a_failing_cell_is_one_line(tmp_path):
    with pytest.raises(pm.PapermillExecutionError) as exc:
        pm.execute_notebook(str(ROOT / "notebooks" / "3.0-success-rates.ipynb"), str(tmp_path / "x.ipynb"),
                            parameters={"run": str(tmp_path / "no-such-run")}, kernel_name="python3", progress_bar=False)
    assert exc.value.ename == "FileNotFoundError"
    assert (tmp_path / "x.ipynb").exists()  # the output notebook is written even when a cell fails


def test_report_names_dropped_sessions_as_a_finding(tmp_path):
    """A server that closes sessions after about 1 s: the report says so, with the close code."""
    from pitchey_analysis import run_suite
    from pitchey_analysis.config import time_unit
    from pitchey_analysis.suite import SuiteConfig, make_options

    opts = make_options("quick", sustain_window_s=3.0 / time_unit(), sustain_sessions=4)
    cfg = SuiteConfig(suite="quick", options=opts, progress=False, only=["resilience.sustained_sessions"])
    path = run_suite(suite="quick", out=tmp_path / "runs", config=cfg, server_options={"close_after": 1.0})
    node = run_nb("4.0-readiness-report", tmp_path, run=str(path))
    text = "".join(str(o.get("data", {}).get("text/markdown", "")) for c in node.cells for o in c.get("outputs", []))
    assert "### The service closes sessions after about 1" in text
    assert "close code 1012 ('Forced close')" in text
