"""``pitchey-analysis debug``: trace the frames of one session (:mod:`pitchey_analysis.debug`)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .. import argtypes
from ..exceptions import OutputError
from ..textsafe import printable
from . import outputs
from .exits import Exit


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    d = sub.add_parser("debug", help="trace the frames of one session")
    d.add_argument("url", nargs="?", help="WebSocket URL (default: the embedded reference server)")
    d.add_argument("--profile", default="complete", type=argtypes.profile, help="embedded server profile")
    d.add_argument("--email", default=os.environ.get("PITCHEY_EMAIL"))
    d.add_argument("--password", default=os.environ.get("PITCHEY_PASSWORD"))
    d.add_argument("--sweep", action="store_true", help="send every message type of the contract")
    d.add_argument("--contract", default="pitchey", metavar="FILE|NAME", help="the service contract (default pitchey)")
    d.add_argument(
        "--duration",
        type=argtypes.seconds,
        default=2.0,
        help="seconds to listen after the last message; the session ends then whatever the target sends",
    )
    d.add_argument("--save", metavar="FILE", help="write the frames table (Parquet or CSV by extension)")
    d.add_argument("--cafile", help="CA certificate to verify a wss:// target")
    d.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")


def cmd_debug(a: argparse.Namespace) -> Exit:
    from ..debug import DebugOptions, print_trace_summary, save_frames, trace

    outputs.check_file(a.save, "--save")
    frames, summary = trace(
        DebugOptions(
            url=a.url,
            profile=a.profile,
            email=a.email,
            password=a.password,
            sweep=a.sweep,
            contract=a.contract,
            duration=a.duration,
            cafile=a.cafile,
            insecure=a.insecure,
        )
    )
    print_trace_summary(summary)
    if a.save:
        try:
            save_frames(frames, Path(a.save))
        except OSError as exc:
            raise OutputError(f"--save {a.save}", exc) from None
        print(f"frames table written to {printable(Path(a.save))}", file=sys.stderr)
    return Exit.OK
