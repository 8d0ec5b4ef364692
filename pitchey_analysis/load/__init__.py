"""Load at scale: many connections from several processes, on one machine or a Dask cluster.

The work is split into shards (one per worker process); each shard runs its
connections with picows on uvloop (about 4–5× cheaper per round trip than
websockets) and hands on raw samples, so percentiles are exact. Three models:

* ``open``: every connection sends at a fixed rate and latency is counted from
  the *scheduled* send time, so a slow server cannot slow the measurement down
  (no coordinated omission);
* ``closed``: each connection sends its next request when the previous answer arrives;
* ``hold``: connections open, stay idle for the duration, then each must answer
  a request ("held" = open for the whole duration and answering at the end); the
  final requests go out at ``connect_rate``, like the opening, each with
  ``answer_timeout`` from its own send.

What is sent and how answers are known come from the contract (:mod:`.plan`):
the closed and hold models' request is its round trip (``ping`` when declared),
ids follow its id rule, answers are matched by correlation id where it declares
one (else by kind), and a session waits for a first frame, authenticates in its
first message or subscribes only as the contract says.

One job per module::

    options.py      what a run is asked to do: the user's choices as one frozen LoadPlan, checked and recorded once
    spec.py         what a shard is asked to do and what it hands back (plain data)
    plan.py         what the shards send and how they read frames, made from the contract in the parent
    engine.py       the shard engine: picows connections on uvloop, no Dask
    orchestrate.py  Dask: shards on a local cluster or a scheduler, results gathered
    progress.py     the live progress line
    capture.py      writing a load run into a run dataset
    runner.py       a load run from typed options: checks, logins, the embedded target, the capture, its summary
"""

from __future__ import annotations

import os
import sys

from .._lazy import lazy_exports

#: public names and their modules, imported on first use: a shard process imports only the engine
_EXPORTS = {
    "Level": "options",
    "LoadPlan": "options",
    "LoadResult": "orchestrate",
    "ShardResult": "spec",
    "ShardSpec": "spec",
    "record_levels": "capture",
    "record_load": "capture",
    "run_load": "orchestrate",
    "run_shard": "engine",
    "split": "orchestrate",
}

__all__ = sorted([*_EXPORTS, "use_system_allocator"])

#: Arrow's documented switch of the allocator behind its default memory pool, read once, when pyarrow loads
ARROW_POOL_ENV = "ARROW_DEFAULT_MEMORY_POOL"


def use_system_allocator() -> bool:
    """Make Arrow allocate from the C heap (malloc) in this process, unless the user chose otherwise; call it first.

    The load process imports pyarrow only when the load has ended (the shards and the sample stream use
    nanoarrow, which allocates with malloc), to consolidate the stream into Parquet batch by batch and to
    summarize the run. pyarrow's default allocator, mimalloc, keeps what it frees: when pyarrow still
    encoded every chunk while the load ran, that was about 15 MB more resident memory in
    ``load --workers 0`` for a few hundred KB live (peak RSS 107 MB with mimalloc, 82 MB with malloc);
    malloc reuses and returns those pages. Arrow reads :data:`ARROW_POOL_ENV` once, when pyarrow is
    first imported, so this sets it (``setdefault``: an explicit choice in the environment wins) and works
    only before that import. Child processes inherit it. Returns whether Arrow uses (or will use) malloc.
    """
    if "pyarrow" in sys.modules:
        import pyarrow as pa

        backend: str = pa.default_memory_pool().backend_name
        return backend == "system"
    return os.environ.setdefault(ARROW_POOL_ENV, "system") == "system"


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
