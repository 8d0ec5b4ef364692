"""Running the probe suite against a target and capturing the run.

``arun_suite`` is the coroutine; ``run_suite`` works from scripts and from
notebooks whose event loop is already running (it then uses a worker thread).
With no target the embedded reference server is started on loopback.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..capture.manifest import run_manifest, target_record
from ..capture.recorder import Recorder, utc_now_iso
from ..capture.records import probe_record
from ..capture.redact import redact_url
from ..config import writable_runs_dir
from ..contract import Contract, default_contract
from ..exceptions import UsageError
from ..net import check_target, http_base
from ..outcomes import Outcome, RunStatus
from ..probes import ProbeContext, ProbeSpec, Result, classify
from ..probes.base import lockout_failures
from ..probes.session import end_sessions
from .options import DEADLINES, DEMO_ADMIN, DEMO_USERS, EMBEDDED_KNOBS, SuiteConfig, make_options, ssl_context_for
from .planning import SUITE_VERSION, contract_file_name, judged_by, plan
from .schedule import describe, schedule
from .watch import Breaker, Watch

log = logging.getLogger("pitchey_analysis.runner")


def _record(
    spec: ProbeSpec, probe_id: str, attempt: int, started: str, duration_ms: float, r: Result, rec: Recorder
) -> dict[str, Any]:
    from ..probes.base import compact

    return probe_record(
        probe_id=probe_id,
        category=spec.category,
        probe=spec.name,
        attempt=attempt,
        started_at=started,
        duration_ms=round(duration_ms, 3),
        outcome=r.outcome,
        reason=r.reason,
        detail=r.detail,
        expected=spec.expected,
        observed=compact(rec.scrub(r.observed)) if r.observed is not None else None,
        close_code=r.close_code,
        close_reason=r.close_reason,
        critical=spec.critical if r.critical is None else r.critical,
    )


SKIP_DETAILS = {
    "disruptive_not_allowed": "disruptive probe not run against a non-loopback target (use --allow-disruptive)",
    "not_loopback": "needs a loopback target",
    "deadline": "not run: the run reached its deadline (--deadline) first",
    "target_unresponsive": "not run: the target answered nothing to the last probes nor to a liveness check "
    "(an upgrade and a ping)",
}


async def run_probe(
    spec: ProbeSpec,
    ctx: ProbeContext,
    rec: Recorder,
    *,
    attempt: int = 1,
    limit_s: float = 180.0,
    skip: str | None = None,
    deadline_limited: bool = False,
    after: Callable[[ProbeSpec, Result], Awaitable[Result]] | None = None,
) -> dict[str, Any]:
    """Run one probe; every outcome (including a crash of the probe) becomes a record.

    With ``deadline_limited``, ``limit_s`` is what is left of the run's budget: a
    probe still running then is cancelled and recorded as not run (``deadline``).
    """
    probe_id = f"{spec.name}#{attempt}-{os.urandom(2).hex()}"
    ctx = ctx.for_probe(probe_id)  # its own id and sessions: probes may run side by side
    started = utc_now_iso()
    t0 = time.perf_counter()
    if skip:
        reason, _, detail = skip.partition(":")
        r = Result.skip(reason, detail or SKIP_DETAILS.get(skip, skip))
    else:
        rec.probe_started(probe_id, spec.name, spec.category)
        scope = asyncio.timeout(limit_s)
        try:
            async with scope:
                r = await spec.fn(ctx)
        except TimeoutError as exc:
            # A timeout of the probe as a whole, or of one of its network operations.
            expired = scope.expired()
            if expired and deadline_limited:
                r = Result.skip("deadline", f"cancelled at the run's deadline after {time.perf_counter() - t0:.1f} s")
            elif expired:
                r = Result(Outcome.ERROR, "probe_timeout", f"the probe did not finish within {limit_s:.0f} s")
            else:
                r = classify(exc)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the target's failures are data, whatever they raise
            r = classify(exc)
        finally:
            await end_sessions(ctx)  # no session's reader outlives its probe
        if after is not None and r.reason != "deadline":
            r = await after(spec, r)  # what the target's state after the probe says about it
    record = _record(spec, probe_id, attempt, started, (time.perf_counter() - t0) * 1000, r, rec)
    rec.probe(record)
    return record


#: reasons a probe run beside the pool is asked again alone before they are believed: its connection could not be
#: made -- not opened in time, its handshake dropped, reset (our own load on the target or on the machine delays every
#: connect past a strict target's deadlines; a target's silence or wrong answers do not reach these reasons). Once a
#: probe asked alone ends the same way, the target's own behaviour is taken for it and no other is asked again.
ALONE_AGAIN = frozenset({"connect_timeout", "bad_handshake", "network_error"})


def _warm_imports(modules: tuple[str, ...]) -> None:
    """Import what writing the run's Parquet needs (pandas, pyarrow: about 0.6 s) and the modules the caller will
    use once the run ends (the CLI: its verdict summary), while only the holds wait."""
    import importlib

    for name in ("pitchey_analysis.capture.dataset", *modules):
        try:
            importlib.import_module(name)
        except ImportError:  # its user imports it when it needs it (and says why it cannot)
            pass


class Runner:
    """Runs the probes of a plan, alone or side by side, each under the run's deadline, the target's watch
    (:class:`Watch`) and the breaker (:class:`Breaker`)."""

    def __init__(self, ctx: ProbeContext, rec: Recorder, end: float, budget: float, warm: tuple[str, ...] = ()) -> None:
        self.ctx, self.rec, self.end, self.budget, self.warm = ctx, rec, end, budget, warm
        self.watch, self.breaker = Watch(ctx, rec), Breaker(ctx)
        self.bar: Any = None
        self.running = ctx.state.running  # shared with the probes' contexts: their samples record it
        self.main = asyncio.current_task()

    async def run(self, spec: ProbeSpec, skip: str | None, *, attempt: int = 1) -> dict[str, Any]:
        if self.main is not None and self.main.cancelling():
            # the run was interrupted (Ctrl-C cancels the main task) while a probe was in an await that lost the
            # cancellation (Python 3.11's asyncio.wait_for can return a result it already had instead): stop here
            raise asyncio.CancelledError
        left = self.end - time.monotonic()
        if left <= 0 and not skip:
            self._deadline()
            skip = "deadline"
        if not skip:
            skip = await self.watch.before(spec)
        if not skip and not spec.final and await self.breaker.blocked():
            skip = "target_unresponsive"
        if not skip:
            self.running.add(spec.name)
            if spec.runs == "hold":
                self.ctx.state.holds.add(spec.name)  # idle sessions: not a load the quiet windows must allow for
            if "load" in spec.leaves:
                self.ctx.state.loads.add(spec.name)  # its round trips are measured under its own load
            self.watch.started[spec.name] = self.rec.t_offset()
        self._show()
        try:
            r = await run_probe(
                spec,
                self.ctx,
                self.rec,
                attempt=attempt,
                skip=skip,
                limit_s=max(0.01, min(180.0, left)),
                deadline_limited=left < 180.0,
                after=self.watch.after,
            )
        finally:
            self.running.discard(spec.name)
            self.ctx.state.holds.discard(spec.name)
            self.ctx.state.loads.discard(spec.name)
        self.breaker.note(r)
        if r["reason"] == "deadline":
            self._deadline()
        if self.bar is not None:
            self.bar.update(1)
        self._show()
        return r

    async def together(self, steps: tuple[tuple[ProbeSpec, str | None], ...], parallel: int) -> None:
        """Run side by side (schedule.py): the holds in the background; beside them only, the ``alone`` probes one
        at a time; then the ``together`` ones at most ``parallel`` at once; then the ``last`` ones one at a time."""
        slots = asyncio.Semaphore(max(1, parallel))

        pooled_specs: dict[str, ProbeSpec] = {}
        results: dict[str, dict[str, Any]] = {}

        async def pooled(spec: ProbeSpec, skip: str | None) -> None:
            async with slots:
                results[spec.name] = await self.run(spec, skip)

        drained = False

        async def drain() -> None:
            """Wait for the pool; then a probe that could not even open its connection beside the others is asked
            again alone (attempt 2, the one the analysis reads): our own load must not make a finding."""
            nonlocal drained
            await asyncio.gather(*pool)
            if drained:
                return
            drained = True
            for name, r in results.items():
                if r["reason"] in ALONE_AGAIN and not self.watch.down:
                    self.rec.event("asked_again_alone", probe=name, reason=r["reason"], probe_id=r["probe_id"])
                    again = await self.run(pooled_specs[name], None, attempt=2)
                    if again["reason"] == r["reason"]:
                        break  # alone too: the target's own pace, not ours; the others' findings stand as recorded

        background: list[asyncio.Task[Any]] = []
        pool: list[asyncio.Task[Any]] = []
        try:
            for spec, skip in steps:
                if spec.runs == "hold" or skip:
                    background.append(asyncio.create_task(self.run(spec, skip), name=spec.name))
                elif spec.last:
                    await drain()  # what it leaves behind must not reach a probe still running
                    await self.run(spec, skip)
                elif spec.runs != "together":
                    await self.run(spec, skip)  # one at a time, the idle holds beside it only
                else:
                    pooled_specs[spec.name] = spec
                    pool.append(asyncio.create_task(pooled(spec, skip), name=spec.name))
                await asyncio.sleep(0)  # started in plan order
            await drain()
            if any(not t.done() for t in background):
                # only the holds wait now (for pushes due seconds apart): load what the run needs once it ends
                # (Parquet, the verdict) meanwhile, instead of after it
                await asyncio.gather(asyncio.to_thread(_warm_imports, self.warm), *background)
            await asyncio.gather(*background)
        finally:
            for t in (*pool, *background):
                t.cancel()
            await asyncio.gather(*pool, *background, return_exceptions=True)

    def _deadline(self) -> None:
        if not self.rec.manifest.get("deadline_reached"):
            self.rec.update_manifest(deadline_reached=True)
            self.rec.event("deadline", after_s=round(self.budget, 1))

    def _show(self) -> None:
        if self.bar is not None:
            left = max(0.0, self.end - time.monotonic())
            names = sorted(self.running)
            now = names[0] + (f" +{len(names) - 1}" if len(names) > 1 else "") if names else ""
            self.bar.set_postfix_str(f"{now} ({left:.0f} s left)")


async def execute(ws_url: str, http_url: str, cfg: SuiteConfig, out: Path, manifest: dict[str, Any]) -> Path:
    """Run the planned probes against a target into a new run directory."""
    secrets_ = tuple(
        x
        for x in [cfg.jwt_secret]
        + [v for c in [cfg.user, cfg.admin, *cfg.users.values()] if c for v in (c.password, c.token)]
        if x
    )
    rec = Recorder(out, manifest, secrets_to_mask=secrets_)
    status = RunStatus.INTERRUPTED
    ctx: ProbeContext | None = None
    bar = None
    # from the run directory's first file on: an interruption (Ctrl-C, SIGTERM) leaves it interrupted, with Parquet
    try:
        ctx = ProbeContext(
            ws_url=ws_url,
            http_url=http_url,
            recorder=rec,
            options=cfg.options,
            user=cfg.user,
            users=cfg.users,
            admin=cfg.admin,
            jwt_secret=cfg.jwt_secret,
            ssl_context=ssl_context_for(cfg) if ws_url.startswith("wss") else None,
            extra_headers=cfg.extra_headers,
            allow_disruptive=cfg.allow_disruptive,
            contract=cfg.contract,
        )
        steps = plan(cfg.suite, ctx, cfg.only)
        up = cfg.contract.upgrade
        if up is not None and not up.anonymous and cfg.user is not None:
            from ..probes.common import login

            try:  # sessions of a service that serves no anonymous one carry the run's credential
                ctx.auto_token, _ = await login(ctx, cfg.user)
            except Exception as exc:  # the login probes judge the login; here it is only a convenience
                rec.event("auto_login_failed", detail=str(exc)[:200])
        budget = cfg.deadline_s if cfg.deadline_s is not None else DEADLINES[cfg.suite]
        store_contract(rec.dir, cfg.contract)
        stages = schedule(steps, sequential=cfg.sequential)
        parallel = 1 if cfg.sequential else cfg.parallel
        rec.update_manifest(
            **judged_by(cfg, steps),
            deadline_s=budget,
            schedule={
                "sequential": cfg.sequential,
                "parallel": parallel,
                "stages": describe(stages, cfg.options, parallel),
            },
        )
        runner = Runner(ctx, rec, time.monotonic() + budget, budget, cfg.warm)
        runner.watch.sequential = cfg.sequential
        if any(not skip for _, skip in steps):
            await runner.watch.start()
        bar = tqdm(
            total=len(steps),
            desc="probes",
            unit="probe",
            disable=None if cfg.progress else True,
            file=sys.stderr,
            leave=False,
        )
        runner.bar = bar
        for stage in stages:
            if stage.mode == "alone":
                for spec, skip in stage.steps:
                    await runner.run(spec, skip)
            else:
                await runner.together(stage.steps, parallel)
        status = RunStatus.COMPLETE
    finally:
        if bar is not None:
            bar.close()
        if status != RunStatus.COMPLETE:
            rec.event("interrupted")
        if ctx is not None:
            rec.update_manifest(conformance=ctx.conformance.summary())
        rec.close(status)
    return rec.dir


def store_contract(run_dir: Path, contract: Contract) -> Path:
    """Write the contract the run is judged against into the run directory, verbatim."""
    from ..atomic import write_text

    path = Path(run_dir) / contract_file_name(contract)
    write_text(path, contract.text)
    return path


def _manifest(
    ws_url: str, cfg: SuiteConfig, server: dict[str, Any] | None, http_url: str | None = None
) -> dict[str, Any]:
    opts = dataclasses.asdict(cfg.options)
    return run_manifest(
        target=target_record(ws_url, http_url or http_base(ws_url), embedded=server is not None),
        server=server,
        suite={"name": cfg.suite, "version": SUITE_VERSION},
        config={
            **opts,
            "credentials": {
                "user": cfg.user.email if cfg.user else None,
                "user_types": sorted(cfg.users),
                "admin": bool(cfg.admin),
                "jwt_secret_given": bool(cfg.jwt_secret),
            },
            # the embedded server's CA is a temporary file, gone when the run ends: say what it was, not where
            "cafile": "generated by the embedded server" if server is not None and cfg.cafile else cfg.cafile,
            "insecure": cfg.insecure,
            "extra_headers": sorted(cfg.extra_headers),
            "allow_disruptive": cfg.allow_disruptive,
            "only": cfg.only,
            "sequential": cfg.sequential,
            "repeat": cfg.repeat,
        },
    )


async def arun_suite(
    target: str | None = None,
    *,
    profile: str = "complete",
    suite: str = "full",
    out: str | os.PathLike[str] | None = None,
    config: SuiteConfig | None = None,
    tls: bool = False,
    server_options: dict[str, Any] | None = None,
    http_url: str | None = None,
    **options: Any,
) -> Path:
    """Run the suite; returns the run directory. See :func:`run_suite`."""
    from ..server import ReferenceServer

    # the run's own copy: what it resolves (the embedded server's users, CA and secret) never writes into the
    # configuration its caller passed (a notebook re-running a cell, run --repeat)
    cfg = (
        dataclasses.replace(config)
        if config is not None
        else SuiteConfig(suite=suite, options=make_options(suite, **options))
    )
    if cfg.options.lockout_attempts is None and lockout_failures(cfg.contract) is not None:
        # options made without the run's contract: its lockout threshold, recorded in the manifest
        cfg.options = dataclasses.replace(cfg.options, lockout_attempts=lockout_failures(cfg.contract))
    out_dir = Path(out) if out else writable_runs_dir()
    if target is not None:
        check_target(target)
        http = (http_url or http_base(target)).rstrip("/")
        if not http.startswith(("http://", "https://")) or any(c.isspace() or not c.isprintable() for c in http):
            raise UsageError(
                f"malformed HTTP URL {redact_url(http)!r}: expected http://host:port or https://... (no space or "
                "control character)"
            )
        if cfg.preflight:
            from .preflight import Target, preflight

            t = Target(
                target,
                http,
                ssl_context_for(cfg) if target.startswith("wss") else None,
                cfg.extra_headers,
                cfg.credentials(),
                cfg.admin,
                cfg.contract,
            )
            await preflight(t)  # raises PreflightError, a UsageError
        return await execute(target, http, cfg, out_dir, _manifest(target, cfg, None, http))
    if cfg.contract.sha256 != default_contract().sha256:
        raise UsageError(
            f"the embedded reference server serves the pitchey contract only, not {cfg.contract.name!r}: "
            "point --target at the service the contract describes"
        )
    knobs = {**EMBEDDED_KNOBS, **(server_options or {})}
    async with ReferenceServer(profile, tls=tls, **knobs) as srv:
        if srv.ca_file:
            cfg.cafile = str(srv.ca_file)
        if cfg.preflight and (cfg.credentials() or cfg.admin is not None):
            # credentials the user gave are checked against the embedded target too: a mistyped password is the
            # user's mistake, told in one line, not a NOT READY run recorded for them
            from .preflight import Target, preflight

            await preflight(
                Target(
                    srv.ws_url,
                    srv.http_url,
                    ssl_context_for(cfg) if srv.ws_url.startswith("wss") else None,
                    cfg.extra_headers,
                    cfg.credentials(),
                    cfg.admin,
                    cfg.contract,
                )
            )
        cfg.user = cfg.user or DEMO_USERS["creator"]
        cfg.users = cfg.users or dict(DEMO_USERS)
        cfg.admin = cfg.admin or DEMO_ADMIN
        # The embedded target signs with its own secret, whatever the environment says
        # ($PITCHEY_JWT_SECRET is meant for a real deployment).
        cfg.jwt_secret = srv.jwt_secret
        server = {
            "profile": srv.profile.describe(),
            "knobs": {
                k: v for k, v in dataclasses.asdict(srv.profile.knobs).items() if v not in ({}, frozenset(), None)
            },
        }
        server["knobs"] = {k: (sorted(v) if isinstance(v, (set, frozenset)) else v) for k, v in server["knobs"].items()}
        try:
            return await execute(
                srv.ws_url, srv.http_url, cfg, out_dir, _manifest(srv.ws_url, cfg, server, srv.http_url)
            )
        finally:
            await srv.stop(grace_s=0)  # it served this run only: no load balancer to drain for


def run_suite(
    target: str | None = None,
    *,
    profile: str = "complete",
    suite: str = "full",
    out: str | os.PathLike[str] | None = None,
    **options: Any,
) -> Path:
    """Run the probe suite and capture a run dataset; returns the run directory.

    Works from a script (``asyncio.run``) and from a notebook whose event loop
    is already running (the run then happens in a worker thread).

    Args:
        target: a ``ws://``/``wss://`` URL; None starts the embedded reference server.
        profile: the embedded server's profile (``complete`` or ``pitchey-2025-11``).
        suite: ``quick`` (≤ 20 s, for tests and smoke checks) or ``full``.
        out: the runs directory (default ``data/runs``).
        **options: :class:`Options` fields, ``config=SuiteConfig(...)``, ``tls=True``,
            ``server_options={...}`` for the embedded server's knobs.
    """
    from ..aio import run_sync

    return run_sync(lambda: arun_suite(target, profile=profile, suite=suite, out=out, **options), name="pitchey-suite")
