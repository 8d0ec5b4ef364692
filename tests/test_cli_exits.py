"""Exit codes come from one table (``pitchey_analysis/cli/exits.py``), and a command analyses its run once."""

from __future__ import annotations

import argparse
import ast
import asyncio
import errno
import os
import re
from pathlib import Path

import pytest

from pitchey_analysis import cli
from pitchey_analysis.cli import exits
from pitchey_analysis.cli.exits import Exit
from pitchey_analysis.exceptions import (
    ClientError,
    DatasetError,
    OutputError,
    PreflightError,
    ReportError,
    RunNotFound,
    TraceError,
    UsageError,
)

from .hostile.common import SAMPLE, one_line_error, run_cli

CLI_DIR = Path(cli.__file__).resolve().parent
#: the ways out of a process that bypass the table
EXITS = {("sys", "exit"), ("os", "_exit"), (None, "exit"), (None, "quit"), (None, "SystemExit")}


def _modules() -> list[Path]:
    """Every module of the command line but the table and ``python -m``'s entry (see the test after the next)."""
    return sorted(p for p in CLI_DIR.glob("*.py") if p.name not in ("exits.py", "__main__.py"))


def _name(func: ast.expr) -> tuple[str | None, str] | None:
    if isinstance(func, ast.Name):
        return None, func.id
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return func.value.id, func.attr
    return None


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_no_command_module_decides_an_exit_code_of_its_own(path):
    """Outside exits.py nothing under cli/ exits the process, returns a bare number, or turns a caught exception
    into a return value: a command returns an Exit name or raises, and main() hands what it raised to the table."""
    tree = ast.parse(path.read_text())
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _name(node.func) in EXITS:
            bad.append(f"line {node.lineno}: calls {ast.unparse(node.func)}")
        if isinstance(node, ast.Raise) and node.exc is not None and "SystemExit" in ast.unparse(node.exc):
            bad.append(f"line {node.lineno}: raises SystemExit")
        if (
            isinstance(node, ast.Return)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, int)
            and not isinstance(node.value.value, bool)
        ):
            bad.append(f"line {node.lineno}: returns the bare number {node.value.value}")
        if isinstance(node, ast.ExceptHandler) and any(isinstance(n, ast.Return) for n in ast.walk(node)):
            bad.append(f"line {node.lineno}: an except clause returns (an exit code decided outside the table)")
        if isinstance(node, ast.FunctionDef) and node.name.startswith("cmd_"):
            if node.returns is None or ast.unparse(node.returns) != "Exit":
                bad.append(f"line {node.lineno}: {node.name} is not annotated -> Exit")
    assert not bad, f"{path.name}: {bad}"


def test_the_structural_check_can_fail(tmp_path):
    """The check above finds each thing it looks for (a check that cannot fail proves nothing)."""
    (tmp_path / "bad.py").write_text(
        "import sys\ndef cmd_x(a):\n    try:\n        pass\n    except ValueError:\n        return 2\n    sys.exit(3)\n"
    )
    with pytest.raises(AssertionError) as err:
        test_no_command_module_decides_an_exit_code_of_its_own(tmp_path / "bad.py")
    for what in ("calls sys.exit", "returns the bare number 2", "an except clause returns", "not annotated -> Exit"):
        assert what in str(err.value), err.value


def test_python_m_exits_with_main_s_code_only():
    """``python -m pitchey_analysis.cli`` (and ``python -m pitchey_analysis``) exit with what main() returned."""
    for path in (CLI_DIR / "__main__.py", CLI_DIR.parent / "__main__.py"):
        raises = [ast.unparse(n) for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Raise)]
        assert raises == ["raise SystemExit(main())"], (path, raises)


def test_only_main_hands_exceptions_to_the_table():
    """exits.outcome is called from main() alone: no command keeps a private translation."""
    callers = [p.name for p in _modules() if re.search(r"\boutcome\(", p.read_text())]
    assert callers == ["__init__.py"], callers


def _oserror(code: int, filename: str | None = None) -> OSError:
    return OSError(code, os.strerror(code), filename) if filename else OSError(code, os.strerror(code))


TABLE = [  # (exception, terminated by SIGTERM, exit code, text of the line; None: no line)
    (UsageError("bad --x"), False, Exit.USAGE, "error: bad --x"),
    (PreflightError("nothing listens"), False, Exit.USAGE, "error: nothing listens"),
    (RunNotFound("no run 'x'"), False, Exit.USAGE, "error: no run 'x'"),  # also a FileNotFoundError: not a file's error
    (DatasetError("manifest.json", "status", "missing"), False, Exit.USAGE, "error: manifest.json: status: missing"),
    (OutputError("--out r", _oserror(errno.ENOSPC)), False, Exit.DEGRADED, "error: --out r: the disk is full"),
    (
        OutputError("--out r", _oserror(errno.EACCES)),
        False,
        Exit.USAGE,
        "error: --out r: cannot write (Permission denied)",
    ),
    (ReportError("report notebook failed in cell 3"), False, Exit.CRITICAL, "error: report notebook failed in cell 3"),
    (TraceError("ws://h/ws: ConnectionRefusedError"), False, Exit.CRITICAL, "error: ws://h/ws: ConnectionRefusedError"),
    (ClientError("connection lost"), False, Exit.CRITICAL, "error: connection lost"),
    (KeyboardInterrupt(), False, Exit.SIGINT, "interrupted"),
    (KeyboardInterrupt(), True, Exit.SIGTERM, "terminated (SIGTERM)"),
    (asyncio.CancelledError(), True, Exit.SIGTERM, "terminated (SIGTERM)"),
    (ModuleNotFoundError("x", name="weasyprint"), False, Exit.USAGE, "pip install 'pitchey-analysis[report]'"),
    (_oserror(errno.ENOSPC, "/x"), False, Exit.DEGRADED, "error: the disk is full"),
    (_oserror(errno.EACCES, "/root/x"), False, Exit.USAGE, "error: /root/x: Permission denied"),
    (_oserror(errno.ECONNRESET), False, Exit.CRITICAL, "an internal error"),
    (RuntimeError("boom"), False, Exit.CRITICAL, "error: RuntimeError: boom (an internal error; -v shows where)"),
]


@pytest.mark.parametrize(
    "exc, terminated, code, text", TABLE, ids=[f"{type(e).__name__} {c.name}" for e, _, c, _ in TABLE]
)
def test_the_table_maps_each_exception_to_its_code_and_line(exc, terminated, code, text):
    got = exits.outcome(exc, exits.Context("run", terminated=terminated))
    assert got is not None and got[0] == code and text in (got[1] or ""), got


def test_a_sigterm_wrapped_by_the_interpreter_is_still_a_sigterm():
    """A SIGTERM at start-up landing in a class definition of an import (pandas' ``Series``, say): CPython 3.11 wraps
    what ``__set_name__`` raises in a RuntimeError, and the run exited 1 'an internal error' instead of 143."""

    class Interrupted:
        def __set_name__(self, owner: type, name: str) -> None:
            raise KeyboardInterrupt

    try:
        type("Series", (), {"points": Interrupted()})
    except BaseException as exc:  # whatever the interpreter makes of it
        wrapped = exc
    assert exits.outcome(wrapped, exits.Context("run", terminated=True))[0] == Exit.SIGTERM
    assert exits.outcome(wrapped, exits.Context("run"))[0] == Exit.SIGINT
    assert exits.outcome(RuntimeError("boom"), exits.Context("run", terminated=True))[0] == Exit.CRITICAL


def test_what_the_table_does_not_take_goes_on():
    assert exits.outcome(SystemExit(0), exits.Context("run")) is None


def test_a_scheduler_that_cannot_be_reached_is_a_usage_error():
    from pitchey_analysis.load.orchestrate import SchedulerUnreachable

    assert exits.outcome(SchedulerUnreachable("cannot reach"), exits.Context("load"))[0] == Exit.USAGE


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_every_command_s_exceptions_reach_the_table(capsys, monkeypatch, command):
    """Whatever a command raises is said by main() in one line, with the table's code."""

    def fails(a: argparse.Namespace) -> Exit:
        raise OutputError(f"--{command}-file", _oserror(errno.ENOSPC))

    monkeypatch.setitem(cli.COMMANDS, command, fails)
    args = {"contract": ["check", "pitchey"], "compare": ["a", "b"]}.get(command, [])
    code, _, err = run_cli(capsys, command, *args)
    assert code == 4 and one_line_error(err).startswith(
        f"pitchey-analysis {command}: error: --{command}-file: the disk is full"
    )


def test_every_command_is_in_the_table_of_commands():
    """The parser's commands and the commands main() runs are the same."""
    sub = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == set(cli.COMMANDS)


def _count_analyses(monkeypatch) -> list[int]:
    """Count the analyses made from now on: each ``analyze()`` builds one :class:`Analysis`, whichever name it was
    imported under."""
    import pitchey_analysis.analysis as analysis

    calls: list[int] = []
    real = analysis.Analysis

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(analysis, "Analysis", counting)
    return calls


def test_run_analyses_its_run_once(tmp_path, capsys, monkeypatch):
    """The summary, the JSON summary and the exit policy of ``run`` read one analysis of the run."""
    calls = _count_analyses(monkeypatch)
    code, _, err = run_cli(
        capsys,
        "run",
        "--suite",
        "quick",
        "--only",
        "connection.health",
        "--no-progress",
        "--fail-on",
        "never",
        "--out",
        str(tmp_path / "runs"),
        "--json",
        str(tmp_path / "s.json"),
        "--junit",
        str(tmp_path / "s.xml"),
    )
    assert code == 0, err
    assert (tmp_path / "s.json").exists() and len(calls) == 1, calls


def test_report_analyses_its_run_once(monkeypatch):
    """``report`` analyses nothing in its own process; the report notebook's sections share one analysis."""
    from pitchey_analysis.capture.dataset import load_run
    from pitchey_analysis.config import PACKAGE_DIR
    from pitchey_analysis.report import sections

    calls = _count_analyses(monkeypatch)
    monkeypatch.setattr(sections, "_LAST", {})
    notebook = (PACKAGE_DIR / "notebooks" / "4.0-readiness-report.ipynb").read_text()
    names = re.findall(r"view\.cell\(sections\.(\w+)\)", notebook)
    assert len(names) > 10, names
    r = load_run(SAMPLE)
    for name in names:
        getattr(sections, name)(r)
    assert len(calls) == 1, calls


def test_report_does_not_analyse_in_the_command_s_process(tmp_path, capsys, monkeypatch):
    from pitchey_analysis.report import export

    calls = _count_analyses(monkeypatch)
    monkeypatch.setattr(
        export, "execute", lambda kind, params, output: (_ for _ in ()).throw(ReportError("stopped here"))
    )
    code, _, err = run_cli(capsys, "report", str(SAMPLE), "--format", "html", "--out", str(tmp_path))
    assert code == 1 and "stopped here" in one_line_error(err) and calls == []


def test_compare_checks_its_format_as_report_does():
    """One definition of --format for both commands: compare's cannot drift from report's."""
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    fmt = {name: next(a for a in sub.choices[name]._actions if a.dest == "format") for name in ("report", "compare")}
    assert fmt["report"].type is fmt["compare"].type and fmt["report"].default == fmt["compare"].default
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(["compare", "a", "b", "--format", "html,exe"])
    assert exc.value.code == 2
