"""Streaming capture: a killed ``load`` keeps its samples up to its last seconds; the stream reader stops at a torn batch."""

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
    read_sample_stream,
    tag_chunk,
)

ROOT = Path(__file__).resolve().parents[2]


def test_stream_reader_stops_quietly_at_a_torn_last_batch(tmp_path):
    w = SampleStreamWriter(tmp_path / SAMPLE_STREAM)
    for k in range(3):
        chunk = encode_chunk(["rtt_ms"], np.zeros(100, "int32"), np.full(100, float(k)), np.arange(100.0), np.arange(100), np.ones(100, bool))
        w.write(tag_chunk(decode_chunk(chunk), "p#1", 10))
    w._fh.flush()
    data = (tmp_path / SAMPLE_STREAM).read_bytes()
    (tmp_path / SAMPLE_STREAM).write_bytes(data[:-40])  # killed in the middle of the last batch
    df = read_sample_stream(tmp_path, "r")
    assert len(df) == 200 and set(df["value_ms"]) == {0.0, 1.0}
    assert str(df["metric"].dtype) == "category" and df["ok"].all()


def test_a_killed_load_keeps_its_samples_up_to_the_last_two_seconds(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = open(tmp_path / "load.log", "w")
    p = subprocess.Popen([sys.executable, "-m", "pitchey_analysis.cli", "load", "--connections", "10", "--duration", "60",
                          "--rate", "20", "--workers", "1", "--out", str(tmp_path / "runs")],
                         cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True)
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
        time.sleep(2.5)
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
    windows = [json.loads(x) for x in (stream.parent / "events.jsonl").read_text().splitlines()
               if '"generator"' in x and x.endswith("}")]
    assert windows and all("lag_max_ms" in w for w in windows)
