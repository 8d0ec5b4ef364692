"""Figures of a soak (load) run over time, one function each (see :mod:`pitchey_analysis.analysis.soak`).

Each takes the soak tables and returns a matplotlib Figure; none computes a
statistic the analysis does not provide.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def windowed_latency(windows: pd.DataFrame, metric: str = "rtt_ms", target_ms: float | None = None) -> Figure:
    """Per-window percentiles of one metric over time, their 95% intervals shaded, the target dashed."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    w = windows[windows["metric"] == metric]
    for q, g in w.groupby("q", sort=True):
        g = g.sort_values("t_mid_s")
        line = ax.plot(g["t_mid_s"], g["estimate"], marker=".", label=f"p{q * 100:g}")[0]
        ax.fill_between(g["t_mid_s"], g["lo"], g["hi"], alpha=0.2, color=line.get_color(), linewidth=0)
    if target_ms is not None:
        ax.axhline(target_ms, ls="--", color="#c62828", lw=1, label=f"target {target_ms:g} ms")
    unit = "s" if metric.endswith("_s") else "ms"  # session_lifetime_s is in seconds (its name says so)
    ax.set(xlabel="seconds from the run's start", ylabel=unit, title=f"{metric} per window (95% intervals shaded)")
    if len(w):
        ax.legend(loc="upper left", fontsize=8)
    return fig


def loop_lag(generator: pd.DataFrame, lag_bound_ms: float = 50.0) -> Figure:
    """The load generator's own event-loop lag (worst per window, per shard) and its CPU share."""
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(7, 4), sharex=True)
    if len(generator):
        for shard, g in generator.sort_values("t_offset_s").groupby("shard"):
            ax.plot(g["t_offset_s"], g["lag_max_ms"], marker=".", lw=1, label=f"shard {shard}")
            ax2.plot(g["t_offset_s"], g["cpu_share"] * 100, lw=1)
        ax.legend(loc="upper right", fontsize=8)
    ax.axhline(lag_bound_ms, ls="--", color="#c62828", lw=1)
    ax.set(
        ylabel="loop lag, ms", title=f"generator health (lag over {lag_bound_ms:g} ms: the client was the bottleneck)"
    )
    ax2.set(xlabel="seconds from the run's start", ylabel="CPU %")
    return fig


def sessions(target_stats: pd.DataFrame, client_open: pd.DataFrame) -> Figure:
    """The target's own session count against the load's open connections."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    t = target_stats.dropna(subset=["sessions"]) if len(target_stats) and "sessions" in target_stats else pd.DataFrame()
    if len(t):
        ax.step(t["t_offset_s"], t["sessions"], where="post", label="target: sessions it counts")
    if len(client_open):
        ax.step(client_open["t_offset_s"], client_open["open"], where="post", ls="--", label="load: connections open")
    ax.set(
        xlabel="seconds from the run's start",
        ylabel="sessions",
        title="sessions over time (a gap that grows is a leak)",
    )
    if len(t) or len(client_open):
        ax.legend(loc="upper left", fontsize=8)
    ax.set_ylim(
        bottom=0,
        top=max(
            1.0,
            float(
                np.nanmax([t["sessions"].max() if len(t) else 0, client_open["open"].max() if len(client_open) else 0])
            )
            * 1.1,
        ),
    )
    return fig
