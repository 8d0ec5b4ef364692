"""The command line: ``pitchey-analysis serve | run | report | compare | debug | load``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import __version__, argtypes
from .exceptions import UsageError
from .textsafe import printable

EXIT_OK, EXIT_CRITICAL, EXIT_USAGE, EXIT_INSUFFICIENT, EXIT_DEGRADED = 0, 1, 2, 3, 4
#: interrupted: Ctrl-C (SIGINT) and SIGTERM, 128 + the signal's number as a shell reports it
EXIT_SIGINT, EXIT_SIGTERM = 130, 143


class CliError(UsageError):
    """A one-line error for the user; exit code 2 unless said otherwise."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def _user(value: str) -> tuple[str, str]:
    kind, sep, email = value.partition(":")
    if not sep or not re.fullmatch(r"[A-Za-z0-9_.-]+", kind.strip()) or "@" not in email or argtypes.has_control(email):
        raise argparse.ArgumentTypeError(f"--user takes TYPE:EMAIL, e.g. investor:sarah@example.com (got {value!r})")
    return kind.strip(), email.strip()


def _defect(value: str) -> int:
    """A Part B item by number or name (``15`` or ``drop_during_lookup``)."""
    from .server.profile import Defect

    try:
        return Defect.parse(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _levels(value: str) -> tuple[int, ...]:
    try:
        levels = tuple(int(x) for x in value.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"concurrency levels must be integers, e.g. 1,10,100 (got {value!r})") from None
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError("concurrency levels must be positive")
    if max(levels) > 10_000_000:
        raise argparse.ArgumentTypeError(f"concurrency levels must be at most 10,000,000 (got {max(levels):,})")
    return levels


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to render --help in the README)."""
    p = argparse.ArgumentParser(
        prog="pitchey-analysis",
        description="Is a real-time WebSocket service ready for production? Probe it, capture a run dataset, report.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log more (secrets are always redacted)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser("serve", help="run the reference Pitchey service on loopback")
    s.add_argument("--profile", default="complete", type=argtypes.profile, help="complete (default) or pitchey-2025-11")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    s.add_argument("--port", type=argtypes.port, default=0, help="port, 1-65535 (default 0: any free port)")
    s.add_argument("--tls", action="store_true", help="serve https/wss with a generated certificate (CA file printed)")
    s.add_argument("--jwt-secret", default=os.environ.get("PITCHEY_JWT_SECRET"),
                   help="signing secret, >= 32 bytes (default $PITCHEY_JWT_SECRET, else random and never printed)")
    s.add_argument("--allowed-origin", action="append", default=[], metavar="ORIGIN", help="browser origin allowed to connect (repeatable)")
    s.add_argument("--trust-proxy", action="append", default=[], metavar="ADDRESS",
                   help="a proxy (IP address or CIDR block) whose X-Forwarded-For is believed: the rightmost hop it did not add "
                        "is the client (repeatable; no proxy is trusted by default)")
    s.add_argument("--echo", action="store_true", help="also route /echo (a rate-limited echo endpoint, for Autobahn)")
    s.add_argument("--disable", action="append", default=[], type=argtypes.feature, metavar="FEATURE", help="switch off one Part A feature (repeatable; see --list-switches)")
    s.add_argument("--defect", action="append", type=_defect, default=[], metavar="N|NAME",
                   help="switch on Part B item N, by number or name (repeatable; see --list-switches)")
    s.add_argument("--no-defect", action="append", type=_defect, default=[], metavar="N|NAME",
                   help="switch off Part B item N of the profile, by number or name")
    s.add_argument("--knob", action="append", type=argtypes.knob, default=[], metavar="NAME=VALUE",
                   help="server knob, e.g. ping_interval=5 (repeatable)")
    s.add_argument("--workers", type=argtypes.number(low=1, high=256, integer=True, what="an integer"), default=1, help="serve from N processes sharing the port (SO_REUSEPORT); state is per process")
    s.add_argument("--list-switches", action="store_true", help="list features, defects and knobs, then exit")
    s.add_argument("--contract", default="pitchey", metavar="FILE|NAME",
                   help="the reference server serves the pitchey contract only (any other is refused)")

    r = sub.add_parser("run", help="run the probe suite and capture a run dataset")
    r.add_argument("--target", help="WebSocket URL (ws://host:port/ws); default: start the embedded reference server")
    r.add_argument("--http-url", help="HTTP base URL (default: derived from --target)")
    r.add_argument("--profile", default="complete", type=argtypes.profile, help="embedded server profile: complete or pitchey-2025-11")
    r.add_argument("--disable", action="append", default=[], type=argtypes.feature, metavar="FEATURE", help="embedded server: switch off a feature")
    r.add_argument("--defect", action="append", type=_defect, default=[], metavar="N|NAME",
                   help="embedded server: switch on Part B item N (number or name)")
    r.add_argument("--no-defect", action="append", type=_defect, default=[], metavar="N|NAME",
                   help="embedded server: switch off Part B item N (number or name)")
    r.add_argument("--tls", action=argparse.BooleanOptionalAction, default=True,
                   help="embedded server: serve wss:// (default), so that the TLS probe and target are judged and a "
                        "complete server can be READY; --no-tls serves ws:// (the TLS checks are then gaps)")
    r.add_argument("--email", default=os.environ.get("PITCHEY_EMAIL"), help="user e-mail (default $PITCHEY_EMAIL)")
    r.add_argument("--password", help="user password (default $PITCHEY_PASSWORD); needs --email")
    r.add_argument("--token", default=os.environ.get("PITCHEY_TOKEN"), type=argtypes.credential,
                   help="a credential you made beforehand (an access token), used as is where the contract carries one "
                        "(default $PITCHEY_TOKEN; never written to the run)")
    r.add_argument("--user-type", help="login endpoint of the user: a user type of the contract's x-readiness.login "
                                       "(pitchey: creator (default), investor, production)")
    r.add_argument("--user", action="append", default=[], metavar="TYPE:EMAIL", type=_user,
                   help="a user of another type (repeatable), e.g. investor:sarah@example.com; its password comes from "
                        "$PITCHEY_PASSWORD_<TYPE> (e.g. PITCHEY_PASSWORD_INVESTOR), else $PITCHEY_PASSWORD")
    r.add_argument("--credentials", metavar="FILE",
                   help="a YAML/JSON file with users: [{type, email, password}] and admin: {email, password, login_path} (never copied into the run)")
    r.add_argument("--admin-email", default=os.environ.get("PITCHEY_ADMIN_EMAIL"), help="admin e-mail for stats/notification probes")
    r.add_argument("--admin-password", default=os.environ.get("PITCHEY_ADMIN_PASSWORD"), help="admin password")
    r.add_argument("--admin-login-path", type=argtypes.http_path, help="the admin's login path (default: the creator login path)")
    r.add_argument("--no-preflight", action="store_true", help="skip the checks of URL, upgrade and logins before the suite")
    r.add_argument("--jwt-secret", default=os.environ.get("PITCHEY_JWT_SECRET"), help="target's signing secret, for probes that sign their own tokens")
    r.add_argument("--suite", default="full", choices=("quick", "full"), help="full (default) or quick (<= 20 s)")
    r.add_argument("--concurrency", type=_levels, help="concurrency levels, e.g. 1,10,100,1000")
    r.add_argument("--samples", type=argtypes.count, help="round-trip samples (default 400)")
    r.add_argument("--connect-samples", type=argtypes.count, help="sequential connect samples (default 100)")
    r.add_argument("--timeout-scale", type=argtypes.scale, help="multiply every timeout and wait (slow targets)")
    r.add_argument("--lockout-attempts", type=argtypes.count, metavar="N",
                   help="failed authentications the lockout probes send from one address before expecting it locked out "
                        "(default: the contract's x-readiness.limits.lockout.failures; this option overrides it)")
    r.add_argument("--deadline", type=argtypes.positive_seconds, metavar="SECONDS",
                   help="the run's budget: probes still running then are cancelled and recorded as not run "
                        "(reason deadline); default 180 for quick, 600 for full")
    r.add_argument("--out", help="runs directory (default: runs/ of the data folder, see the README)")
    r.add_argument("--cafile", help="CA certificate to verify a wss:// target")
    r.add_argument("--insecure", action="store_true", help="do not verify TLS certificates (recorded; the TLS probe then fails)")
    r.add_argument("--header", action="append", type=argtypes.header, default=[], metavar="'NAME: VALUE'", help="extra upgrade header (repeatable)")
    r.add_argument("--allow-disruptive", action="store_true", help="run probes that disturb other users on a non-loopback target")
    r.add_argument("--only", action="append", metavar="NAME", help="run only these probes or categories (repeatable)")
    r.add_argument("--dry-run", action="store_true", help="list what would run and its schedule (which probes run together, "
                                                          "which alone, the expected wall time), then exit")
    r.add_argument("--sequential", action="store_true",
                   help="one probe at a time in catalogue order (default: probes that cannot disturb each other run together)")
    r.add_argument("--repeat", type=argtypes.count, default=1, metavar="N",
                   help="run the suite N times against the same target and tell, probe by probe, whether the outcome "
                        "was stable (an unstable probe is a finding: 'flaky: fail in 1 of 3 runs'); exit code: the worst run's")
    r.add_argument("--parallel", type=argtypes.count, default=None, metavar="N",
                   help="probes running side by side in the together stage (default 6)")
    r.add_argument("--junit", metavar="FILE", help="write a JUnit XML summary")
    r.add_argument("--json", metavar="FILE", help="write a JSON summary")
    r.add_argument("--fail-on", choices=("critical", "not-ready", "insufficient", "never"), default="critical",
                   help="critical (default): exit 1 on a failed critical probe, else 3 on INSUFFICIENT EVIDENCE; not-ready: "
                        "1 on NOT READY only; insufficient: 1 on NOT READY, 3 on INSUFFICIENT EVIDENCE; never: 0")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.add_argument("--contract", default="pitchey", metavar="FILE|NAME",
                   help="the service contract (AsyncAPI 3.0 + x-readiness, docs/contract.md): a file or a shipped name "
                        "(default pitchey); stored in the run")

    ct = sub.add_parser("contract", help="check a service contract and print what the suite will test with it")
    ct.add_argument("action", choices=("check",), help="check: validate the document and print the plan")
    ct.add_argument("contract", metavar="FILE|NAME", help="a contract file (YAML or JSON) or a shipped name, e.g. pitchey")
    ct.add_argument("--suite", default="full", choices=("quick", "full"), help="the suite to plan (default full)")
    ct.add_argument("--target", help="plan for this target URL (default: a loopback target)")

    rp = sub.add_parser("report", help="export the readiness report (HTML and PDF) of a run")
    rp.add_argument("run", nargs="?", default="latest", help="run id, run directory or 'latest' (default)")
    rp.add_argument("--compare", metavar="RUN", help="a reference run to compare against")
    rp.add_argument("--runs-dir", help="where run ids are looked up (default: runs/ of the data folder)")
    rp.add_argument("--out", help="output directory (default: reports/ beside the data folder, or $PITCHEY_REPORTS)")
    rp.add_argument("--format", type=argtypes.formats, default="html,pdf", help="html, pdf or html,pdf (default)")
    rp.add_argument("--meeting", action="store_true",
                    help="write the meeting pack of RUN into one folder (OUT/meeting-<run_id>/): readiness report, comparison "
                         "with the baseline, history figure of the target, SHA256SUMS of the run dataset")
    rp.add_argument("--baseline", metavar="RUN", help="with --meeting: the run to compare with (default: the previous run of "
                                                     "the same target and contract)")

    c = sub.add_parser("compare", help="a comparison report of two runs")
    c.add_argument("run_a", help="the reference run")
    c.add_argument("run_b", help="the current run")
    c.add_argument("--runs-dir", help="where run ids are looked up")
    c.add_argument("--out", help="output directory (default: as report's)")
    c.add_argument("--format", type=argtypes.formats, default="html,pdf", help="html, pdf or html,pdf")

    h = sub.add_parser("history", help="every run of a target over time: verdict, score, pass rates and p95 with intervals")
    h.add_argument("--target", help="only runs whose target contains this text (a URL, or embedded:<profile>)")
    h.add_argument("--runs-dir", help="where the runs are (default data/runs of the project)")
    h.add_argument("--samples", action="store_true", help="include the committed sample runs")
    h.add_argument("--figure", metavar="PNG", help="also draw the trend into this PNG file")

    d = sub.add_parser("debug", help="trace the frames of one session")
    d.add_argument("url", nargs="?", help="WebSocket URL (default: the embedded reference server)")
    d.add_argument("--profile", default="complete", type=argtypes.profile, help="embedded server profile")
    d.add_argument("--email", default=os.environ.get("PITCHEY_EMAIL"))
    d.add_argument("--password", default=os.environ.get("PITCHEY_PASSWORD"))
    d.add_argument("--sweep", action="store_true", help="send every message type of the contract")
    d.add_argument("--contract", default="pitchey", metavar="FILE|NAME", help="the service contract (default pitchey)")
    d.add_argument("--duration", type=argtypes.seconds, default=2.0,
                   help="seconds to listen after the last message; the session ends then whatever the target sends")
    d.add_argument("--save", metavar="FILE", help="write the frames table (Parquet or CSV by extension)")
    d.add_argument("--cafile", help="CA certificate to verify a wss:// target")
    d.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")

    ld = sub.add_parser("load", help="hold or ramp many connections and record their round trips")
    ld.add_argument("--target", help="WebSocket URL (default: embedded reference server)")
    ld.add_argument("--connections", type=argtypes.count, default=100, help="connections to hold (one level)")
    ld.add_argument("--levels", type=_levels, help="ramp: run these connection counts one after another, e.g. 100,1000,5000")
    ld.add_argument("--duration", type=argtypes.positive_seconds, default=10.0,
                    help="seconds at each level (a hard bound: the level ends then whatever the target sends)")
    ld.add_argument("--rate", type=argtypes.rate, default=1.0,
                    help="open model: messages per second per connection, counted from the scheduled send time; 0: closed model")
    ld.add_argument("--hold", action="store_true", help="idle connections, each answering a ping at the end ('held')")
    ld.add_argument("--workers", type=argtypes.number(low=0, high=256, integer=True, what="an integer"), default=2, help="client processes (shards)")
    ld.add_argument("--scheduler", help="Dask scheduler address (tcp://host:port); default local processes")
    ld.add_argument("--source-address", action="append", metavar="IP", dest="source_addresses",
                    help="bind the connections to this local address (repeat: they take them in turn). connect searches "
                         "an address's ephemeral ports, longer the fuller they are: more addresses open thousands of "
                         "connections faster, and one reaches about 28,000 connections to one target at most")
    ld.add_argument("--out", help="runs directory")
    ld.add_argument("--token", default=os.environ.get("PITCHEY_TOKEN"),
                    help="a credential you made beforehand (an access token), carried where the contract carries one by "
                         "every connection that logs in as 'token' (a scenario's login: token; without a scenario, every "
                         "connection) (default $PITCHEY_TOKEN; never written to the run)")
    ld.add_argument("--cafile", help="CA certificate to verify a wss:// target")
    ld.add_argument("--insecure", action="store_true", help="do not verify TLS certificates (recorded in the manifest)")
    ld.add_argument("--contract", default="pitchey", metavar="FILE|NAME",
                    help="the service contract: its operations, answers, logins and channels (default pitchey)")
    ld.add_argument("--scenario", metavar="FILE", help="a YAML scenario (users, operations, channels, churn, stages); 'default': the built-in dashboard scenario")
    ld.add_argument("--window", type=argtypes.seconds, default=0.0, help="soak window in seconds for the summary (default: duration/10, 1 to 60 s)")
    ld.add_argument("--settle", type=argtypes.seconds, default=2.0, help="seconds the target is polled after the load left (sessions back to baseline?)")
    return p


def _setup_logging(verbose: bool) -> None:
    from .capture.redact import redact_text

    class Redacting(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            return redact_text(super().format(record))

    h = logging.StreamHandler(sys.stderr)
    h.setFormatter(Redacting("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, handlers=[h], force=True)
    logging.getLogger("pitchey_analysis.server").setLevel(logging.DEBUG if verbose else logging.WARNING)
    for noisy in ("websockets", "aiohttp.access", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def cmd_serve(a: argparse.Namespace) -> int:
    from .demo import DEMO_PASSWORD_SOURCE, DEMO_USERS
    from .server import DEFECTS, FEATURES, Knobs, make_profile
    from .server.app import ReferenceServer, serve_forever

    logging.getLogger("pitchey_analysis.server").setLevel(logging.DEBUG if a.verbose else logging.INFO)
    from .contract import default_contract

    if _contract(a.contract).sha256 != default_contract().sha256:
        raise CliError(f"the reference server serves the pitchey contract only, not {a.contract!r}")
    if a.list_switches:
        import dataclasses

        print("features (--disable):")
        for k, v in FEATURES.items():
            print(f"  {k:28s} {v}")
        print("defects (--defect N or NAME; the 2025-11 behaviours the profile pitchey-2025-11 switches on):")
        for d, v in DEFECTS.items():
            print(f"  {d.value:3d} {d.name.lower():26s} {v}")
        print("knobs (--knob NAME=VALUE):")
        for f in dataclasses.fields(Knobs):
            print(f"  {f.name}")
        return EXIT_OK
    from .server.proxy import parse_networks

    problem = argtypes.check_knob_types(dict(a.knob), Knobs)
    if problem:
        raise CliError(problem)
    try:
        profile = make_profile(a.profile, disable=a.disable, enable_defects=a.defect, disable_defects=a.no_defect, **dict(a.knob))
        parse_networks(a.trust_proxy)
    except (ValueError, TypeError) as exc:
        raise CliError(str(exc)) from None
    if a.workers > 1:
        from .server.workers import serve_workers

        return serve_workers(profile, workers=a.workers, host=a.host, port=a.port, jwt_secret=a.jwt_secret)
    srv = ReferenceServer(profile, host=a.host, port=a.port, tls=a.tls, jwt_secret=a.jwt_secret,
                          allowed_origins=a.allowed_origin, trust_proxy=tuple(a.trust_proxy), echo=a.echo)
    print(f"pitchey reference server, profile {profile.name}", file=sys.stderr)
    print("demo users: " + ", ".join(u.email for u in DEMO_USERS) + f"; password: {DEMO_PASSWORD_SOURCE}", file=sys.stderr)
    print("JWT secret: " + ("from --jwt-secret / $PITCHEY_JWT_SECRET" if a.jwt_secret else "random (not printed)"), file=sys.stderr)

    import threading

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
        raise CliError(f"cannot serve on {printable(a.host)}:{a.port}: {printable(exc.strerror or exc)}") from None
    return EXIT_OK


def _credentials(a: argparse.Namespace, user_type: str) -> tuple[list[Any], Any]:
    """Users (the main one first) and the admin from --email, --user, --credentials and the environment;
    ``user_type`` is the login type of --email and --admin-email."""
    from .probes.base import Credentials

    users = []
    if a.email:
        users.append(Credentials(a.email, a.password, user_type))
    elif getattr(a, "token", None):
        users.append(Credentials("", "", user_type, token=a.token))
    for kind, email in a.user:
        pw = os.environ.get(f"PITCHEY_PASSWORD_{kind.upper()}") or os.environ.get("PITCHEY_PASSWORD")
        if not pw:
            raise CliError(f"no password for --user {kind}:{email}: set PITCHEY_PASSWORD_{kind.upper()} or PITCHEY_PASSWORD")
        users.append(Credentials(email, pw, kind))
    admin = Credentials(a.admin_email, a.admin_password, user_type, a.admin_login_path) if a.admin_email else None
    if a.credentials:
        doc = _credentials_file(a.credentials)
        where = f"--credentials {printable(a.credentials)}"
        for i, u in enumerate(doc.get("users") or []):
            if not isinstance(u, dict) or not all(isinstance(u.get(k), str) for k in ("type", "email", "password")):
                raise CliError(f"{where}: users[{i}] needs type, email and password")
            users.append(Credentials(u["email"], u["password"], u["type"], _login_path(u, f"{where}: users[{i}]")))
        ad = doc.get("admin")
        if ad is not None:
            if not isinstance(ad, dict) or not all(isinstance(ad.get(k), str) for k in ("email", "password")):
                raise CliError(f"{where}: admin needs email and password")
            admin = Credentials(ad["email"], ad["password"], str(ad.get("type", user_type)),
                                _login_path(ad, f"{where}: admin") or a.admin_login_path)
    return users, admin


def _login_path(entry: dict[str, Any], where: str) -> str | None:
    """A credential's ``login_path``, a path on the target (:func:`~.argtypes.http_path`: never another host)."""
    path = entry.get("login_path")
    if path is None:
        return None
    try:
        return argtypes.http_path(path) if isinstance(path, str) else argtypes.http_path(repr(path))
    except argparse.ArgumentTypeError as exc:
        raise CliError(f"{where}.login_path: {exc}") from None


#: the largest credentials file read (a few users and an admin take a few hundred bytes)
CREDENTIALS_MAX_BYTES = 1 << 20


def _credentials_file(name: str) -> dict[str, Any]:
    """The --credentials file as a mapping with ``users`` (a list) and ``admin``; any other content is one line."""
    import stat

    import yaml

    where = f"--credentials {printable(name)}"
    try:
        st = Path(name).stat()
        if not stat.S_ISREG(st.st_mode):
            raise CliError(f"{where} is not a regular file")
        if st.st_size > CREDENTIALS_MAX_BYTES:
            raise CliError(f"{where}: {st.st_size:,} bytes, more than a credentials file ({CREDENTIALS_MAX_BYTES:,} at most)")
        text = Path(name).read_bytes().decode("utf-8")
        doc = yaml.safe_load(text)
    except OSError as exc:
        raise CliError(f"cannot read {where}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CliError(f"{where} is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        raise CliError(f"{where} is not YAML/JSON: {printable(str(exc).splitlines()[0])}") from None
    except RecursionError:
        raise CliError(f"{where} is nested too deeply to be a credentials file") from None
    if not isinstance(doc, dict):
        raise CliError(f"{where}: expected a mapping with users: and admin:")
    if not isinstance(doc.get("users") or [], list):
        raise CliError(f"{where}: users must be a list of {{type, email, password}}")
    return doc


def _contract(ref: str, *, check: bool = False) -> Any:
    """Load a contract or exit 2 naming the JSON path of its first error (``check``: the shipped default validated too,
    which is otherwise taken as validated by the package's tests)."""
    from .contract import ContractError, load_contract, validate_document

    try:
        c = load_contract(ref)
        if check:
            validate_document(c.document)
        return c
    except ContractError as exc:
        raise CliError(f"contract {ref}: {exc}") from None


def cmd_contract(a: argparse.Namespace) -> int:
    from .exceptions import UsageError
    from .probes import ProbeContext
    from .runner import plan

    c = _contract(a.contract, check=True)
    ctx = ProbeContext(ws_url=a.target or "ws://127.0.0.1:0/ws", http_url="", recorder=None, contract=c)
    try:
        steps = plan(a.suite, ctx)
    except UsageError as exc:
        raise CliError(str(exc)) from None
    from .contract.lint import lint

    issues = lint(c)
    errors = [i for i in issues if i.severity == "error"]
    if errors:
        for i in issues:
            print(f"contract {printable(a.contract)}: {printable(i.line())}", file=sys.stderr)
        return EXIT_USAGE
    # every name below is the contract's text: printed escaped (a title may hold a terminal's control sequences)
    print(printable(f"contract {c.name} ({c.title} {c.version}): valid AsyncAPI 3.0 + x-readiness, sha256 {c.sha256[:12]}"))
    if c.kind_pointer != "/type":
        print(printable(f"message kinds: {c.kind_pointer or 'told apart by their schemas'}"
                        + (f"; answers matched by id at {', '.join(c.answer_pointers)}" if c.answer_pointers else "")))
    for i in issues:
        print(printable(i.line()))
    ops = c.request_answers()
    print(printable(f"{len(ops)} request/answer operations generate probes: " + ", ".join(f"{o.label()} [{o.probe_name}]" for o in ops)))
    if c.first_frame:
        print(printable(f"first frame: {c.first_frame.type}"))
    run = [(s, w) for s, w in steps if not (w or "").startswith("not_in_contract")]
    skipped = [(s, w) for s, w in steps if (w or "").startswith("not_in_contract")]
    print(f"\n{len(run)} probes will run ({a.suite} suite):")
    for spec, why in run:
        print(_plan_line(spec, f"skip ({why})" if why else "run"))
    print(f"\n{len(skipped)} probes will not run (skip not_in_contract):")
    for spec, why in skipped:
        print(_plan_line(spec, (why or "").partition(":")[2]))
    crit = [s.name for s, _ in skipped if s.critical]
    if crit:
        print(f"\n{len(crit)} critical probes are not in the contract: the verdict counts them as gaps "
              "(INSUFFICIENT EVIDENCE at best).")
    return EXIT_OK


def cmd_run(a: argparse.Namespace) -> int:
    """``run``: validate and configure, then a dry run (the plan) or the run, its summaries and the exit policy."""
    cfg = _run_config(a)
    if a.dry_run:
        return _print_plan(a, cfg)
    _check_outputs(a, folders=("out",), files=("json", "junit"))
    if a.repeat > 1:
        return _repeat_runs(a, cfg)
    return _report_run(a, _execute_run(a, cfg))


#: exit codes from the worst to the best: a repeated run exits with its worst run's
_EXIT_WORST_FIRST = (EXIT_DEGRADED, EXIT_CRITICAL, EXIT_INSUFFICIENT, EXIT_OK)


def _repeat_runs(a: argparse.Namespace, cfg: Any) -> int:
    """``run --repeat N``: the same suite N times, each its own run (its manifest names the group), then the
    stability of every probe; the exit code is the worst run's."""
    import dataclasses
    import uuid

    from .analysis.stability import stability
    from .capture.dataset import load_run

    group = uuid.uuid4().hex[:8]
    dirs, codes = [], []
    for i in range(a.repeat):
        print(f"== run {i + 1} of {a.repeat} (repeat group {group})", file=sys.stderr, flush=True)
        one = dataclasses.replace(cfg, repeat={"group": group, "index": i + 1, "of": a.repeat})
        run_dir = _execute_run(a, one)
        dirs.append(run_dir)
        codes.append(_report_run(a, run_dir))
    table = stability([load_run(d).probes for d in dirs])
    unstable = table[~table["stable"]]
    print(f"\nstability over {a.repeat} runs (repeat group {group}): {len(table) - len(unstable)} of {len(table)} probes "
          "gave the same outcome every time")
    for r in unstable.itertuples():
        print(f"  {'critical ' if r.critical else ''}{r.probe}: {r.finding} ({r.outcomes})")
    print("runs: " + ", ".join(d.name for d in dirs))
    return next(c for c in _EXIT_WORST_FIRST if c in codes)


def _run_config(a: argparse.Namespace) -> Any:
    """The run's :class:`SuiteConfig` from the arguments; a user mistake is a :class:`CliError` (exit 2)."""
    from .exceptions import UsageError
    from .net import check_target
    from .runner import SuiteConfig, make_options

    if a.target:
        try:
            check_target(a.target)
        except UsageError as exc:
            raise CliError(str(exc)) from None
    if a.password is not None and a.email is None:  # the option, not $PITCHEY_PASSWORD (which also serves --user)
        raise CliError("--password needs --email (or PITCHEY_EMAIL): without it the password would be ignored")
    if a.password is None:
        a.password = os.environ.get("PITCHEY_PASSWORD")
    if a.email is not None and a.password is None:
        raise CliError("give both --email and --password (or PITCHEY_EMAIL and PITCHEY_PASSWORD)")
    if a.admin_email and not a.admin_password:
        raise CliError("--admin-email needs --admin-password (or PITCHEY_ADMIN_PASSWORD)")
    if a.timeout_scale is not None and a.timeout_scale <= 0:
        raise CliError("--timeout-scale must be positive")
    for flag, v in (("--samples", a.samples), ("--connect-samples", a.connect_samples), ("--deadline", a.deadline),
                    ("--lockout-attempts", a.lockout_attempts)):
        if v is not None and v <= 0:
            raise CliError(f"{flag} must be positive")
    overrides = {"rtt_samples": a.samples, "connect_samples": a.connect_samples, "concurrency_levels": a.concurrency,
                 "lockout_attempts": a.lockout_attempts}
    contract = _contract(a.contract)
    cfg = SuiteConfig(suite=a.suite, warm=("pitchey_analysis.report.summary",), options=make_options(a.suite, scale=a.timeout_scale, contract=contract, **overrides), progress=not a.no_progress,
                      cafile=a.cafile, insecure=a.insecure, extra_headers=dict(a.header),
                      allow_disruptive=a.allow_disruptive, only=a.only, jwt_secret=a.jwt_secret,
                      contract=contract, preflight=not a.no_preflight, deadline_s=a.deadline, sequential=a.sequential)
    if a.repeat > 1 and a.dry_run:
        raise CliError("--repeat runs the suite; --dry-run only shows its plan")
    if a.parallel is not None:
        if a.sequential:
            raise CliError("--parallel and --sequential exclude each other")
        cfg.parallel = a.parallel
    lg = cfg.contract.login
    user_type = a.user_type
    if user_type is None:
        # the contract's first user type; a contract with no login has one user, named as such (no Pitchey type)
        user_type = next(iter(lg.paths)) if lg is not None and lg.paths else "user"
    elif lg is not None and lg.paths and user_type not in lg.paths:
        raise CliError(f"--user-type {user_type}: the contract {cfg.contract.name} logs in {', '.join(lg.paths)} users")
    users, cfg.admin = _credentials(a, user_type)
    if users:
        cfg.user = users[0]
        cfg.users = {}
        for c in users:  # the first credential of each type is that type's user
            cfg.users.setdefault(c.user_type, c)
    return cfg


def _plan_line(spec: Any, mark: str) -> str:
    """One probe of a plan, as ``run --dry-run`` and ``contract`` print it."""
    return printable(f"  {spec.name:38s} {spec.category:15s} {'critical' if spec.critical else '':8s} {mark}")


def _print_plan(a: argparse.Namespace, cfg: Any) -> int:
    """``run --dry-run``: the probes that would run, each with its skip reason."""
    from .exceptions import UsageError
    from .probes import ProbeContext
    from .runner import plan

    ctx = ProbeContext(ws_url=a.target or "ws://127.0.0.1:0/ws", http_url="", recorder=None, allow_disruptive=a.allow_disruptive,
                       contract=cfg.contract)
    try:
        steps = plan(a.suite, ctx, a.only)
    except UsageError as exc:
        raise CliError(str(exc)) from None
    from .capture.redact import redact_url
    from .runner.schedule import schedule, stage_s

    where = printable(redact_url(a.target)) if a.target else "the embedded reference server"
    stages = schedule(steps, sequential=cfg.sequential)
    parallel = 1 if cfg.sequential else cfg.parallel
    total = sum(stage_s(st, cfg.options, parallel) for st in stages)
    print(f"{len(steps)} probes against {where} ({a.suite} suite), in {len(stages)} stage{'s' if len(stages) != 1 else ''}; expected wall time at most about "
          f"{total:.0f} s against a local target:")
    for i, st in enumerate(stages, 1):
        how = (f"holds in the background; beside them the probes marked so one at a time, then the others side by "
               f"side, at most {parallel} at once" if st.mode == "together" else "one at a time")
        print(f"\nstage {i}: {how} (about {stage_s(st, cfg.options, parallel):.0f} s)")
        for spec, why in st.steps:
            mark = (f"skip ({why})" if why else {"hold": "hold", "alone": "run, one at a time"}.get(spec.runs, "run")
                    if st.mode == "together" and not spec.last else "run")
            print(_plan_line(spec, mark + (f"; leaves {', '.join(spec.leaves)}" if spec.leaves and not why else "")))
    return EXIT_OK


def _execute_run(a: argparse.Namespace, cfg: Any) -> Path:
    """Run the suite (the embedded server switched as the arguments say); returns the run directory."""
    from .exceptions import UsageError
    from .runner import arun_suite

    server_opts: dict[str, Any] = {}
    if a.disable or a.defect or a.no_defect:
        server_opts = {"disable": a.disable, "enable_defects": a.defect, "disable_defects": a.no_defect}
    try:
        run = arun_suite(a.target, profile=a.profile, suite=a.suite, out=a.out, config=cfg, tls=a.tls,
                         server_options=server_opts or None, http_url=a.http_url)
        return Path(asyncio.run(_as_root(run)))
    except UsageError as exc:  # only the package's own usage errors are the user's: anything else is a bug, shown as one
        raise CliError(str(exc)) from None


def _report_run(a: argparse.Namespace, run_dir: Path) -> int:
    """Print the run's summary, write the --json and --junit files, and return the exit code (:func:`exit_code`)."""
    from .analysis import verdict_for_run
    from .capture.dataset import load_run
    from .report.summary import category_table, print_summary, write_json, write_junit

    run = load_run(run_dir)
    print_summary(run, category_table(run.probes))
    if a.json:
        write_json(run, Path(a.json))
    if a.junit:
        write_junit(run, Path(a.junit))
    if run.manifest.get("status") == "degraded":
        print(f"error: the capture was degraded ({run.manifest.get('degraded_reason')}); what was written is in {run_dir}", file=sys.stderr)
        return EXIT_DEGRADED
    crit = run.probes[(run.probes["critical"] == True) & run.probes["outcome"].isin(["fail", "error"])]  # noqa: E712
    code = exit_code(a.fail_on, status=str(run.manifest.get("status")), critical_failed=len(crit) > 0,
                     verdict=verdict_for_run(run).verdict)
    if code == EXIT_INSUFFICIENT:
        print("pitchey-analysis run: exit 3: INSUFFICIENT EVIDENCE is not a pass (--fail-on not-ready lets it through)",
              file=sys.stderr)
    return code


def exit_code(fail_on: str, *, status: str, critical_failed: bool, verdict: str) -> int:
    """The exit policy of ``run`` (pure): 4 degraded capture; then by ``--fail-on``: never 0; critical (the default)
    1 when a critical probe failed, else 3 on INSUFFICIENT EVIDENCE; not-ready 1 on NOT READY only; insufficient
    1 on NOT READY, 3 on INSUFFICIENT EVIDENCE.

    INSUFFICIENT EVIDENCE is not a pass: a run that could not judge the target (it went silent, the run was cut
    short, critical probes could not run) exits 3 by default, so a pipeline never goes green on it; ``--fail-on
    not-ready`` lets it through on purpose, ``never`` lets everything through."""
    if status == "degraded":
        return EXIT_DEGRADED
    if fail_on == "never":
        return EXIT_OK
    if fail_on == "not-ready":
        return EXIT_CRITICAL if verdict == "NOT READY" else EXIT_OK
    if critical_failed and fail_on == "critical" or verdict == "NOT READY" and fail_on == "insufficient":
        return EXIT_CRITICAL
    return EXIT_INSUFFICIENT if verdict == "INSUFFICIENT EVIDENCE" else EXIT_OK


def cmd_report(a: argparse.Namespace) -> int:
    _check_runs_dir(a.runs_dir)
    if a.baseline and not a.meeting:
        raise CliError("--baseline goes with --meeting (a plain comparison: --compare RUN)")
    if a.meeting:
        from .report.meeting import build_meeting_pack

        return _export(a, "meeting pack", lambda out, skipped: build_meeting_pack(
            a.run, baseline=a.baseline, runs_dir=Path(a.runs_dir) if a.runs_dir else None, out=out, formats=tuple(a.format),
            on_skip=skipped))
    return _report(a, a.run, compare=a.compare, notebook="readiness")


def _reports_out(out: str | None) -> Path:
    """``--out``, else the reports folder of the data folder (:func:`~pitchey_analysis.config.reports_dir`)."""
    from .config import reports_dir

    return Path(out) if out else reports_dir()


def _check_runs_dir(runs_dir: str | None) -> None:
    """A --runs-dir the user gave must hold runs: never fall back silently to another folder's runs."""
    if runs_dir is None:
        return
    d = Path(runs_dir)
    if not d.is_dir() or not any((p / "manifest.json").exists() for p in d.iterdir()):
        raise CliError(f"no runs in {printable(runs_dir)}" + ("" if d.is_dir() else " (no such folder)"))


def output_folder(out: str, flag: str = "--out") -> Path:
    """The folder ``out``, made if missing; a :class:`CliError` when it is empty, a file or cannot be made."""
    if not str(out).strip():
        raise CliError(f"{flag} needs a folder name (an empty one would write into the working folder)")
    d = Path(out)
    if d.exists() and not d.is_dir():
        raise CliError(f"{flag} {printable(out)} is not a folder")
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(exc, f"{flag} {out}") from None
    return d


def output_file(name: str, flag: str) -> Path:
    """The file ``name`` a command will write (a summary, a table): a :class:`CliError` before anything runs when it
    is a folder, a pipe or a socket, or when its folder cannot be made or written (a long run would otherwise end
    without its summary). A device (``/dev/stdout``) is written as it is."""
    import stat

    if not str(name).strip():
        raise CliError(f"{flag} needs a file name")
    p = Path(name)
    try:
        st = p.stat()
    except OSError:
        st = None
    if st is not None and not (stat.S_ISREG(st.st_mode) or stat.S_ISCHR(st.st_mode)):
        raise CliError(f"{flag} {printable(name)} is not a regular file" + (" (a folder)" if stat.S_ISDIR(st.st_mode) else ""))
    _check_writable_folder(p.parent, f"{flag} {name}")
    return p


def _check_writable_folder(folder: Path, what: str) -> None:
    """Raise a :class:`CliError` unless ``folder``, or the nearest folder above it that exists, is a folder this
    process may write into (nothing is made here)."""
    d = folder if str(folder) else Path(".")
    while not d.exists() and d != d.parent:
        d = d.parent
    if not d.is_dir():
        raise CliError(f"{printable(what)}: {printable(str(d))} is not a folder")
    if not os.access(d, os.W_OK | os.X_OK):
        raise CliError(f"{printable(what)}: cannot write into {printable(str(d))} (permission denied)")


def _check_outputs(a: argparse.Namespace, *, folders: tuple[str, ...] = (), files: tuple[str, ...] = ()) -> None:
    """The output folders and files a command was given, checked before it starts (:func:`output_file`)."""
    for name in folders:
        value = getattr(a, name, None)
        if value is not None:
            flag = f"--{name.replace('_', '-')}"
            if not str(value).strip():
                raise CliError(f"{flag} needs a folder name (an empty one would write into the working folder)")
            if Path(value).exists() and not Path(value).is_dir():
                raise CliError(f"{flag} {printable(value)} is not a folder")
            _check_writable_folder(Path(value), f"{flag} {value}")
    for name in files:
        value = getattr(a, name, None)
        if value is not None:
            output_file(value, f"--{name}")


def write_error(exc: OSError, what: str) -> CliError:
    """A file that could not be written, as one line: exit 4 on a full disk (as ``run`` does), else 2."""
    from .atomic import is_disk_full

    why = exc.strerror or str(exc)
    if is_disk_full(exc):
        return CliError(f"{printable(what)}: the disk is full ({why}); nothing partial was left", code=EXIT_DEGRADED)
    return CliError(f"{printable(what)}: cannot write ({why})")


def _report(a: argparse.Namespace, run: str, *, compare: str | None, notebook: str) -> int:
    """``report`` and ``compare``: export the report of ``run`` into --out."""
    from .report.export import build_report

    return _export(a, "report", lambda out, skipped: build_report(
        run, compare=compare, runs_dir=Path(a.runs_dir) if a.runs_dir else None, out=out, formats=a.format,
        notebook=notebook, on_skip=skipped))


def _export(a: argparse.Namespace, what: str, build: Callable[[Path, Callable[[Path, Exception], None]], list[Path]]) -> int:
    """Write an export into --out (made if missing) and print its paths; every failure is one line."""
    from .exceptions import ReportError

    out = output_folder(a.out if a.out is not None else str(_reports_out(None)))

    def skipped(path: Path, exc: Exception) -> None:
        print(f"pitchey-analysis {a.command}: warning: skipped an unreadable run: {exc}", file=sys.stderr)

    try:
        paths = build(out, skipped)
    except UsageError as exc:
        raise CliError(str(exc)) from None
    except ReportError as exc:
        raise CliError(printable(exc), code=EXIT_CRITICAL) from None
    except OSError as exc:
        raise write_error(exc, f"{what} in {out}") from None
    for p in paths:
        print(p)
    return EXIT_OK


def cmd_compare(a: argparse.Namespace) -> int:
    _check_runs_dir(a.runs_dir)
    return _report(a, a.run_b, compare=a.run_a, notebook="compare")


def cmd_debug(a: argparse.Namespace) -> int:
    from .debug import run_debug

    _check_outputs(a, files=("save",))

    return run_debug(a.url, profile=a.profile, email=a.email, password=a.password, sweep=a.sweep, contract=a.contract,
                     duration=a.duration, save=a.save, cafile=a.cafile, insecure=a.insecure)


def cmd_load(a: argparse.Namespace) -> int:
    from .load import use_system_allocator

    _check_outputs(a, folders=("out",))
    use_system_allocator()  # before pyarrow loads (when the load has ended): its default allocator keeps freed batch buffers
    from .load.cli import run_load_cli

    return run_load_cli(target=a.target, connections=a.connections, levels=a.levels, duration=a.duration, rate=a.rate,
                        hold=a.hold, workers=a.workers, scheduler=a.scheduler, out=a.out, cafile=a.cafile, insecure=a.insecure,
                        scenario=a.scenario, window=a.window, settle=a.settle, verbose=a.verbose, contract=a.contract,
                        source_addresses=tuple(a.source_addresses or ()), token=a.token or None)


def cmd_history(a: argparse.Namespace) -> int:
    from .report.history import cmd_history as run_history

    try:
        return run_history(a)
    except UsageError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise write_error(exc, f"--figure {a.figure}" if a.figure else "history") from None


COMMANDS = {"serve": cmd_serve, "run": cmd_run, "contract": cmd_contract, "report": cmd_report, "compare": cmd_compare,
            "debug": cmd_debug, "load": cmd_load, "history": cmd_history}


#: the task of the command's asyncio.run (see :func:`_as_root`): where a SIGTERM stops a run whose SIGINT is ignored
_ROOT: list[asyncio.Task[Any]] = []


async def _as_root(coro: Any) -> Any:
    """Run ``coro`` as the command's root task, known to the SIGTERM handler (asyncio.run installs no SIGINT
    handler of its own when SIGINT is ignored)."""
    task = asyncio.current_task()
    if task is not None:
        _ROOT.append(task)
    try:
        return await coro
    finally:
        if task is not None and task in _ROOT:
            _ROOT.remove(task)


class _Terminated:
    """SIGTERM handled as SIGINT: what ``timeout``, CI runners, systemd and Kubernetes send to stop a command.

    The handler notes the signal and calls SIGINT's handler, so that the one path Ctrl-C takes runs
    (asyncio cancels the run's task, the recorder writes the Parquet tables and the manifest ``interrupted``,
    a report removes its temporary files), and the command exits 143 rather than 130."""

    def __init__(self) -> None:
        self.received = False
        self._previous: Any = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.received:  # a second SIGTERM while stopping changes nothing: the interruption is under way
            return
        self.received = True
        on_int = signal.getsignal(signal.SIGINT)
        if callable(on_int):  # Python's default (raises KeyboardInterrupt) or asyncio.run's (cancels the main task)
            on_int(signal.SIGINT, frame)
        elif _ROOT:  # SIGINT ignored and a run under way: cancel its task, as asyncio.run's SIGINT handler would
            root = _ROOT[-1]
            root.get_loop().call_soon_threadsafe(root.cancel)
        else:  # SIGINT ignored (a background job of a shell) or C's default: stop as Ctrl-C would where it is not
            raise KeyboardInterrupt

    def __enter__(self) -> _Terminated:
        self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGTERM, self._previous)


def _exit_now(code: int) -> None:
    """End the program with ``code`` once its files are written and its streams flushed.

    A SIGTERM is turned into SIGINT's KeyboardInterrupt. When it lands while C code runs Python code of its own
    (an extension module's import), CPython marks the KeyboardInterrupt unhandled although the command caught it.
    It then ends the process by SIGINT once ``main`` has returned 143 (about one SIGTERM in ten in the first
    half-second). Only the program itself (``argv is None``) exits this way; a caller of :func:`main` gets the code.
    """
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pitchey-analysis`` console script."""
    from .contract import skip_unused_format_plugins

    skip_unused_format_plugins()
    parser = build_parser()
    a = parser.parse_args(argv)
    if not a.command:
        parser.print_help()
        return EXIT_USAGE
    _setup_logging(a.verbose)
    handle_term = a.command != "serve" and threading.current_thread() is threading.main_thread()
    term = _Terminated()
    try:
        with term if handle_term else contextlib.nullcontext():
            return COMMANDS[a.command](a)
    except CliError as exc:  # its text may quote a target or a dataset: printed with control characters escaped
        print(f"pitchey-analysis {a.command}: error: {printable(exc)}", file=sys.stderr)
        return exc.code
    except (KeyboardInterrupt, asyncio.CancelledError):  # CancelledError: a SIGTERM cancelled the run's root task
        print(f"pitchey-analysis {a.command}: {'terminated (SIGTERM)' if term.received else 'interrupted'}", file=sys.stderr)
        code = EXIT_SIGTERM if term.received else EXIT_SIGINT
        if argv is None and term.received:
            _exit_now(code)
        return code
    except ModuleNotFoundError as exc:  # an optional extra not installed: say which one
        from .extras import missing_message

        print(f"pitchey-analysis {a.command}: error: {printable(missing_message(exc.name))}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # the reader of the output left (| head): nothing more to say to it
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")
        return EXIT_OK
    except OSError as exc:
        from .atomic import is_disk_full

        if is_disk_full(exc):
            print(f"pitchey-analysis {a.command}: error: the disk is full ({exc.strerror}): "
                  f"{printable(exc.filename or 'a file')} could not be written", file=sys.stderr)
            return EXIT_DEGRADED
        if exc.filename is None:
            return _internal_error(a, exc)
        # a file or folder the command was pointed at (or derived from what it was given) cannot be used
        print(f"pitchey-analysis {a.command}: error: {printable(exc.filename)}: {printable(exc.strerror or exc)}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # the last resort: never a traceback on the user's terminal
        return _internal_error(a, exc)


def _internal_error(a: argparse.Namespace, exc: BaseException) -> int:
    """A failure no rule of the command foresaw: one line (redacted, escaped), exit 1; the traceback with ``-v``."""
    from .capture.redact import redact_text

    logging.getLogger("pitchey_analysis").debug("the command failed", exc_info=exc)
    what = str(exc).splitlines()[0] if str(exc).strip() else "no detail"
    secrets = tuple(v for v in (*(getattr(a, k, None) for k in ("password", "admin_password", "jwt_secret", "token")),
                                *(v for k, v in os.environ.items() if k.startswith("PITCHEY_") and
                                  any(w in k for w in ("PASSWORD", "SECRET", "TOKEN")))) if isinstance(v, str) and v)
    print(f"pitchey-analysis {a.command}: error: {type(exc).__name__}: {printable(redact_text(what, secrets), 300)} "
          f"(an internal error{'' if a.verbose else '; -v shows where'})", file=sys.stderr)
    return EXIT_CRITICAL


if __name__ == "__main__":
    sys.exit(main())
