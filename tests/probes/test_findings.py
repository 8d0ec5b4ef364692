"""The finding catalogue covers every probe and reason code the suite can emit."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pandas as pd

from pitchey_analysis.analysis.defects import defect_findings
from pitchey_analysis.findings import FINDINGS, GENERIC, GROUPS, text_for
from pitchey_analysis.probes import CATALOGUE, base
from tests.probes.test_each_probe import CASES

PROBES_SRC = Path(base.__file__).parent
#: Failing cases of the probes outside CASES (tests/probes/test_special_probes.py, and the code).
SPECIAL_CASES = {
    "readiness.tls": ["not_tls", "weak_tls", "tls_unverified", "tls_error"],
    "readiness.invalid_utf8": ["no_close"],
}


def _emitted_reasons() -> set[str]:
    """Every fail/error reason literal in the probes' code, and the generic ones of ``classify``."""
    found: set[str] = set()
    for f in PROBES_SRC.glob("*.py"):
        src = f.read_text()
        found |= set(re.findall(r"Result\.(?:fail|error)\(\s*\"([a-z_0-9]+)\"", src))
        found |= set(re.findall(r"Result\(\s*\"(?:fail|error)\",\s*\"([a-z_0-9]+)\"", src))
        found |= set(re.findall(r"Result\.fail\(\s*(?:reason|\w+) if [^,]+ else \"([a-z_0-9]+)\"", src))
        if "Result.closed(" in src:  # closed_<code> for any close code the target sends (or locked_out, a skip)
            found.add("closed_")
    classify = inspect.getsource(base.classify)
    found |= set(re.findall(r"Result\(\"(?:fail|error)\", f?\"([a-z_0-9]+)", classify))
    return {"closed_*" if r == "closed_" else r for r in found}


def test_every_failing_case_has_a_specific_entry():
    pairs = {(p, r) for p, cases in CASES.items() for _, r in cases} | {
        (p, r) for p, rs in SPECIAL_CASES.items() for r in rs
    }
    missing = sorted(pairs - set(FINDINGS))
    assert not missing, f"no specific finding entry for: {missing}"


def test_every_probe_has_an_entry():
    assert set(CATALOGUE) <= {p for p, _ in FINDINGS}, sorted(set(CATALOGUE) - {p for p, _ in FINDINGS})


def test_every_reason_the_code_can_emit_has_an_entry():
    """Specific to the probes that emit it, or generic (reason codes shared by families, and classify's)."""
    specific = {r for _, r in FINDINGS}
    lacking = sorted(r for r in _emitted_reasons() if r not in GENERIC and r not in specific)
    assert not lacking, f"reason codes with neither a specific nor a generic finding entry: {lacking}"
    assert "closed_*" in _emitted_reasons()  # the pattern really was read from classify


def test_entries_are_complete_and_name_real_probes_and_groups():
    for (probe, _), entry in FINDINGS.items():
        assert probe in CATALOGUE, probe
        if entry.get("group"):
            assert entry["group"] in GROUPS
        else:
            assert entry["title"] and entry["impact"] and entry["remediation"], probe
    for g in [*GROUPS.values(), *GENERIC.values()]:
        assert g["title"] and g["impact"] and g["remediation"]


def test_an_unknown_probe_degrades_to_the_generic_text():
    text, specific = text_for("newfamily.something", "closed_4001")
    assert not specific and "newfamily.something" in text["title"] and "close code" in text["remediation"]
    text, specific = text_for("newfamily.something", "brand_new_reason")
    assert not specific and "brand_new_reason" in text["title"]


def _probe(name: str, reason: str, critical: bool, outcome: str = "fail") -> dict:
    return {
        "run_id": "r",
        "probe_id": name,
        "category": name.split(".")[0],
        "probe": name,
        "attempt": 1,
        "started_at": pd.Timestamp("2026-01-01", tz="UTC"),
        "duration_ms": 1.0,
        "outcome": outcome,
        "reason": reason,
        "detail": f"{name} went wrong",
        "expected": f"{name} expectation",
        "observed": None,
        "close_code": None,
        "close_reason": None,
        "critical": critical,
    }


def test_one_finding_per_defect_grouped_and_blocking_when_any_probe_is_critical():
    probes = pd.DataFrame(
        [
            _probe("auth.invalid_token", "wrong_answer", True),
            _probe("auth.alg_none", "wrong_answer", True),
            _probe("messaging.typing", "no_answer", False),
            _probe("messaging.ping", "ok", True, "pass"),
        ]
    )
    f = defect_findings(probes)
    assert list(f["severity"]) == ["blocking", "risk"]
    assert f.loc[0, "title"] == GROUPS["refused-token-form"]["title"]
    assert f.loc[0, "probes"] == "auth.alg_none, auth.invalid_token"
    assert "messaging.typing went wrong" in f.loc[1, "evidence"]
