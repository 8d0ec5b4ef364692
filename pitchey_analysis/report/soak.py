"""The report's soak section: a run with load samples over time, shown window by window.

Used by the readiness report (``4.0``) in one cell; it shows nothing for a run without a load over time
(no ``generator`` windows), so the report of a probe-suite run is unchanged. The statistics come from
:func:`pitchey_analysis.analysis.soak.analyze_soak`; the figures from :mod:`.soakfigures`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from IPython.display import Markdown

from ..analysis.soak import analyze_soak
from ..capture.dataset import Run, load_events
from . import render, soakfigures


def soak_window_s(samples: pd.DataFrame) -> float:
    """The window the ``load`` command's summary uses: a tenth of the run, between 1 and 60 s."""
    span = float(samples["t_offset_s"].max() - samples["t_offset_s"].min()) if len(samples) else 0.0
    return max(1.0, min(60.0, span / 10))


def _polled(polls: pd.DataFrame) -> pd.DataFrame:
    """The target's polled figures: per figure, its first, lowest, highest and last value (and how many polls had
    it)."""
    rows = []
    for col in polls.columns:
        if col in ("t_offset_s", "t_epoch", "seq", "ts") or not pd.api.types.is_numeric_dtype(polls[col]):
            continue
        v = polls[col].dropna()
        if len(v):
            rows.append(
                {
                    "figure": col,
                    "polls": len(v),
                    "first": v.iloc[0],
                    "lowest": v.min(),
                    "highest": v.max(),
                    "last": v.iloc[-1],
                }
            )
    return pd.DataFrame(rows, columns=["figure", "polls", "first", "lowest", "highest", "last"])


def soak_section(run: Run, *, window_s: float | None = None, rtt_target_ms: float = 50.0) -> list[Any]:
    """What the section displays, in order (empty for a run without load windows over time)."""
    generator = load_events(run, "generator")
    if generator.empty or run.samples.empty:
        return []
    polls = load_events(run, "target_stats")
    w = window_s or soak_window_s(run.samples)
    soak = analyze_soak(run.samples, generator, polls, window_s=w, rtt_target_ms=rtt_target_ms)
    out: list[Any] = [
        Markdown(
            f"### Over time (soak)\n\nThe load run window by window ({w:g} s windows): percentiles with "
            f"95% intervals, the drift of the median (Theil–Sen slope with its 95% interval) and the "
            f"target's own polled figures. {soak.saturation.note()}"
        )
    ]
    drift = soak.drift[["metric", "status", "slope_per_s", "lo", "hi", "change", "n", "note"]].rename(
        columns={"slope_per_s": "slope ms/s", "lo": "slope lo", "hi": "slope hi", "change": "change ms", "n": "windows"}
    )
    out.append(render.table(drift, "soak-drift", caption=f"Drift of each metric's per-window median ({w:g} s windows)"))
    for metric in sorted(m for m in set(soak.windows["metric"]) if str(m).startswith(("rtt_ms", "push_ms"))):
        out.append(
            render.figure(
                soakfigures.windowed_latency(soak.windows, metric, rtt_target_ms if metric == "rtt_ms" else None)
            )
        )
    if len(soak.slo):
        out.append(
            render.table(
                soak.slo,
                "soak-slo",
                columns=[c for c in ("target", "observed", "lo", "hi", "status", "note") if c in soak.slo.columns],
                caption="Latency target on the load run (not verified when the generator was saturated)",
            )
        )
    if len(polls):
        out.append(
            render.table(_polled(polls), "soak-polled", caption="The target's own figures, polled during the run")
        )
        out.append(
            render.table(
                soak.sessions,
                "soak-sessions",
                caption="Sessions: growth while the load is flat, return to the baseline",
            )
        )
        out.append(render.figure(soakfigures.sessions(polls, soak.client_open)))
    out.append(render.figure(soakfigures.loop_lag(generator, soak.saturation.lag_bound_ms)))
    return out
