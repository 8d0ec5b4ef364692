"""pitchey-analysis: is a real-time WebSocket service ready for production?

Public names::

    from pitchey_analysis import ReferenceServer, PitcheyClient, run_suite, load_run, load_runs

They are imported lazily (PEP 562), as httpx and websockets do, so that
``import pitchey_analysis.analysis`` (a notebook, a report) does not load the
network stack of the probes, the server and the client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports

__version__ = "0.1.0"  # the one place the version is written (pyproject.toml reads it)

#: public name -> the module that defines it
_EXPORTS = {
    "PitcheyClient": ".client",
    "SyncPitcheyClient": ".client",
    "Run": ".capture.dataset",
    "load_run": ".capture.dataset",
    "load_runs": ".capture.dataset",
    "ReferenceServer": ".server",
    "arun_suite": ".runner.run",
    "run_suite": ".runner.run",
    "PitcheyAnalysisError": ".exceptions",
    "UsageError": ".exceptions",
    "PreflightError": ".exceptions",
    "RunNotFound": ".exceptions",
    "ReportError": ".exceptions",
    "ClientError": ".exceptions",
    "Contract": ".contract",
    "ContractError": ".contract",
    "load_contract": ".contract",
}

__all__ = [
    "ClientError",
    "Contract",
    "ContractError",
    "PitcheyAnalysisError",
    "PitcheyClient",
    "PreflightError",
    "ReferenceServer",
    "ReportError",
    "Run",
    "RunNotFound",
    "SyncPitcheyClient",
    "UsageError",
    "__version__",
    "arun_suite",
    "load_contract",
    "load_run",
    "load_runs",
    "run_suite",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from .capture.dataset import Run, load_run, load_runs
    from .client import PitcheyClient, SyncPitcheyClient
    from .contract import Contract, ContractError, load_contract
    from .exceptions import ClientError, PitcheyAnalysisError, PreflightError, ReportError, RunNotFound, UsageError
    from .runner.run import arun_suite, run_suite
    from .server import ReferenceServer


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
