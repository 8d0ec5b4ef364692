"""``make bench``: side-by-side figures on loopback, printed and written to reports/bench.json.

Sections (each bounded in time; ``--quick`` shrinks them):

1. echo: one connection, strict ping-pong, ~100-byte messages: raw TCP echo (the
   physical reference), our load engine's client (picows), websockets, k6.
2. saturation: 50 connections ping-ponging at once against the same plain echo
   server: our engine vs k6 vs Locust vs Artillery (each skipped, saying so, if not
   installed). One accounting for every tool: each runs as a whole process, short
   and long; whole-process CPU and peak RSS of the long run, and the marginal
   figures (long minus short, which removes start-up) on which the ratios rest.
3. reference: our engine against the reference server's ``/ws`` ping/pong.
4. server capacity: idle WebSocket connections one reference-server process
   holds, its memory per connection, and the time to fan one push out to all.
5. scale: connections held from one machine (several client processes and
   loopback source addresses, a multi-process server), opened per second.
6. analysis: loading ten million samples and computing the report's statistics.
7. analysis-100m: a hundred million samples (generated to Parquet in chunks) summarized in a fresh process:
   percentiles with intervals per metric, per-minute windows and the drift test; its time and peak RSS.
8. soak: ten minutes at 20,000 messages a second against the picows echo target, made as the ``load``
   command makes it (``benchmarks/loadrun.py``): every sample accounted for in the run dataset, the resident
   memory of the load process and of each worker from minute 1 to minute 10 (see ``benchmarks/longrun.py``).
9. opens: connections opened per second by the load engine against the picows echo target, the target's
   own CPU beside (its limit reported when it was the bottleneck).
10. starved: one scenario with the client alone on a CPU and beside busy processes pinned to it: the
    latency verdict must turn "not verified (generator saturated)".
11. verdict: time to verdict, the ``run`` command against the embedded server (full suite against complete and
    pitchey-2025-11, quick against complete), probes side by side and one at a time: wall times, every probe's
    outcome compared, latency intervals compared (``benchmarks/verdict.py``).
12. flood: good clients' ping round trips against ``serve --profile complete`` (its rate limit on), alone and
    then beside one attacker flooding ping control frames, then text messages, in one run: p50 and p99 of each
    and their ratio to the clients alone, the server's CPU, and how the attacker's connections ended (issue 31:
    p99 under 100 ms beside one flooder; the rate limit's close is 1008, never a reset).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from pitchey_analysis.demo import BY_TYPE, DEMO_PASSWORD
from pitchey_analysis.net import free_port

PY = sys.executable
W = [PY, str(Path(__file__).with_name("workloads.py"))]  # run as a script: works from any working directory


class Proc:
    """A background process that is always stopped."""

    def __init__(self, cmd: list[str], ready: str | None = None, env: dict | None = None) -> None:
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        if ready:
            end = time.monotonic() + 30
            while time.monotonic() < end:
                line = self.p.stdout.readline()  # type: ignore[union-attr]
                if ready in line:
                    return
                if self.p.poll() is not None:
                    break
            raise RuntimeError(f"{cmd[:4]} did not start")

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
            try:
                self.p.wait(15)
            except subprocess.TimeoutExpired:
                self.p.kill()

    def __enter__(self) -> Proc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_http(url: str, timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def reference_server(port: int, workers: int = 1) -> Proc:
    cmd = [
        PY,
        "-m",
        "pitchey_analysis.cli",
        "serve",
        "--port",
        str(port),
        "--disable",
        "rate_limit",
        "--disable",
        "lockout",
        "--knob",
        "ping_interval=600",
        "--knob",
        "idle_timeout=3600",
        "--knob",
        "dashboard_interval=3600",
        "--jwt-secret",
        "bench-" + "s" * 40,
        "--workers",
        str(workers),
    ]
    p = Proc(cmd)
    try:  # on a shared 2-core machine one server process took 25 s to answer (load average 9): room per process
        wait_http(f"http://127.0.0.1:{port}/api/health", timeout=60 + 30 * workers)
    except RuntimeError:
        p.stop()
        raise
    return p


def row(tool: str, scenario: str, fig: dict, **extra: Any) -> dict:
    return {
        "tool": tool,
        "scenario": scenario,
        "round_trips_per_s": fig.get("round_trips_per_s"),
        "cpu_s_per_10k": fig.get("cpu_s_per_10k"),
        "peak_rss_mb": fig.get("peak_rss_mb"),
        "p50_ms": fig.get("p50_ms"),
        "p99_ms": fig.get("p99_ms"),
        **extra,
    }


def client(kind: str, *args: str, timeout: float = 120) -> dict:
    """A workload client as a whole process: its own figures plus its process CPU and peak RSS."""
    r = subprocess.run(
        [*W, "measure", str(timeout), *W, kind, *args], capture_output=True, text=True, timeout=timeout + 30
    )
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    fig = json.loads(lines[-1]) if lines else {}
    if r.returncode != 0 or fig.get("returncode") != 0 or "round_trips" not in fig:
        raise RuntimeError(f"{kind} failed: {fig.get('stderr', r.stderr)[-500:]}")
    n = fig["round_trips"]
    fig["process_us_per_rt"] = fig["process_cpu_s"] / n * 1e6 if n else None
    fig["cpu_s_per_10k"] = fig["process_cpu_s"] / n * 1e4 if n else None  # the whole process, as for every tool
    return fig


# -- 1. echo --------------------------------------------------------------------
def _median_fig(figs: list[dict]) -> dict:
    """The round with the median rate (its figures belong together)."""
    ordered = sorted(figs, key=lambda f: f["round_trips_per_s"])
    med = dict(ordered[len(ordered) // 2])
    med["rounds"] = [round(f["round_trips_per_s"]) for f in figs]
    return med


def bench_echo(seconds: float, rounds: int = 5) -> list[dict]:
    """Interleaved rounds, median per tool: on a VM the wake-up latency drifts with what the other core does."""
    from .k6 import run_k6

    tp, wp = free_port(), free_port()
    runs: dict[str, list[dict]] = {"raw": [], "ours": [], "bare": [], "ws": [], "k6": []}
    k6_skipped: str | None = None
    with (
        Proc([*W, "tcp-echo-server", str(tp)], "ready"),
        Proc([*W, "picows-echo-server", str(wp)], "ready"),
        tempfile.TemporaryDirectory() as d,
    ):
        for _ in range(rounds):
            runs["raw"].append(client("tcp-echo-client", str(tp), str(seconds)))
            runs["ours"].append(client("picows-client", f"ws://127.0.0.1:{wp}/", str(seconds), "0"))
            runs["bare"].append(client("picows-bare", f"ws://127.0.0.1:{wp}/", str(seconds)))
            runs["ws"].append(client("websockets-client", f"ws://127.0.0.1:{wp}/", str(seconds), "0"))
            if k6_skipped is None:
                res = run_k6(1, seconds, Path(d))
                if isinstance(res, str):
                    k6_skipped = res
                else:
                    runs["k6"].append(res)
    raw, ours, bare, ws = (_median_fig(runs[k]) for k in ("raw", "ours", "bare", "ws"))
    # overhead_us: client CPU per round trip above the raw TCP client's (the syscall floor of this machine), measured
    # loop only;
    # process_us_per_rt: the whole client process (start-up included) per round trip, the accounting every tool gets
    out = [
        row(
            "raw TCP echo (uvloop)",
            "echo",
            raw,
            note="physical reference",
            client_cpu_us_per_rt=raw["client_us_per_rt"],
            process_us_per_rt=raw["process_us_per_rt"],
            rounds=raw["rounds"],
        ),
        row(
            "pitchey-analysis (picows)",
            "echo",
            ours,
            vs_raw_tcp=ours["round_trips_per_s"] / raw["round_trips_per_s"],
            client_cpu_us_per_rt=ours["client_us_per_rt"],
            overhead_us=ours["client_us_per_rt"] - raw["client_us_per_rt"],
            process_us_per_rt=ours["process_us_per_rt"],
            rounds=ours["rounds"],
            vs_bare_picows=ours["round_trips_per_s"] / bare["round_trips_per_s"],
        ),
        row(
            "bare picows client (floor)",
            "echo",
            bare,
            vs_raw_tcp=bare["round_trips_per_s"] / raw["round_trips_per_s"],
            client_cpu_us_per_rt=bare["client_us_per_rt"],
            overhead_us=bare["client_us_per_rt"] - raw["client_us_per_rt"],
            process_us_per_rt=bare["process_us_per_rt"],
            rounds=bare["rounds"],
            note="a listener that only sends the next message, against the same WebSocket echo server: what any picows "
            "client reaches; its gap to raw TCP is WebSocket framing on both ends",
        ),
        row(
            "websockets (probe path)",
            "echo",
            ws,
            vs_raw_tcp=ws["round_trips_per_s"] / raw["round_trips_per_s"],
            client_cpu_us_per_rt=ws["client_us_per_rt"],
            overhead_us=ws["client_us_per_rt"] - raw["client_us_per_rt"],
            process_us_per_rt=ws["process_us_per_rt"],
            rounds=ws["rounds"],
        ),
    ]
    if k6_skipped is not None:
        print(f"  skipped k6: {k6_skipped}", file=sys.stderr)
        out.append({"tool": "k6 1.1.0", "scenario": "echo", "skipped": k6_skipped})
    else:
        k6 = _median_fig(runs["k6"])
        k6["cpu_s_per_10k"] = k6["process_cpu_s"] / k6["round_trips"] * 1e4
        out.append(
            row(
                "k6 1.1.0",
                "echo",
                k6,
                vs_raw_tcp=k6["round_trips_per_s"] / raw["round_trips_per_s"],
                process_us_per_rt=k6["process_cpu_s"] / k6["round_trips"] * 1e6,
                rounds=k6["rounds"],
                note="whole process only (no loop timer); percentiles in whole ms (Date.now()); "
                "echo server of its own in k6's namespace; " + k6["guard"],
            )
        )
    return out


# -- 2. saturation -----------------------------------------------------------------
# One accounting for every tool: each runs as a whole process (start-up, imports and
# teardown included) and is charged its process CPU and peak RSS; each runs twice,
# short and long, and the difference (the marginal figures) removes the start-up.
# The headline ratios use the marginal figures.
def _measure(cmd: list[str], timeout: float, env: dict | None = None) -> tuple[dict, str]:
    r = subprocess.run(
        [*W, "measure", str(timeout), *cmd], capture_output=True, text=True, timeout=timeout + 30, env=env
    )
    return json.loads(r.stdout.strip().splitlines()[-1]), r.stderr


def ours_saturation(url: str, conns: int, seconds: float, tmp: Path, root: Path | None = None) -> dict | str:
    """Our load engine as ``load --workers 0`` runs it (one shard, closed model, every sample streamed to disk), a whole
    process.

    ``root``: another checkout (its ``pitchey_analysis`` and ``benchmarks/ours.py``) run instead, e.g. the version
    before a change.
    """
    from .ours import stream_figures

    stream = tmp / f"ours_{seconds:g}.arrows"
    env = None if root is None else {**os.environ, "PYTHONPATH": str(root)}
    script = (root / "benchmarks" / "ours.py") if root is not None else Path(__file__).with_name("ours.py")
    fig, err = _measure([PY, str(script), url, str(conns), str(seconds), str(stream)], seconds + 60, env)
    if fig.get("returncode") != 0 or "samples" not in fig:
        return f"our load engine failed: {fig.get('stderr', err)[-300:]}"
    try:
        fig.update(stream_figures(fig, stream))  # the figures rest on the samples that reached the disk
    except ValueError as exc:
        raise RuntimeError(f"our load engine lost samples: {exc}") from None  # never a row of zeros, never a skip
    finally:
        stream.unlink(missing_ok=True)
    fig["note"] = (
        "every sample kept: streamed to disk in Arrow chunks every 0.5 s (the load command's path), read back for the "
        "figures"
    )
    return fig


def locust_saturation(url: str, conns: int, seconds: float, tmp: Path) -> dict | str:
    if shutil.which("locust", path=str(Path(PY).parent)) is None:
        return "Locust is not installed (pip install locust)"
    env = {**os.environ, "PITCHEY_BENCH_URL": url}
    csv = tmp / f"locust_{seconds:g}"
    fig, err = _measure(
        [
            str(Path(PY).parent / "locust"),
            "-f",
            str(Path(__file__).with_name("locustfile.py")),
            "--headless",
            "-u",
            str(conns),
            "-r",
            str(conns * 10),
            "-t",
            f"{int(seconds)}s",
            "--csv",
            str(csv),
            "--only-summary",
            "--skip-log",
        ],
        seconds + 60,
        env,
    )
    stats_csv = Path(f"{csv}_stats.csv")
    stats = stats_csv.read_text().splitlines() if stats_csv.exists() else []
    agg = [ln.split(",") for ln in stats if ",Aggregated," in ln]
    if not agg:
        return f"Locust produced no statistics ({err[-200:]})"
    head = stats[0].split(",")
    a = dict(zip(head, agg[0], strict=False))
    n = int(a["Request Count"])
    if not n:
        return f"Locust counted no round trip in {seconds:g} s ({err[-200:]})"

    def num(x: str) -> float | None:
        return None if x in ("", "N/A") else float(x)

    return {
        "round_trips": n,
        "round_trips_per_s": num(a["Requests/s"]),
        "p50_ms": num(a["50%"]),
        "p99_ms": num(a["99%"]),
        "process_cpu_s": fig["process_cpu_s"],
        "peak_rss_mb": fig["peak_rss_mb"],
        "samples_kept": None,
        "note": "Locust's own percentiles (rounded; it keeps a histogram, not the samples)",
    }


def artillery_saturation(url: str, conns: int, seconds: float, tmp: Path) -> dict | str:
    from .artillery import run_artillery

    return run_artillery(url, conns, seconds, tmp)


def k6_saturation(url: str, conns: int, seconds: float, tmp: Path) -> dict | str:
    from .k6 import run_k6

    res = run_k6(conns, seconds, tmp)  # against its own picows echo server, inside its network namespace
    if isinstance(res, dict):
        res["note"] = (
            "k6's Date.now() clock: percentiles in whole ms; its Trend keeps every value; "
            "echo server of its own in k6's namespace; " + res.pop("guard")
        )
    return res


def accounting(short: dict, long: dict) -> dict:
    """Whole-process and marginal (long run minus short run) figures of one tool.

    Both runs are whole processes; subtracting the short one removes start-up and
    teardown, which a fixed-length run would otherwise spread over its round trips.
    """
    rt, cpu = long["round_trips"], long["process_cpu_s"]
    d_rt, d_cpu = rt - short["round_trips"], cpu - short["process_cpu_s"]
    out: dict[str, Any] = {
        "round_trips": rt,
        "process_cpu_s": cpu,
        "rt_per_cpu_s_whole": rt / cpu if cpu else None,
        "cpu_s_per_10k_whole": cpu / rt * 1e4 if rt else None,
        "short_round_trips": short["round_trips"],
        "short_process_cpu_s": short["process_cpu_s"],
        "short_peak_rss_mb": short["peak_rss_mb"],
        "rt_per_cpu_s_marginal": d_rt / d_cpu if d_rt > 0 and d_cpu > 0 else None,
        "cpu_s_per_10k_marginal": d_cpu / d_rt * 1e4 if d_rt > 0 and d_cpu > 0 else None,
    }
    kept, kept_short = long.get("samples_kept"), short.get("samples_kept")
    if kept:
        out["samples_kept"] = kept
        out["rss_mb_per_million_samples"] = long["peak_rss_mb"] / kept * 1e6
        if kept_short is not None and kept > kept_short:
            out["rss_mb_per_million_samples_marginal"] = (
                (long["peak_rss_mb"] - short["peak_rss_mb"]) / (kept - kept_short) * 1e6
            )
    return out


SATURATION_TOOLS = (
    ("pitchey-analysis (picows)", ours_saturation),
    ("k6 1.1.0", k6_saturation),
    ("Locust", locust_saturation),
    ("Artillery 2.0.21", artillery_saturation),
)


def bench_saturation(short_s: float, long_s: float, conns: int, baseline: Path | None = None) -> list[dict]:
    """Every tool short and long against one echo server; ``baseline``: another checkout's engine as one more row."""
    import functools

    tools = list(SATURATION_TOOLS)
    if baseline is not None:
        tools.insert(
            1,
            (f"pitchey-analysis (picows), baseline {baseline.name}", functools.partial(ours_saturation, root=baseline)),
        )
    rows: list[dict[str, Any]] = []
    wp = free_port()
    url = f"ws://127.0.0.1:{wp}/"
    scenario = f"saturation {conns} conns, {long_s:g} s (marginal: minus {short_s:g} s)"
    ours: dict | None = None
    k6_rss: float | None = None
    with Proc([*W, "picows-echo-server", str(wp)], "ready"), tempfile.TemporaryDirectory() as d:
        for name, fn in tools:
            retried = []
            short = fn(url, conns, short_s, Path(d))
            if isinstance(short, str):  # on a shared machine a 2-s run can miss its window: once more, and say so
                retried.append(f"short run retried after: {short}")
                short = fn(url, conns, short_s, Path(d))
            long = fn(url, conns, long_s, Path(d)) if isinstance(short, dict) else short
            if isinstance(long, str):
                print(f"  skipped {name}: {long}", file=sys.stderr)
                rows.append({"tool": name, "scenario": scenario, "skipped": long})
                continue
            assert isinstance(short, dict)  # a str short run made the long one that str: passed over above
            acc = accounting(short, long)
            fig = {**long, "cpu_s_per_10k": acc["cpu_s_per_10k_marginal"]}
            extra: dict[str, Any] = dict(acc)
            if fn is ours_saturation:
                ours = acc
                extra["loop_cpu_s"] = long.get("loop_cpu_s")
            elif ours is not None:
                for kind in ("marginal", "whole"):
                    mine, theirs = ours[f"rt_per_cpu_s_{kind}"], acc[f"rt_per_cpu_s_{kind}"]
                    extra[f"ours_vs_this_{kind}"] = mine / theirs if mine and theirs else None
            if name.startswith("k6"):
                k6_rss = long["peak_rss_mb"]
            if retried:
                extra["retried"] = "; ".join(retried)
            rows.append(row(name, scenario, fig, **extra, note=long.get("note")))
    if k6_rss:
        for r in rows:
            if "peak_rss_mb" in r and r["peak_rss_mb"]:
                r["rss_vs_k6"] = r["peak_rss_mb"] / k6_rss
    return rows


# -- 3. reference server --------------------------------------------------------------
def bench_reference(seconds: float) -> list[dict]:
    port = free_port()
    with reference_server(port):
        url = f"ws://127.0.0.1:{port}/ws"
        ours = client("picows-client", url, str(seconds), "1")
        ws = client("websockets-client", url, str(seconds), "1")
    return [
        row("pitchey-analysis (picows)", "reference server ping/pong", ours),
        row("websockets (probe path)", "reference server ping/pong", ws),
    ]


# -- 4. server capacity ------------------------------------------------------------------
def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _admin_token(http: str) -> str:
    req = urllib.request.Request(
        http + "/api/auth/creator/login",
        data=json.dumps({"email": BY_TYPE["admin"].email, "password": DEMO_PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)["token"]


def _connections(http: str) -> int:
    with urllib.request.urlopen(http + "/api/ws/health", timeout=10) as r:
        return int(json.load(r)["data"]["websocket"]["connections"])


def bench_server_capacity(n: int, hold_s: float) -> list[dict]:
    from pitchey_analysis.load import LoadPlan, run_load

    port = free_port()
    http, url = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws"
    figures: dict[str, Any] = {}
    with reference_server(port) as srv:
        pid = srv.p.pid
        base = _rss_mb(pid)
        token = _admin_token(http)

        def during() -> None:
            end = time.monotonic() + hold_s
            while time.monotonic() < end and _connections(http) < n:
                time.sleep(0.5)
            figures["open_at_once"] = _connections(http)
            figures["rss_mb"] = _rss_mb(pid)
            t_post = time.time()
            msg = {"type": "pitch_stats_update", "pitchId": 1, "views": 1, "likes": 1}
            req = urllib.request.Request(
                http + "/api/broadcast",
                data=json.dumps({"channel": "pitch:1", "message": msg}).encode(),
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            )
            with urllib.request.urlopen(req, timeout=60) as r:
                figures["delivered"] = json.load(r)["delivered"]
            figures["t_post"] = t_post

        t0 = time.perf_counter()
        res = run_load(
            LoadPlan(
                url, levels=(n,), duration_s=hold_s, model="hold", workers=2, subscribe="pitch:1", connect_rate=3000
            ),
            progress=False,
            during=during,
        )
        wall = time.perf_counter() - t0
    arrivals = [a for s in res.shards for a in s.push_arrivals]
    fanout_ms = (max(arrivals) - figures["t_post"]) * 1000 if arrivals else None
    per_conn_kib = (figures["rss_mb"] - base) * 1024 / max(1, figures["open_at_once"])
    return [
        {
            "tool": "reference server (1 process)",
            "scenario": f"idle connections held ({n} asked)",
            "round_trips_per_s": None,
            "cpu_s_per_10k": None,
            "peak_rss_mb": figures["rss_mb"],
            "p50_ms": None,
            "p99_ms": None,
            "connections_held": res.held,
            "open_at_once": figures["open_at_once"],
            "memory_per_conn_kib": per_conn_kib,
            "fanout_ms": fanout_ms,
            "fanout_delivered": figures["delivered"],
            "fanout_received": len(arrivals),
            "wall_s": wall,
            "errors": res.errors(),
            "error_examples": res.error_examples(),
        }
    ]


# -- 5. scale -----------------------------------------------------------------------------
def bench_scale(n: int, hold_s: float, server_workers: int, client_workers: int) -> list[dict]:
    from pitchey_analysis.load import LoadPlan, run_load

    port = free_port()
    sources = tuple(f"127.0.0.{i}" for i in range(2, 2 + client_workers))
    with reference_server(port, workers=server_workers):
        t0 = time.perf_counter()
        res = run_load(
            LoadPlan(
                f"ws://127.0.0.1:{port}/ws",
                levels=(n,),
                duration_s=hold_s,
                model="hold",
                workers=client_workers,
                source_addresses=sources,
                connect_rate=4000,
            ),
            progress=True,
        )
        wall = time.perf_counter() - t0
    connect_times = [s.wall_s - hold_s for s in res.shards]
    opens_per_s = res.opened / max(1e-9, max(connect_times)) if connect_times else None
    rtt = res.rtt()
    return [
        {
            "tool": "pitchey-analysis load",
            "scenario": f"{n} connections held {hold_s:.0f} s",
            "round_trips_per_s": None,
            "cpu_s_per_10k": None,
            "peak_rss_mb": max(s.peak_rss_mb for s in res.shards),
            "p50_ms": float(__import__("numpy").percentile(rtt, 50)) if rtt.size else None,
            "p99_ms": float(__import__("numpy").percentile(rtt, 99)) if rtt.size else None,
            "connections_held": res.held,
            "opened": res.opened,
            "opens_per_s": opens_per_s,
            "wall_s": wall,
            "served_by": f"reference server, {server_workers} processes on one port (SO_REUSEPORT, per-process state)",
            "client": f"{client_workers} processes, source addresses {', '.join(sources)}",
            "errors": res.errors(),
            "error_examples": res.error_examples(),
        }
    ]


# -- 6. analysis --------------------------------------------------------------------------
def bench_analysis(n: int) -> list[dict]:
    import numpy as np
    import pandas as pd

    from pitchey_analysis.analysis import latency_summary, slo_checks
    from pitchey_analysis.capture.dataset import load_run
    from pitchey_analysis.capture.records import frame_from_rows

    with tempfile.TemporaryDirectory() as d:
        run = Path(d) / "20260101T000000Z-000000"
        run.mkdir()
        rng = np.random.default_rng(0)
        metrics = np.array(["rtt_ms", "connect_ms", "tcp_connect_ms", "ws_upgrade_ms"])
        df = pd.DataFrame(
            {
                "run_id": "bench",
                "probe_id": "performance.round_trip#1",
                "metric": metrics[rng.integers(0, 4, n)],
                "value_ms": rng.lognormal(0, 0.5, n),
                "t_offset_s": np.arange(n) / 1e4,
                "concurrency": 1,
                "conn_index": rng.integers(0, 1000, n),
                "ok": True,
            }
        )
        df = df.astype(
            {
                "run_id": "category",
                "probe_id": "category",
                "metric": "category",
                "concurrency": "int64",
                "ok": "boolean",
            }
        )
        df.to_parquet(run / "samples.parquet", index=False)
        frame_from_rows(
            "probes",
            [
                {
                    "probe_id": "performance.round_trip#1",
                    "probe": "performance.round_trip",
                    "category": "performance",
                    "outcome": "pass",
                    "critical": False,
                }
            ],
        ).to_parquet(run / "probes.parquet", index=False)
        frame_from_rows("frames", []).to_parquet(run / "frames.parquet", index=False)
        (run / "manifest.json").write_text(
            json.dumps({"run_id": run.name, "status": "complete", "target": {"tls": False}})
        )
        t0 = time.perf_counter()
        r = load_run(run)
        t_load = time.perf_counter() - t0
        summ = latency_summary(r.samples)
        slo_checks(r.samples, r.probes, tls=False)
        t_all = time.perf_counter() - t0
    return [
        {
            "tool": "pitchey-analysis analysis",
            "scenario": f"{n:,} samples: load + percentiles with intervals + SLO",
            "round_trips_per_s": None,
            "cpu_s_per_10k": None,
            "peak_rss_mb": None,
            "p50_ms": None,
            "p99_ms": None,
            "load_s": t_load,
            "summarize_s": t_all,
            "metrics": len(summ),
        }
    ]


def bench_analysis_big(n: int, window_s: float = 60.0) -> list[dict]:
    """``n`` samples generated to Parquet in chunks (a child), then summarized in a fresh child whose peak RSS is the
    summary's."""
    script = Path(__file__).with_name("analysis100m.py")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")) if p
        ),
    }
    with tempfile.TemporaryDirectory() as d:
        run = Path(d) / "20260101T000000Z-000000"
        t0 = time.perf_counter()
        subprocess.run([PY, str(script), "generate", str(run), str(n)], check=True, timeout=1800, env=env)
        t_gen = time.perf_counter() - t0
        size_mb = (run / "samples.parquet").stat().st_size / 2**20
        r = subprocess.run(
            [PY, str(script), "summarize", str(run), str(window_s)],
            capture_output=True,
            text=True,
            timeout=900,
            env=env,
        )
        lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
        if r.returncode != 0 or not lines:
            raise RuntimeError(f"the summary failed ({r.returncode}): {r.stderr[-600:]}")
        fig = json.loads(lines[-1])
    return [
        {
            "tool": "pitchey-analysis analysis",
            "scenario": f"{n:,} samples: read 4 columns + percentiles with intervals per "
            f"metric + per-{window_s:g}-s windows + drift (a fresh process)",
            "round_trips_per_s": None,
            "cpu_s_per_10k": None,
            "peak_rss_mb": fig["peak_rss_mb"],
            "p50_ms": None,
            "p99_ms": None,
            "read_s": fig["read_s"],
            "latency_summary_s": fig["latency_summary_s"],
            "windowed_s": fig["windowed_s"],
            "drift_s": fig["drift_s"],
            "summarize_s": fig["summarize_s"],
            "total_s": fig["total_s"],
            "cpu_s": fig["cpu_s"],
            "under_15_s": fig["total_s"] < 15,
            "under_4_gb": fig["peak_rss_mb"] < 4096,
            "metrics": fig["metrics"],
            "windows": fig["windows"],
            "drift": fig["drift"],
            "generate_s": t_gen,
            "parquet_mb": size_mb,
            "note": "total_s: wall time of reading the columns + the three summaries (imports excluded); cpu_s: the "
            "child's CPU "
            "time for the same (on a shared machine the wall time also counts waiting for a core); peak_rss_mb: "
            "the child's VmHWM",
        }
    ]


# -- 11. flood ------------------------------------------------------------------------------
FLOOD = [PY, str(Path(__file__).with_name("flood.py"))]
#: the p99 the good clients' ping must stay under beside one flooding attacker (issue 31)
FLOOD_P99_TARGET_MS = 100.0


def _cpu_s(pid: int) -> float | None:
    """A process's CPU seconds so far (user + system; None where /proc is not)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_flood(seconds: float, sessions: int = 20, rate: float = 4.0) -> list[dict]:
    """Good clients alone, then beside a ping flooder, then beside a message flooder, against one server."""
    port = free_port()
    cmd = [
        PY,
        "-m",
        "pitchey_analysis.cli",
        "serve",
        "--port",
        str(port),
        "--knob",
        "ping_interval=600",
        "--knob",
        "idle_timeout=3600",
        "--knob",
        "dashboard_interval=3600",
        "--jwt-secret",
        "bench-" + "s" * 40,
    ]
    rows: list[dict] = []
    with Proc(cmd) as srv:
        wait_http(f"http://127.0.0.1:{port}/api/health", timeout=60)
        url = f"ws://127.0.0.1:{port}/ws"
        alone: dict = {}
        for attacker in (None, "ping", "text"):
            flooder = None
            cpu0 = _cpu_s(srv.p.pid)
            if attacker is not None:
                flooder = subprocess.Popen(
                    [*FLOOD, "flooder", "127.0.0.1", str(port), str(seconds + 2), attacker],
                    stdout=subprocess.PIPE,
                    text=True,
                )
                time.sleep(1.0)  # flooding already when the clients start
            try:
                out = subprocess.run(
                    [*FLOOD, "clients", url, str(seconds), str(sessions), str(rate)],
                    capture_output=True,
                    text=True,
                    timeout=seconds + 60,
                )
                fig = json.loads(out.stdout.strip().splitlines()[-1]) if out.stdout.strip() else {}
                if "p99_ms" not in fig:
                    raise RuntimeError(f"the clients failed: {out.stderr[-500:]}")
                attack = (
                    json.loads(flooder.communicate(timeout=seconds + 30)[0].strip().splitlines()[-1]) if flooder else {}
                )
            finally:
                if flooder is not None and flooder.poll() is None:
                    flooder.kill()
                    flooder.wait()
            cpu1 = _cpu_s(srv.p.pid)
            if attacker is None:
                alone = fig
            scenario = "good clients alone" if attacker is None else f"good clients beside one {attacker} flooder"
            extra: dict[str, Any] = {
                "round_trips": fig["round_trips"],
                "lost": fig["lost"],
                "max_ms": fig["max_ms"],
                "server_cpu_s": None if cpu0 is None or cpu1 is None else round(cpu1 - cpu0, 2),
                "sessions": sessions,
                "pings_per_s_each": rate,
                "seconds": seconds,
            }
            if attacker is not None:
                extra.update(
                    p50_ratio=fig["p50_ms"] / alone["p50_ms"] if alone.get("p50_ms") else None,
                    p99_ratio=fig["p99_ms"] / alone["p99_ms"] if alone.get("p99_ms") else None,
                    p99_target_ms=FLOOD_P99_TARGET_MS,
                    meets_target=fig["p99_ms"] < FLOOD_P99_TARGET_MS,
                    flooder_connections=attack.get("connections"),
                    flooder_frames_per_s=attack.get("frames_written_per_s"),
                    flooder_ends=attack.get("ends"),
                )
            rows.append(
                {
                    "tool": "reference server (serve --profile complete)",
                    "scenario": scenario,
                    "round_trips_per_s": fig["round_trips"] / seconds,
                    "cpu_s_per_10k": None,
                    "peak_rss_mb": None,
                    "p50_ms": fig["p50_ms"],
                    "p99_ms": fig["p99_ms"],
                    **extra,
                }
            )
    return rows


def print_table(rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    from .tables import accounting_table, main_table

    console = Console(width=200)
    for title, (headers, cells) in (
        ("pitchey-analysis benchmarks (loopback, this machine)", main_table(rows)),
        ("saturation: whole-process and marginal accounting (long run minus short run)", accounting_table(rows)),
    ):
        if not cells:
            continue
        t = Table(title=title)
        for h in headers:
            t.add_column(h)
        for c in cells:
            t.add_row(*c)
        console.print(t)


def markdown(rows: list[dict]) -> str:
    """The rows as Markdown tables (the README's benchmark tables are printed from bench.json by this)."""
    from .tables import accounting_table, main_table
    from .tables import markdown as md

    out = md(*main_table(rows, sep="; "))
    acc = accounting_table(rows)
    return out + ("\n\n" + md(*acc) if acc[1] else "")


SECTIONS = (
    "echo",
    "saturation",
    "reference",
    "capacity",
    "scale",
    "analysis",
    "analysis-100m",
    "soak",
    "opens",
    "starved",
    "verdict",
    "flood",
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--markdown", metavar="BENCH_JSON", help="print an existing bench.json as a Markdown table, then exit"
    )
    ap.add_argument("--quick", action="store_true", help="short runs and small counts (a smoke check, minutes less)")
    ap.add_argument("--only", help=f"comma-separated sections: {','.join(SECTIONS)}")
    ap.add_argument("--out", default="reports/bench.json")
    ap.add_argument(
        "--baseline",
        type=Path,
        metavar="DIR",
        help="another checkout (e.g. a git archive of the version before a change): its engine runs as one more "
        "saturation row, beside ours in the same run",
    )
    a = ap.parse_args(argv)
    if a.markdown:
        try:
            figures = json.loads(Path(a.markdown).read_text())
        except (OSError, ValueError) as exc:
            ap.error(
                f"--markdown {a.markdown}: {exc.strerror if isinstance(exc, OSError) else exc} (a bench.json file)"
            )
        print(markdown(figures))
        return 0
    q = a.quick
    from . import longrun, verdict

    sections = {
        "echo": lambda: bench_echo(1 if q else 2, 3 if q else 5),
        "saturation": lambda: bench_saturation(2, 6 if q else 20, 50, a.baseline),
        "reference": lambda: bench_reference(2 if q else 5),
        "capacity": lambda: bench_server_capacity(2000 if q else 19_900, 10 if q else 30),
        "scale": lambda: bench_scale(4000 if q else 50_000, 10 if q else 60, 4, 4),
        "analysis": lambda: bench_analysis(1_000_000 if q else 10_000_000),
        "analysis-100m": lambda: bench_analysis_big(2_000_000 if q else 100_000_000),
        "soak": lambda: longrun.bench_soak(60 if q else 600, 5_000 if q else 20_000, 500 if q else 1_000),
        "opens": lambda: longrun.bench_opens(4_000 if q else 19_000),
        "starved": lambda: longrun.bench_starved(8 if q else 20),
        "verdict": lambda: verdict.bench_time_to_verdict(q),
        "flood": lambda: bench_flood(5 if q else 10),
    }
    assert tuple(sections) == SECTIONS
    chosen = a.only.split(",") if a.only else list(sections)
    unknown = [c for c in chosen if c not in sections]
    if unknown:
        ap.error(f"unknown section(s) {', '.join(unknown)} (sections: {', '.join(SECTIONS)})")
    rows: list[dict] = []
    failed = []
    for name in chosen:
        print(f"== {name}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            rows += sections[name]()
        except Exception as exc:
            print(f"  {name} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            failed.append(name)
            rows.append({"tool": name, "scenario": "failed", "error": f"{type(exc).__name__}: {exc}"})
        print(f"   ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": sys.platform}, "quick": q}
    out.write_text(
        json.dumps([{**r, **({"_meta": meta} if i == 0 else {})} for i, r in enumerate(rows)], indent=2, default=str)
    )
    print_table(rows)
    print(f"written to {out}")
    if failed:
        print(f"python -m benchmarks: section(s) failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
