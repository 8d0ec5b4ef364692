"""A load run from typed options (the ``load`` command's work): the options checked, the logins, the embedded target
when none is given, the run dataset (written as the run goes) and its summary lines. Every problem of the options is
a :class:`~pitchey_analysis.exceptions.UsageError`; the command line (:mod:`pitchey_analysis.cli.load`) prints."""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..contract import DEFAULT, Contract, default_contract, load_contract
from .capture import capture_load
from .orchestrate import check_scheduler, source_address_problem


def summary_lines(path: Path, model: str, window_s: float) -> list[str]:
    """Lines from the stored run: per level opened, held, latency per operation, errors and closes; then the soak figures."""
    import pandas as pd

    from ..analysis import percentiles
    from ..analysis.soak import analyze_soak
    from ..capture.dataset import load_events, load_run, load_samples

    # only the columns the summary reads, as codes and numpy arrays (load_samples): a soak of millions of samples
    # loaded whole into pandas took gigabytes in the load process at the very end of the run
    all_samples = load_samples(path, ["probe_id", "metric", "value_ms", "t_offset_s", "ok"])
    probes = pd.read_parquet(path / "probes.parquet") if (path / "probes.parquet").exists() else load_run(path).probes
    lines = []
    samples = all_samples[all_samples["ok"]]
    for _, probe in probes.sort_values("started_at").iterrows():
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
    soak = analyze_soak(all_samples, load_events(path, "generator"), load_events(path, "target_stats"), window_s=window_s)
    lines.append(soak.saturation.note())
    for _, d in soak.drift.iterrows():
        lines.append(f"drift of {d['metric']} p50 per {window_s:g} s window: {d['status']} ({d['note']})")
    for _, f in soak.sessions.iterrows():
        lines.append(f"target sessions: {f['finding']} {f['status']}: {f['evidence']}")
    for _, t in soak.slo.iterrows():
        lines.append(f"{t['target']}: {t['status']} ({t['note']})")
    return lines


#: file descriptors a worker keeps for itself beside its connections (Python, Dask, the run's files)
FILES_SPARE = 200


def open_files_limit() -> int:
    """The file descriptors a process (so each local worker, which inherits it) may open: the soft ``RLIMIT_NOFILE``."""
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 30


def _tokens(http_url: str, kinds: set[str], embedded: bool, contract: Contract | None = None, *,
            cafile: str | None = None, insecure: bool = False) -> dict[str, str | None]:
    """A token per user type: the demo users on the embedded target, PITCHEY_EMAIL/PITCHEY_PASSWORD elsewhere;
    logged in as the contract says (UsageError saying what to fix when a login does not give one)."""
    from ..exceptions import UsageError
    from ..probes.base import Credentials
    from ..runner import DEMO_USERS

    out: dict[str, str | None] = {}
    for kind in sorted(kinds):
        if embedded and kind in DEMO_USERS:
            creds = DEMO_USERS[kind]
        elif os.environ.get("PITCHEY_EMAIL") and os.environ.get("PITCHEY_PASSWORD"):
            creds = Credentials(os.environ["PITCHEY_EMAIL"], os.environ["PITCHEY_PASSWORD"], kind)
        else:
            raise UsageError(f"the scenario logs in as {kind!r}: set PITCHEY_EMAIL and PITCHEY_PASSWORD")
        try:
            out[kind] = _login(http_url, creds, contract, cafile=cafile, insecure=insecure)
        except UsageError as exc:  # preflight's words name the run command's options: say where load's come from
            raise UsageError(f"{exc} (the load command logs in with PITCHEY_EMAIL and PITCHEY_PASSWORD)") from None
    return out


@dataclass(frozen=True)
class LoadOptions:
    """What a load run is asked to do (``pitchey-analysis load --help`` says each)."""

    target: str | None = None
    connections: int = 100
    levels: tuple[int, ...] | None = None
    duration: float = 10.0
    rate: float = 1.0
    hold: bool = False
    workers: int = 2
    scheduler: str | None = None
    out: str | None = None
    cafile: str | None = None
    insecure: bool = False
    scenario: str | None = None
    window: float = 0.0
    settle: float = 2.0
    verbose: bool = False
    contract: str | None = None
    source_addresses: tuple[str, ...] = ()
    token: str | None = None

    def problems(self) -> list[str]:
        """What cannot work in these options, each naming its option (pure but for the open-files limit)."""
        levels = list(self.levels) if self.levels else [self.connections]
        bad = [f"{name} must be {rule}" for name, ok, rule in (
            ("--connections", self.connections >= 1, "at least 1"), ("--levels", all(n >= 1 for n in levels), "at least 1 each"),
            ("--duration", self.duration > 0, "positive"), ("--rate", self.rate >= 0, "0 (closed model) or positive"),
            ("--workers", self.workers >= 0, "0 (in this process) or more"), ("--settle", float(self.settle) >= 0, "0 or more"))
            if not ok]
        if not self.scheduler:  # local workers: each holds its share of the connections, one file descriptor each
            most = max(levels)
            per_worker = -(-most // max(1, self.workers))
            limit = open_files_limit()
            if per_worker > limit - FILES_SPARE:
                bad.append(f"--connections {most:,} over {max(1, self.workers)} worker(s) is {per_worker:,} connections a worker, "
                           f"and a worker may open {limit:,} files ({limit - FILES_SPARE:,} connections; `ulimit -n`): "
                           "raise the limit or --workers")
        problem = source_address_problem(self.target or "ws://127.0.0.1/", self.source_addresses)  # the embedded server: 127.0.0.1
        if problem:
            bad.append(f"--source-address: {problem}")
        return bad


@dataclass(frozen=True)
class LoadSummary:
    """A finished load run: its run dataset and the summary lines (:func:`summary_lines`)."""

    path: Path
    lines: list[str]

    @property
    def opened_none(self) -> bool:
        """No connection opened at any level: the load did not happen."""
        return all(" opened 0/" in line for line in self.lines if line.startswith("level "))


def run_load_command(o: LoadOptions) -> LoadSummary:
    """One level, a ramp over ``levels`` or a scenario's stages against ``o.target`` (None: the embedded reference
    server); one run dataset, written as the run goes, and its summary. A :class:`UsageError` (exit 2 in the CLI)
    before anything starts when the options cannot work, or when a login is refused."""
    from ..config import writable_runs_dir
    from ..exceptions import UsageError
    from ..net import check_target, http_base  # not the suite's module: it loads every probe (aiohttp, SciPy)
    from .scenario import TOKEN_LOGIN, load_scenario

    if not o.verbose and (o.workers > 0 or o.scheduler):  # the local cluster's INFO lines would flood the terminal
        import distributed  # noqa: F401 - its import sets its loggers' levels from its own config: quieten them after

        logging.getLogger("distributed").setLevel(logging.ERROR)
    model = "hold" if o.hold else ("closed" if o.rate == 0 else "open")
    levels = list(o.levels) if o.levels else [o.connections]
    settle_s = float(o.settle)
    bad = o.problems()
    if bad:
        raise UsageError("; ".join(bad))
    contract_ = load_contract(o.contract or DEFAULT)
    if contract_.name != DEFAULT and not o.target:
        raise UsageError(f"the embedded reference server serves the {DEFAULT} contract only, not {contract_.name}: give --target")
    scenario = o.scenario
    if contract_.name != DEFAULT and not scenario and not o.hold:
        scenario = "default"  # another contract is loaded with all its request/answer operations, not its round trip alone
    scen = load_scenario(scenario, contract=contract_, duration_s=o.duration, connections=o.connections,
                         token=o.token is not None) if scenario else None
    if scen is not None:
        model = "open"
    if o.target:
        check_target(o.target)
    if o.scheduler:
        check_scheduler(o.scheduler)
    window_s = float(o.window or 0) or max(1.0, min(60.0, o.duration / 10))

    def go(url: str, admin_token: str | None, server: dict[str, Any] | None = None) -> Path:
        users: tuple[Any, ...] = ()
        extra: dict[str, Any] = {"cafile": o.cafile, "insecure": o.insecure, "contract": contract_.summary(),
                                 "token_supplied": o.token is not None}
        if scen is not None:
            tokens = _tokens(http_base(url), {k for k in scen.logins if k and k != TOKEN_LOGIN}, not o.target, contract_,
                             cafile=o.cafile, insecure=o.insecure)
            if TOKEN_LOGIN in scen.logins:
                if o.token is None:
                    raise UsageError("the scenario logs in as 'token' (the credential you supply): give --token or set "
                                     "PITCHEY_TOKEN")
                tokens[TOKEN_LOGIN] = o.token
            users = scen.with_tokens(tokens)
            extra["scenario"] = scen.describe()
        elif o.token is not None:  # no scenario: every connection carries the supplied credential
            from .spec import UserSpec

            users = (UserSpec(name="token-user", token=o.token),)
        return capture_load(url, out=Path(o.out) if o.out else writable_runs_dir(), levels=levels, duration_s=o.duration,
                            model=model, rate_per_conn=o.rate or 1.0, workers=o.workers, scheduler=o.scheduler,
                            admin_token=admin_token, settle_s=settle_s, cafile=o.cafile, insecure=o.insecure, users=users,
                            stages=list(scen.stages) if scen is not None else None,
                            stage_rates=list(scen.stage_rates) if scen is not None else None, contract=contract_,
                            ramp=scen is not None and scen.ramp, source_addresses=o.source_addresses,
                            manifest={"target": {"embedded": not o.target}, "server": server, "config": extra},
                            on_level=lambda level, d: print(f"level {level}: {model} model; run dataset {d}", file=sys.stderr))

    if o.target:
        path = go(o.target, os.environ.get("PITCHEY_ADMIN_TOKEN") or None)
    else:  # imported here: a load on a given target (--workers 0: no Dask either) does not carry the server
        from ..runner import DEMO_ADMIN
        from ..server import ReferenceServer

        with ReferenceServer(disable=["rate_limit"]) as srv:  # the embedded target: no rate limit for load
            path = go(srv.ws_url, _login(srv.http_url, DEMO_ADMIN, admin=True), {"profile": srv.profile.describe()})
    return LoadSummary(path, summary_lines(path, model, window_s))


def _login(http_url: str, creds: Any, contract: Contract | None = None, *, admin: bool = False,
           cafile: str | None = None, insecure: bool = False) -> str:
    """A token for ``creds``, logged in as the contract says (Pitchey's by default) along the one login path the run's
    preflight takes (:func:`pitchey_analysis.runner.preflight.login_token`: the contract's body template, a cookie session and
    its token exchange, never a redirect followed); PreflightError (a UsageError) saying what to fix when refused."""
    import asyncio

    from ..net import client_ssl_context
    from ..runner.preflight import Target, login_token

    tls = client_ssl_context(cafile, insecure) if http_url.startswith("https") else None
    target = Target(ws_url="", http_url=http_url, ssl_context=tls, headers={}, users=[], admin=None,
                    contract=contract or default_contract())
    return asyncio.run(login_token(target, creds, admin=admin))
