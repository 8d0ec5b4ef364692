"""Time to verdict: the suite's wall time against the embedded server, its probes side by side and one at a time.

Each run is the ``run`` command as a user types it (a whole process, the embedded server over wss://), timed from
outside (process wall) and from the run's own manifest (first to last record). The two schedules of the same target
are compared probe by probe (outcome and reason: none may differ) and on their latency figures: the p50 and p99 of
every timing metric with their 95 % intervals, and whether the intervals of the two schedules overlap. A control run
(the side-by-side schedule a second time) tells drift between runs from the schedule's own effect.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from .longrun import _env

PY = sys.executable
#: the metrics whose figures the two schedules must agree on (the timing probes' samples)
METRICS = ("tcp_connect_ms", "tls_handshake_ms", "ws_upgrade_ms", "rtt_ms", "auth_rtt_ms")
#: (suite, profile, whether one at a time is run too, the target wall time in seconds from issue 28)
CASES = (("full", "complete", True, 35.0), ("full", "pitchey-2025-11", True, 60.0), ("quick", "complete", False, 10.0))


def _run(suite: str, profile: str, sequential: bool, out: Path) -> tuple[float, Path]:
    cmd = [
        PY,
        "-m",
        "pitchey_analysis",
        "run",
        "--suite",
        suite,
        "--profile",
        profile,
        "--out",
        str(out),
        "--no-progress",
        "--fail-on",
        "never",
        *(["--sequential"] if sequential else []),
    ]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env={**_env(), "PITCHEY_TIMEOUT_SCALE": "1"})
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"run {suite} {profile} failed ({r.returncode}): {r.stderr[-400:]}")
    return wall, next(p for p in out.iterdir() if (p / "manifest.json").exists())


def _figures(run_dir: Path) -> dict[str, Any]:
    from pitchey_analysis import load_run
    from pitchey_analysis.analysis.latency import latency_summary

    run = load_run(run_dir)
    m = run.manifest
    span = (datetime.fromisoformat(m["ended_at"]) - datetime.fromisoformat(m["started_at"])).total_seconds()
    lat = latency_summary(run.samples).set_index("metric")
    figs = {
        q: {k: [lat.at[k, q], lat.at[k, f"{q}_lo"], lat.at[k, f"{q}_hi"]] for k in METRICS if k in lat.index}
        for q in ("p50", "p99")
    }
    return {
        "run_s": span,
        "outcomes": {r.probe: (r.outcome, r.reason) for r in run.probes.itertuples()},
        "latency": figs,
    }


def _overlap(a: list[float], b: list[float]) -> bool | None:
    """Whether two (value, lo, hi) intervals overlap; None when either has no bound."""
    import math

    lo_a, hi_a, lo_b, hi_b = a[1], a[2], b[1], b[2]
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in (lo_a, hi_a, lo_b, hi_b)):
        return None
    return bool(lo_a <= hi_b and lo_b <= hi_a)


def bench_time_to_verdict(quick: bool = False) -> list[dict]:
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-verdict-") as tmp:
        for suite, profile, both, target in CASES:
            wall, run_dir = _run(suite, profile, False, Path(tmp) / f"{suite}-{profile}-together")
            together = _figures(run_dir)
            row: dict[str, Any] = {
                "tool": "time to verdict",
                "scenario": f"{suite} suite, {profile}, wss://",
                "wall_s": round(wall, 1),
                "run_s": round(together["run_s"], 1),
                "target_s": target,
                "met": wall <= target,
            }
            if both and not quick:
                wall_seq, seq_dir = _run(suite, profile, True, Path(tmp) / f"{suite}-{profile}-sequential")
                seq = _figures(seq_dir)
                a, b = seq["outcomes"], together["outcomes"]
                differ = sorted(p for p in set(a) | set(b) if a.get(p) != b.get(p))
                overlaps = _overlaps(seq, together)
                # the control: the same schedule a second time. Two runs minutes apart on a shared machine drift
                # (a sub-millisecond p50 moves by more than its interval), so a figure apart between the schedules
                # is the schedule's doing only if it is not also apart between two runs of one schedule.
                _, again_dir = _run(suite, profile, False, Path(tmp) / f"{suite}-{profile}-together-again")
                drift = _overlaps(_figures(again_dir), together)
                apart = sorted(k for k, v in overlaps.items() if v is False)
                drifted = sorted(k for k, v in drift.items() if v is False)
                row.update(
                    {
                        "sequential_wall_s": round(wall_seq, 1),
                        "speedup": round(wall_seq / wall, 2),
                        "outcomes_differ": differ,
                        "latency_intervals_overlap": sum(1 for v in overlaps.values() if v),
                        "latency_intervals_apart": apart,
                        "apart_between_two_runs_of_one_schedule": drifted,
                        "apart_by_the_schedule": [k for k in apart if k not in drifted],
                        "p50_rtt_ms_sequential": _fmt(seq["latency"]["p50"].get("rtt_ms")),
                        "p50_rtt_ms_together": _fmt(together["latency"]["p50"].get("rtt_ms")),
                    }
                )
            rows.append(row)
            print(
                f"  {row['scenario']}: {wall:.1f} s (target {target:.0f} s)"
                + (
                    f", one at a time {row['sequential_wall_s']} s, outcomes differing: "
                    f"{row['outcomes_differ'] or 'none'}; latency apart by the schedule: "
                    f"{row['apart_by_the_schedule'] or 'none'} (between two runs of one schedule: "
                    f"{row['apart_between_two_runs_of_one_schedule'] or 'none'})"
                    if "sequential_wall_s" in row
                    else ""
                ),
                file=sys.stderr,
                flush=True,
            )
    return rows


def _overlaps(a: dict[str, Any], b: dict[str, Any]) -> dict[str, bool | None]:
    """For each p50/p99 of each metric in both runs: whether the two runs' 95 % intervals overlap."""
    return {
        f"{q}:{k}": _overlap(a["latency"][q][k], b["latency"][q][k])
        for q in ("p50", "p99")
        for k in a["latency"][q]
        if k in b["latency"][q]
    }


def _fmt(fig: list[float] | None) -> str | None:
    return None if fig is None else f"{fig[0]:.3f} [{fig[1]:.3f}, {fig[2]:.3f}]"
