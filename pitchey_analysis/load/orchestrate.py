"""Dask orchestration: shards on a local cluster or on ``--scheduler tcp://...``, results gathered."""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from .engine import run_shard
from .progress import show_progress as _show_progress
from .spec import ShardResult, ShardSpec


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
