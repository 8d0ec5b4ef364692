"""Good clients beside one flooding attacker: the clients' ping round trips, and what the flooder was told.

Run as ``python benchmarks/flood.py NAME ARGS...`` (a script, so it needs no package on the path), each part in
its own process so that neither the attacker's CPU nor the clients' sits on the server's loop:

``flooder HOST PORT SECONDS KIND``
    one hostile client: it upgrades, then writes masked frames as fast as the socket takes them (``ping``: empty
    ping control frames; ``text``: ``{"type":"ping"}`` messages), never reads what it is sent except to see how
    the server ended the connection, never answers a close, and reconnects at once when the server drops it.
    It prints the connections it made, the frames it wrote and each connection's end: the close code the server
    sent before the TCP connection ended, or 1006 when it ended without one.
``clients URL SECONDS CONNECTIONS RATE``
    ``CONNECTIONS`` sessions each sending the contract's ping ``RATE`` times a second (inside the rate limit), and
    timing each pong; it prints the count, p50 and p99 in milliseconds.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import json
import os
import random
import sys
import time

MASK = b"\x1f\x2e\x3d\x4c"


def masked(opcode: int, payload: bytes) -> bytes:
    """One client frame (FIN set, masked as RFC 6455 §5.3 says a client's are); payloads under 126 bytes."""
    assert len(payload) < 126
    body = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + MASK + body


FRAMES = {"ping": masked(0x9, b""), "text": masked(0x1, b'{"type":"ping"}')}


class Ending:
    """Reads the server's frames only to see how it ends the connection (pure parsing, no answers)."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.frames = 0
        self.close_code: int | None = None

    def feed(self, data: bytes) -> None:
        self.buf += data
        while self.close_code is None:
            b = self.buf
            if len(b) < 2:
                return
            size, at = b[1] & 0x7F, 2
            if size == 126:
                if len(b) < 4:
                    return
                size, at = int.from_bytes(b[2:4], "big"), 4
            elif size == 127:
                if len(b) < 10:
                    return
                size, at = int.from_bytes(b[2:10], "big"), 10
            if len(b) < at + size:
                return
            self.frames += 1
            if b[0] & 0x0F == 0x8:
                self.close_code = int.from_bytes(b[at : at + 2], "big") if size >= 2 else 1005
            del b[: at + size]


async def flood_once(host: str, port: int, kind: str, deadline: float, out: dict) -> None:
    """One connection of the flooder, until the server ends it (or the deadline)."""
    loop = asyncio.get_running_loop()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5.0)
    except (OSError, TimeoutError):
        out["connect_failed"] += 1
        await asyncio.sleep(0.05)
        return
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5.0)
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            out["refused"] += 1
            await asyncio.sleep(0.05)
            return
        out["connections"] += 1
        ending = Ending()
        ended = loop.create_future()

        async def read() -> None:
            try:
                while True:
                    data = await reader.read(65536)
                    if not data:
                        break
                    ending.feed(data)
            except OSError:
                pass
            if not ended.done():
                ended.set_result(None)

        reading = loop.create_task(read())
        n = 16384 // len(FRAMES[kind])
        batch = FRAMES[kind] * n
        try:
            while not ended.done() and loop.time() < deadline:
                writer.write(batch)
                out["frames_written"] += n
                await asyncio.wait_for(writer.drain(), max(0.01, deadline - loop.time()))
        except (OSError, TimeoutError):
            pass
        try:
            await asyncio.wait_for(asyncio.shield(ended), max(0.0, deadline - loop.time()))
        except TimeoutError:
            out["held_at_deadline"] += 1
            return
        finally:
            reading.cancel()
        out["ends"][str(ending.close_code or 1006)] += 1
        out["frames_read"] += ending.frames
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        out["ends"]["error"] += 1
    finally:
        writer.close()


async def flooder(host: str, port: int, seconds: float, kind: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    out: dict = {
        "kind": kind,
        "connections": 0,
        "refused": 0,
        "connect_failed": 0,
        "held_at_deadline": 0,
        "frames_written": 0,
        "frames_read": 0,
        "ends": collections.Counter(),
    }
    while loop.time() < deadline:
        await flood_once(host, port, kind, deadline, out)
    out["frames_written_per_s"] = out["frames_written"] / seconds
    print(json.dumps(out), flush=True)


def percentile(sorted_ms: list[float], q: float) -> float | None:
    """The nearest-rank percentile of sorted values (None when there are none)."""
    if not sorted_ms:
        return None
    return sorted_ms[min(len(sorted_ms) - 1, max(0, round(q * len(sorted_ms) + 0.5) - 1))]


async def clients(url: str, seconds: float, n: int, rate: float) -> None:
    from websockets.asyncio.client import connect

    rtts: list[float] = []
    lost = 0

    async def one(i: int) -> None:
        nonlocal lost
        async with connect(url, compression=None, ping_interval=None, open_timeout=10) as ws:
            await ws.recv()  # the first frame
            await ws.send(
                json.dumps({"type": "ping", "id": f"c{i}-warm"})
            )  # untimed: the server's first answer of a type
            while json.loads(await ws.recv()).get("id") != f"c{i}-warm":
                pass
            await asyncio.sleep(random.uniform(0, 1 / rate))  # spread the sessions over a period
            end = time.perf_counter() + seconds
            seq = 0
            while time.perf_counter() < end:
                seq += 1
                tag = f"c{i}-{seq}"
                t0 = time.perf_counter()
                await ws.send(json.dumps({"type": "ping", "id": tag}))
                try:
                    async with asyncio.timeout(5.0):
                        while True:
                            f = json.loads(await ws.recv())
                            if f.get("type") == "pong" and f.get("id") == tag:
                                break
                    rtts.append((time.perf_counter() - t0) * 1000)
                except TimeoutError:
                    lost += 1
                await asyncio.sleep(max(0.0, 1 / rate - (time.perf_counter() - t0)))

    await asyncio.gather(*(one(i) for i in range(n)))
    a = sorted(rtts)
    print(
        json.dumps(
            {
                "round_trips": len(a),
                "lost": lost,
                "p50_ms": percentile(a, 0.5),
                "p99_ms": percentile(a, 0.99),
                "max_ms": a[-1] if a else None,
            }
        ),
        flush=True,
    )


def main(argv: list[str]) -> None:
    name, args = argv[0], argv[1:]
    if name == "flooder":
        asyncio.run(flooder(args[0], int(args[1]), float(args[2]), args[3]))
    elif name == "clients":
        asyncio.run(clients(args[0], float(args[1]), int(args[2]), float(args[3])))
    else:
        raise SystemExit(f"unknown part {name!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
