"""Report: what a reader sees of a run — figures, rendered tables, the exported HTML/PDF, summaries.

Flow: analysis → **figures → notebooks → report**. Nothing here computes a
statistic; every number comes from :mod:`pitchey_analysis.analysis`.

- :mod:`.figures`, :mod:`.soakfigures` — one function per figure, each returns a matplotlib Figure
- :mod:`.render` — tables and report sections as HTML for the notebooks
- :mod:`.export` — papermill, nbconvert and WeasyPrint: ``build_report`` writes the HTML and PDF
- :mod:`.summary` — the end-of-run console table, JSON and JUnit XML
- :mod:`.history` — every run of a target over time (``pitchey-analysis history``)

The submodules are imported on first use (matplotlib and the notebook stack are heavy).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"build_report": ".export", "ReportError": ".export", "load_history": ".history", "history_tables": ".history"}

__all__ = ["ReportError", "build_report", "history_tables", "load_history"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pitchey_analysis.report' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
