"""What every connection must do in time, and how many there may be: the reference server's connection guard.

aiohttp waits for a request head (and a body) as long as the client keeps the
connection open, so a client that trickles a request holds a socket, a file
descriptor and its buffers forever. :class:`GuardedProtocol` wraps each
connection's protocol and aborts the transport when a request head (up to the
blank line that ends it, RFC 9112 §2.1) or a request body is late; it refuses
connections beyond a cap with a 503; and after a WebSocket upgrade it closes a
client that sends an unmasked frame with 1002 (RFC 6455 §5.1), which aiohttp
accepts.

After an upgrade it also keeps one client from holding the event loop: input is
handed to aiohttp at most :data:`FRAMES_PER_TURN` frames a turn (the client's
socket waits meanwhile), and a client the server hangs up on (a flood) has
everything it sends after that dropped unparsed while its close frame goes out
and the connection ends cleanly (:meth:`GuardedProtocol.hang_up`).

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
            return view[view.nbytes :]
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
            return view[view.nbytes :]
        used = at + 6 - len(self._tail)
        self._tail = b""
        self._enter(Phase.IDLE, entered)
        return view[used:]


def _field(line: bytes) -> tuple[bytes, bytes]:
    name, _, value = line.partition(b":")
    return name.strip(), value.strip()


class FrameWatcher:
    """Follows client WebSocket frames far enough to count them and see each frame's mask bit: pure, no I/O.

    It jumps from header to header (a flood of empty frames is a header every 6 bytes, so this loop is the
    guard's cost per frame) and keeps only an incomplete header between reads.

    Args:
        check_mask: stop at a frame without a mask (RFC 6455 §5.1: the server must close); otherwise walk past it.
    """

    def __init__(self, check_mask: bool = True) -> None:
        self.check_mask = check_mask
        self._hdr = b""  # the start of a header split across reads (at most 13 bytes)
        self._skip = 0  # payload bytes of the current frame still to come

    def feed(self, data: bytes) -> bool:
        """Consume bytes; True once a frame without a mask is seen (RFC 6455 §5.1: the server must close)."""
        return self.scan(data)[0]

    def scan(self, data: bytes | memoryview, frames: int = 0) -> tuple[bool, int]:
        """Consume bytes, stopping before the header of new frame ``frames + 1`` (0: no limit).

        Returns (a frame without a mask was seen, the bytes of ``data`` consumed); the rest is the caller's to
        scan again, so that input can be handed on a number of frames at a time.
        """
        held = len(self._hdr)  # a header begun in an earlier read (then no payload is left to skip)
        if held:
            data, self._hdr = self._hdr + data, b""
        n, i, begun = len(data), self._skip, 0
        while i < n:
            if not (held and i == 0):  # a new frame's header starts at i
                if frames and begun >= frames:
                    self._skip = 0
                    return False, i - held
                begun += 1
            if i + 2 > n:
                break
            b1 = data[i + 1]
            if not b1 & 0x80 and self.check_mask:
                return True, n - held
            size = b1 & 0x7F
            head = (2 if size < 126 else 4 if size == 126 else 10) + (4 if b1 & 0x80 else 0)
            if i + head > n:
                break
            if size == 126:
                size = int.from_bytes(data[i + 2 : i + 4], "big")
            elif size == 127:
                size = int.from_bytes(data[i + 2 : i + 10], "big")
            i += head + size
        if i >= n:
            self._skip = i - n
        else:
            self._hdr, self._skip = bytes(data[i:]), 0
        return False, n - held


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
REFUSED = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
    b"Connection: close\r\nContent-Length: " + str(len(_REFUSAL)).encode() + b"\r\n\r\n" + _REFUSAL
)
#: WebSocket input handed to the server per turn of the event loop (bytes): a client that sends faster than that waits
#: in its socket (its reading paused) while every other connection gets its turn, and once the server hangs up on
#: it, what it had queued is dropped unparsed
SLICE = 64 * 1024
#: and at most this many frames (a frame is a message the server parses, queues and answers)
FRAMES_PER_TURN = 256
#: how long a connection the server hangs up on may take to read its close frame and leave (seconds)
LINGER_S = 2.0


def close_frame(code: int, reason: str = "") -> bytes:
    """A server's close frame (unmasked, RFC 6455 §5.5.1) with ``code`` and a reason of at most 123 bytes."""
    payload = code.to_bytes(2, "big") + reason.encode()[:123]
    return bytes([0x88, len(payload)]) + payload


#: a close frame with 1002 (protocol error)
CLOSE_1002 = close_frame(1002)


class GuardedProtocol(asyncio.Protocol):
    """Delegates to the wrapped protocol; enforces the deadlines, the cap and the mask check of a GuardConfig, hands
    WebSocket input on a turn at a time, and hangs up on a client without losing its close frame."""

    def __init__(self, make_inner: Callable[[], asyncio.Protocol], cfg: GuardConfig) -> None:
        self._cfg = cfg
        self._born = time.monotonic()  # the factory runs at accept, before a TLS handshake
        self._refused = cfg.cap is not None and cfg.open >= cfg.cap
        self._inner: asyncio.Protocol | None = None if self._refused else make_inner()
        cfg.open += 1
        self._counted = True
        self._clock = RequestClock()
        self._frames = FrameWatcher(check_mask=cfg.mask_check)
        self._timer: asyncio.TimerHandle | None = None
        self._transport: asyncio.BaseTransport | None = None
        #: input is read and dropped (the server has hung up on this client): nothing more is parsed
        self._discarding = False
        #: WebSocket input read but not yet handed over (more than a SLICE arrived at once); reading is paused meanwhile
        self._backlog = b""
        self._at = 0  # where the backlog's next turn starts
        self._pump_handle: asyncio.Handle | None = None
        self._holding = False  # reading paused by the guard (the backlog), not by the wrapped protocol
        self._lost = False
        self._lost_waiters: list[asyncio.Future[None]] = []

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

    # -- hanging up --------------------------------------------------------
    def discard_input(self) -> None:
        """Read and drop whatever the client sends from now on: the server has decided to end the connection, and a
        client that floods it costs a read per 256 KiB, no parsing."""
        self._discarding = True

    def hang_up(self, farewell: bytes, linger_s: float = LINGER_S) -> None:
        """End the connection so that the client can read ``farewell`` (a close frame) even while it floods.

        Closing a socket whose input was not read makes the kernel reset it, and the reset discards what is still
        unsent (RFC 9293 §3.6, 'abort'): a client that floods would see the connection die without the close frame
        (1006). So the input is dropped instead of parsed, the farewell is followed by a FIN (write_eof; TLS cannot
        half-close), and the socket is closed when the client ends its side, or aborted after ``linger_s``.
        """
        self.discard_input()
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        transport.write(farewell)  # type: ignore[attr-defined]
        self._drop_backlog()
        self._holding = False
        if isinstance(transport, asyncio.ReadTransport):
            # paused by the guard or the parser (its queue full): the client's FIN must be seen
            transport.resume_reading()
        if transport.can_write_eof():  # type: ignore[attr-defined]
            transport.write_eof()  # type: ignore[attr-defined]
        self._arm(linger_s)

    async def wait_closed(self) -> None:
        """Until the connection is gone (a hang-up's linger bounds it)."""
        if not self._lost:
            waiter = asyncio.get_running_loop().create_future()
            self._lost_waiters.append(waiter)
            await waiter

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
        if self._discarding:
            return
        if self._clock.phase is Phase.UPGRADED:
            self._frames_in(data)
            return
        entered, frames = self._clock.feed(data)
        if entered:
            self._arm(self._deadline(entered[-1]))
        if self._refused:
            if self._clock.heads and self._transport is not None and not self._transport.is_closing():
                self._transport.write(REFUSED)  # type: ignore[attr-defined]
                self._transport.close()
            return
        assert self._inner is not None
        if Phase.UPGRADED in entered:  # the upgrade's head ended in this read: the frames after it wait their turn
            self._inner.data_received(data[: len(data) - len(frames)])
            if frames:
                self._frames_in(frames)
            return
        self._inner.data_received(data)

    # -- WebSocket input, a slice per turn ----------------------------------
    def _frames_in(self, data: bytes) -> None:
        self._backlog, self._at = (self._backlog[self._at :] + data if self._backlog else data), 0
        if self._pump_handle is None:
            self._pump()
        elif not self._holding:
            self._hold()  # the wrapped protocol resumed reading while the guard still has input to hand over

    def _hold(self) -> None:
        transport = self._transport
        if isinstance(transport, asyncio.ReadTransport) and not transport.is_closing():
            self._holding = True
            transport.pause_reading()

    def _release(self) -> None:
        if not self._holding:
            return
        self._holding = False
        inner = self._inner
        # aiohttp pauses reading itself while its queues are full (BaseProtocol's two flags): that pause stays
        if getattr(inner, "_reading_paused", False) or getattr(inner, "_buffer_paused", False):
            return
        transport = self._transport
        if isinstance(transport, asyncio.ReadTransport) and not transport.is_closing():
            transport.resume_reading()

    def _pump(self) -> None:
        """Hand the wrapped protocol one turn's input from the backlog; the rest on the next turn of the loop."""
        self._pump_handle = None
        if self._discarding or self._inner is None or self._lost:
            self._drop_backlog()
            self._release()
            return
        at = self._at
        unmasked, used = self._frames.scan(memoryview(self._backlog)[at : at + SLICE], FRAMES_PER_TURN)
        if unmasked:
            self._drop_backlog()
            self.hang_up(CLOSE_1002)
            return
        self._at = at + used
        chunk = self._backlog if used == len(self._backlog) else self._backlog[at : at + used]
        if self._at >= len(self._backlog):
            self._drop_backlog()
        self._inner.data_received(chunk)
        if self._backlog and not self._discarding:
            if not self._holding:
                self._hold()
            self._pump_handle = asyncio.get_running_loop().call_soon(self._pump)
        else:
            self._drop_backlog()
            self._release()

    def _drop_backlog(self) -> None:
        self._backlog, self._at = b"", 0

    def eof_received(self) -> bool | None:
        if self._discarding:
            return None  # the client has read its farewell and left: the transport closes
        return self._inner.eof_received() if self._inner is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        self._arm(None)
        self._lost = True
        self._drop_backlog()
        if self._pump_handle is not None:
            self._pump_handle.cancel()
            self._pump_handle = None
        for waiter in self._lost_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._lost_waiters.clear()
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
