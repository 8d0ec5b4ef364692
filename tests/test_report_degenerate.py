"""The report never crashes on a run: every figure and table renders for any dataset the suite can write.

Exactly when a service fails the report is needed most. Each dataset here is one the suite really writes:
a target in another protocol (every probe skipped, zero samples), every upgrade refused (every attempt failed,
no latency measured), a service stopped by one frame (probes skipped after it), a silent target, a one-probe
run with no sample. Each exports to HTML (one to PDF as well) and says what happened.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from pitchey_analysis.contract import load_contract
from pitchey_analysis.report.export import build_report
from pitchey_analysis.runner import SuiteConfig, arun_suite, make_options

from .conftest import SHORT
from .probes.badserver import BadServer
from .shapes.server import ShapeServer

SHAPES = Path(__file__).resolve().parent / "shapes"


async def _run(server, contract: str | Path, out: Path, *, only: list[str] | None = None, scale: float = 0.5) -> Path:
    cfg = SuiteConfig(
        suite="quick",
        options=make_options("quick", scale=scale),
        progress=False,
        preflight=False,
        contract=load_contract(contract),
        only=only,
    )
    async with server as srv:
        return await arun_suite(srv.ws_url, suite="quick", out=out, config=cfg)


DATASETS = {
    "another protocol": lambda out: _run(ShapeServer("jsonrpc"), "pitchey", out),
    "every upgrade refused": lambda out: _run(ShapeServer("cookie"), SHAPES / "cookie.asyncapi.yaml", out),
    "stopped by one frame": lambda out: _run(
        ShapeServer("jsonrpc", defects={"utf8_kill"}), SHAPES / "jsonrpc.asyncapi.yaml", out
    ),
    # every wait of this run runs out: the short scale (conftest), as for any wait a test expects to run out
    "silent target": lambda out: _run(BadServer(http_status=None), "pitchey", out, scale=SHORT),
    "one probe, no sample": lambda out: _run(
        ShapeServer("jsonrpc"), SHAPES / "jsonrpc.asyncapi.yaml", out, only=["messaging.invalid_json"]
    ),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Callable[[str], Path]:
    """The dataset of a name, made on first use by the worker that needs it (the tests spread over the workers)."""
    out = tmp_path_factory.mktemp("degenerate")
    made: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in made:
            made[name] = asyncio.run(DATASETS[name](out))
        return made[name]

    return get


@pytest.mark.parametrize("name", list(DATASETS))
@pytest.mark.slow
def test_the_report_exports_for_a_degenerate_run(runs, tmp_path, name):
    formats = ("html", "pdf") if name == "every upgrade refused" else ("html",)
    paths = build_report(str(runs(name)), out=tmp_path, formats=formats)
    assert {p.suffix for p in paths} == {f".{f}" for f in formats}
    html = next(p for p in paths if p.suffix == ".html").read_text()
    assert "Traceback" not in html  # every cell ran (a failed cell raises ReportError)
    assert "verdict" in html.lower()
    if name == "another protocol":
        assert "does not speak this contract" in html
    if name == "stopped by one frame":
        assert "stopped_service" in html or "stopped answering" in html


def test_no_pitchey_name_in_the_report_of_a_run_judged_by_another_contract(runs, tmp_path):
    """A run judged by the JSON-RPC contract: its report names that service's messages, never Pitchey's."""
    import re

    html = build_report(str(runs("stopped by one frame")), out=tmp_path, formats=("html",))[0].read_text()
    text = re.sub(r"<[^>]+>", " ", html.split("<body", 1)[-1])
    text = text.replace("pitchey-analysis", "").replace("pitchey_analysis", "")
    found = sorted(
        {
            m.group(0).lower()
            for m in re.finditer(
                r"pitch\w*|dashboard\w*|'connected'|auth_success|creator|investor|notification\w*|presence",
                text,
                re.IGNORECASE,
            )
        }
    )
    assert not found, found


def test_the_report_exports_for_a_run_with_samples_but_no_probe_record(runs, tmp_path):
    """A dataset cut after its samples (probes.parquet emptied): drawn with what there is, never a failed cell."""
    import shutil

    import pandas as pd

    run = tmp_path / runs("stopped by one frame").name
    shutil.copytree(runs("stopped by one frame"), run)
    probes = pd.read_parquet(run / "probes.parquet")
    probes.iloc[0:0].to_parquet(run / "probes.parquet", index=False)
    paths = build_report(str(run), out=tmp_path / "out", formats=("html",))
    assert paths[0].read_text()
