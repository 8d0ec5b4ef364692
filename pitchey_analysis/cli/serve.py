"""``pitchey-analysis serve``: the reference Pitchey service on loopback."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading

from .. import argtypes
from ..exceptions import UsageError
from ..textsafe import printable
from . import options, outputs
from .exits import Exit


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("serve", help="run the reference Pitchey service on loopback")
    s.add_argument("--profile", default="complete", type=argtypes.profile, help="complete (default) or pitchey-2025-11")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    s.add_argument("--port", type=argtypes.port, default=0, help="port, 1-65535 (default 0: any free port)")
    s.add_argument("--tls", action="store_true", help="serve https/wss with a generated certificate (CA file printed)")
    s.add_argument(
        "--jwt-secret",
        default=os.environ.get("PITCHEY_JWT_SECRET"),
        help="signing secret, >= 32 bytes (default $PITCHEY_JWT_SECRET, else random and never printed)",
    )
    s.add_argument(
        "--allowed-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="browser origin allowed to connect (repeatable)",
    )
    s.add_argument(
        "--trust-proxy",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="a proxy (IP address or CIDR block) whose X-Forwarded-For is believed: the rightmost hop it did not add "
        "is the client (repeatable; no proxy is trusted by default)",
    )
    s.add_argument("--echo", action="store_true", help="also route /echo (a rate-limited echo endpoint, for Autobahn)")
    s.add_argument(
        "--disable",
        action="append",
        default=[],
        type=argtypes.feature,
        metavar="FEATURE",
        help="switch off one Part A feature (repeatable; see --list-switches)",
    )
    s.add_argument(
        "--defect",
        action="append",
        type=options.defect,
        default=[],
        metavar="N|NAME",
        help="switch on Part B item N, by number or name (repeatable; see --list-switches)",
    )
    s.add_argument(
        "--no-defect",
        action="append",
        type=options.defect,
        default=[],
        metavar="N|NAME",
        help="switch off Part B item N of the profile, by number or name",
    )
    s.add_argument(
        "--knob",
        action="append",
        type=argtypes.knob,
        default=[],
        metavar="NAME=VALUE",
        help="server knob, e.g. ping_interval=5 (repeatable)",
    )
    s.add_argument(
        "--workers",
        type=argtypes.number(low=1, high=256, integer=True, what="an integer"),
        default=1,
        help="serve from N processes sharing the port (SO_REUSEPORT); state is per process",
    )
    s.add_argument("--list-switches", action="store_true", help="list features, defects and knobs, then exit")
    s.add_argument(
        "--contract",
        default="pitchey",
        metavar="FILE|NAME",
        help="the reference server serves the pitchey contract only (any other is refused)",
    )


def list_switches() -> None:
    """Print the features, defects and knobs the reference server can be switched with."""
    import dataclasses

    from ..server import DEFECTS, FEATURES, Knobs

    print("features (--disable):")
    for k, v in FEATURES.items():
        print(f"  {k:28s} {v}")
    print("defects (--defect N or NAME; the 2025-11 behaviours the profile pitchey-2025-11 switches on):")
    for d, v in DEFECTS.items():
        print(f"  {d.value:3d} {d.name.lower():26s} {v}")
    print("knobs (--knob NAME=VALUE):")
    for f in dataclasses.fields(Knobs):
        print(f"  {f.name}")


def cmd_serve(a: argparse.Namespace) -> Exit:
    from ..contract import default_contract
    from ..demo import DEMO_PASSWORD_SOURCE, DEMO_USERS
    from ..server import Knobs, make_profile
    from ..server.app import ReferenceServer, serve_forever

    logging.getLogger("pitchey_analysis.server").setLevel(logging.DEBUG if a.verbose else logging.INFO)
    if outputs.contract(a.contract).sha256 != default_contract().sha256:
        raise UsageError(f"the reference server serves the pitchey contract only, not {a.contract!r}")
    if a.list_switches:
        list_switches()
        return Exit.OK
    from ..server.proxy import parse_networks

    problem = argtypes.check_knob_types(dict(a.knob), Knobs)
    if problem:
        raise UsageError(problem)
    try:
        profile = make_profile(
            a.profile, disable=a.disable, enable_defects=a.defect, disable_defects=a.no_defect, **dict(a.knob)
        )
        parse_networks(a.trust_proxy)
    except (ValueError, TypeError) as exc:  # a knob's value or a proxy address the server refuses: the user's to fix
        raise UsageError(str(exc)) from None
    if a.workers > 1:
        from ..server.workers import serve_workers

        serve_workers(profile, workers=a.workers, host=a.host, port=a.port, jwt_secret=a.jwt_secret)
        return Exit.OK
    srv = ReferenceServer(
        profile,
        host=a.host,
        port=a.port,
        tls=a.tls,
        jwt_secret=a.jwt_secret,
        allowed_origins=a.allowed_origin,
        trust_proxy=tuple(a.trust_proxy),
        echo=a.echo,
    )
    print(f"pitchey reference server, profile {profile.name}", file=sys.stderr)
    print(
        "demo users: " + ", ".join(u.email for u in DEMO_USERS) + f"; password: {DEMO_PASSWORD_SOURCE}", file=sys.stderr
    )
    print(
        "JWT secret: " + ("from --jwt-secret / $PITCHEY_JWT_SECRET" if a.jwt_secret else "random (not printed)"),
        file=sys.stderr,
    )

    def printer() -> None:
        # Printed once bound; the URLs are what a user needs to point a client at.
        while srv.server is None or not srv.server.ws_url:
            threading.Event().wait(0.02)
        print(f"WebSocket: {srv.ws_url}\nHTTP:      {srv.http_url}", file=sys.stderr)
        if srv.ca_file:
            print(f"CA file:   {srv.ca_file}", file=sys.stderr)
        print("Ctrl-C stops (health answers 503, sessions close 1001).", file=sys.stderr)

    threading.Thread(target=printer, daemon=True).start()
    try:
        serve_forever(srv)
    except OSError as exc:  # a --host that does not resolve, a port taken or not ours to bind: the user's to fix
        raise UsageError(f"cannot serve on {printable(a.host)}:{a.port}: {printable(exc.strerror or exc)}") from None
    return Exit.OK
