"""Exporting the readiness report: papermill, then nbconvert (HTML), then WeasyPrint (PDF).

Spec → computed results → rendering, as three steps: the notebook computes
through :mod:`pitchey_analysis.analysis`, this module only executes and
exports it. The executed notebook is written next to the report and removed
once the export succeeded (the report holds everything it shows; notebook 4.0
re-runs it interactively); when a cell fails it is kept, and the error names it,
so the failure can be read.
"""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import __version__
from ..atomic import atomic_path, partial_name, write_text
from ..capture.dataset import check_run_events, load_latest, load_run, resolve_run
from ..capture.schema import output_path, safe_stem
from ..config import runs_dir as default_runs_dir
from ..config import runs_dir_option
from ..exceptions import DatasetError, RunNotFound

log = logging.getLogger("pitchey_analysis.report")

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
NOTEBOOKS = {"readiness": "4.0-readiness-report.ipynb", "compare": "5.0-compare-runs.ipynb"}


from ..exceptions import ReportError as ReportError  # noqa: E402 - re-exported: the failing cell, its exception and the notebook

#: The report notebooks shipped in the package (copies of the checkout's notebooks/, kept equal by a test).
PACKAGED_NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def notebook_path(kind: str) -> Path:
    """The report notebook: the package's copy, so that an installed wheel reports outside any checkout."""
    p = PACKAGED_NOTEBOOKS / NOTEBOOKS[kind]
    if not p.exists():  # a broken install: the package data is missing
        raise ReportError(
            f"report notebook {NOTEBOOKS[kind]} is missing from the installed package ({PACKAGED_NOTEBOOKS})"
        )
    return p


def ipc_kernel_manager(sockets: Path) -> type:
    """A kernel manager on IPC sockets in ``sockets``: no TCP port, nothing in clear on the network (and no warning
    about it), no port a kernel started beside it can take between its choice and its bind (jupyter_client picks
    free TCP ports and releases them before the kernel binds them), and no ``kernel-ipc-N`` files left in the
    user's working directory."""
    from jupyter_client.manager import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: object) -> None:
            kwargs.setdefault("transport", "ipc")
            kwargs.setdefault("ip", str(sockets / "kernel-ipc"))
            super().__init__(**kwargs)

        async def _async_pre_start_kernel(self, **kw: Any) -> Any:
            # The kernel's own log goes to the terminal by default: stopped mid-cell (Ctrl-C, SIGTERM) it printed a
            # traceback of its closed sockets under the command's one line. What a cell raises comes back as a
            # message (the report's error names the cell); the kernel's log is shown with -v only.
            if not logging.getLogger("pitchey_analysis").isEnabledFor(logging.DEBUG):
                kw.setdefault("stdout", subprocess.DEVNULL)
                kw.setdefault("stderr", subprocess.DEVNULL)
            return await super()._async_pre_start_kernel(**kw)

        async def _async_interrupt_kernel(self) -> None:
            # jupyter_client's shutdown starts with a SIGINT. Papermill shuts the kernel down as soon as the last
            # cell's reply arrived, while ipykernel is still in that message's handler (its SIGINT handler is
            # Python's then): the interrupt became "[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel" on
            # the user's terminal after a report that succeeded. An idle kernel needs no interrupt to hear the
            # shutdown request; a kernel that does not answer it is still terminated, then killed.
            if self.shutting_down:
                return
            await super()._async_interrupt_kernel()

    return IPCKernelManager


def execute(kind: str, parameters: dict[str, object], output: Path) -> None:
    """Execute a report notebook with papermill into ``output``.

    Papermill writes the notebook after every cell: it writes under a temporary name, renamed to ``output``
    when the notebook ran to its end or stopped in a failing cell (kept whole, so the failure can be read);
    an interruption removes it."""
    import papermill as pm

    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_name(output)
    try:
        with tempfile.TemporaryDirectory(prefix="pitchey-kernel-") as sockets:
            pm.execute_notebook(
                str(notebook_path(kind)),
                str(tmp),
                parameters=parameters,
                kernel_name="python3",
                progress_bar=False,
                log_output=False,
                cwd=str(Path.cwd()),
                kernel_manager_class=ipc_kernel_manager(Path(sockets)),
            )
    except pm.PapermillExecutionError as exc:
        os.replace(tmp, output)
        raise ReportError(
            f"report notebook failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue} (executed notebook: {output})",
            cell=exc.exec_count,
            ename=exc.ename,
            evalue=exc.evalue,
            notebook=str(output),
        ) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, output)


def to_html(executed: Path, *, title: str, run_id: str, command: str | None = None) -> str:
    """Export an executed notebook with our template: no code, no scripts, opens offline."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(executed), as_version=4)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"  # papermill's injected cell has a random id: keep exports identical
    from nbconvert.preprocessors import TagRemovePreprocessor

    exporter = HTMLExporter(
        template_name="pitchey-report",
        extra_template_basedirs=[str(TEMPLATES)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    # cells tagged "explore" (runs index, pickers) serve JupyterLab, not the exported report
    exporter.register_preprocessor(TagRemovePreprocessor(remove_cell_tags={"explore"}), enabled=True)
    body, _ = exporter.from_notebook_node(
        nb,
        resources={
            "pitchey": {
                "title": title,
                "run_id": run_id,
                "version": __version__,
                "command": command or f"pitchey-analysis report {run_id}",
            }
        },
    )
    return body


def to_pdf(html: str, pdf: Path, base: Path) -> None:
    """Render the HTML to an A4 PDF with WeasyPrint."""
    import weasyprint

    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    with atomic_path(pdf) as tmp:
        weasyprint.HTML(string=html, base_url=str(base)).write_pdf(str(tmp))


def latest_why(path: Path, runs_dir: Path | None) -> str:
    """Why ``path`` is the run ``latest`` names, in words naming the folder it was looked up in."""
    chosen, why = resolve_run("latest", runs_dir)
    if chosen.resolve() == Path(path).resolve():
        return why.removeprefix("run='latest': ")
    return f"the newest readable run in {runs_dir or default_runs_dir()}"


def build_report(
    run: str | os.PathLike[str] = "latest",
    *,
    compare: str | None = None,
    runs_dir: Path | None = None,
    out: Path = Path("reports"),
    formats: tuple[str, ...] = ("html", "pdf"),
    notebook: str = "readiness",
    on_skip: Callable[[Path, DatasetError], None] | None = None,
    on_resolved: Callable[[Any, str], None] | None = None,
) -> list[Path]:
    """Write ``out/<run_id>.html`` and ``.pdf`` (a comparison: ``out/<a>_vs_<b>``); returns the paths.

    Args:
        run: run id, run directory or ``latest``.
        compare: a reference run; with ``notebook='compare'`` the report compares the two.
        runs_dir: where run ids are looked up.
        out: the output directory.
        formats: ``html`` and/or ``pdf``.
        notebook: ``readiness`` or ``compare``.
        on_skip: with ``run='latest'``, an unreadable newest run is passed to it (a warning) and the one before
            it is reported; without it, an unreadable run is a :class:`DatasetError`.
        on_resolved: with ``run='latest'``, given the run it resolved to and why that one (in words, naming the
            folder it was looked up in), so that the command can say which run it reports.

    Every file is named from a safe form of the run id (:func:`~pitchey_analysis.capture.schema.safe_stem`) and
    lands in ``out``, written under a temporary name and renamed (:mod:`pitchey_analysis.atomic`).
    """
    if str(run) == "latest" and on_skip is not None:
        current = load_latest(runs_dir, on_skip)
    else:
        current = load_run(run, runs_dir=runs_dir)
    if str(run) == "latest" and on_resolved is not None:
        on_resolved(current, latest_why(current.path, runs_dir))
    check_run_events(current)
    out = Path(out)
    if compare is not None or notebook == "compare":
        if compare is None:
            raise RunNotFound("a comparison needs two runs")
        ref = load_run(compare, runs_dir=runs_dir)
        check_run_events(ref)
        stem = f"{safe_stem(ref.run_id, 60)}_vs_{safe_stem(current.run_id, 60)}"
        params: dict[str, object] = {"run_a": str(ref.path), "run_b": str(current.path)}
        kind, title = "compare", f"Comparison of two runs: {ref.run_id} → {current.run_id}"
        command = f"pitchey-analysis compare {ref.run_id} {current.run_id}"
    else:
        stem = safe_stem(current.run_id)
        params = {"run": str(current.path)}
        kind, title = "readiness", f"Readiness report {current.run_id}"
        command = f"pitchey-analysis report {current.run_id}"
    command += runs_dir_option(current.path.parent)
    executed = output_path(out, stem, ".ipynb")
    execute(kind, params, executed)
    try:
        html = to_html(executed, title=title, run_id=current.run_id, command=command)
        paths = []
        if "html" in formats:
            html_path = output_path(out, stem, ".html")
            write_text(html_path, html)
            paths.append(html_path)
        if "pdf" in formats:
            pdf_path = output_path(out, stem, ".pdf")
            to_pdf(html, pdf_path, out)
            paths.append(pdf_path)
    finally:  # exported, or the export failed: the notebook is kept only when a cell failed (execute raised then)
        executed.unlink(missing_ok=True)
    return paths
