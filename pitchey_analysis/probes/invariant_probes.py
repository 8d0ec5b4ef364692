"""Whole-run probes: one per session invariant, judging every session the run opened.

The session layer checks each session when it ends (``session.py``,
``ProbeSession.check_invariants``; a timed connect is checked on its first
frame) and counts it on ``ctx.invariants``. These probes only read those
counters, so they run at the very end of the plan (``final=True``: after the
lockout probes too), and judge the sessions that had ended by then.

Evidence: a probe passes only if the run checked at least one session in
which its rule had something to judge (frames, error frames, a server close
frame), and none broke it; otherwise it is a skip, never a pass.
"""

from __future__ import annotations

from typing import Any

from .base import ProbeContext, Result, probe
from .invariants import RULES, Rule, Tally

#: Report row of each rule's probe.
CATEGORY = {
    "first_frame": "connection",
    "json_frames": "messaging",
    "error_shape": "messaging",
    "nothing_after_close": "resilience",
    "close_codes": "resilience",
}
#: Reason code of a failure, per rule.
REASON = {
    "first_frame": "wrong_first_frame",
    "json_frames": "not_json",
    "error_shape": "malformed_error",
    "nothing_after_close": "frame_after_close",
    "close_codes": "invalid_close_code",
}
#: What the rule judges, and the skip when the run saw none of it.
ITEMS = {
    "first_frame": ("frames", "no_frames", "no session received a frame"),
    "json_frames": ("frames", "no_frames", "no session received a frame"),
    "error_shape": ("error frames", "no_error_frames", "no session received an error frame"),
    "nothing_after_close": ("server close frames", "no_server_close", "no session was closed by a server close frame"),
    "close_codes": ("close frames", "no_close_frames", "no session received a close frame"),
}


def probe_name(rule: str) -> str:
    """The whole-run probe of a rule."""
    return f"session.{rule}"


def judge(tally: Tally, rule: str) -> Result:
    """The outcome of a rule's whole-run probe from the run's counters (pure)."""
    ev: dict[str, Any] = {**tally.evidence(rule), "sessions_opened": tally.opened}
    what, skip_reason, skip_detail = ITEMS[rule]
    if tally.sessions == 0:
        return Result.skip("no_sessions", "no session of this run had ended: nothing to judge")
    if tally.items[rule] == 0:
        return Result.skip(skip_reason, f"{skip_detail} (of {tally.sessions} sessions checked)")
    checked = f"{tally.sessions} sessions and {tally.frames} frames checked ({tally.items[rule]} {what} judged)"
    n = tally.violations[rule]
    if n:
        first = ev["examples"][0]
        where = f"frame {first['position']}" if first["position"] is not None else "close"
        return Result.fail(
            REASON[rule],
            f"{n} violation(s) in {tally.sessions_violating[rule]} session(s); "
            f"first: {first['detail']} ({first['probe_id']}, connection {first['conn_id']}, {where}); {checked}",
            ev,
        )
    return Result.ok(checked, ev)


def _register(rule: Rule) -> None:
    async def run(ctx: ProbeContext) -> Result:
        return judge(ctx.invariants, rule.name)

    run.__name__ = f"session_{rule.name}"
    probe(
        probe_name(rule.name),
        category=CATEGORY[rule.name],
        critical=rule.critical,
        final=True,
        evidence=("sessions_checked", "items_judged"),
        expected=f"over every session the run opened: {rule.description}",
    )(run)


for _rule in RULES:
    _register(_rule)
