"""The shard engine: one process's connections, with picows on uvloop (no Dask here)."""

from __future__ import annotations

import asyncio
import collections
import json
import math
import os
import random
import socket
import ssl
import time
from typing import Any

import numpy as np

from .spec import TOPIC, ShardResult, ShardSpec


class _Samples:
    """Append-only sample columns for one shard."""

    def __init__(self, cap: int) -> None:
        self.metric: list[int] = []  # 0 connect_ms, 1 rtt_ms
        self.value: list[float] = []
        self.t: list[float] = []
        self.conn: list[int] = []
        self.ok: list[bool] = []
        self.cap = cap

    def add(self, metric: int, value: float, t: float, conn: int, ok: bool) -> None:
        if len(self.value) < self.cap:
            self.metric.append(metric)
            self.value.append(value)
            self.t.append(t)
            self.conn.append(conn)
            self.ok.append(ok)


def _payload(mid: int, size: int) -> bytes:
    base = f'{{"type":"ping","id":"{mid}","pad":"'
    return (base + "x" * max(0, size - len(base) - 2) + '"}').encode()


async def _run_shard(spec: ShardSpec) -> ShardResult:
    from picows import WSListener, WSMsgType, ws_connect

    rng = random.Random(spec.seed + spec.shard)
    res = ShardResult(spec.shard, socket.gethostname(), os.getpid(), spec.connections)
    samples = _Samples(spec.max_samples)
    epoch0, perf0 = time.time(), time.perf_counter()

    def offset(perf: float) -> float:
        return epoch0 + (perf - perf0) - spec.run_start

    pending: dict[int, tuple[float, int]] = {}  # message id -> (scheduled perf time, conn index)
    counters = collections.Counter()
    closes: collections.Counter = collections.Counter()
    open_now = 0
    waiters: dict[int, asyncio.Future] = {}
    ids = iter(range(spec.shard * 10**12, (spec.shard + 1) * 10**12))

    class Listener(WSListener):
        def __init__(self, index: int) -> None:
            self.index = index
            self.pushed = False
            self.stage = 0  # 0: before 'connected', 1: subscribing, 2: ready
            self.connected = asyncio.get_running_loop().create_future()

        def on_ws_connected(self, transport: Any) -> None:
            nonlocal open_now
            open_now += 1
            res.max_open = max(res.max_open, open_now)
            if not spec.await_first_frame:
                self.stage = 2
                self.connected.set_result(time.perf_counter())

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            now = time.perf_counter()
            if frame.msg_type == WSMsgType.TEXT:
                data = frame.get_payload_as_bytes()
                if self.stage == 0:  # the first frame ('connected')
                    if spec.subscribe:
                        transport.send(WSMsgType.TEXT, json.dumps({"type": "subscribe", "channel": spec.subscribe}).encode())
                        self.stage = 1
                    else:
                        self.stage = 2
                        self.connected.set_result(now)
                    return
                if self.stage == 1:  # waiting for the subscription to be confirmed
                    if b"subscription_confirmed" in data:
                        self.stage = 2
                        self.connected.set_result(now)
                    return
                if spec.subscribe and b'"id"' not in data:  # a push: note when the first one arrived
                    if not self.pushed:
                        self.pushed = True
                        res.push_arrivals.append(epoch0 + (now - perf0))
                    return
                try:
                    mid = int(json.loads(data).get("id", -1))
                except (ValueError, TypeError, AttributeError):
                    return
                entry = pending.pop(mid, None)
                if entry is None:
                    return
                scheduled, conn = entry
                counters["answered"] += 1
                samples.add(1, (now - scheduled) * 1000.0, offset(scheduled), conn, True)
                fut = waiters.pop(mid, None)
                if fut is not None and not fut.done():
                    fut.set_result(now)
            elif frame.msg_type == WSMsgType.CLOSE:
                code = frame.get_close_code()
                closes[code] += 1
                transport.send_close(1000 if code in (0, 1005, 1006) or code < 1000 else code)  # RFC 6455 §7.4.1
                transport.disconnect()

        def on_ws_disconnected(self, transport: Any) -> None:
            nonlocal open_now
            open_now -= 1
            if not self.connected.done():
                self.connected.set_exception(ConnectionError("closed before 'connected'"))

    loop = asyncio.get_running_loop()
    tls_context = ssl.create_default_context(cafile=spec.cafile) if spec.cafile else ssl.create_default_context()
    if spec.insecure:
        tls_context.check_hostname = False
        tls_context.verify_mode = ssl.CERT_NONE
    transports: list[Any] = [None] * spec.connections
    listeners: list[Any] = [None] * spec.connections

    def socket_factory(index: int):  # one of several loopback source addresses: beyond ~28k ports each
        if not spec.source_addresses:
            return None
        addr = spec.source_addresses[index % len(spec.source_addresses)]

        def make(parsed: Any) -> socket.socket:
            family = socket.AF_INET6 if ":" in addr else socket.AF_INET
            s = socket.socket(family, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setblocking(False)
            s.bind((addr, 0))
            return s

        async def connect(parsed: Any) -> socket.socket:
            s = make(parsed)
            await loop.sock_connect(s, (parsed.host, parsed.port))
            return s

        return connect

    async def open_one(i: int) -> None:
        t0 = time.perf_counter()
        try:
            factory = socket_factory(i)
            kw: dict[str, Any] = {"websocket_handshake_timeout": spec.handshake_timeout}
            if factory is not None:
                kw["socket_factory"] = factory
            if spec.url.startswith("wss"):
                kw["ssl_context"] = tls_context
            transport, listener = await ws_connect(lambda: Listener(i), spec.url, **kw)
            await asyncio.wait_for(listener.connected, spec.answer_timeout)
            transports[i], listeners[i] = transport, listener
            res.opened += 1
            samples.add(0, (time.perf_counter() - t0) * 1000.0, offset(t0), i, True)
        except Exception as exc:
            counters[f"connect:{type(exc).__name__}"] += 1
            samples.add(0, math.nan, offset(t0), i, False)

    async def ping(i: int, scheduled: float, wait: bool) -> bool:
        t = transports[i]
        if t is None or t.is_disconnected:
            counters["send_on_closed"] += 1
            samples.add(1, math.nan, offset(scheduled), i, False)
            return False
        mid = next(ids)
        pending[mid] = (scheduled, i)
        counters["sent"] += 1
        fut = loop.create_future() if wait else None
        if fut is not None:
            waiters[mid] = fut
        t.send(WSMsgType.TEXT, _payload(mid, spec.message_bytes))
        if fut is None:
            return True
        try:
            await asyncio.wait_for(fut, spec.answer_timeout)
            return True
        except TimeoutError:
            pending.pop(mid, None)
            waiters.pop(mid, None)
            counters["timeout"] += 1
            samples.add(1, math.nan, offset(scheduled), i, False)
            return False

    async def publish_progress(stop: asyncio.Event) -> None:
        # A Dask Variable per shard; set from a helper thread, since this loop is not the worker's.
        try:
            from distributed import Variable, get_worker

            get_worker()
            var = Variable(f"{TOPIC}-{spec.shard}")
        except (ImportError, ValueError):
            return
        while not stop.is_set():
            state = {"shard": spec.shard, "open": open_now, "sent": counters["sent"], "answered": counters["answered"],
                     "errors": sum(v for k, v in counters.items() if k not in ("sent", "answered"))}
            try:
                await loop.run_in_executor(None, var.set, state)
            except Exception:
                return
            try:
                await asyncio.wait_for(stop.wait(), 0.5)
            except TimeoutError:
                pass

    stop = asyncio.Event()
    progress = loop.create_task(publish_progress(stop))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    # Open at connect_rate, in batches so the event loop is never flooded.
    batch = max(1, int(spec.connect_rate / 20))
    for start in range(0, spec.connections, batch):
        t_batch = time.perf_counter()
        await asyncio.gather(*(open_one(i) for i in range(start, min(start + batch, spec.connections))))
        delay = batch / spec.connect_rate - (time.perf_counter() - t_batch)
        if delay > 0:
            await asyncio.sleep(delay)
    t_start = time.perf_counter()
    end = t_start + spec.duration_s
    if spec.model == "open":
        interval = 1.0 / spec.rate_per_conn

        async def sender(i: int) -> None:
            nxt = t_start + rng.random() * interval
            while nxt < end:
                delay = nxt - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                await ping(i, nxt, wait=False)
                nxt += interval

        await asyncio.gather(*(sender(i) for i in range(spec.connections) if transports[i] is not None))
        await asyncio.sleep(min(spec.answer_timeout, 2.0))
        for _mid, (scheduled, conn) in list(pending.items()):
            counters["timeout"] += 1
            samples.add(1, math.nan, offset(scheduled), conn, False)
        pending.clear()
    elif spec.model == "closed":
        async def looper(i: int) -> None:
            while time.perf_counter() < end:
                if not await ping(i, time.perf_counter(), wait=True):
                    return

        await asyncio.gather(*(looper(i) for i in range(spec.connections) if transports[i] is not None))
    elif spec.model == "hold":
        await asyncio.sleep(max(0.0, end - time.perf_counter()))
        results = await asyncio.gather(*(ping(i, time.perf_counter(), wait=True) for i in range(spec.connections)))
        res.held = sum(1 for i, r in enumerate(results) if r and transports[i] is not None and not transports[i].is_disconnected)
    else:
        raise ValueError(f"unknown model {spec.model!r}")
    res.wall_s = time.perf_counter() - wall0
    res.cpu_s = time.process_time() - cpu0
    stop.set()
    await progress
    for t in transports:
        if t is not None:
            t.send_close()
            t.disconnect()
    await asyncio.sleep(0.2)
    res.sent, res.answered = counters["sent"], counters["answered"]
    res.errors = {k: v for k, v in counters.items() if k not in ("sent", "answered")}
    res.close_codes = dict(closes)
    names = ("connect_ms", "rtt_ms")
    res.metric = [names[m] for m in samples.metric]
    res.value_ms = np.asarray(samples.value, dtype="float64")
    res.t_offset_s = np.asarray(samples.t, dtype="float64")
    res.conn_index = np.asarray(samples.conn, dtype="int64")
    res.ok = np.asarray(samples.ok, dtype=bool)
    import resource

    res.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return res


def run_shard(spec: ShardSpec) -> ShardResult:
    """Run one shard in this process (uvloop when available)."""
    try:
        import uvloop

        return uvloop.run(_run_shard(spec))
    except ImportError:
        return asyncio.run(_run_shard(spec))
