"""What every connection must do in time, and how many there may be: the reference server's connection guard.

aiohttp waits for a request head (and a body) as long as the client keeps the
connection open, so a client that trickles a request holds a socket, a file
descriptor and its buffers forever. :class:`GuardedProtocol` wraps each
connection's protocol and aborts the transport when a request head (up to the
blank line that ends it, RFC 9112 §2.1) or a request body is late; it refuses
connections beyond a cap with a 503; and after a WebSocket upgrade it closes a
client that sends an unmasked frame with 1002 (RFC 6455 §5.1), which aiohttp
accepts.

The reading of the byte stream is plain code without I/O (:class:`RequestClock`,
:class:`FrameWatcher`): bytes in, the phase or the verdict out.
"""

from __future__ import annotations

import asyncio
import enum
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: a request head longer than this is aiohttp's to refuse (431/400); the clock stops reading it
MAX_HEAD = 64 * 1024


class Phase(enum.Enum):
    """Where a connection's request stream is."""

    HEAD = "head"
    BODY = "body"
    CHUNKED = "chunked"
    IDLE = "idle"
    UPGRADED = "upgraded"


class RequestClock:
    """Follows an HTTP/1.1 request stream far enough to know which deadline applies: pure, no I/O."""

    def __init__(self) -> None:
        self.phase = Phase.HEAD
        self._head = bytearray()
        self._left = 0
        self._tail = b""
        self.heads = 0  # request heads completed

    def feed(self, data: bytes) -> tuple[list[Phase], bytes]:
        """Consume bytes; the phases entered (in order) and the bytes that follow an upgrade request."""
        entered: list[Phase] = []
        view = memoryview(data)
        while view.nbytes:
            if self.phase is Phase.UPGRADED:
                return entered, bytes(view)
            if self.phase is Phase.IDLE:
                self.phase = Phase.HEAD
                entered.append(Phase.HEAD)
            if self.phase is Phase.HEAD:
                view = self._feed_head(view, entered)
            elif self.phase is Phase.BODY:
                k = min(self._left, view.nbytes)
                self._left -= k
                view = view[k:]
                if not self._left:
                    self._enter(Phase.IDLE, entered)
            elif self.phase is Phase.CHUNKED:
                view = self._feed_chunked(view, entered)
        return entered, b""

    def _enter(self, phase: Phase, entered: list[Phase]) -> None:
        self.phase = phase
        entered.append(phase)

    def _feed_head(self, view: memoryview, entered: list[Phase]) -> memoryview:
        start = max(0, len(self._head) - 3)
        self._head += view
        end = self._head.find(b"\r\n\r\n", start)
        if end < 0:
            if len(self._head) > MAX_HEAD:
                self._head = self._head[-3:]  # aiohttp refuses it; only the end is still looked for
            return view[view.nbytes:]
        used = end + 4 - (len(self._head) - view.nbytes)
        head, self._head = bytes(self._head[:end]).lower(), bytearray()
        self.heads += 1
        fields = dict(_field(line) for line in head.split(b"\r\n")[1:])
        if b"upgrade" in fields:
            self._enter(Phase.UPGRADED, entered)
        elif b"chunked" in fields.get(b"transfer-encoding", b""):
            self._tail = b"\n"
            self._enter(Phase.CHUNKED, entered)
        else:
            try:
                self._left = max(0, int(fields.get(b"content-length", b"0") or 0))
            except ValueError:
                self._left = 0  # aiohttp answers 400
            self._enter(Phase.BODY if self._left else Phase.IDLE, entered)
        return view[used:]

    def _feed_chunked(self, view: memoryview, entered: list[Phase]) -> memoryview:
        # The last chunk (RFC 9112 §7.1): a zero size line then an empty line; trailers are not expected.
        buf = self._tail + bytes(view)
        at = buf.find(b"\n0\r\n\r\n")
        if at < 0:
            self._tail = buf[-6:]
            return view[view.nbytes:]
        used = at + 6 - len(self._tail)
        self._tail = b""
        self._enter(Phase.IDLE, entered)
        return view[used:]


def _field(line: bytes) -> tuple[bytes, bytes]:
    name, _, value = line.partition(b":")
    return name.strip(), value.strip()


class FrameWatcher:
    """Follows client WebSocket frames far enough to see each frame's mask bit: pure, no I/O."""

    def __init__(self) -> None:
        self._hdr = bytearray()
        self._skip = 0

    def feed(self, data: bytes) -> bool:
        """Consume bytes; True once a frame without a mask is seen (RFC 6455 §5.1: the server must close)."""
        i, n = 0, len(data)
        while i < n:
            if self._skip:
                k = min(self._skip, n - i)
                self._skip -= k
                i += k
                continue
            self._hdr.append(data[i])  # a header is 2 to 14 bytes
            i += 1
            h = self._hdr
            if len(h) < 2:
                continue
            if not h[1] & 0x80:
                return True
            size = h[1] & 0x7F
            need = 6 + (2 if size == 126 else 8 if size == 127 else 0)
            if len(h) < need:
                continue
            if size == 126:
                size = int.from_bytes(h[2:4], "big")
            elif size == 127:
                size = int.from_bytes(h[2:10], "big")
            self._skip, self._hdr = size, bytearray()
        return False


@dataclass
class GuardConfig:
    """What the guard enforces (None or False: that protection is off)."""

    #: a request head must arrive within this many seconds (the first from accept, later ones from their first byte)
    head_timeout: float | None = None
    #: a request body must arrive within this many seconds of its head
    body_timeout: float | None = None
    #: deadlines for every request, not only the first head
    per_request: bool = False
    #: the first head's deadline counts from accept (the TLS handshake included), not from connection_made
    from_accept: bool = False
    #: connections at once (None: no cap); more are answered 503 once their request head is in
    cap: int | None = None
    #: close unmasked client frames 1002 after an upgrade
    mask_check: bool = False
    #: connections open now (shared by every connection of one server)
    open: int = 0


_REFUSAL = json.dumps({"success": False, "error": "connection limit reached"}).encode()
REFUSED = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
           b"Connection: close\r\nContent-Length: " + str(len(_REFUSAL)).encode() + b"\r\n\r\n" + _REFUSAL)
#: a close frame with 1002 (protocol error), unmasked as a server's frames are
CLOSE_1002 = bytes([0x88, 2]) + (1002).to_bytes(2, "big")


class GuardedProtocol(asyncio.Protocol):
    """Delegates to the wrapped protocol; enforces the deadlines, the cap and the mask check of a GuardConfig."""

    def __init__(self, make_inner: Callable[[], asyncio.Protocol], cfg: GuardConfig) -> None:
        self._cfg = cfg
        self._born = time.monotonic()  # the factory runs at accept, before a TLS handshake
        self._refused = cfg.cap is not None and cfg.open >= cfg.cap
        self._inner: asyncio.Protocol | None = None if self._refused else make_inner()
        cfg.open += 1
        self._counted = True
        self._clock = RequestClock()
        self._frames = FrameWatcher() if cfg.mask_check else None
        self._timer: asyncio.TimerHandle | None = None
        self._transport: asyncio.BaseTransport | None = None

    # -- deadlines ---------------------------------------------------------
    def _arm(self, seconds: float | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if seconds is not None:
            self._timer = asyncio.get_running_loop().call_later(max(0.0, seconds), self._expire)

    def _expire(self) -> None:
        self._timer = None
        if self._transport is not None and not self._transport.is_closing():
            self._transport.abort()  # type: ignore[attr-defined]

    def _deadline(self, phase: Phase) -> float | None:
        cfg = self._cfg
        if phase is Phase.HEAD and (cfg.per_request or self._clock.heads == 0):
            return cfg.head_timeout
        if phase in (Phase.BODY, Phase.CHUNKED) and cfg.per_request:
            return cfg.body_timeout
        return None

    # -- asyncio.Protocol --------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        first = self._cfg.head_timeout
        if first is not None and self._cfg.from_accept:
            first -= time.monotonic() - self._born
        self._arm(first)
        if self._inner is not None:
            self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        entered, frames = self._clock.feed(data)
        if entered:
            self._arm(self._deadline(entered[-1]))
        if self._refused:
            if self._clock.heads and self._transport is not None and not self._transport.is_closing():
                self._transport.write(REFUSED)  # type: ignore[attr-defined]
                self._transport.close()
            return
        if frames and self._frames is not None and self._frames.feed(frames):
            transport = self._transport
            if transport is not None and not transport.is_closing():
                transport.write(CLOSE_1002)  # type: ignore[attr-defined]
                transport.close()
            return
        assert self._inner is not None
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        self._arm(None)
        if self._counted:
            self._counted = False
            self._cfg.open -= 1
        if self._inner is not None:
            self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def guarded(factory: Callable[[], asyncio.Protocol], cfg: GuardConfig) -> Callable[[], asyncio.Protocol]:
    """A protocol factory whose connections are held to ``cfg``."""
    return lambda: GuardedProtocol(factory, cfg)
