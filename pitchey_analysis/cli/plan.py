"""What a suite will run, printed: ``run --dry-run`` (the schedule) and ``contract check`` share the probe line."""

from __future__ import annotations

from typing import Any

from ..textsafe import printable


def plan_line(spec: Any, mark: str) -> str:
    """One probe of a plan, as ``run --dry-run`` and ``contract`` print it."""
    return printable(f"  {spec.name:38s} {spec.category:15s} {'critical' if spec.critical else '':8s} {mark}")


def print_schedule(target: str | None, suite: str, cfg: Any, *, allow_disruptive: bool, only: list[str] | None) -> None:
    """``run --dry-run``: the probes that would run against ``target`` (None: the embedded server), each with its
    skip reason, stage by stage with the expected wall time."""
    from ..capture.redact import redact_url
    from ..probes import ProbeContext
    from ..runner import plan
    from ..runner.schedule import schedule, stage_s

    ctx = ProbeContext(
        ws_url=target or "ws://127.0.0.1:0/ws",
        http_url="",
        recorder=None,
        allow_disruptive=allow_disruptive,
        contract=cfg.contract,
    )
    steps = plan(suite, ctx, only)
    where = printable(redact_url(target)) if target else "the embedded reference server"
    stages = schedule(steps, sequential=cfg.sequential)
    parallel = 1 if cfg.sequential else cfg.parallel
    total = sum(stage_s(st, cfg.options, parallel) for st in stages)
    print(
        f"{len(steps)} probes against {where} ({suite} suite), in {len(stages)} "
        f"stage{'s' if len(stages) != 1 else ''}; expected wall time at most about "
        f"{total:.0f} s against a local target:"
    )
    for i, st in enumerate(stages, 1):
        how = (
            f"holds in the background; beside them the probes marked so one at a time, then the others side by "
            f"side, at most {parallel} at once"
            if st.mode == "together"
            else "one at a time"
        )
        print(f"\nstage {i}: {how} (about {stage_s(st, cfg.options, parallel):.0f} s)")
        for spec, why in st.steps:
            mark = (
                f"skip ({why})"
                if why
                else {"hold": "hold", "alone": "run, one at a time"}.get(spec.runs, "run")
                if st.mode == "together" and not spec.last
                else "run"
            )
            print(plan_line(spec, mark + (f"; leaves {', '.join(spec.leaves)}" if spec.leaves and not why else "")))
