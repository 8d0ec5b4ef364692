"""Capture: the records a run is made of, written append-and-flush, and read back as DataFrames.

Flow: probes → **records → recorder → run dataset** → DataFrames → analysis.

- :mod:`.records` — the tables and their documented columns (``describe("probes")``)
- :mod:`.recorder` — the crash-safe writer of a run (``events.jsonl``, ``manifest.json``)
- :mod:`.samplestream` — load samples as compressed Arrow chunks, streamed to disk
- :mod:`.dataset` — a run directory read back as DataFrames (:class:`Run`)
- :mod:`.redact` — secrets masked before anything is written
"""

from __future__ import annotations

from .dataset import Run, latest_run, list_runs, load_events, load_run, load_runs, resolve_run
from .recorder import Recorder
from .records import OUTCOMES, SCHEMA_VERSION, TABLES, columns, describe
from .redact import redact, redact_text, redact_url

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
