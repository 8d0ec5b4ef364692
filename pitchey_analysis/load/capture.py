"""Writing a load run into a run dataset."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from .orchestrate import LoadResult


def record_load(result: LoadResult, out: Path, manifest: dict[str, Any], probe_name: str = "load.run") -> Path:
    """Write the gathered samples of one load run into a run dataset."""
    from ..recorder import Recorder, utc_now_iso

    rec = Recorder(out, manifest)
    _record_result(rec, result, f"{probe_name}#1-{os.urandom(2).hex()}", probe_name, result.opened, utc_now_iso())
    return rec.close("complete")


def record_levels(results: list[tuple[int, LoadResult]], out: Path, manifest: dict[str, Any]) -> Path:
    """One run dataset for a ramp: one probe record per level, samples tagged with the level."""
    from ..recorder import Recorder, utc_now_iso

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
