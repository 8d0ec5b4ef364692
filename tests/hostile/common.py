"""Shared pieces of the hostile-input tests: the CLI in this process, its one error line, the files a command wrote."""

from __future__ import annotations

from pathlib import Path

import pytest

from pitchey_analysis.config import PROJ_ROOT

#: a committed run with pass, fail and skip outcomes
SAMPLE = (PROJ_ROOT or Path(__file__).resolve().parents[2]) / "data" / "sample" / "20261129T210459Z-525523"


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``pitchey-analysis ARGS`` in this process (argparse's own exits included): exit code, stdout, stderr."""
    from pitchey_analysis import cli

    try:
        code = cli.main(list(args))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> str:
    """The error line of a failed command: the last line of stderr (argparse prints its usage above it); no
    traceback."""
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert lines, "no error line"
    return lines[-1]


def files_under(folder: Path) -> list[str]:
    """Every file under ``folder`` (relative names), hidden ones included."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir()) if folder.exists() else []
