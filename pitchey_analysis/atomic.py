"""Files that appear whole or not at all: written under a temporary name beside them, then renamed.

A report interrupted (Ctrl-C, SIGTERM, a full disk) must never leave a partial ``.ipynb``, HTML or PDF
that looks complete: :func:`atomic_path` gives the writer a hidden temporary name in the same folder
(a rename within one file system is atomic, POSIX ``rename(2)``) and renames it when the writing ended
without an exception; otherwise the temporary file is removed.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path

#: the errors of a full disk or an exhausted quota
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


def partial_name(path: Path) -> Path:
    """The temporary name of ``path`` while it is written: hidden, beside it, with its suffix (pure)."""
    path = Path(path)
    return path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield the name to write ``path`` under; renamed to ``path`` when the block ends, removed if it raised."""
    path = Path(path)
    tmp = partial_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically; a device named on purpose (``/dev/stdout``) is written as it
    is (a rename would replace the device node)."""
    path = Path(path)
    if path.exists() and not path.is_file():
        path.write_text(text, encoding="utf-8")
        return
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` is a full disk or an exhausted quota (pure)."""
    return isinstance(exc, OSError) and exc.errno in DISK_FULL


__all__ = ["DISK_FULL", "atomic_path", "is_disk_full", "partial_name", "write_text"]
