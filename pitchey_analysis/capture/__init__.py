"""Capture: the records a run is made of, written append-and-flush, and read back as DataFrames.

Flow: probes → **records → recorder → run dataset** → DataFrames → analysis.

- :mod:`.records` — the tables and their documented columns (``describe("probes")``)
- :mod:`.recorder` — the crash-safe writer of a run (``events.jsonl``, ``manifest.json``)
- :mod:`.samplestream` — load samples as compressed Arrow chunks, streamed to disk
- :mod:`.dataset` — a run directory read back as DataFrames (:class:`Run`)
- :mod:`.redact` — secrets masked before anything is written
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .redact import redact, redact_text, redact_url  # eager: the submodule's name is also a function's

#: public names and their modules, imported on first use (a load shard imports samplestream only, not pandas)
_EXPORTS = {"Run": "dataset", "latest_run": "dataset", "list_runs": "dataset", "load_events": "dataset", "load_run": "dataset",
            "load_runs": "dataset", "resolve_run": "dataset", "Recorder": "recorder", "OUTCOMES": "records",
            "SCHEMA_VERSION": "records", "TABLES": "records", "columns": "records", "describe": "records"}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "OUTCOMES",
    "SCHEMA_VERSION",
    "TABLES",
    "Recorder",
    "Run",
    "columns",
    "describe",
    "latest_run",
    "list_runs",
    "load_events",
    "load_run",
    "load_runs",
    "redact",
    "redact_text",
    "redact_url",
    "resolve_run",
]
