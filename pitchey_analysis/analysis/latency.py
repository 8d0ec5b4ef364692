"""Latency summaries per metric with percentile intervals (pure)."""

from __future__ import annotations

import pandas as pd

from .stats import percentiles

QS = (0.5, 0.9, 0.95, 0.99)
METRIC_ORDER = ("tcp_connect_ms", "tls_handshake_ms", "ws_upgrade_ms", "first_frame_ms", "connect_ms",
                "auth_ms", "login_ms", "rtt_ms", "auth_rtt_ms", "reconnect_ms")


def latency_summary(samples: pd.DataFrame, *, by: tuple[str, ...] = ("metric",)) -> pd.DataFrame:
    """Count, mean, p50/p90/p95/p99 (each with lo/hi), max per group of successful samples.

    Args:
        samples: the samples table.
        by: grouping columns (``("metric",)`` or ``("metric", "concurrency")``).
    """
    ok = samples[(samples["ok"] == True) & samples["value_ms"].notna()]  # noqa: E712
    rows = []
    for key, grp in ok.groupby(list(by), sort=False, observed=True):
        key = key if isinstance(key, tuple) else (key,)
        v = grp["value_ms"].to_numpy()
        row = dict(zip(by, key, strict=True))
        row.update(count=len(v), mean=float(v.mean()), max=float(v.max()))
        for q, iv in percentiles(v, QS).items():
            tag = f"p{int(q * 100)}"
            row[tag], row[f"{tag}_lo"], row[f"{tag}_hi"] = iv.estimate, iv.lo, iv.hi
        rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    order = {m: i for i, m in enumerate(METRIC_ORDER)}
    return df.sort_values(list(by), key=lambda s: s.map(order).fillna(99) if s.name == "metric" else s).reset_index(drop=True)
