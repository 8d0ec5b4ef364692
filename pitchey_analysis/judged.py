"""What judges a run, resolved when it starts and written into its manifest (pure; no pandas, so that the suite
writes its plan without importing the analysis): the service-level targets and the message-type table.

The analysis reads both back from the manifest (``targets_from_manifest``, ``message_type_rows``), never from the
code of the day.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from .exceptions import UsageError

#: Which probe judges which message type of the Pitchey contract, as runs recorded before their manifests kept
#: their own table were reported: frozen data beside the contract (``contracts/pitchey.legacy-message-types.json``;
#: read as it was then: never edit; new rows belong in the contract).
MESSAGE_TYPES: dict[str, str] = json.loads(
    (Path(__file__).resolve().parent / "contracts" / "pitchey.legacy-message-types.json").read_text(encoding="utf-8"))["rows"]

@dataclass(frozen=True)
class Target:
    """One service-level target."""

    name: str
    metric: str
    judged_on: str
    threshold: float
    q: float = 0.95
    probe: str | None = None  # probe whose samples are judged
    concurrency: int | None = None
    tls_only: bool = False
    kind: str = "percentile"  # or "success_rate"
    #: a metric judged instead when the run has samples of it (authenticated round trips)
    prefer: str | None = None
    prefer_judged_on: str = ""

    def label(self) -> str:
        """A human label of the target."""
        if self.kind == "success_rate":
            return f"Wilson lower bound ≥ {self.threshold:.0%} at level {self.concurrency}"
        return f"p{int(self.q * 100)} < {self.threshold:g} ms"


#: The targets of runs recorded before their manifests kept them (read as they were then: never edit).
LEGACY_TARGETS: tuple[Target, ...] = (
    Target("connection time p95", "connect_ms", "sequential connects, no other load", 100.0, probe="performance.connect_time"),
    Target("message round trip p95", "rtt_ms", "round trips on idle anonymous connections over several sessions", 50.0,
           probe="performance.round_trip", prefer="auth_rtt_ms",
           prefer_judged_on="round trips on idle authenticated connections over several sessions"),
    Target("TLS handshake p95", "tls_handshake_ms", "wss:// targets only", 200.0, tls_only=True),
    Target("concurrency", "rtt_ms", "all connections of the level open at once and answering a ping", 0.95,
           probe="performance.concurrency_ramp", concurrency=100, kind="success_rate"),
)
#: The targets a run is judged against unless its contract says otherwise; the suite writes the resolved
#: targets into each run's manifest when it starts (:func:`target_records`), and the analysis reads them there.
DEFAULT_TARGETS: tuple[Target, ...] = LEGACY_TARGETS


def targets_with(overrides: dict[str, float] | None = None) -> tuple[Target, ...]:
    """The default targets with thresholds overridden by name."""
    overrides = overrides or {}
    unknown = set(overrides) - {t.name for t in DEFAULT_TARGETS}
    if unknown:
        raise UsageError(f"unknown target(s): {sorted(unknown)}")
    return tuple(replace(t, threshold=overrides.get(t.name, t.threshold)) for t in DEFAULT_TARGETS)


#: The contract's ``x-readiness.targets`` fields and the targets they set.
CONTRACT_TARGETS = {"connectP95Ms": "connection time p95", "roundTripP95Ms": "message round trip p95",
                    "tlsHandshakeP95Ms": "TLS handshake p95"}


def _over(declared: dict[str, Any] | None) -> dict[str, float]:
    declared = declared or {}
    over = {CONTRACT_TARGETS[k]: float(v) for k, v in declared.items() if k in CONTRACT_TARGETS}
    rate = (declared.get("concurrency") or {}).get("minSuccessRate")
    if rate is not None:
        over["concurrency"] = float(rate)
    return over


def targets_for_contract(declared: dict[str, Any] | None) -> tuple[Target, ...]:
    """Today's targets with a contract's ``x-readiness.targets`` over them (what a new run records; pure)."""
    return targets_with(_over(declared))


def target_records(targets: tuple[Target, ...]) -> list[dict[str, Any]]:
    """Targets as the manifest keeps them (plain dicts)."""
    return [asdict(t) for t in targets]


_TARGET_FIELDS = frozenset(f.name for f in fields(Target))


def targets_from_manifest(manifest: dict[str, Any] | None) -> tuple[Target, ...]:
    """The targets a run was judged against, from its manifest, never from today's code (pure): the
    resolved ``targets`` the suite wrote when the run started; a run recorded before that, its
    contract's ``x-readiness.targets`` over :data:`LEGACY_TARGETS`."""
    manifest = manifest or {}
    recorded = manifest.get("targets")
    if isinstance(recorded, list) and recorded:
        return tuple(Target(**{k: v for k, v in d.items() if k in _TARGET_FIELDS}) for d in recorded)
    over = _over((manifest.get("contract") or {}).get("targets"))
    return tuple(replace(t, threshold=over.get(t.name, t.threshold)) for t in LEGACY_TARGETS)


def message_type_rows(manifest: dict[str, Any] | None) -> dict[str, str]:
    """The message-type rows of a run (pure): the table the suite resolved when the run started (``message_table``);
    for a run recorded before it:

    The rows its contract declared (stored in the manifest when the run started: the first frame and one
    per message clients send), then the rows of :data:`MESSAGE_TYPES` for what no operation covers (pushes)
    whose probe the run's plan did not skip as ``not_in_contract``, then the error answers as the contract
    spells them (``error_types``; runs recorded before it get Pitchey's labels). A run recorded before
    contracts were stored gets :data:`MESSAGE_TYPES`.
    """
    manifest = manifest or {}
    contract = manifest.get("contract") or {}
    if contract.get("message_table"):
        return dict(contract["message_table"])  # resolved when the run started
    rows = contract.get("message_types") or None
    if not rows:
        return MESSAGE_TYPES
    out = dict(rows)
    errors = dict(contract.get("error_types") or {})  # the error answers in the contract's own spelling
    covered = set(out.values()) | set(errors.values())
    plan = manifest.get("plan")
    skipped = {p.get("probe") for p in plan or [] if str(p.get("skip") or "").startswith("not_in_contract")}
    # a row of the shipped protocol only for a probe the run planned (a plan leaves out another contract's
    # request/answer probes altogether)
    planned = {p.get("probe") for p in plan} if plan else None
    for label, probe in MESSAGE_TYPES.items():
        if probe not in covered and probe not in skipped and (planned is None or probe in planned):
            out[label] = probe
            covered.add(probe)
    out.update({label: probe for label, probe in errors.items() if probe not in skipped})
    return out


