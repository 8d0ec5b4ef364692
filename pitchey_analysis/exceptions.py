"""The package's exceptions, under one root.

Failures of the *target* are never exceptions: they are records with reason
codes. These are raised for misuse of the library, the user's own set-up
mistakes, and a report that could not be exported::

    PitcheyAnalysisError
    ├── UsageError            misuse: bad arguments, a malformed URL, an unknown run (the CLI exits 2)
    │   ├── PreflightError    the set-up given cannot work: nothing listens, not a WebSocket endpoint, a login refused
    │   ├── RunNotFound       no such run, or no runs where the user pointed (also a FileNotFoundError)
    │   ├── DatasetError      a run dataset that cannot be read or does not match its schema: names file and field
    │   └── ContractError     a contract that cannot be read or does not validate (pitchey_analysis.contract)
    ├── OutputError           a file the command writes could not be written: what it was and why (a full disk exits 4)
    ├── TraceError            the session ``debug`` traces failed or outlived its budget: the target's failure (exits 1)
    ├── ReportError           the report notebook failed: the failing cell, its exception name and value
    └── ClientError           the reconnecting client (``pitchey_analysis.client``)
        ├── LoginError
        ├── ConnectError
        ├── ForbiddenChannel
        ├── RequestTimeout
        └── ConnectionLost
"""

from __future__ import annotations


class PitcheyAnalysisError(Exception):
    """Root of every exception this package raises on purpose."""


class UsageError(PitcheyAnalysisError, ValueError):
    """Misuse of the library or the command line (exit code 2 in the CLI)."""


class PreflightError(UsageError):
    """What the user gave cannot work; the message is one line with the cause and the fix."""


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
    """The report notebook failed; carries the failing cell, the exception's name and value, and the executed notebook."""

    def __init__(self, message: str, *, cell: int | None = None, ename: str | None = None, evalue: str | None = None,
                 notebook: str | None = None) -> None:
        super().__init__(message)
        self.cell, self.ename, self.evalue, self.notebook = cell, ename, evalue, notebook


class ClientError(PitcheyAnalysisError):
    """Root of the reconnecting client's exceptions."""


__all__ = ["ClientError", "DatasetError", "OutputError", "PitcheyAnalysisError", "PreflightError", "ReportError", "RunNotFound",
           "TraceError", "UsageError"]
