"""Helpers for the notebooks: which run to open (and why), the runs index, the run picker.

Notebooks hold narrative and calls; what they share lives here. Nothing here
computes a statistic: the index and the picker call :mod:`pitchey_analysis.analysis`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from .capture.dataset import Run, list_runs, load_run, resolve_run
from .config import sample_run_dirs


def contract_name(manifest: dict[str, Any]) -> str:
    """The contract a run was judged against (``pitchey``, the built-in one, until runs record another)."""
    c = manifest.get("contract")
    if isinstance(c, dict):
        return str(c.get("name") or c.get("title") or "pitchey")
    return str(c) if c else "pitchey"


def target_line(manifest: dict[str, Any]) -> str:
    """The target in one line: URL, and the embedded server's profile when it was ours."""
    t = manifest.get("target") or {}
    prof = ((manifest.get("server") or {}).get("profile") or {}).get("name")
    url = str(t.get("ws_url", "?"))
    return f"{url} (embedded reference server, profile {prof})" if t.get("embedded") else url


def open_run(run: str | os.PathLike[str] | None = "latest", runs_dir: Path | str | None = None) -> Run:
    """Load a run and print which one and why (every notebook starts with this)."""
    path, why = resolve_run(run, Path(runs_dir) if runs_dir else None)
    r = load_run(path)
    print(f"Loaded run {r.run_id} ({r.manifest.get('status')}, suite {(r.manifest.get('suite') or {}).get('name')})\n"
          f"  target: {target_line(r.manifest)}\n  why:    {why}")
    return r


def _index_row(path: Path, source: str) -> dict[str, Any]:
    from .analysis import analyze

    r = load_run(path)
    m = r.manifest
    a = analyze(r)
    return {
        "run_id": r.run_id, "started": str(m.get("started_at", ""))[:19].replace("T", " "), "target": target_line(m),
        "profile": ((m.get("server") or {}).get("profile") or {}).get("name") or "—",
        "suite": (m.get("suite") or {}).get("name"), "contract": contract_name(m), "verdict": a.verdict.verdict,
        "score": "—" if a.score != a.score else f"{a.score:.1%}", "status": m.get("status"), "source": source, "path": str(path),
    }


def runs_index(runs_dir: Path | str | None = None, *, samples: bool = True) -> pd.DataFrame:
    """Every run under ``runs_dir`` (and the committed samples): id, date, target, profile, contract, verdict, score."""
    rows = [_index_row(p, "runs") for p in list_runs(Path(runs_dir) if runs_dir else None)]
    if samples:
        rows += [_index_row(p, "sample") for p in sample_run_dirs()]
    cols = ["run_id", "started", "target", "profile", "suite", "contract", "verdict", "score", "status", "source", "path"]
    return pd.DataFrame(rows, columns=cols).sort_values("run_id", kind="stable").reset_index(drop=True)


def _dropdown(options: list[tuple[str, str]] | list[str], on_pick: Callable[[str], object], value: str | None,
              description: str) -> Any:
    """A dropdown whose choice calls ``on_pick`` in an output area below it (None, with a note, without ipywidgets)."""
    try:
        import ipywidgets as w
    except ImportError:
        print("ipywidgets is not installed: set the parameters cell instead")
        return None
    values = [o[1] if isinstance(o, tuple) else o for o in options]
    dd = w.Dropdown(options=options, value=value if value in values else None, description=description,
                    layout=w.Layout(width="95%"))
    out = w.Output()

    def changed(change: dict[str, Any]) -> None:
        if change.get("new"):
            out.clear_output()
            with out:
                on_pick(change["new"])

    dd.observe(changed, names="value")
    return w.VBox([dd, out])


def run_picker(index: pd.DataFrame, on_pick: Callable[[str], object], value: str | None = None,
               description: str = "run") -> Any:
    """A dropdown of the runs in ``index``; choosing one calls ``on_pick(path)`` below it.

    Papermill parameters still choose the run for reports; without ipywidgets this returns None.
    """
    options = [(f"{r.run_id} · {r.profile} · {r.verdict}", r.path) for r in index.itertuples()]
    return _dropdown(options, on_pick, value, description)


def pick_run(ns: dict[str, Any], runs_dir: Path | str | None = None, names: tuple[str, ...] = ("run",)) -> Any:
    """Show the runs index and a picker per parameter in ``names`` (each sets ``ns[name]``); the top cell of a notebook."""
    from IPython.display import display

    index = runs_index(runs_dir)
    display(index.drop(columns=["path"]))
    pickers = [pick_into(ns, n, index) for n in names]
    return pickers[0] if len(pickers) == 1 else display(*pickers)


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
            raise FileNotFoundError("comparing needs two runs: give run_a and run_b, or capture a second run first")
        run_a, run_b = run_a or str(found[-2]), run_b or str(found[-1])
        print(f"Comparing {why}")
    return open_run(run_a, base), open_run(run_b, base)


def pick_into(ns: dict[str, Any], name: str, index: pd.DataFrame, description: str | None = None) -> Any:
    """A run picker that sets ``ns[name]`` (the notebook's parameter) to the chosen run.

    The notebook's analysis then re-runs for that run with *Run ▸ Run Selected Cell and All Below*;
    the picked run's verdict is shown at once. Papermill's parameters still choose the run for reports.
    """
    def chosen(path: str) -> None:
        ns[name] = path
        row = index[index["path"] == path].iloc[0]
        print(f"{name} = {row.run_id!r}: {row.verdict}, {row.target}\n"
              "Now run the cells below (Run ▸ Run Selected Cell and All Below) to analyse it.")

    current = ns.get(name)
    value = str(resolve_run(current)[0]) if current not in (None, "latest") and Path(str(current)).exists() else None
    return run_picker(index, chosen, value=value, description=description or name)


def use_widgets(enable: bool = True) -> bool:
    """Interactive figures (ipympl) from the same figure functions, when enabled and ipympl is installed.

    Returns whether figures are now interactive; the report and papermill runs keep static PNGs.
    """
    from .report import render

    if not enable:
        render.INTERACTIVE = False
        return False
    try:
        import ipympl  # noqa: F401
        import matplotlib.pyplot as plt

        plt.switch_backend("module://ipympl.backend_nbagg")
    except Exception:  # no ipympl, or no kernel to draw into: static figures
        render.INTERACTIVE = False
        return False
    plt.ioff()  # figures are shown where the notebook asks, not when created
    render.INTERACTIVE = True
    return True


def session_frames(r: Run, probe: str) -> pd.DataFrame:
    """The frames of a probe's sessions (its last attempt), in order: connection, direction, time, type, size, payload."""
    ids = r.probes[r.probes["probe"] == probe].sort_values("attempt")["probe_id"].tail(1)
    f = r.frames[r.frames["probe_id"].isin(ids)]
    cols = ["conn_id", "direction", "t_ms", "type", "size_bytes", "payload"]
    return f.sort_values(["t_ms"], kind="stable")[cols].reset_index(drop=True)


def frames_browser(r: Run, probes: list[str], show: Callable[[str], object]) -> Any:
    """A dropdown of ``probes``; choosing one calls ``show(probe)`` below it (None without ipywidgets)."""
    return _dropdown(probes, show, None, "probe")
