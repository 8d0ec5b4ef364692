"""Comparing two runs: rates and percentiles, each change with an interval (pure)."""

from __future__ import annotations

import math

import pandas as pd

from .latency import latency_summary
from .rates import category_rates
from .stats import newcombe_diff
from .tables import latest


def compare_rates(probes_a: pd.DataFrame, probes_b: pd.DataFrame) -> pd.DataFrame:
    """Per category: rate in A and B, B - A with Newcombe's 95% interval, significant if it excludes 0."""
    ra, rb = category_rates(latest(probes_a)).set_index("category"), category_rates(latest(probes_b)).set_index("category")
    rows = []
    for cat in ra.index:
        a, b = ra.loc[cat], rb.loc[cat]
        d = newcombe_diff(int(a["passed"]), int(a["judged"]), int(b["passed"]), int(b["judged"]))
        sig = d.determined and (d.lo > 0 or d.hi < 0)
        rows.append({"category": cat, "rate_a": a["rate"], "rate_b": b["rate"], "change": d.estimate, "lo": d.lo, "hi": d.hi,
                     "significant": bool(sig)})
    return pd.DataFrame(rows)


def compare_latency(samples_a: pd.DataFrame, samples_b: pd.DataFrame, qs: tuple[str, ...] = ("p50", "p95")) -> pd.DataFrame:
    """Per metric and percentile: A, B, ratio B/A; significant when the two 95% intervals do not overlap."""
    la = latency_summary(samples_a[samples_a["concurrency"] == 1]).set_index("metric") if len(samples_a) else pd.DataFrame()
    lb = latency_summary(samples_b[samples_b["concurrency"] == 1]).set_index("metric") if len(samples_b) else pd.DataFrame()
    rows = []
    for m in [m for m in la.index if m in lb.index]:
        for q in qs:
            a, b = la.loc[m], lb.loc[m]
            alo, ahi, blo, bhi = a[f"{q}_lo"], a[f"{q}_hi"], b[f"{q}_lo"], b[f"{q}_hi"]
            known = not any(math.isnan(x) for x in (alo, ahi, blo, bhi))
            sig = known and (blo > ahi or bhi < alo)
            rows.append({"metric": m, "percentile": q, "a_ms": a[q], "b_ms": b[q], "ratio": b[q] / a[q] if a[q] else math.nan,
                         "a_interval": (alo, ahi), "b_interval": (blo, bhi), "significant": bool(sig),
                         "direction": ("slower" if b[q] > a[q] else "faster") if sig else "no significant change"})
    return pd.DataFrame(rows)


def compare_outcomes(probes_a: pd.DataFrame, probes_b: pd.DataFrame) -> pd.DataFrame:
    """Probes whose outcome differs between the runs."""
    a = latest(probes_a).set_index("probe")[["outcome", "reason"]]
    b = latest(probes_b).set_index("probe")[["outcome", "reason"]]
    j = a.join(b, lsuffix="_a", rsuffix="_b", how="outer")
    changed = j[(j["outcome_a"] != j["outcome_b"]) | (j["reason_a"] != j["reason_b"])]
    return changed.reset_index()
