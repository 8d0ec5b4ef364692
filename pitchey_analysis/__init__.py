"""pitchey-analysis: is a real-time WebSocket service ready for production?

Public names::

    from pitchey_analysis import ReferenceServer, PitcheyClient, run_suite, load_run, load_runs
"""

from __future__ import annotations

from .client import PitcheyClient, SyncPitcheyClient
from .contract import Contract, ContractError, load_contract
from .dataset import Run, load_run, load_runs
from .server import ReferenceServer
from .suite import arun_suite, run_suite

__version__ = "0.1.0"

__all__ = [
    "Contract",
    "ContractError",
    "PitcheyClient",
    "ReferenceServer",
    "Run",
    "SyncPitcheyClient",
    "__version__",
    "arun_suite",
    "load_contract",
    "load_run",
    "load_runs",
    "run_suite",
]
