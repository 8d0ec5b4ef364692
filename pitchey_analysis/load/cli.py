"""The ``load`` command's glue: arguments in, a run dataset and a summary out."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from .capture import record_levels
from .orchestrate import LoadResult, run_load


def run_load_cli(a: Any) -> int:
    """The ``load`` command: one level, or a ramp over ``--levels``; one run dataset."""
    from ..analysis import percentiles
    from ..config import runs_dir
    from ..server import ReferenceServer
    from ..suite import check_target

    model = "hold" if a.hold else ("closed" if a.rate == 0 else "open")
    levels = list(a.levels) if a.levels else [a.connections]

    def go(url: str) -> list[tuple[int, LoadResult]]:
        out = []
        for level in levels:
            print(f"level {level}: {model} model for {a.duration:g} s", file=sys.stderr)
            out.append((level, run_load(url, connections=level, duration_s=a.duration, model=model, rate_per_conn=a.rate or 1.0,
                                        workers=a.workers, scheduler=a.scheduler, progress=True, cafile=a.cafile,
                                        insecure=a.insecure)))
        return out

    if a.target:
        check_target(a.target)
        target, results = a.target, go(a.target)
    else:
        with ReferenceServer(disable=["rate_limit"]) as srv:  # the embedded target: no rate limit for load
            target, results = srv.ws_url, go(srv.ws_url)
    manifest = {"target": {"ws_url": target, "embedded": not a.target, "tls": target.startswith("wss")},
                "suite": {"name": "load", "version": "1"},
                "config": {"levels": levels, "duration_s": a.duration, "model": model, "rate_per_conn": a.rate,
                           "workers": a.workers, "scheduler": a.scheduler, "cafile": a.cafile, "insecure": a.insecure}}
    path = record_levels(results, Path(a.out) if a.out else runs_dir(), manifest)
    for level, result in results:
        rtt = result.rtt()
        line = f"level {level}: opened {result.opened}/{level}"
        if model == "hold":
            line += f", held {result.held}"
        if rtt.size:
            p = percentiles(rtt, (0.5, 0.99))
            line += f", {rtt.size} round trips, p50 {p[0.5].estimate:.3f} ms, p99 {p[0.99].estimate:.3f} ms"
        errors = result.errors()
        print(line + (f", errors {errors}" if errors else ", no errors"))
    print(f"run dataset: {path}")
    return 0
