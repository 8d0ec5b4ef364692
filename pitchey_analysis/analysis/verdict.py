"""The verdict, computed by DESIGN.md's rules in order (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..outcomes import FAILED, Completeness, Outcome, Readiness, RunStatus, TargetStatus
from .tables import latest

VERDICTS: tuple[Readiness, ...] = tuple(Readiness)  # in the order of the rules
RULES = {
    1: f"{Readiness.NOT_READY}: a critical probe ended fail or error, or a service-level target is missed",
    2: f"{Readiness.INSUFFICIENT_EVIDENCE}: a critical probe was skipped or never ran, or a target is not verified",
    3: f"{Readiness.READY_WITH_RISKS}: a non-critical probe failed",
    4: f"{Readiness.READY}: none of the above",
}


@dataclass(frozen=True)
class Verdict:
    """The verdict and the probes and targets that decided it."""

    verdict: Readiness
    rule: int
    reasons: pd.DataFrame  # rule, kind, name, status, detail
    #: complete | interrupted | incomplete (the manifest still says running: killed) | partial (probes excluded with
    #: --only) | deadline | degraded
    completeness: Completeness = Completeness.COMPLETE
    #: planned probes that never ran (critical or not), with why
    not_run: list[str] = field(default_factory=list)
    planned: int = 0
    #: the gaps in the evidence (rule 2: critical probes skipped or never run, targets not verified, the run not
    #: ended), whichever rule decided: a NOT READY run can have them too (a target missed, the rest not judged)
    gaps: list[str] = field(default_factory=list)

    def run_note(self) -> str:
        """What kind of run this was, when it was not a whole one ("" for a complete run)."""
        if self.completeness == Completeness.INCOMPLETE:
            return (
                "The run is incomplete: its manifest still says running (the process was killed, or has not ended), so "
                "what it recorded was read from events.jsonl"
                + (
                    f"; {len(self.not_run)} of {self.planned} planned probes never ran ({', '.join(self.not_run)})."
                    if self.not_run
                    else "."
                )
            )
        if self.completeness == Completeness.COMPLETE or not self.not_run:
            return ""
        how = {
            Completeness.INTERRUPTED: "The run was interrupted",
            Completeness.PARTIAL: "The run was partial (--only)",
            Completeness.DEADLINE: "The run reached its deadline",
            Completeness.DEGRADED: "The capture was degraded",
        }.get(self.completeness, f"The run is {self.completeness}")
        return f"{how}: {len(self.not_run)} of {self.planned} planned probes never ran ({', '.join(self.not_run)})."

    def sentence(self) -> str:
        """One sentence for the executive summary."""
        n = len(self.reasons)
        note = self.run_note()
        if self.rule == 4:
            return "Every critical probe passed and every service-level target is met."
        what = {
            1: ("critical probe or target failing", "critical probes or targets failing"),
            2: ("gap in the evidence", "gaps in the evidence"),
            3: ("non-critical failure", "non-critical failures"),
        }[self.rule][n != 1]
        return f"{n} {what} (rule {self.rule}: {RULES[self.rule].split(': ', 1)[1]}).{' ' + note if note else ''}"


def not_run(probes: pd.DataFrame, plan: list[Any] | None) -> pd.DataFrame:
    """Planned probes without a record (pure): probe, critical, why (excluded / not run).

    Plan entries are dicts (probe, critical, selected, ...) as the suite stores them;
    a bare name (older runs) counts as critical, the cautious reading.
    """
    # a probe recorded as cancelled at the deadline did not run either
    ran = set(probes.loc[probes["reason"] != "deadline", "probe"]) if len(probes) else set()
    cancelled = set(probes.loc[probes["reason"] == "deadline", "probe"]) if len(probes) else set()
    rows = []
    for e in plan or []:
        entry = e if isinstance(e, dict) else {"probe": e, "critical": True, "selected": True}
        if entry["probe"] in ran:
            continue
        deadline = entry["probe"] in cancelled
        rows.append(
            {
                "probe": entry["probe"],
                "critical": bool(entry.get("critical", True)),
                "why": "deadline"
                if deadline
                else ("not run" if entry.get("selected", True) else "excluded with --only"),
            }
        )
    return pd.DataFrame(rows, columns=["probe", "critical", "why"])


def completeness(status: str | None, gaps: pd.DataFrame) -> Completeness:
    """complete | interrupted | incomplete | partial | deadline | degraded (pure); ``running`` (a run read before it
    ended, or killed) is incomplete."""
    if status in (Completeness.INTERRUPTED, Completeness.DEGRADED, Completeness.DEADLINE):
        return Completeness(status)
    if status == RunStatus.RUNNING:
        return Completeness.INCOMPLETE
    if len(gaps) and (gaps["why"] == "excluded with --only").any():
        return Completeness.PARTIAL
    if len(gaps):
        return Completeness.INTERRUPTED
    return Completeness.COMPLETE


def verdict(
    probes: pd.DataFrame,
    slo: pd.DataFrame,
    plan: list[Any] | None = None,
    status: str | None = None,
    spoken: dict[str, Any] | None = None,
) -> Verdict:
    """Apply the rules: 1 NOT READY, 2 INSUFFICIENT EVIDENCE, 3 READY WITH RISKS, 4 READY.

    ``plan`` (the manifest's) and ``status`` make an interrupted or partial run a
    gap: a critical probe that was planned but never ran is never READY.
    """
    p = latest(probes)
    crit = p["critical"].fillna(False).astype(bool)
    gaps = not_run(p, plan)
    how = completeness(status, gaps)
    extra: dict[str, Any] = {"completeness": how, "not_run": list(gaps["probe"]), "planned": len(plan or [])}
    rows: dict[int, list[dict[str, Any]]] = {1: [], 2: [], 3: []}
    for _, r in p[crit & p["outcome"].isin(FAILED)].iterrows():
        rows[1].append(
            {
                "rule": 1,
                "kind": "probe",
                "name": r["probe"],
                "status": f"{r['outcome']} ({r['reason']})",
                "detail": r["detail"],
            }
        )
    for _, t in slo[slo["status"] == TargetStatus.MISSED].iterrows():
        rows[1].append(
            {"rule": 1, "kind": "target", "name": t["target"], "status": TargetStatus.MISSED, "detail": t["note"]}
        )
    for _, r in p[crit & (p["outcome"] == Outcome.SKIP) & (p["reason"] != "deadline")].iterrows():
        rows[2].append(
            {"rule": 2, "kind": "probe", "name": r["probe"], "status": f"skip ({r['reason']})", "detail": r["detail"]}
        )
    for _, g in gaps[gaps["critical"]].iterrows():
        why = g["why"]
        rows[2].append(
            {
                "rule": 2,
                "kind": "probe",
                "name": g["probe"],
                "status": f"never ran ({why})",
                "detail": f"planned but never ran: {why}",
            }
        )
    for _, t in slo[slo["status"] == TargetStatus.NOT_VERIFIED].iterrows():
        rows[2].append(
            {"rule": 2, "kind": "target", "name": t["target"], "status": TargetStatus.NOT_VERIFIED, "detail": t["note"]}
        )
    for _, r in p[~crit & p["outcome"].isin(FAILED)].iterrows():
        rows[3].append(
            {
                "rule": 3,
                "kind": "probe",
                "name": r["probe"],
                "status": f"{r['outcome']} ({r['reason']})",
                "detail": r["detail"],
            }
        )
    cols = ["rule", "kind", "name", "status", "detail"]
    if isinstance(spoken, dict) and spoken.get("speaks") is False:
        # another protocol: what the probes would say is not about this contract's features, so nothing specific
        seen = "; ".join(str(x) for x in (spoken.get("seen") or [])[:3])
        detail = f"the target does not speak this contract: {spoken.get('why')}" + (f" (seen: {seen})" if seen else "")
        return Verdict(
            Readiness.INSUFFICIENT_EVIDENCE,
            2,
            pd.DataFrame(
                [{"rule": 2, "kind": "run", "name": "contract", "status": "not spoken", "detail": detail}], columns=cols
            ),
            **extra,
            gaps=["contract"],
        )
    if (
        how in (Completeness.INTERRUPTED, Completeness.DEGRADED, Completeness.INCOMPLETE)
        and not rows[1]
        and not rows[2]
    ):
        # A run that did not end cannot be READY, even if what it recorded was clean.
        rows[2].append({"rule": 2, "kind": "run", "name": "run", "status": how, "detail": f"the run is {how}"})
    if not rows[1] and not rows[2] and not (crit & (p["outcome"] == Outcome.PASS)).any():
        # Readiness is what critical probes showed: a dataset without one passing (no probe recorded, every critical
        # flag off) judges nothing, whatever else it holds.
        rows[2].append(
            {
                "rule": 2,
                "kind": "run",
                "name": "evidence",
                "status": "no critical probe passed",
                "detail": f"{len(p)} probe(s) recorded, none of them a critical probe that passed: nothing was judged",
            }
        )
    extra["gaps"] = [str(r["name"]) for r in rows[2]]
    for rule in (1, 2, 3):
        if rows[rule]:
            return Verdict(VERDICTS[rule - 1], rule, pd.DataFrame(rows[rule], columns=cols), **extra)
    return Verdict(Readiness.READY, 4, pd.DataFrame(columns=cols), **extra)
