"""The live progress line, fed by the generator windows the shards hand on."""

from __future__ import annotations

import math
import sys
import time
from typing import Any


class Progress:
    """open connections (per shard), messages sent and answered per second, late sends, errors and the worst loop
    lag, from the latest windows."""

    def __init__(self, total: int, shards: int) -> None:
        from tqdm.auto import tqdm

        self.total = total
        self.latest: dict[int, dict[str, Any]] = {}
        self.sent = self.answered = self.late = self.errors = 0
        self._last = (0, 0, time.perf_counter())
        # a terminal gets a line that moves; a log file gets nothing (it would get a line per redraw)
        self.bar = tqdm(
            total=None,
            desc=f"load ({shards} shard{'' if shards == 1 else 's'})",
            file=sys.stderr,
            leave=False,
            bar_format="{desc}{postfix}",
            disable=not sys.stderr.isatty(),
        )

    def update(self, window: dict[str, Any]) -> None:
        """Take one shard's window into account and redraw at most twice a second."""
        self.latest[window["shard"]] = window
        self.sent += window["sent"]
        self.answered += window.get("answered", 0)
        self.late += window.get("late", 0) + window.get("dropped", 0)
        self.errors += window["errors"]
        now = time.perf_counter()
        sent0, answered0, t0 = self._last
        if now - t0 < 0.5:
            return
        self._last = (self.sent, self.answered, now)
        self.bar.set_postfix_str(
            progress_text(
                self.latest,
                self.total,
                (self.sent - sent0) / (now - t0),
                (self.answered - answered0) / (now - t0),
                self.late,
                self.errors,
            )
        )

    def close(self) -> None:
        """Remove the line."""
        self.bar.close()


def progress_text(
    latest: dict[int, dict[str, Any]], total: int, sent_per_s: float, answered_per_s: float, late: int, errors: int
) -> str:
    """The progress line (pure): ``latest`` is each shard's latest window, the rest are totals and rates."""
    opened = [latest[k]["open"] for k in sorted(latest)]
    per_shard = f" ({' | '.join(str(n) for n in opened)})" if len(opened) > 1 else ""
    lag = max((w["lag_max_ms"] for w in latest.values() if not math.isnan(w["lag_max_ms"])), default=math.nan)
    return (
        f"open {sum(opened)}/{total}{per_shard}  sent/s {sent_per_s:,.0f}  answered/s {answered_per_s:,.0f}  "
        f"late {late:,}  errors {errors:,}  loop lag {lag:.0f} ms"
    )
