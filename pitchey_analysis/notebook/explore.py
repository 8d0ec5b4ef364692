"""Helpers for the notebooks: which run to open (and why), the runs index, the run picker.

Notebooks hold narrative and calls; what they share lives here. Nothing here
computes a statistic: the index and the picker call :mod:`pitchey_analysis.analysis`.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from ..capture.dataset import Run, list_runs, load_run, resolve_run
from ..config import runs_dir as runs_dir_default
from ..config import sample_run_dirs
from ..exceptions import RunNotFound
from ..report.render import contract_name, target_line

#: Whether this kernel shows figures as ipympl widgets: one flag, written only by :func:`use_widgets`.
_interactive = False


def open_run(run: str | os.PathLike[str] | None = "latest", runs_dir: Path | str | None = None) -> Run:
    """Load a run and print which one and why (every notebook starts with this)."""
    path, why = resolve_run(run, Path(runs_dir) if runs_dir else None)
    r = load_run(path)
    print(
        f"Loaded run {r.run_id} (status: {r.manifest.get('status')}; suite "
        f"{(r.manifest.get('suite') or {}).get('name')})\n"
        f"  target: {target_line(r.manifest)}\n  why:    {why}"
    )
    return r


def _index_row(path: Path, source: str) -> dict[str, Any]:
    from ..analysis import analyze

    r = load_run(path)
    m = r.manifest
    a = analyze(r)
    return {
        "run_id": r.run_id,
        "started": str(m.get("started_at", ""))[:19].replace("T", " "),
        "target": target_line(m),
        "profile": ((m.get("server") or {}).get("profile") or {}).get("name") or "—",
        "suite": (m.get("suite") or {}).get("name"),
        "contract": contract_name(m),
        "verdict": a.verdict.verdict,
        "score": "—" if a.score != a.score else f"{a.score:.1%}",
        "status": m.get("status"),
        "source": source,
        "path": str(path),
    }


#: The runs index's columns (:func:`runs_index`).
INDEX_COLUMNS = [
    "run_id",
    "started",
    "target",
    "profile",
    "suite",
    "contract",
    "verdict",
    "score",
    "status",
    "source",
    "path",
]


def runs_index(runs_dir: Path | str | None = None, *, samples: bool = True) -> pd.DataFrame:
    """Every run under ``runs_dir`` (and the committed samples): id, date, target, profile, contract, verdict, score."""
    rows = [_index_row(p, "runs") for p in list_runs(Path(runs_dir) if runs_dir else None)]
    if samples:
        rows += [_index_row(p, "sample") for p in sample_run_dirs()]
    return pd.DataFrame(rows, columns=INDEX_COLUMNS).sort_values("run_id", kind="stable").reset_index(drop=True)


def index_table(index: pd.DataFrame) -> Any:
    """The runs index for reading: text left-aligned and whole, no row numbers, no paths."""
    shown = index.drop(columns=["path"])
    return (
        shown.style.hide(axis="index")
        .set_properties(**{"text-align": "left", "white-space": "nowrap"})
        .set_table_styles([{"selector": "th", "props": [("text-align", "left")]}])
    )


#: What a notebook on load runs says when there is none to show (8.0-soak).
NO_LOAD_RUN = (
    "No load run to show: this view reads a run written by `pitchey-analysis load` (for example "
    "`pitchey-analysis load --connections 100 --duration 60`); a probe-suite run has no load over time, so "
    "nothing below is drawn for it."
)


def is_load_run(manifest: dict[str, Any]) -> bool:
    """Whether a run was written by ``pitchey-analysis load`` (its suite is ``load``)."""
    return ((manifest.get("suite") or {}).get("name")) == "load"


def open_load_run(run: str | os.PathLike[str] | None = "latest", runs_dir: Path | str | None = None) -> Run | None:
    """A run written by ``pitchey-analysis load``: ``"latest"`` is the newest such run, not the newest run.

    Prints which run and why, as :func:`open_run` does. Returns None, saying why, when the folder holds no load
    run or the run named is a probe-suite run: its samples are no load over time, and a soak view of them would
    judge a ramp's round trips as a load target and draw one point per metric.
    """
    from ..capture.schema import read_manifest
    from ..exceptions import DatasetError

    def readable_load_run(p: Path) -> bool:
        try:
            return is_load_run(read_manifest(p))
        except DatasetError:  # unreadable: not offered (load_run says why when it is asked for by name)
            return False

    if run is None or str(run) == "latest":
        base = Path(runs_dir) if runs_dir else None
        load_runs = [p for p in list_runs(base) if readable_load_run(p)]
        if not load_runs:
            print(f"{NO_LOAD_RUN}\n  looked in: {base or runs_dir_default()}")
            return None
        r = load_run(load_runs[-1])
        print(
            f"Loaded run {r.run_id} (load run, status: {r.manifest.get('status')})\n  target: "
            f"{target_line(r.manifest)}\n"
            f"  why:    run='latest': the newest of {len(load_runs)} load run(s) in {load_runs[-1].parent}"
        )
        return r
    r = open_run(run, runs_dir)
    if not is_load_run(r.manifest):
        print(
            f"Run {r.run_id} is a probe-suite run (suite {(r.manifest.get('suite') or {}).get('name')}). {NO_LOAD_RUN}"
        )
        return None
    return r


def _dropdown(
    options: list[tuple[str, str]] | list[str],
    on_pick: Callable[[str], object],
    value: str | None,
    description: str,
    show_first: bool = False,
) -> Any:
    """A dropdown whose choice calls ``on_pick`` in an output area below it (None, with a note, without ipywidgets).

    With ``show_first`` the area starts with ``on_pick(value)``.
    """
    try:
        import ipywidgets as w
    except ImportError:
        print("ipywidgets is not installed: set the parameters cell instead")
        return None
    values = [o[1] if isinstance(o, tuple) else o for o in options]
    dd = w.Dropdown(
        options=options, value=value if value in values else None, description=description, layout=w.Layout(width="95%")
    )
    out = w.Output()

    def changed(change: dict[str, Any]) -> None:
        if change.get("new"):
            out.clear_output(wait=True)
            with out, figures_held():
                on_pick(change["new"])

    dd.observe(changed, names="value")
    if show_first and dd.value:
        changed({"new": dd.value})
    return w.VBox([dd, out])


def run_picker(
    index: pd.DataFrame, on_pick: Callable[[str], object], value: str | None = None, description: str = "run"
) -> Any:
    """A dropdown of the runs in ``index``; choosing one calls ``on_pick(path)`` below it.

    Papermill parameters still choose the run for reports; without ipywidgets this returns None.
    """
    options = [(f"{r.run_id} · {r.profile} · {r.verdict}", r.path) for r in index.itertuples()]
    return _dropdown(options, on_pick, value, description)


def pick_pair(run_a: str | None, run_b: str | None, runs_dir: Path | str | None = None) -> tuple[Run, Run]:
    """The reference and current runs of a comparison, printing which and why.

    Unset runs default to the two newest runs in the runs folder, else to the two
    newest committed sample runs (so the comparison opens on a fresh clone).
    """
    base = Path(runs_dir) if runs_dir else None
    if run_a is None or run_b is None:
        found, why = list_runs(base), "the two newest runs in the runs folder"
        if len(found) < 2:
            found, why = sample_run_dirs(), "fewer than two runs in the runs folder: the committed sample runs"
        if len(found) < 2:
            raise RunNotFound("comparing needs two runs: give run_a and run_b, or capture a second run first")
        run_a, run_b = run_a or str(found[-2]), run_b or str(found[-1])
        print(f"Comparing {why}")
    return open_run(run_a, base), open_run(run_b, base)


def live_frontend() -> bool:
    """Whether the kernel serves a notebook open in Jupyter (which draws widgets), not a headless papermill run.

    The Jupyter server names the notebook's session in ``JPY_SESSION_NAME`` when it starts its kernel;
    papermill and nbclient start kernels without it.
    """
    return bool(os.environ.get("JPY_SESSION_NAME"))


def _show(result: object) -> None:
    """Display what a view returned: nothing, one object, or each of a list in turn."""
    from IPython.display import display

    if result is None:
        return
    for item in result if isinstance(result, list | tuple) else [result]:
        if item is not None:
            display(item)


#: Runs picked in this kernel's pickers: parameter name -> (what the parameters cell said then, the run picked).
#: Run All re-runs the parameters cell: the pick survives while that cell still says what it said when the
#: run was picked (a value typed into the cell wins, and so does papermill's, which never reaches a live view).
_PICKED: dict[str, tuple[object, str]] = {}


class RunView:
    """The run(s) a notebook analyses, chosen by its parameters or by a picker, and the cells drawn from them.

    The top cell builds one: it shows the runs index, a picker per parameter in ``names`` and which run
    it loaded and why. Each analysis cell is then ``view.cell(fn)``, ``fn`` taking the loaded run(s) and
    returning what to show. In JupyterLab (with ipywidgets) each cell draws into an output area that is
    redrawn when a picker chooses another run; headless (papermill, the report) the cells print as any
    cell does, once, for the runs the parameters named.

    A run picked in JupyterLab survives Run All (the parameters cell re-run with the value it had when the
    run was picked); a value typed into the parameters cell, or set by papermill, wins.

    Args:
        ns: the notebook's globals; its parameters ``names`` are read and, when a run is picked, set.
        runs_dir: where run ids are looked up (None: the project's data folder).
        names: one run parameter (``("run",)``) or two, compared (``("run_a", "run_b")``).
        interactive: ipympl figures when the frontend draws widgets (static PNGs otherwise).
        live: force (True/False) instead of detecting the frontend (tests).
        opener: loads the run a parameter names, printing which and why (:func:`open_run`; the soak notebook
            passes :func:`open_load_run`, which may return None: its cells then get None).
        only: keep in the index and the picker only the runs whose row this accepts (None: every run).
        index: show the runs index and the pickers headless too (the readiness report passes False: its export
            shows neither, and indexing every run would slow ``pitchey-analysis report``).
    """

    def __init__(
        self,
        ns: dict[str, Any],
        runs_dir: Path | str | None = None,
        names: tuple[str, ...] = ("run",),
        interactive: bool = True,
        live: bool | None = None,
        opener: Callable[[Any, Path | None], Run | None] | None = None,
        only: Callable[[Any], bool] | None = None,
        index: bool = True,
    ) -> None:
        from IPython.display import display

        self.ns, self.names = ns, names
        self.runs_dir = Path(runs_dir) if runs_dir else None
        self.live = (live_frontend() if live is None else live) and _has_widgets()
        self._opener = opener
        self._given = {n: ns.get(n) for n in names}  # what the parameters cell (or papermill) said
        self._remembered = []
        if self.live:
            for n in names:
                if n in _PICKED and _PICKED[n][0] == ns.get(n):
                    ns[n] = _PICKED[n][1]
                    self._remembered.append(n)
        use_widgets(interactive and self.live)
        self.cells: list[tuple[Any, Callable[..., object]]] = []
        self.index = runs_index(self.runs_dir) if (index or self.live) else pd.DataFrame(columns=INDEX_COLUMNS)
        if only is not None and len(self.index):
            self.index = self.index[[bool(only(row)) for row in self.index.itertuples()]].reset_index(drop=True)
        if index or self.live:
            display(index_table(self.index))
        self._status = None
        self.runs = self._load()
        if self.live:
            import ipywidgets as w

            self._status = w.Output()
            with self._status:
                self._describe()
            pickers = [self._picker(n, r) for n, r in zip(names, self.runs, strict=True)]
            display(w.VBox([*pickers, self._status]))
        else:
            self._describe()
            if (
                index and _has_widgets()
            ):  # a picker is still shown (it does nothing headless): set the parameters instead
                display(*[self._picker(n, r) for n, r in zip(names, self.runs, strict=True)])

    @property
    def run(self) -> Run:
        """The run (the first, for a comparison); None when the view's opener found none to show."""
        return self.runs[0]

    def _load(self) -> tuple[Run, ...]:
        """Load the runs the parameters name, keeping the words saying which and why for :meth:`_describe`."""
        import contextlib
        import io

        vals = [self.ns.get(n) for n in self.names]
        words = io.StringIO()
        opener = self._opener or open_run
        with contextlib.redirect_stdout(words):
            runs = (
                pick_pair(vals[0], vals[1], self.runs_dir)
                if len(self.names) == 2
                else (opener(vals[0], self.runs_dir),)
            )
            for n in self._remembered:
                print(
                    f"  picked: in the run picker ({n} = {self._given[n]!r} in the parameters cell; set it there to "
                    "choose another run on Run All)"
                )
        self._why = words.getvalue()
        return runs  # type: ignore[return-value]

    def _describe(self) -> None:
        print(self._why, end="")

    def _picker(self, name: str, loaded: Run | None) -> Any:
        value = (
            None
            if loaded is None
            else next((p for p in self.index["path"] if Path(p).resolve() == Path(loaded.path).resolve()), None)
        )
        return run_picker(self.index, lambda path: self.pick(name, path), value=value, description=name)

    def pick(self, name: str, path: str) -> None:
        """Choose run ``path`` for parameter ``name``: load it and redraw every cell of the view."""
        shown = self.runs[self.names.index(name)]
        if shown is not None and Path(path).resolve() == Path(shown.path).resolve():
            return  # the picker's first value, or the same run again
        self.ns[name] = path
        _PICKED[name] = (self._given[name], path)
        self._remembered = [n for n in self.names if n in _PICKED and _PICKED[n][0] == self._given[n]]
        self.runs = self._load()
        if self._status is not None:
            self._status.clear_output()
            with self._status:
                self._describe()
        if _interactive:
            import matplotlib.pyplot as plt

            plt.close("all")  # the previous run's canvases (ipympl keeps every open figure's widget alive)
        with figures_held():  # interactive (ipympl) figures, as Run All draws them: see figures_held
            for out, fn in self.cells:
                self._draw(out, fn)

    def _draw(self, out: Any, fn: Callable[..., object]) -> None:
        if out is None:
            _show(fn(*self.runs))
            return
        out.clear_output(wait=True)
        with out, figures_held():
            try:
                _show(fn(*self.runs))
            except Exception as exc:  # the run picked cannot be shown here: say so in the cell, keep the others
                print(f"{type(exc).__name__}: {exc}")

    def cell(self, fn: Callable[..., object]) -> None:
        """Show ``fn(run)`` (``fn(run_a, run_b)`` for a comparison) here, redrawn when another run is picked."""
        out = None
        if self.live:
            import ipywidgets as w
            from IPython.display import display

            out = w.Output()
            display(out)
        self.cells.append((out, fn))
        if out is None:
            _show(fn(*self.runs))  # headless: a failing view fails the cell, as any cell would
        else:
            self._draw(out, fn)


def trend_view(
    h: dict[str, pd.DataFrame], show: Callable[[str], object], trend: str | None = None, live: bool | None = None
) -> None:
    """The history's trends (one per target and contract): in JupyterLab a picker of them, ``show(trend)`` drawn
    below it and redrawn on a pick (kept on Run All while the ``trend`` parameter is unchanged); headless,
    ``show`` for the ``trend`` parameter, or for every trend when it names none."""
    from IPython.display import display

    from ..analysis.history import trends

    keys = [k for k, _ in trends(h)]
    if not keys:
        print("no runs" + (f" of trend {trend!r}" if trend else ""))
        return
    if (live_frontend() if live is None else live) and _has_widgets():
        kept = _PICKED.get("trend")
        value = kept[1] if kept and kept[0] == trend and kept[1] in keys else (trend if trend in keys else keys[0])

        def pick(key: str) -> None:
            _PICKED["trend"] = (trend, key)
            _show(show(key))

        display(_dropdown(keys, pick, value, "trend", show_first=True))
        return
    for key in [trend] if trend in keys else keys:
        _show(show(key))


def _has_widgets() -> bool:
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


#: Held while a view draws its figures, and by every ipympl canvas while it answers its frontend (see figures_held).
FIGURES_LOCK = threading.RLock()


@contextlib.contextmanager
def figures_held() -> Iterator[None]:
    """Hold :data:`FIGURES_LOCK`: no ipympl canvas answers its frontend until the figures drawn here are whole.

    JupyterLab 4.4+ sends widget messages to a kernel subshell (its "comms over subshells" setting, on by
    default with ipykernel 7): an ipympl canvas's "refresh" and "draw" are handled in the subshell's thread
    while the main thread is still drawing, as it is through a whole pick, which draws every cell of a view
    in the picker's callback. Matplotlib is not thread-safe: a canvas asked to draw before its figure
    manager is set raises (unseen: the exception goes to no cell), its frontend then waits for an image
    that never comes and the canvas stays blank for good. With :func:`use_widgets` every canvas's handler
    waits for this lock, so it draws the figure only once the view has finished building it.
    """
    with FIGURES_LOCK:
        yield


def _guard_ipympl_canvases() -> None:
    """Make every ipympl canvas made from now on answer its frontend under :data:`FIGURES_LOCK` (once per process).

    The canvas registers its handler when it is made (``on_msg(self._handle_message)``), so the class's is wrapped.
    """
    from ipympl.backend_nbagg import Canvas

    handle = Canvas._handle_message
    if getattr(handle, "_pitchey_held", False):
        return

    def held(self: Any, obj: Any, content: dict[str, Any], buffers: list[Any]) -> None:
        with FIGURES_LOCK:
            handle(self, obj, content, buffers)

    held._pitchey_held = True  # type: ignore[attr-defined]
    Canvas._handle_message = held


def use_widgets(enable: bool = True) -> bool:
    """Interactive figures (ipympl) from the same figure functions, when enabled and ipympl is installed.

    Returns whether figures are now interactive; the report and papermill runs keep static PNGs.
    """
    global _interactive
    if not enable:
        _interactive = False
        return False
    try:
        import ipympl  # noqa: F401
        import matplotlib.pyplot as plt

        plt.switch_backend("module://ipympl.backend_nbagg")
        _guard_ipympl_canvases()
    except Exception:  # no ipympl, or no kernel to draw into: static figures
        _interactive = False
        return False
    plt.ioff()  # figures are shown where the notebook asks, not when created
    _interactive = True
    return True


def interactive() -> bool:
    """Whether figures are shown as ipympl widgets (set by :func:`use_widgets`; the report keeps static PNGs)."""
    return _interactive


def session_frames(r: Run, probe: str) -> pd.DataFrame:
    """The frames of a probe's sessions (its last attempt), in order: connection, direction, time, type, size,
    payload."""
    ids = r.probes[r.probes["probe"] == probe].sort_values("attempt")["probe_id"].tail(1)
    f = r.frames[r.frames["probe_id"].isin(ids)]
    cols = ["conn_id", "direction", "t_ms", "type", "size_bytes", "payload"]
    return f.sort_values(["t_ms"], kind="stable")[cols].reset_index(drop=True)


def frames_browser(r: Run, probes: list[str], show: Callable[[str], object], value: str | None = None) -> Any:
    """A dropdown of ``probes``; ``show(probe)`` draws below it, first for ``value`` (None without ipywidgets)."""
    return _dropdown(probes, show, value, "probe", show_first=True)
