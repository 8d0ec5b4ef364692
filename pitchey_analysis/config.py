"""Paths and shared settings, in one place (cookiecutter-data-science habit)."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
#: The project checkout, when the package runs from one (None when installed elsewhere).
PROJ_ROOT: Path | None = PACKAGE_DIR.parent if (PACKAGE_DIR.parent / "pyproject.toml").exists() else None


def project_root(start: Path | None = None) -> Path | None:
    """The nearest folder at or above ``start`` (default: the working folder) holding ``pyproject.toml``.

    A Jupyter kernel runs in ``notebooks/``, a script perhaps in a sub-folder: both
    find the project's ``data/`` this way. None outside any project.
    """
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    return None


def data_dir() -> Path:
    """``$PITCHEY_DATA_DIR``, else ``<project root>/data``, else ``./data`` (never inside the installed package)."""
    return data_dir_and_why()[0]


def data_dir_and_why() -> tuple[Path, str]:
    """The data folder and, in words, why that one (notebooks print it)."""
    env = os.environ.get("PITCHEY_DATA_DIR")
    if env:
        return Path(env), "$PITCHEY_DATA_DIR is set"
    root = project_root()
    if root is not None:
        return root / "data", f"the project root {root} (it holds pyproject.toml)"
    return Path.cwd() / "data", "no pyproject.toml above the working folder: ./data"


def runs_dir() -> Path:
    """Where runs are written and looked up: ``<data_dir>/runs``."""
    return data_dir() / "runs"


def reports_dir() -> Path:
    """Where reports are written by default: ``<project root>/reports`` (else ``./reports``)."""
    return (project_root() or Path.cwd()) / "reports"


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
