"""Artillery as a benchmark peer, with its telemetry stopped and its traffic checked.

Artillery 2.0.21 sends a telemetry event to an outside host even when told
not to. A preloaded module (``NODE_OPTIONS=--require``) replaces its
``posthog-node`` dependency with a no-op and wraps ``net.connect`` so that any
connection to a non-loopback address is refused and reported: only loopback
traffic may leave the process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from . import PEERS_DIR

GUARD = r"""
const Module = require('module');
const net = require('net');
const fs = require('fs');
const log = process.env.PITCHEY_NET_LOG;
const origLoad = Module._load;
Module._load = function (request, parent, isMain) {
  if (request === 'posthog-node') {
    class PostHog {
      capture() {} identify() {} alias() {}
      flush() { return Promise.resolve(); } shutdown() { return Promise.resolve(); }
      shutdownAsync() { return Promise.resolve(); }
    }
    return { PostHog, default: PostHog };
  }
  return origLoad.apply(this, arguments);
};
const loopback = (h) => !h || h === 'localhost' || h === '::1' || /^127\./.test(h);
const origConnect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  const o = typeof args[0] === 'object' ? args[0] : { port: args[0], host: args[1] };
  const host = o && (o.host || o.hostname);
  if (log) fs.appendFileSync(log, JSON.stringify({ host: host || null, port: o && o.port }) + '\n');
  if (o && !o.path && !loopback(host)) { throw new Error('pitchey bench: blocked non-loopback connection to ' + host); }
  return origConnect.apply(this, args);
};
"""


def artillery_bin() -> Path | None:
    """The installed artillery, or None."""
    p = PEERS_DIR / "node_modules" / ".bin" / "artillery"
    return p if p.exists() else None


def run_artillery(url: str, conns: int, seconds: float, tmp: Path) -> dict | str:
    """Artillery's ws engine: ``conns`` virtual users, each sending and waiting for the echo in a loop."""
    binary = artillery_bin()
    if binary is None:
        return "Artillery is not installed (make bench-peers installs artillery@2.0.21 into .bench/)"
    guard = tmp / "guard.js"
    guard.write_text(GUARD)
    netlog = tmp / "net.log"
    script = tmp / "scenario.json"
    loops = max(200, int(seconds * 600))  # per virtual user: the run ends on its own after about `seconds`
    script.write_text(
        json.dumps(
            {
                "config": {
                    "target": url,
                    "phases": [{"duration": 1, "arrivalCount": conns}],
                    "ws": {"rejectUnauthorized": False},
                },
                "scenarios": [
                    {
                        "engine": "ws",
                        "flow": [
                            {
                                "loop": [
                                    {
                                        "send": {
                                            "payload": '{"type":"ping","id":"0000000000","pad":"' + "x" * 56 + '"}',
                                            "match": {"json": "$.type", "value": "ping"},
                                        }
                                    }
                                ],
                                "count": loops,
                            }
                        ],
                    }
                ],
            }
        )
    )
    env = {
        **os.environ,
        "NODE_OPTIONS": f"--require {guard}",
        "ARTILLERY_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "1",
        "PITCHEY_NET_LOG": str(netlog),
    }
    report = tmp / f"artillery_{conns}_{seconds:g}.json"
    report.unlink(missing_ok=True)
    # measured in a fresh process, so that its RUSAGE_CHILDREN (peak RSS above all) is Artillery's alone
    cmd = [
        sys.executable,
        str(Path(__file__).with_name("workloads.py")),
        "measure",
        str(seconds * 10 + 60),
        str(binary),
        "run",
        "--output",
        str(report),
        str(script),
    ]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds * 10 + 90, env=env)
    except subprocess.TimeoutExpired:
        return "Artillery did not finish in time"
    fig = json.loads(r.stdout.strip().splitlines()[-1])
    hosts = {json.loads(ln).get("host") for ln in netlog.read_text().splitlines()} if netlog.exists() else set()
    if not report.exists():
        return f"Artillery wrote no report: {fig.get('stderr', '')[-300:]}"
    data = json.loads(report.read_text())
    agg = data.get("aggregate", {})
    counters = agg.get("counters", {})
    n = int(counters.get("websocket.messages_received", 0))
    first, last = agg.get("firstCounterAt"), agg.get("lastCounterAt")
    span = (last - first) / 1000 if first and last and last > first else None
    blocked = sorted(h for h in hosts if h and not (h == "localhost" or h == "::1" or h.startswith("127.")))
    return {
        "round_trips": n,
        "round_trips_per_s": n / span if span else None,
        "p50_ms": None,
        "p99_ms": None,
        "process_cpu_s": fig["process_cpu_s"],
        "peak_rss_mb": fig["peak_rss_mb"],
        "samples_kept": None,
        "note": "Artillery's ws engine reports no latency; "
        + (f"non-loopback connections blocked: {blocked}" if blocked else "only loopback connections were made"),
    }
