"""Soak analysis: figures over time, drift, leaks and the generator's own health (pure).

Inputs are DataFrames a load run stores (``load_run(...).samples`` and the
``generator`` and ``target_stats`` events, see :func:`pitchey_analysis.capture.dataset.load_events`);
nothing here opens a socket or reads a file.

* :func:`windowed_percentiles` — per-window (default 60 s) percentiles of every
  metric with their order-statistic 95% intervals;
* :func:`drift` — Theil–Sen slope of a per-window statistic with its 95%
  interval (``scipy.stats.theilslopes``); *drifting* when the interval lies
  above zero **and** the change over the run is material;
* :func:`generator_saturation` — the share of generator windows whose event-loop
  lag (or CPU share) says the client, not the target, was the bottleneck (defined in
  :mod:`pitchey_analysis.capture.saturation`, which the load run uses too);
* :func:`session_findings` — the target's session count against the load's own
  open connections: growth while the load is flat (a leak), no return to the
  baseline after the load left.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from ..capture.saturation import Saturation as Saturation  # the soak analysis' names, as before
from ..capture.saturation import generator_saturation as generator_saturation
from ..judged import Target
from ..outcomes import Outcome, TargetStatus, Trend
from .columns import metric_codes, ok_flags, parallel_map, pick, runs_of, usable, where, window_starts
from .slo import slo_checks
from .stats import Interval, percentiles

DEFAULT_WINDOW_S = 60.0


def windowed_percentiles(
    samples: pd.DataFrame,
    window_s: float = DEFAULT_WINDOW_S,
    qs: tuple[float, ...] = (0.5, 0.95, 0.99),
    metrics: list[str] | None = None,
) -> pd.DataFrame:
    """One row per metric, window and quantile: ``metric, window, t_start_s, t_mid_s, n, q, estimate, lo, hi``.

    Windows count from the run's start (``t_offset_s``); only successful samples are used.
    """
    cols = ["metric", "window", "t_start_s", "t_mid_s", "n", "q", "estimate", "lo", "hi"]
    if samples.empty:
        return pd.DataFrame(columns=cols)
    # numpy columns and metric codes (see .columns): no copy of the frame, no string per sample
    codes, names = metric_codes(samples)
    ok = ok_flags(samples)
    value = samples["value_ms"].to_numpy(dtype="float64")
    t = samples["t_offset_s"].to_numpy(dtype="float64")
    labels = [str(n) for n in names]
    wanted = [name for name in sorted(set(labels)) if metrics is None or name in metrics]  # name order, as a groupby's
    same = {name: [i for i, n in enumerate(labels) if n == name] for name in wanted}

    def select(c: np.ndarray, m: np.ndarray, name: str) -> np.ndarray:
        return where(c, same[name][0], m) if len(same[name]) == 1 else m & np.isin(c, same[name])

    found: dict[tuple[str, int], dict[float, Interval]] = {}
    starts = window_starts(t, window_s)
    if starts is not None:  # samples stored in time order (a load run's): each window is a stretch of the table
        w0, at = starts

        def one_window(i: int) -> list[tuple[str, int, dict[float, Interval]]]:
            a, b = int(at[i]), int(at[i + 1])
            c, m, v = codes[a:b], usable(ok[a:b], value[a:b]), value[a:b]  # this window's mask, not the table's
            out = []
            for name in wanted:
                x = pick(v, select(c, m, name))
                if x.size:
                    out.append((name, w0 + i, percentiles(x, qs, overwrite_input=True)))
            return out

        for part in parallel_map(one_window, [i for i in range(at.size - 1) if at[i] < at[i + 1]], value.size):
            found.update(((name, w), ivs) for name, w, ivs in part)
    else:
        mask = usable(ok, value)
        for name in wanted:
            at_ = select(codes, mask, name)
            if not at_.any():
                continue
            v = pick(value, at_)
            tw = pick(t, at_)  # a copy, divided and floored in place (one temporary, not three)
            del at_
            tw /= window_s
            window = np.floor(tw, out=tw).astype("int64")
            del tw
            groups = list(runs_of(window))
            # v is this function's own copy and the windows are disjoint stretches of it (or copies): reordered in place
            per_window = parallel_map(functools.partial(_window_percentiles, v, qs), [pos for _, pos in groups], v.size)
            found.update(((name, w), iv) for (w, _), iv in zip(groups, per_window, strict=True))
    rows = []
    for (name, w), ivs in sorted(found.items(), key=lambda kv: (wanted.index(kv[0][0]), kv[0][1])):
        for q, iv in ivs.items():
            rows.append((name, w, w * window_s, (w + 0.5) * window_s, iv.n, q, iv.estimate, iv.lo, iv.hi))
    if not rows:
        return pd.DataFrame(columns=cols)
    return pd.DataFrame(rows, columns=cols)


def _window_percentiles(v: np.ndarray, qs: tuple[float, ...], pos: np.ndarray | slice) -> dict[float, Interval]:
    """The percentiles of ``v[pos]``, reordering it in place (``v`` is the caller's own copy; windows are disjoint)."""
    return percentiles(v[pos], qs, overwrite_input=True)


@dataclass(frozen=True)
class Drift:
    """A trend over the run: slope per second with its 95% interval, and what it amounts to."""

    status: Trend
    slope_per_s: float
    lo: float
    hi: float
    n: int
    start: float  # the fitted level at the first point
    change: float  # the fitted change over the span of the points
    note: str

    def as_dict(self) -> dict[str, object]:
        """The fields as a dict (a table row)."""
        return asdict(self)


def drift(
    t: np.ndarray,
    y: np.ndarray,
    *,
    min_points: int = 5,
    rel_change: float = 0.2,
    abs_change: float = 1.0,
    alpha: float = 0.95,
) -> Drift:
    """Theil–Sen trend of ``y`` over ``t`` with its ``alpha`` interval (``scipy.stats.theilslopes``).

    *drifting*: the interval lies above zero and the fitted change over the run is at least ``abs_change``
    and ``rel_change`` of the starting level (a trend too small to matter is *flat*); *decreasing*: the
    interval lies below zero likewise; *not verified* with fewer than ``min_points`` points.
    """
    t, y = np.asarray(t, dtype="float64"), np.asarray(y, dtype="float64")
    keep = ~(np.isnan(t) | np.isnan(y))
    t, y = t[keep], y[keep]
    nan = math.nan
    if t.size < min_points or np.ptp(t) == 0:
        return Drift(Trend.NOT_VERIFIED, nan, nan, nan, int(t.size), nan, nan, f"fewer than {min_points} windows")
    from scipy.stats import theilslopes  # here: scipy.stats is 0.7 s to import, and only soaks need it

    slope, intercept, lo, hi = theilslopes(y, t, alpha=alpha)
    t0, span = float(t.min()), float(np.ptp(t))
    start = float(intercept + slope * t0)
    change = float(slope * span)
    material = abs(change) >= max(abs_change, rel_change * abs(start))
    if lo > 0 and material:
        status, note = Trend.DRIFTING, f"grows by {change:.3g} over {span:.0f} s (interval of the slope above zero)"
    elif hi < 0 and material:
        status, note = Trend.DECREASING, f"falls by {-change:.3g} over {span:.0f} s"
    else:
        status = Trend.FLAT
        note = "slope interval includes zero" if lo <= 0 <= hi else f"change {change:.3g} too small to matter"
    return Drift(status, float(slope), float(lo), float(hi), int(t.size), start, change, note)


def latency_drift(
    samples: pd.DataFrame,
    window_s: float = DEFAULT_WINDOW_S,
    q: float = 0.5,
    *,
    windows: pd.DataFrame | None = None,
    **kwargs: float,
) -> pd.DataFrame:
    """The drift of each round-trip metric's per-window ``q`` percentile: one row per metric.

    ``windows``: :func:`windowed_percentiles` of ``samples`` already made with this ``window_s`` and ``q`` among
    its quantiles (they are not computed again).
    """
    w = windowed_percentiles(samples, window_s, (q,)) if windows is None else windows[windows["q"] == q]
    rows = []
    for metric, g in w.groupby("metric", sort=True):
        if not str(metric).startswith("rtt_ms") and metric != "connect_ms":
            continue
        d = drift(g["t_mid_s"].to_numpy(), g["estimate"].to_numpy(), **kwargs)  # type: ignore[arg-type]
        rows.append({"metric": metric, "q": q, "window_s": window_s, **d.as_dict()})
    return pd.DataFrame(rows, columns=["metric", "q", "window_s", *Drift.__dataclass_fields__])


def client_open_over_time(windows: pd.DataFrame) -> pd.DataFrame:
    """The load's own open connections over time (the latest window of every shard, summed): ``t_offset_s, open``."""
    if windows is None or windows.empty:
        return pd.DataFrame(columns=["t_offset_s", "open"])
    w = windows.sort_values("t_offset_s")
    latest: dict[int, int] = {}
    rows = []
    for shard, t, n in zip(w["shard"], w["t_offset_s"], w["open"], strict=True):
        latest[int(shard)] = int(n)
        rows.append((float(t), sum(latest.values())))
    return pd.DataFrame(rows, columns=["t_offset_s", "open"])


def session_findings(
    polls: pd.DataFrame, windows: pd.DataFrame, *, tolerance: int = 2, min_points: int = 5
) -> pd.DataFrame:
    """Findings on the target's session count: ``finding, status, evidence, severity, remediation``.

    * ``sessions_return_to_baseline``: the last poll (after the load left) against the first (before it
      came), within ``tolerance``;
    * ``sessions_track_load``: the target's sessions minus the load's open connections, while the load
      ran, must not grow (Theil–Sen interval of its slope above zero and a material change is a leak).
    """
    cols = ["finding", "status", "evidence", "severity", "remediation"]
    p = (
        polls.dropna(subset=["sessions"]).sort_values("t_offset_s")
        if polls is not None and len(polls)
        else pd.DataFrame()
    )
    if len(p) < 2:
        return pd.DataFrame(
            [
                (
                    "sessions_return_to_baseline",
                    TargetStatus.NOT_VERIFIED,
                    "the target's session count was not available",
                    "info",
                    "expose the session count (stats or health) to measure leaks",
                )
            ],
            columns=cols,
        )
    rows: list[tuple[str, str, str, str, str]] = []
    baseline, final, peak = int(p["sessions"].iloc[0]), int(p["sessions"].iloc[-1]), int(p["sessions"].max())
    remedy = (
        "remove a session on every path that ends it (PROTOCOL.md Part B item 18: clients leaving during the "
        "user lookup)"
    )
    if final - baseline > tolerance:
        rows.append(
            (
                "sessions_return_to_baseline",
                Outcome.FAIL,
                f"{final} sessions after the load left against {baseline} before it (peak {peak})",
                "high",
                remedy,
            )
        )
    else:
        rows.append(
            (
                "sessions_return_to_baseline",
                Outcome.PASS,
                f"{final} sessions after the load left, {baseline} before it (peak {peak})",
                "info",
                "",
            )
        )
    opened = client_open_over_time(windows)
    if len(opened):
        t0, t1 = float(opened["t_offset_s"].min()), float(opened["t_offset_s"].max())
        during = p[(p["t_offset_s"] >= t0) & (p["t_offset_s"] <= t1)]
        if len(during) >= min_points:
            idx = np.searchsorted(opened["t_offset_s"].to_numpy(), during["t_offset_s"].to_numpy(), side="right") - 1
            client = opened["open"].to_numpy()[np.clip(idx, 0, len(opened) - 1)]
            excess = during["sessions"].to_numpy(dtype="float64") - client
            d = drift(
                during["t_offset_s"].to_numpy(),
                excess,
                min_points=min_points,
                rel_change=0.0,
                abs_change=float(tolerance) + 1,
            )
            status: str = {Trend.DRIFTING: Outcome.FAIL, Trend.FLAT: Outcome.PASS, Trend.DECREASING: Outcome.PASS}.get(
                d.status, TargetStatus.NOT_VERIFIED
            )
            rows.append(
                (
                    "sessions_track_load",
                    status,
                    f"target sessions minus the load's open connections: slope {d.slope_per_s:.3g}/s "
                    f"[{d.lo:.3g}, {d.hi:.3g}], change {d.change:.3g} over the load ({d.note})",
                    "high" if status == Outcome.FAIL else "info",
                    remedy if status == Outcome.FAIL else "",
                )
            )
    return pd.DataFrame(rows, columns=cols)


@dataclass
class SoakAnalysis:
    """Everything the soak section shows."""

    windows: pd.DataFrame  # windowed_percentiles
    drift: pd.DataFrame  # latency_drift
    saturation: Saturation
    sessions: pd.DataFrame  # session_findings
    slo: pd.DataFrame  # latency targets judged on the load run, saturation taken into account
    client_open: pd.DataFrame


def load_targets(threshold_ms: float = 50.0) -> tuple[Target, ...]:
    """The latency target judged on a load run: p95 of every ping round trip of the run."""
    return (
        Target("message round trip p95 under load", "rtt_ms", "every ping round trip of the load run", threshold_ms),
    )


def analyze_soak(
    samples: pd.DataFrame,
    generator: pd.DataFrame,
    target_stats: pd.DataFrame,
    *,
    window_s: float = DEFAULT_WINDOW_S,
    lag_bound_ms: float = 50.0,
    max_share: float = 0.1,
    rtt_target_ms: float = 50.0,
) -> SoakAnalysis:
    """The soak tables of one load run (pure: the caller loads the run and its events)."""
    sat = generator_saturation(generator, lag_bound_ms=lag_bound_ms, max_share=max_share)
    empty_probes = pd.DataFrame(columns=["probe", "probe_id"])
    windows = windowed_percentiles(samples, window_s)
    return SoakAnalysis(
        windows=windows,
        drift=latency_drift(samples, window_s, windows=windows),
        saturation=sat,
        sessions=session_findings(target_stats, generator),
        slo=slo_checks(samples, empty_probes, tls=False, targets=load_targets(rtt_target_ms), generator=sat),
        client_open=client_open_over_time(generator),
    )
