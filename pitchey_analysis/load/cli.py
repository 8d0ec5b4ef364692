"""The ``load`` command's glue: arguments in, a run dataset (written as the run goes) and a summary out."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from .capture import capture_load
from .orchestrate import SchedulerUnreachable, check_scheduler


def _summary(path: Path, model: str, window_s: float) -> list[str]:
    """Lines from the stored run: per level opened, held, latency per operation, errors and closes; then the soak figures."""
    from ..analysis import percentiles
    from ..analysis.soak import analyze_soak
    from ..capture.dataset import load_events, load_run

    run = load_run(path)
    lines = []
    samples = run.samples[run.samples["ok"].fillna(False)]
    for _, probe in run.probes.sort_values("started_at").iterrows():
        obs = json.loads(probe["observed"])
        level = int(str(probe["probe"]).rsplit("_", 1)[1])
        line = f"level {level}: opened {obs['opened']}/{level}"
        if obs.get("left"):
            line += f" ({obs['left']} left on purpose and came back)"
        if model == "hold":
            line += f", held {obs['held']}"
        s = samples[samples["probe_id"] == probe["probe_id"]]
        for metric in sorted(m for m in s["metric"].unique() if str(m).startswith(("rtt_ms", "push_ms:"))):
            v = s.loc[s["metric"] == metric, "value_ms"].to_numpy()
            p = percentiles(v, (0.5, 0.99))
            what = "round trips" if metric == "rtt_ms" else str(metric).replace("push_ms:", "pushes ").replace("rtt_ms:", "")
            line += f", {v.size} {what}, p50 {p[0.5].estimate:.3f} ms, p99 {p[0.99].estimate:.3f} ms"
        if obs.get("late") or obs.get("dropped"):
            line += f", generator: {obs['late']} sends late, {obs['dropped']} not made"
        errors = obs["errors"]
        line += f", errors {errors}" if errors else ", no errors"
        if obs.get("close_codes"):
            line += f", closed by the target {obs['close_codes']}"
        lines.append(line)
    soak = analyze_soak(run.samples, load_events(run, "generator"), load_events(run, "target_stats"), window_s=window_s)
    lines.append(soak.saturation.note())
    for _, d in soak.drift.iterrows():
        lines.append(f"drift of {d['metric']} p50 per {window_s:g} s window: {d['status']} ({d['note']})")
    for _, f in soak.sessions.iterrows():
        lines.append(f"target sessions: {f['finding']} {f['status']}: {f['evidence']}")
    for _, t in soak.slo.iterrows():
        lines.append(f"{t['target']}: {t['status']} ({t['note']})")
    return lines


def _tokens(http_url: str, kinds: set[str], embedded: bool) -> dict[str, str | None]:
    """A token per user type: the demo users on the embedded target, PITCHEY_EMAIL/PITCHEY_PASSWORD elsewhere."""
    from ..probes.base import Credentials
    from ..suite import DEMO_USERS, UsageError

    out: dict[str, str | None] = {}
    for kind in sorted(kinds):
        if embedded and kind in DEMO_USERS:
            creds = DEMO_USERS[kind]
        elif os.environ.get("PITCHEY_EMAIL") and os.environ.get("PITCHEY_PASSWORD"):
            creds = Credentials(os.environ["PITCHEY_EMAIL"], os.environ["PITCHEY_PASSWORD"], kind)
        else:
            raise UsageError(f"the scenario logs in as {kind!r}: set PITCHEY_EMAIL and PITCHEY_PASSWORD")
        token = _login(http_url, creds)
        if token is None:
            raise UsageError(f"the login as {kind!r} was refused")
        out[kind] = token
    return out


def run_load_cli(a: Any) -> int:
    """The ``load`` command: one level, a ramp over ``--levels`` or a scenario's stages; one run dataset, written as the run goes."""
    from ..config import runs_dir
    from ..server import ReferenceServer
    from ..suite import DEMO_ADMIN, UsageError, check_target, http_base
    from .scenario import load_scenario

    if not getattr(a, "verbose", False):  # the local cluster's INFO lines would flood the terminal
        import distributed  # noqa: F401 - its import sets its loggers' levels from its own config: quieten them after

        logging.getLogger("distributed").setLevel(logging.ERROR)
    model = "hold" if a.hold else ("closed" if a.rate == 0 else "open")
    levels = list(a.levels) if a.levels else [a.connections]
    settle_s = float(getattr(a, "settle", 2.0))
    scenario_path = getattr(a, "scenario", None)
    bad = [f"{name} must be {rule}" for name, ok, rule in (
        ("--connections", a.connections >= 1, "at least 1"), ("--levels", not a.levels or all(n >= 1 for n in levels), "at least 1 each"),
        ("--duration", a.duration > 0, "positive"), ("--rate", a.rate >= 0, "0 (closed model) or positive"),
        ("--workers", a.workers >= 0, "0 (in this process) or more"), ("--settle", settle_s >= 0, "0 or more")) if not ok]
    if bad:
        print(f"pitchey-analysis load: error: {'; '.join(bad)}", file=sys.stderr)
        return 2
    try:
        scenario = load_scenario(scenario_path, duration_s=a.duration, connections=a.connections) if scenario_path else None
        if scenario is not None:
            model = "open"
        if a.target:
            check_target(a.target)
        if a.scheduler:
            check_scheduler(a.scheduler)
    except (UsageError, SchedulerUnreachable) as exc:
        print(f"pitchey-analysis load: error: {exc}", file=sys.stderr)
        return 2
    window_s = float(getattr(a, "window", 0) or 0) or max(1.0, min(60.0, a.duration / 10))

    def go(url: str, admin_token: str | None) -> Path:
        users: tuple = ()
        extra: dict[str, Any] = {"cafile": a.cafile, "insecure": a.insecure}
        if scenario is not None:
            users = scenario.with_tokens(_tokens(http_base(url), {k for k in scenario.logins if k}, not a.target))
            extra["scenario"] = scenario.describe()
        return capture_load(url, out=Path(a.out) if a.out else runs_dir(), levels=levels, duration_s=a.duration, model=model,
                            rate_per_conn=a.rate or 1.0, workers=a.workers, scheduler=a.scheduler, admin_token=admin_token,
                            settle_s=settle_s, cafile=a.cafile, insecure=a.insecure, users=users,
                            stages=list(scenario.stages) if scenario is not None else None,
                            stage_rates=list(scenario.stage_rates) if scenario is not None else None,
                            ramp=scenario is not None and scenario.ramp,
                            manifest={"target": {"ws_url": url, "embedded": not a.target, "tls": url.startswith("wss")},
                                      "config": extra},
                            on_level=lambda level, d: print(f"level {level}: {model} model; run dataset {d}", file=sys.stderr))

    try:
        if a.target:
            path = go(a.target, os.environ.get("PITCHEY_ADMIN_TOKEN") or None)
        else:
            with ReferenceServer(disable=["rate_limit"]) as srv:  # the embedded target: no rate limit for load
                path = go(srv.ws_url, _login(srv.http_url, DEMO_ADMIN))
    except (UsageError, SchedulerUnreachable) as exc:
        print(f"pitchey-analysis load: error: {exc}", file=sys.stderr)
        return 2
    lines = _summary(path, model, window_s)
    for line in lines:
        print(line)
    print(f"run dataset: {path}")
    if all(" opened 0/" in line for line in lines if line.startswith("level ")):
        print("pitchey-analysis load: no connection opened: the load did not happen", file=sys.stderr)
        return 1
    return 0


def _login(http_url: str, creds: Any) -> str | None:
    """A token for ``creds`` (None when the login is refused or fails)."""
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
