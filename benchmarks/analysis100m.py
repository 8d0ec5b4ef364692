"""Summarizing a very large load run: its samples made with numpy, written in chunks, summarized in a fresh process.

``python benchmarks/analysis100m.py summarize RUN_DIR WINDOW_S`` (what the bench runs as a child, so that its
peak resident memory, ``ru_maxrss``, is the summary's alone) reads the four columns a summary needs
(:func:`pitchey_analysis.capture.dataset.load_samples`) and makes exactly what the soak section shows:
percentiles with intervals for each metric (:func:`~pitchey_analysis.analysis.latency_summary`), per-window
percentiles with intervals (:func:`~pitchey_analysis.analysis.soak.windowed_percentiles`) and the drift test
on them (:func:`~pitchey_analysis.analysis.soak.latency_drift`, Theil–Sen). It prints one JSON line.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

METRICS = ("rtt_ms", "connect_ms", "tcp_connect_ms", "ws_upgrade_ms")
SPAN_S = 5000.0  # the run's length: 100 M samples at 20,000 a second


def generate(run: Path, n: int, chunk: int = 5_000_000, seed: int = 0) -> Path:
    """A run directory of ``n`` samples over ``SPAN_S`` seconds (4 metrics, lognormal values, 0.1% failures)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pitchey_analysis.capture.records import frame_from_rows

    run.mkdir(parents=True, exist_ok=True)
    schema = pa.schema(
        [
            ("run_id", pa.string()),
            ("probe_id", pa.string()),
            ("metric", pa.string()),
            ("value_ms", pa.float64()),
            ("t_offset_s", pa.float64()),
            ("concurrency", pa.int64()),
            ("conn_index", pa.int64()),
            ("ok", pa.bool_()),
        ]
    )
    rng = np.random.default_rng(seed)
    names = pa.array(METRICS, pa.string())
    with pq.ParquetWriter(run / "samples.parquet", schema) as w:
        for start in range(0, n, chunk):
            k = min(chunk, n - start)
            ok = rng.random(k) > 0.001
            value = rng.lognormal(0.0, 0.5, k)
            value[~ok] = np.nan
            t = np.arange(start, start + k, dtype="float64") * (SPAN_S / n)
            metric = pa.DictionaryArray.from_arrays(pa.array(rng.integers(0, len(METRICS), k, dtype="int8")), names)
            const = pa.DictionaryArray.from_arrays(pa.array(np.zeros(k, dtype="int8")), pa.array(["bench"]))
            probe = pa.DictionaryArray.from_arrays(pa.array(np.zeros(k, dtype="int8")), pa.array(["load.level_1000#1"]))
            w.write_table(
                pa.table(
                    [
                        const.cast(pa.string()),
                        probe.cast(pa.string()),
                        metric.cast(pa.string()),
                        value,
                        t,
                        np.full(k, 1000, dtype="int64"),
                        rng.integers(0, 1000, k),
                        ok,
                    ],
                    schema=schema,
                ),
                row_group_size=1_000_000,
            )
    frame_from_rows(
        "probes",
        [
            {
                "probe_id": "load.level_1000#1",
                "probe": "load.level_1000",
                "category": "performance",
                "outcome": "pass",
                "critical": False,
            }
        ],
    ).to_parquet(run / "probes.parquet", index=False)
    frame_from_rows("frames", []).to_parquet(run / "frames.parquet", index=False)
    (run / "manifest.json").write_text(json.dumps({"run_id": run.name, "status": "complete", "target": {"tls": False}}))
    return run


def _hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def summarize(run: Path, window_s: float) -> dict[str, Any]:
    """Read and summarize; the times of each step and the process's peak resident memory."""
    rss0 = _hwm_mb()
    t0 = time.perf_counter()
    from pitchey_analysis.analysis import latency_summary
    from pitchey_analysis.analysis.soak import latency_drift, windowed_percentiles
    from pitchey_analysis.capture.dataset import load_samples

    t_import = time.perf_counter()
    c_import = time.process_time()
    samples = load_samples(run, ["metric", "value_ms", "t_offset_s", "ok"])
    t_read = time.perf_counter()
    summary = latency_summary(samples)
    t_summary = time.perf_counter()
    windows = windowed_percentiles(samples, window_s)
    t_windows = time.perf_counter()
    drift = latency_drift(samples, window_s, windows=windows)
    t_drift = time.perf_counter()
    cpu = time.process_time() - c_import
    return {
        "cpu_s": cpu,
        "samples": len(samples),
        "import_s": t_import - t0,
        "read_s": t_read - t_import,
        "latency_summary_s": t_summary - t_read,
        "windowed_s": t_windows - t_summary,
        "drift_s": t_drift - t_windows,
        "total_s": t_drift - t_import,
        "summarize_s": t_drift - t_read,
        "metrics": len(summary),
        "windows": int(windows[["metric", "window"]].drop_duplicates().shape[0]),
        "drift": {str(r["metric"]): str(r["status"]) for _, r in drift.iterrows()},
        "p99_rtt_ms": [
            float(summary.loc[summary["metric"] == "rtt_ms", c].iloc[0]) for c in ("p99_lo", "p99", "p99_hi")
        ],
        "peak_rss_mb": _hwm_mb(),
        "rss_at_start_mb": rss0,
    }


if __name__ == "__main__":
    if sys.argv[1] == "summarize":
        print(json.dumps(summarize(Path(sys.argv[2]), float(sys.argv[3]))), flush=True)
    elif sys.argv[1] == "generate":
        generate(Path(sys.argv[2]), int(sys.argv[3]))
    else:
        raise SystemExit(f"unknown command {sys.argv[1]!r}")
