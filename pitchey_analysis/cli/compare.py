"""``pitchey-analysis compare``: the comparison report of two runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import outputs
from .exits import Exit
from .export import add_output_options, export


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    c = sub.add_parser("compare", help="a comparison report of two runs")
    c.add_argument("run_a", help="the reference run")
    c.add_argument("run_b", help="the current run")
    add_output_options(
        c,
        runs_dir_help="where run ids are looked up",
        out_help="output directory (default: as report's)",
        format_help="html, pdf or html,pdf",
    )


def cmd_compare(a: argparse.Namespace) -> Exit:
    from ..report.export import build_report

    outputs.check_runs_dir(a.runs_dir)
    return export(
        "compare",
        a.out,
        "report",
        lambda out, skipped: build_report(
            a.run_b,
            compare=a.run_a,
            runs_dir=Path(a.runs_dir) if a.runs_dir else None,
            out=out,
            formats=a.format,
            notebook="compare",
            on_skip=skipped,
        ),
    )
