"""A connection timed stage by stage: TCP, TLS, upgrade, first frame.

Built on the websockets Sans-I/O protocol core (``ClientProtocol``) over
asyncio streams, so each stage is a separate await that can be timed without
guessing where the library's own connect spends its time.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from .invariants import SessionTrace
from .session import parse_frame


@dataclass
class ConnectTiming:
    """Stage times in milliseconds (None where a stage did not apply or did not finish)."""

    tcp_connect_ms: float | None = None
    tls_handshake_ms: float | None = None
    ws_upgrade_ms: float | None = None
    first_frame_ms: float | None = None
    connect_ms: float | None = None  # start to the first frame
    first_frame: dict[str, Any] | None = None
    tls_version: str | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    #: frames after the first one, within the settle window
    later_frames: list[dict[str, Any]] = field(default_factory=list)
    #: (code, reason, ms after the first frame) when the target closed within the settle window
    closed: tuple[int, str, float] | None = None

    def stages(self) -> dict[str, float | None]:
        """The measured stages by metric name."""
        return {
            "tcp_connect_ms": self.tcp_connect_ms,
            "tls_handshake_ms": self.tls_handshake_ms,
            "ws_upgrade_ms": self.ws_upgrade_ms,
            "first_frame_ms": self.first_frame_ms,
            "connect_ms": self.connect_ms,
        }


async def timed_connect(
    url: str,
    *,
    ssl_context: ssl.SSLContext | None,
    timeout: float,
    headers: dict[str, str] | None = None,
    settle_s: float = 0.0,
    observe: Callable[[SessionTrace], None] | None = None,
    await_first: bool = True,
    subprotocols: list[str] | None = None,
) -> ConnectTiming:
    """Connect, time every stage, read the first frame, watch ``settle_s`` more, then close with 1000.

    A close by the target within the settle window is noted in ``closed``
    (a session closed right after its first frame is not a working session).

    ``observe`` gets what was read (the first frame, or a close frame that came
    instead) for the session invariants; the rest of the session is not read.

    Raises the same exceptions as a websockets client would (OSError,
    ssl.SSLError, InvalidStatus, TimeoutError), for :func:`classify`.
    """
    uri = parse_uri(url)
    timing = ConnectTiming()
    deadline = time.perf_counter() + timeout

    def left() -> float:
        return max(0.001, deadline - time.perf_counter())

    t0 = time.perf_counter()
    reader, writer = await asyncio.wait_for(asyncio.open_connection(uri.host, uri.port), left())
    try:
        t1 = time.perf_counter()
        timing.tcp_connect_ms = (t1 - t0) * 1000
        if uri.secure:
            await asyncio.wait_for(
                writer.start_tls(ssl_context or ssl.create_default_context(), server_hostname=uri.host), left()
            )
            t2 = time.perf_counter()
            timing.tls_handshake_ms = (t2 - t1) * 1000
            sslobj = writer.get_extra_info("ssl_object")
            timing.tls_version = sslobj.version() if sslobj else None
            t1 = t2
        proto = ClientProtocol(
            uri, max_size=2**20, subprotocols=[Subprotocol(p) for p in subprotocols] if subprotocols else None
        )
        request = proto.connect()
        for k, v in (headers or {}).items():
            request.headers[k] = v
        request.headers["User-Agent"] = "pitchey-analysis"
        proto.send_request(request)
        writer.write(b"".join(proto.data_to_send()))
        got_response = False
        while timing.first_frame is None and not (got_response and not await_first):
            data = await asyncio.wait_for(reader.read(65536), left())
            if not data:
                proto.receive_eof()
            else:
                proto.receive_data(data)
            for event in proto.events_received():
                now = time.perf_counter()
                if isinstance(event, Response):
                    got_response = True
                    timing.ws_upgrade_ms = (now - t1) * 1000
                    timing.response_headers = dict(Headers(event.headers).raw_items())
                    t1 = now
                    if proto.handshake_exc is not None:
                        raise proto.handshake_exc
                    if not await_first:  # the contract declares no first frame: the upgrade is the connect
                        timing.connect_ms = (now - t0) * 1000
                        break
                elif not isinstance(event, Frame):  # a client is never handed a Request
                    continue
                elif event.opcode is Opcode.TEXT:
                    timing.first_frame_ms = (now - t1) * 1000
                    timing.connect_ms = (now - t0) * 1000
                    try:
                        timing.first_frame = json.loads(bytes(event.data).decode())
                    except ValueError:
                        timing.first_frame = {"type": "invalid"}
                    if observe is not None:
                        text = bytes(event.data).decode("utf-8", "replace")
                        observe(SessionTrace(frames=[(timing.first_frame_ms, parse_frame(text))], complete=False))
                    break
                elif event.opcode is Opcode.CLOSE:
                    if observe is not None:
                        code = int.from_bytes(event.data[:2], "big") if len(event.data) >= 2 else None
                        observe(SessionTrace(close_received=True, close_code=code, complete=False))
                    raise ConnectionResetError(f"closed before the first frame ({event.data[:2].hex()})")
            if not data:
                if not got_response and proto.handshake_exc is not None:
                    raise proto.handshake_exc
                raise ConnectionResetError("connection ended before the first frame")
        if settle_s > 0:
            await _watch(reader, proto, timing, settle_s)
        if timing.closed is None:
            proto.send_close(1000)
            writer.write(b"".join(proto.data_to_send()))
        return timing
    except InvalidStatus:
        raise
    finally:
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), 1.0)
        except (TimeoutError, OSError, ssl.SSLError):
            pass


async def _watch(reader: asyncio.StreamReader, proto: ClientProtocol, timing: ConnectTiming, settle_s: float) -> None:
    """Read for ``settle_s`` after the first frame; note later frames and a close by the target."""
    t0 = time.perf_counter()
    end = t0 + settle_s
    while True:
        left = end - time.perf_counter()
        if left <= 0:
            return
        try:
            data = await asyncio.wait_for(reader.read(65536), left)
        except TimeoutError:
            return
        except (OSError, ssl.SSLError):
            data = b""
        if not data:
            proto.receive_eof()
        else:
            proto.receive_data(data)
        for event in proto.events_received():
            if not isinstance(event, Frame):  # after the handshake only frames arrive
                continue
            if event.opcode is Opcode.CLOSE:
                rcvd = proto.close_rcvd
                timing.closed = (
                    rcvd.code if rcvd else 1005,
                    rcvd.reason if rcvd else "",
                    (time.perf_counter() - t0) * 1000,
                )
                return
            if event.opcode is Opcode.TEXT:
                try:
                    timing.later_frames.append(json.loads(bytes(event.data).decode()))
                except ValueError:
                    timing.later_frames.append({"type": "invalid"})
        if not data:
            timing.closed = (1006, "", (time.perf_counter() - t0) * 1000)
            return
