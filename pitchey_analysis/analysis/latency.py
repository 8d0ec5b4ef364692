"""Latency summaries per metric with percentile intervals (pure)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd

from .columns import first_seen, metric_codes, ok_mask, parallel_map, pick, where
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
    # each group's values are taken (and summarized) on a worker: two groups in memory at a time, not all
    rows = parallel_map(lambda kv: _row(by, kv[0], kv[1]()), list(_groups(samples, by)), len(samples))
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    order = {m: i for i, m in enumerate(METRIC_ORDER)}
    return df.sort_values(list(by), key=lambda s: s.map(order).fillna(99) if s.name == "metric" else s).reset_index(drop=True)


def _row(by: tuple[str, ...], key: tuple, v: np.ndarray) -> dict:
    """One group's row; ``v`` is the group's own copy of its values (reordered here once its mean is taken)."""
    row = dict(zip(by, key, strict=True))
    row.update(count=len(v), mean=float(v.mean()), max=float(v.max()))  # in table order, before any reordering
    for q, iv in percentiles(v, QS, overwrite_input=True).items():
        tag = f"p{int(q * 100)}"
        row[tag], row[f"{tag}_lo"], row[f"{tag}_hi"] = iv.estimate, iv.lo, iv.hi
    return row


def _groups(samples: pd.DataFrame, by: tuple[str, ...]) -> Iterator[tuple[tuple, Callable[[], np.ndarray]]]:
    """(key, a function making a new array of its successful values in table order) per group, in order of first appearance (a ``groupby(sort=False)``'s).

    By metric alone the columns are read as numpy arrays and the metric as codes (see :mod:`.columns`), which
    at a hundred million samples saves a copy of the frame and a pandas groupby; any other grouping is pandas'.
    """
    if tuple(by) == ("metric",) and len(samples):
        mask = ok_mask(samples)
        codes, names = metric_codes(samples)
        value = samples["value_ms"].to_numpy(dtype="float64")
        if len(set(names)) == len(names):
            for c in first_seen(codes, mask, len(names)):
                yield (names[c],), functools.partial(_take, value, codes, c, mask)
            return
    ok = samples[(samples["ok"] == True) & samples["value_ms"].notna()]  # noqa: E712
    for key, grp in ok.groupby(list(by), sort=False, observed=True):
        yield (key if isinstance(key, tuple) else (key,)), functools.partial(np.array, grp["value_ms"].to_numpy(), dtype="float64")


def _take(value: np.ndarray, codes: np.ndarray, code: int, mask: np.ndarray) -> np.ndarray:
    """The masked values with this code, a new array in table order."""
    return pick(value, where(codes, code, mask))
