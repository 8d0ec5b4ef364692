"""``pitchey-analysis report``: the readiness report (HTML and PDF) of a run, or its meeting pack."""

from __future__ import annotations

import argparse
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ..exceptions import UsageError
from ..textsafe import printable
from . import outputs
from .exits import Exit
from .export import add_output_options, export


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rp = sub.add_parser("report", help="export the readiness report (HTML and PDF) of a run")
    rp.add_argument("run", nargs="?", default="latest", help="run id, run directory or 'latest' (default)")
    rp.add_argument("--compare", metavar="RUN", help="a reference run to compare against")
    add_output_options(
        rp,
        runs_dir_help="where run ids are looked up (default: runs/ of the data folder)",
        out_help="output directory (default: reports/ beside the data folder, or $PITCHEY_REPORTS)",
        format_help="html, pdf or html,pdf (default)",
    )
    rp.add_argument(
        "--meeting",
        action="store_true",
        help="write the meeting pack of RUN into one folder (OUT/meeting-<run_id>/): readiness report, comparison "
        "with the baseline, history figure of the target, SHA256SUMS of the run dataset",
    )
    rp.add_argument(
        "--baseline",
        metavar="RUN",
        help="with --meeting: the run to compare with (default: the previous run of the same target and contract)",
    )


def cmd_report(a: argparse.Namespace) -> Exit:
    outputs.check_runs_dir(a.runs_dir)
    if a.baseline and not a.meeting:
        raise UsageError("--baseline goes with --meeting (a plain comparison: --compare RUN)")
    runs_dir = Path(a.runs_dir) if a.runs_dir else None

    def resolved(run: Any, why: str) -> None:  # 'latest' may be another data folder's run: say which, and where
        print(printable(f"pitchey-analysis report: latest is run {run.run_id}: {why}"))

    if a.meeting:
        from ..capture.dataset import resolve_run
        from ..report.export import latest_why
        from ..report.meeting import build_meeting_pack

        if a.run == "latest":
            path = resolve_run("latest", runs_dir)[0]
            resolved(SimpleNamespace(run_id=path.name), latest_why(path, runs_dir))
        return export(
            "report",
            a.out,
            "meeting pack",
            lambda out, skipped: build_meeting_pack(
                a.run, baseline=a.baseline, runs_dir=runs_dir, out=out, formats=tuple(a.format), on_skip=skipped
            ),
        )
    from ..report.export import build_report

    return export(
        "report",
        a.out,
        "report",
        lambda out, skipped: build_report(
            a.run,
            compare=a.compare,
            runs_dir=runs_dir,
            out=out,
            formats=a.format,
            notebook="readiness",
            on_skip=skipped,
            on_resolved=resolved,
        ),
    )
