"""The core installs light (issue 27): `run` and the analysis need none of the extras, and a command that needs one
says which in one line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

from pitchey_analysis.extras import EXTRAS, extra_of, missing_message

ROOT = Path(__file__).resolve().parents[1]

#: runs the CLI with every module of every extra made unimportable, as in an installation of the core alone
BLOCKED_CLI = """
import importlib.abc, sys
from pitchey_analysis.extras import EXTRAS
BLOCK = {m for ms in EXTRAS.values() for m in ms}
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in BLOCK:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Blocker())
for m in list(sys.modules):
    if m.split(".")[0] in BLOCK:
        del sys.modules[m]
from pitchey_analysis.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _core_only(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-c", BLOCKED_CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240
    )


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_extras_module_lists_what_pyproject_installs():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for extra, modules in EXTRAS.items():
        dists = {_norm(Requirement(r).name) for r in extras[extra]} - {"pitchey-analysis"}
        assert dists <= {_norm(m) for m in modules}, (extra, dists)
    dev = {Requirement(r).name: Requirement(r).extras for r in extras["dev"]}
    assert dev["pitchey-analysis"] == set(EXTRAS)  # `make setup` installs [dev]: every extra


def test_core_dependencies_name_no_extra_module():
    core = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert not [r for r in core if extra_of(Requirement(r).name)], core


def test_missing_module_names_its_extra_in_one_line():
    assert missing_message("distributed.client") == (
        "needs the optional dependencies [load] (distributed.client is not installed): pip install "
        "'pitchey-analysis[load]'"
    )
    assert "[report]" in missing_message("weasyprint")
    assert "[" not in missing_message("no_such_module") and "\n" not in missing_message(None)


def test_run_needs_no_extra_and_report_names_its_extra(tmp_path):
    r = _core_only(
        "run",
        "--suite",
        "quick",
        "--only",
        "connection",
        "--no-progress",
        "--fail-on",
        "never",
        "--out",
        str(tmp_path / "runs"),
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert len(list((tmp_path / "runs").iterdir())) == 1
    r = _core_only(
        "report", "latest", "--runs-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "reports"), cwd=tmp_path
    )
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "pitchey-analysis report: error: needs the optional dependencies [report] (papermill is not installed): "
        "pip install 'pitchey-analysis[report]'"
    ], r.stderr
    r = _core_only("load", "--connections", "1", cwd=tmp_path)
    assert r.returncode == 2 and "pip install 'pitchey-analysis[load]'" in r.stderr, r.stderr
