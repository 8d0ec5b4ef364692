"""Async code from synchronous callers: one background-loop bridge.

``BackgroundLoop`` runs an event loop in a daemon thread and runs coroutines
on it from ordinary code (the reference server's ``with``, the blocking client).
``run_sync`` runs one coroutine to its end from a script (``asyncio.run``) or
from a notebook whose event loop is already running (on a background loop).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from .exceptions import UsageError

T = TypeVar("T")


class BackgroundLoop:
    """An event loop in its own thread; ``call`` runs a coroutine there and waits for its result.

    ``stop`` ends the loop as ``asyncio.run`` does (remaining tasks cancelled,
    async generators and the default executor shut down) and joins the thread.
    """

    def __init__(self, name: str = "pitchey-loop") -> None:
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> BackgroundLoop:
        """Start the thread and its loop (returns once the loop runs)."""
        ready = threading.Event()

        def main() -> None:
            with asyncio.Runner() as runner:
                self.loop = runner.get_loop()
                self.loop.call_soon(ready.set)
                self.loop.run_forever()

        self._thread = threading.Thread(target=main, name=self.name, daemon=True)
        self._thread.start()
        ready.wait()
        return self

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop; its result, or its exception raised here."""
        if self.loop is None:
            coro.close()
            raise UsageError("the background loop is not running (start it first; a stopped loop does not restart)")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self, timeout: float | None = 10) -> None:
        """Stop the loop and join its thread (idempotent)."""
        if self.loop is not None and self._thread is not None and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)
        self._thread = None

    def __enter__(self) -> BackgroundLoop:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_sync(make: Callable[[], Coroutine[Any, Any, T]], name: str = "pitchey-run") -> T:
    """Run the coroutine ``make()`` to its end from synchronous code.

    Without a running loop in this thread it is ``asyncio.run``; inside one (a
    notebook) the coroutine runs on a :class:`BackgroundLoop` while this thread waits.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    with BackgroundLoop(name) as bg:
        return bg.call(make())
