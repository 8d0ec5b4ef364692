"""Stand-alone benchmark processes: echo servers and strict ping-pong clients.

Run as ``python benchmarks/workloads.py NAME ARGS...`` (a script, so it needs no package on the path); clients
print one JSON line with their figures. ``measure`` runs a command as a child
and reports the child's own CPU time and peak memory.
"""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

PAYLOAD = b'{"type":"ping","id":"0000000000","pad":"' + b"x" * 56 + b'"}'  # 100 bytes


def tagged(seq: int) -> bytes:
    """The payload with a sequence number in its id, so that only the echo of the outstanding message counts."""
    return b'{"type":"ping","id":"%010d","pad":"' % seq + b"x" * 56 + b'"}'


_CPU0 = [0.0]


def _start() -> float:
    """Mark the start of the measured loop (CPU time is counted from here)."""
    _CPU0[0] = time.process_time()
    return time.perf_counter()


def _figures(rtts_ns: list[int], elapsed: float) -> dict:
    cpu = time.process_time() - _CPU0[0]
    a = sorted(x / 1e6 for x in rtts_ns)  # no numpy here: peak memory is the client's own
    n = len(a)

    def pct(q: float) -> float | None:
        return a[min(n - 1, int(q * (n - 1) + 0.5))] if n else None

    return {
        "round_trips": n,
        "round_trips_per_s": n / elapsed if elapsed else 0.0,
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
        "loop_cpu_s": cpu,
        "cpu_s_per_10k": cpu / n * 1e4 if n else None,
        "client_us_per_rt": cpu / n * 1e6 if n else None,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


# -- raw TCP echo (the physical reference) -----------------------------------
async def tcp_echo_server(port: int) -> None:
    class Echo(asyncio.Protocol):
        def connection_made(self, transport):
            self.t = transport

        def data_received(self, data: bytes) -> None:
            self.t.write(data)

    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, "127.0.0.1", port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


async def tcp_echo_client(port: int, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    rtts: list[int] = []

    class Client(asyncio.Protocol):
        def connection_made(self, transport):
            self.t, self.buf = transport, 0
            self.end = time.perf_counter() + seconds
            self.t0 = time.perf_counter_ns()
            transport.write(PAYLOAD)

        def data_received(self, data: bytes) -> None:
            self.buf += len(data)
            if self.buf < len(PAYLOAD):
                return
            self.buf = 0
            now = time.perf_counter_ns()
            rtts.append(now - self.t0)
            if time.perf_counter() >= self.end:
                done.set_result(None)
                self.t.close()
                return
            self.t0 = now
            self.t.write(PAYLOAD)

    t = _start()
    await loop.create_connection(Client, "127.0.0.1", port)
    await done
    print(json.dumps(_figures(rtts, time.perf_counter() - t)), flush=True)


# -- WebSocket echo server with picows (the plain echo target) -----------------
async def picows_echo_server(port: int, host: str = "127.0.0.1", reuse_port: bool = False) -> None:
    """Echo every text/binary frame.

    ``reuse_port``: one of several processes on the same port (SO_REUSEPORT) for very many
    connections on a busy machine, with a listen backlog of 4096 (asyncio's default, 100,
    overflows when the process is starved while thousands connect) and 30 s for the upgrade
    request (picows' default, 5 s, closes connections it accepted but had no time to read).
    """
    from picows import WSListener, WSMsgType, ws_create_server

    class Echo(WSListener):
        def on_ws_frame(self, transport, frame):
            if frame.msg_type == WSMsgType.CLOSE:
                code = frame.get_close_code()
                # RFC 6455 §7.4.1: 1005/1006 are never sent on the wire; answer a bare close with 1000
                transport.send_close(1000 if code in (0, 1005, 1006) or code < 1000 else code)
                transport.disconnect()
            elif frame.msg_type in (WSMsgType.TEXT, WSMsgType.BINARY):
                transport.send(frame.msg_type, frame.get_payload_as_bytes())

    # a listen queue of 4,096 (the kernel's somaxconn here), not asyncio's 100: at thousands of opens a second a
    # short queue drops SYNs, and the clients' retransmissions (1 s, 3 s) would be charged to whoever opens
    many: dict[str, Any] = {"reuse_port": True, "websocket_handshake_timeout": 30} if reuse_port else {}
    server = await ws_create_server(lambda _req: Echo(), host, port, backlog=4096, **many)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


# -- strict ping-pong WebSocket clients ------------------------------------------
async def picows_client(url: str, seconds: float, first_frame: bool) -> None:
    """The load engine's client path (picows), one connection, strict ping-pong."""
    from picows import WSListener, WSMsgType, ws_connect

    loop = asyncio.get_running_loop()
    done = loop.create_future()
    rtts: list[int] = []

    text = WSMsgType.TEXT

    class C(WSListener):
        # one clock read a round trip, as the raw TCP client: the answer's arrival is the next send's start
        def on_ws_connected(self, transport):
            self.t = transport
            self.end = time.perf_counter_ns() + int(seconds * 1e9)
            self.waiting_first = first_frame
            if not first_frame:
                self.t0 = time.perf_counter_ns()
                transport.send(text, PAYLOAD)

        def on_ws_frame(self, transport, frame):
            now = time.perf_counter_ns()
            if frame.msg_type != text:
                return
            if self.waiting_first:  # the reference server's 'connected' frame
                self.waiting_first = False
            else:
                rtts.append(now - self.t0)
                if now >= self.end:
                    if not done.done():
                        done.set_result(None)
                    return
            self.t0 = now
            transport.send(text, PAYLOAD)

    t = _start()
    transport, _ = await ws_connect(C, url, **_transports(ws_connect))
    await done
    transport.send_close()
    transport.disconnect()
    print(json.dumps(_figures(rtts, time.perf_counter() - t)), flush=True)


async def picows_bare(url: str, seconds: float) -> None:
    """The floor of strict ping-pong with picows: a listener that only sends the next message (no timing, no samples).

    What any picows client reaches against the same WebSocket echo server: the gap between it and the raw TCP echo
    is WebSocket framing on both ends, not a client's own work. Counts round trips; its rate is its only figure.
    """
    from picows import WSListener, WSMsgType, ws_connect

    loop = asyncio.get_running_loop()
    done = loop.create_future()
    text = WSMsgType.TEXT
    end = 0.0

    class C(WSListener):
        n = 0

        def on_ws_connected(self, transport):
            transport.send(text, PAYLOAD)

        def on_ws_frame(self, transport, frame):
            self.n += 1
            if self.n & 1023 == 0 and time.perf_counter() >= end:  # the clock read once in 1,024 round trips
                if not done.done():
                    done.set_result(self.n)
                return
            transport.send(text, PAYLOAD)

    t = _start()
    end = t + seconds
    transport, _ = await ws_connect(C, url, **_transports(ws_connect))
    n = await done
    elapsed = time.perf_counter() - t
    fig = _figures([], elapsed)
    fig.update(
        round_trips=n,
        round_trips_per_s=n / elapsed,
        client_us_per_rt=fig["loop_cpu_s"] / n * 1e6,
        cpu_s_per_10k=fig["loop_cpu_s"] / n * 1e4,
    )
    transport.disconnect()
    print(json.dumps(fig), flush=True)


def _transports(ws_connect) -> dict:
    """The load engine's choice: uvloop's own transports where picows would use aiofastnet's."""
    import inspect

    return {"use_aiofastnet": False} if "use_aiofastnet" in inspect.signature(ws_connect).parameters else {}


async def picows_opener(url: str, n: int, batch: int, sources: list[str]) -> None:
    """The floor of opening with picows: ``n`` bare ``ws_connect`` calls, ``batch`` at a time, held until all are open.

    No engine around them (no samples, no listener state, no schedule): the open rate any picows client could reach
    against the same target on the same machine. uvloop's own transports and the collector's threshold, as the load
    engine uses; with ``sources``,
    each connection bound to the next source address as the engine binds them (the port left to ``connect``).
    """
    import gc
    import os
    import socket

    from picows import WSListener, ws_connect

    kw = _transports(ws_connect)
    gc.set_threshold(50_000, *gc.get_threshold()[1:])  # the engine's collector setting while a shard runs

    def bound(addr: str):
        def make(_parsed):
            s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.IPPROTO_IP, getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24), 1)
            s.bind((addr, 0))
            return s

        return make

    factories = [bound(a) for a in sources]

    def connect(i: int):
        extra = {"socket_factory": factories[i % len(factories)]} if factories else {}
        return ws_connect(WSListener, url, **kw, **extra)

    held, failed = [], 0
    t0, r0 = time.perf_counter(), os.times()
    for start in range(0, n, batch):
        for res in await asyncio.gather(
            *(connect(start + i) for i in range(min(batch, n - start))), return_exceptions=True
        ):
            if isinstance(res, BaseException):
                failed += 1
            else:
                held.append(res[0])
    elapsed, r1 = time.perf_counter() - t0, os.times()
    cpu = (r1.user - r0.user) + (r1.system - r0.system)
    print(
        json.dumps(
            {
                "opened": len(held),
                "failed": failed,
                "open_s": elapsed,
                "opens_per_s": len(held) / elapsed,
                "cpu_s": cpu,
                "cpu_us_per_open": cpu / max(1, len(held)) * 1e6,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        ),
        flush=True,
    )
    for t in held:
        t.disconnect()


async def websockets_client(url: str, seconds: float, first_frame: bool) -> None:
    from websockets.asyncio.client import connect

    rtts: list[int] = []
    async with connect(url, compression=None, ping_interval=None) as ws:
        if first_frame:
            await ws.recv()
        t = _start()
        end = t + seconds
        seq = 0
        while time.perf_counter() < end:
            seq += 1
            text = tagged(seq).decode()
            t0 = time.perf_counter_ns()
            await ws.send(text)
            while f'"{seq:010d}"' not in await ws.recv():
                pass  # not the answer to this message
            rtts.append(time.perf_counter_ns() - t0)
    print(json.dumps(_figures(rtts, time.perf_counter() - t)), flush=True)


def measure(cmd: list[str], timeout: float, watch: bool = False) -> dict:
    """Run ``cmd`` as a child; its stdout's last JSON line plus its whole-process CPU seconds, peak RSS and wall time.

    Call it in a fresh process: RUSAGE_CHILDREN covers every child this process
    has waited for (the CPU of earlier ones is subtracted; their peak RSS cannot
    be, so keep them small). With ``watch``, the child's sockets are sampled five
    times a second and their remote addresses reported.
    """
    import tempfile

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    remote: set[str] = set()
    with tempfile.TemporaryFile("w+") as out_f, tempfile.TemporaryFile("w+") as err_f:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out_f, stderr=err_f, text=True)
        proc = None
        if watch:
            import psutil

            proc = psutil.Process(p.pid)
        end = t0 + timeout
        while p.poll() is None:
            if time.perf_counter() > end:
                p.kill()
                p.wait()
                break
            if proc is not None:
                try:
                    remote.update(c.raddr.ip for c in proc.net_connections(kind="inet") if c.raddr)
                except Exception:  # the child may exit between poll() and the read of its sockets
                    pass
            time.sleep(0.2 if watch else 0.02)
        wall = time.perf_counter() - t0
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        out_f.seek(0)
        err_f.seek(0)
        stdout, stderr = out_f.read(), err_f.read()
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    out = json.loads(lines[-1]) if lines else {}
    out.setdefault("peak_rss_mb", ru.ru_maxrss / 1024)
    out.update(
        returncode=p.returncode,
        wall_s=wall,
        process_cpu_s=(ru.ru_utime + ru.ru_stime) - (before.ru_utime + before.ru_stime),
    )
    if watch:
        out["remote_addresses"] = sorted(remote)
    if p.returncode != 0:
        out["stderr"] = stderr[-800:]
    return out


def isolated(timeout: float, lo_up: bool, cmd: list[str]) -> dict:
    """Start a picows echo server here, then measure ``cmd`` against it (``PITCHEY_BENCH_URL``), sockets watched.

    Run under ``unshare --net`` with ``lo_up``: the namespace is new, so loopback is
    brought up first and it is the only interface there is.
    """
    import os
    import socket

    if lo_up:
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, __file__, "picows-echo-server", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        if "ready" not in (server.stdout.readline() if server.stdout else ""):
            raise SystemExit("echo server did not start")
        os.environ["PITCHEY_BENCH_URL"] = f"ws://127.0.0.1:{port}/"
        out = measure(cmd, timeout, watch=True)
    finally:
        server.send_signal(2)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
    out["interfaces"] = [name for _, name in socket.if_nameindex()]
    return out


def main(argv: list[str]) -> None:
    name, args = argv[0], argv[1:]
    if name == "measure":  # measure.py TIMEOUT CMD...: run in a fresh process so RUSAGE_CHILDREN is only this child
        print(json.dumps(measure(args[1:], float(args[0]))), flush=True)
        return
    if name == "isolated":  # isolated TIMEOUT LO_UP -- CMD...
        print(json.dumps(isolated(float(args[0]), args[1] == "1", args[3:])), flush=True)
        return
    run: Callable[[Coroutine[Any, Any, None]], None]
    try:
        import uvloop

        run = uvloop.run
    except ImportError:
        run = asyncio.run
    if name == "tcp-echo-server":
        run(tcp_echo_server(int(args[0])))
    elif name == "tcp-echo-client":
        run(tcp_echo_client(int(args[0]), float(args[1])))
    elif name == "picows-echo-server":
        # picows-echo-server PORT [HOST [reuse]]
        run(picows_echo_server(int(args[0]), args[1] if len(args) > 1 else "127.0.0.1", args[2:3] == ["reuse"]))
    elif name == "picows-client":
        run(picows_client(args[0], float(args[1]), args[2] == "1"))
    elif name == "picows-bare":
        run(picows_bare(args[0], float(args[1])))
    elif name == "picows-opener":  # picows-opener URL N BATCH [SOURCE,SOURCE...]
        run(
            picows_opener(
                args[0], int(args[1]), int(args[2]), [a for a in (args[3] if len(args) > 3 else "").split(",") if a]
            )
        )
    elif name == "websockets-client":
        run(websockets_client(args[0], float(args[1]), args[2] == "1"))
    else:
        raise SystemExit(f"unknown workload {name!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
