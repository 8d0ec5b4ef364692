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
import ssl
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from . import demo
from .capture.manifest import run_manifest, target_record
from .capture.recorder import Recorder, utc_now_iso
from .capture.records import probe_record
from .capture.redact import redact_url
from .config import time_unit, writable_runs_dir
from .contract import Contract, default_contract
from .demo import DEMO_PASSWORD
from .net import check_target as check_target  # re-exported (the `as` form: mypy --strict's explicit re-export)
from .net import client_ssl_context
from .net import http_base as http_base  # re-exported
from .outcomes import FAILED, Outcome, RunStatus
from .probes import CATALOGUE, CATEGORIES, Credentials, Options, ProbeContext, ProbeSpec, Result, classify
from .probes.base import lockout_failures
from .probes.session import end_sessions
from .schedule import PARALLEL, describe, schedule

log = logging.getLogger("pitchey_analysis.suite")

SUITE_VERSION = "1.0"
SUITES = ("quick", "full")
#: The run budget of each suite (``--deadline`` overrides it), in seconds.
DEADLINES = {"quick": 180.0, "full": 600.0}
#: Options of the quick suite (≤ 20 s against a local target).
#: Knobs of the embedded server during a run: short intervals so that pushes
#: and pings are observed within the run (recorded in the manifest).
EMBEDDED_KNOBS = {"dashboard_interval": 1.0, "ping_interval": 2.0, "ping_timeout": 10.0}
QUICK = {"timeout_s": 3.0, "connect_samples": 20, "rtt_samples": 60, "rtt_per_session": 60, "concurrency_levels": (1, 10, 50),
         "reconnect_samples": 2, "burst_size": 160, "server_ping_wait_s": 3.0, "push_timeout_s": 3.0,
         "push_interval_s": EMBEDDED_KNOBS["dashboard_interval"], "server_ping_interval_s": EMBEDDED_KNOBS["ping_interval"],
         "handshake_bound_s": 5.0, "sustain_window_s": 5.0}
#: The embedded target's users (pitchey_analysis/demo.py), as the probes' credentials.
DEMO_USERS = {u.user_type: Credentials(u.email, DEMO_PASSWORD, u.login_type) for u in demo.DEMO_USERS if u.user_type != "admin"}
DEMO_ADMIN = Credentials(demo.BY_TYPE["admin"].email, DEMO_PASSWORD, demo.BY_TYPE["admin"].login_type)


from .exceptions import UsageError as UsageError  # noqa: E402 - re-exported: misuse of the suite, exit code 2 in the CLI


def suite_specs(suite: str, contract: Contract | None = None) -> list[ProbeSpec]:
    """Every probe of a suite for a contract (default ``pitchey``), in running order (pure).

    The request/answer probes come from the contract's operations (probes/generated.py).
    """
    from .probes.generated import specs_for

    if suite not in SUITES:
        raise UsageError(f"unknown suite {suite!r}; choose quick or full")
    order = {c: i for i, c in enumerate(CATEGORIES)}
    catalogue = specs_for(contract) if contract is not None else list(CATALOGUE.values())
    specs = sorted((s for s in catalogue if (suite == "full" or s.quick)), key=lambda s: order[s.category])
    # stable: ordinary probes, then the lockout probes, then the whole-run judges (session invariants)
    return sorted(specs, key=lambda s: 2 if s.final else 1 if s.last else 0)


def selected(spec: ProbeSpec, only: list[str] | None) -> bool:
    """Whether ``--only`` keeps a probe (by name, name prefix or category)."""
    return not only or any(spec.name == o or spec.name.startswith(o + ".") or spec.category == o for o in only)


def plan_record(suite: str, only: list[str] | None, steps: list[tuple[ProbeSpec, str | None]],
                contract: Contract | None = None) -> list[dict[str, Any]]:
    """The run's plan as stored in its manifest: every probe of the suite with its catalogue entry,
    and whether it was selected (a critical probe excluded with ``--only`` is a gap of the run)."""
    why = {s.name: w for s, w in steps}
    return [{"probe": s.name, "category": s.category, "critical": s.critical, "expected": s.expected,
             "selected": selected(s, only), "skip": why.get(s.name)} for s in suite_specs(suite, contract)]


def judged_by(cfg: SuiteConfig, steps: list[tuple[ProbeSpec, str | None]]) -> dict[str, Any]:
    """What judges the run, written into its manifest when it starts so that analysis and report read it from
    the run, never from the code of the day: the plan with each probe's catalogue entry, the contract (summary,
    its message-type table as resolved now), and the service-level targets resolved from it."""
    from .judged import message_type_rows, target_records, targets_for_contract

    c = cfg.contract
    planned = plan_record(cfg.suite, cfg.only, steps, c)
    contract = {**c.summary(), "file": contract_file_name(c), "message_types": c.message_type_rows(),
                "error_types": c.error_rows(), "targets": c.targets}
    contract["message_table"] = message_type_rows({"contract": contract, "plan": planned})
    return {"plan": planned, "contract": contract, "targets": target_records(targets_for_contract(c.targets))}


#: The skip reason of a probe whose feature the contract does not declare; its detail follows after a colon.
NOT_IN_CONTRACT = "not_in_contract"


def plan(suite: str, ctx: ProbeContext, only: list[str] | None = None) -> list[tuple[ProbeSpec, str | None]]:
    """The probes to run in order, each with a skip reason or None (pure).

    A probe needing what the contract does not declare is skipped ``not_in_contract:<what is lacking>``.
    """
    from .probes.generated import not_in_contract

    specs = [s for s in suite_specs(suite, ctx.contract) if selected(s, only)]
    if only and not specs:
        raise UsageError(f"--only {' '.join(only)} matches no probe of the {suite} suite")
    out = []
    for s in specs:
        why = None
        lacking = not_in_contract(s, ctx.contract)
        if lacking:
            why = f"{NOT_IN_CONTRACT}:{lacking}"
        elif s.disruptive and not ctx.loopback and not ctx.allow_disruptive:
            why = "disruptive_not_allowed"
        elif "loopback" in s.needs and not ctx.loopback:
            why = "not_loopback"
        out.append((s, why))
    return out


def _record(spec: ProbeSpec, probe_id: str, attempt: int, started: str, duration_ms: float, r: Result, rec: Recorder) -> dict[str, Any]:
    from .probes.base import compact

    return probe_record(probe_id=probe_id, category=spec.category, probe=spec.name, attempt=attempt, started_at=started,
                        duration_ms=round(duration_ms, 3), outcome=r.outcome, reason=r.reason, detail=r.detail, expected=spec.expected,
                        observed=compact(rec.scrub(r.observed)) if r.observed is not None else None, close_code=r.close_code,
                        close_reason=r.close_reason, critical=spec.critical if r.critical is None else r.critical)


SKIP_DETAILS = {"disruptive_not_allowed": "disruptive probe not run against a non-loopback target (use --allow-disruptive)",
                "not_loopback": "needs a loopback target",
                "deadline": "not run: the run reached its deadline (--deadline) first",
                "target_unresponsive": "not run: the target answered nothing to the last probes nor to a liveness check "
                                       "(an upgrade and a ping)"}

#: how long the runner waits for a target to answer again after a disruptive probe (times --timeout-scale)
RECOVERY_S = 20.0


class Watch:
    """The target's state between probes: whether it speaks the contract at all (once, before the first probe),
    and after each probe whether it still answers. A probe after which the target stopped answering, while its
    own exchanges were answered, fails (critical): its input stopped the service. A target silent during a probe
    makes that probe a skip (no evidence), as are the probes after it until the target answers again. After a
    disruptive probe (our own load, lockouts) the runner waits, bounded, for the target to recover."""

    def __init__(self, ctx: ProbeContext, rec: Recorder) -> None:
        self.ctx, self.rec = ctx, rec
        self.not_spoken: str | None = None
        self.down: tuple[str, str, float] | None = None  # (reason, probe, t_offset_s)
        self.answering = False  # whether the target answered its liveness check last time it was asked
        self.lock_code: int | None = None  # the close (or HTTP status) of the lockout that turned the run away
        self.started: dict[str, float] = {}  # when each probe started (run offset, seconds)
        self.sequential = False  # one probe at a time (run --sequential): a silence follows the probe that ran
        self.next_check = 0.0  # while it is down, asked again at most every few seconds (monotonic time)

    async def start(self) -> None:
        from .probes.speaks import pace, speaks

        async def spoken() -> dict[str, Any]:
            try:
                return await speaks(self.ctx)
            except Exception as exc:  # the check is evidence when it works, never a crash of the run
                return {"speaks": None, "why": f"the check failed: {type(exc).__name__}", "seen": []}

        # both only wait: side by side; then the lockout check, its wait for a close paced by the round trips
        check, rounds = await asyncio.gather(spoken(), pace(self.ctx))
        self.rec.event("paced", round_trips=rounds, quiet_s=round(self.ctx.quiet(1.0), 3))
        locked = await self._locked_out()
        from .probes.speaks import answers

        if locked:
            # a lockout left by an earlier run or another client: wait (bounded) for it to pass, never judge under it;
            # its closes said nothing of the protocol either: the speaks check is asked again once it has passed
            t0 = time.monotonic()
            waited = await self._lockout_passes()
            self.rec.event("locked_out_at_start", waited_s=round(time.monotonic() - t0, 2), passed=waited is not None,
                           close=self.lock_code)
            if waited is None:
                self.down = ("locked_out", "an earlier run or another client", self.rec.t_offset())
                self.rec.update_manifest(contract_spoken={"speaks": None, "why": "locked out: not asked", "seen": []})
                return
            check = await spoken()
        self.rec.update_manifest(contract_spoken=check)
        self.answering = check["speaks"] is True or (check["speaks"] is None and await answers(self.ctx, tries=1))
        if check["speaks"] is False:
            self.not_spoken = str(check["why"])
            self.rec.event("contract_not_spoken", why=check["why"], seen=check.get("seen", []))

    async def _locked_out(self) -> bool:
        """Whether the run's own address is turned away by the contract's failed-authentication lockout (a fresh
        control session from it is closed with the lockout close, or refused 403/429). Only asked of a contract
        that declares a lockout."""
        if self.ctx.contract.limit("lockout") is None:
            return False
        from .probes.readiness import is_locked

        try:
            locked, self.lock_code = await is_locked(self.ctx, None, strict=True)
        except Exception:  # the liveness check judges a target that does not answer
            return False
        return locked

    async def _lockout_passes(self) -> float | None:
        """Wait (bounded, as a recovery) until a control session is served again; the seconds waited, or None."""
        t0 = time.monotonic()
        bound = RECOVERY_S * max(1.0, self.ctx.options.timeout_scale)
        while time.monotonic() - t0 < bound:
            await asyncio.sleep(min(2.0, bound / 5))
            if not await self._locked_out():
                return time.monotonic() - t0
        return None

    async def before(self, spec: ProbeSpec) -> str | None:
        """Why ``spec`` must not run now (a skip), or None."""
        if self.not_spoken:
            return f"contract_not_spoken:not run: the target does not speak this contract ({self.not_spoken})"
        if self.down is None or spec.final:
            return None
        from .probes.speaks import answers

        if self.down[0] == "locked_out":
            if "lockout" in spec.leaves:
                return None  # a lockout probe judges a standing lockout itself (its baseline check)
            if time.monotonic() >= self.next_check and not await self._locked_out():
                self.rec.event("lockout_passed", after=self.down[1], locked_s=round(self.rec.t_offset() - self.down[2], 2))
                self.down = None
                return None
            if time.monotonic() >= self.next_check:
                self.next_check = time.monotonic() + max(2.0, 5 * self.ctx.options.timeout_s)
            _, probe, t = self.down
            return (f"locked_out:not run: the target locks the run's own address out (close {self.lock_code}) since "
                    f"{t:.1f} s, after {probe}: a probe judged under that lockout would judge our own side effect")
        if time.monotonic() >= self.next_check and await answers(self.ctx, tries=1):
            self.answering = True
            reason, probe, t = self.down
            self.rec.event("target_answers_again", after=probe, down_s=round(self.rec.t_offset() - t, 2))
            self.down = None
            return None
        if time.monotonic() >= self.next_check:
            self.next_check = time.monotonic() + max(2.0, 5 * self.ctx.options.timeout_s)
        reason, probe, t = self.down
        what = {"stopped_service": f"the target stopped answering after {probe} (at {t:.1f} s)",
                "target_silent": f"the target went silent during {probe} (at {t:.1f} s)",
                "recovering": f"the target had not recovered from {probe} (at {t:.1f} s)"}[reason]
        return f"{'recovering' if reason == 'recovering' else 'target_down'}:not run: {what}"

    async def after(self, spec: ProbeSpec, r: Result) -> Result:
        """The probe's result in the light of the target's state after it."""
        from .probes.speaks import answers

        down = self.down
        if (down is not None and down[0] != "locked_out" and down[1] != spec.name and r.outcome in FAILED
                and down[2] >= self.started.get(spec.name, float("inf"))):
            # the target stopped while this probe ran beside the one that stopped it: no evidence about its feature
            return Result.skip("target_down", f"the target stopped answering during this probe, after {down[1]} "
                               f"(at {down[2]:.1f} s): its {r.reason} is no evidence about the feature",
                               {"before": r.detail})
        if spec.final or not self.answering:
            # a target that did not answer its liveness check gives no "before" to compare with: the breaker
            # (unanswered probes in a row) judges it
            return r
        alive = await answers(self.ctx)
        if self.down is None and (not alive or spec.leaves or spec.category == "authentication") and await self._locked_out():
            # failed authentications of this probe (or its side effect) locked the run's own address out: the
            # probes after it would judge our own side effect (and a liveness check turned away is no silence)
            t = self.rec.t_offset()
            self.down = ("locked_out", spec.name, t)
            self.rec.event("locked_out", after=spec.name, at_s=round(t, 2), close=self.lock_code)
            return r
        if alive:
            return r
        self.answering = False
        t = self.rec.t_offset()
        if spec.disruptive or spec.last or spec.category == "performance":  # our own load or lockouts: let it recover
            waited = await self._recover()
            if waited is not None:
                self.rec.event("recovered", after=spec.name, waited_s=round(waited, 2))
                return r
            self.down = ("recovering", spec.name, t)
            self.rec.event("target_not_recovered", after=spec.name, at_s=round(t, 2))
            return r
        if self.beside_others(spec):
            # it ran beside other probes (a hold: idle sessions): what stopped the target is for the probe that sent
            # the frame to say, not this one
            if self.down is None:
                self.down = ("target_silent", spec.name, t)
                self.rec.event("target_silent", during=spec.name, at_s=round(t, 2))
            return Result.skip("target_silent", f"the target stopped answering while this probe ran beside others (at "
                               f"{t:.1f} s): its {r.reason} is no evidence about the feature", {"before": r.detail})
        if r.outcome in FAILED and r.reason in UNANSWERED:
            self.down = ("target_silent", spec.name, t)
            self.rec.event("target_silent", during=spec.name, at_s=round(t, 2))
            return Result.skip("target_silent", f"the target stopped answering during this probe (at {t:.1f} s), "
                               f"so its {r.reason} is no evidence about the feature", {"before": r.detail})
        self.down = ("stopped_service", spec.name, t)
        self.rec.event("target_stopped", by=spec.name, at_s=round(t, 2))
        return Result.fail("stopped_service", f"right after this probe's input the target stopped answering (at {t:.1f} s): "
                           "that input stops the service for every client", {"probe_outcome": r.outcome,
                           "probe_reason": r.reason, "probe_detail": r.detail}, critical=True)

    def beside_others(self, spec: ProbeSpec) -> bool:
        """Whether the probe ran beside other probes that send (the together pool; a hold beside anything)."""
        return not self.sequential and spec.runs in ("hold", "together")

    async def _recover(self) -> float | None:
        """Wait (bounded) until the target answers again; the seconds waited, or None."""
        from .probes.speaks import answers

        t0 = time.monotonic()
        bound = RECOVERY_S * max(1.0, self.ctx.options.timeout_scale)
        while time.monotonic() - t0 < bound:
            await asyncio.sleep(0.5)
            if await answers(self.ctx, tries=1):
                return time.monotonic() - t0
        return None


async def run_probe(spec: ProbeSpec, ctx: ProbeContext, rec: Recorder, *, attempt: int = 1, limit_s: float = 180.0,
                    skip: str | None = None, deadline_limited: bool = False,
                    after: Callable[[ProbeSpec, Result], Awaitable[Result]] | None = None) -> dict[str, Any]:
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


@dataclasses.dataclass
class SuiteConfig:
    """Everything a run needs besides the target."""

    suite: str = "full"
    options: Options = dataclasses.field(default_factory=Options)
    user: Credentials | None = None
    users: dict[str, Credentials] = dataclasses.field(default_factory=dict)
    admin: Credentials | None = None
    jwt_secret: str | None = None
    cafile: str | None = None
    insecure: bool = False
    extra_headers: dict[str, str] = dataclasses.field(default_factory=dict)
    allow_disruptive: bool = False
    only: list[str] | None = None
    progress: bool = True
    #: the run's budget in seconds (None: the suite's default, see DEADLINES)
    deadline_s: float | None = None
    #: check reachability, the upgrade and every login before the suite (user mistakes exit early)
    preflight: bool = True
    #: the service contract the run judges against (stored verbatim in the run directory)
    contract: Contract = dataclasses.field(default_factory=default_contract)
    #: one probe at a time, in catalogue order (``run --sequential``); else the schedule of pitchey_analysis/schedule.py
    sequential: bool = False
    #: probes of the together stage running at once (``run --parallel``)
    parallel: int = PARALLEL
    #: one run of ``run --repeat N``: its group, its index and N (recorded in the manifest)
    repeat: dict[str, Any] | None = None

    def credentials(self) -> list[Credentials]:
        """Every distinct user credential (the main user first), without the admin."""
        out: dict[tuple[str, str], Credentials] = {}
        for c in [self.user, *self.users.values()]:
            if c is not None:
                out.setdefault((c.user_type, c.email), c)
        return list(out.values())


def ssl_context_for(cfg: SuiteConfig) -> ssl.SSLContext:
    """Verify against ``--cafile`` (or the system store); ``--insecure`` is recorded, never silent."""
    return client_ssl_context(cfg.cafile, cfg.insecure)


#: Reasons that mean the target did not answer at all (a silent, stalled or unreachable target).
UNANSWERED = frozenset({"connect_timeout", "connect_refused", "network_error", "no_answer", "probe_timeout"})


class Breaker:
    """Stops paying a full timeout per probe once the target has gone silent.

    After ``trip`` probes in a row ended unanswered, each further probe first
    checks (once per ``recheck_s``) that the target still answers at all; while
    it does not, probes are recorded as skipped with reason ``target_unresponsive``
    (no evidence either way). One answer closes the breaker again.
    """

    def __init__(self, ctx: ProbeContext, trip: int = 3) -> None:
        self.ctx, self.trip, self.streak = ctx, trip, 0
        self.dead_until = 0.0
        self.recheck_s = max(2.0, 5 * ctx.options.timeout_s)

    def note(self, record: dict[str, Any]) -> None:
        if record["outcome"] == Outcome.SKIP:
            return  # no evidence about the target's answers either way
        self.streak = self.streak + 1 if record["reason"] in UNANSWERED else 0

    async def blocked(self) -> bool:
        if self.streak < self.trip:
            return False
        if time.monotonic() < self.dead_until:
            return True
        from .probes.common import alive

        if await alive(self.ctx):
            self.streak = 0
            return False
        self.dead_until = time.monotonic() + self.recheck_s
        return True


#: reasons a probe run beside the pool is asked again alone before they are believed: its connection could not be
#: made -- not opened in time, its handshake dropped, reset (our own load on the target or on the machine delays every
#: connect past a strict target's deadlines; a target's silence or wrong answers do not reach these reasons). Once a
#: probe asked alone ends the same way, the target's own behaviour is taken for it and no other is asked again.
ALONE_AGAIN = frozenset({"connect_timeout", "bad_handshake", "network_error"})


def _warm_imports() -> None:
    """Import what writing the run's Parquet and its verdict need (pandas, pyarrow: about 0.6 s)."""
    from .capture import dataset  # noqa: F401
    from .report import summary  # noqa: F401


class Runner:
    """Runs the probes of a plan, alone or side by side, each under the run's deadline, the target's watch
    (:class:`Watch`) and the breaker (:class:`Breaker`)."""

    def __init__(self, ctx: ProbeContext, rec: Recorder, end: float, budget: float) -> None:
        self.ctx, self.rec, self.end, self.budget = ctx, rec, end, budget
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
            self.watch.started[spec.name] = self.rec.t_offset()
        self._show()
        try:
            r = await run_probe(spec, self.ctx, self.rec, attempt=attempt, skip=skip, limit_s=max(0.01, min(180.0, left)),
                                deadline_limited=left < 180.0, after=self.watch.after)
        finally:
            self.running.discard(spec.name)
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
                await asyncio.gather(asyncio.to_thread(_warm_imports), *background)
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
    secrets_ = tuple(x for x in [cfg.jwt_secret] + [v for c in [cfg.user, cfg.admin, *cfg.users.values()] if c
                                                    for v in (c.password, c.token)] if x)
    rec = Recorder(out, manifest, secrets_to_mask=secrets_)
    status = RunStatus.INTERRUPTED
    ctx: ProbeContext | None = None
    bar = None
    try:  # from the run directory's first file on: an interruption (Ctrl-C, SIGTERM) leaves it interrupted, with Parquet
        ctx = ProbeContext(ws_url=ws_url, http_url=http_url, recorder=rec, options=cfg.options, user=cfg.user, users=cfg.users,
                           admin=cfg.admin, jwt_secret=cfg.jwt_secret,
                           ssl_context=ssl_context_for(cfg) if ws_url.startswith("wss") else None,
                           extra_headers=cfg.extra_headers, allow_disruptive=cfg.allow_disruptive, contract=cfg.contract)
        steps = plan(cfg.suite, ctx, cfg.only)
        up = cfg.contract.upgrade
        if up is not None and not up.anonymous and cfg.user is not None:
            from .probes.common import login

            try:  # sessions of a service that serves no anonymous one carry the run's credential
                ctx.auto_token, _ = await login(ctx, cfg.user)
            except Exception as exc:  # the login probes judge the login; here it is only a convenience
                rec.event("auto_login_failed", detail=str(exc)[:200])
        budget = cfg.deadline_s if cfg.deadline_s is not None else DEADLINES[cfg.suite]
        store_contract(rec.dir, cfg.contract)
        stages = schedule(steps, sequential=cfg.sequential)
        parallel = 1 if cfg.sequential else cfg.parallel
        rec.update_manifest(**judged_by(cfg, steps), deadline_s=budget,
                            schedule={"sequential": cfg.sequential, "parallel": parallel,
                                      "stages": describe(stages, cfg.options, parallel)})
        runner = Runner(ctx, rec, time.monotonic() + budget, budget)
        runner.watch.sequential = cfg.sequential
        if any(not skip for _, skip in steps):
            await runner.watch.start()
        bar = tqdm(total=len(steps), desc="probes", unit="probe", disable=None if cfg.progress else True, file=sys.stderr,
                   leave=False)
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


def contract_file_name(contract: Contract) -> str:
    """The contract's file name in a run directory."""
    return f"contract.{'json' if contract.file_format == 'json' else 'yaml'}"


def store_contract(run_dir: Path, contract: Contract) -> Path:
    """Write the contract the run is judged against into the run directory, verbatim."""
    from .atomic import write_text

    path = Path(run_dir) / contract_file_name(contract)
    write_text(path, contract.text)
    return path


def _manifest(ws_url: str, cfg: SuiteConfig, server: dict[str, Any] | None, http_url: str | None = None) -> dict[str, Any]:
    opts = dataclasses.asdict(cfg.options)
    return run_manifest(
        target=target_record(ws_url, http_url or http_base(ws_url), embedded=server is not None),
        server=server,
        suite={"name": cfg.suite, "version": SUITE_VERSION},
        config={
            **opts,
            "credentials": {"user": cfg.user.email if cfg.user else None,
                            "user_types": sorted(cfg.users), "admin": bool(cfg.admin),
                            "jwt_secret_given": bool(cfg.jwt_secret)},
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


#: Every wait of the probes, multiplied by the timeout scale.
SCALED = ("timeout_s", "open_timeout_s", "push_timeout_s", "server_ping_wait_s", "quiet_window_s", "handshake_bound_s",
          "settle_s", "sustain_window_s")


#: What is added to a contract's interval to wait for the push or ping it promises (seconds).
PUSH_MARGIN_S, PING_MARGIN_S = 2.0, 5.0
#: the waits that contain an interval of the target's (the option holding it): only the margin above it is scaled
INTERVAL_IN = {"push_timeout_s": "push_interval_s", "server_ping_wait_s": "server_ping_interval_s"}


def contract_waits(contract: Contract | None) -> dict[str, float]:
    """The waits a contract's intervals imply (pure): a push within the interval channel's
    ``intervalSeconds`` + 2 s, a server ping within ``limits.serverPing.intervalSeconds`` + 5 s
    (Pitchey: 7 s and 35 s). What the contract does not declare keeps the default."""
    out: dict[str, float] = {}
    if contract is None:
        return out
    ch = contract.push_channel()
    if ch is not None and ch.interval_s:
        out["push_timeout_s"] = float(ch.interval_s) + PUSH_MARGIN_S
    ping = contract.limit("serverPing")
    if ping is not None and ping.get("intervalSeconds"):
        out["server_ping_wait_s"] = float(ping["intervalSeconds"]) + PING_MARGIN_S
    return out


def contract_intervals(contract: Contract | None) -> dict[str, float]:
    """The target's own intervals inside :func:`contract_waits`' waits (pure): the push channel's
    ``intervalSeconds`` and the server ping's, as ``push_interval_s`` and ``server_ping_interval_s``."""
    out: dict[str, float] = {}
    if contract is None:
        return out
    ch = contract.push_channel()
    if ch is not None and ch.interval_s:
        out["push_interval_s"] = float(ch.interval_s)
    ping = contract.limit("serverPing")
    if ping is not None and ping.get("intervalSeconds"):
        out["server_ping_interval_s"] = float(ping["intervalSeconds"])
    return out


def make_options(suite: str, *, scale: float | None = None, contract: Contract | None = None, **overrides: Any) -> Options:
    """Options for a suite, with the timeout scale applied and overrides on top.

    The contract's values are the defaults the overrides (the CLI's options) replace:
    its intervals (below) and its lockout threshold (``limits.lockout.failures`` as
    ``lockout_attempts``, in both suites).

    ``scale`` multiplies every wait (default: ``$PITCHEY_TIMEOUT_SCALE``, the tests' unit, else 1);
    it is recorded in the options (``timeout_scale``) and so in the manifest. The full suite waits
    for pushes and server pings as long as the contract's intervals say (:func:`contract_waits`);
    the quick suite keeps its short waits (a smoke check against the embedded server's short knobs).
    """
    base: dict[str, Any] = dict(QUICK) if suite == "quick" else {**contract_waits(contract), **contract_intervals(contract)}
    failures = lockout_failures(contract)
    if failures is not None:
        base["lockout_attempts"] = failures
    level = ((contract.targets.get("concurrency") or {}).get("level") if contract is not None else None)
    if isinstance(level, int) and level > 0:
        # the ramp is sized by the contract's declared level: up to it and at most twice it (--concurrency overrides),
        # so that the tool's own load never wedges a target far beyond what it promises
        default = base.get("concurrency_levels") or Options().concurrency_levels
        base["concurrency_levels"] = tuple(sorted({lv for lv in default if lv <= 2 * level} | {level}))
    base.update({k: v for k, v in overrides.items() if v is not None})
    opts = Options(**base)
    scale = time_unit() if scale is None else scale
    if scale <= 0:
        raise UsageError("the timeout scale must be positive")
    opts.timeout_scale = scale
    for f in SCALED:
        value = getattr(opts, f)
        interval = getattr(opts, INTERVAL_IN[f]) if f in INTERVAL_IN else None
        if interval is not None and 0 < interval <= value:
            setattr(opts, f, interval + (value - interval) * scale)  # the target's interval as it promised, our margin scaled
        else:
            setattr(opts, f, value * scale)
    return opts


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
    from .server import ReferenceServer

    # the run's own copy: what it resolves (the embedded server's users, CA and secret) never writes into the
    # configuration its caller passed (a notebook re-running a cell, run --repeat)
    cfg = dataclasses.replace(config) if config is not None else SuiteConfig(suite=suite, options=make_options(suite, **options))
    if cfg.options.lockout_attempts is None and lockout_failures(cfg.contract) is not None:
        # options made without the run's contract: its lockout threshold, recorded in the manifest
        cfg.options = dataclasses.replace(cfg.options, lockout_attempts=lockout_failures(cfg.contract))
    out_dir = Path(out) if out else writable_runs_dir()
    if target is not None:
        check_target(target)
        http = (http_url or http_base(target)).rstrip("/")
        if not http.startswith(("http://", "https://")) or any(c.isspace() or not c.isprintable() for c in http):
            raise UsageError(f"malformed HTTP URL {redact_url(http)!r}: expected http://host:port or https://... (no space or control character)")
        if cfg.preflight:
            from .preflight import Target, preflight

            t = Target(target, http, ssl_context_for(cfg) if target.startswith("wss") else None, cfg.extra_headers,
                       cfg.credentials(), cfg.admin, cfg.contract)
            await preflight(t)  # raises PreflightError, a UsageError
        return await execute(target, http, cfg, out_dir, _manifest(target, cfg, None, http))
    if cfg.contract.sha256 != default_contract().sha256:
        raise UsageError(f"the embedded reference server serves the pitchey contract only, not {cfg.contract.name!r}: "
                         "point --target at the service the contract describes")
    knobs = {**EMBEDDED_KNOBS, **(server_options or {})}
    async with ReferenceServer(profile, tls=tls, **knobs) as srv:
        if srv.ca_file:
            cfg.cafile = str(srv.ca_file)
        if cfg.preflight and (cfg.credentials() or cfg.admin is not None):
            # credentials the user gave are checked against the embedded target too: a mistyped password is the
            # user's mistake, told in one line, not a NOT READY run recorded for them
            from .preflight import Target, preflight

            await preflight(Target(srv.ws_url, srv.http_url, ssl_context_for(cfg) if srv.ws_url.startswith("wss") else None,
                                   cfg.extra_headers, cfg.credentials(), cfg.admin, cfg.contract))
        cfg.user = cfg.user or DEMO_USERS["creator"]
        cfg.users = cfg.users or dict(DEMO_USERS)
        cfg.admin = cfg.admin or DEMO_ADMIN
        # The embedded target signs with its own secret, whatever the environment says
        # ($PITCHEY_JWT_SECRET is meant for a real deployment).
        cfg.jwt_secret = srv.jwt_secret
        server = {"profile": srv.profile.describe(), "knobs": {k: v for k, v in dataclasses.asdict(srv.profile.knobs).items() if v not in ({}, frozenset(), None)}}
        server["knobs"] = {k: (sorted(v) if isinstance(v, (set, frozenset)) else v) for k, v in server["knobs"].items()}
        try:
            return await execute(srv.ws_url, srv.http_url, cfg, out_dir, _manifest(srv.ws_url, cfg, server, srv.http_url))
        finally:
            await srv.stop(grace_s=0)  # it served this run only: no load balancer to drain for


def run_suite(target: str | None = None, *, profile: str = "complete", suite: str = "full",
              out: str | os.PathLike[str] | None = None, **options: Any) -> Path:
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
    from .aio import run_sync

    return run_sync(lambda: arun_suite(target, profile=profile, suite=suite, out=out, **options), name="pitchey-suite")
