"""The ``load`` command's glue: arguments in, a run dataset (written as the run goes) and a summary out."""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..contract import DEFAULT, Contract, default_contract, load_contract
from ..textsafe import printable
from .capture import capture_load
from .options import LoadPlan
from .orchestrate import SchedulerUnreachable, check_scheduler


def _summary(path: Path, model: str, window_s: float) -> list[str]:
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


def _tokens(http_url: str, kinds: set[str], embedded: bool, contract: Contract | None = None, *,
            cafile: str | None = None, insecure: bool = False) -> dict[str, str | None]:
    """A token per user type: the demo users on the embedded target, PITCHEY_EMAIL/PITCHEY_PASSWORD elsewhere;
    logged in as the contract says (UsageError saying what to fix when a login does not give one)."""
    from ..exceptions import UsageError
    from ..probes.base import Credentials
    from ..suite import DEMO_USERS

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


def run_load_cli(*, target: str | None = None, connections: int = 100, levels: list[int] | tuple[int, ...] | None = None,
                 duration: float = 10.0, rate: float = 1.0, hold: bool = False, workers: int = 2, scheduler: str | None = None,
                 out: str | None = None, cafile: str | None = None, insecure: bool = False, scenario: str | None = None,
                 window: float = 0.0, settle: float = 2.0, verbose: bool = False, contract: str | None = None,
                 source_addresses: tuple[str, ...] = (), token: str | None = None) -> int:
    """The ``load`` command: one level, a ramp over ``levels`` or a scenario's stages; one run dataset, written as the run goes.

    The keyword arguments are the command's options (``pitchey-analysis load --help``); returns the exit code.
    """
    from ..config import writable_runs_dir
    from ..exceptions import UsageError
    from ..net import http_base  # not the suite's module: it loads every probe (aiohttp, SciPy)
    from .scenario import TOKEN_LOGIN, load_scenario

    if not verbose and (workers > 0 or scheduler):  # the local cluster's INFO lines would flood the terminal
        import distributed  # noqa: F401 - its import sets its loggers' levels from its own config: quieten them after

        logging.getLogger("distributed").setLevel(logging.ERROR)
    try:
        contract_ = load_contract(contract or DEFAULT)
        if contract_.name != DEFAULT and not target:
            raise UsageError(f"the embedded reference server serves the {DEFAULT} contract only, not {contract_.name}: give --target")
        if contract_.name != DEFAULT and not scenario and not hold:
            scenario = "default"  # another contract is loaded with all its request/answer operations, not its round trip alone
        scen = load_scenario(scenario, contract=contract_, duration_s=duration, connections=connections,
                             token=token is not None) if scenario else None
        # the plan, checked (the embedded server listens on 127.0.0.1: its address until it runs, for the source addresses')
        plan = LoadPlan(target or "ws://127.0.0.1/", levels=tuple(levels) if levels else (connections,), duration_s=duration,
                        model="open" if scen is not None else ("hold" if hold else ("closed" if rate == 0 else "open")),
                        rate_per_conn=rate or 1.0, workers=workers, scheduler=scheduler, source_addresses=source_addresses,
                        settle_s=float(settle), cafile=cafile, insecure=insecure,
                        stages=scen.stages if scen is not None else None,
                        stage_rates=scen.stage_rates if scen is not None else None, ramp=scen is not None and scen.ramp)
        if scheduler:
            check_scheduler(scheduler)
    except (UsageError, SchedulerUnreachable) as exc:  # a ContractError is a UsageError
        print(f"pitchey-analysis load: error: {printable(exc)}", file=sys.stderr)
        return 2
    window_s = float(window or 0) or max(1.0, min(60.0, duration / 10))

    def go(url: str, admin_token: str | None, server: dict[str, Any] | None = None) -> Path:
        users: tuple[Any, ...] = ()
        extra: dict[str, Any] = {"contract": contract_.summary(), "token_supplied": token is not None}
        if scen is not None:
            tokens = _tokens(http_base(url), {k for k in scen.logins if k and k != TOKEN_LOGIN}, not target, contract_,
                             cafile=cafile, insecure=insecure)
            if TOKEN_LOGIN in scen.logins:
                if token is None:
                    raise UsageError("the scenario logs in as 'token' (the credential you supply): give --token or set "
                                     "PITCHEY_TOKEN")
                tokens[TOKEN_LOGIN] = token
            users = scen.with_tokens(tokens)
            extra["scenario"] = scen.describe()
        elif token is not None:  # no scenario: every connection carries the supplied credential
            from .spec import UserSpec

            users = (UserSpec(name="token-user", token=token),)
        return capture_load(replace(plan, url=url), out=Path(out) if out else writable_runs_dir(), users=users,
                            admin_token=admin_token, contract=contract_,
                            manifest={"target": {"embedded": not target}, "server": server, "config": extra},
                            on_level=lambda level, d: print(f"level {level}: {plan.model} model; run dataset {d}", file=sys.stderr))

    try:
        if target:
            path = go(target, os.environ.get("PITCHEY_ADMIN_TOKEN") or None)
        else:  # imported here: a load on a given target (--workers 0: no Dask either) does not carry the server
            from ..server import ReferenceServer
            from ..suite import DEMO_ADMIN

            with ReferenceServer(disable=["rate_limit"]) as srv:  # the embedded target: no rate limit for load
                path = go(srv.ws_url, _login(srv.http_url, DEMO_ADMIN, admin=True), {"profile": srv.profile.describe()})
    except (UsageError, SchedulerUnreachable) as exc:
        print(f"pitchey-analysis load: error: {printable(exc)}", file=sys.stderr)
        return 2
    lines = _summary(path, plan.model, window_s)
    for line in lines:  # close reasons and error examples are the target's text
        print(printable(line))
    print(f"run dataset: {path}")
    if all(" opened 0/" in line for line in lines if line.startswith("level ")):
        print("pitchey-analysis load: no connection opened: the load did not happen", file=sys.stderr)
        return 1
    return 0


def _login(http_url: str, creds: Any, contract: Contract | None = None, *, admin: bool = False,
           cafile: str | None = None, insecure: bool = False) -> str:
    """A token for ``creds``, logged in as the contract says (Pitchey's by default) along the one login path the run's
    preflight takes (:func:`pitchey_analysis.preflight.login_token`: the contract's body template, a cookie session and
    its token exchange, never a redirect followed); PreflightError (a UsageError) saying what to fix when refused."""
    import asyncio

    from ..net import client_ssl_context
    from ..preflight import Target, login_token

    tls = client_ssl_context(cafile, insecure) if http_url.startswith("https") else None
    target = Target(ws_url="", http_url=http_url, ssl_context=tls, headers={}, users=[], admin=None,
                    contract=contract or default_contract())
    return asyncio.run(login_token(target, creds, admin=admin))
