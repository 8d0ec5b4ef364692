"""``load`` refuses bad arguments and an unreachable scheduler with one line and exit 2, before anything starts."""

from __future__ import annotations

import pytest

from pitchey_analysis.cli import build_parser, main


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--connections", "0"], "argument --connections: must be >= 1"),
        (["--connections", "-5"], "argument --connections: must be >= 1"),
        (["--duration", "0"], "argument --duration: must be > 0"),
    ],
)
def test_bad_numbers_are_refused_by_the_parser(capsys, argv, message):
    """A number out of its range is argparse's usage error (exit 2, the error on the last line): tests/hostile has the
    class."""
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["load", *argv])
    assert exc.value.code == 2 and message in capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--scheduler", "notaurl"], "cannot reach the Dask scheduler 'notaurl'"),
        (["--scenario", "/nonexistent.yaml"], "scenario file /nonexistent.yaml not found"),
        (
            ["--source-address", "127.0.0.2", "--source-address", "localhost"],
            "--source-address: source address 'localhost' is not an IP address",
        ),
        (["--source-address", "::1"], "--source-address: source address ::1 is IPv6 but the target 127.0.0.1 is IPv4"),
        (
            ["--source-address", "127.0.0.2", "--target", "ws://[::1]:9/ws"],
            "source address 127.0.0.2 is IPv4 but the target ::1 is IPv6",
        ),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys, argv, message):
    assert main(["load", *argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not any(tmp_path.iterdir())  # no run was started


def test_source_addresses_are_used_and_recorded(tmp_path):
    import json

    from pitchey_analysis import load_run

    assert (
        main(
            [
                "load",
                "--hold",
                "--connections",
                "4",
                "--duration",
                "0.5",
                "--workers",
                "0",
                "--settle",
                "0",
                "--source-address",
                "127.0.0.2",
                "--source-address",
                "127.0.0.3",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    (run_dir,) = [d for d in tmp_path.iterdir() if d.is_dir()]
    run = load_run(run_dir)
    assert run.manifest["config"]["source_addresses"] == ["127.0.0.2", "127.0.0.3"]
    observed = json.loads(run.probes.iloc[0]["observed"])
    assert observed["held"] == 4, observed


def test_load_takes_a_token_you_made_from_the_option_or_the_environment(monkeypatch):
    """As `run` does: --token, else $PITCHEY_TOKEN (read when the parser is built)."""
    assert build_parser().parse_args(["load", "--token", "abc"]).token == "abc"
    monkeypatch.setenv("PITCHEY_TOKEN", "from-env")
    assert build_parser().parse_args(["load"]).token == "from-env"
