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

from .._lazy import lazy_exports

_EXPORTS = {
    "build_report": ".export",
    "ReportError": ".export",
    "load_history": ".history",
    "history_tables": ".history",
}

__all__ = ["ReportError", "build_report", "history_tables", "load_history"]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
