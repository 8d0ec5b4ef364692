"""The run's schedule: which probes run together, which alone, and how long the run is expected to take (pure).

Each probe declares how it shares the target (``ProbeSpec.runs``) and what it may leave behind
(``ProbeSpec.leaves``). The schedule is four stages, one after the other:

1. **alone**: probes that need the target to themselves, one at a time: timing probes (their samples are
   not measured under the suite's own load), probes that read the target's own figures (session counts),
   that flood it or that send frames outside the contract (a frame that stops the service is then told
   apart from its neighbours').
2. **together**: probes on their own sessions sending contract traffic, at most ``parallel`` at once, with
   the holds (idle sessions held for a window: sustained sessions, server pings, push intervals) in the
   background beside them; the probes that lock out scratch source addresses start last in it.
3. **alone, last**: probes that leave something behind on the run's own address (a login throttle, the
   connection cap), each followed by the runner's recovery check.
4. **final**: the probes that judge the whole run (session invariants).

``sequential`` keeps the order of the catalogue, one probe at a time (``run --sequential``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .probes.base import Options, ProbeSpec

#: Probes of the together stage running at once (``run --parallel``): a handful of sessions, far below the
#: load the concurrency ramp puts on the target anyway.
PARALLEL = 6
#: What a probe that runs after the others leaves on the run's own address (ProbeSpec.leaves).
LEAVES_BEHIND = frozenset({"login_throttle", "connections"})

Step = tuple[ProbeSpec, "str | None"]


@dataclass(frozen=True)
class Stage:
    """Probes that run one after another (``alone``) or side by side (``together``)."""

    mode: str
    steps: tuple[Step, ...]


def stage_of(spec: ProbeSpec) -> int:
    """The stage a probe runs in (0 alone, 1 together, 2 alone after the others, 3 final)."""
    if spec.final:
        return 3
    if spec.runs in ("together", "hold"):
        return 1
    return 2 if spec.last or LEAVES_BEHIND & set(spec.leaves) else 0


def schedule(steps: list[Step], *, sequential: bool = False) -> list[Stage]:
    """The stages of a plan (its steps in catalogue order; a step with a skip reason is only a record)."""
    if sequential:
        return [Stage("alone", tuple(steps))] if steps else []
    by_stage: list[list[Step]] = [[], [], [], []]
    for step in steps:
        by_stage[stage_of(step[0])].append(step)
    # in the together stage, holds start first (they take longest), the lockouts of scratch addresses last
    by_stage[1].sort(key=lambda st: 0 if st[0].runs == "hold" else 2 if st[0].last else 1)
    modes = ("alone", "together", "alone", "alone")
    return [Stage(m, tuple(s)) for m, s in zip(modes, by_stage, strict=True) if s]


def expected_s(spec: ProbeSpec, options: Options) -> float:
    """A probe's expected duration: its declared longest wait, else its settle window (a session judged on a
    frame is watched that long afterwards: the typical wait of a probe against a local target)."""
    return float(getattr(options, spec.waits or "settle_s"))


def stage_s(stage: Stage, options: Options, parallel: int = PARALLEL) -> float:
    """A stage's expected wall time: the sum of its probes alone; side by side, the longest hold or the
    probes' time shared among ``parallel`` slots, whichever is longer."""
    run = [s for s, why in stage.steps if why is None]
    if stage.mode == "alone":
        return sum(expected_s(s, options) for s in run)
    holds = [expected_s(s, options) for s in run if s.runs == "hold"]
    rest = [expected_s(s, options) for s in run if s.runs != "hold"]
    shared = max(max(rest, default=0.0), math.ceil(len(rest) / max(1, parallel)) * (sum(rest) / max(1, len(rest))))
    return max(max(holds, default=0.0), shared)


def describe(stages: list[Stage], options: Options, parallel: int = PARALLEL) -> list[dict[str, Any]]:
    """The schedule as plain data (the plan in the manifest and ``run --dry-run``)."""
    return [{"stage": i + 1, "mode": st.mode, "expected_s": round(stage_s(st, options, parallel), 1),
             "probes": [{"probe": s.name, "runs": s.runs, "leaves": list(s.leaves), "skip": why} for s, why in st.steps]}
            for i, st in enumerate(stages)]
