"""What a command reads and writes, checked before it starts: the output folders and files it was given, the runs
folder it was pointed at, the contract it was named. Every problem is a :class:`UsageError` (exit 2) or an
:class:`OutputError` (exit 4 on a full disk), one line naming the option."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from ..exceptions import OutputError, UsageError
from ..textsafe import printable

if TYPE_CHECKING:  # pragma: no cover
    from ..contract import Contract


def reports_out(out: str | None) -> Path:
    """``--out``, else the reports folder of the data folder (:func:`~pitchey_analysis.config.reports_dir`)."""
    from ..config import reports_dir

    return Path(out) if out else reports_dir()


def check_runs_dir(runs_dir: str | None) -> None:
    """A --runs-dir the user gave must hold runs: never fall back silently to another folder's runs."""
    if runs_dir is None:
        return
    d = Path(runs_dir)
    if not d.is_dir() or not any((p / "manifest.json").exists() for p in d.iterdir()):
        raise UsageError(f"no runs in {printable(runs_dir)}" + ("" if d.is_dir() else " (no such folder)"))


def output_folder(out: str, flag: str = "--out") -> Path:
    """The folder ``out``, made if missing; a :class:`UsageError` when it is empty or a file, an
    :class:`OutputError` when it cannot be made."""
    if not str(out).strip():
        raise UsageError(f"{flag} needs a folder name (an empty one would write into the working folder)")
    d = Path(out)
    if d.exists() and not d.is_dir():
        raise UsageError(f"{flag} {printable(out)} is not a folder")
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{flag} {out}", exc) from None
    return d


def check_folder(value: str | None, flag: str) -> None:
    """An output folder a command was given (None: none), checked before it starts; nothing is made here."""
    if value is None:
        return
    if not str(value).strip():
        raise UsageError(f"{flag} needs a folder name (an empty one would write into the working folder)")
    if Path(value).exists() and not Path(value).is_dir():
        raise UsageError(f"{flag} {printable(value)} is not a folder")
    _check_writable_folder(Path(value), f"{flag} {value}")


def output_file(name: str, flag: str) -> Path:
    """The file ``name`` a command will write (a summary, a table): a :class:`UsageError` before anything runs when it
    is a folder, a pipe or a socket, or when its folder cannot be made or written (a long run would otherwise end
    without its summary). A device (``/dev/stdout``) is written as it is."""
    if not str(name).strip():
        raise UsageError(f"{flag} needs a file name")
    p = Path(name)
    try:
        st = p.stat()
    except OSError:
        st = None
    if st is not None and not (stat.S_ISREG(st.st_mode) or stat.S_ISCHR(st.st_mode)):
        raise UsageError(
            f"{flag} {printable(name)} is not a regular file" + (" (a folder)" if stat.S_ISDIR(st.st_mode) else "")
        )
    _check_writable_folder(p.parent, f"{flag} {name}")
    return p


def check_file(value: str | None, flag: str) -> None:
    """An output file a command was given (None: none), checked before it starts (:func:`output_file`)."""
    if value is not None:
        output_file(value, flag)


def _check_writable_folder(folder: Path, what: str) -> None:
    """Raise a :class:`UsageError` unless ``folder``, or the nearest folder above it that exists, is a folder this
    process may write into (nothing is made here)."""
    d = folder if str(folder) else Path(".")
    while not d.exists() and d != d.parent:
        d = d.parent
    if not d.is_dir():
        raise UsageError(f"{printable(what)}: {printable(str(d))} is not a folder")
    if not os.access(d, os.W_OK | os.X_OK):
        raise UsageError(f"{printable(what)}: cannot write into {printable(str(d))} (permission denied)")


def contract(ref: str, *, check: bool = False) -> Contract:
    """Load a contract, or a :class:`UsageError` naming the JSON path of its first error (``check``: the shipped
    default validated too, which is otherwise taken as validated by the package's tests)."""
    from ..contract import ContractError, load_contract, validate_document

    try:
        c = load_contract(ref)
        if check:
            validate_document(c.document)
        return c
    except ContractError as exc:  # the error says where in the document; the line says which document
        raise UsageError(f"contract {ref}: {exc}") from None
