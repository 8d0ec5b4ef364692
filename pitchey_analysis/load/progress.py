"""The live progress line, fed by the generator windows the shards hand on."""

from __future__ import annotations

import math
import sys
import time
from typing import Any


class Progress:
    """open connections, messages per second, errors and the worst loop lag, per the latest windows."""

    def __init__(self, total: int, shards: int) -> None:
        from tqdm.auto import tqdm

        self.total = total
        self.latest: dict[int, dict[str, Any]] = {}
        self.sent = 0
        self.errors = 0
        self._last = (0, time.perf_counter())
        # a terminal gets a line that moves; a log file gets nothing (it would get a line per redraw)
        self.bar = tqdm(total=None, desc=f"load ({shards} shards)", file=sys.stderr, leave=False, bar_format="{desc}{postfix}",
                        disable=not sys.stderr.isatty())

    def update(self, window: dict[str, Any]) -> None:
        """Take one shard's window into account and redraw at most twice a second."""
        self.latest[window["shard"]] = window
        self.sent += window["sent"]
        self.errors += window["errors"]
        now = time.perf_counter()
        sent0, t0 = self._last
        if now - t0 < 0.5:
            return
        self._last = (self.sent, now)
        lag = max((w["lag_max_ms"] for w in self.latest.values() if not math.isnan(w["lag_max_ms"])), default=math.nan)
        self.bar.set_postfix_str(f"open {sum(w['open'] for w in self.latest.values())}/{self.total}  "
                                 f"msg/s {(self.sent - sent0) / (now - t0):,.0f}  errors {self.errors}  loop lag {lag:.0f} ms")

    def close(self) -> None:
        """Remove the line."""
        self.bar.close()
