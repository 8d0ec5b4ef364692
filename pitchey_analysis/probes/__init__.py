"""The probe families; importing this package fills the catalogue."""

from __future__ import annotations

from . import authentication, connection, invariant_probes, messaging, performance, readiness, resilience  # noqa: F401 - registration
from .base import (
    CATALOGUE,
    CATEGORIES,
    Credentials,
    Options,
    ProbeContext,
    ProbeSpec,
    Result,
    catalogue_frame,
    classify,
)

__all__ = ["CATALOGUE", "CATEGORIES", "Credentials", "Options", "ProbeContext", "ProbeSpec", "Result", "catalogue_frame", "classify"]
