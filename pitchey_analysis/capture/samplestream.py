"""Samples as a columnar stream: Arrow record batches on the wire and in the run directory.

The load engine produces samples by the million; one JSON line each (as
``events.jsonl`` holds them for the probe suite) would cost ~150 bytes and a
parse per sample. Instead a shard hands on compact chunks (one Arrow record
batch, serialized as an IPC stream, a few hundred KB per second), and the
process running ``load`` appends each chunk to ``samples.arrows`` in the run
directory, flushing after every batch and fsyncing every few seconds: a SIGKILL
loses only what had not arrived yet. The file is an Arrow IPC *stream* (not the
random-access file format, whose footer is written at the end), so a torn last
batch is simply where reading stops.

When the run ends, :func:`write_samples_parquet` consolidates the stream (and
any JSONL samples) into ``samples.parquet`` batch by batch, so memory stays flat
however long the run was.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

# pandas, Parquet and the records' dtypes are imported where they are used: a load shard imports this
# module for encode_chunk only, and every module it imports is resident memory in every shard process

SAMPLE_STREAM = "samples.arrows"

#: what a shard sends: one row per measurement (probe and level are added by the receiver)
CHUNK_SCHEMA = pa.schema([
    ("metric", pa.string()),
    ("value_ms", pa.float64()),
    ("t_offset_s", pa.float64()),
    ("conn_index", pa.int64()),
    ("ok", pa.bool_()),
])

#: what ``samples.arrows`` holds: the samples table without ``run_id`` (one per run)
FILE_SCHEMA = pa.schema([
    ("probe_id", pa.string()),
    ("metric", pa.string()),
    ("value_ms", pa.float64()),
    ("t_offset_s", pa.float64()),
    ("concurrency", pa.int64()),
    ("conn_index", pa.int64()),
    ("ok", pa.bool_()),
])

#: (de)compression in the calling thread: a chunk is a few hundred KB, less than handing its columns to
#: Arrow's CPU thread pool costs, and that pool's threads (their stacks and heaps) are resident memory
_OPTIONS = pa.ipc.IpcWriteOptions(compression="zstd", use_threads=False)
_READ_OPTIONS = pa.ipc.IpcReadOptions(use_threads=False)


# Building the chunks, only zero-copy constructors over numpy buffers are used: a shard process never
# calls pa.array() on Python objects nor a compute kernel, whose first use costs ~50 MB and ~13 MB of
# resident memory for the converters and the kernel registry (measured, pyarrow 26); numpy does the work.


def _column(kind: pa.DataType, data: Any, n: int) -> pa.Array:
    """An Arrow array over a contiguous buffer of ``n`` fixed-width values (numpy array or ``array.array``), no copy."""
    buf = pa.py_buffer(data)
    if buf.size != n * kind.bit_width // 8:
        raise ValueError(f"a column of {buf.size} bytes is not {n} values of {kind}")
    return pa.Array.from_buffers(kind, n, [None, buf])


def _bools(data: Any, n: int) -> pa.Array:
    """An Arrow boolean array (a bitmap) from ``n`` bytes that are 0 or not."""
    bytes_ = np.frombuffer(data, dtype=np.uint8, count=n)
    return pa.Array.from_buffers(pa.bool_(), n, [None, pa.py_buffer(np.packbits(bytes_ != 0, bitorder="little"))])


def _strings(values: list[bytes], codes: np.ndarray) -> pa.Array:
    """An Arrow string array whose item ``i`` is ``values[codes[i]]`` (a few distinct values, many rows)."""
    lengths = np.fromiter((len(v) for v in values), dtype=np.int64, count=len(values))
    offsets = np.zeros(codes.size + 1, dtype=np.int64)
    np.cumsum(lengths[codes], out=offsets[1:])
    data = np.empty(int(offsets[-1]), dtype=np.uint8)
    starts = offsets[:-1]
    for c, v in enumerate(values):  # one pass per distinct value and byte: rows never loop in Python
        at = starts[codes == c]
        for j, byte in enumerate(v):
            data[at + j] = byte
    if offsets[-1] >= 2**31:
        raise ValueError("a chunk of more than 2 GiB of strings")
    return pa.Array.from_buffers(pa.string(), codes.size, [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)])


def encode_chunk(metric_names: list[str], metric: Any, value_ms: Any, t_offset_s: Any, conn_index: Any, ok: Any) -> bytes:
    """One chunk of samples as Arrow IPC bytes.

    The columns are contiguous buffers (numpy arrays or ``array.array``) of int32 metric codes into
    ``metric_names``, float64 values and offsets, int64 connection indices and one byte per ``ok``.
    """
    n = len(metric)
    codes = np.frombuffer(metric, dtype=np.int32, count=n) if n else np.zeros(0, np.int32)
    metric_col = _strings([m.encode() for m in metric_names], codes)
    batch = pa.record_batch([metric_col, _column(pa.float64(), value_ms, n), _column(pa.float64(), t_offset_s, n),
                             _column(pa.int64(), conn_index, n), _bools(ok, n)], schema=CHUNK_SCHEMA)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, CHUNK_SCHEMA, options=_OPTIONS) as w:
        w.write_batch(batch)
    return sink.getvalue().to_pybytes()


def decode_chunk(data: bytes) -> pa.Table:
    """The samples of one chunk."""
    return pa.ipc.open_stream(pa.py_buffer(data), options=_READ_OPTIONS).read_all()


def tag_chunk(chunk: pa.Table, probe_id: str, concurrency: int, conn_offset: int = 0) -> pa.Table:
    """A chunk with the columns the run dataset adds (probe, level, connection index over all shards)."""
    n = chunk.num_rows
    conn = chunk.column("conn_index")
    if conn_offset:  # the column's values read through its buffers (Array.to_numpy would load pyarrow's converters)
        parts = [np.frombuffer(c.buffers()[1], dtype=np.int64, count=len(c), offset=c.offset * 8) for c in conn.chunks]
        conn = _column(pa.int64(), (np.concatenate(parts) if parts else np.zeros(0, np.int64)) + conn_offset, n)
    probe = _strings([probe_id.encode()], np.zeros(n, dtype=np.int64))
    level = _column(pa.int64(), np.full(n, concurrency, dtype=np.int64), n)
    return pa.table([probe, chunk.column("metric"), chunk.column("value_ms"), chunk.column("t_offset_s"), level, conn,
                     chunk.column("ok")], schema=FILE_SCHEMA)


class SampleStreamWriter:
    """Appends sample batches to ``samples.arrows``: flushed per batch, fsynced every ``fsync_s``."""

    def __init__(self, path: Path, fsync_s: float = 1.0) -> None:
        self.path = Path(path)
        self._fh = open(self.path, "wb")
        self._writer = pa.ipc.new_stream(self._fh, FILE_SCHEMA, options=_OPTIONS)
        self._fh.flush()
        self._fsync_s = fsync_s
        self._last_fsync = time.monotonic()
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        """Append the rows of a table with :data:`FILE_SCHEMA`."""
        if table.num_rows == 0:
            return
        self._writer.write_table(table)
        self._fh.flush()
        self.rows += table.num_rows
        if time.monotonic() - self._last_fsync >= self._fsync_s:
            os.fsync(self._fh.fileno())
            self._last_fsync = time.monotonic()

    def close(self) -> None:
        """Write the end-of-stream marker, fsync and close."""
        self._writer.close()
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()


def iter_sample_stream(path: Path):
    """The record batches of ``samples.arrows``, stopping quietly at a torn last batch."""
    try:
        reader = pa.ipc.open_stream(pa.memory_map(str(path)))
    except (pa.ArrowInvalid, OSError):
        return
    while True:
        try:
            yield reader.read_next_batch()
        except StopIteration:
            return
        except (pa.ArrowInvalid, OSError):  # the run was killed in the middle of a batch
            return


def samples_frame(batches: Any, run_id: str) -> Any:
    """The samples table (documented dtypes, a pandas DataFrame) from stream batches."""
    from .records import TABLES

    tables = [pa.Table.from_batches([b]) for b in batches]
    table = pa.concat_tables(tables) if tables else FILE_SCHEMA.empty_table()
    df = table.to_pandas()
    df.insert(0, "run_id", run_id)
    spec = TABLES["samples"]
    return df[list(spec)].astype({c: d for c, (d, _) in spec.items()})


def read_sample_stream(run_dir: Path, run_id: str) -> Any:
    """The samples of a run's ``samples.arrows`` (empty when there is none)."""
    return samples_frame(iter_sample_stream(Path(run_dir) / SAMPLE_STREAM), run_id)


def write_samples_parquet(run_dir: Path, jsonl_samples: Any, run_id: str, dest: Path) -> int:
    """Consolidate JSONL samples (a DataFrame) and ``samples.arrows`` into one Parquet file, batch by batch; returns rows."""
    import pyarrow.parquet as pq

    schema = pa.schema([("run_id", pa.string()), *FILE_SCHEMA])
    rows = 0
    with pq.ParquetWriter(dest, schema) as w:
        if len(jsonl_samples):
            t = pa.Table.from_pandas(jsonl_samples.astype({"run_id": "string", "probe_id": "string", "metric": "string"}),
                                     preserve_index=False)
            w.write_table(t.select(schema.names).cast(schema))
            rows += t.num_rows
        for batch in iter_sample_stream(Path(run_dir) / SAMPLE_STREAM):
            t = pa.Table.from_batches([batch])
            t = t.add_column(0, "run_id", pa.array([run_id] * t.num_rows, pa.string()))
            w.write_table(t)
            rows += t.num_rows
    return rows
