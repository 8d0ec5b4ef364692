"""Paths and shared settings, in one place (cookiecutter-data-science habit)."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
#: The project checkout, when the package runs from one (None when installed elsewhere).
PROJ_ROOT: Path | None = PACKAGE_DIR.parent if (PACKAGE_DIR.parent / "pyproject.toml").exists() else None


#: The file that marks a folder as this project's data folder (``<root>/data/.pitchey-analysis``): written by
#: ``run`` and ``load`` next to the runs they write, committed in the checkout. A ``pyproject.toml`` marks any
#: Python project, so it cannot tell ours from the project a user happens to work in.
MARKER = ".pitchey-analysis"
_MARKER_TEXT = (
    "This folder holds pitchey-analysis run datasets (runs/); the file marks it for the tool's data-folder lookup.\n"
)


def project_root(start: Path | None = None) -> Path | None:
    """The nearest folder at or above ``start`` (default: the working folder) whose ``data/`` holds the marker.

    A Jupyter kernel runs in ``notebooks/``, a script perhaps in a sub-folder: both
    find the project's ``data/`` this way. None when no folder above is marked.
    """
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "data" / MARKER).is_file():
            return folder
    return None


def _checkout() -> Path | None:
    """The checkout the package runs from (an editable install), when its data folder is marked; else None."""
    root = PACKAGE_DIR.parent
    return root if (root / "data" / MARKER).is_file() else None


def data_dir() -> Path:
    """The data folder: see :func:`data_dir_and_why`."""
    return data_dir_and_why()[0]


def data_dir_and_why() -> tuple[Path, str]:
    """The data folder and, in words, why that one (notebooks print it).

    ``$PITCHEY_DATA`` (``$PITCHEY_DATA_DIR``, its older name), else ``data/`` of the nearest folder at or above the
    working folder whose ``data/`` holds the marker :data:`MARKER`, else the ``data/`` of the checkout the package
    runs from, else ``./data``. Never inside an installed package.
    """
    for var in ("PITCHEY_DATA", "PITCHEY_DATA_DIR"):
        env = os.environ.get(var)
        if env:
            return Path(env), f"${var} is set"
    root = project_root()
    if root is not None:
        return root / "data", f"the nearest folder above the working folder with a marked data/ ({root})"
    root = _checkout()
    if root is not None:
        return root / "data", f"the checkout the package runs from ({root})"
    return Path.cwd() / "data", "no marked data folder above the working folder: ./data"


def runs_dir() -> Path:
    """Where runs are written and looked up: ``<data_dir>/runs``."""
    return data_dir() / "runs"


def runs_dir_option(run_dir: Path) -> str:
    """The ``--runs-dir`` option a command needs to find runs in ``run_dir`` (`` --runs-dir <folder>``, quoted for a
    shell), or "" when ``run_dir`` is the runs folder the command looks in by default (:func:`runs_dir`)."""
    import shlex

    if Path(run_dir).resolve() == runs_dir().resolve():
        return ""
    return f" --runs-dir {shlex.quote(str(run_dir))}"


def writable_runs_dir() -> Path:
    """:func:`runs_dir`, created, with the data folder marked so that a later command from a sub-folder finds it."""
    d = runs_dir()
    d.mkdir(parents=True, exist_ok=True)
    marker = d.parent / MARKER
    if not marker.exists():
        try:
            marker.write_text(_MARKER_TEXT)
        except OSError:  # a read-only data folder still takes runs given elsewhere; the lookup then needs $PITCHEY_DATA
            pass
    return d


def reports_dir() -> Path:
    """Where reports are written by default: ``$PITCHEY_REPORTS``, else ``reports/`` beside the data folder
    (inside it when ``$PITCHEY_DATA`` names it)."""
    env = os.environ.get("PITCHEY_REPORTS")
    if env:
        return Path(env)
    data, why = data_dir_and_why()
    # a data folder named by the environment may be anywhere (a home folder, /tmp): its reports stay inside it
    return data / "reports" if why.startswith("$") else data.parent / "reports"


def sample_run_dirs() -> list[Path]:
    """The committed sample runs (``data/sample/<run_id>``), oldest first."""
    candidates = [data_dir() / "sample"]
    if PROJ_ROOT is not None:
        candidates.append(PROJ_ROOT / "data" / "sample")
    for base in candidates:
        if base.is_dir():
            runs = sorted(p for p in base.iterdir() if (p / "manifest.json").exists())
            if runs:
                return runs
    return []


def sample_run_dir(profile: str = "complete") -> Path | None:
    """The committed sample run of an embedded-server ``profile`` (else the newest sample), if any."""
    from .capture.schema import read_manifest
    from .exceptions import DatasetError

    runs = sample_run_dirs()
    for p in reversed(runs):
        try:
            server = read_manifest(p).get("server") or {}
        except DatasetError:
            continue
        if (server.get("profile") or {}).get("name") == profile:
            return p
    return runs[-1] if runs else None


def time_unit() -> float:
    """Scale for every timeout in tests and probes (``PITCHEY_TIMEOUT_SCALE``, default 1)."""
    try:
        return max(0.1, float(os.environ.get("PITCHEY_TIMEOUT_SCALE", "1")))
    except ValueError:
        return 1.0
