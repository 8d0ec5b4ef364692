"""The probe families; importing this package fills the catalogue."""

from __future__ import annotations

from ..categories import CATEGORIES
from . import (  # noqa: F401 - registration
    authentication,
    authorization,
    connection,
    hardening,
    invariant_probes,
    messaging,
    performance,
    protocol,
    readiness,
    resilience,
    sustained,
)
from .base import (
    CATALOGUE,
    Credentials,
    Options,
    ProbeContext,
    ProbeSpec,
    Result,
    catalogue_frame,
    classify,
)

__all__ = [
    "CATALOGUE",
    "CATEGORIES",
    "Credentials",
    "Options",
    "ProbeContext",
    "ProbeSpec",
    "Result",
    "catalogue_frame",
    "classify",
]
