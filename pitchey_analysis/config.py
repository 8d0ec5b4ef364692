"""Paths and shared settings, in one place (cookiecutter-data-science habit)."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
#: The project checkout, when the package runs from one (None when installed elsewhere).
PROJ_ROOT: Path | None = PACKAGE_DIR.parent if (PACKAGE_DIR.parent / "pyproject.toml").exists() else None


def data_dir() -> Path:
    """``$PITCHEY_DATA_DIR`` or ``./data`` (never inside the installed package)."""
    env = os.environ.get("PITCHEY_DATA_DIR")
    return Path(env) if env else Path.cwd() / "data"


def runs_dir() -> Path:
    """Where runs are written and looked up: ``<data_dir>/runs``."""
    return data_dir() / "runs"


def reports_dir() -> Path:
    """Where reports are written by default: ``./reports``."""
    return Path.cwd() / "reports"


def sample_run_dir() -> Path | None:
    """The committed sample run (``data/sample/<run_id>``), if present."""
    candidates = [data_dir() / "sample"]
    if PROJ_ROOT is not None:
        candidates.append(PROJ_ROOT / "data" / "sample")
    for base in candidates:
        if base.is_dir():
            runs = sorted(p for p in base.iterdir() if (p / "manifest.json").exists())
            if runs:
                return runs[-1]
    return None


def time_unit() -> float:
    """Scale for every timeout in tests and probes (``PITCHEY_TIMEOUT_SCALE``, default 1)."""
    try:
        return max(0.1, float(os.environ.get("PITCHEY_TIMEOUT_SCALE", "1")))
    except ValueError:
        return 1.0
