"""Capture: the records a run is made of, written append-and-flush, and read back as DataFrames.

Flow: probes → **records → recorder → run dataset** → DataFrames → analysis.

- :mod:`.records` — the tables and their documented columns (``describe("probes")``)
- :mod:`.recorder` — the crash-safe writer of a run (``events.jsonl``, ``manifest.json``)
- :mod:`.samplestream` — load samples as Arrow chunks (nanoarrow), streamed to disk
- :mod:`.saturation` — the load generator's own saturation, from the windows a load run records
- :mod:`.dataset` — a run directory read back as DataFrames (:class:`Run`)
- :mod:`.redact` — secrets masked before anything is written
"""

from __future__ import annotations

from .._lazy import lazy_exports
from .redact import redact, redact_text, redact_url  # eager: the submodule's name is also a function's

#: public names and their modules, imported on first use (a load shard imports samplestream only, not pandas)
_EXPORTS = {
    "Run": "dataset",
    "latest_run": "dataset",
    "list_runs": "dataset",
    "load_events": "dataset",
    "load_run": "dataset",
    "load_samples": "dataset",
    "load_runs": "dataset",
    "resolve_run": "dataset",
    "Recorder": "recorder",
    "OUTCOMES": "records",
    "SCHEMA_VERSION": "records",
    "TABLES": "records",
    "columns": "records",
    "describe": "records",
}


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
    "load_samples",
    "load_runs",
    "redact",
    "redact_text",
    "redact_url",
    "resolve_run",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
