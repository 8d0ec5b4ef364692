"""Repeatability: the same suite against the same target several times (``run --repeat N``), probe by probe (pure).

A probe whose outcome or reason differs between the runs is unstable; an unstable critical probe is a finding
of its own ("flaky: 1 of 3 runs"), never silently one outcome or the other.
"""

from __future__ import annotations

from collections import Counter

import pandas as pd

from .tables import latest

#: The columns of :func:`stability`.
COLUMNS = ["probe", "category", "critical", "runs", "outcomes", "stable", "finding"]


def _label(outcome: str, reason: str) -> str:
    return outcome if reason in ("ok", "") else f"{outcome} {reason}"


def stability(probe_tables: list[pd.DataFrame]) -> pd.DataFrame:
    """One row per probe of any of the runs (their probes tables, in run order): ``outcomes`` as
    ``"pass ×2, fail spoofable_lockout ×1"``, ``stable`` whether every run gave the same outcome and reason (a
    run where the probe is missing counts as ``not run``), ``finding`` the flaky finding of an unstable probe."""
    per_run = [{r["probe"]: r for _, r in latest(p).iterrows()} if not p.empty else {} for p in probe_tables]
    names: dict[str, None] = {}
    for run in per_run:
        names.update(dict.fromkeys(run))
    rows = []
    n = len(per_run)
    for name in names:
        seen = [run.get(name) for run in per_run]
        labels = [_label(str(r["outcome"]), str(r["reason"])) if r is not None else "not run" for r in seen]
        counts = Counter(labels)
        first = next(r for r in seen if r is not None)
        stable = len(counts) == 1
        finding = ""
        if not stable:
            odd, k = counts.most_common()[-1]
            finding = f"flaky: {odd} in {k} of {n} runs"
        rows.append(
            {
                "probe": name,
                "category": first["category"],
                "critical": bool(first["critical"]),
                "runs": n,
                "outcomes": ", ".join(f"{lab} ×{c}" for lab, c in counts.most_common()),
                "stable": stable,
                "finding": finding,
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS).astype({"critical": bool, "stable": bool, "runs": "int64"})
