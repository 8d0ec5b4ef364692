"""The load command's live line."""

from __future__ import annotations

import math

from pitchey_analysis.load.progress import progress_text


def w(open_: int, lag: float = 2.0) -> dict:
    return {"open": open_, "lag_max_ms": lag}


def test_the_line_shows_each_shard_and_the_worst_lag():
    line = progress_text({1: w(24, 7.0), 0: w(25, math.nan)}, 50, 247.4, 240.0, 3, 1)
    assert line == "open 49/50 (25 | 24)  sent/s 247  answered/s 240  late 3  errors 1  loop lag 7 ms"


def test_one_shard_has_no_breakdown():
    assert progress_text({0: w(10)}, 10, 0, 0, 0, 0).startswith("open 10/10  sent/s 0")
