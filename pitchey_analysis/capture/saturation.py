"""The load generator's own saturation, from the windows a load run records (pure): how much of the time the client,
not the target, was the bottleneck.

A measurement of the tool, not an analysis of the target: the load run judges it when it ends and writes it into its
manifest (``generator``, :mod:`pitchey_analysis.load.capture`), and the soak analysis judges the same windows when it
reads the run (:func:`pitchey_analysis.analysis.soak.analyze_soak`). It lives here, below both, because the load
layer must not import the analysis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Saturation:
    """How much of the time the generator itself was the bottleneck."""

    windows: int
    saturated_windows: int
    share: float  # of the generator's time (window lengths summed over shards) in saturated windows
    saturated: bool  # share above max_share: latency targets are not verified on this run
    lag_bound_ms: float
    max_share: float
    lag_max_ms: float
    sent: int
    late: int
    dropped: int
    saturated_s: float = math.nan  # shard-seconds in saturated windows
    total_s: float = math.nan  # shard-seconds in all windows

    def note(self) -> str:
        """One sentence for the report."""
        if self.windows == 0:  # never "saturated (nan%)": without the generator's windows its health is unknown
            return "the generator's own health is not known: the run recorded none of its windows (not a load run)"
        span = (
            f"for {self.saturated_s:,.1f} of {self.total_s:,.1f} s, {self.share:.0%}, in "
            if math.isfinite(self.saturated_s)
            else f"({self.share:.0%}) in "
        )
        return (
            f"generator saturated {span}{self.saturated_windows} of {self.windows} windows (loop lag over "
            f"{self.lag_bound_ms:g} ms or CPU busy), {self.late} sends late, {self.dropped} not made"
        )


def generator_saturation(
    windows: pd.DataFrame, *, lag_bound_ms: float = 50.0, cpu_bound: float = 0.95, max_share: float = 0.1
) -> Saturation:
    """Saturation from the shards' windows (``lag_max_ms``, ``cpu_share``, ``sent``, ``late``, ``dropped`` and
    ``window_s``, each window's length).

    The share is of time, not of windows: a shard hands on a window every half second only while its loop runs,
    so a loop stalled for 5 s makes one long window, not ten (without ``window_s``, every window counts the same).
    """
    if windows is None or windows.empty:
        return Saturation(0, 0, math.nan, False, lag_bound_ms, max_share, math.nan, 0, 0, 0)
    lag = windows["lag_max_ms"].astype("float64")
    cpu = windows["cpu_share"].astype("float64") if "cpu_share" in windows else pd.Series(0.0, index=windows.index)
    bad = (lag > lag_bound_ms) | (cpu >= cpu_bound)
    n, k = len(windows), int(bad.sum())
    saturated_s = total_s = math.nan
    if "window_s" in windows and windows["window_s"].notna().all():
        length = windows["window_s"].astype("float64")
        saturated_s, total_s = float(length[bad].sum()), float(length.sum())
    share = saturated_s / total_s if math.isfinite(total_s) and total_s > 0 else k / n
    return Saturation(
        n,
        k,
        share,
        share > max_share,
        lag_bound_ms,
        max_share,
        float(lag.max()),
        int(windows["sent"].sum()),
        int(windows["late"].sum()),
        int(windows["dropped"].sum()),
        saturated_s,
        total_s,
    )
