"""Latency summaries per metric with percentile intervals (pure)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .columns import map_codes, metric_codes, ok_flags
from .stats import percentiles

QS = (0.5, 0.9, 0.95, 0.99)
METRIC_ORDER = (
    "tcp_connect_ms",
    "tls_handshake_ms",
    "ws_upgrade_ms",
    "first_frame_ms",
    "connect_ms",
    "auth_ms",
    "login_ms",
    "rtt_ms",
    "auth_rtt_ms",
    "reconnect_ms",
)


def latency_summary(samples: pd.DataFrame, *, by: tuple[str, ...] = ("metric",)) -> pd.DataFrame:
    """Count, mean, p50/p90/p95/p99 (each with lo/hi), max per group of successful samples.

    Args:
        samples: the samples table.
        by: grouping columns (``("metric",)`` or ``("metric", "concurrency")``).
    """
    rows = _rows(samples, by)
    # the columns are named even with no row: a run with no sample (a silent target, an --only subset) is summarized
    # as an empty table that callers can filter by metric, not as a frame without columns
    df = pd.DataFrame(rows, columns=summary_columns(by))
    if df.empty:
        return df
    order = {m: i for i, m in enumerate(METRIC_ORDER)}
    return df.sort_values(list(by), key=lambda s: s.map(order).fillna(99) if s.name == "metric" else s).reset_index(
        drop=True
    )


def summary_columns(by: tuple[str, ...] = ("metric",)) -> list[str]:
    """The columns of :func:`latency_summary`, in order."""
    cols = [*by, "count", "mean", "max"]
    for q in QS:
        tag = f"p{int(q * 100)}"
        cols += [tag, f"{tag}_lo", f"{tag}_hi"]
    return cols


def _rows(samples: pd.DataFrame, by: tuple[str, ...]) -> list[dict[str, Any]]:
    """A row per group of successful samples, in order of first appearance (a ``groupby(sort=False)``'s).

    By metric alone the columns are read as numpy arrays and the metric as codes, and each metric's values are
    summarized in a buffer (see :func:`.columns.map_codes`): at a hundred million samples no copy of the frame,
    no pandas groupby and one buffer a core; any other grouping is pandas'.
    """
    if tuple(by) == ("metric",) and len(samples):
        codes, names = metric_codes(samples)
        if len(set(names)) == len(names):
            value = samples["value_ms"].to_numpy(dtype="float64")
            return map_codes(lambda c, v: _row(by, (names[c],), v), codes, ok_flags(samples), value, len(names))
    ok = samples[samples["ok"].eq(True) & samples["value_ms"].notna()]
    return [
        _row(by, key if isinstance(key, tuple) else (key,), np.array(grp["value_ms"].to_numpy(), dtype="float64"))
        for key, grp in ok.groupby(list(by), sort=False, observed=True)
    ]


def _row(by: tuple[str, ...], key: tuple[Any, ...], v: np.ndarray) -> dict[str, Any]:
    """One group's row; ``v``, its values in table order, is reordered here (once its mean is taken)."""
    row = dict(zip(by, key, strict=True))
    row.update(count=len(v), mean=float(v.mean()), max=float(v.max()))  # in table order, before any reordering
    for q, iv in percentiles(v, QS, overwrite_input=True).items():
        tag = f"p{int(q * 100)}"
        row[tag], row[f"{tag}_lo"], row[f"{tag}_hi"] = iv.estimate, iv.lo, iv.hi
    return row
