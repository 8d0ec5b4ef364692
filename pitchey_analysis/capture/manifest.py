"""The manifest of a run: one builder for the probe suite's runs and the load runs.

Every run records what ran it (package versions, Python, OS, host, the
checkout's commit, when) and its target with any credentials in the URLs
masked; the caller adds the suite and its configuration.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import platform
import socket
import subprocess
import sys
from typing import Any

from ..config import PROJ_ROOT
from .redact import redact_url

#: The distributions whose versions a run records.
RECORDED = (
    "pitchey-analysis",
    "websockets",
    "aiohttp",
    "picows",
    "distributed",
    "pandas",
    "pyarrow",
    "PyJWT",
    "matplotlib",
    "papermill",
    "nbconvert",
    "weasyprint",
)


def versions() -> dict[str, str]:
    """The installed versions of :data:`RECORDED` (the missing ones left out)."""
    out = {}
    for name in RECORDED:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def git_commit() -> str | None:
    """The checkout's commit, when the package runs from one (None from an installed wheel)."""
    if PROJ_ROOT is None:
        return None
    try:
        return (
            subprocess.run(
                ["git", "rev-parse", "HEAD"], cwd=PROJ_ROOT, capture_output=True, text=True, timeout=5
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        return None


def provenance() -> dict[str, Any]:
    """What ran the run: versions, Python, OS, host, commit and the time the manifest was made."""
    return {
        "versions": versions(),
        "python": sys.version.split()[0],
        "os": platform.platform(),
        "host": socket.gethostname(),
        "git_commit": git_commit(),
        "created": dt.datetime.now(dt.UTC).isoformat(),
    }


def target_record(ws_url: str, http_url: str, *, embedded: bool) -> dict[str, Any]:
    """The target as a manifest stores it (URLs redacted)."""
    return {
        "ws_url": redact_url(ws_url),
        "http_url": redact_url(http_url),
        "embedded": embedded,
        "tls": ws_url.startswith("wss"),
    }


def run_manifest(
    *,
    target: dict[str, Any],
    suite: dict[str, Any],
    config: dict[str, Any],
    server: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A run's initial manifest: its target, the embedded server (None for a target of the user's), suite,
    configuration,
    any ``extra`` fields and the run's :func:`provenance`."""
    return {"target": target, "server": server, "suite": suite, "config": config, **extra, **provenance()}
