"""The command line: ``pitchey-analysis serve | run | contract | report | compare | history | debug | load``.

One module per command, each with its options (``add_parser``) and its command (``cmd_*``), which calls the
library with typed values and returns an :class:`~.exits.Exit`; what a command raises becomes an exit code and
one line here, in :func:`main`, by the one table of :mod:`.exits`::

    __init__.py     main: the parser assembled from the commands', the command run, its exception to an exit code
    exits.py        the exit codes, the table from an exception to its exit code and its line, the final exit
    process.py      logging, SIGTERM handled as Ctrl-C
    options.py      option values several commands take (a defect, concurrency levels)
    outputs.py      the folders, files, runs folder and contract a command was given, checked before it starts
    credentials.py  run's users and admin (--email, --user, --credentials)
    plan.py         run --dry-run's schedule and contract check's probe lines
    export.py       what report and compare share (--runs-dir, --out, --format; writing the export)
    serve.py run.py contract.py report.py compare.py history.py debug.py load.py   the commands
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
from collections.abc import Callable

from .. import __version__
from . import compare, contract, debug, exits, history, load, report, run, serve
from .exits import Exit

#: the commands in the order ``--help`` lists them
COMMAND_MODULES = (serve, run, contract, report, compare, history, debug, load)

#: each command's function, by name (set by its parser's defaults; a test may put another in its place)
COMMANDS: dict[str, Callable[[argparse.Namespace], Exit]] = {
    "serve": serve.cmd_serve,
    "run": run.cmd_run,
    "contract": contract.cmd_contract,
    "report": report.cmd_report,
    "compare": compare.cmd_compare,
    "history": history.cmd_history,
    "debug": debug.cmd_debug,
    "load": load.cmd_load,
}

#: options whose values are secrets: never printed, even in an internal error's line
SECRET_OPTIONS = ("password", "admin_password", "jwt_secret", "token")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to render --help in the README)."""
    p = argparse.ArgumentParser(
        prog="pitchey-analysis",
        description="Is a real-time WebSocket service ready for production? Probe it, capture a run dataset, report.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log more (secrets are always redacted)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.add_parser(sub)
    return p


def _secrets(a: argparse.Namespace) -> tuple[str, ...]:
    """The secrets the command was given, in its options or the environment (redacted from an internal error)."""
    return tuple(
        v
        for v in (
            *(getattr(a, k, None) for k in SECRET_OPTIONS),
            *(
                v
                for k, v in os.environ.items()
                if k.startswith("PITCHEY_") and any(w in k for w in ("PASSWORD", "SECRET", "TOKEN"))
            ),
        )
        if isinstance(v, str) and v
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pitchey-analysis`` console script: run the command, and turn what it raised into an exit
    code and one line (:mod:`.exits`, the one place that does)."""
    from ..contract import skip_unused_format_plugins
    from .process import Terminated, setup_logging

    skip_unused_format_plugins()
    parser = build_parser()
    a = parser.parse_args(argv)
    if not a.command:
        parser.print_help()
        return int(Exit.USAGE)
    setup_logging(a.verbose)
    handle_term = a.command != "serve" and threading.current_thread() is threading.main_thread()
    term = Terminated()
    try:
        with term if handle_term else contextlib.nullcontext():
            return int(COMMANDS[a.command](a))
    except BaseException as exc:  # every exception goes to the table; what it does not take goes on
        ctx = exits.Context(a.command, terminated=term.received, verbose=a.verbose, secrets=_secrets(a))
        decided = exits.outcome(exc, ctx)
        if decided is None:
            raise
        code, line = decided
    if line is not None:
        print(f"pitchey-analysis {a.command}: {line}", file=sys.stderr)
    if code == Exit.SIGTERM and argv is None:
        exits.exit_now(code)
    return int(code)


__all__ = ["COMMANDS", "build_parser", "main"]
