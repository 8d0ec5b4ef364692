"""Issue 13's targets against the bench's plain picows echo target: soak, open rate, a starved generator.

* :func:`bench_soak` — a long open-model run made as the ``load`` command makes it (``benchmarks/loadrun.py``,
  a whole process with its Dask workers), every sample accounted for in the run dataset, and the resident
  memory of the ``load`` process and of each worker sampled from outside every few seconds: growth from the
  end of the first tenth of the run (minute 1 of 10) to its end, per process.
* :func:`bench_opens` — connections opened per second by the load engine (hold model, several client processes
  and loopback source addresses), and the target's own CPU while they opened: when it is near a whole core,
  the target, not the engine, set the rate, and its limit is reported separately.
* :func:`bench_starved` — one scenario run twice, the client pinned to one CPU, once alone and once beside busy
  processes pinned to the same CPU: the package's own soak analysis must call the starved run's latency
  verdict "not verified (generator saturated)" and the other verified.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LOADRUN = Path(__file__).with_name("loadrun.py")
PY = sys.executable


def _env() -> dict[str, str]:
    """This checkout's package first on the path of the bench's children."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}


class MemoryWatch:
    """Resident memory of a process and all its descendants, sampled every ``every_s`` in a thread (psutil)."""

    def __init__(self, pid: int, every_s: float = 2.0) -> None:
        import psutil

        self.root = psutil.Process(pid)
        self.every_s = every_s
        self.samples: list[tuple[float, int, float]] = []  # (epoch, pid, rss MB)
        self.names: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        import psutil

        while not self._stop.is_set():
            now = time.time()
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                return
            for p in procs:
                try:
                    rss = p.memory_info().rss / 2**20
                    if p.pid not in self.names:
                        self.names[p.pid] = " ".join(p.cmdline()[:3])[-80:]
                except psutil.Error:
                    continue
                self.samples.append((now, p.pid, rss))
            self._stop.wait(self.every_s)

    def start(self) -> MemoryWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def at(self, pid: int, t: float) -> float | None:
        """The last sample of ``pid`` at or before ``t`` (None before its first)."""
        best = None
        for ts, p, rss in self.samples:
            if p == pid and ts <= t:
                best = rss
        return best


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def account(run: Path) -> dict[str, Any]:
    """Every sample of a load run accounted for: the probe record's counters against the rows of ``samples.parquet``.

    ``sent`` messages each leave one round-trip row (answered, or failed as a timeout or a close before the
    answer); a send on a closed connection leaves a failed row without being sent; every connection attempt
    leaves one ``connect_ms`` row.
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    manifest = json.loads((run / "manifest.json").read_text())
    if not (run / "samples.parquet").exists():
        raise RuntimeError(
            f"the run {run.name} has no samples.parquet: status {manifest.get('status')!r}, "
            f"{manifest.get('degraded_reason')!r}; files {sorted(f.name for f in run.iterdir())}"
        )
    probes = pq.read_table(run / "probes.parquet", columns=["probe", "observed"]).to_pylist()
    obs = [json.loads(p["observed"]) for p in probes if str(p["probe"]).startswith("load.")]
    sent = sum(o["sent"] for o in obs)
    answered = sum(o["answered"] for o in obs)
    errors: dict[str, int] = {}
    for o in obs:
        for k, v in o["errors"].items():
            errors[k] = errors.get(k, 0) + v
    samples = sum(o["samples"] for o in obs)
    t = pq.read_table(run / "samples.parquet", columns=["metric", "ok"])
    rtt = pc.equal(t.column("metric"), "rtt_ms")
    ok = t.column("ok")
    rows = t.num_rows
    rtt_rows = int(pc.sum(rtt).as_py() or 0)
    rtt_ok = int(pc.sum(pc.and_(rtt, ok)).as_py() or 0)
    failed_sent = errors.get("timeout", 0) + errors.get("closed_before_answer", 0)
    checks = {
        "sent = answered + timeouts + closed before answer": sent == answered + failed_sent,
        "round-trip rows = sent + sends on closed connections": rtt_rows == sent + errors.get("send_on_closed", 0),
        "answered round-trip rows = answered": rtt_ok == answered,
        "rows in samples.parquet = samples the shards took": rows == samples,
        "no sample cap, none not kept": manifest.get("load_capture", {}).get("samples_not_kept") == 0,
    }
    return {
        "sent": sent,
        "answered": answered,
        "failed": failed_sent,
        "errors": errors,
        "rows": rows,
        "rtt_rows": rtt_rows,
        "rtt_ok_rows": rtt_ok,
        "samples_counted": samples,
        "every_sample_kept": all(checks.values()),
        "failed_checks": [k for k, v in checks.items() if not v],
        "shards": [s for o in obs for s in o["shards"]],
    }


# -- soak ---------------------------------------------------------------------------
def bench_soak(
    duration_s: float, rate_per_s: float, connections: int, workers: int = 2, every_s: float = 2.0
) -> list[dict]:
    """A ``duration_s`` run at ``rate_per_s`` messages per second over ``connections``; memory growth per process."""
    from .__main__ import Proc, W, free_port

    port = free_port()
    rate_per_conn = rate_per_s / connections
    with Proc([*W, "picows-echo-server", str(port)], "ready") as server, tempfile.TemporaryDirectory() as d:
        opts = {
            "url": f"ws://127.0.0.1:{port}/",
            "connections": connections,
            "duration_s": duration_s,
            "rate_per_conn": rate_per_conn,
            "workers": workers,
            "out": d,
            "window_s": max(1.0, min(60.0, duration_s / 10)),
            "connect_rate": 2000,
        }
        server_cpu0 = _cpu_s(server.p.pid)
        p = subprocess.Popen(
            [PY, str(LOADRUN), json.dumps(opts)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env()
        )
        watch = MemoryWatch(p.pid, every_s).start()
        try:
            out, err = p.communicate(timeout=duration_s + 300)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        finally:
            watch.stop()
        server_cpu = _cpu_s(server.p.pid) - server_cpu0
        lines = [ln for ln in out.splitlines() if ln.startswith("{")]
        if p.returncode != 0 or not lines:
            raise RuntimeError(f"the load run failed ({p.returncode}): {err[-600:]}")
        res = json.loads(lines[-1])
        run = Path(res["run"])
        acc = account(run)
        manifest = json.loads((run / "manifest.json").read_text())
        windows = _generator(run)
        rtt = _rtt(run)
    run_start = _epoch(manifest["started_at"])
    t_first = run_start + float(windows["t_offset_s"].min()) - 0.5  # the first window ends half a second into the load
    mark1, mark10 = t_first + duration_s / 10, t_first + duration_s
    worker_pids = {int(s["pid"]) for s in acc["shards"]}
    procs = [("load process", p.pid)] + [
        (f"worker {s['shard']} (pid {s['pid']})", int(s["pid"])) for s in acc["shards"]
    ]
    growth = {}
    for label, pid in procs:
        a, b = watch.at(pid, mark1), watch.at(pid, mark10)
        growth[label] = {
            "rss_mb_at_1_10": a,
            "rss_mb_at_end": b,
            "growth_mb": (b - a) if a is not None and b is not None else None,
        }
    others = sorted({pid for _, pid, _ in watch.samples} - worker_pids - {p.pid})
    peak_others = {watch.names.get(pid, str(pid)): max(r for _, q, r in watch.samples if q == pid) for pid in others}
    worst = max((g["growth_mb"] for g in growth.values() if g["growth_mb"] is not None), default=None)
    sat = manifest.get("generator", {})
    span = float(windows["t_offset_s"].max() - windows["t_offset_s"].min()) + 0.5
    return [
        {
            "tool": "pitchey-analysis load",
            "scenario": f"soak {duration_s:g} s at {rate_per_s:,.0f} msg/s ({connections} conns, "
            f"{workers} workers), picows echo",
            "round_trips_per_s": acc["answered"] / span,
            "cpu_s_per_10k": None,
            "peak_rss_mb": max(r for _, _, r in watch.samples) if watch.samples else None,
            "p50_ms": float(np.percentile(rtt, 50)) if rtt.size else None,
            "p99_ms": float(np.percentile(rtt, 99)) if rtt.size else None,
            "sent": acc["sent"],
            "answered": acc["answered"],
            "failed": acc["failed"],
            "errors": acc["errors"],
            "rows": acc["rows"],
            "every_sample_kept": acc["every_sample_kept"],
            "failed_checks": acc["failed_checks"],
            "rss_growth_mb": {
                k: round(v["growth_mb"], 1) if v["growth_mb"] is not None else None for k, v in growth.items()
            },
            "rss_mb_at_1_10_and_end": {
                k: [round(v["rss_mb_at_1_10"] or 0, 1), round(v["rss_mb_at_end"] or 0, 1)] for k, v in growth.items()
            },
            "max_growth_mb": worst,
            "growth_under_50_mb": worst is not None and worst < 50,
            "rss_sampled_every_s": every_s,
            "other_processes_peak_rss_mb": {k: round(v, 1) for k, v in peak_others.items()},
            "generator": sat.get("note"),
            "target_cpu_s": server_cpu,
            "summary_s": res["summary_s"],
            "load_peak_rss_mb_with_summary": res["peak_rss_mb"],
            "load_wall_s": res["load_wall_s"],
            "command": "benchmarks/loadrun.py: capture_load (the load command's capture path) + the command's summary",
        }
    ]


def _cpu_s(pid: int) -> float:
    import psutil

    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def _generator(run: Path) -> Any:
    from pitchey_analysis.capture.dataset import load_events

    return load_events(run, "generator")


def _rtt(run: Path) -> np.ndarray:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    t = pq.read_table(run / "samples.parquet", columns=["metric", "value_ms", "ok"])
    t = t.filter(pc.and_(pc.equal(t.column("metric"), "rtt_ms"), t.column("ok")))
    return t.column("value_ms").to_numpy()


# -- opens ----------------------------------------------------------------------------
def bench_opens(
    n: int, client_workers: int = 2, hold_s: float = 2.0, sources: int | None = None, connect_rate: float | None = None
) -> list[dict]:
    """``n`` connections opened by ``client_workers`` processes; the target's CPU beside.

    ``sources``: source addresses (127.0.0.2, ...), by default one per 2,500 connections (none up to 2,500: the
    kernel picks the address and port). ``connect`` searches an address's ephemeral ports for a free one, longer the
    fuller they are: Linux tries the even half first (14,116 of 32768-60999 here) and, once those to the same
    destination are taken, scans them all on every connect. At 19,000 here: bare picows from one address 1,063 opens
    a second (1,380 us of client CPU each); the engine from two addresses 1,761, from four 1,900, from eight 2,035.
    """
    import psutil

    from pitchey_analysis.load import LoadPlan, run_load
    from pitchey_analysis.load.spec import ECHO_PING

    from .__main__ import Proc, W, free_port

    port = free_port()
    sources_n = sources if sources is not None else -(-n // 2_500) if n > 2_500 else 0
    sources_t = tuple(f"127.0.0.{i}" for i in range(2, 2 + sources_n))
    with Proc([*W, "picows-echo-server", str(port)], "ready") as server:
        sp = psutil.Process(server.p.pid)
        cpu: list[tuple[float, float]] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                t = sp.cpu_times()
                cpu.append((time.time(), t.user + t.system))
                stop.wait(0.1)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        overflows0 = _listen_overflows()
        run_start = time.time()
        try:
            plan = LoadPlan(
                f"ws://127.0.0.1:{port}/",
                levels=(n,),
                duration_s=hold_s,
                model="hold",
                workers=client_workers,
                source_addresses=sources_t,
                connect_rate=connect_rate if connect_rate is not None else max(40_000.0, 4.0 * n),
                await_first_frame=False,
                ping=ECHO_PING,
            )
            res = run_load(plan, progress=False, run_start=run_start)
        finally:
            stop.set()
            th.join(5)
    starts, ends, shard_rates = [], [], []
    for s in res.shards:
        m = np.asarray(s.metric)
        sel = (m == "connect_ms") & np.asarray(s.ok, dtype=bool)
        a, b = np.asarray(s.t_offset_s)[sel], np.asarray(s.t_offset_s)[sel] + np.asarray(s.value_ms)[sel] / 1000
        starts.append(a)
        ends.append(b)
        if a.size:
            shard_rates.append(a.size / max(1e-9, float(b.max() - a.min())))
    t_a, t_b = float(np.concatenate(starts).min()), float(np.concatenate(ends).max())
    span = t_b - t_a
    opens_per_s = res.opened / span if span > 0 else None
    ts, cs = np.array([c[0] for c in cpu]), np.array([c[1] for c in cpu])
    target_cpu = float(np.interp(run_start + t_b, ts, cs) - np.interp(run_start + t_a, ts, cs)) if len(ts) > 1 else None
    share = target_cpu / span if target_cpu is not None and span > 0 else None
    overflows = _listen_overflows() - overflows0
    bound = (share is not None and share >= 0.85) or overflows > 0  # busy, or its accept queue dropped connections
    connect = np.concatenate(
        [
            np.asarray(s.value_ms)[(np.asarray(s.metric) == "connect_ms") & np.asarray(s.ok, dtype=bool)]
            for s in res.shards
        ]
    )
    return [
        {
            "tool": "pitchey-analysis load",
            "scenario": f"open {n:,} connections (hold), picows echo",
            "round_trips_per_s": None,
            "cpu_s_per_10k": None,
            "peak_rss_mb": max(s.peak_rss_mb for s in res.shards),
            "p50_ms": float(np.percentile(connect, 50)),
            "p99_ms": float(np.percentile(connect, 99)),
            "opened": res.opened,
            "held": res.held,
            "open_phase_s": span,
            "opens_per_s": opens_per_s,
            "opens_target_met": bool(opens_per_s and opens_per_s >= 4000),
            "shard_opens_per_s": [round(r) for r in shard_rates],
            "client_cpu_s": sum(s.cpu_s for s in res.shards),
            "listen_queue_overflows": overflows,
            "target_cpu_s_open_phase": target_cpu,
            "target_cpu_share_open_phase": share,
            "target_is_bottleneck": bound,
            "target_limit_opens_per_s": res.opened / target_cpu if bound and target_cpu else None,
            "client": f"{client_workers} processes, "
            + (f"source addresses {', '.join(sources_t)}" if sources_t else "no source address"),
            "errors": res.errors(),
            "error_examples": res.error_examples(),
            "note": "opens_per_s: all connections over the open phase (first connect start to last connect end, every "
            "shard); shard_opens_per_s: each client process over its own; p50/p99: connect_ms (TCP + WebSocket "
            "upgrade); target limit: opens per CPU-second of the one-process echo server, reported when it was busy "
            ">= 85% of the open phase; listen_queue_overflows: the kernel's TcpExt ListenOverflows over the run "
            "(SYNs the target's accept queue dropped; the whole network namespace)",
        },
        bare_picows_opens(n, client_workers, sources=sources_t),
    ]


def bare_picows_opens(n: int, procs: int, batch: int = 200, sources: tuple[str, ...] = ()) -> dict[str, Any]:
    """The same opens made by ``procs`` bare picows clients (workloads ``picows-opener``): the floor for any picows
    client.

    With ``sources``, each client binds its connections to the addresses in turn, as the engine does.

    Against a fresh echo target of the same kind; the target's CPU per open and the clients' together say how many
    opens a second this machine's cores can make at all: ``machine_bound_opens_per_s`` = cores / (client + target
    CPU per open).
    """
    import psutil

    from .__main__ import Proc, W, free_port

    port = free_port()
    with Proc([*W, "picows-echo-server", str(port)], "ready") as server:
        sp = psutil.Process(server.p.pid)
        c0 = sum(sp.cpu_times()[:2])
        per = [n // procs + (1 if i < n % procs else 0) for i in range(procs)]
        ps = [
            subprocess.Popen(
                [*W, "picows-opener", f"ws://127.0.0.1:{port}/", str(k), str(batch), ",".join(sources)],
                stdout=subprocess.PIPE,
                text=True,
            )
            for k in per
        ]
        outs = [p.communicate(timeout=300)[0] for p in ps]
        target_cpu = sum(sp.cpu_times()[:2]) - c0
    figs = [json.loads([ln for ln in o.splitlines() if ln.startswith("{")][-1]) for o in outs]
    opened = sum(f["opened"] for f in figs)
    span = max(f["open_s"] for f in figs)
    client_us = sum(f["cpu_s"] for f in figs) / max(1, opened) * 1e6
    target_us = target_cpu / max(1, opened) * 1e6  # its whole run: the closes at the end included
    return {
        "tool": "bare picows ws_connect (floor)",
        "scenario": f"open {n:,} connections (hold), picows echo",
        "round_trips_per_s": None,
        "cpu_s_per_10k": None,
        "peak_rss_mb": max(f["peak_rss_mb"] for f in figs),
        "p50_ms": None,
        "p99_ms": None,
        "opened": opened,
        "failed": sum(f["failed"] for f in figs),
        "open_phase_s": span,
        "opens_per_s": opened / span if span > 0 else None,
        "client_cpu_us_per_open": client_us,
        "target_cpu_us_per_open": target_us,
        "machine_bound_opens_per_s": (os.cpu_count() or 1) / ((client_us + target_us) / 1e6) if opened else None,
        "client": f"{procs} processes, {batch} ws_connect at a time, no engine, "
        + (f"source addresses {', '.join(sources)}" if sources else "no source address"),
        "note": "physical reference: what a picows client with nothing around it opens against the same target; "
        "machine_bound_opens_per_s: this machine's cores over the client's and the target's CPU per open "
        "(the target's includes closing them)",
    }


def _listen_overflows() -> int:
    """The kernel's count of connections dropped because a listen queue was full (TcpExt ListenOverflows)."""
    lines = [ln.split() for ln in Path("/proc/net/netstat").read_text().splitlines() if ln.startswith("TcpExt:")]
    if len(lines) < 2:
        return 0
    return int(dict(zip(lines[0], lines[1], strict=False)).get("ListenOverflows", 0))


# -- starved --------------------------------------------------------------------------
BUSY = "import os, sys; os.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True: pass"


def _lowest_priority(pid: int) -> None:
    """Every thread of ``pid`` at nice 19 (threads it starts later inherit it): beside busy processes at nice 0 it gets
    a sliver of the CPU however little it needs, so the starvation does not depend on how light the generator is
    (beside three equal busy processes a quarter of a core was enough for the starved scenario's 2,000 messages a
    second once the shards stopped compressing their chunks). Linux applies ``setpriority`` per thread."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            os.setpriority(os.PRIO_PROCESS, int(task.name), 19)
        except (ProcessLookupError, PermissionError):
            pass


def _starved_run(
    url: str, seconds: float, connections: int, rate_per_conn: float, cpu: int, out: str, busy: int
) -> dict[str, Any]:
    """One run of the load pinned to ``cpu``; ``busy`` busy processes pinned there too, and the load at the lowest
    priority, from half a second after the level starts (after the imports, which would otherwise take minutes on a
    sliver of a CPU, and after its 100 connections are open: starved from the start, opening them took longer than
    the level, and only the opening was starved) until it ends."""
    opts = {
        "url": url,
        "connections": connections,
        "duration_s": seconds,
        "rate_per_conn": rate_per_conn,
        "workers": 0,
        "out": out,
        "cpus": [cpu],
        "summary": False,
        "connect_rate": 2000,
    }
    p = subprocess.Popen(
        [PY, str(LOADRUN), json.dumps(opts)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env()
    )
    hogs: list[subprocess.Popen] = []
    lines = []
    lock = threading.Lock()

    def start_hogs() -> None:
        with lock:
            hogs.extend(subprocess.Popen([PY, "-c", BUSY, str(cpu)]) for _ in range(busy))
        _lowest_priority(p.pid)

    def stop_hogs() -> None:
        with lock:
            for h in hogs:
                h.kill()
                h.wait()
            hogs.clear()

    start = threading.Timer(0.5, start_hogs)
    stop = threading.Timer(seconds + 1.5, stop_hogs)  # the level is over: the run's consolidation gets the CPU back
    try:
        assert p.stdout is not None
        for line in p.stdout:
            lines.append(line)
            if line.startswith("LEVEL") and busy:
                start.start()
                stop.start()
            if line.startswith("{"):
                break
        p.wait(timeout=seconds + 300)
    finally:
        start.cancel()
        stop.cancel()
        if start.ident is not None:
            start.join()  # a start already under way ends before the hogs are stopped
        stop_hogs()
        if p.poll() is None:
            p.kill()
            p.wait()
    err = p.stderr.read() if p.stderr else ""
    js = [ln for ln in lines if ln.startswith("{")]
    if p.returncode != 0 or not js:
        raise RuntimeError(f"the load run failed ({p.returncode}): {err[-600:]}")
    return json.loads(js[-1])


def verdict(run: Path, window_s: float) -> dict[str, Any]:
    """The package's own soak analysis of a load run: the latency verdict and the generator's saturation."""
    from pitchey_analysis.analysis.soak import analyze_soak
    from pitchey_analysis.capture.dataset import load_events, load_run

    r = load_run(run)
    soak = analyze_soak(r.samples, load_events(r, "generator"), load_events(r, "target_stats"), window_s=window_s)
    slo = soak.slo.iloc[0]
    sat = soak.saturation
    ok = r.samples[(r.samples["metric"] == "rtt_ms") & r.samples["ok"].fillna(False)]["value_ms"].to_numpy()
    return {
        "verdict": f"{slo['status']}" + (" (generator saturated)" if "generator saturated" in str(slo["note"]) else ""),
        "verdict_note": str(slo["note"]),
        "saturated_windows": sat.saturated_windows,
        "windows": sat.windows,
        "saturated_share": sat.share,
        "lag_max_ms": sat.lag_max_ms,
        "late": sat.late,
        "dropped": sat.dropped,
        "sent": sat.sent,
        "p50_ms": float(np.percentile(ok, 50)) if ok.size else None,
        "p99_ms": float(np.percentile(ok, 99)) if ok.size else None,
    }


def bench_starved(seconds: float, connections: int = 100, rate_per_conn: float = 20.0, busy: int = 3) -> list[dict]:
    """The same scenario with the client alone on CPU 0 and beside ``busy`` busy processes pinned to CPU 0."""
    from .__main__ import Proc, W, free_port

    cpus = sorted(os.sched_getaffinity(0))
    client_cpu, server_cpu = cpus[0], cpus[-1]
    port = free_port()
    url = f"ws://127.0.0.1:{port}/"
    rows = []
    with Proc([*W, "picows-echo-server", str(port)], "ready") as server, tempfile.TemporaryDirectory() as d:
        if server_cpu != client_cpu:
            os.sched_setaffinity(
                server.p.pid, {server_cpu}
            )  # the target keeps its own CPU: only the generator is starved
        for starved in (False, True):
            res = _starved_run(
                url,
                seconds,
                connections,
                rate_per_conn,
                client_cpu,
                str(Path(d) / ("starved" if starved else "alone")),
                busy if starved else 0,
            )
            v = verdict(Path(res["run"]), max(1.0, seconds / 10))
            what = (
                f"beside {busy} busy processes pinned to CPU {client_cpu}" if starved else f"alone on CPU {client_cpu}"
            )
            rows.append(
                {
                    "tool": "pitchey-analysis load",
                    "scenario": f"starved: client {what}, {connections} conns x {rate_per_conn:g} msg/s, {seconds:g} s",
                    "round_trips_per_s": None,
                    "cpu_s_per_10k": None,
                    "peak_rss_mb": res.get("peak_rss_mb"),
                    **v,
                    "starved": starved,
                    "expected": "not verified (generator saturated)"
                    if starved
                    else "verified (pass or fail on the target)",
                }
            )
    ok = rows[1]["verdict"].startswith("not verified (generator saturated)") and "saturated" not in rows[0]["verdict"]
    for r in rows:
        r["saturation_detected_as_expected"] = ok
    return rows
