"""Running the suite: what a run is given (:mod:`.options`), which probes it asks (:mod:`.planning`), in which stages
(:mod:`.schedule`), the user's set-up checked first (:mod:`.preflight`), the target watched between probes
(:mod:`.watch`), and the run itself, captured as it goes (:mod:`.run`).

The public names are imported on first use: ``from pitchey_analysis.runner import preflight`` does not load the
probes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    "DEADLINES": "options",
    "DEMO_ADMIN": "options",
    "DEMO_USERS": "options",
    "EMBEDDED_KNOBS": "options",
    "SUITES": "options",
    "SuiteConfig": "options",
    "make_options": "options",
    "SUITE_VERSION": "planning",
    "plan": "planning",
    "arun_suite": "run",
    "run_probe": "run",
    "run_suite": "run",
}
__all__ = [
    "DEADLINES",
    "DEMO_ADMIN",
    "DEMO_USERS",
    "EMBEDDED_KNOBS",
    "SUITES",
    "SUITE_VERSION",
    "SuiteConfig",
    "arun_suite",
    "make_options",
    "plan",
    "run_probe",
    "run_suite",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from .options import DEADLINES, DEMO_ADMIN, DEMO_USERS, EMBEDDED_KNOBS, SUITES, SuiteConfig, make_options
    from .planning import SUITE_VERSION, plan
    from .run import arun_suite, run_probe, run_suite

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
