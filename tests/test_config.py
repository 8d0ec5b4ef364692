"""Where the data folder is: ``$PITCHEY_DATA``, else the nearest marked data folder above, else the checkout's, else
./data."""

from __future__ import annotations

from pathlib import Path

import pytest

from pitchey_analysis import config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch):
    for var in ("PITCHEY_DATA", "PITCHEY_DATA_DIR", "PITCHEY_REPORTS"):
        monkeypatch.delenv(var, raising=False)


def test_runs_dir_is_the_project_roots_from_a_sub_folder(monkeypatch):
    monkeypatch.chdir(ROOT / "notebooks")
    assert (ROOT / "data" / config.MARKER).is_file()  # committed: a fresh clone is marked
    assert config.runs_dir() == ROOT / "data" / "runs"
    assert config.reports_dir() == ROOT / "reports"


def test_environment_variable_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("PITCHEY_DATA", str(tmp_path))
    monkeypatch.chdir(ROOT / "notebooks")
    assert config.runs_dir() == tmp_path / "runs"
    assert config.reports_dir() == tmp_path / "reports"
    assert "$PITCHEY_DATA" in config.data_dir_and_why()[1]
    monkeypatch.setenv("PITCHEY_REPORTS", str(tmp_path / "pack"))
    assert config.reports_dir() == tmp_path / "pack"


def test_older_variable_name_still_read(monkeypatch, tmp_path):
    monkeypatch.setenv("PITCHEY_DATA_DIR", str(tmp_path))
    assert config.runs_dir() == tmp_path / "runs"


def test_outside_any_project_the_working_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(config, "_checkout", lambda: None)  # as an installed wheel
    monkeypatch.chdir(tmp_path)
    assert config.runs_dir() == tmp_path / "data" / "runs"


def test_a_nested_other_project_is_not_taken_for_ours(monkeypatch, tmp_path):
    """Inside another Python project (a pyproject.toml and a data/ above), a wheel writes ./data and marks it;
    a command from a sub-folder then finds that folder, and the other project's data/ is never used."""
    monkeypatch.setattr(config, "_checkout", lambda: None)
    other = tmp_path / "other"
    (other / "data" / "runs").mkdir(parents=True)
    (other / "pyproject.toml").write_text("[project]\nname = 'other'\n")
    work = other / "analysis"
    (work / "deep").mkdir(parents=True)
    monkeypatch.chdir(work)
    assert config.runs_dir() == work / "data" / "runs"
    written = config.writable_runs_dir()
    assert written == work / "data" / "runs" and (work / "data" / config.MARKER).is_file()
    monkeypatch.chdir(work / "deep")
    assert config.runs_dir() == work / "data" / "runs"
    assert config.reports_dir() == work / "reports"
    assert not any((other / "data" / "runs").iterdir())


def test_an_editable_checkout_outside_the_working_folder(monkeypatch, tmp_path):
    """A kernel started outside the checkout finds the checkout's runs, not ./data (nor only the samples)."""
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'other'\n")
    monkeypatch.chdir(tmp_path)
    assert config.runs_dir() == ROOT / "data" / "runs"
    assert "checkout" in config.data_dir_and_why()[1]


def test_two_committed_sample_runs_the_default_one_complete():
    runs = config.sample_run_dirs()
    assert len(runs) >= 2
    assert config.sample_run_dir() is not None
    assert config.sample_run_dir("pitchey-2025-11") != config.sample_run_dir()


def test_run_and_report_from_a_nested_other_project(monkeypatch, tmp_path, capsys):
    """The commands themselves: `run` inside another project writes ./data/runs (not the other project's), and a
    command from a sub-folder finds that run."""
    from pitchey_analysis.cli import main

    monkeypatch.setattr(config, "_checkout", lambda: None)  # as an installed wheel
    other = tmp_path / "other"
    (other / "data" / "runs").mkdir(parents=True)
    (other / "pyproject.toml").write_text("[project]\nname = 'other'\n")
    work = other / "analysis"
    (work / "sub").mkdir(parents=True)
    monkeypatch.chdir(work)
    assert main(["run", "--suite", "quick", "--only", "connection.health", "--no-progress", "--fail-on", "never"]) == 0
    runs = list((work / "data" / "runs").iterdir())
    assert len(runs) == 1 and not any((other / "data" / "runs").iterdir())
    capsys.readouterr()
    monkeypatch.chdir(work / "sub")
    assert main(["history"]) == 0
    assert runs[0].name in capsys.readouterr().out


def test_the_timeout_scale_stretches_our_margins_never_the_targets_intervals():
    """A push promised every second is awaited a second plus our margin, the margin scaled: at the tests' 0.4 a wait
    of 1.2 s (the whole 3 s scaled) left pushes on time 0.2 s of slack under a loaded machine."""
    from pitchey_analysis.contract import default_contract
    from pitchey_analysis.runner.options import EMBEDDED_KNOBS, PUSH_MARGIN_S, make_options

    for scale in (0.1, 0.4, 1.0, 3.0):
        quick = make_options("quick", scale=scale)
        assert quick.push_timeout_s > EMBEDDED_KNOBS["dashboard_interval"]
        assert quick.server_ping_wait_s > EMBEDDED_KNOBS["ping_interval"]
        full = make_options("full", scale=scale, contract=default_contract())
        assert full.push_timeout_s == pytest.approx(5.0 + PUSH_MARGIN_S * scale)
        assert full.timeout_s == pytest.approx(5.0 * scale)  # a wait of ours alone is scaled whole


def test_every_wait_of_the_options_is_a_timeout_the_scale_stretches():
    """A wait added to the options outside :class:`Timeouts` would silently ignore ``--timeout-scale``: every
    float option in seconds belongs to Timeouts, and :meth:`Timeouts.scaled` stretches all of them."""
    import dataclasses

    from pitchey_analysis.probes.base import Options, Timeouts

    timeouts = {f.name for f in dataclasses.fields(Timeouts)}
    seconds = {f.name for f in dataclasses.fields(Options) if f.name.endswith("_s")}
    assert seconds <= timeouts, sorted(seconds - timeouts)
    base = Options()
    twice = base.scaled(2.0)
    intervals = set(Timeouts.INTERVAL_IN.values())
    for name in Timeouts.waits():
        assert getattr(twice, name) > getattr(base, name), name
    for name in intervals:
        assert getattr(twice, name) == getattr(base, name), name  # the target's promise is not ours to stretch
    assert twice.push_timeout_s == pytest.approx(
        base.push_interval_s + 2 * (base.push_timeout_s - base.push_interval_s)
    )
    assert twice.timeout_scale == 2.0 and twice.connect_samples == base.connect_samples
    with pytest.raises(dataclasses.FrozenInstanceError):
        base.timeout_s = 1.0  # type: ignore[misc]
