"""The project's promises: environment.yml in step, exports complete, README and CI in place."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

import pitchey_analysis

ROOT = Path(__file__).resolve().parents[1]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_environment_yml_matches_pyproject():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())
    # the conda environment is the development one: the core and every extra ([dev] names the others)
    extras = py["project"]["optional-dependencies"]
    reqs = [Requirement(r) for r in py["project"]["dependencies"] + [r for rs in extras.values() for r in rs]]
    want = {_norm(r.name): str(r.specifier) for r in reqs if _norm(r.name) != "pitchey-analysis"}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    have: dict[str, str] = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for p in dep["pip"]:
                if p.startswith("-e"):
                    continue
                r = Requirement(p)
                have[_norm(r.name)] = str(r.specifier)
        elif not dep.startswith(("python", "pip")) or dep.startswith("python-"):
            r = Requirement(dep)
            have[_norm(r.name)] = str(r.specifier)
    assert have == want
    assert {"pip": ["-e ."]} in [
        d if not isinstance(d, dict) else {"pip": [x for x in d["pip"] if x.startswith("-e")]}
        for d in env["dependencies"]
    ]


def test_public_names_exported():
    for name in ("ReferenceServer", "PitcheyClient", "run_suite", "load_run", "load_runs"):
        assert name in pitchey_analysis.__all__, name
        assert getattr(pitchey_analysis, name) is not None
    assert sorted(pitchey_analysis.__all__) == sorted(set(pitchey_analysis.__all__))


def test_readme_gives_the_two_commands_and_ci_calls_make_lint_then_make_test():
    readme = (ROOT / "README.md").read_text()
    assert "make report" in readme and "make test" in readme
    steps = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.startswith("make ")]
    assert steps == ["make lint", "make test"], steps


def test_gitignore_keeps_generated_files_out():
    ignore = (ROOT / ".gitignore").read_text()
    for p in (".venv", "data/runs/", "reports/"):
        assert p in ignore


def test_analysis_and_report_layers_open_no_sockets():
    """Downstream never reaches upstream: the analysis loads no network stack (issue 12, DESIGN.md flow)."""
    import subprocess
    import sys

    code = (
        "import sys, pitchey_analysis.analysis, pitchey_analysis.report.figures, pitchey_analysis.findings; "
        "print(sorted(m for m in ('websockets', 'aiohttp', 'picows', 'distributed', 'pitchey_analysis.probes', "
        "'pitchey_analysis.server', 'pitchey_analysis.client') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]", out


def test_public_names_are_exported_lazily_and_completely():
    import pitchey_analysis

    assert set(pitchey_analysis.__all__) == {*pitchey_analysis._EXPORTS, "__version__"}
    for name in pitchey_analysis.__all__:
        assert getattr(pitchey_analysis, name) is not None


#: each layer and the layers it must not import (the flow points one way: probes → runner → capture → analysis →
#: report → notebook; the command line on top of all)
DOWNSTREAM_OF_CAPTURE = ("analysis", "report", "notebook", "cli", "findings")
FORBIDDEN = {
    "capture": ("probes", "server", "client", "load", "runner", "debug", *DOWNSTREAM_OF_CAPTURE),
    "runner": ("load", "debug", *DOWNSTREAM_OF_CAPTURE),
    "findings.py": ("probes", "server", "client", "load", "runner", "debug", "report", "notebook", "cli"),
    "analysis": ("probes", "server", "client", "load", "runner", "report", "notebook", "cli", "debug"),
    "report": ("probes", "server", "client", "load", "runner", "notebook", "cli", "debug"),
    "notebook": ("probes", "server", "client", "load", "runner", "cli", "debug"),
    # the load generator measures the target and itself; judging the target is the analysis' (issue 27)
    "load": ("debug", *DOWNSTREAM_OF_CAPTURE),
}


def test_layers_import_only_upstream():
    """Read every module's imports (not executed): capture, analysis and report never reach downstream or sideways."""
    import ast

    pkg = ROOT / "pitchey_analysis"
    bad = []
    for layer, forbidden in FORBIDDEN.items():
        paths = [pkg / layer] if layer.endswith(".py") else sorted((pkg / layer).rglob("*.py"))
        assert paths and all(p.exists() for p in paths), layer
        for path in paths:
            module = ["pitchey_analysis", *path.relative_to(pkg).with_suffix("").parts]
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom):
                    base = module[:-1] if path.name != "__init__.py" else module[:-1]
                    if node.level:
                        target = base[: len(base) - node.level + 1] + (node.module.split(".") if node.module else [])
                    else:
                        target = (node.module or "").split(".")
                    names = [target + [a.name] for a in node.names]
                elif isinstance(node, ast.Import):
                    names = [a.name.split(".") for a in node.names]
                else:
                    continue
                for n in names:
                    if len(n) > 1 and n[0] == "pitchey_analysis" and (n[1] in forbidden or f"{n[1]}.py" in forbidden):
                        bad.append(f"{path.relative_to(ROOT)} imports {'.'.join(n[:2])}")
    assert not bad, bad


def test_user_facing_text_names_only_files_the_repository_has():
    """The README, the docs and what the CLI prints point a newcomer to files of this repository (the demo
    password is where they are told to look), never to a document that is not shipped."""
    from pitchey_analysis.demo import DEMO_PASSWORD, DEMO_PASSWORD_SOURCE

    texts = {p: p.read_text() for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]}
    texts[ROOT / "pitchey_analysis/demo.py"] = DEMO_PASSWORD_SOURCE
    for path in sorted((ROOT / "pitchey_analysis" / "cli").glob("*.py")):
        texts[path] = path.read_text()
    for path, text in texts.items():
        for name in re.findall(r"\b([A-Z][A-Z_]+\.md)\b", text):
            assert (ROOT / name).exists() or list(ROOT.glob(f"*/{name}")), (
                f"{path.name} names {name}, not in the repository"
            )
    assert "README" in DEMO_PASSWORD_SOURCE
    readme = texts[ROOT / "README.md"]
    assert f"`{DEMO_PASSWORD}`" in readme.split("## The reference server", 1)[1], (
        "the README's reference-server section gives the demo password"
    )


def test_the_readme_layout_names_every_folder_of_the_package_with_its_job():
    """A newcomer reads the package's folders in the README's layout, one line each: a folder added without its
    line, or a line left for a folder that is gone, fails here."""
    import re

    readme = (ROOT / "README.md").read_text()
    layout = readme[readme.index("## Project layout") : readme.index("## Using it")]
    listed = set(re.findall(r"│   [├└]── (\w+)/\s+<- \S", layout))
    folders = {
        p.name
        for p in (ROOT / "pitchey_analysis").iterdir()
        if p.is_dir() and not p.name.startswith(("_", ".")) and any(p.iterdir())
    }
    assert listed == folders, (sorted(folders - listed), sorted(listed - folders))


def test_xdist_groups_keep_their_tests_on_one_worker(tmp_path):
    """`make test` runs with --dist loadgroup: tests that share the checkout's data/runs (an xdist_group) must run on
    one worker, one after the other. pytest 9.2 with pytest-xdist 3.8 silently dropped every group."""
    import os
    import subprocess
    import sys

    log = tmp_path / "workers.log"
    (tmp_path / "test_grouped.py").write_text(
        "import os\nimport pytest\n\nG = pytest.mark.xdist_group('one')\n\n"
        + "".join(
            f"@G\ndef test_{i}():\n    with open(os.environ['GROUP_LOG'], 'a') as f:\n"
            "        f.write(os.environ['PYTEST_XDIST_WORKER'] + '\\n')\n\n"
            for i in range(6)
        )
    )
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "3", "--dist", "loadgroup", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "GROUP_LOG": str(log)},
        check=True,
    )
    workers = log.read_text().split()
    assert len(workers) == 6 and len(set(workers)) == 1, workers
