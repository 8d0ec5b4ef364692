"""The package's exceptions, under one root.

Failures of the *target* are never exceptions: they are records with reason
codes. These are raised for misuse of the library, the user's own set-up
mistakes, and a report that could not be exported::

    PitcheyAnalysisError
    ├── UsageError            misuse: bad arguments, a malformed URL, an unknown run (the CLI exits 2)
    │   ├── PreflightError    the set-up given cannot work: nothing listens, not a WebSocket endpoint, a login refused
    │   │   └── SchedulerUnreachable  the Dask scheduler given does not answer, or has too few workers
    │   │                             (also a ConnectionError; pitchey_analysis.load)
    │   ├── RunNotFound       no such run, or no runs where the user pointed (also a FileNotFoundError)
    │   ├── DatasetError      a run dataset that cannot be read or does not match its schema: names file and field
    │   └── ContractError     a contract that cannot be read or does not validate (pitchey_analysis.contract)
    ├── OutputError           a file the command writes could not be written: what it was and why (a full disk exits 4)
    ├── TraceError            the session ``debug`` traces failed or outlived its budget: the target's failure (exits 1)
    ├── ReportError           the report notebook failed: the failing cell, its exception name and value
    └── ClientError           the reconnecting client (``pitchey_analysis.client``; its alias ``PitcheyError``)
        ├── LoginError            login refused (``status``)
        ├── ConnectError          could not open a session (``reason``)
        ├── ForbiddenChannel      subscribe refused (``channel``, ``code``)
        ├── RequestTimeout        no answer in time (``expected``)
        └── ConnectionLost        the session ended and reconnecting gave up (``code``, ``reason``)

Exceptions private to one module, which never leave it, are not in the tree: they carry control flow inside
a probe or a reader (``probes.base.Stop`` carries a probe's result to the runner, ``NoFirstFrame``, ``NoAnswer``,
``_Odd``, ``_TooManyCategories``); each says so where it is defined. A test walks the package and holds every
other exception class to this root.
"""

from __future__ import annotations


class PitcheyAnalysisError(Exception):
    """Root of every exception this package raises on purpose."""


class UsageError(PitcheyAnalysisError, ValueError):
    """Misuse of the library or the command line (exit code 2 in the CLI)."""


class PreflightError(UsageError):
    """What the user gave cannot work; the message is one line with the cause and the fix."""


class SchedulerUnreachable(PreflightError, ConnectionError):
    """The Dask scheduler given with ``scheduler=`` did not answer (or the address is not one, or it has fewer
    workers than the shards to pin)."""


class RunNotFound(UsageError, FileNotFoundError):
    """No such run, or no runs where the user looked."""


class DatasetError(UsageError):
    """A file of a run dataset that cannot be read or that its declared schema refuses
    (:mod:`pitchey_analysis.capture.schema`); the message is one line naming the file and the field."""

    def __init__(self, file: object, field: str | None, problem: str) -> None:
        from .textsafe import printable

        self.file, self.field, self.problem = str(file), field, problem
        super().__init__(printable(f"{file}" + (f": {field}" if field else "") + f": {problem}"))


class OutputError(PitcheyAnalysisError):
    """A file or folder the command was to write could not be written: ``what`` names it (``--out reports``),
    ``cause`` is the :class:`OSError`; the CLI exits 4 when the disk is full, else 2."""

    def __init__(self, what: str, cause: OSError) -> None:
        self.what, self.cause = what, cause
        super().__init__(f"{what}: {cause.strerror or cause}")


class TraceError(PitcheyAnalysisError):
    """The session ``pitchey-analysis debug`` traced failed (the target's failure, one line naming the target) or
    outlived its budget."""


class ReportError(PitcheyAnalysisError):
    """The report notebook failed; carries the failing cell, the exception's name and value, and the executed
    notebook."""

    def __init__(
        self,
        message: str,
        *,
        cell: int | None = None,
        ename: str | None = None,
        evalue: str | None = None,
        notebook: str | None = None,
    ) -> None:
        super().__init__(message)
        self.cell, self.ename, self.evalue, self.notebook = cell, ename, evalue, notebook


class ClientError(PitcheyAnalysisError):
    """Root of the reconnecting client's exceptions."""


class LoginError(ClientError):
    """The login endpoint refused the credentials."""

    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(f"login refused (HTTP {status}) {message}".strip())
        self.status = status


class ConnectError(ClientError):
    """A session could not be opened."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ForbiddenChannel(ClientError):
    """The server refused a subscription."""

    def __init__(self, channel: str, code: str) -> None:
        super().__init__(f"subscription to {channel!r} refused: {code}")
        self.channel, self.code = channel, code


class RequestTimeout(ClientError):
    """No answer arrived in time."""

    def __init__(self, expected: str, timeout: float) -> None:
        super().__init__(f"no {expected} within {timeout:.1f} s")
        self.expected = expected


class ConnectionLost(ClientError):
    """The session ended and reconnecting gave up."""

    def __init__(self, code: int | None, reason: str = "") -> None:
        super().__init__(f"connection lost ({code} {reason!r}) and not re-established")
        self.code, self.reason = code, reason


__all__ = [
    "ClientError",
    "ConnectError",
    "ConnectionLost",
    "DatasetError",
    "ForbiddenChannel",
    "LoginError",
    "OutputError",
    "PitcheyAnalysisError",
    "PreflightError",
    "ReportError",
    "RequestTimeout",
    "RunNotFound",
    "SchedulerUnreachable",
    "TraceError",
    "UsageError",
]
