"""Exit codes, the one table that turns an exception into an exit code and its one line, and the final exit.

A command returns an :class:`Exit` (its result: READY, a failed critical probe, INSUFFICIENT EVIDENCE, a degraded
capture) or raises; :func:`pitchey_analysis.cli.main` hands what it raised to :func:`outcome`, which reads
:data:`RULES` from the top and takes the first rule that matches. No other module of the command line turns an
exception into an exit code (``tests/test_cli_exits.py`` checks it).

====  =========================================================================================
code  when
====  =========================================================================================
0     done (a --fail-on policy let the verdict through; the reader of the output left)
1     a critical probe failed; the report notebook failed; the target failed the session; a bug
2     a usage error: bad arguments, a malformed URL, no such run, a file the command cannot use
3     evidence is missing (``run``): INSUFFICIENT EVIDENCE, or NOT READY by a target alone with critical gaps
4     a degraded capture, a full disk
130   interrupted (Ctrl-C, SIGINT)
143   terminated (SIGTERM)
====  =========================================================================================
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

from ..exceptions import ClientError, OutputError, ReportError, TraceError, UsageError
from ..textsafe import printable


class Exit(enum.IntEnum):
    """The exit codes of ``pitchey-analysis`` (see the module's table)."""

    OK = 0
    CRITICAL = 1
    USAGE = 2
    INSUFFICIENT = 3
    DEGRADED = 4
    #: 128 + the signal's number, as a shell reports it
    SIGINT = 130
    SIGTERM = 143


@dataclass(frozen=True)
class Context:
    """What a rule may say about the command that raised: its name, whether a SIGTERM stopped it, ``-v``, and the
    secrets it was given (never printed)."""

    command: str
    terminated: bool = False
    verbose: bool = False
    secrets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rule:
    """An exception class (and a condition on it), its exit code, and what the user reads after
    ``pitchey-analysis COMMAND: `` (None: nothing)."""

    catches: tuple[type[BaseException], ...]
    code: Exit
    says: Callable[[BaseException, Context], str | None]
    when: Callable[[BaseException, Context], bool] = lambda exc, ctx: True


def _error(exc: BaseException, ctx: Context) -> str:
    """The exception's text as the error line: its text may quote a target or a dataset, printed escaped."""
    return f"error: {printable(exc)}"


def _disk_full(exc: BaseException, ctx: Context) -> bool:
    from ..atomic import is_disk_full

    return is_disk_full(exc.cause if isinstance(exc, OutputError) else exc)


def _output_full(exc: BaseException, ctx: Context) -> str:
    assert isinstance(exc, OutputError)
    return (
        f"error: {printable(exc.what)}: the disk is full ({exc.cause.strerror or exc.cause}); nothing partial was left"
    )


def _output_refused(exc: BaseException, ctx: Context) -> str:
    assert isinstance(exc, OutputError)
    return f"error: {printable(exc.what)}: cannot write ({exc.cause.strerror or exc.cause})"


def _missing(exc: BaseException, ctx: Context) -> str:
    """An optional extra not installed: say which one."""
    from ..extras import missing_message

    assert isinstance(exc, ModuleNotFoundError)
    return f"error: {printable(missing_message(exc.name))}"


def _reader_left(exc: BaseException, ctx: Context) -> None:
    """The reader of the output left (``| head``): nothing more to say to it, and nothing more written to it."""
    with contextlib.suppress(OSError):
        sys.stdout = open(os.devnull, "w")  # stays open: Python flushes stdout at exit
    return None


def _disk_full_anywhere(exc: BaseException, ctx: Context) -> str:
    assert isinstance(exc, OSError)
    return f"error: the disk is full ({exc.strerror}): {printable(exc.filename or 'a file')} could not be written"


def _unusable_file(exc: BaseException, ctx: Context) -> str:
    """A file or folder the command was pointed at (or derived from what it was given) cannot be used."""
    assert isinstance(exc, OSError)
    return f"error: {printable(exc.filename)}: {printable(exc.strerror or exc)}"


def _internal(exc: BaseException, ctx: Context) -> str:
    """A failure no rule foresaw: one line (redacted, escaped); the traceback with ``-v``."""
    from ..capture.redact import redact_text

    logging.getLogger("pitchey_analysis").debug("the command failed", exc_info=exc)
    what = str(exc).splitlines()[0] if str(exc).strip() else "no detail"
    return (
        f"error: {type(exc).__name__}: {printable(redact_text(what, ctx.secrets), 300)} "
        f"(an internal error{'' if ctx.verbose else '; -v shows where'})"
    )


#: the table, read from the top: the first rule whose class and condition match decides
RULES: tuple[Rule, ...] = (
    # CancelledError: a SIGTERM cancelled the run's root task
    Rule(
        (KeyboardInterrupt, asyncio.CancelledError),
        Exit.SIGTERM,
        lambda e, c: "terminated (SIGTERM)",
        when=lambda e, c: c.terminated,
    ),
    Rule((KeyboardInterrupt, asyncio.CancelledError), Exit.SIGINT, lambda e, c: "interrupted"),
    Rule((OutputError,), Exit.DEGRADED, _output_full, when=_disk_full),
    Rule((OutputError,), Exit.USAGE, _output_refused),
    # before OSError: RunNotFound is also a FileNotFoundError
    Rule((UsageError,), Exit.USAGE, _error),
    Rule((ReportError,), Exit.CRITICAL, _error),
    Rule((TraceError,), Exit.CRITICAL, _error),
    Rule((ClientError,), Exit.CRITICAL, _error),  # the reconnecting client gave up on the target: said, not a bug
    Rule((ModuleNotFoundError,), Exit.USAGE, _missing),
    Rule((BrokenPipeError,), Exit.OK, _reader_left),
    Rule((OSError,), Exit.DEGRADED, _disk_full_anywhere, when=_disk_full),
    Rule((OSError,), Exit.USAGE, _unusable_file, when=lambda e, c: isinstance(e, OSError) and e.filename is not None),
    Rule((Exception,), Exit.CRITICAL, _internal),  # the last resort: never a traceback on the user's terminal
)


def _interruption(exc: BaseException) -> BaseException | None:
    """The Ctrl-C or SIGTERM that ``exc`` wraps, if any: the interpreter wraps what a class body's ``__set_name__``
    raises in a RuntimeError (``raise ... from``), so a SIGTERM landing in an import's class definition arrives as
    one; it is still the interruption."""
    seen: BaseException | None = exc
    for _ in range(10):  # a chain of causes, bounded
        if seen is None:
            return None
        if isinstance(seen, (KeyboardInterrupt, asyncio.CancelledError)):
            return seen
        seen = seen.__cause__
    return None


def outcome(exc: BaseException, ctx: Context) -> tuple[Exit, str | None] | None:
    """The exit code of ``exc`` and the line the user reads (without the ``pitchey-analysis COMMAND: `` prefix);
    None when no rule takes it (SystemExit, GeneratorExit: they go on)."""
    exc = _interruption(exc) or exc
    for rule in RULES:
        if isinstance(exc, rule.catches) and rule.when(exc, ctx):
            return rule.code, rule.says(exc, ctx)
    return None


def exit_now(code: int) -> None:
    """End the program with ``code`` once its files are written and its streams flushed.

    A SIGTERM is turned into SIGINT's KeyboardInterrupt. When it lands while C code runs Python code of its own
    (an extension module's import), CPython marks the KeyboardInterrupt unhandled although the command caught it.
    It then ends the process by SIGINT once ``main`` has returned 143 (about one SIGTERM in ten in the first
    half-second). Only the program itself (``argv is None``) exits this way; a caller of :func:`main` gets the code.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


#: an exit code from the worst to the best: a repeated run exits with its worst run's
WORST_FIRST = (Exit.DEGRADED, Exit.CRITICAL, Exit.INSUFFICIENT, Exit.OK)


__all__ = ["RULES", "WORST_FIRST", "Context", "Exit", "Rule", "exit_now", "outcome"]
