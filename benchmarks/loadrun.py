"""A load run against the bench's plain echo target, as the ``load`` command makes it: a run dataset written as it goes.

Run as ``python benchmarks/loadrun.py JSON`` (a whole process, so the bench can watch its memory and its
workers'): the ``load`` command's own capture path (:func:`pitchey_analysis.load.capture.capture_load`, the
streaming writer, Dask workers unless ``workers`` is 0) with the one thing the command cannot say yet, that the
target is a plain echo server (no first frame, a message answered with itself: ``ECHO_PING``); then the
command's own end-of-run summary (:func:`pitchey_analysis.report.loadsummary.summary_lines`), timed. ``cpus``: the CPUs
this
process (and the workers it starts) may run on. Prints ``LEVEL <epoch>`` when the level starts and one JSON line
at the end.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any


def main(opts: dict[str, Any]) -> dict[str, Any]:
    if opts.get("cpus"):
        os.sched_setaffinity(0, set(opts["cpus"]))
    if int(opts["workers"]) > 0:
        import logging

        import distributed  # noqa: F401 - quieten the local cluster as the load command does

        logging.getLogger("distributed").setLevel(logging.ERROR)
    from pitchey_analysis.load.capture import capture_load
    from pitchey_analysis.load.options import LoadPlan
    from pitchey_analysis.load.spec import ECHO_PING, UserSpec
    from pitchey_analysis.report.loadsummary import summary_lines

    rate = float(opts["rate_per_conn"])
    t0 = time.time()
    plan = LoadPlan(
        opts["url"],
        levels=(int(opts["connections"]),),
        duration_s=float(opts["duration_s"]),
        model="open",
        rate_per_conn=rate,
        workers=int(opts["workers"]),
        settle_s=0.5,
        await_first_frame=False,
        ping=ECHO_PING,
        connect_rate=float(opts.get("connect_rate", 2000)),
    )
    path = capture_load(
        plan,
        out=Path(opts["out"]),
        progress=False,
        users=(UserSpec(name="echo", rate_per_s=rate, operations=(ECHO_PING,)),),
        on_level=lambda level, d: print(f"LEVEL {time.time()}", flush=True),
    )
    t_load = time.time()
    rss_after_load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines = summary_lines(path, "open", float(opts.get("window_s", 60.0))) if opts.get("summary", True) else []
    return {
        "run": str(path),
        "load_wall_s": t_load - t0,
        "summary_s": time.time() - t_load,
        "summary": lines,
        "peak_rss_mb_before_summary": rss_after_load,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))), flush=True)
