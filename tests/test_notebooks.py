"""Notebooks: stripped, paired with their py:percent twins, and executed with papermill."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import jupytext
import nbformat
import papermill as pm
import pytest

from pitchey_analysis.report.export import ipc_kernel_manager

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
#: Jupyter starts a notebook's kernel in the notebook's folder: the tests do the same.
KERNEL_CWD = ROOT / "notebooks"
#: Tests that write into the checkout's own data/runs run one after the other on one pytest-xdist worker.
ROOT_RUNS = pytest.mark.xdist_group("root-data-runs")
#: Tests that read the notebooks executed on the sample run share a worker, so each executes once.
SAMPLE_NOTEBOOKS = pytest.mark.xdist_group("sample-notebooks")


def test_notebooks_exist_numbered():
    names = [p.stem for p in NOTEBOOKS]
    assert names == [
        "1.0-capture-run",
        "2.0-latency-distributions",
        "3.0-success-rates",
        "4.0-readiness-report",
        "5.0-compare-runs",
        "6.0-frames",
        "7.0-history",
        "8.0-soak",
    ]


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


def execute(notebook: str, output: str, **kw: Any) -> None:
    """papermill's execution on IPC sockets, as the report's (TCP ports picked by jupyter_client can be taken by a
    kernel another test process starts at the same moment: "Kernel died before replying to kernel_info")."""
    with tempfile.TemporaryDirectory(prefix="pitchey-kernel-") as sockets:
        pm.execute_notebook(
            notebook,
            output,
            kernel_name="python3",
            progress_bar=False,
            kernel_manager_class=ipc_kernel_manager(Path(sockets)),
            **kw,
        )


def run_nb(name: str, out_dir: Path, **params) -> nbformat.NotebookNode:
    out = out_dir / f"{name}.ipynb"
    try:
        execute(str(ROOT / "notebooks" / f"{name}.ipynb"), str(out), parameters=params, cwd=str(KERNEL_CWD))
    except pm.PapermillExecutionError as exc:
        pytest.fail(f"{name}: cell {exc.exec_count} raised {exc.ename}: {exc.evalue}", pytrace=False)
    node = nbformat.read(out, as_version=4)
    assert node.metadata["papermill"]["parameters"] == params  # executed parameters recorded
    return node


@pytest.fixture(scope="module")
def on_sample(tmp_path_factory, sample_run):
    """``on_sample(name)``: the notebook executed on the sample run, once per worker for every test that reads it."""
    done: dict[str, nbformat.NotebookNode] = {}

    def get(name: str) -> nbformat.NotebookNode:
        if name not in done:
            done[name] = run_nb(name, tmp_path_factory.mktemp("on-sample"), run=str(sample_run))
        return done[name]

    return get


#: 4.0 (the report) is executed on both runs by tests/test_report.py, through the export a user runs.
@SAMPLE_NOTEBOOKS
@pytest.mark.parametrize("name", ["2.0-latency-distributions", "3.0-success-rates"])
def test_notebooks_on_the_sample_run(on_sample, sample_run, name):
    _shows_the_run(on_sample(name), Path(sample_run).name)


@pytest.mark.parametrize("name", ["2.0-latency-distributions", "3.0-success-rates"])
def test_notebooks_on_a_pitchey_2025_11_run(tmp_path, defect_run, name):
    _shows_the_run(run_nb(name, tmp_path, run=str(defect_run)), Path(defect_run).name)


def _shows_the_run(node: nbformat.NotebookNode, run_id: str) -> None:
    """The notebook drew figures and tables of the run it was given (that no cell raised alone passed a notebook
    whose cells drew nothing, or drew another run)."""
    kinds = [k for c in node.cells for o in c.get("outputs", []) for k in o.get("data", {})]
    assert "image/png" in kinds and "text/html" in kinds, kinds
    assert run_id in _outputs(node, "text/html") + _printed(node), run_id


def _outputs(node: nbformat.NotebookNode, mime: str) -> str:
    return "".join(str(o.get("data", {}).get(mime, "")) for c in node.cells for o in c.get("outputs", []))


def test_frames_notebook_shows_a_failing_probes_session(tmp_path, defect_run):
    node = run_nb("6.0-frames", tmp_path, run=str(defect_run), interactive=False)
    printed, html = _printed(node), _outputs(node, "text/html")
    assert "failing probe(s); showing" in printed
    assert "payload" in html and "direction" in html  # the session's frames table
    assert "image/png" in {k for c in node.cells for o in c.get("outputs", []) for k in o.get("data", {})}


def test_history_notebook_on_a_fresh_clone(tmp_path, monkeypatch):
    monkeypatch.setenv("PITCHEY_DATA_DIR", str(tmp_path / "empty"))
    html = _outputs(run_nb("7.0-history", tmp_path), "text/html")
    assert "NOT READY" in html and "READY" in html and "authentication" in html


@SAMPLE_NOTEBOOKS
def test_notebooks_offer_a_runs_index_and_a_picker(on_sample):
    node = on_sample("3.0-success-rates")
    assert "verdict" in _outputs(node, "text/html")  # the runs index
    assert _outputs(node, "application/vnd.jupyter.widget-view+json")  # the picker (ipywidgets)


def test_compare_notebook(tmp_path, sample_run, defect_run):
    node = run_nb("5.0-compare-runs", tmp_path, run_a=str(sample_run), run_b=str(defect_run))
    text = "".join(str(o.get("data", {}).get("text/html", "")) for c in node.cells for o in c.get("outputs", []))
    assert "NOT READY" in text and 'id="compare-runs"' in text and Path(defect_run).name in text


def _printed(node: nbformat.NotebookNode) -> str:
    return "".join(
        o.get("text", "") for c in node.cells for o in c.get("outputs", []) if o.get("output_type") == "stream"
    )


@ROOT_RUNS
def test_capture_notebook_writes_into_the_projects_data_runs(tmp_path, monkeypatch):
    """Run from notebooks/ (as Jupyter does), the run lands in <root>/data/runs, where `report latest` looks."""
    monkeypatch.delenv("PITCHEY_DATA_DIR", raising=False)
    before = set((ROOT / "data" / "runs").glob("*"))
    node = run_nb("1.0-capture-run", tmp_path, suite="quick")
    made = set((ROOT / "data" / "runs").glob("*")) - before
    try:
        assert len(made) == 1 and (next(iter(made)) / "probes.parquet").exists()
        printed = _printed(node)
        assert "complete" in printed and str(next(iter(made))) in printed
        assert "verdict: " in printed  # the capture notebook says what the run concluded
        assert not (KERNEL_CWD / "data").exists()
    finally:
        for p in made:
            shutil.rmtree(p)


@ROOT_RUNS
def test_notebooks_find_runs_written_from_the_root(tmp_path, monkeypatch, defect_run):
    """A run in <root>/data/runs is 'latest' for a kernel running in notebooks/, and the notebook says why."""
    monkeypatch.delenv("PITCHEY_DATA_DIR", raising=False)
    planted = ROOT / "data" / "runs" / "29991231T235959Z-zzzzzz"  # sorts after any real run id
    shutil.copytree(defect_run, planted)
    try:
        # one notebook: they all open their run through explore.RunView (the others run on given runs elsewhere)
        printed = _printed(run_nb("3.0-success-rates", tmp_path))
        assert f"Loaded run {Path(defect_run).name}" in printed, printed
        assert str(planted.parent) in printed and "marked data/" in printed
    finally:
        shutil.rmtree(planted)


def test_compare_notebook_on_a_fresh_clone(tmp_path, monkeypatch):
    """No runs at all: the two committed sample runs are compared, and the notebook says so."""
    monkeypatch.setenv("PITCHEY_DATA_DIR", str(tmp_path / "empty"))
    printed = _printed(run_nb("5.0-compare-runs", tmp_path))
    assert "committed sample runs" in printed


def test_a_failing_cell_is_one_line(tmp_path):
    with pytest.raises(pm.PapermillExecutionError) as exc:
        execute(
            str(ROOT / "notebooks" / "3.0-success-rates.ipynb"),
            str(tmp_path / "x.ipynb"),
            parameters={"run": str(tmp_path / "no-such-run")},
        )
    assert exc.value.ename in ("RunNotFound", "FileNotFoundError")  # RunNotFound is the package's FileNotFoundError
    assert (tmp_path / "x.ipynb").exists()  # the output notebook is written even when a cell fails


def test_report_names_dropped_sessions_as_a_finding(tmp_path):
    """A server that closes sessions after about 1 s: the report says so, with the close code."""
    from pitchey_analysis import run_suite
    from pitchey_analysis.config import time_unit
    from pitchey_analysis.runner import SuiteConfig, make_options

    opts = make_options("quick", sustain_window_s=3.0 / time_unit(), sustain_sessions=4)
    cfg = SuiteConfig(suite="quick", options=opts, progress=False, only=["resilience.sustained_sessions"])
    path = run_suite(suite="quick", out=tmp_path / "runs", config=cfg, server_options={"close_after": 1.0})
    node = run_nb("4.0-readiness-report", tmp_path, run=str(path))
    text = "".join(str(o.get("data", {}).get("text/markdown", "")) for c in node.cells for o in c.get("outputs", []))
    assert "### The service closes sessions after about 1" in text
    assert "close code 1012 ('Forced close')" in text


def test_picking_a_run_redraws_every_cell_of_the_view(sample_run, defect_run, capsys):
    """In JupyterLab (live), choosing another run re-runs each cell's function for it; headless draws once."""
    from pitchey_analysis.notebook import explore

    ns: dict[str, object] = {"run": str(sample_run)}
    drawn: list[tuple[str, str]] = []
    view = explore.RunView(ns, live=True, interactive=False)
    assert view.live and view.run.path == sample_run
    view.cell(lambda r: drawn.append(("first", r.run_id)))
    view.cell(lambda r: drawn.append(("second", r.run_id)))
    view.pick("run", str(defect_run))
    assert ns["run"] == str(defect_run) and view.run.run_id == Path(defect_run).name
    assert drawn == [
        ("first", sample_run.name),
        ("second", sample_run.name),
        ("first", Path(defect_run).name),
        ("second", Path(defect_run).name),
    ]
    view.pick("run", str(defect_run))  # the same run again: nothing redrawn
    assert len(drawn) == 4

    headless = explore.RunView({"run": str(sample_run)}, live=False)
    assert not headless.live
    headless.cell(lambda r: print("drawn for", r.run_id))
    assert f"drawn for {sample_run.name}" in capsys.readouterr().out


def test_run_all_keeps_the_run_picked_and_a_parameter_set_wins(sample_run, defect_run, monkeypatch):
    """Run All re-runs the parameters cell: in the lab the run picked stays while that cell says what it said when the
    run was picked; a value typed there wins, and papermill's (headless, never live) always does."""
    from pitchey_analysis.notebook import explore

    monkeypatch.setattr(explore, "_PICKED", {})
    view = explore.RunView({"run": str(sample_run)}, live=True, interactive=False)
    view.pick("run", str(defect_run))
    again = explore.RunView({"run": str(sample_run)}, live=True, interactive=False)  # Run All: the cell said sample_run
    assert again.run.run_id == Path(defect_run).name and "picked: in the run picker" in again._why
    typed = explore.RunView({"run": "latest"}, live=True, interactive=False)  # the parameters cell changed
    assert "picked" not in typed._why
    headless = explore.RunView({"run": str(sample_run)}, live=False)  # papermill
    assert headless.run.run_id == sample_run.name


def test_a_pick_redraws_interactive_figures_each_whole_before_its_canvas_answers(sample_run, defect_run, monkeypatch):
    """A pick redraws ipympl canvases, not PNGs. JupyterLab 4.4+ hands a canvas's messages ("refresh", "draw") to a
    kernel subshell, whose thread answers them while the pick is still drawing in the main thread: a canvas drawn
    half-built (or before its figure manager exists, which raises unseen and leaves it blank for good) must wait
    until the view has drawn its figure whole."""
    pytest.importorskip("ipympl")
    import threading
    import time

    import matplotlib.pyplot as plt
    from ipympl.backend_nbagg import Canvas

    from pitchey_analysis.notebook import explore
    from pitchey_analysis.report import render

    monkeypatch.setattr(explore, "_PICKED", {})
    backend = plt.get_backend()
    drawn: list[tuple[str, float]] = []  # run id, when the view had drawn the figure whole
    answered: list[tuple[str, float, int]] = []  # run id, when the canvas sent its image, how many lines it drew
    frontends: list[threading.Thread] = []
    errors: list[BaseException] = []

    def figure_of(r: Any) -> Any:
        fig, ax = plt.subplots()
        canvas: Any = fig.canvas  # an ipympl Canvas

        def send_binary(data: bytes) -> None:
            answered.append((r.run_id, time.monotonic(), len(ax.lines)))

        canvas.send_binary = send_binary

        def frontend() -> None:  # what the subshell's thread does when the canvas's frontend asks for its image
            try:
                canvas._handle_message(canvas, {"type": "draw"}, [])
            except BaseException as exc:  # the test reports it
                errors.append(exc)

        frontends.append(threading.Thread(target=frontend))
        frontends[-1].start()
        time.sleep(0.3)  # the view still drawing
        ax.plot([1, 2, 3])
        drawn.append((r.run_id, time.monotonic()))
        return render.show(fig, interactive=explore.interactive())

    try:
        view = explore.RunView({"run": str(sample_run)}, live=True, interactive=True)
        assert explore.interactive()
        shown: list[object] = []
        view.cell(lambda r: shown.append(figure_of(r)))
        view.pick("run", str(defect_run))
        for t in frontends:
            t.join(timeout=30)
        assert not errors
        assert [type(s) for s in shown] == [Canvas, Canvas]  # interactive after the pick too, not a static PNG
        assert explore.interactive()
        assert [a[0] for a in answered] == [sample_run.name, Path(defect_run).name]
        for (run_id, whole), (_, sent, lines) in zip(drawn, answered, strict=True):
            assert sent >= whole and lines == 1, run_id  # the image sent is of the whole figure
    finally:
        explore.use_widgets(False)
        plt.close("all")
        plt.switch_backend(backend)
