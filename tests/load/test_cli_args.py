"""``load`` refuses bad arguments and an unreachable scheduler with one line and exit 2, before anything starts."""

from __future__ import annotations

import pytest

from pitchey_analysis.cli import build_parser, cmd_load


@pytest.mark.parametrize("argv, message", [
    (["--connections", "0"], "--connections must be at least 1"),
    (["--connections", "-5"], "--connections must be at least 1"),
    (["--duration", "0"], "--duration must be positive"),
    (["--scheduler", "notaurl"], "cannot reach the Dask scheduler 'notaurl'"),
    (["--scenario", "/nonexistent.yaml"], "scenario file /nonexistent.yaml not found"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys, argv, message):
    a = build_parser().parse_args(["load", *argv, "--out", str(tmp_path)])
    assert cmd_load(a) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not any(tmp_path.iterdir())  # no run was started
