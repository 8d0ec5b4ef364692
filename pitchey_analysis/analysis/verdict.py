"""The verdict, computed by DESIGN.md's rules in order (pure)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .tables import latest

VERDICTS = ("NOT READY", "INSUFFICIENT EVIDENCE", "READY WITH RISKS", "READY")
RULES = {
    1: "NOT READY: a critical probe ended fail or error, or a service-level target is missed",
    2: "INSUFFICIENT EVIDENCE: a critical probe was skipped, or a target is not verified",
    3: "READY WITH RISKS: a non-critical probe failed",
    4: "READY: none of the above",
}


@dataclass(frozen=True)
class Verdict:
    """The verdict and the probes and targets that decided it."""

    verdict: str
    rule: int
    reasons: pd.DataFrame  # rule, kind, name, status, detail

    def sentence(self) -> str:
        """One sentence for the executive summary."""
        n = len(self.reasons)
        if self.rule == 4:
            return "Every critical probe passed and every service-level target is met."
        what = {1: ("blocking finding", "blocking findings"), 2: ("gap in the evidence", "gaps in the evidence"),
                3: ("non-critical failure", "non-critical failures")}[self.rule][n != 1]
        return f"{n} {what} (rule {self.rule}: {RULES[self.rule].split(': ', 1)[1]})."


def verdict(probes: pd.DataFrame, slo: pd.DataFrame) -> Verdict:
    """Apply the rules: 1 NOT READY, 2 INSUFFICIENT EVIDENCE, 3 READY WITH RISKS, 4 READY."""
    p = latest(probes)
    crit = p["critical"].fillna(False).astype(bool)
    rows: dict[int, list[dict]] = {1: [], 2: [], 3: []}
    for _, r in p[crit & p["outcome"].isin(["fail", "error"])].iterrows():
        rows[1].append({"rule": 1, "kind": "probe", "name": r["probe"], "status": f"{r['outcome']} ({r['reason']})", "detail": r["detail"]})
    for _, t in slo[slo["status"] == "missed"].iterrows():
        rows[1].append({"rule": 1, "kind": "target", "name": t["target"], "status": "missed", "detail": t["note"]})
    for _, r in p[crit & (p["outcome"] == "skip")].iterrows():
        rows[2].append({"rule": 2, "kind": "probe", "name": r["probe"], "status": f"skip ({r['reason']})", "detail": r["detail"]})
    for _, t in slo[slo["status"] == "not verified"].iterrows():
        rows[2].append({"rule": 2, "kind": "target", "name": t["target"], "status": "not verified", "detail": t["note"]})
    for _, r in p[~crit & p["outcome"].isin(["fail", "error"])].iterrows():
        rows[3].append({"rule": 3, "kind": "probe", "name": r["probe"], "status": f"{r['outcome']} ({r['reason']})", "detail": r["detail"]})
    cols = ["rule", "kind", "name", "status", "detail"]
    for rule in (1, 2, 3):
        if rows[rule]:
            return Verdict(VERDICTS[rule - 1], rule, pd.DataFrame(rows[rule], columns=cols))
    return Verdict("READY", 4, pd.DataFrame(columns=cols))
