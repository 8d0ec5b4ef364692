"""The run keeps what judged it: re-rendering a run after the code's catalogue, targets or contract tables
changed gives the identical report (issue 10, "The run keeps what judged it")."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from pitchey_analysis import judged, load_run
from pitchey_analysis.analysis import analyze
from pitchey_analysis.config import sample_run_dirs
from pitchey_analysis.probes import CATALOGUE


def report_of(path) -> str:
    """Everything the report shows of a run: every table and figure of :class:`Analysis` plus the rendered sections."""
    from pitchey_analysis.report import render

    a = analyze(load_run(path))
    parts = []
    for f in dataclasses.fields(a):
        v = getattr(a, f.name)
        parts.append(
            f"{f.name}: "
            + (
                v.to_json(orient="split", date_format="iso", default_handler=str)
                if isinstance(v, pd.DataFrame)
                else repr(v)
            )
        )
    for section in (
        render.header,
        render.summary,
        render.findings,
        render.outcomes,
        render.verdict,
        render.deciding,
        render.recommendation,
        render.manifest,
    ):
        out = section(a)
        parts.append(getattr(out, "data", None) or str(out))
    return "\n".join(parts)


def change_the_code(monkeypatch) -> None:
    """Today's code says something else: every probe's expectation, criticality and category, and the targets."""
    for name, spec in list(CATALOGUE.items()):
        monkeypatch.setitem(
            CATALOGUE, name, dataclasses.replace(spec, expected=f"CHANGED {spec.expected}", critical=not spec.critical)
        )
    tenfold = tuple(
        dataclasses.replace(t, threshold=t.threshold * 10, judged_on=f"CHANGED {t.judged_on}")
        for t in judged.DEFAULT_TARGETS
    )
    monkeypatch.setattr(judged, "DEFAULT_TARGETS", tenfold)


@pytest.mark.parametrize("path", sample_run_dirs(), ids=lambda p: p.name)
def test_the_committed_sample_run_renders_identically_after_the_code_changed(path, monkeypatch):
    before = report_of(path)
    change_the_code(monkeypatch)
    assert report_of(path) == before


async def test_a_new_run_renders_identically_after_the_code_and_the_contract_changed(tmp_path, monkeypatch):
    from pitchey_analysis.contract import default_contract
    from pitchey_analysis.runner import SuiteConfig, arun_suite, make_options

    cfg = SuiteConfig(
        suite="quick",
        options=make_options("quick"),
        progress=False,
        only=["connection.health", "messaging.ping", "performance.round_trip"],
    )
    path = await arun_suite(suite="quick", out=tmp_path, config=cfg)
    manifest = load_run(path).manifest
    assert manifest["targets"][0]["name"] == "connection time p95" and manifest["contract"]["message_table"]
    assert {p["expected"] for p in manifest["plan"] if p["probe"] == "messaging.ping"} == {
        default_contract().operation("ping").expected
    }
    before = report_of(path)
    change_the_code(monkeypatch)
    # the shipped contract of the day renames its rows and its targets: the run keeps its own
    c = default_contract()
    monkeypatch.setattr(type(c), "message_type_rows", lambda self: {"renamed": "messaging.ping"})
    assert report_of(path) == before
