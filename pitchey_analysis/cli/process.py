"""The process around a command: its logging, and SIGTERM handled as Ctrl-C."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def setup_logging(verbose: bool) -> None:
    """Log to stderr, every line redacted; ``verbose``: DEBUG, else WARNING (the chatty libraries at WARNING)."""
    from ..capture.redact import redact_text

    class Redacting(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            return redact_text(super().format(record))

    h = logging.StreamHandler(sys.stderr)
    h.setFormatter(Redacting("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, handlers=[h], force=True)
    logging.getLogger("pitchey_analysis.server").setLevel(logging.DEBUG if verbose else logging.WARNING)
    for noisy in ("websockets", "aiohttp.access", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


#: the task of the command's asyncio.run (see :func:`as_root`): where a SIGTERM stops a run whose SIGINT is ignored
_ROOT: list[asyncio.Task[Any]] = []


async def as_root(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` as the command's root task, known to the SIGTERM handler (asyncio.run installs no SIGINT
    handler of its own when SIGINT is ignored)."""
    task = asyncio.current_task()
    if task is not None:
        _ROOT.append(task)
    try:
        return await coro
    finally:
        if task is not None and task in _ROOT:
            _ROOT.remove(task)


class Terminated:
    """SIGTERM handled as SIGINT: what ``timeout``, CI runners, systemd and Kubernetes send to stop a command.

    The handler notes the signal and calls SIGINT's handler, so that the one path Ctrl-C takes runs
    (asyncio cancels the run's task, the recorder writes the Parquet tables and the manifest ``interrupted``,
    a report removes its temporary files), and the command exits 143 rather than 130."""

    def __init__(self) -> None:
        self.received = False
        self._previous: Any = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.received:  # a second SIGTERM while stopping changes nothing: the interruption is under way
            return
        self.received = True
        on_int = signal.getsignal(signal.SIGINT)
        if callable(on_int):  # Python's default (raises KeyboardInterrupt) or asyncio.run's (cancels the main task)
            on_int(signal.SIGINT, frame)
        elif _ROOT:  # SIGINT ignored and a run under way: cancel its task, as asyncio.run's SIGINT handler would
            root = _ROOT[-1]
            root.get_loop().call_soon_threadsafe(root.cancel)
        else:  # SIGINT ignored (a background job of a shell) or C's default: stop as Ctrl-C would where it is not
            raise KeyboardInterrupt

    def __enter__(self) -> Terminated:
        self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGTERM, self._previous)
