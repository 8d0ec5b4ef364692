"""A misbehaving loopback WebSocket server, scripted per test.

It does the RFC 6455 handshake by hand (§4.2.2) and then runs a behaviour:
send garbage, close with a given code, never answer, flood, and so on. It
serves a tiny HTTP side too, so the suite can run against it whole.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import struct
from collections.abc import Awaitable, Callable

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def frame(opcode: int, payload: bytes) -> bytes:
    """An unmasked server frame (RFC 6455 §5.2)."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + payload


def text(obj: object) -> bytes:
    """A text frame holding JSON (or raw text)."""
    return frame(0x1, (obj if isinstance(obj, str) else json.dumps(obj)).encode())


def close(code: int, reason: str = "") -> bytes:
    """A close frame."""
    return frame(0x8, struct.pack("!H", code) + reason.encode())


CONNECTED = {
    "type": "connected",
    "authenticated": False,
    "user": None,
    "sessionId": "x",
    "timestamp": 1,
    "capabilities": ["public_pitches", "browsing"],
}


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Read one masked client frame."""
    b1, b2 = await reader.readexactly(2)
    n = b2 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    mask = await reader.readexactly(4)
    data = bytearray(await reader.readexactly(n))
    for i in range(n):
        data[i] ^= mask[i % 4]
    return b1 & 0x0F, bytes(data)


async def connected_then_silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A behaviour: 'connected', then nothing: messages are read and never answered; a close is answered with 1000."""
    writer.write(text(CONNECTED))
    await writer.drain()
    while True:
        op, _ = await read_frame(reader)
        if op == 0x8:
            writer.write(close(1000))
            return


class BadServer:
    jwt_secret = None
    ca_file = None

    """``async with BadServer(behaviour, status=101) as b: b.ws_url``."""

    def __init__(
        self,
        behaviour: Behaviour | None = None,
        *,
        status: int = 101,
        upgrade: str = "full",
        http_status: int | None = 500,
    ) -> None:
        self.behaviour = behaviour
        self.status = status
        self.http_status = http_status  # the answer to plain HTTP requests; None: never answer anything
        self.upgrade = upgrade  # full | never | half
        self.server: asyncio.AbstractServer | None = None
        self.tasks: set[asyncio.Task] = set()
        self.writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> BadServer:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws"
        self.http_url = f"http://127.0.0.1:{self.port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for w in self.writers:
            w.close()
        for t in list(self.tasks):
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        self.writers.append(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
            if self.http_status is None:
                await asyncio.sleep(3600)  # silent: answers nothing at all
            if "upgrade" not in headers:
                body = b'{"success":false,"error":"misbehaving test server"}'
                writer.write(
                    f"HTTP/1.1 {self.http_status} Nope\r\nContent-Type: application/json\r\nContent-Length: ".encode()
                    + str(len(body)).encode()
                    + b"\r\nConnection: close\r\n\r\n"
                    + body
                )
                await writer.drain()
                return
            if self.upgrade == "never":
                await asyncio.sleep(3600)
            if self.status != 101:
                writer.write(f"HTTP/1.1 {self.status} Nope\r\nContent-Length: 0\r\n\r\n".encode())
                await writer.drain()
                return
            accept = base64.b64encode(hashlib.sha1((headers["sec-websocket-key"] + GUID).encode()).digest()).decode()
            resp = (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
                f"Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            )
            if self.upgrade == "half":
                writer.write(resp[:40].encode())
                await writer.drain()
                await asyncio.sleep(3600)
            writer.write(resp.encode())
            await writer.drain()
            if self.behaviour:
                await self.behaviour(reader, writer)
            else:
                await asyncio.sleep(3600)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            self.tasks.discard(task)
