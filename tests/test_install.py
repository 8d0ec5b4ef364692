"""The built wheel works outside a checkout: run the quick suite and export its report from an empty folder (issue
12)."""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_packaged_report_notebooks_equal_the_checkout_copies():
    for name in ("4.0-readiness-report.ipynb", "5.0-compare-runs.ipynb"):
        assert filecmp.cmp(ROOT / "notebooks" / name, ROOT / "pitchey_analysis" / "notebooks" / name, shallow=False), (
            f"pitchey_analysis/notebooks/{name} differs from notebooks/{name}: run make notebooks"
        )


@pytest.mark.slow
def test_wheel_runs_and_reports_outside_a_checkout(tmp_path):
    dist, site, work, src = tmp_path / "dist", tmp_path / "site", tmp_path / "empty", tmp_path / "src"
    work.mkdir()
    # Built from a copy of the sources, so that no build/ or egg-info is left in (or reused from) the checkout.
    shutil.copytree(
        ROOT,
        src,
        ignore=shutil.ignore_patterns(
            ".venv",
            ".git",
            ".bench",
            "build",
            "dist",
            "data",
            "reports",
            "*.egg-info",
            "__pycache__",
            ".pytest_cache",
            ".ruff_cache",
            ".mypy_cache",
            "kernel-ipc-*",
        ),
    )  # live kernel sockets of a parallel test
    # The wheel itself, built offline with the build backend of the dev environment; installed without its
    # dependencies (they are this interpreter's) into a folder that shadows the editable checkout.
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(src)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next(dist.glob("pitchey_analysis-*.whl"))
    from pitchey_analysis import __version__

    assert wheel.name.startswith(f"pitchey_analysis-{__version__}-")  # the version is written once, in the package
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    env = {k: v for k, v in os.environ.items() if k != "PITCHEY_DATA_DIR"}
    env["PYTHONPATH"] = str(site)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pitchey_analysis.cli", *args],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    where = subprocess.run(
        [sys.executable, "-c", "import pitchey_analysis; print(pitchey_analysis.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert where.startswith(str(site)), where
    assert (site / "pitchey_analysis" / "py.typed").is_file()  # PEP 561: users' type checkers read our annotations
    r = cli("run", "--suite", "quick", "--no-progress", "--fail-on", "never")
    assert r.returncode == 0, r.stderr[-2000:]
    assert len(list((work / "data" / "runs").iterdir())) == 1
    r = cli("report", "latest")
    assert r.returncode == 0, r.stderr[-2000:]
    assert {p.suffix for p in (work / "reports").iterdir()} >= {".html", ".pdf"}
