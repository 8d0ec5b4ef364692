"""Which probes a run asks (pure): the suite's probes, those the contract can judge, and the plan record the
manifest keeps (``run --dry-run`` prints it)."""

from __future__ import annotations

from typing import Any

from ..contract import Contract
from ..exceptions import UsageError
from ..probes import CATALOGUE, CATEGORIES, ProbeContext, ProbeSpec
from .options import SUITES, SuiteConfig

SUITE_VERSION = "1.0"


def suite_specs(suite: str, contract: Contract | None = None) -> list[ProbeSpec]:
    """Every probe of a suite for a contract (default ``pitchey``), in running order (pure).

    The request/answer probes come from the contract's operations (probes/generated.py).
    """
    from ..probes.generated import specs_for

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


def plan_record(
    suite: str, only: list[str] | None, steps: list[tuple[ProbeSpec, str | None]], contract: Contract | None = None
) -> list[dict[str, Any]]:
    """The run's plan as stored in its manifest: every probe of the suite with its catalogue entry,
    and whether it was selected (a critical probe excluded with ``--only`` is a gap of the run)."""
    why = {s.name: w for s, w in steps}
    return [
        {
            "probe": s.name,
            "category": s.category,
            "critical": s.critical,
            "expected": s.expected,
            "selected": selected(s, only),
            "skip": why.get(s.name),
        }
        for s in suite_specs(suite, contract)
    ]


def judged_by(cfg: SuiteConfig, steps: list[tuple[ProbeSpec, str | None]]) -> dict[str, Any]:
    """What judges the run, written into its manifest when it starts so that analysis and report read it from
    the run, never from the code of the day: the plan with each probe's catalogue entry, the contract (summary,
    its message-type table as resolved now), and the service-level targets resolved from it."""
    from ..judged import contract_message_table, declared_record, target_records, targets_for_contract

    c = cfg.contract
    planned = plan_record(cfg.suite, cfg.only, steps, c)
    asked = {p["probe"] for p in planned if not str(p.get("skip") or "").startswith(NOT_IN_CONTRACT)}
    contract = {
        **c.summary(),
        "file": contract_file_name(c),
        "message_types": c.message_type_rows(),
        "error_types": c.error_rows(),
        "targets": c.targets,
        "declared": declared_record(c),
    }
    # the table from the contract alone: no row of another service's protocol (the legacy table is for old runs)
    contract["message_table"] = contract_message_table(c, asked)
    return {"plan": planned, "contract": contract, "targets": target_records(targets_for_contract(c.targets))}


#: The skip reason of a probe whose feature the contract does not declare; its detail follows after a colon.
NOT_IN_CONTRACT = "not_in_contract"


def plan(suite: str, ctx: ProbeContext, only: list[str] | None = None) -> list[tuple[ProbeSpec, str | None]]:
    """The probes to run in order, each with a skip reason or None (pure).

    A probe needing what the contract does not declare is skipped ``not_in_contract:<what is lacking>``.
    """
    from ..probes.generated import not_in_contract

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


def contract_file_name(contract: Contract) -> str:
    """The contract's file name in a run directory."""
    return f"contract.{'json' if contract.file_format == 'json' else 'yaml'}"
