"""Our load engine in the saturation bench, as ``load --workers 0`` runs it: every sample streamed to disk.

Run as ``python benchmarks/ours.py URL CONNECTIONS SECONDS STREAM`` (a whole process, measured like any peer):
one shard in the closed model against a plain echo target, its chunks taken by the same path the ``load``
command uses (:func:`pitchey_analysis.load.run_load` with ``workers=0``: the shard in a thread, its
messages drained by this process's main thread) and appended to an Arrow sample stream, the format of a
run's ``samples.arrows``. Nothing is kept in memory, and neither pyarrow nor numpy is imported (the chunks are made and
appended with
nanoarrow, as in the ``load`` command until its run ends); the process prints its counters as one JSON line.
The bench then reads the stream back in its own process (:func:`stream_figures`), so the figures rest on the
samples that reached the disk, and fails loudly when they do not add up.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def run(url: str, conns: int, seconds: float, stream: Path) -> dict[str, Any]:
    """Run the shard, streaming its samples to ``stream``; its counters."""
    from pitchey_analysis.load import use_system_allocator

    use_system_allocator()  # as the load command does (pyarrow loads only after the load, to consolidate)
    from pitchey_analysis.capture.samplestream import SampleStreamWriter
    from pitchey_analysis.load import LoadPlan, run_load
    from pitchey_analysis.load.spec import ECHO_PING

    writer = SampleStreamWriter(stream)

    def on_message(msg: dict[str, Any]) -> None:
        if msg["chunk"] is not None:
            writer.write(msg["chunk"], msg["rows"])

    try:
        res = run_load(
            LoadPlan(
                url,
                levels=(conns,),
                duration_s=seconds,
                model="closed",
                workers=0,
                await_first_frame=False,
                ping=ECHO_PING,
            ),
            progress=False,
            on_message=on_message,
            keep_samples=False,
            probe_id="bench.saturation#1",
        )
    finally:
        writer.close()
    s = res.shards[0]
    if "pyarrow" in sys.modules or "numpy" in sys.modules:  # the figure would not be the load command's
        raise RuntimeError("pyarrow or numpy was imported by the process generating load")
    return {
        "opened": res.opened,
        "sent": res.sent,
        "answered": res.answered,
        "samples": res.samples,
        "errors": res.errors(),
        "streamed_rows": writer.rows,
        "loop_cpu_s": s.cpu_s,
        "wall_s": s.wall_s,
    }


def stream_figures(counters: dict[str, Any], stream: Path) -> dict[str, Any]:
    """Round trips and percentiles from the samples on disk; ValueError unless every sample is there and they add up."""
    import numpy as np
    import pyarrow as pa

    from pitchey_analysis.capture.samplestream import iter_sample_stream

    batches = list(iter_sample_stream(stream))
    table = pa.Table.from_batches(batches) if batches else None
    rows = table.num_rows if table is not None else 0
    if table is None or rows == 0:
        raise ValueError(f"no sample reached the stream {stream.name} ({counters})")
    if rows != counters["samples"] or rows != counters["streamed_rows"]:
        raise ValueError(f"the engine took {counters['samples']} samples but {rows} are in the stream")
    metric = table.column("metric").to_numpy(zero_copy_only=False)
    ok = table.column("ok").to_numpy(zero_copy_only=False)
    rtt = table.column("value_ms").to_numpy()[(metric == "rtt_ms") & ok]
    if rtt.size == 0 or rtt.size != counters["answered"]:
        raise ValueError(f"{counters['answered']} answers counted but {rtt.size} round-trip samples kept ({counters})")
    return {
        "round_trips": int(rtt.size),
        "round_trips_per_s": rtt.size / counters["wall_s"],
        "p50_ms": float(np.percentile(rtt, 50)),
        "p99_ms": float(np.percentile(rtt, 99)),
        "samples_kept": rows,
    }


if __name__ == "__main__":
    url, conns, seconds, path = sys.argv[1:5]
    print(json.dumps(run(url, int(conns), float(seconds), Path(path))), flush=True)
