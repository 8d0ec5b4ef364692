"""Bounded, expiring tables of events per key: the lockout's failures and the login throttle's attempts.

A hostile client chooses the keys (addresses, forwarded addresses, emails), so a
table that keeps one entry per key forever is memory an attacker can fill. An
:class:`EventWindow` forgets events older than its window, drops a key once its
last event has expired, and holds at most ``max_keys`` keys (the key touched
longest ago is forgotten first). Time is passed in, so tests need no clock.
"""

from __future__ import annotations

import collections
import math
import os
import resource


class EventWindow:
    """Timestamps of events per key within a sliding window, with a bounded number of keys."""

    def __init__(self, window_s: float, max_keys: int | None, max_events: int = 1_000) -> None:
        self.window_s = window_s
        self.max_keys = max_keys
        #: events kept per key at most (a limit never needs more than its threshold)
        self.max_events = max_events
        self._events: collections.OrderedDict[str, collections.deque[float]] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._events)

    def _live(self, key: str, now: float) -> collections.deque[float] | None:
        q = self._events.get(key)
        if q is None:
            return None
        horizon = now - self.window_s
        while q and q[0] <= horizon:
            q.popleft()
        if not q:
            del self._events[key]
            return None
        return q

    def add(self, key: str, now: float) -> None:
        """Record one event for ``key``."""
        q = self._live(key, now)
        if q is None:
            q = self._events[key] = collections.deque(maxlen=self.max_events)
        q.append(now)
        self._events.move_to_end(key)
        if self.max_keys is not None:
            while len(self._events) > self.max_keys:
                self._events.popitem(last=False)

    def count(self, key: str, now: float) -> int:
        """Events of ``key`` within the window (never creates an entry)."""
        q = self._live(key, now)
        return len(q) if q else 0

    def retry_after(self, key: str, now: float, limit: int) -> float:
        """Seconds until ``key`` is under ``limit`` again (0 when it is)."""
        q = self._live(key, now)
        if q is None or len(q) < limit:
            return 0.0
        return max(0.0, q[len(q) - limit] + self.window_s - now)

    def clear(self, key: str) -> None:
        """Forget ``key``."""
        self._events.pop(key, None)

    def prune(self, now: float) -> None:
        """Drop every key whose events have all expired (the sweeper calls this)."""
        for key in list(self._events):
            self._live(key, now)


def connection_cap(open_files: int | None = None) -> int:
    """Connections the server accepts at once: the file limit less a reserve for everything else it opens.

    Args:
        open_files: the file limit; None reads the process's soft ``RLIMIT_NOFILE``.
    """
    if open_files is None:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        open_files = soft if soft != resource.RLIM_INFINITY else 1_048_576
    reserve = max(16, math.ceil(open_files / 10))
    return max(1, open_files - reserve)


def resident_bytes() -> int | None:
    """The process's resident memory now, in bytes (``/proc/self/statm``); None where there is no /proc (the peak
    that ``getrusage`` reports elsewhere cannot show memory given back)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None
