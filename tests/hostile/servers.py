"""Hostile servers for the hostile-input tests: raw asyncio on loopback port 0, each stopped by its context manager.

Each speaks just enough HTTP and WebSocket (RFC 6455 §4.2.2 handshake, §5.2 framing) to be a target the tool
connects to, then misbehaves one way: floods pings or frames without reading, sends terminal escape sequences and
a close reason that is not UTF-8, answers a malformed status line, redirects to ``file://`` or to itself, echoes a
login's password back JSON-escaped, redirects a login to another origin, or goes silent. Every loop is bounded in
count or time, and every connection ends with the server.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import struct
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3

#: what a behaviour gets: the reader, the writer, the request line and headers (lower-case names), the server
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, str, dict[str, str], "HostileServer"], Awaitable[None]]


def frame(opcode: int, payload: bytes) -> bytes:
    """A server frame (unmasked, FIN set)."""
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([n])
    elif n < 1 << 16:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    return head + payload


def text(obj: Any) -> bytes:
    return frame(0x1, (obj if isinstance(obj, str) else json.dumps(obj)).encode())


async def upgrade(writer: asyncio.StreamWriter, headers: dict[str, str]) -> None:
    key = headers.get("sec-websocket-key", "")
    accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
    writer.write(
        (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
        ).encode()
    )
    await writer.drain()


def http_answer(status: str, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    hdrs = {"Content-Length": str(len(body)), "Connection": "close", **(headers or {})}
    return (f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n").encode() + body


class HostileServer:
    """A server on 127.0.0.1:<free port> in a thread of its own (so that a CLI in a subprocess or in this process
    can reach it), running ``handler`` for every connection; ``requests`` notes each request line and body."""

    def __init__(self, handler: Handler, *, stop_after_s: float = 60.0) -> None:
        self.handler, self.stop_after_s = handler, stop_after_s
        self.port = 0
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.state: dict[str, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="hostile-server")

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        tasks: set[asyncio.Task[None]] = set()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            tasks.add(asyncio.current_task())  # type: ignore[arg-type]
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                lines = head.decode("latin-1").split("\r\n")
                headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
                body = b""
                if int(headers.get("content-length", "0") or 0):
                    body = await reader.readexactly(int(headers["content-length"]))
                self.requests.append((lines[0], headers, body))
                await self.handler(reader, writer, lines[0], headers, self)
            except (
                OSError,
                asyncio.IncompleteReadError,
                asyncio.LimitOverrunError,
                TimeoutError,
                asyncio.CancelledError,
            ):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), self.stop_after_s)
        server.close()
        for t in list(tasks):
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def __enter__(self) -> HostileServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


@contextlib.contextmanager
def hostile(handler: Handler, **kw: Any) -> Iterator[HostileServer]:
    with HostileServer(handler, **kw) as srv:
        yield srv


# -- behaviours --------------------------------------------------------------------------------------------------

CONNECTED = {
    "type": "connected",
    "authenticated": False,
    "user": None,
    "sessionId": "s",
    "timestamp": 0,
    "capabilities": ["public_pitches", "browsing"],
}


async def ping_flood(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: str, headers: dict[str, str], srv: HostileServer
) -> None:
    """'connected', then pings of 125 bytes as fast as the socket takes them, never reading (our pongs pile up)."""
    await upgrade(writer, headers)
    writer.write(text(CONNECTED))
    ping = frame(0x9, b"p" * 125)
    for _ in range(2_000_000):  # bounded: ~250 MB at most, far more than a bounded client keeps
        writer.write(ping * 64)
        await writer.drain()


async def frame_flood(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: str, headers: dict[str, str], srv: HostileServer
) -> None:
    """'connected', then JSON frames (each a pong-shaped answer and a push) as fast as the socket takes them."""
    await upgrade(writer, headers)
    writer.write(text(CONNECTED))
    burst = b"".join(
        text({"type": t, "id": i, "timestamp": 1, "pad": "x" * 200})
        for i, t in enumerate(("pong", "dashboard_update") * 32)
    )
    drain = asyncio.ensure_future(_drain(reader))
    try:
        for _ in range(200_000):
            writer.write(burst)
            await writer.drain()
    finally:
        drain.cancel()


async def _drain(reader: asyncio.StreamReader) -> None:
    with contextlib.suppress(Exception):
        while await reader.read(1 << 16):
            pass


#: what a terminal would act on: clear screen, set the window title, a carriage return, a bidi override, C1 CSI
ESCAPES = "\x1b[2J\x1b]0;pwned\x07\rOVERWRITE\u202eevil\x9b31m"


async def escapes(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: str, headers: dict[str, str], srv: HostileServer
) -> None:
    """'connected' with escapes in a field, a text frame of escapes, then a close whose reason is not UTF-8."""
    await upgrade(writer, headers)
    writer.write(text({**CONNECTED, "sessionId": ESCAPES}))
    writer.write(text(ESCAPES))
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.write(frame(0x8, struct.pack("!H", 1000) + b"\xff\xfe\x1b[2J"))
    await writer.drain()
    await asyncio.sleep(0.5)


async def bad_status(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: str, headers: dict[str, str], srv: HostileServer
) -> None:
    """A status line that is not HTTP."""
    writer.write(b"HTTP/1.1 ABC \x1b[2Jnonsense\r\n\r\n")
    await writer.drain()


async def redirect_file(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: str, headers: dict[str, str], srv: HostileServer
) -> None:
    writer.write(http_answer("302 Found", headers={"Location": "file:///etc/passwd"}))
    await writer.drain()


async def redirect_loop(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: str, headers: dict[str, str], srv: HostileServer
) -> None:
    writer.write(http_answer("302 Found", headers={"Location": line.split()[1]}))
    await writer.drain()


async def endless_headers(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: str, headers: dict[str, str], srv: HostileServer
) -> None:
    """A 101 status line, then header lines for ever (bounded here: 100 MB)."""
    writer.write(b"HTTP/1.1 101 Switching Protocols\r\n")
    for _ in range(100_000):
        writer.write(b"X-A: " + b"a" * 1000 + b"\r\n")
        await writer.drain()


async def silent(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: str, headers: dict[str, str], srv: HostileServer
) -> None:
    """The upgrade, 'connected', then nothing ever again (reads and drops)."""
    await upgrade(writer, headers)
    writer.write(text(CONNECTED))
    await writer.drain()
    await _drain(reader)


async def answers_nothing(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: str, headers: dict[str, str], srv: HostileServer
) -> None:
    """Takes the request and never answers it: no upgrade, no HTTP status (reads and drops)."""
    await _drain(reader)


def echo_login(reply: Callable[[dict[str, Any]], bytes]) -> Handler:
    """An HTTP login that answers ``reply(body)`` (e.g. the password echoed, escaped); a WebSocket upgrade is
    answered with 'connected' and then ``reply`` of the last login as a frame (the password echoed in a frame)."""

    async def handler(
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        line: str,
        headers: dict[str, str],
        srv: HostileServer,
    ) -> None:
        if headers.get("upgrade", "").lower() == "websocket":
            await upgrade(writer, headers)
            writer.write(text(CONNECTED))
            writer.write(frame(0x1, reply(srv.state.get("login", {}))))
            await writer.drain()
            await _drain(reader)
            return
        body = srv.requests[-1][2]
        try:
            obj = json.loads(body) if body else {}
        except ValueError:
            obj = {}
        if isinstance(obj, dict) and "password" in obj:
            srv.state["login"] = obj
        writer.write(http_answer("200 OK", reply(obj), {"Content-Type": "application/json"}))
        await writer.drain()

    return handler


def redirect_to(location: Callable[[HostileServer], str], status: str = "307 Temporary Redirect") -> Handler:
    """Every HTTP request redirected (a 307 keeps the method and the body: RFC 9110 §15.4.8)."""

    async def handler(
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        line: str,
        headers: dict[str, str],
        srv: HostileServer,
    ) -> None:
        writer.write(http_answer(status, headers={"Location": location(srv)}))
        await writer.drain()

    return handler


def body_bomb(kind: str) -> Handler:
    """Every HTTP request answered 200 with a body far larger than any answer: ``gzip`` a gzip bomb (256 MiB of
    zeros in ~256 kB), ``length`` a 5 GB Content-Length streamed, ``chunked`` an endless chunked body (each bounded
    here); a WebSocket upgrade is answered as ``silent`` does."""
    import gzip
    import io

    bomb = b""
    if kind == "gzip":
        buf = io.BytesIO()
        with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9) as g:
            for _ in range(256):
                g.write(b"\0" * (1 << 20))
        bomb = buf.getvalue()

    async def handler(
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        line: str,
        headers: dict[str, str],
        srv: HostileServer,
    ) -> None:
        if headers.get("upgrade", "").lower() == "websocket":
            await silent(reader, writer, line, headers, srv)
            return
        if kind == "gzip":
            writer.write(http_answer("200 OK", bomb, {"Content-Type": "application/json", "Content-Encoding": "gzip"}))
            await writer.drain()
            return
        framing = "Content-Length: 5000000000" if kind == "length" else "Transfer-Encoding: chunked"
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{framing}\r\n\r\n".encode())
        chunk = b" " * (1 << 20)
        if kind == "chunked":
            chunk = b"100000\r\n" + chunk + b"\r\n"
        for _ in range(4096):  # bounded: 4 GB at most
            writer.write(chunk)
            await writer.drain()

    handler.__name__ = f"body_bomb_{kind}"
    return handler
