"""Load at scale: many connections from several processes, on one machine or a Dask cluster.

The work is split into shards (one per worker process); each shard runs its
connections with picows on uvloop (about 4–5× cheaper per round trip than
websockets) and hands on raw samples, so percentiles are exact. Three models:

* ``open``: every connection sends at a fixed rate and latency is counted from
  the *scheduled* send time, so a slow server cannot slow the measurement down
  (no coordinated omission);
* ``closed``: each connection sends its next ping when the previous pong arrives;
* ``hold``: connections open, stay idle for the duration, then each must answer
  a ping ("held" = open for the whole duration and answering at the end).

One job per module::

    spec.py         what a shard is asked to do and what it hands back (plain data)
    engine.py       the shard engine: picows connections on uvloop, no Dask
    orchestrate.py  Dask: shards on a local cluster or a scheduler, results gathered
    progress.py     the live progress line
    capture.py      writing a load run into a run dataset
    cli.py          the ``load`` command's glue
"""

from __future__ import annotations

from .capture import record_levels, record_load
from .engine import run_shard
from .orchestrate import LoadResult, run_load, split
from .spec import ShardResult, ShardSpec

__all__ = ["LoadResult", "ShardResult", "ShardSpec", "record_levels", "record_load", "run_load", "run_shard", "split"]
