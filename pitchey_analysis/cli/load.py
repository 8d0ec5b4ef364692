"""``pitchey-analysis load``: hold or ramp many connections and record their round trips."""

from __future__ import annotations

import argparse
import os
import sys

from .. import argtypes
from ..textsafe import printable
from . import options, outputs
from .exits import Exit


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ld = sub.add_parser("load", help="hold or ramp many connections and record their round trips")
    ld.add_argument("--target", help="WebSocket URL (default: embedded reference server)")
    ld.add_argument("--connections", type=argtypes.count, default=100, help="connections to hold (one level)")
    ld.add_argument(
        "--levels", type=options.levels, help="ramp: run these connection counts one after another, e.g. 100,1000,5000"
    )
    ld.add_argument(
        "--duration",
        type=argtypes.positive_seconds,
        default=10.0,
        help="seconds at each level (a hard bound: the level ends then whatever the target sends)",
    )
    ld.add_argument(
        "--rate",
        type=argtypes.rate,
        default=1.0,
        help="open model: messages per second per connection, counted from the scheduled send time; 0: closed model",
    )
    ld.add_argument("--hold", action="store_true", help="idle connections, each answering a ping at the end ('held')")
    ld.add_argument(
        "--workers",
        type=argtypes.number(low=0, high=256, integer=True, what="an integer"),
        default=2,
        help="client processes (shards)",
    )
    ld.add_argument("--scheduler", help="Dask scheduler address (tcp://host:port); default local processes")
    ld.add_argument(
        "--source-address",
        action="append",
        metavar="IP",
        dest="source_addresses",
        help="bind the connections to this local address (repeat: they take them in turn). connect searches "
        "an address's ephemeral ports, longer the fuller they are: more addresses open thousands of "
        "connections faster, and one reaches about 28,000 connections to one target at most",
    )
    ld.add_argument("--out", help="runs directory")
    ld.add_argument(
        "--token",
        default=os.environ.get("PITCHEY_TOKEN"),
        help="a credential you made beforehand (an access token), carried where the contract carries one by "
        "every connection that logs in as 'token' (a scenario's login: token; without a scenario, every "
        "connection) (default $PITCHEY_TOKEN; never written to the run)",
    )
    ld.add_argument("--cafile", help="CA certificate to verify a wss:// target")
    ld.add_argument("--insecure", action="store_true", help="do not verify TLS certificates (recorded in the manifest)")
    ld.add_argument(
        "--contract",
        default="pitchey",
        metavar="FILE|NAME",
        help="the service contract: its operations, answers, logins and channels (default pitchey)",
    )
    ld.add_argument(
        "--scenario",
        metavar="FILE",
        help="a YAML scenario (users, operations, channels, churn, stages); 'default': the built-in dashboard scenario",
    )
    ld.add_argument(
        "--window",
        type=argtypes.seconds,
        default=0.0,
        help="soak window in seconds for the summary (default: duration/10, 1 to 60 s)",
    )
    ld.add_argument(
        "--settle",
        type=argtypes.seconds,
        default=2.0,
        help="seconds the target is polled after the load left (sessions back to baseline?)",
    )


def cmd_load(a: argparse.Namespace) -> Exit:
    """``load``: one level, a ramp or a scenario's stages; its summary; exit 1 when no connection opened."""
    from ..load import use_system_allocator

    outputs.check_folder(a.out, "--out")
    # before pyarrow loads (when the load has ended): its default allocator keeps freed batch buffers
    use_system_allocator()
    from ..load.runner import LoadOptions, run_load_command
    from ..report.loadsummary import opened_none, summary_lines

    done = run_load_command(
        LoadOptions(
            target=a.target,
            connections=a.connections,
            levels=a.levels,
            duration=a.duration,
            rate=a.rate,
            hold=a.hold,
            workers=a.workers,
            scheduler=a.scheduler,
            out=a.out,
            cafile=a.cafile,
            insecure=a.insecure,
            scenario=a.scenario,
            window=a.window,
            settle=a.settle,
            verbose=a.verbose,
            contract=a.contract,
            source_addresses=tuple(a.source_addresses or ()),
            token=a.token or None,
        )
    )
    lines = summary_lines(done.path, done.model, done.window_s)
    for line in lines:  # close reasons and error examples are the target's text
        print(printable(line))
    print(f"run dataset: {done.path}")
    if opened_none(lines):
        print("pitchey-analysis load: no connection opened: the load did not happen", file=sys.stderr)
        return Exit.CRITICAL
    return Exit.OK
