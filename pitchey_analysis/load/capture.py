"""Writing a load run into a run dataset, as the run goes.

Probe records, generator windows (``run_event`` ``generator``) and the
target's figures (``run_event`` ``target_stats``) go to ``events.jsonl``
through the :class:`~pitchey_analysis.recorder.Recorder`, flushed at once;
samples go to ``samples.arrows`` chunk by chunk (see
:mod:`pitchey_analysis.samplestream`). Nothing is held back until the end, so a
killed ``load`` leaves a run that ``load_run`` reads up to its last chunk.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..recorder import Recorder, utc_now_iso
from ..samplestream import FILE_SCHEMA, SAMPLE_STREAM, SampleStreamWriter, decode_chunk, tag_chunk
from .orchestrate import LoadResult
from .spec import ShardResult


class LoadCapture:
    """One load run's dataset, appended as the shards' messages arrive."""

    def __init__(self, out: Path, manifest: dict[str, Any], *, secrets_to_mask: tuple[str, ...] = ()) -> None:
        self.rec = Recorder(Path(out), manifest, secrets_to_mask=secrets_to_mask)
        self.run_start = time.time()  # the samples' t_offset_s counts from here
        self.stream = SampleStreamWriter(self.rec.dir / SAMPLE_STREAM)
        self._lock = threading.Lock()
        self.probe_id, self.level, self.offsets = "", 0, [0]
        self.totals = {"samples": 0, "windows": 0, "polls": 0}

    @property
    def dir(self) -> Path:
        """The run directory."""
        return self.rec.dir

    def begin(self, name: str, level: int, counts: list[int]) -> str:
        """A level starts: its probe id; ``counts`` are the shards' connections (for global connection indices)."""
        self.probe_id, self.level = f"{name}#1-{os.urandom(2).hex()}", level
        self.offsets = [int(x) for x in np.concatenate([[0], np.cumsum(counts)])]
        self.started = utc_now_iso()
        self.rec.probe_started(self.probe_id, name, "performance")
        return self.probe_id

    def on_message(self, msg: dict[str, Any]) -> None:
        """A shard's message: its chunk to the sample stream, its window to the events."""
        shard = int(msg["shard"])
        if msg.get("chunk") is not None:
            table = tag_chunk(decode_chunk(msg["chunk"]), self.probe_id, self.level, self.offsets[shard])
            self._write(table)
        self.rec.event("generator", probe_id=self.probe_id, concurrency=self.level, **msg["health"])
        self.totals["windows"] += 1

    def _write(self, table: pa.Table) -> None:
        with self._lock:
            self.stream.write(table)
            self.totals["samples"] += table.num_rows

    def target_poll(self, poll: dict[str, Any]) -> None:
        """One poll of the target's own figures (thread-safe)."""
        self.rec.event("target_stats", **{**poll, "t_offset_s": poll["t_epoch"] - self.run_start})
        self.totals["polls"] += 1

    def end(self, result: LoadResult, name: str) -> None:
        """The level's probe record: counts, errors per kind, closes per code and reason."""
        errors = result.errors()
        observed = {"opened": result.opened, "held": result.held, "sent": result.sent, "answered": result.answered,
                    "samples": result.samples, **result.generator(), "errors": errors, "close_codes": result.close_codes(),
                    "shards": [{"shard": s.shard, "host": s.host, "pid": s.pid, "opened": s.opened, "answered": s.answered,
                                "cpu_s": round(s.cpu_s, 3), "peak_rss_mb": round(s.peak_rss_mb, 1)} for s in result.shards]}
        self.rec.probe({"probe_id": self.probe_id, "category": "performance", "probe": name, "attempt": 1,
                        "started_at": self.started, "duration_ms": result.wall_s * 1000,
                        "outcome": "pass" if not errors else "fail",
                        "reason": "ok" if not errors else max(errors, key=lambda k: errors[k]),
                        "detail": f"{result.opened} connections opened over {len(result.shards)} shards",
                        "expected": "every connection opens and every message is answered", "critical": False,
                        "observed": json.dumps(observed)})

    def write_result(self, result: LoadResult) -> None:
        """Samples and windows kept in memory (a run made without streaming), written after the fact."""
        for s in result.shards:
            if s.value_ms is not None and s.value_ms.size:
                self._write(_table(s, self.probe_id, self.level, self.offsets[s.shard] if s.shard < len(self.offsets) else 0))
            for w in s.health:
                self.rec.event("generator", probe_id=self.probe_id, concurrency=self.level, **w)

    def close(self, status: str = "complete", **manifest: Any) -> Path:
        """End the stream, consolidate the Parquet tables and write the final manifest."""
        with self._lock:
            self.stream.close()
        self.rec.update_manifest(load_capture={**self.totals, "sample_cap": None, "samples_not_kept": 0}, **manifest)
        return self.rec.close(status)


def _table(s: ShardResult, probe_id: str, level: int, offset: int) -> pa.Table:
    n = s.value_ms.size if s.value_ms is not None else 0
    return pa.table([pa.array([probe_id] * n, pa.string()), pa.array(np.asarray(s.metric, dtype=str), pa.string()),
                     pa.array(s.value_ms, pa.float64()), pa.array(s.t_offset_s, pa.float64()),
                     pa.array(np.full(n, level, dtype="int64")), pa.array(np.asarray(s.conn_index) + offset, pa.int64()),
                     pa.array(s.ok, pa.bool_())], schema=FILE_SCHEMA)


def record_levels(results: list[tuple[int, LoadResult]], out: Path, manifest: dict[str, Any]) -> Path:
    """One run dataset for results gathered in memory: one probe record per level, samples tagged with the level."""
    cap = LoadCapture(out, manifest)
    for level, result in results:
        name = f"load.level_{level}"
        cap.begin(name, level, [s.connections for s in sorted(result.shards, key=lambda s: s.shard)])
        cap.write_result(result)
        cap.end(result, name)
    return cap.close("complete")


def record_load(result: LoadResult, out: Path, manifest: dict[str, Any], probe_name: str = "load.run") -> Path:
    """Write the gathered samples of one load run into a run dataset."""
    cap = LoadCapture(out, manifest)
    cap.begin(probe_name, result.opened, [s.connections for s in sorted(result.shards, key=lambda s: s.shard)])
    cap.write_result(result)
    cap.end(result, probe_name)
    return cap.close("complete")
