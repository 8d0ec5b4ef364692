"""The package's closed vocabularies: probe outcomes, target statuses, run statuses, verdicts.

Each is an :class:`enum.StrEnum`, so a member *is* its string: ``Outcome.PASS == "pass"``, it is written
to JSON and Parquet as ``"pass"``, and a run dataset reads back the same strings whichever version wrote
it. The module imports nothing of the package, so probes, capture, analysis and report can all use it.
"""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    """A probe record's outcome (the ``outcome`` column of the probes table)."""

    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    SKIP = "skip"


#: the outcomes that count against a probe (rule 1 / 3 of the verdict); skips are gaps, not failures
FAILED: tuple[Outcome, ...] = (Outcome.FAIL, Outcome.ERROR)


class Readiness(StrEnum):
    """The computed verdict, in the order of the rules that give it (DESIGN.md, Verdict).

    Named apart from :class:`pitchey_analysis.analysis.verdict.Verdict`, the dataclass that carries it
    with the probes and targets that decided it.
    """

    NOT_READY = "NOT READY"
    INSUFFICIENT_EVIDENCE = "INSUFFICIENT EVIDENCE"
    READY_WITH_RISKS = "READY WITH RISKS"
    READY = "READY"


class TargetStatus(StrEnum):
    """A service-level target's status (the ``status`` column of the SLO table)."""

    MET = "met"
    MISSED = "missed"
    NOT_VERIFIED = "not verified"
    NOT_APPLICABLE = "not applicable"


class RunStatus(StrEnum):
    """A run's status in its manifest."""

    RUNNING = "running"
    COMPLETE = "complete"
    INTERRUPTED = "interrupted"
    DEGRADED = "degraded"


class Completeness(StrEnum):
    """What kind of run the verdict judged (``running`` read back is *incomplete*: killed, or not ended)."""

    COMPLETE = "complete"
    INTERRUPTED = "interrupted"
    INCOMPLETE = "incomplete"
    PARTIAL = "partial"
    DEADLINE = "deadline"
    DEGRADED = "degraded"


class Support(StrEnum):
    """A message type's support (DESIGN.md: full / partial / missing), or why it was not judged."""

    FULL = "full"
    PARTIAL = "partial"
    MISSING = "missing"
    ERROR = "error"
    NOT_TESTED = "not tested"


class Trend(StrEnum):
    """A drift's status over a soak run."""

    DRIFTING = "drifting"
    DECREASING = "decreasing"
    FLAT = "flat"
    NOT_VERIFIED = "not verified"


__all__ = ["FAILED", "Completeness", "Outcome", "Readiness", "RunStatus", "Support", "TargetStatus", "Trend"]
