"""``pitchey-analysis run``: the probe suite against a target (or the embedded reference server), a run dataset, a
summary and the exit policy."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import argtypes
from ..exceptions import UsageError
from ..outcomes import FAILED, Readiness, RunStatus
from . import credentials, options, outputs
from .exits import WORST_FIRST, Exit

if TYPE_CHECKING:  # pragma: no cover - the suite is imported when a run is configured, not for --help
    from ..runner import SuiteConfig

#: --fail-on's policies (:func:`exit_code`)
FAIL_ON = ("critical", "not-ready", "insufficient", "never")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    r = sub.add_parser("run", help="run the probe suite and capture a run dataset")
    r.add_argument("--target", help="WebSocket URL (ws://host:port/ws); default: start the embedded reference server")
    r.add_argument("--http-url", help="HTTP base URL (default: derived from --target)")
    r.add_argument(
        "--profile",
        default="complete",
        type=argtypes.profile,
        help="embedded server profile: complete or pitchey-2025-11",
    )
    r.add_argument(
        "--disable",
        action="append",
        default=[],
        type=argtypes.feature,
        metavar="FEATURE",
        help="embedded server: switch off a feature",
    )
    r.add_argument(
        "--defect",
        action="append",
        type=options.defect,
        default=[],
        metavar="N|NAME",
        help="embedded server: switch on Part B item N (number or name)",
    )
    r.add_argument(
        "--no-defect",
        action="append",
        type=options.defect,
        default=[],
        metavar="N|NAME",
        help="embedded server: switch off Part B item N (number or name)",
    )
    r.add_argument(
        "--tls",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="embedded server: serve wss:// (default), so that the TLS probe and target are judged and a "
        "complete server can be READY; --no-tls serves ws:// (the TLS checks are then gaps)",
    )
    r.add_argument("--email", default=os.environ.get("PITCHEY_EMAIL"), help="user e-mail (default $PITCHEY_EMAIL)")
    r.add_argument("--password", help="user password (default $PITCHEY_PASSWORD); needs --email")
    r.add_argument(
        "--token",
        default=os.environ.get("PITCHEY_TOKEN"),
        type=argtypes.credential,
        help="a credential you made beforehand (an access token), used as is where the contract carries one "
        "(default $PITCHEY_TOKEN; never written to the run)",
    )
    r.add_argument(
        "--user-type",
        help="which login of the contract the user logs in at: one of the user types its "
        "x-readiness.login.users names (default: the first it names)",
    )
    r.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="TYPE:EMAIL",
        type=credentials.user,
        help="a user of another of the contract's user types (repeatable); its password comes from "
        "$PITCHEY_PASSWORD_<TYPE> (TYPE in capitals), else $PITCHEY_PASSWORD",
    )
    r.add_argument(
        "--credentials",
        metavar="FILE",
        help="a YAML/JSON file with users: [{type, email, password}] and admin: {email, password, login_path} "
        "(never copied into the run)",
    )
    r.add_argument(
        "--admin-email",
        default=os.environ.get("PITCHEY_ADMIN_EMAIL"),
        help="admin e-mail for stats/notification probes",
    )
    r.add_argument("--admin-password", default=os.environ.get("PITCHEY_ADMIN_PASSWORD"), help="admin password")
    r.add_argument(
        "--admin-login-path",
        type=argtypes.http_path,
        help="the admin's login path (default: the login path of the user's type)",
    )
    r.add_argument(
        "--no-preflight", action="store_true", help="skip the checks of URL, upgrade and logins before the suite"
    )
    r.add_argument(
        "--jwt-secret",
        default=os.environ.get("PITCHEY_JWT_SECRET"),
        help="target's signing secret, for probes that sign their own tokens",
    )
    r.add_argument("--suite", default="full", choices=("quick", "full"), help="full (default) or quick (<= 20 s)")
    r.add_argument("--concurrency", type=options.levels, help="concurrency levels, e.g. 1,10,100,1000")
    r.add_argument("--samples", type=argtypes.count, help="round-trip samples (default 400)")
    r.add_argument("--connect-samples", type=argtypes.count, help="sequential connect samples (default 100)")
    r.add_argument("--timeout-scale", type=argtypes.scale, help="multiply every timeout and wait (slow targets)")
    r.add_argument(
        "--lockout-attempts",
        type=argtypes.count,
        metavar="N",
        help="failed authentications the lockout probes send from one address before expecting it locked out "
        "(default: the contract's x-readiness.limits.lockout.failures; this option overrides it)",
    )
    r.add_argument(
        "--deadline",
        type=argtypes.positive_seconds,
        metavar="SECONDS",
        help="the run's budget: probes still running then are cancelled and recorded as not run "
        "(reason deadline); default 180 for quick, 600 for full",
    )
    r.add_argument("--out", help="runs directory (default: runs/ of the data folder, see the README)")
    r.add_argument("--cafile", help="CA certificate to verify a wss:// target")
    r.add_argument(
        "--insecure", action="store_true", help="do not verify TLS certificates (recorded; the TLS probe then fails)"
    )
    r.add_argument(
        "--header",
        action="append",
        type=argtypes.header,
        default=[],
        metavar="'NAME: VALUE'",
        help="extra upgrade header (repeatable)",
    )
    r.add_argument(
        "--allow-disruptive", action="store_true", help="run probes that disturb other users on a non-loopback target"
    )
    r.add_argument("--only", action="append", metavar="NAME", help="run only these probes or categories (repeatable)")
    r.add_argument(
        "--dry-run",
        action="store_true",
        help="list what would run and its schedule (which probes run together, "
        "which alone, the expected wall time), then exit",
    )
    r.add_argument(
        "--sequential",
        action="store_true",
        help="one probe at a time in catalogue order (default: probes that cannot disturb each other run together)",
    )
    r.add_argument(
        "--repeat",
        type=argtypes.count,
        default=1,
        metavar="N",
        help="run the suite N times against the same target and tell, probe by probe, whether the outcome "
        "was stable (an unstable probe is a finding: 'flaky: fail in 1 of 3 runs'); exit code: the worst run's",
    )
    r.add_argument(
        "--parallel",
        type=argtypes.count,
        default=None,
        metavar="N",
        help="probes running side by side in the together stage (default 6)",
    )
    r.add_argument("--junit", metavar="FILE", help="write a JUnit XML summary")
    r.add_argument("--json", metavar="FILE", help="write a JSON summary")
    r.add_argument(
        "--fail-on",
        choices=FAIL_ON,
        default="critical",
        help="critical (default): exit 1 on a failed critical probe, else 3 when evidence is missing (INSUFFICIENT "
        "EVIDENCE, or NOT READY by a missed target with critical probes not judged); not-ready: 1 on NOT READY only; "
        "insufficient: 1 on NOT READY, 3 on INSUFFICIENT EVIDENCE; never: 0",
    )
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.add_argument(
        "--contract",
        default="pitchey",
        metavar="FILE|NAME",
        help="the service contract (AsyncAPI 3.0 + x-readiness, docs/contract.md): a file or a shipped name "
        "(default pitchey); stored in the run",
    )


def cmd_run(a: argparse.Namespace) -> Exit:
    """``run``: validate and configure, then a dry run (the plan) or the run, its summaries and the exit policy."""
    from .plan import print_schedule

    cfg = run_config(a)
    if a.dry_run:
        print_schedule(a.target, a.suite, cfg, allow_disruptive=a.allow_disruptive, only=a.only)
        return Exit.OK
    outputs.check_folder(a.out, "--out")
    outputs.check_file(a.json, "--json")
    outputs.check_file(a.junit, "--junit")
    if a.repeat > 1:
        return _repeat_runs(a, cfg)
    return _report_run(a, _execute_run(a, cfg))


def _repeat_runs(a: argparse.Namespace, cfg: SuiteConfig) -> Exit:
    """``run --repeat N``: the same suite N times, each its own run (its manifest names the group), then the
    stability of every probe; the exit code is the worst run's."""
    import dataclasses
    import uuid

    from ..analysis.stability import stability
    from ..capture.dataset import load_run

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
    print(
        f"\nstability over {a.repeat} runs (repeat group {group}): {len(table) - len(unstable)} of {len(table)} probes "
        "gave the same outcome every time"
    )
    for r in unstable.itertuples():
        print(f"  {'critical ' if r.critical else ''}{r.probe}: {r.finding} ({r.outcomes})")
    print("runs: " + ", ".join(d.name for d in dirs))
    return next(c for c in WORST_FIRST if c in codes)


def run_config(a: argparse.Namespace) -> SuiteConfig:
    """The run's :class:`SuiteConfig` from the arguments; a user mistake is a :class:`UsageError` (exit 2)."""
    from ..net import check_target
    from ..runner import SuiteConfig, make_options

    if a.target:
        check_target(a.target)
    if a.password is not None and a.email is None:  # the option, not $PITCHEY_PASSWORD (which also serves --user)
        raise UsageError("--password needs --email (or PITCHEY_EMAIL): without it the password would be ignored")
    if a.password is None:
        a.password = os.environ.get("PITCHEY_PASSWORD")
    if a.email is not None and a.password is None:
        raise UsageError("give both --email and --password (or PITCHEY_EMAIL and PITCHEY_PASSWORD)")
    if a.admin_email and not a.admin_password:
        raise UsageError("--admin-email needs --admin-password (or PITCHEY_ADMIN_PASSWORD)")
    if a.timeout_scale is not None and a.timeout_scale <= 0:
        raise UsageError("--timeout-scale must be positive")
    for flag, v in (
        ("--samples", a.samples),
        ("--connect-samples", a.connect_samples),
        ("--deadline", a.deadline),
        ("--lockout-attempts", a.lockout_attempts),
    ):
        if v is not None and v <= 0:
            raise UsageError(f"{flag} must be positive")
    overrides = {
        "rtt_samples": a.samples,
        "connect_samples": a.connect_samples,
        "concurrency_levels": a.concurrency,
        "lockout_attempts": a.lockout_attempts,
    }
    contract = outputs.contract(a.contract)
    # the summary and what its percentile intervals import on their first call (analysis.stats.binom_ppf: 0.2 s)
    warm = ("pitchey_analysis.report.summary", "scipy.special._ufuncs")
    cfg = SuiteConfig(
        suite=a.suite,
        warm=warm,
        options=make_options(a.suite, scale=a.timeout_scale, contract=contract, **overrides),
        progress=not a.no_progress,
        cafile=a.cafile,
        insecure=a.insecure,
        extra_headers=dict(a.header),
        allow_disruptive=a.allow_disruptive,
        only=a.only,
        jwt_secret=a.jwt_secret,
        contract=contract,
        preflight=not a.no_preflight,
        deadline_s=a.deadline,
        sequential=a.sequential,
    )
    if a.repeat > 1 and a.dry_run:
        raise UsageError("--repeat runs the suite; --dry-run only shows its plan")
    if a.parallel is not None:
        if a.sequential:
            raise UsageError("--parallel and --sequential exclude each other")
        cfg.parallel = a.parallel
    lg = cfg.contract.login
    user_type = a.user_type
    if user_type is None:
        # the contract's first user type; a contract with no login has one user, named as such (no Pitchey type)
        user_type = next(iter(lg.paths)) if lg is not None and lg.paths else "user"
    elif lg is not None and lg.paths and user_type not in lg.paths:
        raise UsageError(
            f"--user-type {user_type}: the contract {cfg.contract.name} logs in {', '.join(lg.paths)} users"
        )
    users, cfg.admin = credentials.credentials(a, user_type)
    if users:
        cfg.user = users[0]
        cfg.users = {}
        for c in users:  # the first credential of each type is that type's user
            cfg.users.setdefault(c.user_type, c)
    return cfg


def _execute_run(a: argparse.Namespace, cfg: SuiteConfig) -> Path:
    """Run the suite (the embedded server switched as the arguments say); returns the run directory. Only the
    package's own usage errors are the user's: anything else is a bug, and the exit table says it as one."""
    from ..runner import arun_suite
    from .process import as_root

    server_opts: dict[str, Any] = {}
    if a.disable or a.defect or a.no_defect:
        server_opts = {"disable": a.disable, "enable_defects": a.defect, "disable_defects": a.no_defect}
    run = arun_suite(
        a.target,
        profile=a.profile,
        suite=a.suite,
        out=a.out,
        config=cfg,
        tls=a.tls,
        server_options=server_opts or None,
        http_url=a.http_url,
    )
    return Path(asyncio.run(as_root(run)))


def _report_run(a: argparse.Namespace, run_dir: Path) -> Exit:
    """Print the run's summary, write the --json and --junit files, and return the exit code (:func:`exit_code`);
    the run is analysed once, for all of them."""
    from ..analysis import analyze
    from ..capture.dataset import load_run
    from ..report.summary import print_summary, write_json, write_junit

    run = load_run(run_dir)
    analysis = analyze(run)
    print_summary(run, analysis)
    if a.json:
        write_json(run, analysis, Path(a.json))
    if a.junit:
        write_junit(run, Path(a.junit))
    if run.manifest.get("status") == RunStatus.DEGRADED:
        print(
            f"error: the capture was degraded ({run.manifest.get('degraded_reason')}); what was written is in "
            f"{run_dir}",
            file=sys.stderr,
        )
        return Exit.DEGRADED
    crit = run.probes[(run.probes["critical"] == True) & run.probes["outcome"].isin(FAILED)]  # noqa: E712
    code = exit_code(
        a.fail_on,
        status=str(run.manifest.get("status")),
        critical_failed=len(crit) > 0,
        verdict=analysis.verdict.verdict,
        gaps=bool(analysis.verdict.gaps),
    )
    if code == Exit.INSUFFICIENT:
        v = analysis.verdict
        what = (
            "INSUFFICIENT EVIDENCE is not a pass"
            if v.verdict == Readiness.INSUFFICIENT_EVIDENCE
            else f"the verdict is {v.verdict}, but {len(v.gaps)} critical probe(s) or target(s) could not be judged "
            f"({', '.join(v.gaps[:3])}{', ...' if len(v.gaps) > 3 else ''}): missing evidence is not a pass"
        )
        print(f"pitchey-analysis run: exit 3: {what} (--fail-on not-ready lets it through)", file=sys.stderr)
    return code


def exit_code(fail_on: str, *, status: str, critical_failed: bool, verdict: str, gaps: bool = False) -> Exit:
    """The exit policy of ``run`` (pure): 4 degraded capture; then by ``--fail-on``: never 0; critical (the default)
    1 when a critical probe failed, else 3 when evidence is missing; not-ready 1 on NOT READY only; insufficient
    1 on NOT READY, 3 on INSUFFICIENT EVIDENCE.

    Missing evidence is not a pass: a run that could not judge the target (it went silent, the run was cut
    short, critical probes could not run) exits 3 by default, so a pipeline never goes green on it -- also when
    its verdict is NOT READY by a missed target alone (``gaps``: the verdict's gaps in the evidence, whichever
    rule decided; a target that accepts connections and answers nothing misses the concurrency target while no
    critical probe could judge it). ``--fail-on not-ready`` lets it through on purpose, ``never`` lets everything
    through."""
    if status == RunStatus.DEGRADED:
        return Exit.DEGRADED
    if fail_on == "never":
        return Exit.OK
    if fail_on == "not-ready":
        return Exit.CRITICAL if verdict == Readiness.NOT_READY else Exit.OK
    if critical_failed and fail_on == "critical" or verdict == Readiness.NOT_READY and fail_on == "insufficient":
        return Exit.CRITICAL
    if verdict == Readiness.INSUFFICIENT_EVIDENCE or (gaps and fail_on == "critical"):
        return Exit.INSUFFICIENT
    return Exit.OK
