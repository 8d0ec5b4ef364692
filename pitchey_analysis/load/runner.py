"""A load run from typed options (the ``load`` command's work): the options checked, the logins, the embedded target
when none is given, the run dataset (written as the run goes) and its summary lines. Every problem of the options is
a :class:`~pitchey_analysis.exceptions.UsageError`; the command line (:mod:`pitchey_analysis.cli.load`) prints."""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..contract import DEFAULT, Contract, default_contract, load_contract
from .capture import capture_load
from .options import LoadPlan
from .orchestrate import check_scheduler


def _tokens(
    http_url: str,
    kinds: set[str],
    embedded: bool,
    contract: Contract | None = None,
    *,
    cafile: str | None = None,
    insecure: bool = False,
) -> dict[str, str | None]:
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


@dataclass(frozen=True)
class LoadDone:
    """A finished load run: its run dataset, the model it ran and the window its summary reads the soak in
    (:func:`pitchey_analysis.report.loadsummary.summary_lines` turns it into lines)."""

    path: Path
    model: str
    window_s: float


def run_load_command(o: LoadOptions) -> LoadDone:
    """One level, a ramp over ``levels`` or a scenario's stages against ``o.target`` (None: the embedded reference
    server); one run dataset, written as the run goes, and its summary. A :class:`UsageError` (exit 2 in the CLI)
    before anything starts when the options cannot work, or when a login is refused."""
    from ..config import writable_runs_dir
    from ..exceptions import UsageError
    from ..net import http_base  # not the suite's module: it loads every probe (aiohttp, SciPy)
    from .scenario import TOKEN_LOGIN, load_scenario

    if not o.verbose and (o.workers > 0 or o.scheduler):  # the local cluster's INFO lines would flood the terminal
        import distributed  # noqa: F401 - its import sets its loggers' levels from its own config: quieten them after

        logging.getLogger("distributed").setLevel(logging.ERROR)
    contract_ = load_contract(o.contract or DEFAULT)
    if contract_.name != DEFAULT and not o.target:
        raise UsageError(
            f"the embedded reference server serves the {DEFAULT} contract only, not {contract_.name}: give --target"
        )
    scenario = o.scenario
    if contract_.name != DEFAULT and not scenario and not o.hold:
        scenario = (
            "default"  # another contract is loaded with all its request/answer operations, not its round trip alone
        )
    scen = (
        load_scenario(
            scenario, contract=contract_, duration_s=o.duration, connections=o.connections, token=o.token is not None
        )
        if scenario
        else None
    )
    # the plan, checked (the embedded server listens on 127.0.0.1: its address until it runs, for the source addresses')
    plan = LoadPlan(
        o.target or "ws://127.0.0.1/",
        levels=tuple(o.levels) if o.levels else (o.connections,),
        duration_s=o.duration,
        model="open" if scen is not None else ("hold" if o.hold else ("closed" if o.rate == 0 else "open")),
        rate_per_conn=o.rate or 1.0,
        workers=o.workers,
        scheduler=o.scheduler,
        source_addresses=o.source_addresses,
        settle_s=float(o.settle),
        cafile=o.cafile,
        insecure=o.insecure,
        stages=scen.stages if scen is not None else None,
        stage_rates=scen.stage_rates if scen is not None else None,
        ramp=scen is not None and scen.ramp,
    )
    if o.scheduler:
        check_scheduler(o.scheduler)
    window_s = float(o.window or 0) or max(1.0, min(60.0, o.duration / 10))

    def go(url: str, admin_token: str | None, server: dict[str, Any] | None = None) -> Path:
        users: tuple[Any, ...] = ()
        extra: dict[str, Any] = {"contract": contract_.summary(), "token_supplied": o.token is not None}
        if scen is not None:
            tokens = _tokens(
                http_base(url),
                {k for k in scen.logins if k and k != TOKEN_LOGIN},
                not o.target,
                contract_,
                cafile=o.cafile,
                insecure=o.insecure,
            )
            if TOKEN_LOGIN in scen.logins:
                if o.token is None:
                    raise UsageError(
                        "the scenario logs in as 'token' (the credential you supply): give --token or set PITCHEY_TOKEN"
                    )
                tokens[TOKEN_LOGIN] = o.token
            users = scen.with_tokens(tokens)
            extra["scenario"] = scen.describe()
        elif o.token is not None:  # no scenario: every connection carries the supplied credential
            from .spec import UserSpec

            users = (UserSpec(name="token-user", token=o.token),)
        return capture_load(
            replace(plan, url=url),
            out=Path(o.out) if o.out else writable_runs_dir(),
            users=users,
            admin_token=admin_token,
            contract=contract_,
            manifest={"target": {"embedded": not o.target}, "server": server, "config": extra},
            on_level=lambda level, d: print(f"level {level}: {plan.model} model; run dataset {d}", file=sys.stderr),
        )

    if o.target:
        path = go(o.target, os.environ.get("PITCHEY_ADMIN_TOKEN") or None)
    else:  # imported here: a load on a given target (--workers 0: no Dask either) does not carry the server
        from ..runner import DEMO_ADMIN
        from ..server import ReferenceServer

        with ReferenceServer(disable=["rate_limit"]) as srv:  # the embedded target: no rate limit for load
            path = go(srv.ws_url, _login(srv.http_url, DEMO_ADMIN, admin=True), {"profile": srv.profile.describe()})
    return LoadDone(path, plan.model, window_s)


def _login(
    http_url: str,
    creds: Any,
    contract: Contract | None = None,
    *,
    admin: bool = False,
    cafile: str | None = None,
    insecure: bool = False,
) -> str:
    """A token for ``creds``, logged in as the contract says (Pitchey's by default) along the one login path the run's
    preflight takes (:func:`pitchey_analysis.runner.preflight.login_token`: the contract's body template, a cookie
    session and
    its token exchange, never a redirect followed); PreflightError (a UsageError) saying what to fix when refused."""
    import asyncio

    from ..net import client_ssl_context
    from ..runner.preflight import Target, login_token

    tls = client_ssl_context(cafile, insecure) if http_url.startswith("https") else None
    target = Target(
        ws_url="",
        http_url=http_url,
        ssl_context=tls,
        headers={},
        users=[],
        admin=None,
        contract=contract or default_contract(),
    )
    return asyncio.run(login_token(target, creds, admin=admin))
