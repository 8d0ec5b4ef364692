"""Samples as a columnar stream: Arrow record batches on the wire and in the run directory.

The load engine produces samples by the million; one JSON line each (as
``events.jsonl`` holds them for the probe suite) would cost ~150 bytes and a
parse per sample. Instead a shard hands on compact chunks (Arrow record batches,
one per metric, with the rows of ``samples.arrows``, serialized as an IPC
stream), and the process running ``load`` appends each chunk's batches to
``samples.arrows`` in the run directory as they are (no decoding), flushing after
every chunk and fsyncing every second: a SIGKILL loses only what had not arrived
yet. The file is an Arrow IPC *stream* (not the random-access file format, whose
footer is written at the end), so a torn last batch is simply where reading stops.

Writing uses nanoarrow (Apache Arrow's small C library), not pyarrow and not
numpy: a process that generates load imports neither (about 45 MB of resident
memory, half of the load process's), and a chunk's columns are built from whole
buffers (no Python object per sample: made and appended in about 0.17 s of CPU
per million samples on the 2-core bench machine, 0.17 µs against the engine's
~25 µs per round trip; the pyarrow and zstd path it replaces took 0.27 s). The
chunks and the stream are not compressed (nanoarrow writes no compressed IPC):
about 65 bytes per sample on the wire and on disk (four 8-byte columns, the
probe id's ~20 and the metric's ~6 bytes of text with a 4-byte offset each, one
bit), about 6.5 MB a second at 100,000 samples a second (measured: 66 bytes a sample
in a 400,000-sample load run, where the zstd-compressed stream this replaced took
19 and the run's samples.parquet takes 18). When the run ends, :func:`write_samples_parquet`
(pyarrow) consolidates the stream (and any JSONL samples) into zstd-compressed
``samples.parquet`` batch by batch, so memory stays flat however long the run
was; once every table is in Parquet, the stream (a copy by then) is removed. The readers (:func:`iter_sample_stream`
and what builds on it) are pyarrow's and read the stream as they always did.
"""

from __future__ import annotations

import io
import os
import time
from array import array
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import nanoarrow as na
from nanoarrow.ipc import StreamWriter

# pyarrow, pandas, Parquet and the records' dtypes are imported where they are used: a load shard and the
# load process import this module to write chunks, and every module they import is resident memory

SAMPLE_STREAM = "samples.arrows"

#: what a chunk and ``samples.arrows`` hold: the samples table without ``run_id`` (one per run), one row per measurement
FILE_SCHEMA = na.struct(
    {
        "probe_id": na.string(),
        "metric": na.string(),
        "value_ms": na.float64(),
        "t_offset_s": na.float64(),
        "concurrency": na.int64(),
        "conn_index": na.int64(),
        "ok": na.bool_(),
    }
)

#: an IPC stream ends with a continuation marker and a zero length (Arrow columnar format, "Encapsulated message
#: format")
_EOS = b"\xff\xff\xff\xff\x00\x00\x00\x00"


#: per text size, the int32 offsets 0, size, 2*size, ... of a column repeating one text (grown to the largest batch)
_RAMPS: dict[int, array[int]] = {}


def _repeated(text: bytes, count: int) -> Any:
    """An Arrow string column of ``count`` rows that are all ``text``: whole buffers, no loop per row in Python."""
    size = len(text)
    if size * count >= 2**31:
        raise ValueError("a batch of more than 2 GiB of strings")
    ramp = _RAMPS.get(size)
    if ramp is None or len(ramp) <= count:  # a new array (not extended in place: a column may still export the old one)
        rows = max(count + 1, 2 * len(ramp) if ramp is not None else 1024)
        ramp = _RAMPS[size] = array("i", range(0, size * rows, size) if size else bytes(4 * rows))
    return na.c_array_from_buffers(na.string(), count, [None, memoryview(ramp)[: count + 1], text * count])


def _column(kind: Any, data: Any, n: int, width: int) -> Any:
    if memoryview(data).nbytes != n * width:
        raise ValueError(f"a column of {memoryview(data).nbytes} bytes is not {n} values of {width} bytes")
    return na.c_array_from_buffers(kind, n, [None, data])


def _bitmap(flags: bytes) -> Any:
    """Arrow's bitmap (bit i = byte i) of bytes that are 0 or 1; nearly always all 1 (every sample ok)."""
    if 0 not in flags:
        return b"\xff" * ((len(flags) + 7) // 8)
    return na.c_buffer(iter(flags), na.bool_())  # packed by nanoarrow's C builder


def encode_chunk(
    probe_id: str, concurrency: int, groups: Iterable[tuple[str, Any, Any, Any, Any]]
) -> tuple[bytes, int]:
    """One chunk of samples as Arrow IPC stream bytes (one record batch of :data:`FILE_SCHEMA` per metric), and its
    rows.

    ``groups``: per metric, its name and its columns as contiguous buffers (``array.array``, numpy arrays,
    bytes) of float64 values, float64 offsets, int64 connection indices and one byte 0 or 1 per ``ok``.
    One batch per metric, because then every column is made of whole buffers (the string columns of one
    repeated text), with no Python object per sample.
    """
    probe = probe_id.encode()
    level = concurrency.to_bytes(8, "little", signed=True)
    out, rows = io.BytesIO(), 0
    with StreamWriter.from_writable(out) as w:
        w.write_stream(na.c_array_stream([], FILE_SCHEMA))  # the schema message
        for name, value, t, conn, ok in groups:
            n = memoryview(value).nbytes // 8
            if n == 0:
                continue
            flags = bytes(ok)
            if len(flags) != n:
                raise ValueError(f"{len(flags)} ok flags for {n} samples of {name}")
            children = [
                _repeated(probe, n),
                _repeated(name.encode(), n),
                _column(na.float64(), value, n, 8),
                _column(na.float64(), t, n, 8),
                _column(na.int64(), level * n, n, 8),
                _column(na.int64(), conn, n, 8),
                na.c_array_from_buffers(na.bool_(), n, [None, _bitmap(flags)]),
            ]
            w.write_array(na.c_array_from_buffers(FILE_SCHEMA, n, [None], children=children), write_schema=False)
            rows += n
    return out.getvalue(), rows


def _schema_message(data: bytes | memoryview) -> int:
    """The length of an IPC stream's first message (its schema: a message without body)."""
    if len(data) < 8 or bytes(data[:4]) != b"\xff\xff\xff\xff":
        raise ValueError("not an Arrow IPC stream (no continuation marker)")
    return 8 + int.from_bytes(data[4:8], "little")


#: the schema message every chunk starts with, and ``samples.arrows`` once
_SCHEMA_MESSAGE = (lambda b: b[: _schema_message(b)])(encode_chunk("", 0, [])[0])


def decode_chunk(data: bytes) -> Any:
    """The samples of one chunk (a pyarrow Table: for readers, which import pyarrow)."""
    import pyarrow as pa

    return pa.ipc.open_stream(pa.py_buffer(data), options=pa.ipc.IpcReadOptions(use_threads=False)).read_all()


class SampleStreamWriter:
    """Appends chunks to ``samples.arrows``: flushed per chunk, fsynced every ``fsync_s``.

    A chunk's record batch is written as it came (its bytes): the shard made the rows of the file, so
    nothing is decoded or encoded again here.
    """

    def __init__(self, path: Path, fsync_s: float = 1.0) -> None:
        self.path = Path(path)
        self._fh = open(self.path, "wb")
        self._fh.write(_SCHEMA_MESSAGE)
        self._fh.flush()
        self._fsync_s = fsync_s
        self._last_fsync = time.monotonic()
        self.rows = 0

    def write(self, chunk: bytes, rows: int) -> None:
        """Append a chunk of ``rows`` samples made by :func:`encode_chunk`."""
        view = memoryview(chunk)
        head = _schema_message(view)
        if view[:head] != _SCHEMA_MESSAGE or view[len(view) - 8 :] != _EOS:
            raise ValueError("a chunk that is not one IPC stream of the samples' schema (encode_chunk)")
        if rows == 0:
            return
        self._fh.write(view[head : len(view) - 8])
        self._fh.flush()
        self.rows += rows
        if time.monotonic() - self._last_fsync >= self._fsync_s:
            os.fsync(self._fh.fileno())
            self._last_fsync = time.monotonic()

    def close(self) -> None:
        """Write the end-of-stream marker, fsync and close."""
        self._fh.write(_EOS)
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()


def file_schema() -> Any:
    """:data:`FILE_SCHEMA` as a pyarrow schema (for readers)."""
    import pyarrow as pa

    return pa.schema(FILE_SCHEMA)


def iter_sample_stream(path: Path) -> Iterator[Any]:
    """The record batches of ``samples.arrows``, stopping quietly at a torn last batch."""
    import pyarrow as pa

    try:
        # read, not memory-mapped: the mapped pages of the (uncompressed) stream would count as this process's resident
        # memory while the run is consolidated batch by batch (measured: 17 MB more for a 400,000-sample run)
        reader = pa.ipc.open_stream(pa.OSFile(str(path)))
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
    import pyarrow as pa

    from .records import TABLES

    tables = [pa.Table.from_batches([b]) for b in batches]
    table = pa.concat_tables(tables) if tables else file_schema().empty_table()
    df = table.to_pandas()
    df.insert(0, "run_id", run_id)
    spec = TABLES["samples"]
    return df[list(spec)].astype({c: d for c, (d, _) in spec.items()})


def read_sample_stream(run_dir: Path, run_id: str) -> Any:
    """The samples of a run's ``samples.arrows`` (empty when there is none)."""
    return samples_frame(iter_sample_stream(Path(run_dir) / SAMPLE_STREAM), run_id)


def write_samples_parquet(run_dir: Path, jsonl_samples: Any, run_id: str, dest: Path) -> int:
    """Consolidate JSONL samples (a DataFrame) and ``samples.arrows`` into one Parquet file, batch by batch; returns
    rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("run_id", pa.string()), *file_schema()])
    rows = 0
    with pq.ParquetWriter(dest, schema) as w:
        if len(jsonl_samples):
            t = pa.Table.from_pandas(
                jsonl_samples.astype({"run_id": "string", "probe_id": "string", "metric": "string"}),
                preserve_index=False,
            )
            w.write_table(t.select(schema.names).cast(schema))
            rows += t.num_rows
        for batch in iter_sample_stream(Path(run_dir) / SAMPLE_STREAM):
            t = pa.Table.from_batches([batch])
            t = t.add_column(0, "run_id", pa.array([run_id] * t.num_rows, pa.string()))
            w.write_table(t)
            rows += t.num_rows
    return rows
