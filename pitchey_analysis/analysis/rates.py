"""Success rates per category and overall, and the overall score (pure)."""

from __future__ import annotations

import pandas as pd

from ..categories import CATEGORIES
from ..outcomes import Outcome
from .stats import wilson

#: Fixed weights of the overall score (they sum to 1). Readiness, connection and
#: authentication weigh most: they decide whether anyone can use the service safely.
WEIGHTS: dict[str, float] = {
    "connection": 0.20,
    "authentication": 0.20,
    "messaging": 0.15,
    "performance": 0.15,
    "readiness": 0.20,
    "resilience": 0.10,
}
SCORE_FORMULA = (
    "score = "
    + " + ".join(f"{w:.2f}×{c}" for c, w in WEIGHTS.items())
    + "  (each term the category's pass rate, skips left out; a category with no judged probe is left out and "
    "the weights renormalised)"
)


def category_rates(probes: pd.DataFrame) -> pd.DataFrame:
    """One row per category plus 'overall': counts, pass rate and its Wilson 95% interval.

    Columns: category, passed, failed, errors, skipped, judged, rate, lo, hi.
    Skips are left out of the rate (they are neither passes nor failures).
    """
    rows = []
    for cat in [*CATEGORIES, "overall"]:
        sub = probes if cat == "overall" else probes[probes["category"] == cat]
        counts = sub["outcome"].value_counts()
        passed, failed = int(counts.get(Outcome.PASS, 0)), int(counts.get(Outcome.FAIL, 0))
        errors, skipped = int(counts.get(Outcome.ERROR, 0)), int(counts.get(Outcome.SKIP, 0))
        judged = passed + failed + errors
        iv = wilson(passed, judged)
        rows.append(
            {
                "category": cat,
                "passed": passed,
                "failed": failed,
                "errors": errors,
                "skipped": skipped,
                "judged": judged,
                "rate": iv.estimate,
                "lo": iv.lo,
                "hi": iv.hi,
            }
        )
    return pd.DataFrame(rows).astype({"category": "string"})


def overall_score(rates: pd.DataFrame) -> float:
    """The weighted score of :data:`WEIGHTS` over the category rates (NaN if nothing was judged)."""
    total = weight = 0.0
    for _, r in rates[rates["category"] != "overall"].iterrows():
        if r["judged"] > 0:
            total += WEIGHTS[r["category"]] * r["rate"]
            weight += WEIGHTS[r["category"]]
    return total / weight if weight else float("nan")
