"""Dask orchestration: shards on a local cluster or on ``--scheduler tcp://...``, samples streamed back.

Each shard hands its chunks to a Dask ``Queue`` (held by the scheduler) at least
every ``flush_s``; this process drains the queue every 0.2 s and passes each
message to ``on_message`` (the capture appends it to the run dataset at once).
A queue rather than files in the run directory, because on a real cluster the
workers do not share the run directory's disk; rather than pub/sub, because a
queue keeps what arrives before anyone reads it and loses nothing on a slow reader.
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..exceptions import SchedulerUnreachable as SchedulerUnreachable  # re-exported (defined under the root)
from ..exceptions import UsageError
from .engine import attach_samples, run_shard
from .progress import Progress
from .spec import ShardResult, ShardSpec, UserSpec

if TYPE_CHECKING:  # numpy is imported where it is used: the process that runs the load imports none while it does
    import numpy as np

    from ..contract import Contract


def check_scheduler(address: str, timeout_s: float = 3.0) -> None:
    """Raise :class:`SchedulerUnreachable` unless a Dask scheduler answers at ``address`` within ``timeout_s``."""
    from distributed import Client

    try:
        Client(address, timeout=timeout_s).close()
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        raise SchedulerUnreachable(f"cannot reach the Dask scheduler {address!r}: {type(exc).__name__}: {exc}") from None


def _shard_task(spec: ShardSpec, queue_name: str | None) -> ShardResult:
    """Run in a Dask worker: one shard whose messages go to the named queue."""
    sink = None
    if queue_name:
        from distributed import Queue

        queue = Queue(queue_name)

        async def sink(msg: dict[str, Any]) -> None:
            await asyncio.get_running_loop().run_in_executor(None, queue.put, msg)

    return run_shard(spec, sink)


def _run_inline(spec: ShardSpec, take: Callable[[dict[str, Any]], None], during: Any) -> ShardResult:
    """One shard in a thread of this process; its messages pass through a local queue to ``take`` here."""
    import queue
    import threading

    messages: queue.Queue[dict[str, Any]] = queue.Queue()
    out: list[ShardResult | BaseException] = []

    async def sink(msg: dict[str, Any]) -> None:
        messages.put(msg)

    def work() -> None:
        try:
            out.append(run_shard(spec, sink))
        except BaseException as exc:  # handed to the caller below
            out.append(exc)

    thread = threading.Thread(target=work, name=f"load-shard-{spec.shard}", daemon=True)
    thread.start()
    if during is not None:
        during()
    while True:
        finished = not thread.is_alive()
        while True:
            try:
                take(messages.get_nowait())
            except queue.Empty:
                break
        if finished:
            break
        time.sleep(0.1)
    if isinstance(out[0], BaseException):
        raise out[0]
    return out[0]


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

    @property
    def sent(self) -> int:
        return sum(s.sent for s in self.shards)

    @property
    def samples(self) -> int:
        return sum(s.samples for s in self.shards)

    def rtt(self) -> np.ndarray:
        """All successful round trips of ping (ms), when the samples were kept in memory."""
        import numpy as np

        parts = [s.value_ms[(np.asarray(s.metric) == "rtt_ms") & s.ok] for s in self.shards if s.value_ms is not None and s.value_ms.size]
        return np.concatenate(parts) if parts else np.array([])

    def errors(self) -> dict[str, int]:
        """Error counts summed over shards."""
        out: collections.Counter[str] = collections.Counter()
        for s in self.shards:
            out.update(s.errors)
        return dict(out)

    def error_examples(self) -> dict[str, str]:
        """The first message of each error kind (over shards, tokens masked)."""
        out: dict[str, str] = {}
        for s in self.shards:
            for k, v in s.error_examples.items():
                out.setdefault(k, v)
        return out

    def close_codes(self) -> dict[str, int]:
        """Closes the target initiated, per "code reason", summed over shards."""
        out: collections.Counter[str] = collections.Counter()
        for s in self.shards:
            out.update(s.close_codes)
        return dict(out)

    def generator(self) -> dict[str, int]:
        """Sends made late and sends not made (dropped), summed over shards."""
        return {"late": sum(s.late for s in self.shards), "dropped": sum(s.dropped for s in self.shards)}


def split(total: int, parts: int) -> list[int]:
    """``total`` connections over ``parts`` shards as evenly as possible (pure)."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def _keep(results: list[ShardResult], kept: dict[int, list[bytes]], health: dict[int, list[dict[str, Any]]]) -> None:
    for r in results:
        r.health = health.get(r.shard, [])
        attach_samples(r, kept.get(r.shard, []))


def source_address_problem(url: str, addresses: tuple[str, ...]) -> str | None:
    """What is wrong with the source addresses for ``url``, in one line, or None.

    Each must be an IP address (``bind`` would resolve a name once per connection) of the target's family when the
    target's host is an address (an IPv4 source cannot reach an IPv6 target, nor the other way round).
    """
    try:
        target = ipaddress.ip_address((urlsplit(url).hostname or "").strip("[]"))
    except ValueError:
        target = None  # a host name: its family is known only once resolved
    for a in addresses:
        try:
            ip = ipaddress.ip_address(a)
        except ValueError:
            return f"source address {a!r} is not an IP address"
        if target is not None and ip.version != target.version:
            return f"source address {a} is IPv{ip.version} but the target {target} is IPv{target.version}"
    return None


def run_load(url: str, *, connections: int, duration_s: float, model: str = "open", rate_per_conn: float = 1.0,
             workers: int = 2, scheduler: str | None = None, source_addresses: tuple[str, ...] = (),
             message_bytes: int = 100, connect_rate: float = 2000.0, progress: bool = True, seed: int = 0,
             subscribe: str | None = None, during: Any = None, await_first_frame: bool | None = None,
             cafile: str | None = None, insecure: bool = False, users: tuple[UserSpec, ...] = (),
             run_start: float | None = None, on_message: Callable[[dict[str, Any]], None] | None = None,
             keep_samples: bool | None = None, connect_timeout_s: float = 5.0, pin_workers: bool = False,
             stages: tuple[tuple[int, float], ...] = (), probe_id: str = "", contract: Contract | None = None,
             **shard_options: Any) -> LoadResult:
    """Run the shards on a Dask cluster (a local one unless ``scheduler`` is given) and gather the results.

    ``during``, if given, is called (in this process) while the shards run, e.g. to trigger a broadcast.
    ``workers=0`` runs one shard in a thread of this process, without Dask. ``pin_workers`` puts shard ``i``
    on the scheduler's ``i``-th worker (by address), one each. ``stages`` ((connections, seconds), ...) make the
    open model a continuous ramp: connections join and leave at the stage bounds (``connections`` is then the
    largest stage, ``duration_s`` ignored). What the connections send, and how they read the target's frames, is made
    here from ``contract`` (Pitchey's when None; see :mod:`.plan`), so the shards get plain data.
    The run's connections take the ``source_addresses`` in turn (connection ``k`` the ``k``-th modulo their
    number, over all shards, so each address carries an equal share) so that one machine can open more
    connections than one source address has ports, and open them faster (see ``--source-address``). ``on_message`` receives every message a
    shard hands on (a chunk of samples and a generator window, see :mod:`.engine`) as it arrives; the
    samples carry ``probe_id``, the level (``connections``) as their concurrency and the run's connection index;
    ``keep_samples`` (default: when there is no ``on_message``) also joins the chunks into the results.
    """
    problem = source_address_problem(url, tuple(source_addresses))
    if problem:
        raise UsageError(problem)
    run_start = time.time() if run_start is None else run_start
    keep = on_message is None if keep_samples is None else keep_samples
    inline = workers == 0  # one shard in a thread of this process, no Dask (tests, small runs)
    workers = max(1, workers)
    counts = split(connections, workers)

    base = ShardSpec(url=url, connections=0, duration_s=duration_s, model=model, rate_per_conn=rate_per_conn,
                     message_bytes=message_bytes, connect_rate=connect_rate / workers, run_start=run_start, seed=seed,
                     subscribe=subscribe, await_first_frame=await_first_frame, cafile=cafile, insecure=insecure, users=users,
                     probe_id=probe_id, concurrency=connections, **shard_options)
    from .plan import complete  # the contract is read here, in the parent; a worker imports this module without it

    base = complete(base, contract)
    specs = [replace(base, connections=n, source_addresses=tuple(source_addresses), shard=i, conn_offset=sum(counts[:i]),
                     stages=tuple((split(k, workers)[i], d) for k, d in stages))
             for i, n in enumerate(counts) if n > 0]
    kept: dict[int, list[bytes]] = collections.defaultdict(list)
    health: dict[int, list[dict[str, Any]]] = collections.defaultdict(list)
    bar = Progress(connections, len(specs)) if progress else None

    def take(msg: dict[str, Any]) -> None:
        if on_message is not None:
            on_message(msg)
        if keep:
            if msg["chunk"] is not None:
                kept[msg["shard"]].append(msg["chunk"])
            health[msg["shard"]].append(msg["health"])
        if bar is not None:
            bar.update(msg["health"])

    if inline:
        try:
            t0 = time.perf_counter()
            results = [_run_inline(specs[0], take, during)]
            if keep:
                _keep(results, kept, health)
            return LoadResult(results, time.perf_counter() - t0)
        finally:
            if bar is not None:
                bar.close()

    from distributed import Client, LocalCluster, Queue

    cluster = None
    if scheduler is None:
        # no dashboard; the scheduler's HTTP routes on a free loopback port (its default, :8787 on every
        # interface, warns when taken and listens beyond loopback)
        import dask

        # workers that spend their CPU on the shard: no statistical profiler (it samples the shard thread's
        # stack every 10 ms), and the system monitor's count of open files (a listing of /proc/<pid>/fd, 10-15 ms
        # with thousands of connections held) every 10 s, not every 0.5 s; neither figure is used
        with dask.config.set({"distributed.worker.profile.enabled": False, "distributed.admin.system-monitor.interval": "10s"}):
            cluster = LocalCluster(n_workers=len(specs), threads_per_worker=1, processes=True, host="127.0.0.1",
                                   dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                   silence_logs=50)
    try:
        client = Client(scheduler or cluster, timeout=connect_timeout_s)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        if cluster is not None:
            cluster.close()
        raise SchedulerUnreachable(f"cannot reach the Dask scheduler {scheduler!r}: {type(exc).__name__}: {exc}") from None
    try:
        queue_name = f"pitchey-load-{uuid.uuid4().hex}"
        queue = Queue(queue_name, client=client)
        t0 = time.perf_counter()
        if pin_workers:  # one shard per worker, in address order (e.g. so that every host gets its share)
            names = sorted(client.scheduler_info()["workers"])
            if len(names) < len(specs):
                raise SchedulerUnreachable(f"{len(specs)} shards to pin but the scheduler has {len(names)} workers")
            futures = [client.submit(_shard_task, spec, queue_name, workers=[names[i]], allow_other_workers=False, pure=False)
                       for i, spec in enumerate(specs)]
        else:
            futures = client.map(_shard_task, specs, [queue_name] * len(specs), pure=False)
        if during is not None:
            during()
        while True:
            finished = all(f.done() for f in futures)  # checked before draining: a shard puts before it returns
            for msg in queue.get(batch=True):
                take(msg)
            if finished:
                break
            time.sleep(0.2)
        results = list(client.gather(futures))
        if keep:
            _keep(results, kept, health)
        return LoadResult(results, time.perf_counter() - t0)
    finally:
        if bar is not None:
            bar.close()
        client.close()
        if cluster is not None:
            cluster.close()
