"""Where the data folder is: the project root's, whatever the working folder."""

from __future__ import annotations

from pathlib import Path

from pitchey_analysis import config

ROOT = Path(__file__).resolve().parents[1]


def test_runs_dir_is_the_project_roots_from_a_sub_folder(monkeypatch):
    monkeypatch.delenv("PITCHEY_DATA_DIR", raising=False)
    monkeypatch.chdir(ROOT / "notebooks")
    assert config.runs_dir() == ROOT / "data" / "runs"
    assert "pyproject.toml" in config.data_dir_and_why()[1]


def test_environment_variable_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("PITCHEY_DATA_DIR", str(tmp_path))
    monkeypatch.chdir(ROOT / "notebooks")
    assert config.runs_dir() == tmp_path / "runs"


def test_outside_any_project_the_working_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("PITCHEY_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert config.runs_dir() == tmp_path / "data" / "runs"


def test_two_committed_sample_runs_the_default_one_complete():
    runs = config.sample_run_dirs()
    assert len(runs) >= 2
    assert config.sample_run_dir() is not None
    assert config.sample_run_dir("pitchey-2025-11") != config.sample_run_dir()
