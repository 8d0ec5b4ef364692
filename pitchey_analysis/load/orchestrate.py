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
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..exceptions import SchedulerUnreachable as SchedulerUnreachable  # re-exported (defined under the root)
from ..exceptions import UsageError
from .engine import attach_samples, run_shard
from .options import Level, LoadPlan
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
        raise SchedulerUnreachable(
            f"cannot reach the Dask scheduler {address!r}: {type(exc).__name__}: {exc}"
        ) from None


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

        parts = [
            s.value_ms[(np.asarray(s.metric) == "rtt_ms") & s.ok]
            for s in self.shards
            if s.value_ms is not None and s.value_ms.size
        ]
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


def run_load(
    plan: LoadPlan,
    level: Level | None = None,
    *,
    users: tuple[UserSpec, ...] = (),
    progress: bool = True,
    during: Any = None,
    run_start: float | None = None,
    on_message: Callable[[dict[str, Any]], None] | None = None,
    keep_samples: bool | None = None,
    connect_timeout_s: float = 5.0,
    pin_workers: bool = False,
    probe_id: str = "",
    contract: Contract | None = None,
) -> LoadResult:
    """Run one level of ``plan`` (default: its only one) on a Dask cluster (a local one unless the plan names a
    scheduler) and gather the results.

    ``during``, if given, is called (in this process) while the shards run, e.g. to trigger a broadcast.
    A plan of ``workers=0`` runs one shard in a thread of this process, without Dask. ``pin_workers`` puts shard ``i``
    on the scheduler's ``i``-th worker (by address), one each. A level's ``stages`` ((connections, seconds), ...) make
    the open model a continuous ramp: connections join and leave at the stage bounds. The level's rate scale multiplies
    the ``users``' rates (the plan's ``rate_per_conn`` without users). What the connections send, and how they read the
    target's frames, is made here from ``contract`` (Pitchey's when None; see :mod:`.plan`), so the shards get plain
    data.
    The run's connections take the plan's ``source_addresses`` in turn (connection ``k`` the ``k``-th modulo their
    number, over all shards, so each address carries an equal share) so that one machine can open more
    connections than one source address has ports, and open them faster (see ``--source-address``). ``on_message``
    receives every message a
    shard hands on (a chunk of samples and a generator window, see :mod:`.engine`) as it arrives; the
    samples carry ``probe_id``, the level's connections as their concurrency and the run's connection index;
    ``keep_samples`` (default: when there is no ``on_message``) also joins the chunks into the results.
    """
    if level is None:
        levels = plan.schedule()
        if len(levels) != 1:
            raise UsageError(f"the plan has {len(levels)} levels: run_load runs one of them (plan.schedule())")
        level = levels[0]
    run_start = time.time() if run_start is None else run_start
    keep = on_message is None if keep_samples is None else keep_samples
    inline = plan.workers == 0  # one shard in a thread of this process, no Dask (tests, small runs)
    workers = max(1, plan.workers)
    connections, scale = level.connections, level.rate_scale
    counts = split(connections, workers)

    base = ShardSpec(
        url=plan.url,
        connections=0,
        duration_s=level.duration_s,
        model=plan.model,
        rate_per_conn=plan.rate_per_conn * scale,
        message_bytes=plan.message_bytes,
        connect_rate=plan.connect_rate / workers,
        run_start=run_start,
        seed=plan.seed,
        handshake_timeout=plan.handshake_timeout,
        answer_timeout=plan.answer_timeout,
        subscribe=plan.subscribe,
        await_first_frame=plan.await_first_frame,
        ping=plan.ping,
        cafile=plan.cafile,
        insecure=plan.insecure,
        users=tuple(replace(u, rate_per_s=u.rate_per_s * scale) for u in users),
        stage_rates=level.stage_rates,
        flush_s=plan.flush_s,
        lag_probe_s=plan.lag_probe_s,
        late_bound_s=plan.late_bound_s,
        drop_after_s=plan.drop_after_s,
        probe_id=probe_id,
        concurrency=connections,
    )
    from .plan import complete  # the contract is read here, in the parent; a worker imports this module without it

    base = complete(base, contract)
    specs = [
        replace(
            base,
            connections=n,
            source_addresses=plan.source_addresses,
            shard=i,
            conn_offset=sum(counts[:i]),
            stages=tuple((split(k, workers)[i], d) for k, d in level.stages),
        )
        for i, n in enumerate(counts)
        if n > 0
    ]
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
    scheduler = plan.scheduler
    if scheduler is None:
        # no dashboard; the scheduler's HTTP routes on a free loopback port (its default, :8787 on every
        # interface, warns when taken and listens beyond loopback)
        import dask

        # workers that spend their CPU on the shard: no statistical profiler (it samples the shard thread's
        # stack every 10 ms), and the system monitor's count of open files (a listing of /proc/<pid>/fd, 10-15 ms
        # with thousands of connections held) every 10 s, not every 0.5 s; neither figure is used
        with dask.config.set(
            {"distributed.worker.profile.enabled": False, "distributed.admin.system-monitor.interval": "10s"}
        ):
            cluster = LocalCluster(
                n_workers=len(specs),
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                silence_logs=50,
            )
    try:
        client = Client(scheduler or cluster, timeout=connect_timeout_s)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        if cluster is not None:
            cluster.close()
        raise SchedulerUnreachable(
            f"cannot reach the Dask scheduler {scheduler!r}: {type(exc).__name__}: {exc}"
        ) from None
    try:
        queue_name = f"pitchey-load-{uuid.uuid4().hex}"
        queue = Queue(queue_name, client=client)
        t0 = time.perf_counter()
        if pin_workers:  # one shard per worker, in address order (e.g. so that every host gets its share)
            names = sorted(client.scheduler_info()["workers"])
            if len(names) < len(specs):
                raise SchedulerUnreachable(f"{len(specs)} shards to pin but the scheduler has {len(names)} workers")
            futures = [
                client.submit(_shard_task, spec, queue_name, workers=[names[i]], allow_other_workers=False, pure=False)
                for i, spec in enumerate(specs)
            ]
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
