"""End-of-run summaries: the console table, JSON and JUnit XML for CI systems."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from ..analysis import Analysis, category_rates, latest
from ..atomic import write_text
from ..config import runs_dir_option
from ..outcomes import FAILED, Outcome
from ..textsafe import printable


def category_table(probes: pd.DataFrame) -> pd.DataFrame:
    """Pass counts and rates per category (the last attempt of each probe)."""
    return category_rates(latest(probes))


def print_summary(run: Any, a: Analysis, console: Console | None = None) -> None:
    """Print the categories, the verdict and where the run is, from the run's analysis (``analyze(run)``, computed
    once by the caller)."""
    from rich.markup import escape

    from ..textsafe import printable

    def safe(x: Any) -> str:  # dataset text (probe names, statuses, the run id): no control character, no markup
        return escape(printable(x))

    console = console or Console(stderr=False, highlight=False)
    t = Table(title=f"run {safe(run.run_id)} (status: {safe(run.manifest.get('status'))})")
    for col in ("category", "passed", "failed", "errors", "skipped", "pass rate (95% CI)"):
        t.add_column(col, justify="left" if col == "category" else "right")
    for _, r in a.rates.iterrows():
        rate = "—" if r["judged"] == 0 else f"{r['rate']:.0%} ({r['lo']:.0%}–{r['hi']:.0%})"
        t.add_row(safe(r["category"]), str(r["passed"]), str(r["failed"]), str(r["errors"]), str(r["skipped"]), rate)
    console.print(t)
    console.print(f"verdict: [bold]{a.verdict.verdict}[/bold] — {safe(a.verdict.sentence())}", markup=True)
    for _, r in a.verdict.reasons.iterrows():  # every blocking finding or gap by name, never just a count
        console.print(f"  - {printable(r['name'])}: {printable(r['status'])}", markup=False, highlight=False)
    # the path and the command whole on one line whatever the terminal's width: they are copied and pasted
    console.print(f"run dataset: {printable(run.path)}", markup=False, soft_wrap=True)
    # the command that finds this run: with --runs-dir whenever the run is not in the folder `report` looks in
    console.print(
        printable(f"report: pitchey-analysis report {run.run_id}{runs_dir_option(run.path.parent)}"),
        markup=False,
        soft_wrap=True,
    )


def summary_dict(run: Any, a: Analysis) -> dict[str, Any]:
    """A JSON-able summary of a run and its analysis: verdict, score, categories, targets, failing probes."""
    return {
        "run_id": run.run_id,
        "status": run.manifest.get("status"),
        "verdict": a.verdict.verdict,
        "completeness": a.verdict.completeness,
        "not_run": a.verdict.not_run,
        "evidence_gaps": a.verdict.gaps,
        "reasons": json.loads(a.verdict.reasons.to_json(orient="records")),
        "score": None if pd.isna(a.score) else round(a.score, 4),
        "categories": json.loads(a.rates.to_json(orient="records")),
        "targets": json.loads(a.slo.to_json(orient="records")),
        "failures": json.loads(a.findings.to_json(orient="records")),
        "path": str(run.path),
    }


def write_json(run: Any, a: Analysis, path: Path) -> None:
    """Write :func:`summary_dict` as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(summary_dict(run, a), indent=2, default=str))  # whole or not at all: CI reads it


def write_junit(run: Any, path: Path) -> None:
    """One testsuite per category, one testcase per probe."""
    probes = latest(run.probes)
    root = ET.Element("testsuites", name=f"pitchey-analysis {run.run_id}")
    for cat, grp in probes.groupby("category", sort=False):
        counts = grp["outcome"].value_counts()
        suite = ET.SubElement(
            root,
            "testsuite",
            name=str(cat),
            tests=str(len(grp)),
            failures=str(int(counts.get(Outcome.FAIL, 0))),
            errors=str(int(counts.get(Outcome.ERROR, 0))),
            skipped=str(int(counts.get(Outcome.SKIP, 0))),
        )
        for _, r in grp.iterrows():
            case = ET.SubElement(
                suite,
                "testcase",
                classname=str(cat),
                name=str(r["probe"]),
                time=f"{(r['duration_ms'] or 0) / 1000:.3f}",
            )
            if r["outcome"] in FAILED:
                el = ET.SubElement(
                    case,
                    "failure" if r["outcome"] == Outcome.FAIL else "error",
                    message=f"{r['reason']}: {r['detail']}",
                )
                el.text = f"expected: {r['expected']}\nobserved: {r['observed']}"
            elif r["outcome"] == Outcome.SKIP:
                ET.SubElement(case, "skipped", message=f"{r['reason']}: {r['detail']}")
    for el in root.iter():  # target text (a close reason, a detail) may hold characters XML 1.0 cannot carry (§2.2)
        el.attrib = {k: _xml_text(v) for k, v in el.attrib.items()}
        el.text = _xml_text(el.text) if el.text is not None else None
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, "<?xml version='1.0' encoding='utf-8'?>\n" + ET.tostring(root, encoding="unicode"))


#: the characters XML 1.0 does not allow (§2.2): C0 controls but tab, line feed and carriage return; surrogates;
#: FFFE/FFFF
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(text: str) -> str:
    """``text`` with every character XML cannot carry written as an escape (``\\x1b``), so the file stays
    well-formed."""
    return _NOT_XML.sub(lambda m: printable(m.group()), text)
