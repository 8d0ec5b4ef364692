"""What the command line tells the user about where a run is: the end-of-run hint is a command that finds the run,
and ``report latest`` says which run it took, from which folder (trial: another data folder's run reported silently)."""

from __future__ import annotations

import io
import shutil

from rich.console import Console

from pitchey_analysis.exceptions import ReportError

from .hostile.common import SAMPLE, run_cli


def _copy(dest):
    dest.mkdir(parents=True)
    shutil.copytree(SAMPLE, dest / SAMPLE.name)
    return dest / SAMPLE.name


def test_the_end_of_run_hint_names_a_runs_folder_that_is_not_the_default_even_one_called_runs(tmp_path, monkeypatch):
    from pitchey_analysis.analysis import analyze
    from pitchey_analysis.capture.dataset import load_run
    from pitchey_analysis.report.summary import print_summary

    monkeypatch.setenv("PITCHEY_DATA", str(tmp_path / "data"))  # the default runs folder: tmp/data/runs
    elsewhere = _copy(tmp_path / "trial" / "runs")  # written with --out trial/runs
    run = load_run(elsewhere)
    buf = io.StringIO()
    print_summary(run, analyze(run), Console(file=buf, width=40))  # a narrow terminal: the command stays one line
    hint = next(line for line in buf.getvalue().splitlines() if line.startswith("report: "))
    assert hint == f"report: pitchey-analysis report {run.run_id} --runs-dir {elsewhere.parent}"
    at_home = load_run(_copy(tmp_path / "data" / "runs"))
    buf = io.StringIO()
    print_summary(at_home, analyze(at_home), Console(file=buf, width=300))
    assert f"report: pitchey-analysis report {run.run_id}\n" in buf.getvalue()  # the default folder needs no option


def test_report_latest_says_which_run_and_where(tmp_path, capsys, monkeypatch):
    from pitchey_analysis.report import export

    monkeypatch.setenv("PITCHEY_DATA", str(tmp_path / "other"))
    run = _copy(tmp_path / "other" / "runs")
    monkeypatch.setattr(
        export, "execute", lambda kind, params, output: (_ for _ in ()).throw(ReportError("stopped here"))
    )
    code, out, err = run_cli(capsys, "report", "--format", "html", "--out", str(tmp_path / "out"))
    assert code == 1
    said = [line for line in out.splitlines() if "latest is run" in line]  # information: stdout; errors: stderr
    assert len(said) == 1 and run.name in said[0] and str(run.parent) in said[0] and "$PITCHEY_DATA" in said[0], err


def test_run_help_names_no_user_type_of_one_service_as_if_universal(capsys):
    """The user types come from the contract's login (trial: --help listed Pitchey's creator/investor/production);
    the environment variables are the tool's and keep their names."""
    code, out, _ = run_cli(capsys, "run", "--help")
    assert code == 0
    text = " ".join(out.split())
    for pitchey_type in ("creator", "investor", "production"):
        assert pitchey_type not in text, pitchey_type
    assert "x-readiness.login.users" in text
    assert "$PITCHEY_EMAIL" in text and "$PITCHEY_TOKEN" in text and "$PITCHEY_PASSWORD_<TYPE>" in text
