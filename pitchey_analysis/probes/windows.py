"""Observation windows taken from the target's own behaviour: figures it reports, read until they settle.

A figure a service reports about itself (its open-session count, its memory) may follow what happened late: a
backend that counts sessions in a background task shows a new one some hundred milliseconds afterwards. Read in
that gap, ten leaked sessions look like static figures. So a figure is polled until it settles -- unchanged over a
quiet window -- within a deadline scaled as every other wait, and the window itself is measured on the target: how
long its figure took to follow a change the probe made (:func:`quiet_window`). Every read is kept (the raw series
goes to the run's events; the record holds it run-length encoded).

The decisions are plain functions of the series (:func:`settled`, :func:`quiet_window`); :func:`poll` only reads.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

Value = int | float | None

#: the least quiet window (seconds): three reads at the shortest interval
MIN_QUIET_S = 0.15
#: the shortest time between two reads of a figure (seconds)
MIN_INTERVAL_S = 0.05


@dataclass
class Series:
    """The reads of one figure in one phase: (seconds since the phase began, value), and how it ended."""

    phase: str
    points: list[tuple[float, Value]] = field(default_factory=list)
    settled: bool = False
    reached_s: float | None = None  # when the awaited condition first held (``until``), seconds into the phase

    @property
    def last(self) -> Value:
        """The last value read (None: nothing read)."""
        return self.points[-1][1] if self.points else None

    def runs(self) -> list[list[float | Value]]:
        """The series run-length encoded: [first seen (s), value, reads] per run of one value (for the record)."""
        out: list[list[float | Value]] = []
        for t, v in self.points:
            if out and out[-1][1] == v:
                out[-1][2] = int(out[-1][2] or 0) + 1
            else:
                out.append([round(t, 3), v, 1])
        return out

    def evidence(self) -> dict[str, object]:
        """What the record keeps of this phase."""
        return {
            "phase": self.phase,
            "runs": self.runs(),
            "settled": self.settled,
            "value": self.last,
            **({"reached_s": round(self.reached_s, 3)} if self.reached_s is not None else {}),
        }


def settled(points: list[tuple[float, Value]], quiet_s: float) -> bool:
    """Whether a series has settled: its reads over the last ``quiet_s`` seconds (and at least two) are one
    value, read by the target (not None) (pure)."""
    if len(points) < 2 or points[-1][1] is None:
        return False
    t_end, v = points[-1]
    for t, x in reversed(points):
        if x != v:
            return False
        if t_end - t >= quiet_s:
            return True
    return False


def quiet_window(reaction_s: float, interval_s: float) -> float:
    """The quiet window that says a figure has settled, from how long it took to follow a change (pure): twice
    that reaction and one read more, never less than :data:`MIN_QUIET_S`."""
    return max(MIN_QUIET_S, 2 * reaction_s + interval_s)


async def poll(
    read: Callable[[], Awaitable[Value]],
    phase: str,
    *,
    quiet_s: float,
    deadline_s: float,
    interval_s: float = MIN_INTERVAL_S,
    until: Callable[[Value], bool] | None = None,
) -> Series:
    """Read a figure every ``interval_s`` until it has settled over ``quiet_s`` (after ``until`` held, when given),
    or ``deadline_s`` has passed: bounded whatever the target does."""
    s = Series(phase)
    t0 = time.monotonic()
    end = t0 + deadline_s
    while True:
        v = await read()
        now = time.monotonic()
        s.points.append((now - t0, v))
        if until is not None and s.reached_s is None and until(v):
            s.reached_s = now - t0
            if quiet_s <= 0:
                s.settled = True
                return s
        if (until is None or s.reached_s is not None) and settled(
            [p for p in s.points if s.reached_s is None or p[0] >= s.reached_s], quiet_s
        ):
            s.settled = True
            return s
        if now + interval_s > end:
            return s
        await asyncio.sleep(interval_s)  # a polling interval, not a synchronisation: the figure is read again
