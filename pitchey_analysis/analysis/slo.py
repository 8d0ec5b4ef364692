"""Service-level checks: target, observed, interval, samples, status (pure).

Status rules (DESIGN.md): a percentile target is **met** when the upper end of
its 95% interval is below the target, **missed** when the lower end is at or
above it, **not verified** otherwise (including too few samples). The
concurrency target is judged on the Wilson interval of the success rate at the
target level.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

import pandas as pd

from ..judged import DEFAULT_TARGETS, Target
from ..outcomes import TargetStatus
from .stats import min_samples, percentiles, wilson

if TYPE_CHECKING:  # soak imports this module
    from .soak import Saturation


def _probe_ids(probes: pd.DataFrame, name: str | None) -> set[str] | None:
    if name is None:
        return None
    return set(probes.loc[probes["probe"] == name, "probe_id"].dropna())


def slo_checks(
    samples: pd.DataFrame,
    probes: pd.DataFrame,
    *,
    tls: bool,
    targets: tuple[Target, ...] = DEFAULT_TARGETS,
    generator: Saturation | None = None,
) -> pd.DataFrame:
    """One row per target: target, threshold, observed, lo, hi, samples, needed, status, note.

    ``generator``: the load generator's saturation (:func:`.soak.generator_saturation`). When the generator was
    saturated for more than its allowed share of the run, every latency target is "not verified (generator
    saturated)": a client that cannot keep its schedule makes any service look slow.
    """
    rows = []
    for t in targets:
        if t.prefer and (samples["metric"] == t.prefer).any():
            t = replace(t, metric=t.prefer, judged_on=t.prefer_judged_on or t.judged_on)
        sel = samples[samples["metric"] == t.metric]
        ids = _probe_ids(probes, t.probe)
        if ids is not None:
            sel = sel[sel["probe_id"].isin(ids)]
        if t.concurrency is not None:
            sel = sel[sel["concurrency"] == t.concurrency]
        row = {"target": t.name, "goal": t.label(), "judged_on": t.judged_on, "threshold": t.threshold}
        if t.tls_only and not tls:
            rows.append(
                {
                    **row,
                    "observed": math.nan,
                    "lo": math.nan,
                    "hi": math.nan,
                    "samples": 0,
                    "needed": 0,
                    "status": TargetStatus.NOT_APPLICABLE,
                    "note": "the target is not wss://",
                }
            )
            continue
        if t.kind == "success_rate":
            n = len(sel)
            k = int(sel["ok"].eq(True).sum())
            iv = wilson(k, n)
            if n == 0:
                status, note = TargetStatus.NOT_VERIFIED, f"level {t.concurrency} was not run"
            elif iv.lo >= t.threshold:
                status, note = TargetStatus.MET, f"{k} of {n} connections answered"
            elif iv.hi < t.threshold:
                status, note = TargetStatus.MISSED, f"{k} of {n} connections answered"
            else:
                status, note = TargetStatus.NOT_VERIFIED, f"{k} of {n}: interval straddles the target"
            rows.append(
                {
                    **row,
                    "observed": iv.estimate,
                    "lo": iv.lo,
                    "hi": iv.hi,
                    "samples": n,
                    "needed": t.concurrency or 0,
                    "status": status,
                    "note": note,
                }
            )
            continue
        values = sel.loc[sel["ok"].eq(True) & sel["value_ms"].notna(), "value_ms"].to_numpy()
        iv = percentiles(values, (t.q,))[t.q]
        need = min_samples(t.q)
        if iv.n == 0:
            status, note = TargetStatus.NOT_VERIFIED, "no samples"
        elif not math.isnan(iv.hi) and iv.hi < t.threshold:
            status, note = TargetStatus.MET, "upper end of the interval below the target"
        elif not math.isnan(iv.lo) and iv.lo >= t.threshold:
            status, note = TargetStatus.MISSED, "lower end of the interval at or above the target"
        elif iv.n < need:
            status, note = TargetStatus.NOT_VERIFIED, f"too few samples ({iv.n} < {need})"
        else:
            status, note = TargetStatus.NOT_VERIFIED, "interval straddles the target"
        if generator is not None and generator.saturated and iv.n:
            status, note = TargetStatus.NOT_VERIFIED, f"generator saturated: {generator.note()}"
        rows.append(
            {
                **row,
                "observed": iv.estimate,
                "lo": iv.lo,
                "hi": iv.hi,
                "samples": iv.n,
                "needed": need,
                "status": status,
                "note": note,
            }
        )
    return pd.DataFrame(rows)
