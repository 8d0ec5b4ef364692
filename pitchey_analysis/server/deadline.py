"""A deadline for the HTTP request head: slow-loris protection for the reference server.

aiohttp waits for a request head as long as the client keeps the connection
open, so a client that sends half an upgrade request and stops holds a socket
(and a file descriptor) forever. :class:`HeadDeadline` wraps each connection's
protocol and aborts the transport when the head (up to the blank line that
ends it, RFC 9112 §2.1) has not arrived within the deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


class HeadDeadline(asyncio.Protocol):
    """Delegates to the wrapped protocol; aborts the connection if the first request head is late."""

    def __init__(self, inner: asyncio.Protocol, seconds: float) -> None:
        self._inner = inner
        self._seconds = seconds
        self._tail = b""
        self._timer: asyncio.TimerHandle | None = None
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._timer = asyncio.get_running_loop().call_later(self._seconds, self._expire)
        self._inner.connection_made(transport)

    def _expire(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.abort()  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if self._timer is not None:
            self._tail = (self._tail + data)[-(len(data) + 3):]
            if b"\r\n\r\n" in self._tail:
                self._timer.cancel()
                self._timer = None
                self._tail = b""
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def with_head_deadline(factory: Callable[[], asyncio.Protocol], seconds: float | None) -> Callable[[], asyncio.Protocol]:
    """A protocol factory whose connections must send their request head within ``seconds`` (None: no deadline)."""
    if seconds is None:
        return factory
    return lambda: HeadDeadline(factory(), seconds)
