"""Load at scale: many connections from several processes, on one machine or a Dask cluster.

The work is split into shards (one per worker process); each shard runs its
connections with picows on uvloop (about 4–5× cheaper per round trip than
websockets) and returns raw samples, so percentiles are exact. Three models:

* ``open``: every connection sends at a fixed rate and latency is counted from
  the *scheduled* send time, so a slow server cannot slow the measurement down
  (no coordinated omission);
* ``closed``: each connection sends its next ping when the previous pong arrives;
* ``hold``: connections open, stay idle for the duration, then each must answer
  a ping ("held" = open for the whole duration and answering at the end).

Shards publish live progress (open connections, messages, errors) through a
Dask ``Pub`` topic; the results are gathered into one run dataset.
"""

from __future__ import annotations

import asyncio
import collections
import json
import math
import os
import random
import socket
import ssl
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

TOPIC = "pitchey-load-progress"


@dataclass
class ShardSpec:
    """What one shard does."""

    url: str
    connections: int
    duration_s: float
    model: str = "open"  # open | closed | hold
    rate_per_conn: float = 1.0  # open model: messages per second per connection
    message_bytes: int = 100
    source_addresses: tuple[str, ...] = ()
    connect_rate: float = 2000.0  # new connections per second in this shard
    shard: int = 0
    run_start: float = 0.0  # epoch seconds of the run's start
    seed: int = 0
    handshake_timeout: float = 10.0
    answer_timeout: float = 10.0
    max_samples: int = 5_000_000
    subscribe: str | None = None  # a channel to subscribe to after 'connected' (fan-out measurements)
    await_first_frame: bool = True  # Pitchey sends 'connected' first; a plain echo target sends nothing
    cafile: str | None = None  # CA certificate for wss:// targets
    insecure: bool = False  # do not verify certificates (recorded by the caller)


@dataclass
class ShardResult:
    """Raw samples and counts of one shard (numpy arrays travel cheaply between processes)."""

    shard: int
    host: str
    pid: int
    connections: int = 0  # connections asked of this shard (its conn_index runs 0..connections-1)
    metric: list[str] = field(default_factory=list)
    value_ms: np.ndarray | None = None
    t_offset_s: np.ndarray | None = None
    conn_index: np.ndarray | None = None
    ok: np.ndarray | None = None
    opened: int = 0
    max_open: int = 0
    held: int = 0
    sent: int = 0
    answered: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    close_codes: dict[int, int] = field(default_factory=dict)
    cpu_s: float = 0.0
    wall_s: float = 0.0
    peak_rss_mb: float = 0.0
    push_arrivals: list[float] = field(default_factory=list)  # epoch seconds of pushed frames (first per connection)


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


@dataclass
class LoadResult:
    """Everything gathered from the shards."""

    shards: list[ShardResult]
    wall_s: float

    @property
    def opened(self) -> int:
        return sum(s.opened for s in self.shards)

    @property
    def held(self) -> int:
        return sum(s.held for s in self.shards)

    @property
    def answered(self) -> int:
        return sum(s.answered for s in self.shards)

    def rtt(self) -> np.ndarray:
        """All successful round trips (ms)."""
        parts = [s.value_ms[(np.asarray(s.metric) == "rtt_ms") & s.ok] for s in self.shards if s.value_ms is not None and s.value_ms.size]
        return np.concatenate(parts) if parts else np.array([])

    def errors(self) -> dict[str, int]:
        """Error counts summed over shards."""
        out: collections.Counter = collections.Counter()
        for s in self.shards:
            out.update(s.errors)
        return dict(out)


def split(total: int, parts: int) -> list[int]:
    """``total`` connections over ``parts`` shards as evenly as possible (pure)."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def run_load(url: str, *, connections: int, duration_s: float, model: str = "open", rate_per_conn: float = 1.0,
             workers: int = 2, scheduler: str | None = None, source_addresses: tuple[str, ...] = (),
             message_bytes: int = 100, connect_rate: float = 2000.0, progress: bool = True, seed: int = 0,
             subscribe: str | None = None, during: Any = None, await_first_frame: bool = True,
             cafile: str | None = None, insecure: bool = False) -> LoadResult:
    """Run the shards on a Dask cluster (a local one unless ``scheduler`` is given) and gather the results.

    ``during``, if given, is called (in this process) while the shards run, e.g. to trigger a broadcast.
    Shards with several ``source_addresses`` each take one address (round robin) so that one machine can
    open more connections than one source address has ports.
    """
    from distributed import Client, LocalCluster

    run_start = time.time()
    counts = split(connections, workers)
    def addresses(i: int) -> tuple[str, ...]:
        if len(source_addresses) >= workers:
            return tuple(a for j, a in enumerate(source_addresses) if j % workers == i)
        return source_addresses

    specs = [ShardSpec(url=url, connections=n, duration_s=duration_s, model=model, rate_per_conn=rate_per_conn,
                       message_bytes=message_bytes, source_addresses=addresses(i), connect_rate=connect_rate / workers,
                       shard=i, run_start=run_start, seed=seed, subscribe=subscribe, await_first_frame=await_first_frame,
                       cafile=cafile, insecure=insecure)
             for i, n in enumerate(counts) if n > 0]
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=len(specs), threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None, silence_logs=50)
    client = Client(scheduler or cluster)
    try:
        t0 = time.perf_counter()
        futures = client.map(run_shard, specs, pure=False)
        if during is not None:
            during()
        if progress:
            _show_progress(client, futures, len(specs), connections)
        results = client.gather(futures)
        return LoadResult(list(results), time.perf_counter() - t0)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _show_progress(client: Any, futures: list, shards: int, total: int) -> None:
    from distributed import Variable
    from tqdm.auto import tqdm

    variables = [Variable(f"{TOPIC}-{i}", client=client) for i in range(shards)]
    latest: dict[int, dict] = {}
    for i, v in enumerate(variables):  # set before polling: an unset Variable makes the scheduler log errors
        v.set({"shard": i, "open": 0, "sent": 0, "answered": 0, "errors": 0})
    bar = tqdm(total=len(futures), desc="shards", unit="shard", file=sys.stderr, leave=False)
    last_sent, last_t = 0, time.perf_counter()
    while not all(f.done() for f in futures):
        time.sleep(0.5)
        for i, v in enumerate(variables):
            try:
                latest[i] = v.get(timeout=0.05)
            except Exception:
                pass
        now = time.perf_counter()
        sent = sum(m["sent"] for m in latest.values())
        rate = (sent - last_sent) / max(1e-6, now - last_t)
        if now - last_t > 0.5:
            last_sent, last_t = sent, now
            bar.set_postfix_str(f"open {sum(m['open'] for m in latest.values())}/{total}  msg/s {rate:,.0f}  "
                                f"errors {sum(m['errors'] for m in latest.values())}")
        bar.n = sum(1 for f in futures if f.done())
        bar.refresh()
    bar.close()


def record_load(result: LoadResult, out: Path, manifest: dict[str, Any], probe_name: str = "load.run") -> Path:
    """Write the gathered samples of one load run into a run dataset."""
    from .recorder import Recorder, utc_now_iso

    rec = Recorder(out, manifest)
    _record_result(rec, result, f"{probe_name}#1-{os.urandom(2).hex()}", probe_name, result.opened, utc_now_iso())
    return rec.close("complete")


def run_load_cli(a: Any) -> int:
    """The ``load`` command: one level, or a ramp over ``--levels``; one run dataset."""
    from .analysis import percentiles
    from .config import runs_dir
    from .server import ReferenceServer
    from .suite import check_target

    model = "hold" if a.hold else ("closed" if a.rate == 0 else "open")
    levels = list(a.levels) if a.levels else [a.connections]

    def go(url: str) -> list[tuple[int, LoadResult]]:
        out = []
        for level in levels:
            print(f"level {level}: {model} model for {a.duration:g} s", file=sys.stderr)
            out.append((level, run_load(url, connections=level, duration_s=a.duration, model=model, rate_per_conn=a.rate or 1.0,
                                        workers=a.workers, scheduler=a.scheduler, progress=True, cafile=a.cafile,
                                        insecure=a.insecure)))
        return out

    if a.target:
        check_target(a.target)
        target, results = a.target, go(a.target)
    else:
        with ReferenceServer(disable=["rate_limit"]) as srv:  # the embedded target: no rate limit for load
            target, results = srv.ws_url, go(srv.ws_url)
    manifest = {"target": {"ws_url": target, "embedded": not a.target, "tls": target.startswith("wss")},
                "suite": {"name": "load", "version": "1"},
                "config": {"levels": levels, "duration_s": a.duration, "model": model, "rate_per_conn": a.rate,
                           "workers": a.workers, "scheduler": a.scheduler, "cafile": a.cafile, "insecure": a.insecure}}
    path = record_levels(results, Path(a.out) if a.out else runs_dir(), manifest)
    for level, result in results:
        rtt = result.rtt()
        line = f"level {level}: opened {result.opened}/{level}"
        if model == "hold":
            line += f", held {result.held}"
        if rtt.size:
            p = percentiles(rtt, (0.5, 0.99))
            line += f", {rtt.size} round trips, p50 {p[0.5].estimate:.3f} ms, p99 {p[0.99].estimate:.3f} ms"
        errors = result.errors()
        print(line + (f", errors {errors}" if errors else ", no errors"))
    print(f"run dataset: {path}")
    return 0


def record_levels(results: list[tuple[int, LoadResult]], out: Path, manifest: dict[str, Any]) -> Path:
    """One run dataset for a ramp: one probe record per level, samples tagged with the level."""
    from .recorder import Recorder, utc_now_iso

    rec = Recorder(out, manifest)
    for level, result in results:
        probe_id = f"load.level_{level}#1-{os.urandom(2).hex()}"
        _record_result(rec, result, probe_id, f"load.level_{level}", level, utc_now_iso())
    return rec.close("complete")


def _record_result(rec: Any, result: LoadResult, probe_id: str, name: str, concurrency: int, started: str) -> None:
    rec.probe_started(probe_id, name, "performance")
    offset = 0
    for s in result.shards:
        if s.value_ms is not None:
            for m, v, t, c, ok in zip(s.metric, s.value_ms, s.t_offset_s, s.conn_index, s.ok, strict=True):
                rec.sample({"probe_id": probe_id, "metric": m, "value_ms": None if not ok or math.isnan(v) else float(v),
                            "t_offset_s": float(t), "concurrency": concurrency, "conn_index": int(c) + offset, "ok": bool(ok)})
        offset += s.connections
    errors = result.errors()
    rec.probe({"probe_id": probe_id, "category": "performance", "probe": name, "attempt": 1, "started_at": started,
               "duration_ms": result.wall_s * 1000, "outcome": "pass" if not errors else "fail",
               "reason": "ok" if not errors else max(errors, key=errors.get),
               "detail": f"{result.opened} connections opened over {len(result.shards)} shards",
               "expected": "every connection opens and every message is answered", "critical": False,
               "observed": json.dumps({"opened": result.opened, "held": result.held, "answered": result.answered, "errors": errors,
                                       "shards": [{"shard": s.shard, "host": s.host, "pid": s.pid, "opened": s.opened,
                                                   "answered": s.answered} for s in result.shards]})})


__all__ = ["LoadResult", "ShardResult", "ShardSpec", "record_levels", "record_load", "run_load", "run_shard", "split"]
