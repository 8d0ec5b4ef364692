"""Analysis: pure functions from the run's DataFrames to the report's tables.

``analyze(run)`` bundles everything the report shows; each piece is also a
function of its own (see the submodules) for notebooks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..judged import DEFAULT_TARGETS, Target, message_type_rows, targets_from_manifest, targets_with
from ..outcomes import Completeness
from .compare import compare_latency, compare_outcomes, compare_rates
from .defects import all_outcomes, defect_findings
from .latency import latency_summary
from .rates import SCORE_FORMULA, WEIGHTS, category_rates, overall_score
from .slo import slo_checks
from .stats import Interval, min_samples, newcombe_diff, percentiles, wilson
from .tables import (
    auth_methods,
    capabilities,
    concurrency_table,
    connection_flow,
    contract_conformance,
    findings,
    issues,
    latest,
    message_type_support,
    security_checks,
)
from .verdict import RULES, VERDICTS, Verdict, completeness, not_run, verdict


@dataclass
class Analysis:
    """Everything the readiness report shows, computed from one run."""

    manifest: dict[str, Any]
    rates: pd.DataFrame
    score: float
    latency: pd.DataFrame
    slo: pd.DataFrame
    verdict: Verdict
    message_types: pd.DataFrame
    auth_methods: pd.DataFrame
    connection_flow: pd.DataFrame
    issues: pd.DataFrame
    findings: pd.DataFrame
    capabilities: pd.DataFrame
    security: pd.DataFrame
    concurrency: pd.DataFrame
    defects: pd.DataFrame  # one finding per defect (title, severity, evidence, remediation)
    outcomes: pd.DataFrame  # every probe: outcome and one-line evidence
    #: frames that broke the run's contract, by type and schema error path (beside the readiness findings)
    conformance: pd.DataFrame
    #: what the run's contract declares that the tables name (closes, rate error, auth carriers; None: unknown)
    declared: dict[str, Any] | None = None


def declared(run: Any) -> dict[str, Any] | None:
    """What the run's contract declares that the report names in its own terms (close codes, the rate-limit
    error, the credential's carriers): recorded in the manifest when the run started; for a run recorded before,
    read from the contract file stored in the run; None when the run kept no contract."""
    contract = (run.manifest or {}).get("contract") or {}
    if isinstance(contract.get("declared"), dict):
        return dict(contract["declared"])
    name = contract.get("file")
    path = getattr(run, "path", None)
    if not name or path is None or not (path / name).is_file():
        return None
    from ..contract import ContractError, load_contract
    from ..judged import declared_record

    try:
        return declared_record(load_contract(str(path / name)))
    except (ContractError, OSError, ValueError):
        return None


def analyze(run: Any, targets: tuple[Target, ...] | None = None) -> Analysis:
    """Compute every table of the report from a loaded run (``load_run``)."""
    probes = latest(run.probes)
    tls = bool((run.manifest.get("target") or {}).get("tls"))
    slo = slo_checks(run.samples, run.probes, tls=tls, targets=targets or targets_from_manifest(run.manifest))
    rates = category_rates(probes)
    # judged by the Pitchey contract (or recorded before runs named theirs): its texts may name Pitchey's features
    pitchey = ((run.manifest.get("contract") or {}).get("name") or "pitchey") == "pitchey"
    said = declared(run)
    return Analysis(
        manifest=run.manifest,
        rates=rates,
        score=overall_score(rates),
        latency=latency_summary(run.samples[run.samples["concurrency"] == 1]),
        slo=slo,
        verdict=verdict(
            probes,
            slo,
            plan=run.manifest.get("plan"),
            status=Completeness.DEADLINE if run.manifest.get("deadline_reached") else run.manifest.get("status"),
            spoken=run.manifest.get("contract_spoken"),
        ),
        message_types=message_type_support(probes, message_type_rows(run.manifest)),
        auth_methods=auth_methods(probes, run.samples, said.get("carriers") if said is not None else None),
        connection_flow=connection_flow(run.samples),
        issues=issues(probes),
        findings=findings(probes),
        capabilities=capabilities(probes),
        security=security_checks(probes, said),
        concurrency=concurrency_table(run.samples, run.probes),
        defects=defect_findings(probes, slo, pitchey=pitchey),
        outcomes=all_outcomes(run.probes, pitchey=pitchey),
        conformance=contract_conformance(run.manifest),
        declared=said,
    )


def verdict_for_run(run: Any) -> Verdict:
    """The verdict of a loaded run."""
    return analyze(run).verdict


__all__ = [
    "DEFAULT_TARGETS",
    "RULES",
    "SCORE_FORMULA",
    "VERDICTS",
    "WEIGHTS",
    "Analysis",
    "Interval",
    "Target",
    "Verdict",
    "all_outcomes",
    "analyze",
    "auth_methods",
    "declared",
    "capabilities",
    "category_rates",
    "compare_latency",
    "compare_outcomes",
    "compare_rates",
    "completeness",
    "concurrency_table",
    "connection_flow",
    "contract_conformance",
    "defect_findings",
    "findings",
    "issues",
    "latency_summary",
    "latest",
    "message_type_rows",
    "message_type_support",
    "not_run",
    "min_samples",
    "newcombe_diff",
    "overall_score",
    "percentiles",
    "security_checks",
    "slo_checks",
    "targets_from_manifest",
    "targets_with",
    "verdict",
    "verdict_for_run",
    "wilson",
]
