"""``pitchey-analysis history``: every run of a target over time: verdict, score, pass rates and p95 with intervals."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..exceptions import OutputError, UsageError
from ..textsafe import printable
from .exits import Exit


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    h = sub.add_parser(
        "history", help="every run of a target over time: verdict, score, pass rates and p95 with intervals"
    )
    h.add_argument("--target", help="only runs whose target contains this text (a URL, or embedded:<profile>)")
    h.add_argument("--runs-dir", help="where the runs are (default data/runs of the project)")
    h.add_argument("--samples", action="store_true", help="include the committed sample runs")
    h.add_argument("--figure", metavar="PNG", help="also draw the trend into this PNG file")


def cmd_history(a: argparse.Namespace) -> Exit:
    """Print the history table; draw the figure when ``--figure`` is given."""
    from ..report.history import load_history, print_history, write_history_figure

    figure = Path(a.figure) if a.figure else None
    if figure is not None and (figure.is_dir() or (figure.exists() and not figure.is_file())):
        raise UsageError(f"--figure {printable(a.figure)} is not a regular file to write a PNG into")

    def skipped(path: Path, exc: Exception) -> None:
        print(f"pitchey-analysis history: warning: skipped an unreadable run: {exc}", file=sys.stderr)

    h = load_history(Path(a.runs_dir) if a.runs_dir else None, a.target, samples=a.samples, on_skip=skipped)
    print_history(h, a.target)
    if figure is not None and not h["runs"].empty:
        try:
            write_history_figure(h, figure)
        except OSError as exc:
            raise OutputError(f"--figure {a.figure}", exc) from None
        print(f"figure: {printable(a.figure)}")
    return Exit.OK
