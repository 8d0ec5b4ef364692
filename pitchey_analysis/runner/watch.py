"""The target watched between probes: is it still there, back to its baseline, locked out (:class:`Watch`), and
the breaker that stops asking a target that no longer answers (:class:`Breaker`)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ..capture.recorder import Recorder
from ..outcomes import FAILED, Outcome
from ..probes import ProbeContext, ProbeSpec, Result

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
        from ..probes.speaks import pace, speaks

        async def spoken() -> dict[str, Any]:
            try:
                return await speaks(self.ctx)
            except Exception as exc:  # the check is evidence when it works, never a crash of the run
                return {"speaks": None, "why": f"the check failed: {type(exc).__name__}", "seen": []}

        # both only wait: side by side; then the lockout check, its wait for a close paced by the round trips
        check, rounds = await asyncio.gather(spoken(), pace(self.ctx))
        self.rec.event("paced", round_trips=rounds, quiet_s=round(self.ctx.quiet(1.0), 3))
        locked = await self._locked_out()
        from ..probes.speaks import answers

        if locked:
            # a lockout left by an earlier run or another client: wait (bounded) for it to pass, never judge under it;
            # its closes said nothing of the protocol either: the speaks check is asked again once it has passed
            t0 = time.monotonic()
            waited = await self._lockout_passes()
            self.rec.event(
                "locked_out_at_start",
                waited_s=round(time.monotonic() - t0, 2),
                passed=waited is not None,
                close=self.lock_code,
            )
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
        from ..probes.readiness import is_locked

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
        from ..probes.speaks import answers

        if self.down[0] == "locked_out":
            if "lockout" in spec.leaves:
                return None  # a lockout probe judges a standing lockout itself (its baseline check)
            if time.monotonic() >= self.next_check and not await self._locked_out():
                self.rec.event(
                    "lockout_passed", after=self.down[1], locked_s=round(self.rec.t_offset() - self.down[2], 2)
                )
                self.down = None
                return None
            if time.monotonic() >= self.next_check:
                self.next_check = time.monotonic() + max(2.0, 5 * self.ctx.options.timeout_s)
            _, probe, t = self.down
            return (
                f"locked_out:not run: the target locks the run's own address out (close {self.lock_code}) since "
                f"{t:.1f} s, after {probe}: a probe judged under that lockout would judge our own side effect"
            )
        if time.monotonic() >= self.next_check and await answers(self.ctx, tries=1):
            self.answering = True
            reason, probe, t = self.down
            self.rec.event("target_answers_again", after=probe, down_s=round(self.rec.t_offset() - t, 2))
            self.down = None
            return None
        if time.monotonic() >= self.next_check:
            self.next_check = time.monotonic() + max(2.0, 5 * self.ctx.options.timeout_s)
        reason, probe, t = self.down
        what = {
            "stopped_service": f"the target stopped answering after {probe} (at {t:.1f} s)",
            "target_silent": f"the target went silent during {probe} (at {t:.1f} s)",
            "recovering": f"the target had not recovered from {probe} (at {t:.1f} s)",
        }[reason]
        return f"{'recovering' if reason == 'recovering' else 'target_down'}:not run: {what}"

    async def after(self, spec: ProbeSpec, r: Result) -> Result:
        """The probe's result in the light of the target's state after it."""
        from ..probes.speaks import answers

        down = self.down
        if (
            down is not None
            and down[0] != "locked_out"
            and down[1] != spec.name
            and r.outcome in FAILED
            and down[2] >= self.started.get(spec.name, float("inf"))
        ):
            # the target stopped while this probe ran beside the one that stopped it: no evidence about its feature
            return Result.skip(
                "target_down",
                f"the target stopped answering during this probe, after {down[1]} "
                f"(at {down[2]:.1f} s): its {r.reason} is no evidence about the feature",
                {"before": r.detail},
            )
        if spec.final or not self.answering:
            # a target that did not answer its liveness check gives no "before" to compare with: the breaker
            # (unanswered probes in a row) judges it
            return r
        alive = await answers(self.ctx)
        if (
            self.down is None
            and (not alive or spec.leaves or spec.category == "authentication")
            and await self._locked_out()
        ):
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
            return Result.skip(
                "target_silent",
                f"the target stopped answering while this probe ran beside others (at "
                f"{t:.1f} s): its {r.reason} is no evidence about the feature",
                {"before": r.detail},
            )
        if r.outcome in FAILED and r.reason in UNANSWERED:
            self.down = ("target_silent", spec.name, t)
            self.rec.event("target_silent", during=spec.name, at_s=round(t, 2))
            return Result.skip(
                "target_silent",
                f"the target stopped answering during this probe (at {t:.1f} s), "
                f"so its {r.reason} is no evidence about the feature",
                {"before": r.detail},
            )
        self.down = ("stopped_service", spec.name, t)
        self.rec.event("target_stopped", by=spec.name, at_s=round(t, 2))
        return Result.fail(
            "stopped_service",
            f"right after this probe's input the target stopped answering (at {t:.1f} s): "
            "that input stops the service for every client",
            {"probe_outcome": r.outcome, "probe_reason": r.reason, "probe_detail": r.detail},
            critical=True,
        )

    def beside_others(self, spec: ProbeSpec) -> bool:
        """Whether the probe ran beside other probes that send (the together pool; a hold beside anything)."""
        return not self.sequential and spec.runs in ("hold", "together")

    async def _recover(self) -> float | None:
        """Wait (bounded) until the target answers again; the seconds waited, or None."""
        from ..probes.speaks import answers

        t0 = time.monotonic()
        bound = RECOVERY_S * max(1.0, self.ctx.options.timeout_scale)
        while time.monotonic() - t0 < bound:
            await asyncio.sleep(0.5)
            if await answers(self.ctx, tries=1):
                return time.monotonic() - t0
        return None


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
        from ..probes.common import alive

        if await alive(self.ctx):
            self.streak = 0
            return False
        self.dead_until = time.monotonic() + self.recheck_s
        return True
