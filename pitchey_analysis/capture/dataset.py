"""Loading run datasets as DataFrames: ``load_run`` and ``load_runs``.

A run directory holds ``manifest.json``, ``events.jsonl`` and, once the run
ended, ``probes.parquet``, ``samples.parquet`` and ``frames.parquet``. Loading
prefers Parquet and falls back to the JSONL, so an interrupted or killed run
is still analyzable. See :data:`pitchey_analysis.records.TABLES` for the columns.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..config import data_dir_and_why, runs_dir, sample_run_dir
from ..exceptions import DatasetError, RunNotFound, UsageError
from ..outcomes import RunStatus
from .records import TABLES, frame_from_rows
from .samplestream import SAMPLE_STREAM, read_sample_stream
from .schema import (
    EVENT_LINE_MAX_BYTES,
    EVENTS_MAX_BYTES,
    RANGES,
    check_event,
    check_parquet,
    check_range,
    check_regular_file,
    check_values,
    read_manifest,
)

_KIND_TO_TABLE = {"probe": "probes", "sample": "samples", "frame": "frames"}


@dataclass
class Run:
    """One run: its manifest and its three tables."""

    path: Path
    manifest: dict[str, Any]
    probes: pd.DataFrame
    samples: pd.DataFrame
    frames: pd.DataFrame
    source: str = "parquet"  # or "jsonl" when the run did not finish
    started: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        """The run's id."""
        return str(self.manifest.get("run_id", self.path.name))


def event_lines(path: Path) -> Iterator[tuple[int, str | None]]:
    """The complete lines of ``events.jsonl`` (a regular file of at most :data:`~.schema.EVENTS_MAX_BYTES`), each with
    its number; a line longer than :data:`~.schema.EVENT_LINE_MAX_BYTES` comes as None (skipped without being held in
    memory), and a torn last line (a killed run's) ends the reading."""
    check_regular_file(path, EVENTS_MAX_BYTES)
    with open(path, "rb") as f:
        for number in itertools.count(1):
            line = f.readline(EVENT_LINE_MAX_BYTES)
            if not line.endswith(b"\n"):
                if len(line) < EVENT_LINE_MAX_BYTES:
                    return  # the end, or a torn last line
                while line and not line.endswith(b"\n"):  # an overlong line: read past it, a chunk at a time
                    line = f.readline(EVENT_LINE_MAX_BYTES)
                yield number, None
                continue
            yield number, line.decode("utf-8", errors="replace")


def read_events(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Read ``events.jsonl`` into rows per table; a torn last line, a line that is not JSON, one that is not a JSON
    object and an overlong one are skipped (``"_skipped"`` counts them), as a crash-safe log's reader does."""
    out: dict[str, list[dict[str, Any]]] = {t: [] for t in TABLES}
    out_started: list[dict[str, Any]] = []
    skipped = 0
    if not path.exists() and not path.is_symlink():
        return out
    for _, line in event_lines(path):
        try:
            obj = json.loads(line) if line is not None else None
        except (ValueError, RecursionError):
            obj = None
        if not isinstance(obj, dict):
            skipped += 1
            continue
        kind = obj.get("kind")
        if kind in _KIND_TO_TABLE:
            out[_KIND_TO_TABLE[kind]].append(obj)
        elif kind == "probe_started" and isinstance(obj.get("probe_id"), str):
            out_started.append(obj)
    out["_started"] = out_started
    out["_skipped"] = skipped  # type: ignore[assignment]
    return out


def _resolve(run: str | os.PathLike[str] | None, base: Path | None) -> Path:
    return resolve_run(run, base)[0]


def resolve_run(run: str | os.PathLike[str] | None, base: Path | None = None) -> tuple[Path, str]:
    """The run directory ``run`` names, and in words why that one (notebooks print it).

    Args:
        run: a run id, a run directory, or ``"latest"``/None (the newest run under
            ``base``, falling back to the committed sample run).
        base: where run ids are looked up (default :func:`~pitchey_analysis.config.runs_dir`).
    """
    where = "given as runs_dir" if base else "data folder from " + data_dir_and_why()[1]
    base = Path(base) if base else runs_dir()
    if run is None or str(run) == "latest":
        runs = list_runs(base)
        if runs:
            return runs[-1], f"run='latest': the newest of {len(runs)} run(s) in {base} ({where})"
        sample = sample_run_dir()
        if sample is not None:
            return sample, f"run='latest' but {base} holds no run: the committed sample run {sample}"
        raise RunNotFound(f"no runs in {base} and no sample run")
    p = Path(run)
    if p.is_dir():
        return p, f"run={str(run)!r} names this directory"
    if (base / str(run)).is_dir():
        return base / str(run), f"run={str(run)!r} found in {base}"
    raise RunNotFound(f"no run {run!r} (looked in {base})")


def list_runs(base: Path | None = None) -> list[Path]:
    """Run directories under ``base``, oldest first (run ids sort by time)."""
    base = Path(base) if base else runs_dir()
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if (p / "manifest.json").exists())


def latest_run(base: Path | None = None) -> Path | None:
    """The newest run directory, or None."""
    runs = list_runs(base)
    return runs[-1] if runs else None


def load_run(run: str | os.PathLike[str] | None = "latest", *, runs_dir: Path | None = None) -> Run:
    """Load one run.

    Args:
        run: a run id, a path to a run directory, or ``"latest"`` (the newest
            run, falling back to the committed sample run).
        runs_dir: where run ids are looked up (default ``data/runs`` or
            ``$PITCHEY_DATA_DIR/runs``).

    Returns:
        A :class:`Run` with ``.probes``, ``.samples``, ``.frames`` and ``.manifest``.
    """
    from pyarrow import ArrowException

    path = _resolve(run, runs_dir)
    manifest = read_manifest(path)
    tables: dict[str, pd.DataFrame] = {}
    parquet_ok = all((path / f"{t}.parquet").exists() for t in TABLES)
    events = None
    if (path / "events.jsonl").exists() or (path / "events.jsonl").is_symlink():  # read for its run events too
        check_regular_file(path / "events.jsonl", EVENTS_MAX_BYTES)
    if parquet_ok:
        for t in TABLES:
            file = path / f"{t}.parquet"
            check_parquet(file, t)
            try:
                df = pd.read_parquet(file)
            except (ArrowException, OSError, ValueError, TypeError) as exc:
                raise DatasetError(
                    file, None, f"not a readable Parquet file ({str(exc).splitlines()[0][:120]})"
                ) from None
            tables[t] = frame_from_rows(t, df.to_dict("records")) if len(df) == 0 else _coerce(t, df, file)
            check_values(tables[t], t, file)
        source = "parquet"
    else:
        events = read_events(path / "events.jsonl")
        for t in TABLES:
            tables[t] = frame_from_rows(t, _rows(events[t], t, path / "events.jsonl"))
            check_values(tables[t], t, path / "events.jsonl")
        if (path / SAMPLE_STREAM).exists():  # a load run's columnar samples (see samplestream)
            if check_regular_file(path / SAMPLE_STREAM) > 4096:  # more than a torn first message: its schema must read
                import pyarrow as pa

                try:
                    pa.ipc.open_stream(pa.OSFile(str(path / SAMPLE_STREAM))).schema  # noqa: B018 - reading it is the check
                except (ArrowException, OSError) as exc:
                    raise DatasetError(
                        path / SAMPLE_STREAM, None, f"not an Arrow stream of samples ({str(exc).splitlines()[0][:120]})"
                    ) from None
            try:
                stream = read_sample_stream(path, str(manifest.get("run_id", path.name)))
            except (ArrowException, OSError, ValueError, KeyError) as exc:
                raise DatasetError(
                    path / SAMPLE_STREAM, None, f"not an Arrow stream of samples ({str(exc).splitlines()[0][:120]})"
                ) from None
            tables["samples"] = (
                _coerce("samples", pd.concat([tables["samples"], stream], ignore_index=True))
                if len(tables["samples"])
                else stream
            )
            check_values(tables["samples"], "samples", path / SAMPLE_STREAM)
        source = "jsonl"
    started = {}
    if events is not None:
        done = set(tables["probes"]["probe_id"].dropna())
        started = {r["probe_id"]: r for r in events.get("_started", []) if r["probe_id"] not in done}
    return Run(path, manifest, tables["probes"], tables["samples"], tables["frames"], source, started)


def _rows(rows: list[dict[str, Any]], table: str, file: Path) -> list[dict[str, Any]]:
    """JSONL rows of a table with each field of a type its column can hold (a list or an object where text or a
    number belongs is the dataset's error, not pandas')."""
    for r in rows:
        for col, (dtype, _) in TABLES[table].items():
            v = r.get(col)
            if isinstance(v, (dict, list)) and col != "observed":
                raise DatasetError(
                    file, f"{table}.{col}", f"holds {type(v).__name__} {json.dumps(v)[:40]}, expected {dtype}"
                )
            if col == "observed" and isinstance(v, (dict, list)):
                r[col] = json.dumps(v)
    return rows


def readable_runs(paths: list[Path], on_skip: Callable[[Path, DatasetError], None] | None = None) -> list[Run]:
    """The runs of ``paths`` that can be read, each loaded once; an unreadable one is passed to ``on_skip`` (a
    warning) or, without it, raised."""
    out = []
    for p in paths:
        try:
            out.append(load_run(p))
        except DatasetError as exc:
            if on_skip is None:
                raise
            on_skip(p, exc)
    return out


def is_incomplete(run: Run) -> bool:
    """Whether ``run`` did not end: its manifest still says ``running`` (the process was killed) or its tables come
    from ``events.jsonl`` only."""
    return run.manifest.get("status") == RunStatus.RUNNING or run.source == "jsonl"


def load_latest(base: Path | None = None, on_skip: Callable[[Path, DatasetError], None] | None = None) -> Run:
    """The newest run under ``base`` that can be read: an unreadable one is passed to ``on_skip`` (a warning) and
    the one before it is tried; with none readable, the committed sample run as :func:`resolve_run` says."""
    runs = list_runs(base)
    for p in reversed(runs):
        try:
            return load_run(p)
        except DatasetError as exc:
            if on_skip is None:
                raise
            on_skip(p, exc)
    if runs:
        raise RunNotFound(f"no readable run in {base or runs_dir()} ({len(runs)} unreadable)")
    return load_run("latest", runs_dir=base)


def load_samples(
    run: str | os.PathLike[str] | None = "latest",
    columns: list[str] | tuple[str, ...] | None = None,
    *,
    runs_dir: Path | None = None,
) -> pd.DataFrame:
    """A run's samples table, only ``columns`` of it (default all), read straight from ``samples.parquet``.

    For large load runs: the columns not asked for are never read, and the text columns arrive as categoricals
    (dictionary-encoded by Arrow, no Python string per row) and ``ok`` as numpy booleans (a missing one False); each
    column is allocated once and filled batch by batch, so the peak memory is the columns' own. A run without
    ``samples.parquet`` (it did not finish) is read as :func:`load_run` reads it.
    """
    path = _resolve(run, runs_dir)
    cols = list(columns) if columns is not None else list(TABLES["samples"])
    unknown = [c for c in cols if c not in TABLES["samples"]]
    if unknown:
        raise UsageError(f"no samples column {', '.join(unknown)} (columns: {', '.join(TABLES['samples'])})")
    parquet = path / "samples.parquet"
    if not parquet.exists():
        return load_run(path).samples[cols]
    check_parquet(parquet, "samples", cols)
    import pyarrow.parquet as pq

    kinds = {c: TABLES["samples"][c][0] for c in cols}
    cats = [c for c, k in kinds.items() if k == "category"]
    meta = pq.ParquetFile(parquet).metadata
    for width in ("int8", "int16"):  # the narrowest codes the categories fit (rarely a second read)
        try:
            out, names = _read_columns(parquet, meta, kinds, cats, width)
            break
        except _TooManyCategories:
            continue
    else:
        out, names = _read_columns(parquet, meta, kinds, cats, "int32")
    import pyarrow as pa

    pa.default_memory_pool().release_unused()  # the batches' buffers back to the system, not kept by Arrow's allocator
    for c, (lo, hi, nullable) in RANGES["samples"].items():  # the values the schema refuses, as load_run refuses them
        if c in out:
            check_range(out[c].astype("float64", copy=False), c, lo, hi, nullable, parquet)
    cols_out: dict[str, Any] = {}
    for c in cols:
        cols_out[c] = pd.Categorical.from_codes(out.pop(c), categories=names[c]) if c in names else out.pop(c)
    return pd.DataFrame(cols_out, copy=False)


class _TooManyCategories(Exception):
    """More categories than the codes being filled hold (private control flow: the reader retries with wider codes)."""


def _read_columns(
    parquet: Path, meta: Any, kinds: dict[str, str], cats: list[str], width: str
) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """The columns of ``samples.parquet`` as numpy arrays (categories as ``width`` codes, -1 missing) and the
    categories' values, read row group by row group on one thread per core (Arrow decodes without the GIL).

    Each column is allocated once and every row group writes its own stretch of it, in batches; a thread reads
    with its own file handle and without Arrow's read-ahead (``iter_batches`` with threads reads ahead of
    the consumer and holds up to the whole file), so the peak memory is the columns' own plus a batch or two.
    """
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np
    import pyarrow.parquet as pq

    n = meta.num_rows
    limit = np.iinfo(width).max
    out = {
        c: np.empty(n, dtype=width if c in cats else "bool" if kind == "boolean" else kind) for c, kind in kinds.items()
    }
    names: dict[str, list[Any]] = {c: [] for c in cats}
    known: dict[str, dict[Any, int]] = {c: {} for c in cats}  # each category's code
    seen: dict[str, dict[tuple[int, int], list[Any]]] = {c: {} for c in cats}  # each batch's dictionary
    lock = threading.Lock()
    offsets = np.concatenate([[0], np.cumsum([meta.row_group(i).num_rows for i in range(meta.num_row_groups)])])
    local = threading.local()
    full = threading.Event()  # a wider width is needed: the other row groups need not be read

    def read(group: int) -> None:
        if full.is_set():
            return
        if not hasattr(local, "file"):
            local.file = pq.ParquetFile(parquet, metadata=meta, read_dictionary=cats)
        at = int(offsets[group])
        if offsets[group + 1] - at <= 1 << 22:  # a row group as one table (faster than batches of it, and small)
            batches = local.file.read_row_group(group, columns=list(kinds), use_threads=False).to_batches()
        else:
            batches = local.file.iter_batches(
                batch_size=1 << 20, row_groups=[group], columns=list(kinds), use_threads=False
            )
        for i, batch in enumerate(batches):
            k = batch.num_rows
            for c in kinds:
                arr = batch.column(c)
                if c in names:  # this batch's dictionary mapped onto the run's categories (nulls: -1)
                    values = arr.dictionary.to_pylist()
                    with lock:
                        codes = [_code(names[c], known[c], v) for v in values]
                        seen[c][group, i] = values
                    if len(names[c]) > limit:
                        full.set()
                        raise _TooManyCategories(c)
                    lookup = np.array([*codes, -1], dtype=width)
                    idx = (
                        arr.indices.fill_null(len(codes)) if arr.null_count else arr.indices
                    )  # fill_null copies: only if needed
                    np.take(
                        lookup, idx.to_numpy(), out=out[c][at : at + k]
                    )  # zero-copy (a copying to_numpy costs 25 ns a row)
                elif kinds[c] == "boolean":  # a missing ok is not ok; the bits unpacked straight into the column
                    bits = arr.fill_null(False) if arr.null_count else arr
                    data = np.frombuffer(bits.buffers()[1], dtype=np.uint8)
                    out[c][at : at + k] = np.unpackbits(data, count=bits.offset + k, bitorder="little")[
                        bits.offset :
                    ].view(bool)
                else:
                    out[c][at : at + k] = arr.to_numpy(zero_copy_only=False)
            at += k

    groups = range(meta.num_row_groups)
    workers = min(
        len(groups), len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    )
    if workers < 2:
        for g in groups:
            read(g)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(read, groups))
    for c in cats:  # the categories in the order the file has them, whichever thread met them first
        ordered: dict[Any, int] = {}
        for key in sorted(seen[c]):
            ordered.update((v, len(ordered)) for v in seen[c][key] if v not in ordered)
        if list(ordered) != names[c]:
            recode = np.array([ordered[v] for v in names[c]] + [-1], dtype=width)
            codes = out[c]
            for a in range(0, n, 1 << 22):
                np.take(recode, codes[a : a + (1 << 22)], out=codes[a : a + (1 << 22)])
            names[c] = list(ordered)
    return out, names


def _code(names: list[Any], known: dict[Any, int], value: Any) -> int:
    """The index of ``value`` among ``names`` (``known`` maps them to it), appended when new."""
    code = known.get(value)
    if code is None:
        code = known[value] = len(names)
        names.append(value)
    return code


def _coerce(table: str, df: pd.DataFrame, file: Path | str | None = None) -> pd.DataFrame:
    """Make sure a Parquet table has the documented dtypes (its columns' types were checked: :func:`check_parquet`)."""
    try:
        return (
            frame_from_rows(table, df.to_dict("records"))
            if list(df.columns) != list(TABLES[table])
            else df.astype({c: d for c, (d, _) in TABLES[table].items() if not d.startswith("datetime")})
        )
    except (ValueError, TypeError, OverflowError) as exc:
        raise DatasetError(
            file or table, None, f"a value its column cannot hold ({str(exc).splitlines()[0][:120]})"
        ) from None


def load_runs(runs: list[str | os.PathLike[str]] | None = None, *, runs_dir: Path | None = None) -> Run:
    """Load several runs and concatenate their tables (``run_id`` tells them apart).

    With ``runs=None`` every run under ``runs_dir`` is loaded. The returned
    manifest maps each run id to its manifest.
    """
    paths = [Path(r) if Path(r).is_dir() else _resolve(r, runs_dir) for r in runs] if runs else list_runs(runs_dir)
    loaded = [load_run(p) for p in paths]
    if not loaded:
        raise RunNotFound("no runs to load")
    cat = {t: pd.concat([getattr(r, t) for r in loaded], ignore_index=True) for t in TABLES}
    return Run(
        path=loaded[0].path.parent,
        manifest={r.run_id: r.manifest for r in loaded},
        probes=cat["probes"],
        samples=cat["samples"],
        frames=cat["frames"],
        source="mixed",
    )


def load_events(run: str | os.PathLike[str] | Run, event: str, *, runs_dir: Path | None = None) -> pd.DataFrame:
    """The ``run_event`` lines named ``event`` of a run as a DataFrame, e.g. a load run's ``generator``
    windows and ``target_stats`` polls (see :mod:`pitchey_analysis.load.capture`); empty when there are none."""
    path = run.path if isinstance(run, Run) else _resolve(run, runs_dir)
    rows = []
    events = path / "events.jsonl"
    if events.exists() or events.is_symlink():
        for number, line in event_lines(events):
            if line is None or f'"event":"{event}"' not in line:
                continue
            try:
                obj = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if isinstance(obj, dict) and obj.get("kind") == "run_event" and obj.get("event") == event:
                check_event(obj, events, number)
                rows.append(obj)
    df = pd.DataFrame(rows)
    return df.drop(columns=[c for c in ("kind", "event") if c in df.columns]) if len(df) else df


def check_run_events(run: Run) -> None:
    """Check the run events a report reads of ``run`` (:data:`~.schema.EVENTS`: a load run's windows and polls),
    raising :class:`DatasetError` before any report is begun (:func:`load_run` checks the tables)."""
    from .schema import EVENTS

    for event in EVENTS:
        load_events(run, event)
