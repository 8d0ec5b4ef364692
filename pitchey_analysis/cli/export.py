"""What ``report`` and ``compare`` share: the --runs-dir, --out and --format options, and writing an export into
--out with its paths printed."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from .. import argtypes
from ..exceptions import OutputError, UsageError
from . import outputs
from .exits import Exit

#: what an export writes into a folder, given where and what to say of an unreadable run it skipped
Build = Callable[[Path, Callable[[Path, Exception], None]], list[Path]]


def add_output_options(p: argparse.ArgumentParser, *, runs_dir_help: str, out_help: str, format_help: str) -> None:
    """--runs-dir, --out and --format, one definition for both commands (``compare --format`` is checked as
    ``report``'s is: :func:`~pitchey_analysis.argtypes.formats`)."""
    p.add_argument("--runs-dir", help=runs_dir_help)
    p.add_argument("--out", help=out_help)
    p.add_argument("--format", type=argtypes.formats, default="html,pdf", help=format_help)


def export(command: str, out: str | None, what: str, build: Build) -> Exit:
    """Write an export into ``out`` (None: the reports folder; made if missing) and print its paths. A run that could
    not be read is skipped with a warning; a file that could not be written is an :class:`OutputError`."""
    folder = outputs.output_folder(out if out is not None else str(outputs.reports_out(None)))

    def skipped(path: Path, exc: Exception) -> None:
        print(f"pitchey-analysis {command}: warning: skipped an unreadable run: {exc}", file=sys.stderr)

    try:
        paths = build(folder, skipped)
    except UsageError:
        raise  # no such run, an unreadable one: the user's (RunNotFound is also a FileNotFoundError)
    except OSError as exc:  # a file of the export that could not be written
        raise OutputError(f"{what} in {folder}", exc) from None
    for p in paths:
        print(p)
    return Exit.OK
