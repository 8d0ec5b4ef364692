"""Writing a load run into a run dataset, as the run goes.

Probe records, generator windows (``run_event`` ``generator``) and the
target's figures (``run_event`` ``target_stats``) go to ``events.jsonl``
through the :class:`~pitchey_analysis.capture.recorder.Recorder`, flushed at once;
samples go to ``samples.arrows`` chunk by chunk (see
:mod:`pitchey_analysis.capture.samplestream`). Nothing is held back until the end, so a
killed ``load`` leaves a run that ``load_run`` reads up to its last chunk.

The shards' chunks already hold the rows of the file (probe, level, the run's
connection index): they are appended as they came. While the load runs, this
process imports neither pyarrow nor numpy (nor pandas); they load when the run
ends, for the Parquet consolidation and the summary.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..capture.manifest import run_manifest, target_record
from ..capture.recorder import Recorder, utc_now_iso
from ..capture.records import probe_record
from ..capture.samplestream import SAMPLE_STREAM, SampleStreamWriter, encode_chunk
from ..outcomes import Outcome, RunStatus
from .options import LoadPlan
from .orchestrate import LoadResult
from .spec import ShardResult, UserSpec

if TYPE_CHECKING:
    from ..contract import Contract


class LoadCapture:
    """One load run's dataset, appended as the shards' messages arrive."""

    def __init__(self, out: Path, manifest: dict[str, Any], *, secrets_to_mask: tuple[str, ...] = ()) -> None:
        self.rec = Recorder(Path(out), manifest, secrets_to_mask=secrets_to_mask)
        self.run_start = time.time()  # the samples' t_offset_s counts from here
        self.stream = SampleStreamWriter(self.rec.dir / SAMPLE_STREAM)
        self._lock = threading.Lock()
        self.probe_id, self.level = "", 0
        self.totals = {"samples": 0, "windows": 0, "polls": 0}
        self.windows: list[dict[str, Any]] = []  # a few numbers per shard and window: the saturation at the end

    @property
    def dir(self) -> Path:
        """The run directory."""
        return self.rec.dir

    def begin(self, name: str, level: int) -> str:
        """A level starts: its probe id (the shards put it on their samples)."""
        self.probe_id, self.level = f"{name}#1-{os.urandom(2).hex()}", level
        self.started = utc_now_iso()
        self.rec.probe_started(self.probe_id, name, "performance")
        return self.probe_id

    def on_message(self, msg: dict[str, Any]) -> None:
        """A shard's message: its chunk to the sample stream, its window to the events."""
        if msg.get("chunk") is not None:
            self._write(msg["chunk"], int(msg["rows"]))
        self._window(msg["health"])

    def _window(self, health: dict[str, Any]) -> None:
        self.rec.event("generator", probe_id=self.probe_id, concurrency=self.level, **health)
        self.windows.append({k: health.get(k) for k in _WINDOW_KEYS})
        self.totals["windows"] += 1

    def _write(self, chunk: bytes, rows: int) -> None:
        with self._lock:
            self.stream.write(chunk, rows)
            self.totals["samples"] += rows

    def target_poll(self, poll: dict[str, Any]) -> None:
        """One poll of the target's own figures (thread-safe)."""
        self.rec.event("target_stats", **{**poll, "t_offset_s": poll["t_epoch"] - self.run_start})
        self.totals["polls"] += 1

    def end(self, result: LoadResult, name: str) -> None:
        """The level's probe record: counts, errors per kind, closes per code and reason."""
        errors = result.errors()
        observed = {
            "opened": result.opened,
            "held": result.held,
            "sent": result.sent,
            "answered": result.answered,
            "samples": result.samples,
            "left": sum(s.left for s in result.shards),
            **result.generator(),
            "errors": errors,
            "error_examples": result.error_examples(),
            "close_codes": result.close_codes(),
            "shards": [
                {
                    "shard": s.shard,
                    "host": s.host,
                    "pid": s.pid,
                    "opened": s.opened,
                    "answered": s.answered,
                    "cpu_s": round(s.cpu_s, 3),
                    "peak_rss_mb": round(s.peak_rss_mb, 1),
                }
                for s in result.shards
            ],
        }
        self.rec.probe(
            probe_record(
                probe_id=self.probe_id,
                category="performance",
                probe=name,
                attempt=1,
                started_at=self.started,
                duration_ms=result.wall_s * 1000,
                outcome=Outcome.PASS if not errors else Outcome.FAIL,
                reason="ok" if not errors else max(errors, key=lambda k: errors[k]),
                detail=f"{result.opened} connections opened over {len(result.shards)} shards",
                expected="every connection opens and every message is answered",
                observed=json.dumps(observed),
                close_code=None,
                close_reason=None,
                critical=False,
            )
        )

    def write_result(self, result: LoadResult) -> None:
        """Samples and windows kept in memory (a run made without streaming), written after the fact."""
        for s in result.shards:
            if s.value_ms is not None and s.value_ms.size:
                self._write(*_chunk(s, self.probe_id, self.level))
            for w in s.health:
                self._window(w)

    def close(
        self, status: str = RunStatus.COMPLETE, *, lag_bound_ms: float = 50.0, max_share: float = 0.1, **manifest: Any
    ) -> Path:
        """End the stream, consolidate the Parquet tables and write the final manifest (with the generator's
        saturation)."""
        import pandas as pd

        from ..capture.saturation import generator_saturation

        with self._lock:
            self.stream.close()
        sat = generator_saturation(
            pd.DataFrame(self.windows, columns=list(_WINDOW_KEYS)), lag_bound_ms=lag_bound_ms, max_share=max_share
        )
        generator = {**{k: v for k, v in asdict(sat).items()}, "note": sat.note()}
        self.rec.update_manifest(
            load_capture={**self.totals, "sample_cap": None, "samples_not_kept": 0}, generator=generator, **manifest
        )
        return self.rec.close(status)


_WINDOW_KEYS = ("shard", "t_offset_s", "window_s", "open", "sent", "late", "dropped", "lag_max_ms", "cpu_share")


def capture_load(
    plan: LoadPlan,
    *,
    out: Path,
    users: tuple[UserSpec, ...] = (),
    admin_token: str | None = None,
    contract: Contract | None = None,
    manifest: dict[str, Any] | None = None,
    on_level: Any = None,
    progress: bool = True,
) -> Path:
    """Run the plan's levels (:meth:`~.options.LoadPlan.schedule`) one after another, writing one run dataset as it
    goes; returns the run directory.

    The target's session count is polled every ``plan.poll_s`` from before the load starts (the baseline) until
    ``plan.settle_s`` after it left. The manifest records the plan (:meth:`~.options.LoadPlan.manifest_record`, in
    ``config``, beside the ``users``) over what ``manifest`` gives. ``on_level(connections, run_dir)`` is called as
    each level starts. Tokens (``admin_token``, the users') are masked wherever they would be written.
    """
    from ..net import http_base
    from .orchestrate import run_load
    from .target import TargetPoller

    url = plan.url
    given = dict(manifest or {})
    config = {
        **given.pop("config", {}),
        **plan.manifest_record(),
        "users": [{**asdict(u), "token": bool(u.token)} for u in users],
    }
    info = run_manifest(
        target={**target_record(url, http_base(url), embedded=False), **given.pop("target", {})},
        server=given.pop("server", None),
        suite={"name": "load", "version": "2"},
        config=config,
        **given,
    )
    secrets = tuple(t for t in (admin_token, *(u.token for u in users)) if t)
    cap = LoadCapture(Path(out), info, secrets_to_mask=secrets)
    status = RunStatus.INTERRUPTED
    poller = None
    # from the run directory's first file on: an interruption (Ctrl-C, SIGTERM) leaves it interrupted, with Parquet
    try:
        poller = TargetPoller(
            http_base(url),
            cap.target_poll,
            admin_token=admin_token,
            every_s=plan.poll_s,
            cafile=plan.cafile,
            insecure=plan.insecure,
            contract=contract,
        ).start()
        time.sleep(min(plan.poll_s, 0.5))  # the baseline poll lands before the first connection
        for level in plan.schedule():
            if on_level is not None:
                on_level(level.connections, cap.dir)
            cap.begin(level.name, level.connections)
            result = run_load(
                plan,
                level,
                users=users,
                progress=progress,
                run_start=cap.run_start,
                on_message=cap.on_message,
                probe_id=cap.probe_id,
                contract=contract,
            )
            cap.end(result, level.name)
        time.sleep(plan.settle_s)  # the target's figures after the load: do its sessions return to the baseline?
        status = RunStatus.COMPLETE
    finally:
        if poller is not None:
            poller.stop()
        path = cap.close(status, lag_bound_ms=plan.lag_bound_ms, max_share=plan.max_share)
    return path


def _chunk(s: ShardResult, probe_id: str, level: int) -> tuple[bytes, int]:
    """The samples a shard kept in memory (numpy columns, the run's connection indices) as one chunk of the stream."""
    import numpy as np

    metric = np.asarray(s.metric, dtype=str)
    groups = []
    for name in np.unique(metric):
        at = metric == name
        groups.append(
            (
                str(name),
                np.ascontiguousarray(np.asarray(s.value_ms)[at], "float64"),
                np.ascontiguousarray(np.asarray(s.t_offset_s)[at], "float64"),
                np.ascontiguousarray(np.asarray(s.conn_index)[at], "int64"),
                np.asarray(s.ok)[at].astype("uint8"),
            )
        )
    return encode_chunk(probe_id, level, groups)


def record_levels(results: list[tuple[int, LoadResult]], out: Path, manifest: dict[str, Any]) -> Path:
    """One run dataset for results gathered in memory: one probe record per level, samples tagged with the level."""
    cap = LoadCapture(out, manifest)
    for level, result in results:
        name = f"load.level_{level}"
        cap.begin(name, level)
        cap.write_result(result)
        cap.end(result, name)
    return cap.close(RunStatus.COMPLETE)


def record_load(result: LoadResult, out: Path, manifest: dict[str, Any], probe_name: str = "load.run") -> Path:
    """Write the gathered samples of one load run into a run dataset."""
    cap = LoadCapture(out, manifest)
    cap.begin(probe_name, result.opened)
    cap.write_result(result)
    cap.end(result, probe_name)
    return cap.close(RunStatus.COMPLETE)
