"""Capture of a run: manifest, append-only ``events.jsonl``, Parquet at the end.

Guarantees (DESIGN.md, "The run dataset"):

* probe records (and ``probe_started``) are written and flushed one by one;
* samples and frames are buffered and flushed at most ``batch_s`` (100 ms) apart;
* the file is fsynced every few seconds and at the end;
* secrets are redacted before anything reaches the file;
* a write error (disk full) marks the run ``degraded`` instead of crashing the
  run: what was already written stays readable.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..atomic import atomic_path
from ..outcomes import RunStatus
from .records import SCHEMA_VERSION, frame_from_rows
from .redact import literal_pattern, redact
from .samplestream import SAMPLE_STREAM, write_samples_parquet
from .schema import MAX_MS

log = logging.getLogger("pitchey_analysis.recorder")

EVENTS = "events.jsonl"
MANIFEST = "manifest.json"


def utc_now() -> dt.datetime:
    """The real clock, in UTC (the default ``now`` of :class:`Recorder`)."""
    return dt.datetime.now(dt.UTC)


def new_run_id(now: dt.datetime | None = None) -> str:
    """``YYYYMMDDTHHMMSSZ-<6 hex>``."""
    now = now or utc_now()
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def utc_now_iso() -> str:
    """The current UTC time, ISO 8601 with milliseconds."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def _atomic_write(path: Path, data: bytes) -> None:
    """``data`` into ``path`` whole or not at all (a full disk or a signal leaves no temporary file: atomic_path)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


class Recorder:
    """Writes one run directory.

    Args:
        out_dir: the runs directory; the run lives in ``out_dir/<run_id>/``.
        manifest: initial manifest fields (configuration, target, versions).
        secrets_to_mask: literal secrets (passwords, tokens) to scrub wherever they appear.
        batch_s: longest time a sample may wait in memory before it is written.
        fsync_s: interval between fsyncs.
        now: the clock the run id and the manifest's ``started_at`` read (tests inject one: run ids carry the
            second, so two runs a second apart need no second of waiting).
    """

    def __init__(
        self,
        out_dir: Path,
        manifest: dict[str, Any],
        *,
        run_id: str | None = None,
        secrets_to_mask: tuple[str, ...] = (),
        batch_s: float = 0.1,
        fsync_s: float = 2.0,
        now: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        started = now()
        self.run_id = run_id or new_run_id(started)
        self.dir = Path(out_dir) / self.run_id
        self.dir.mkdir(parents=True, exist_ok=False)
        try:
            self._start(manifest, secrets_to_mask, batch_s, fsync_s, started)
        except BaseException:  # a signal or a full disk before the manifest exists: no run directory without one
            shutil.rmtree(self.dir, ignore_errors=True)
            raise

    def _start(
        self,
        manifest: dict[str, Any],
        secrets_to_mask: tuple[str, ...],
        batch_s: float,
        fsync_s: float,
        started: dt.datetime,
    ) -> None:
        self.started_monotonic = time.monotonic()
        self._secrets = tuple(s for s in secrets_to_mask if s)
        self._batch_s, self._fsync_s = batch_s, fsync_s
        self._lock = threading.Lock()
        self._buffer: list[str] = []
        self._last_flush = time.monotonic()
        self._last_fsync = time.monotonic()
        self.degraded: str | None = None
        self.counts = {"probe": 0, "sample": 0, "frame": 0}
        self.closed = False
        #: records offered after :meth:`close` (dropped: the run directory is final)
        self.late_writes = 0
        self.manifest: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "run_id": self.run_id,
            "status": RunStatus.RUNNING,
            "started_at": started.isoformat(timespec="milliseconds"),
            "ended_at": None,
            **manifest,
        }
        self._write_manifest()
        self._fh = open(self.dir / EVENTS, "a", encoding="utf-8")
        self._timer = threading.Thread(target=self._flusher, name="recorder-flush", daemon=True)
        self._stop = threading.Event()
        self._timer.start()

    # -- public API --------------------------------------------------------
    def scrub(self, obj: Any) -> Any:
        """Redact secrets from a value before it is stored."""
        return redact(obj, self._secrets)

    def add_secret(self, secret: str) -> None:
        """Mask this literal wherever it would be written from now on."""
        if secret and secret not in self._secrets:
            # the literal forms' pattern now, not in the first write that carries it; the pattern of every encoding
            # (0.1-0.5 s for a token) only once a text that could hold one is written, which a run may never do
            literal_pattern(secret)
            self._secrets = (*self._secrets, secret)

    def t_offset(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self.started_monotonic

    def probe_started(self, probe_id: str, probe: str, category: str) -> None:
        """Note that a probe is about to touch the network (flushed at once)."""
        self._write(
            {
                "kind": "probe_started",
                "run_id": self.run_id,
                "probe_id": probe_id,
                "probe": probe,
                "category": category,
                "started_at": utc_now_iso(),
            },
            flush=True,
        )

    def probe(self, record: dict[str, Any]) -> None:
        """Write a probe result (flushed at once)."""
        self.counts["probe"] += 1
        self._write({"kind": "probe", "run_id": self.run_id, **record}, flush=True)

    def sample(self, record: dict[str, Any]) -> None:
        """Write a sample (batched, at most ``batch_s`` late). A value the dataset's schema refuses (negative, not
        finite, past :data:`~.schema.MAX_MS`) is written as a failed measurement: the run is never one its own
        reader would refuse."""
        v = record.get("value_ms")
        if v is not None and not (isinstance(v, int | float) and 0 <= v <= MAX_MS):
            record = {**record, "value_ms": None, "ok": False}
        self.counts["sample"] += 1
        self._write({"kind": "sample", "run_id": self.run_id, **record}, flush=False)

    def frame(self, record: dict[str, Any]) -> None:
        """Write a frame trace row (batched)."""
        self.counts["frame"] += 1
        self._write({"kind": "frame", "run_id": self.run_id, **record}, flush=False)

    def event(self, name: str, **fields: Any) -> None:
        """Write a run event (start of a phase, interruption, ...)."""
        self._write(
            {"kind": "run_event", "run_id": self.run_id, "event": name, "t_offset_s": self.t_offset(), **fields},
            flush=True,
        )

    def update_manifest(self, **fields: Any) -> None:
        """Merge fields into the manifest and rewrite it atomically."""
        self.manifest.update(fields)
        self._write_manifest()

    def close(self, status: str = RunStatus.COMPLETE) -> Path:
        """Flush, fsync, write the Parquet tables and the final manifest.

        Records offered afterwards are dropped and counted in :attr:`late_writes`
        (they never raise: a writer may be a background task)."""
        self._stop.set()
        self._timer.join(timeout=2)
        with self._lock:
            self._flush_locked(fsync=True)
            self.closed = True
            try:
                self._fh.close()
            except OSError as exc:
                self._degrade(exc)
        if self.degraded:
            status = RunStatus.DEGRADED
        else:
            try:
                self._write_parquet()
            except OSError as exc:
                self._degrade(exc)
                status = RunStatus.DEGRADED
        self.manifest.update(status=status, ended_at=utc_now_iso(), counts=self.counts, degraded_reason=self.degraded)
        try:
            self._write_manifest()
        except OSError as exc:  # the disk is full: the JSONL and older manifest remain
            log.error("could not write the final manifest: %s", exc)
        return self.dir

    # -- internals ---------------------------------------------------------
    def _write_manifest(self) -> None:
        _atomic_write(self.dir / MANIFEST, json.dumps(self.scrub(self.manifest), indent=2, default=str).encode())

    def _write(self, obj: dict[str, Any], *, flush: bool) -> None:
        line = json.dumps(self.scrub(obj), separators=(",", ":"), default=str)
        with self._lock:
            if self.closed:
                self.late_writes += 1
                if self.late_writes == 1:
                    log.warning(
                        "run %s: a %s record arrived after the recorder closed; dropped (and any later ones)",
                        self.run_id,
                        obj.get("kind"),
                    )
                return
            if self.degraded:
                return
            self._buffer.append(line)
            if flush or time.monotonic() - self._last_flush >= self._batch_s:
                self._flush_locked()

    def _flush_locked(self, fsync: bool = False) -> None:
        if self.degraded or self.closed:
            self._buffer.clear()
            return
        try:
            if self._buffer:
                self._fh.write("\n".join(self._buffer) + "\n")
                self._buffer.clear()
            self._fh.flush()
            now = time.monotonic()
            if fsync or now - self._last_fsync >= self._fsync_s:
                os.fsync(self._fh.fileno())
                self._last_fsync = now
            self._last_flush = now
        except OSError as exc:
            self._degrade(exc)

    def _degrade(self, exc: OSError) -> None:
        if self.degraded is None:
            self.degraded = f"{type(exc).__name__}: {exc.strerror or exc}"
            log.error("capture degraded: %s", self.degraded)
            self._buffer.clear()
            try:
                self.manifest.update(status=RunStatus.DEGRADED, degraded_reason=self.degraded)
                self._write_manifest()
            except OSError:
                pass

    def _flusher(self) -> None:
        while not self._stop.wait(self._batch_s / 2):
            with self._lock:
                if self._buffer and time.monotonic() - self._last_flush >= self._batch_s:
                    self._flush_locked()
                elif time.monotonic() - self._last_fsync >= self._fsync_s:
                    self._flush_locked()

    def _write_parquet(self) -> None:
        from .dataset import read_events

        tables = read_events(self.dir / EVENTS)
        for name, rows in tables.items():
            if name.startswith("_"):
                continue
            df = frame_from_rows(name, rows)
            with atomic_path(self.dir / f"{name}.parquet") as tmp:
                if name == "samples" and (self.dir / SAMPLE_STREAM).exists():  # the load engine's columnar samples
                    write_samples_parquet(self.dir, df, self.run_id, tmp)
                else:
                    df.to_parquet(tmp, index=False)
        stream = self.dir / SAMPLE_STREAM
        if stream.exists():  # every table is in Parquet now (what load_run reads first): the stream is a copy
            stream.unlink()
