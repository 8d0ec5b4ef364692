"""The probe categories, in the report's order (shared by the probes and the analysis, so neither imports the other)."""

from __future__ import annotations

CATEGORIES = ("connection", "authentication", "messaging", "performance", "readiness", "resilience")
