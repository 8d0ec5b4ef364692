"""The ``load`` command's glue: arguments in, a run dataset (written as the run goes) and a summary out."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from .capture import capture_load


def _summary(path: Path, levels: list[int], model: str) -> list[str]:
    """One line per level from the stored run: opened, held, round trips and percentiles per operation, errors."""
    import json

    from ..analysis import percentiles
    from ..dataset import load_run

    run = load_run(path)
    lines = []
    for level in levels:
        probe = run.probes[run.probes["probe"] == f"load.level_{level}"]
        if probe.empty:
            lines.append(f"level {level}: did not finish")
            continue
        obs = json.loads(probe.iloc[0]["observed"])
        line = f"level {level}: opened {obs['opened']}/{level}"
        if model == "hold":
            line += f", held {obs['held']}"
        s = run.samples[(run.samples["probe_id"] == probe.iloc[0]["probe_id"]) & run.samples["ok"].fillna(False)]
        for metric in sorted(m for m in s["metric"].unique() if str(m).startswith("rtt_ms")):
            v = s.loc[s["metric"] == metric, "value_ms"].to_numpy()
            p = percentiles(v, (0.5, 0.99))
            op = "ping" if metric == "rtt_ms" else str(metric).split(":", 1)[1]
            what = "round trips" if op == "ping" else f"{op}"
            line += f", {v.size} {what}, p50 {p[0.5].estimate:.3f} ms, p99 {p[0.99].estimate:.3f} ms"
        if obs.get("late") or obs.get("dropped"):
            line += f", generator: {obs['late']} sends late, {obs['dropped']} dropped"
        errors = obs["errors"]
        line += f", errors {errors}" if errors else ", no errors"
        if obs.get("close_codes"):
            line += f", closes {obs['close_codes']}"
        lines.append(line)
    return lines


def run_load_cli(a: Any) -> int:
    """The ``load`` command: one level, or a ramp over ``--levels``; one run dataset, written as the run goes."""
    from ..config import runs_dir
    from ..server import ReferenceServer
    from ..suite import DEMO_ADMIN, check_target

    if not getattr(a, "verbose", False):  # the local cluster's INFO lines would flood the terminal
        logging.getLogger("distributed").setLevel(logging.ERROR)
    model = "hold" if a.hold else ("closed" if a.rate == 0 else "open")
    levels = list(a.levels) if a.levels else [a.connections]
    settle_s = float(getattr(a, "settle", 2.0))

    def go(url: str, admin_token: str | None) -> Path:
        return capture_load(url, out=Path(a.out) if a.out else runs_dir(), levels=levels, duration_s=a.duration, model=model,
                            rate_per_conn=a.rate or 1.0, workers=a.workers, scheduler=a.scheduler, admin_token=admin_token,
                            settle_s=settle_s, cafile=a.cafile, insecure=a.insecure,
                            manifest={"target": {"ws_url": url, "embedded": not a.target, "tls": url.startswith("wss")},
                                      "config": {"cafile": a.cafile, "insecure": a.insecure}},
                            on_level=lambda level, d: print(f"level {level}: {model} model for {a.duration:g} s; run dataset {d}",
                                                            file=sys.stderr))

    if a.target:
        check_target(a.target)
        path = go(a.target, None)
    else:
        with ReferenceServer(disable=["rate_limit"]) as srv:  # the embedded target: no rate limit for load
            path = go(srv.ws_url, _login(srv.http_url, DEMO_ADMIN))
    for line in _summary(path, levels, model):
        print(line)
    print(f"run dataset: {path}")
    return 0


def _login(http_url: str, creds: Any) -> str | None:
    """A token for ``creds`` (None when the login is refused or fails)."""
    import json
    import urllib.request

    req = urllib.request.Request(f"{http_url}/api/auth/{creds.user_type}/login", method="POST",
                                 data=json.dumps({"email": creds.email, "password": creds.password}).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            token = json.load(r).get("token")
    except (OSError, ValueError):
        return None
    return token if isinstance(token, str) and token else None
