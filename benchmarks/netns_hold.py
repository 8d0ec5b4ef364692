"""Connections held across Linux network namespaces: one target "host", four client "hosts", Dask across them.

    python benchmarks/netns_hold.py [--connections 100000] [--hold 60] [--target echo|reference]
                                                                      (make bench-netns; root only)

The bench creates a bridge ``pa-br0`` (10.213.0.1/24, the Dask scheduler listens
there) and five namespaces, each with its own address on a veth pair to the
bridge: ``pa-tgt`` (10.213.0.10, the target, several processes on one port) and
``pa-c1``..``pa-c4`` (10.213.0.11-14, Dask workers). The load opens the
connections from the four client namespaces (one Dask shard per worker, pinned),
holds them ``--hold`` seconds and has each answer a ping at the end (the hold
model sends the final pings at the opening's pace, each with 30 s to answer). It
prints one JSON row (opened, held, answered the final ping, open rate, memory per
connection on both sides, wall time) and writes it to ``reports/bench-netns.json``.
Everything it creates is removed at the end, also after a failure; without root it
says so and exits 0 (a skip).

``--target echo`` (the default) is the bench's picows echo target
(``workloads.py picows-echo-server``, the one the open-rate target uses), the one
that holds 100,000 here; ``--target reference`` is the reference server (aiohttp,
Python per connection). On this 2-core machine (shared, load 10-25) the reference
opened 110-270 connections a second and answered about 1,300 pings a second: with
``--connect-rate 800`` it held 20,000 (every one answering), but of 50,000 only
11,793 answered the final ping within 30 s when the pings went out at 4,000 a
second. Every connection that did not answer is counted.

Each process may hold at most ``RLIMIT_NOFILE`` (here 20,000) descriptors, so
the target runs ``--target-workers`` processes (SO_REUSEPORT) and each client
namespace ``--shards-per-host`` shards. On a real cluster the same load runs with
``pitchey-analysis load --hold --connections 100000 --duration 60 --workers 8
--scheduler tcp://<scheduler>:8786 --target ws://<target>/ws`` (workers started with
``dask worker tcp://<scheduler>:8786`` on each machine, the target's URL reachable
from them).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's package, also when another copy is installed
PY = sys.executable
BRIDGE, NET = "pa-br0", "10.213.0"
TARGET_NS, CLIENT_NS = "pa-tgt", ("pa-c1", "pa-c2", "pa-c3", "pa-c4")
ADDR = {TARGET_NS: f"{NET}.10", **{ns: f"{NET}.{11 + i}" for i, ns in enumerate(CLIENT_NS)}}
PORT, SCHED_PORT = 8765, 8786


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def teardown() -> None:
    """Remove whatever an earlier or this run created (deleting a namespace removes its veth pair)."""
    for ns in (TARGET_NS, *CLIENT_NS):
        sh("ip", "netns", "del", ns, check=False)
    sh("ip", "link", "del", BRIDGE, check=False)


def setup() -> None:
    teardown()
    sh("ip", "link", "add", BRIDGE, "type", "bridge")
    sh("ip", "addr", "add", f"{NET}.1/24", "dev", BRIDGE)
    sh("ip", "link", "set", BRIDGE, "up")
    for ns, addr in ADDR.items():
        host_side = f"v{ns}"[:15]
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", host_side, "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "link", "set", host_side, "master", BRIDGE, "up")
        sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        # per namespace: more ephemeral ports than the default 28k, for 25k connections to one address
        sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65000")


class Proc:
    """A background process in its own session, always stopped (its whole group)."""

    def __init__(self, cmd: list[str], log: Path) -> None:
        self.log = open(log, "w")
        self.p = subprocess.Popen(
            cmd,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )

    def stop(self) -> None:
        if self.p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.p.pid, signal.SIGINT)
            try:
                self.p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait(5)
        self.log.close()


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return total


def tcp_counters(ns: str, names: tuple[str, ...]) -> dict[str, int]:
    """Some of a namespace's TcpExt counters (e.g. accept-queue overflows) from its /proc/net/netstat."""
    lines = sh("ip", "netns", "exec", ns, "cat", "/proc/net/netstat", check=False).stdout.splitlines()
    for head, vals in zip(lines[::2], lines[1::2], strict=False):
        if head.startswith("TcpExt:"):
            row = dict(zip(head.split()[1:], vals.split()[1:], strict=True))
            return {n: int(row[n]) for n in names if n in row}
    return {}


def wait_for(check, what: str, timeout: float = 60, procs: tuple[Proc, ...] = ()) -> None:
    """Until ``check()`` is true; fails at once when one of ``procs`` has exited (its log says why)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        gone = [p for p in procs if p.p.poll() is not None]
        if gone:
            raise RuntimeError(f"{what} exited (code {gone[0].p.returncode}) before it was up; see {gone[0].log.name}")
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.5)
    raise RuntimeError(f"{what} did not come up in {timeout:.0f} s")


def start_target(kind: str, processes: int, logs: Path) -> list[Proc]:
    """The target in its namespace: ``processes`` processes on one port (SO_REUSEPORT), each under the fd limit."""
    host = ADDR[TARGET_NS]
    if kind == "reference":
        target = Proc(
            [
                "ip",
                "netns",
                "exec",
                TARGET_NS,
                PY,
                "-m",
                "pitchey_analysis.cli",
                "serve",
                "--host",
                host,
                "--port",
                str(PORT),
                "--workers",
                str(processes),
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
            ],
            logs / "target.log",
        )
        # seven Python processes importing aiohttp on a crowded 2-core machine: a minute or more
        # (the server's own pool gives its workers 60 s to start, then exits)
        wait_for(
            lambda: urllib.request.urlopen(f"http://{host}:{PORT}/api/health", timeout=2).status == 200,
            "the target",
            300,
            (target,),
        )
        return [target]
    procs = [
        Proc(
            [
                "ip",
                "netns",
                "exec",
                TARGET_NS,
                PY,
                str(ROOT / "benchmarks" / "workloads.py"),
                "picows-echo-server",
                str(PORT),
                host,
                "reuse",
            ],
            logs / f"target-{j}.log",
        )
        for j in range(processes)
    ]
    wait_for(
        lambda: all("ready" in (logs / f"target-{j}.log").read_text() for j in range(processes)),
        "the echo target",
        300,
        tuple(procs),
    )
    return procs


def run(
    connections: int,
    hold_s: float,
    target: str,
    target_workers: int,
    shards_per_host: int,
    connect_rate: float,
    logs: Path,
) -> dict:
    import numpy as np
    from distributed import Client

    from pitchey_analysis.load import LoadPlan, run_load
    from pitchey_analysis.load.spec import ECHO_PING

    procs: list[Proc] = []
    try:
        targets = start_target(target, target_workers, logs)
        procs.extend(targets)
        scheduler = f"tcp://{NET}.1:{SCHED_PORT}"
        procs.append(
            Proc(
                [
                    PY,
                    "-m",
                    "distributed.cli.dask_scheduler",
                    "--host",
                    f"{NET}.1",
                    "--port",
                    str(SCHED_PORT),
                    "--no-dashboard",
                ],
                logs / "scheduler.log",
            )
        )
        for ns in CLIENT_NS:
            procs.append(
                Proc(
                    [
                        "ip",
                        "netns",
                        "exec",
                        ns,
                        PY,
                        "-m",
                        "distributed.cli.dask_worker",
                        scheduler,
                        "--host",
                        ADDR[ns],
                        "--nworkers",
                        str(shards_per_host),
                        "--nthreads",
                        "1",
                        "--no-dashboard",
                        "--name",
                        ns,
                        "--memory-limit",
                        "0",
                    ],
                    logs / f"{ns}.log",
                )
            )
        n_workers = shards_per_host * len(CLIENT_NS)
        wait_for(lambda: Client(scheduler, timeout=5).close() is None, "the Dask scheduler", 180)
        with Client(scheduler, timeout=5) as c:
            c.wait_for_workers(n_workers, timeout=300)

        def target_rss() -> float:
            return sum(tree_rss_mb(t.p.pid) for t in targets)

        base = target_rss()
        peak = {"rss": base}

        import threading

        done = threading.Event()

        def during() -> None:  # the target's memory, until the load has finished
            while not done.wait(2) and all(t.p.poll() is None for t in targets):
                peak["rss"] = max(peak["rss"], target_rss())

        watcher = threading.Thread(target=during, daemon=True)
        # a plain echo target sends nothing first and answers 'ping' with 'ping' (the reference server: 'connected',
        # 'pong')
        echo = {"await_first_frame": False, "ping": ECHO_PING} if target == "echo" else {}
        t0 = time.perf_counter()
        plan = LoadPlan(
            f"ws://{ADDR[TARGET_NS]}:{PORT}/ws",
            levels=(connections,),
            duration_s=hold_s,
            model="hold",
            workers=n_workers,
            scheduler=scheduler,
            connect_rate=connect_rate,
            handshake_timeout=30,
            answer_timeout=30,
            **echo,
        )
        res = run_load(plan, pin_workers=True, progress=sys.stderr.isatty(), during=watcher.start)
        wall = time.perf_counter() - t0
        done.set()
        watcher.join(5)
        alive = [t.p.poll() is None for t in targets]
        listen = tcp_counters(TARGET_NS, ("ListenOverflows", "ListenDrops", "TCPReqQFullDrop"))

        def col(s, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            m = np.asarray(s.metric) == metric
            return s.t_offset_s[m], s.value_ms[m], s.ok[m].astype(bool)

        kept = [s for s in res.shards if s.t_offset_s is not None]
        connects = np.concatenate([t[ok] for t, _, ok in (col(s, "connect_ms") for s in kept)] or [np.array([])])
        pings = [col(s, "rtt_ms") for s in kept]  # the hold model's one request per connection: its final ping
        ping_ms = np.concatenate([v[ok] for _, v, ok in pings] or [np.array([])])
        ping_t = np.concatenate([t for t, _, _ in pings] or [np.array([])])
        open_span = float(connects.max() - connects.min()) if connects.size > 1 else float("nan")
        client_growth = sum(s.peak_rss_mb - (s.health[0]["rss_mb"] if s.health else 0.0) for s in res.shards)
        hosts = sorted({(s.host, s.pid) for s in res.shards})
        return {
            "tool": "pitchey-analysis load",
            "scenario": f"{connections} connections held {hold_s:.0f} s across network namespaces",
            "target_kind": target,
            "connections": connections,
            "connect_rate": connect_rate,
            "opened": res.opened,
            "held": res.held,
            "answered_final_ping": int(ping_ms.size),
            "final_pings": int(ping_t.size),
            "final_ping_p50_ms": round(float(np.percentile(ping_ms, 50)), 1) if ping_ms.size else None,
            "final_ping_max_ms": round(float(ping_ms.max()), 1) if ping_ms.size else None,
            "final_ping_span_s": round(float(ping_t.max() - ping_t.min()), 2) if ping_t.size > 1 else None,
            "opens_per_s": round(res.opened / open_span, 1) if open_span == open_span and open_span > 0 else None,
            "open_s": round(open_span, 1),
            "target_rss_mb": round(peak["rss"], 1),
            "target_kib_per_conn": round((peak["rss"] - base) * 1024 / max(1, res.opened), 2),
            "client_kib_per_conn": round(client_growth * 1024 / max(1, res.opened), 2),
            "wall_s": round(wall, 1),
            "shards": len(res.shards),
            "client_processes": len(hosts),
            "errors": res.errors(),
            "error_examples": res.error_examples(),
            "close_codes": res.close_codes(),
            "target_processes_alive": f"{sum(alive)}/{len(alive)}",
            "target_tcp": listen,
            "target": (
                f"{'picows echo target' if target == 'echo' else 'reference server'}, {target_workers} processes on "
                f"{ADDR[TARGET_NS]}:{PORT} (namespace {TARGET_NS}, SO_REUSEPORT)"
            ),
            "clients": {ns: ADDR[ns] for ns in CLIENT_NS},
        }
    finally:
        for p in reversed(procs):
            p.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connections", type=int, default=100_000)
    ap.add_argument("--hold", type=float, default=60.0)
    ap.add_argument(
        "--target",
        choices=("echo", "reference"),
        default="echo",
        help="the bench's picows echo target (default) or the reference server (aiohttp)",
    )
    ap.add_argument(
        "--target-workers", type=int, default=7, help="target processes on one port (each under the fd limit)"
    )
    ap.add_argument("--shards-per-host", type=int, default=2)
    ap.add_argument(
        "--connect-rate",
        type=float,
        default=4000.0,
        help="connections opened per second, over all shards; the final pings go out at the same pace",
    )
    ap.add_argument("--out", default=str(ROOT / "reports" / "bench-netns.json"))
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("bench-netns: skipped: creating network namespaces needs root", file=sys.stderr)
        return 0
    logs = Path(a.out).parent / "bench-netns-logs"
    logs.mkdir(parents=True, exist_ok=True)
    try:
        setup()
        row = run(a.connections, a.hold, a.target, a.target_workers, a.shards_per_host, a.connect_rate, logs)
    finally:
        teardown()
    print(json.dumps(row))
    Path(a.out).write_text(json.dumps([row], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
