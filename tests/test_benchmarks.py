"""The benchmarks live beside the package, not in it; their pure parts are checked here (the runs are `make bench`)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[1]


def test_benchmarks_are_not_shipped_but_linted():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shipped = find_packages(str(ROOT), include=py["tool"]["setuptools"]["packages"]["find"]["include"])
    assert "pitchey_analysis" in shipped
    assert not [p for p in shipped if p.split(".")[0] != "pitchey_analysis"], shipped
    assert (ROOT / "benchmarks" / "__main__.py").exists() and not (ROOT / "pitchey_analysis" / "bench").exists()
    assert not any("benchmarks" in p for p in py["tool"]["ruff"].get("extend-exclude", []))
