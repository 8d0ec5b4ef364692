"""Streaming capture: a killed ``load`` keeps its samples up to its last seconds; the stream reader stops at a torn
batch."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from pitchey_analysis import load_run
from pitchey_analysis.capture.samplestream import (
    SAMPLE_STREAM,
    SampleStreamWriter,
    decode_chunk,
    encode_chunk,
    file_schema,
    iter_sample_stream,
    read_sample_stream,
)

ROOT = Path(__file__).resolve().parents[2]


def test_stream_reader_stops_quietly_at_a_torn_last_batch(tmp_path):
    w = SampleStreamWriter(tmp_path / SAMPLE_STREAM)
    for k in range(3):
        w.write(
            *encode_chunk(
                "p#1", 10, [("rtt_ms", np.full(100, float(k)), np.arange(100.0), np.arange(100), np.ones(100, "uint8"))]
            )
        )
    w._fh.flush()
    data = (tmp_path / SAMPLE_STREAM).read_bytes()
    (tmp_path / SAMPLE_STREAM).write_bytes(data[:-40])  # killed in the middle of the last batch
    df = read_sample_stream(tmp_path, "r")
    assert len(df) == 200 and set(df["value_ms"]) == {0.0, 1.0}
    assert str(df["metric"].dtype) == "category" and df["ok"].all()


def test_chunks_made_without_pyarrow_are_the_samples_read_with_pyarrow(tmp_path):
    """encode_chunk (nanoarrow, array.array columns) writes the file's schema exactly; every value, flag and text comes
    back."""
    from array import array

    n = 1003
    ok = array("b", [1] * n)
    ok[5] = ok[1000] = 0
    rtt = (
        "rtt_ms",
        array("d", [float(i) for i in range(n)]),
        array("d", [i / 10 for i in range(n)]),
        array("q", range(7, 7 + n)),
        ok,
    )
    connect = (
        "connect_ms",
        array("d", [2.5, float("nan")]),
        array("d", [0.1, 0.2]),
        array("q", [7, 8]),
        array("b", [1, 0]),
    )
    empty = ("push_ms:ticker", array("d"), array("d"), array("q"), array("b"))
    w = SampleStreamWriter(tmp_path / SAMPLE_STREAM)
    chunk, rows = encode_chunk("load.level_50#1-ab", 50, [rtt, empty, connect])
    assert rows == n + 2 and decode_chunk(chunk).num_rows == rows
    w.write(chunk, rows)
    w.write(*encode_chunk("other", 1, []))  # an empty window adds nothing
    w.write(*encode_chunk("other", 1, [("rtt_ms:ä", array("d", [1.0]), array("d", [3.0]), array("q", [0]), b"\x01")]))
    w.close()
    batches = list(iter_sample_stream(tmp_path / SAMPLE_STREAM))
    assert all(b.schema.equals(file_schema(), check_metadata=True) for b in batches)
    df = read_sample_stream(tmp_path, "r")
    assert len(df) == n + 3 and w.rows == n + 3
    r = df[df["metric"] == "rtt_ms"]
    assert r["value_ms"].tolist() == [float(i) for i in range(n)] and r["conn_index"].tolist() == list(range(7, 7 + n))
    assert r["t_offset_s"].tolist() == [i / 10 for i in range(n)] and (r["concurrency"] == 50).all()
    assert r.index[~r["ok"]].tolist() == [5, 1000] and (r["probe_id"] == "load.level_50#1-ab").all()
    c = df[df["metric"] == "connect_ms"]
    assert c["ok"].tolist() == [True, False] and c["conn_index"].tolist() == [7, 8]
    assert df.iloc[-1][["probe_id", "metric", "value_ms", "concurrency"]].tolist() == ["other", "rtt_ms:ä", 1.0, 1]
    with np.testing.assert_raises(ValueError):  # rows of another schema are refused, not appended
        import pyarrow as pa

        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, pa.schema([("x", pa.int64())])) as other:
            other.write_table(pa.table({"x": [1]}))
        SampleStreamWriter(tmp_path / "x.arrows").write(sink.getvalue().to_pybytes(), 1)


def test_the_load_process_imports_neither_pyarrow_nor_numpy_while_it_runs(tmp_path):
    """The memory figure of ``load --workers 0`` rests on this: the engine and the stream writer are nanoarrow only.

    In a fresh interpreter: the engine with the streaming writer (as the saturation bench runs it), then the load
    command's capture (``capture_load``), looked at when the load has ended and before the run is consolidated.
    """
    from benchmarks.__main__ import Proc, W, free_port

    code = f"""
import json, sys
from pathlib import Path
import pitchey_analysis.load.capture as capture
from pitchey_analysis.capture.samplestream import SampleStreamWriter
from pitchey_analysis.load import LoadPlan, run_load
from pitchey_analysis.load.spec import ECHO_PING, UserSpec
heavy = lambda: sorted(m for m in ("pyarrow", "numpy", "pandas") if m in sys.modules)
writer = SampleStreamWriter(Path({str(tmp_path / SAMPLE_STREAM)!r}))
plan = LoadPlan(sys.argv[1], levels=(3,), duration_s=0.5, model="closed", workers=0, await_first_frame=False,
                ping=ECHO_PING)
res = run_load(plan, progress=False, keep_samples=False, probe_id="p#1",
               on_message=lambda m: m["chunk"] is not None and writer.write(m["chunk"], m["rows"]))
writer.close()
out = {{"answered": res.answered, "samples": res.samples, "rows": writer.rows, "engine": heavy()}}
close = capture.LoadCapture.close
def before_close(self, *a, **k):
    out["capture"] = heavy()
    return close(self, *a, **k)
capture.LoadCapture.close = before_close
plan = LoadPlan(sys.argv[1], levels=(2,), duration_s=0.5, workers=0, settle_s=0.1, poll_s=0.2,
                await_first_frame=False, ping=ECHO_PING)
run = capture.capture_load(plan, out=Path({str(tmp_path / "runs")!r}), progress=False,
                           users=(UserSpec(name="echo", rate_per_s=20, operations=(ECHO_PING,)),))
out["run"] = str(run)
print(json.dumps(out))
"""
    port = free_port()
    with Proc([*W, "picows-echo-server", str(port)], "ready"):
        proc = subprocess.run(
            [sys.executable, "-c", code, f"ws://127.0.0.1:{port}/"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=120,
        )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out["engine"] == [] and out["capture"] == [], out
    assert out["answered"] > 100 and out["samples"] == out["rows"] == out["answered"] + 3
    df = read_sample_stream(tmp_path, "r")
    assert len(df) == out["rows"] and sorted(df.loc[df["metric"] == "connect_ms", "conn_index"]) == [0, 1, 2]
    assert (df["probe_id"] == "p#1").all() and (df["concurrency"] == 3).all()
    run = load_run(Path(out["run"]))
    rtt = run.samples[run.samples["metric"] == "rtt_ms"]
    assert len(rtt) > 10 and rtt["ok"].all() and (run.samples["probe_id"] == run.probes.iloc[0]["probe_id"]).all()
    assert (run.samples["concurrency"] == 2).all() and run.manifest["load_capture"]["samples"] == len(run.samples)
    assert run.source == "parquet" and not (run.path / SAMPLE_STREAM).exists()  # consolidated, the stream removed


def test_a_killed_load_keeps_its_samples_up_to_the_last_two_seconds(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = open(tmp_path / "load.log", "w")
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pitchey_analysis.cli",
            "load",
            "--connections",
            "10",
            "--duration",
            "60",
            "--rate",
            "20",
            "--workers",
            "1",
            "--out",
            str(tmp_path / "runs"),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        stream = None
        while time.monotonic() < deadline and p.poll() is None:
            found = list((tmp_path / "runs").glob(f"*/{SAMPLE_STREAM}"))
            if found and found[0].stat().st_size > 2000:
                stream = found[0]
                break
            time.sleep(0.1)
        assert stream is not None, (tmp_path / "load.log").read_text()[-2000:]
        time.sleep(
            2.5
        )  # not a wait for an event: the kill must fall at any moment of a load under way, between flushes
        killed_at = time.time()
        os.killpg(p.pid, signal.SIGKILL)  # the CLI, its embedded target and its Dask workers at once
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout=10)
        log.close()
    run = load_run(stream.parent)
    assert run.source == "jsonl" and run.manifest["status"] == "running"
    started = dt.datetime.fromisoformat(run.manifest["started_at"]).timestamp()
    rtt = run.samples[(run.samples["metric"] == "rtt_ms") & run.samples["ok"]]
    last = started + float(rtt["t_offset_s"].max())
    print(f"last kept sample {killed_at - last:.2f} s before the kill, {len(rtt)} round trips kept")
    assert killed_at - last < 2.0, f"the last kept sample was taken {killed_at - last:.2f} s before the kill"
    assert len(rtt) > 300  # 10 connections at 20/s for over 2.5 s
    windows = [
        json.loads(x)
        for x in (stream.parent / "events.jsonl").read_text().splitlines()
        if '"generator"' in x and x.endswith("}")
    ]
    assert windows and all("lag_max_ms" in w for w in windows)
