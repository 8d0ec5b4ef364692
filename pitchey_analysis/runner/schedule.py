"""The run's schedule: which probes run together, which alone, and how long the run is expected to take (pure).

Each probe declares how it shares the target (``ProbeSpec.runs``) and what it may leave behind
(``ProbeSpec.leaves``). The schedule is three stages, one after the other:

1. **quiet**: one at a time, nothing else running: the timing probes (their samples are measured as a quiet
   target gives them), then the probes that read the target's own figures (session counts: no session of
   ours may open or close meanwhile), fill its connections, or flood it beyond its declared limits (the holds
   judge push intervals, which a flood would stretch).
2. **together**: the holds (idle sessions held for a window: sustained sessions, server pings, push intervals)
   start and stay in the background of the whole stage. Beside them only, one at a time, the probes that
   send frames outside the contract (a frame that stops the service is then told apart from its neighbours';
   after each, the runner checks the target is back to its baseline) and the memory churn (traffic within the
   declared size and rate limits, read on a gauge no pool may move); then the probes on
   their own sessions sending contract traffic, at most ``parallel`` at once; then, once those have ended, one
   at a time, the probes that leave something behind that every later probe would inherit (a login throttle,
   failed-authentication lockouts: a target may lock every client out, not only the address that failed).
3. **final**: the probes that judge the whole run (session invariants).

``sequential`` keeps the order of the catalogue, one probe at a time (``run --sequential``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..probes.base import Options, ProbeSpec

#: Probes of the together stage running at once (``run --parallel``): a handful of sessions, far below the
#: load the concurrency ramp puts on the target anyway.
PARALLEL = 6
Step = tuple[ProbeSpec, "str | None"]


@dataclass(frozen=True)
class Stage:
    """Probes that run one after another (``alone``) or side by side (``together``)."""

    mode: str
    steps: tuple[Step, ...]


#: ProbeSpec.runs values that run in the quiet stage, in this order
QUIET = ("timing", "figures")


def stage_of(spec: ProbeSpec) -> int:
    """The stage a probe runs in (0 quiet, 1 together, 2 final)."""
    if spec.final:
        return 2
    quiet = spec.runs in QUIET or spec.runs == "alone" and "load" in spec.leaves
    return 0 if quiet and not spec.last else 1


def _order_in_stage(step: Step) -> tuple[int, int]:
    spec = step[0]
    if spec.runs in QUIET:
        return QUIET.index(spec.runs), 0  # the timing probes first: nothing has loaded the target yet
    if "load" in spec.leaves and spec.runs == "alone":
        return len(QUIET), 0  # the quiet stage's load last
    if spec.runs == "hold":
        return 0, 0  # the holds start first: they take longest
    if spec.last:
        return 4, 0  # what every later probe would inherit: once the others have ended
    if spec.runs == "alone":
        return 1, 0  # one at a time beside the idle holds
    # then the pool, the probes that declare a wait (for a target's deadline) first: started last, they would end
    # the pool alone, seconds after the others
    return 2, 0 if spec.waits else 1


def schedule(steps: list[Step], *, sequential: bool = False) -> list[Stage]:
    """The stages of a plan (its steps in catalogue order; a step with a skip reason is only a record)."""
    if sequential:
        return [Stage("alone", tuple(steps))] if steps else []
    by_stage: list[list[Step]] = [[], [], []]
    for step in steps:
        by_stage[stage_of(step[0])].append(step)
    for st in by_stage:
        st.sort(key=_order_in_stage)  # stable: the catalogue's order within each rank
    modes = ("alone", "together", "alone")  # the quiet stage and the final one: one probe at a time
    return [Stage(m, tuple(s)) for m, s in zip(modes, by_stage, strict=True) if s]


def expected_s(spec: ProbeSpec, options: Options) -> float:
    """A probe's expected duration: its declared longest wait, else its settle window (a session judged on a
    frame is watched that long afterwards: the typical wait of a probe against a local target)."""
    if spec.final:
        return 0.0  # judges what the run recorded: no wait of its own
    return float(getattr(options, spec.waits or "settle_s"))


def stage_s(stage: Stage, options: Options, parallel: int = PARALLEL) -> float:
    """A stage's expected wall time: the sum of its probes alone; side by side, the longest hold, or the probes
    one at a time plus the others' time shared among ``parallel`` slots, whichever is longer."""
    run = [s for s, why in stage.steps if why is None]
    if stage.mode == "alone":
        return sum(expected_s(s, options) for s in run)
    holds = [expected_s(s, options) for s in run if s.runs == "hold"]
    one_by_one = sum(expected_s(s, options) for s in run if s.last or s.runs != "together" and s.runs != "hold")
    rest = [expected_s(s, options) for s in run if s.runs == "together" and not s.last]
    shared = max(max(rest, default=0.0), math.ceil(len(rest) / max(1, parallel)) * (sum(rest) / max(1, len(rest))))
    return max(max(holds, default=0.0), one_by_one + shared)


def describe(stages: list[Stage], options: Options, parallel: int = PARALLEL) -> list[dict[str, Any]]:
    """The schedule as plain data (the plan in the manifest and ``run --dry-run``)."""
    return [
        {
            "stage": i + 1,
            "mode": st.mode,
            "expected_s": round(stage_s(st, options, parallel), 1),
            "probes": [{"probe": s.name, "runs": s.runs, "leaves": list(s.leaves), "skip": why} for s, why in st.steps],
        }
        for i, st in enumerate(stages)
    ]
