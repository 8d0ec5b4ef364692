"""Comparing two runs: rates and percentiles, each change with an interval (pure)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from ..outcomes import FAILED, Outcome
from .latency import latency_summary
from .rates import category_rates
from .stats import newcombe_diff
from .tables import latest

#: A latency change is called slower/faster only when its intervals are apart *and* it is at least this large,
#: relatively and in ms: 0.098 -> 0.101 ms may be significant on 400 samples, but it is not a change anyone acts on.
MIN_RELATIVE_CHANGE = 0.10
MIN_ABSOLUTE_CHANGE_MS = 0.1

JUDGED: tuple[str, ...] = (Outcome.PASS, *FAILED)


def judged_in_both(
    probes_a: pd.DataFrame, probes_b: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, set[str], set[str]]:
    """The latest record of each probe judged (pass, fail or error) in both runs, of each run; and the names of the
    probes judged in A only and in B only (skipped, excluded or absent in the other)."""
    a, b = latest(probes_a), latest(probes_b)
    ja, jb = set(a.loc[a["outcome"].isin(JUDGED), "probe"]), set(b.loc[b["outcome"].isin(JUDGED), "probe"])
    both = ja & jb
    return a[a["probe"].isin(both)], b[b["probe"].isin(both)], ja - jb, jb - ja


def compare_rates(probes_a: pd.DataFrame, probes_b: pd.DataFrame) -> pd.DataFrame:
    """Per category, on the probes judged in both runs: rate in A and B, B - A with Newcombe's 95% interval,
    significant if it excludes 0; ``only_a``/``only_b`` count the probes judged in one run only, left out (a probe
    skipped in one run says nothing about a change, so it cannot make one look significant)."""
    a, b, only_a, only_b = judged_in_both(probes_a, probes_b)
    ra, rb = category_rates(a).set_index("category"), category_rates(b).set_index("category")
    cat_a = dict(zip(latest(probes_a)["probe"], latest(probes_a)["category"], strict=True))
    cat_b = dict(zip(latest(probes_b)["probe"], latest(probes_b)["category"], strict=True))
    rows = []
    for cat in ra.index:
        x, y = ra.loc[cat], rb.loc[cat]
        d = newcombe_diff(int(x["passed"]), int(x["judged"]), int(y["passed"]), int(y["judged"]))
        sig = d.determined and (d.lo > 0 or d.hi < 0)
        rows.append(
            {
                "category": cat,
                "rate_a": x["rate"],
                "rate_b": y["rate"],
                "change": d.estimate,
                "lo": d.lo,
                "hi": d.hi,
                "significant": bool(sig),
                "compared": int(x["judged"]),
                "only_a": sum(1 for p in only_a if cat == "overall" or cat_a.get(p) == cat),
                "only_b": sum(1 for p in only_b if cat == "overall" or cat_b.get(p) == cat),
            }
        )
    return pd.DataFrame(rows)


def meaningful(a_ms: float, b_ms: float) -> bool:
    """Whether a latency change is large enough to name (see :data:`MIN_RELATIVE_CHANGE`)."""
    if not a_ms or any(isinstance(x, float) and math.isnan(x) for x in (a_ms, b_ms)):
        return False
    return abs(b_ms - a_ms) >= MIN_ABSOLUTE_CHANGE_MS and abs(b_ms / a_ms - 1) >= MIN_RELATIVE_CHANGE


def compare_latency(
    samples_a: pd.DataFrame, samples_b: pd.DataFrame, qs: tuple[str, ...] = ("p50", "p95")
) -> pd.DataFrame:
    """Per metric and percentile: A, B, ratio B/A; significant when the two 95% intervals do not overlap. The
    direction names slower/faster only for a significant change of a meaningful size (:func:`meaningful`)."""
    la = latency_summary(samples_a[samples_a["concurrency"] == 1]).set_index("metric")
    lb = latency_summary(samples_b[samples_b["concurrency"] == 1]).set_index("metric")
    rows = []
    for m in [m for m in la.index if m in lb.index]:
        for q in qs:
            a, b = la.loc[m], lb.loc[m]
            alo, ahi, blo, bhi = a[f"{q}_lo"], a[f"{q}_hi"], b[f"{q}_lo"], b[f"{q}_hi"]
            known = not any(math.isnan(x) for x in (alo, ahi, blo, bhi))
            sig = known and (blo > ahi or bhi < alo)
            if not sig:
                direction = "no significant change"
            elif not meaningful(a[q], b[q]):
                direction = "significant, too small to matter"
            else:
                direction = "slower" if b[q] > a[q] else "faster"
            rows.append(
                {
                    "metric": m,
                    "percentile": q,
                    "a_ms": a[q],
                    "b_ms": b[q],
                    "ratio": b[q] / a[q] if a[q] else math.nan,
                    "a_interval": (alo, ahi),
                    "b_interval": (blo, bhi),
                    "significant": bool(sig),
                    "direction": direction,
                }
            )
    return pd.DataFrame(rows)


def _change(row: Any) -> str:
    """What a change of outcome means, in words: only a judged fail turned into a pass with evidence is 'fixed'."""
    oa, ob = row["outcome_a"], row["outcome_b"]  # absent from a run: missing (NA)
    judged_a, judged_b = isinstance(oa, str) and oa in JUDGED, isinstance(ob, str) and ob in JUDGED
    if not judged_a and not judged_b:
        return "not judged in either run"
    if not judged_a:
        return "judged in B only (no change to judge)"
    if not judged_b:
        return "not judged in B (skipped or not run)"
    if oa in FAILED and ob == Outcome.PASS:
        observed = row.get("observed_b")
        has_evidence = isinstance(observed, str) and observed.strip() != ""
        return "fixed" if has_evidence else "pass without recorded evidence (not counted as fixed)"
    if oa == Outcome.PASS and ob in FAILED:
        return "broke"
    return "outcome changed" if oa != ob else "reason changed"


def compare_outcomes(probes_a: pd.DataFrame, probes_b: pd.DataFrame) -> pd.DataFrame:
    """Probes whose outcome (or reason) differs between the runs, each with what the change means (``change``)."""
    cols = ["outcome", "reason", "observed"]
    a = latest(probes_a).set_index("probe")[[c for c in cols if c in probes_a.columns]]
    b = latest(probes_b).set_index("probe")[[c for c in cols if c in probes_b.columns]]
    j = a.merge(b, left_index=True, right_index=True, how="outer", suffixes=("_a", "_b"))

    def differs(c: str) -> pd.Series:
        return j[f"{c}_a"].astype(object).fillna("—") != j[f"{c}_b"].astype(object).fillna("—")

    changed = j[differs("outcome") | differs("reason")].copy()
    changed["change"] = [_change(r) for _, r in changed.iterrows()]
    return changed.drop(columns=[c for c in ("observed_a", "observed_b") if c in changed.columns]).reset_index()


def contracts_differ(manifest_a: dict[str, Any], manifest_b: dict[str, Any]) -> str | None:
    """A warning when the runs were judged against different contracts (then their probes and targets differ), else
    None. A run that records no contract was judged against the built-in pitchey contract."""

    def ident(m: dict[str, Any]) -> tuple[str, str | None]:
        c = m.get("contract")
        if isinstance(c, dict):
            return str(c.get("name") or "pitchey"), c.get("sha256")
        return "pitchey", None

    (na, sa), (nb, sb) = ident(manifest_a), ident(manifest_b)
    if na == nb and (sa is None or sb is None or sa == sb):
        return None
    what = f"{na} vs {nb}" if na != nb else f"{na}, sha256 {str(sa)[:12]} vs {str(sb)[:12]}"
    return (
        f"The two runs were judged against different contracts ({what}): probes, answers and targets may differ, "
        "so a change below may come from the contract rather than the service."
    )
