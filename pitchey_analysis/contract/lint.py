"""What ``contract check`` says beyond validity: declarations that silently mislead (pure).

A document can validate and still mislead: two operations judged by one probe (one of them never judged), a
success rate no run can show (its confidence interval can never reach it), a message no frame can be told to
be (no constant at the kind pointer and nothing in its schema to match on), fields recorded but never read.
Errors stop ``contract check`` (exit 2); warnings are printed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .model import Contract

#: the z of the 95 % Wilson interval the analysis judges rates with
Z95 = 1.959963984540054

#: x-readiness fields that are recorded in the run but no probe judges (yet)
RECORDED_ONLY = {"limits.idleTimeout": "limits", "limits.sendQueue": "limits", "limits.shutdown": "limits"}


@dataclass(frozen=True)
class Issue:
    """One finding about a contract: ``error`` or ``warning``, the JSON path, what is wrong."""

    severity: str
    path: str
    message: str

    @property
    def is_error(self) -> bool:
        """An error (the contract cannot be judged as written), not a warning."""
        return self.severity == "error"

    def line(self) -> str:
        return f"{self.severity}: {self.path}: {self.message}"


def wilson_lower(successes: int, n: int, z: float = Z95) -> float:
    """The lower bound of the Wilson score interval (pure)."""
    if n <= 0:
        return 0.0
    p = successes / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n)


def lint(contract: Contract) -> list[Issue]:
    """The errors and warnings of a valid contract, errors first."""
    out: list[Issue] = []
    by_probe: dict[str, list[str]] = {}
    for o in contract.operations:
        if o.action == "receive" and o.generated:
            by_probe.setdefault(o.probe_name, []).append(o.id)
    for name, ops in by_probe.items():
        if len(ops) > 1:
            out.append(
                Issue(
                    "error",
                    f"$.operations.{ops[1]}",
                    f"operations {', '.join(ops)} are all judged by probe "
                    f"{name!r}: only one of them would be tested (give each its own x-readiness.probe)",
                )
            )
    conc = contract.targets.get("concurrency") or {}
    level, rate = conc.get("level"), conc.get("minSuccessRate")
    if isinstance(level, int) and isinstance(rate, (int, float)):
        best = wilson_lower(level, level)
        if rate > best:
            out.append(
                Issue(
                    "error",
                    "$.x-readiness.targets.concurrency.minSuccessRate",
                    f"{rate} can never be shown at level {level}: even {level} of {level} connections succeeding "
                    f"gives a 95% lower bound of {best:.3f} (raise the level or lower the rate)",
                )
            )
    ptr = contract.kind_pointer
    for m in contract.messages.values():
        if m.by_schema and not any(m.schema.get(k) for k in ("required", "properties", "prefixItems", "items")):
            out.append(
                Issue(
                    "warning",
                    f"$.components.messages.{m.key}",
                    "no constant at the kind pointer " + (ptr or "(none)") + " and no properties: any object "
                    "matches it, so frames of other messages may be taken for it",
                )
            )
    for o in contract.receives():
        if o.reply and o.request is not None and o.request.example is None and o.generate:
            out.append(
                Issue("warning", f"$.operations.{o.id}", "no example for its request message: no probe judges it")
            )
    for field_path, block in RECORDED_ONLY.items():
        name = field_path.split(".", 1)[1]
        if block == "limits" and contract.limit(name) is not None:
            out.append(
                Issue("warning", f"$.x-readiness.{field_path}", "recorded in the run, but no probe judges it yet")
            )
    return sorted(out, key=lambda i: i.severity != "error")
