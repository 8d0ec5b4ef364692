"""Figures of the report, one function each; they read without the code.

Every function takes the analysis tables (or raw samples) and returns a
matplotlib Figure; none computes a statistic the analysis does not already
provide, except the plotting of raw distributions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt  # the user's backend stays as it is (headless, matplotlib falls back to Agg)
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..outcomes import Outcome, Support

PALETTE = {Outcome.PASS: "#2e7d32", Outcome.FAIL: "#c62828", Outcome.ERROR: "#ef6c00", Outcome.SKIP: "#9e9e9e"}
SUPPORT_COLOURS = {
    Support.FULL: "#2e7d32",
    Support.PARTIAL: "#f9a825",
    Support.MISSING: "#c62828",
    Support.ERROR: "#ef6c00",
    Support.NOT_TESTED: "#bdbdbd",
}
METRIC_LABELS = {
    "tcp_connect_ms": "TCP connect",
    "tls_handshake_ms": "TLS handshake",
    "ws_upgrade_ms": "WebSocket upgrade",
    "first_frame_ms": "first frame after upgrade",
    "connect_ms": "connect (start to 'connected')",
    "auth_ms": "post-connection auth",
    "rtt_ms": "message round trip",
    "auth_rtt_ms": "authenticated round trip",
    "reconnect_ms": "reconnect",
    "login_ms": "login (HTTP)",
    "auth_connect_ms": "authenticated connect",
}


def style() -> None:
    """Shared matplotlib settings: deterministic PNGs, readable sizes."""
    plt.rcParams.update(
        {
            "figure.dpi": 110,
            "savefig.dpi": 110,
            "font.size": 9,
            "axes.titlesize": 10,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "svg.hashsalt": "pitchey",
            "figure.autolayout": True,
        }
    )


class SpanLogLocator(matplotlib.ticker.LogLocator):
    """Major ticks of a log axis as dense as its span allows: 1, 2, 5 × 10^k over about a decade, 1 and 3 × 10^k
    over two or three, powers of ten beyond (1, 2, 5 over three decades writes '5001000' on a small axis)."""

    def tick_values(self, vmin: float, vmax: float) -> Sequence[float]:
        lo, hi = sorted((vmin, vmax))
        decades = np.log10(hi / lo) if lo > 0 and hi > 0 else 0.0
        self.set_params(subs=(1.0, 2.0, 5.0) if decades <= 1.5 else (1.0, 3.0) if decades <= 2.5 else (1.0,))
        return super().tick_values(vmin, vmax)


def readable_log(axis: matplotlib.axis.Axis) -> None:
    """Ticks of a log axis written as plain numbers ('0.5', '20'), as many as its span leaves room for
    (:class:`SpanLogLocator`), minor ticks unlabelled.

    Matplotlib's default labels minor ticks as '3×10⁰' when the axis spans less than a decade; they overlap.
    """
    axis.set_major_locator(SpanLogLocator())
    axis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def log_if_positive(ax: Axes, values: Any, which: str = "y") -> bool:
    """Put an axis on a log scale when it has a positive finite value to show; else keep it linear and say there
    is nothing measured (a run whose every attempt failed draws, never crashes). True when it went log."""
    arr = pd.to_numeric(pd.Series(np.ravel(np.asarray(values, dtype=object))), errors="coerce").to_numpy(dtype=float)
    if not np.any(np.isfinite(arr) & (arr > 0)):
        ax.text(0.5, 0.5, "no successful measurement", ha="center", va="center", transform=ax.transAxes, fontsize=8)
        return False
    (ax.set_yscale if which == "y" else ax.set_xscale)("log")
    readable_log(ax.yaxis if which == "y" else ax.xaxis)
    return True


def latency_distribution(
    samples: pd.DataFrame, metric: str, target_ms: float | None = None, *, concurrency: int = 1
) -> Figure:
    """Histogram and ECDF of one metric (log axis when the values span more than a factor 3), with the target marked."""
    v = samples[(samples["metric"] == metric) & samples["ok"].eq(True) & (samples["concurrency"] == concurrency)][
        "value_ms"
    ]
    v = v.dropna().to_numpy()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8.0, 2.8))
    label = METRIC_LABELS.get(metric, metric)
    if v.size == 0:
        ax1.text(0.5, 0.5, "no samples", ha="center", va="center", transform=ax1.transAxes)
        return fig
    lo, hi = max(v.min(), 1e-3), max(v.max(), 1e-3) * 1.05
    bins = np.logspace(np.log10(lo), np.log10(hi), 40) if hi / lo > 3 else 30
    ax1.hist(v, bins=bins, color="#1565c0", alpha=0.85)
    ax1.set_xscale("log" if hi / lo > 3 else "linear")
    if hi / lo > 3:
        readable_log(ax1.xaxis)
    ax1.set_xlabel(f"{label} (ms)")
    ax1.set_ylabel("samples")
    ax1.set_title(f"{label}: histogram (n = {v.size})")
    xs = np.sort(v)
    ax2.step(xs, np.arange(1, xs.size + 1) / xs.size, where="post", color="#1565c0")
    ax2.set_xscale("log" if hi / lo > 3 else "linear")
    if hi / lo > 3:
        readable_log(ax2.xaxis)
    ax2.set_xlabel(f"{label} (ms)")
    ax2.set_ylabel("fraction ≤ x")
    ax2.set_title("cumulative distribution")
    ax2.axhline(0.95, color="#616161", lw=0.8, ls=":")
    ax2.text(xs[0], 0.955, "p95", fontsize=7, color="#616161", va="bottom")
    if target_ms is not None:
        mark_target(ax1, target_ms, hi)
        mark_target(ax2, target_ms, hi, label=True)
    return fig


def mark_target(ax: Axes, target: float, data_max: float, *, label: bool = False) -> None:
    """Draw the target as a dashed line when it lies within the data's range; otherwise an arrow at the right edge.

    The axis range stays the data's: a target far above the values would squash them into a line at 0.
    """
    colour = PALETTE[Outcome.FAIL]
    if target <= data_max:
        ax.axvline(target, color=colour, lw=1.2, ls="--")
        if label:
            ax.text(
                target,
                0.05,
                f" target {target:g} ms",
                color=colour,
                fontsize=7,
                rotation=90,
                va="bottom",
                transform=ax.get_xaxis_transform(),
            )
        return
    ax.set_xlabel(f"{ax.get_xlabel()}\n[target {target:g} ms: off scale →]")
    ax.xaxis.label.set_color(colour)


def connection_stages(flow: pd.DataFrame) -> Figure:
    """Median time of each connection stage, stacked into one bar per statistic (p50, mean, p95)."""
    fig, ax = plt.subplots(figsize=(8.0, 2.5))
    if flow.empty:
        ax.text(0.5, 0.5, "no connection samples", ha="center", va="center", transform=ax.transAxes)
        return fig
    colours = ["#1565c0", "#6a1b9a", "#00897b", "#f9a825"]
    stats = ["p50", "mean", "p95"]
    left = np.zeros(len(stats))
    for (_, row), c in zip(flow.iterrows(), colours, strict=False):
        vals = np.array([row[s] for s in stats])
        ax.barh(stats, vals, left=left, color=c, label=row["stage"].replace("_", " "))
        left += vals
    ax.set_xlabel("milliseconds (stages stacked; each stage's own statistic)")
    ax.set_title("Connection flow: where the time goes")
    ax.legend(ncols=4, fontsize=7, loc="upper center", frameon=False, bbox_to_anchor=(0.5, -0.32))
    return fig


def category_rates(rates: pd.DataFrame) -> Figure:
    """Pass rate per category with its Wilson 95% interval."""
    r = rates[rates["judged"] > 0].reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(8.0, 2.8))
    y = np.arange(len(r))
    colours = [
        "#424242" if c == "overall" else ("#2e7d32" if rate == 1 else "#c62828" if rate < 0.8 else "#f9a825")
        for c, rate in zip(r["category"], r["rate"], strict=True)
    ]
    ax.barh(y, r["rate"] * 100, color=colours, alpha=0.85)
    below = ((r["rate"] - r["lo"]) * 100).clip(lower=0)  # clip float noise at rate 0 or 1
    above = ((r["hi"] - r["rate"]) * 100).clip(lower=0)
    ax.errorbar(r["rate"] * 100, y, xerr=[below, above], fmt="none", ecolor="black", capsize=3, lw=1)
    ax.set_yticks(y, [f"{c} ({p}/{j})" for c, p, j in zip(r["category"], r["passed"], r["judged"], strict=True)])
    ax.invert_yaxis()
    ax.set_xlim(0, 105)
    ax.set_xlabel("probes passed (%), bars: Wilson 95% interval; skips left out")
    ax.set_title("Success rate per category")
    return fig


def concurrency(conc: pd.DataFrame) -> Figure:
    """Round-trip and connect percentiles, and the error rate, against the concurrency level."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8.0, 2.8))
    if conc.empty:
        ax1.text(0.5, 0.5, "no concurrency ramp in this run", ha="center", va="center", transform=ax1.transAxes)
        return fig
    # plain floats (missing as NaN): nullable columns of a run with no judged level are drawn, never a unit error
    conc = conc.assign(
        **{
            c: pd.to_numeric(conc[c], errors="coerce").astype(float)
            for c in ("rtt_p50", "rtt_p95", "connect_p50", "connect_p95", "error_rate", "lo", "hi")
            if c in conc
        }
    )
    for col, lab, ls in (
        ("rtt_p50", "round trip p50", "-"),
        ("rtt_p95", "round trip p95", "--"),
        ("connect_p50", "connect p50", "-"),
        ("connect_p95", "connect p95", "--"),
    ):
        ax1.plot(conc["level"], conc[col], marker="o", ls=ls, label=lab)
    log_if_positive(ax1, conc["level"], "x")
    if log_if_positive(ax1, conc[["rtt_p50", "rtt_p95", "connect_p50", "connect_p95"]].to_numpy()):
        ax1.legend(fontsize=7, frameon=False)
    ax1.set_xlabel("connections open at once")
    ax1.set_ylabel("ms")
    ax1.set_title("Latency against concurrency")
    # The observed error rate is the point; its Wilson 95% interval the whisker (never a bound drawn as a bar).
    err = conc["error_rate"] * 100
    err_lo, err_hi = (1 - conc["hi"]) * 100, (1 - conc["lo"]) * 100
    labels = [f"{lv}\n(n={n})" for lv, n in zip(conc["level"], conc["connections"], strict=True)]
    ax2.errorbar(
        labels,
        err,
        yerr=[(err - err_lo).clip(lower=0), (err_hi - err).clip(lower=0)],
        fmt="o",
        color=PALETTE[Outcome.FAIL],
        ecolor="black",
        capsize=3,
        lw=1,
    )
    ax2.set_xlabel("connections open at once")
    ax2.set_ylabel("connections failing (%)")
    ax2.set_ylim(0, max(5.0, float(err_hi.max()) * 1.1))
    ax2.set_title("Error rate: observed, with Wilson 95% interval")
    return fig


def close_timeline(frames: pd.DataFrame, probes: pd.DataFrame, manifest: dict[str, Any]) -> Figure:
    """When connections were closed by the server, coloured by close code."""
    closes = frames[(frames["type"] == "close") & (frames["direction"] == "in")].copy()
    closes["code"] = pd.to_numeric(closes["payload"].str.split(" ").str[0], errors="coerce")
    start = pd.Timestamp(manifest.get("started_at")) if manifest.get("started_at") else None
    started = probes.set_index("probe_id")["started_at"]
    closes["t"] = [
        ((started.get(pid) - start).total_seconds() if start is not None and pid in started.index else np.nan)
        + t / 1000
        for pid, t in zip(closes["probe_id"], closes["t_ms"], strict=True)
    ]
    closes = closes[
        np.isfinite(pd.to_numeric(closes["t"], errors="coerce").astype(float))
        & np.isfinite(closes["code"].astype(float))
    ]  # a close whose probe or time is unknown is not placed
    fig, ax = plt.subplots(figsize=(8.0, 2.4))
    if closes.empty:
        ax.text(0.5, 0.5, "no closes recorded", ha="center", va="center", transform=ax.transAxes)
        return fig
    cmap = plt.get_cmap("tab10")
    for i, (code, grp) in enumerate(sorted(closes.groupby("code"), key=lambda kv: kv[0])):
        ax.scatter(grp["t"], [str(int(code))] * len(grp), s=14, color=cmap(i % 10), label=f"{int(code)} ({len(grp)})")
    ax.set_xlabel("seconds since the run started")
    ax.set_ylabel("close code")
    ax.set_title("Connection closes over the run", loc="left")
    ax.legend(fontsize=7, frameon=False, ncols=6, loc="lower right", bbox_to_anchor=(1, 1.02))
    return fig


def message_support(mt: pd.DataFrame) -> Figure:
    """The message-type support matrix: one row per message type, coloured by support."""
    fig, ax = plt.subplots(figsize=(8.0, 0.25 * len(mt) + 0.8))
    for i, row in enumerate(mt.itertuples()):
        ax.barh(i, 1, color=SUPPORT_COLOURS.get(row.support, "#bdbdbd"))
        ax.text(
            0.02,
            i,
            f"{row.support}" + ("" if row.support == Support.FULL else f" ({row.reason})"),
            va="center",
            fontsize=7,
            color="white" if row.support in (Support.FULL, Support.MISSING) else "black",
        )
    ax.set_yticks(range(len(mt)), mt["message_type"], fontsize=7)
    ax.invert_yaxis()
    ax.set_xticks([])
    ax.grid(False)
    ax.set_xlim(0, 1)
    ax.set_title("Message-type support (full / partial / missing)")
    return fig


def session_lifetimes(lifetimes: pd.DataFrame, window_s: float | None = None) -> Figure:
    """Histogram of how long held sessions lived: closed by the server, or held to the end; the hold window drawn."""
    fig, ax = plt.subplots(figsize=(8.0, 2.6))
    if lifetimes.empty:
        ax.text(0.5, 0.5, "no session lifetimes recorded", ha="center", va="center", transform=ax.transAxes)
        return fig
    v = lifetimes["lifetime_s"].to_numpy(dtype=float)
    dropped = lifetimes["dropped"].fillna(False).to_numpy(dtype=bool)
    hi = max(float(v.max()), window_s or 0.0) * 1.05
    bins = np.linspace(0.0, hi if hi > 0 else 1.0, 40).tolist()
    ax.hist(
        [v[dropped], v[~dropped]],
        bins=bins,
        stacked=True,
        color=[PALETTE[Outcome.FAIL], PALETTE[Outcome.PASS]],
        label=[f"closed by the server ({int(dropped.sum())})", f"held to the end ({int((~dropped).sum())})"],
    )
    if window_s:
        ax.axvline(window_s, color="#616161", lw=1.0, ls="--")
        ax.text(window_s, ax.get_ylim()[1] * 0.95, " hold window", fontsize=7, color="#616161", va="top")
    ax.set_xlabel("session lifetime (s, from connect to close or to the end of the hold)")
    ax.set_ylabel("sessions")
    ax.set_title(f"Session lifetimes (n = {v.size})")
    ax.legend(fontsize=7, frameon=False)
    return fig


def compare_distributions(
    samples_a: pd.DataFrame,
    samples_b: pd.DataFrame,
    metric: str,
    labels: tuple[str, str] = ("A", "B"),
    target_ms: float | None = None,
) -> Figure:
    """Two runs' distributions of one metric overlaid: histograms (left) and cumulative distributions (right)."""

    def values(s: pd.DataFrame) -> np.ndarray:
        v: np.ndarray = (
            s[(s["metric"] == metric) & s["ok"].eq(True) & (s["concurrency"] == 1)]["value_ms"].dropna().to_numpy()
        )
        return v

    va, vb = values(samples_a), values(samples_b)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8.0, 2.6))
    label = METRIC_LABELS.get(metric, metric)
    both = np.concatenate([va, vb])
    if both.size == 0:
        ax1.text(0.5, 0.5, "no samples", ha="center", va="center", transform=ax1.transAxes)
        return fig
    lo, hi = max(both.min(), 1e-3), max(both.max(), 1e-3) * 1.05
    log = hi / lo > 3
    bins = np.logspace(np.log10(lo), np.log10(hi), 40) if log else np.linspace(lo, hi, 30)
    for v, lab, colour in ((va, labels[0], "#757575"), (vb, labels[1], "#1565c0")):
        if v.size == 0:
            continue
        ax1.hist(v, bins=bins, color=colour, alpha=0.55, label=f"{lab} (n = {v.size})")
        xs = np.sort(v)
        ax2.step(xs, np.arange(1, xs.size + 1) / xs.size, where="post", color=colour, label=lab)
    for ax in (ax1, ax2):
        ax.set_xscale("log" if log else "linear")
        if log:
            readable_log(ax.xaxis)
        ax.set_xlabel(f"{label} (ms)")
    ax1.set_ylabel("samples")
    ax1.set_title(f"{label}: reference and current")
    ax1.legend(fontsize=7, frameon=False)
    ax2.set_ylabel("fraction ≤ x")
    ax2.axhline(0.95, color="#616161", lw=0.8, ls=":")
    ax2.set_title("cumulative distribution (dotted: p95)")
    if target_ms is not None:
        mark_target(ax1, target_ms, hi)
        mark_target(ax2, target_ms, hi, label=True)
    return fig


def history(h: dict[str, pd.DataFrame]) -> Figure:
    """Runs over time: pass rate per category (left) and p95 per metric (right), with 95% intervals; one row of
    two plots per trend (a target judged against one contract), so that no line joins runs of different ones."""
    from ..analysis.history import trends

    parts = trends(h) if "trend" in h["runs"] else [("", h)]
    fig, axes = plt.subplots(max(len(parts), 1), 2, figsize=(8.0, 3.0 * max(len(parts), 1)), squeeze=False)
    if h["runs"].empty:
        axes[0][0].text(0.5, 0.5, "no runs", ha="center", va="center", transform=axes[0][0].transAxes)
        return fig
    for (name, part), (ax1, ax2) in zip(parts, axes, strict=True):
        _history_row(ax1, ax2, part, name if len(parts) > 1 else "")
    return fig


def _history_row(ax1: Axes, ax2: Axes, h: dict[str, pd.DataFrame], trend: str) -> None:
    """One trend's two plots; ``trend`` (when several are drawn) heads the left one."""
    cats, p95 = h["categories"], h["p95"]
    order = {rid: i for i, rid in enumerate(h["runs"]["run_id"])}
    for name, grp in cats[cats["judged"] > 0].groupby("category", sort=False):
        x = grp["run_id"].map(order)
        lw = 2.2 if name == "overall" else 1.0
        ax1.errorbar(
            x,
            grp["rate"] * 100,
            yerr=[((grp["rate"] - grp["lo"]) * 100).clip(lower=0), ((grp["hi"] - grp["rate"]) * 100).clip(lower=0)],
            marker="o",
            ms=3,
            lw=lw,
            capsize=2,
            label=str(name),
        )
    ax1.set_ylim(0, 105)
    ax1.set_ylabel("probes passed (%)")
    ax1.set_title(
        "Pass rate per category (Wilson 95%)" if not trend else f"{trend}\npass rate per category (Wilson 95%)",
        loc="left" if trend else "center",
    )
    ax1.legend(fontsize=6, frameon=False, ncols=2)
    for name, grp in p95.groupby("metric", sort=False):
        x = grp["run_id"].map(order)
        # an interval is drawn whole or not at all: the table prints none where one end is unknown, so does the figure
        known = grp["lo"].notna() & grp["hi"].notna()
        lo = (grp["p95"] - grp["lo"]).clip(lower=0).where(known, 0)
        hi = (grp["hi"] - grp["p95"]).clip(lower=0).where(known, 0)
        ax2.errorbar(
            x, grp["p95"], yerr=[lo, hi], marker="o", ms=3, capsize=2, label=METRIC_LABELS.get(str(name), str(name))
        )
    if p95.empty:
        ax2.text(0.5, 0.5, "no latency samples", ha="center", va="center", transform=ax2.transAxes)
    elif log_if_positive(ax2, p95["p95"].to_numpy()):
        ax2.legend(fontsize=6, frameon=False)
    ax2.set_ylabel("p95 (ms)")
    ax2.set_title("p95 per metric (order-statistic 95%)")
    # the run id's date and time (several runs a day stay apart), then the verdict
    labels = [
        f"{rid[4:6]}-{rid[6:8]} {rid[9:11]}:{rid[11:13]}\n{v}"
        for rid, v in zip(h["runs"]["run_id"], h["runs"]["verdict"], strict=True)
    ]
    for ax in (ax1, ax2):
        ax.set_xticks(range(len(labels)), labels, fontsize=6)
        ax.set_xlim(-0.5, len(labels) - 0.5)


def samples_over_time(samples: pd.DataFrame, metrics: tuple[str, ...] | None = None) -> Figure:
    """Each sample against the time it was taken in the run (log value axis), one colour per metric; failures as
    crosses."""
    fig, ax = plt.subplots(figsize=(8.0, 3.0))
    s = samples if metrics is None else samples[samples["metric"].isin(metrics)]
    if s.empty:
        ax.text(0.5, 0.5, "no samples", ha="center", va="center", transform=ax.transAxes)
        return fig
    for metric, grp in s.groupby("metric", sort=True):
        ok = grp[grp["ok"] == True]  # noqa: E712
        pts = ax.scatter(
            ok["t_offset_s"],
            ok["value_ms"].clip(lower=1e-3),
            s=6,
            alpha=0.6,
            label=METRIC_LABELS.get(str(metric), str(metric)),
        )
        bad = grp[grp["ok"] != True]  # noqa: E712
        if len(bad):
            ax.scatter(
                bad["t_offset_s"],
                bad["value_ms"].fillna(1e-3).clip(lower=1e-3),
                s=14,
                marker="x",
                color=pts.get_facecolor()[0],
            )
    ax.set_yscale("log")
    ax.set_xlabel("seconds since the run started")
    ax.set_ylabel("ms")
    ax.set_title("Samples over the run (crosses: failed samples)")
    ax.legend(fontsize=6, frameon=False, ncols=3, loc="upper center", bbox_to_anchor=(0.5, -0.22))
    return fig
