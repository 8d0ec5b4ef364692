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
    (Path(__file__).resolve().parent / "contracts" / "pitchey.legacy-message-types.json").read_text(encoding="utf-8")
)["rows"]
#: The error-answer rows of :data:`MESSAGE_TYPES` (Pitchey's error codes): a row of a run only where its contract
#: spelled the same code.
LEGACY_ERROR_LABELS: frozenset[str] = frozenset(label for label in MESSAGE_TYPES if label.startswith("error "))


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
    Target(
        "connection time p95",
        "connect_ms",
        "sequential connects, no other load",
        100.0,
        probe="performance.connect_time",
    ),
    Target(
        "message round trip p95",
        "rtt_ms",
        "round trips on idle anonymous connections over several sessions",
        50.0,
        probe="performance.round_trip",
        prefer="auth_rtt_ms",
        prefer_judged_on="round trips on idle authenticated connections over several sessions",
    ),
    Target("TLS handshake p95", "tls_handshake_ms", "wss:// targets only", 200.0, tls_only=True),
    Target(
        "concurrency",
        "rtt_ms",
        "all connections of the level open at once and answering a ping",
        0.95,
        probe="performance.concurrency_ramp",
        concurrency=100,
        kind="success_rate",
    ),
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
CONTRACT_TARGETS = {
    "connectP95Ms": "connection time p95",
    "roundTripP95Ms": "message round trip p95",
    "tlsHandshakeP95Ms": "TLS handshake p95",
}


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
    # the error answers in the contract's own spelling; a run that recorded them (even none) never gets Pitchey's
    errors = dict(contract.get("error_types") or {})
    foreign = LEGACY_ERROR_LABELS - set(errors) if "error_types" in contract else frozenset()
    if contract.get("message_table"):  # resolved when the run started (older runs resolved Pitchey's error rows in)
        return {label: probe for label, probe in contract["message_table"].items() if label not in foreign}
    rows = contract.get("message_types") or None
    if not rows:
        return MESSAGE_TYPES
    out = dict(rows)
    covered = set(out.values()) | set(errors.values())
    plan = manifest.get("plan")
    skipped = {p.get("probe") for p in plan or [] if str(p.get("skip") or "").startswith("not_in_contract")}
    # a row of the shipped protocol only for a probe the run planned (a plan leaves out another contract's
    # request/answer probes altogether)
    planned = {p.get("probe") for p in plan} if plan else None
    for label, probe in MESSAGE_TYPES.items():
        if (
            label not in foreign
            and probe not in covered
            and probe not in skipped
            and (planned is None or probe in planned)
        ):
            out[label] = probe
            covered.add(probe)
    out.update({label: probe for label, probe in errors.items() if probe not in skipped})
    return out


#: The bad input a contract may declare a close for (``x-readiness.closes``), the probe that judges it and its words.
BAD_INPUT_CLOSES: tuple[tuple[str, str, str], ...] = (
    ("invalidJson", "messaging.invalid_json", "input that is not JSON"),
    ("untyped", "messaging.missing_type", "a message without a kind"),
    ("unknownType", "messaging.unknown_type", "a message of an unknown kind"),
)

#: The probes that judge a session authenticated by each carrier a contract may declare (``x-readiness.upgrade``):
#: carrier -> (its words, the probes, the latency metric of its samples or None).
AUTH_CARRIERS: dict[str, tuple[str, tuple[str, ...], str | None]] = {
    "query": ("query parameter (?{query}=)", ("auth.query_token",), "auth_connect_ms"),
    "header": ("{header}: {scheme} <token> header", ("auth.header_token",), "auth_connect_ms"),
    "cookie": ("cookie {cookie}", ("connection.authenticated_connect", "connection.user_types"), None),
    "subprotocol": ("subprotocol {subprotocol}", ("connection.authenticated_connect", "connection.user_types"), None),
    "message": ("post-connection message {message}", ("auth.post_connection",), "auth_ms"),
    "firstMessage": (
        "first message {first_message}",
        ("connection.user_types", "connection.authenticated_connect"),
        None,
    ),
}


def _first_message_op(contract: Any) -> Any:
    """The receive operation of the contract's first-message authentication (its answer is the declared success),
    or None."""
    up = contract.upgrade
    fm = (up.first_message if up is not None else None) or {}
    success = fm.get("success")
    if not success:
        return None
    return next(
        (o for o in contract.receives() if o.answer is not None and success in (o.answer.key, o.answer.type)), None
    )


def declared_record(contract: Any) -> dict[str, Any]:
    """What the contract declares that the report names in its own terms (pure): the close code of each input or
    limit (``closes``: what -> code), the error code of a rate-limited message (``rate_error``) and the carriers of
    a session's credential (``carriers``: carrier -> words), as the manifest keeps them."""
    closes: dict[str, int] = {k: int(v) for k, v in (contract.closes or {}).items() if isinstance(v, int)}
    for name, lim in (contract.limits or {}).items():
        if getattr(lim, "close", None) is not None:
            closes[f"limits.{name}"] = int(lim.close)
    carriers: dict[str, str] = {}
    up = contract.upgrade
    if up is not None:
        op = _first_message_op(contract)
        values = {
            "query": up.query,
            "header": up.header,
            "scheme": up.scheme or "",
            "cookie": up.cookie,
            "subprotocol": up.subprotocol,
            "message": up.message,
            "first_message": f"({op.label()})" if op is not None else "",
        }
        for carrier, (words, _probes, _metric) in AUTH_CARRIERS.items():
            attr = "first_message" if carrier == "firstMessage" else carrier
            if getattr(up, attr, None):
                carriers[carrier] = " ".join(words.format(**values).replace("  ", " ").split())
    rate = (contract.errors or {}).get("rateLimited")
    return {"closes": closes, "rate_error": str(rate) if rate else None, "carriers": carriers}


def contract_message_table(contract: Any, planned: set[str] | None = None) -> dict[str, str]:
    """The message-type table of a run judged by ``contract``, from the contract only (pure): its first frame and
    the messages clients send (the first-message authentication judged by the probes of authenticated sessions),
    the pushes of its channels, the error answers it names a code for, and the closes it declares for bad input.

    ``planned``: the probes the run's plan asks (not skipped ``not_in_contract``); a push, error or close row of a
    probe not asked is left out (the contract's receive operations keep theirs: a row that says "not run")."""
    rows = dict(contract.message_type_rows())
    op = _first_message_op(contract)
    if op is not None and op.label() in rows and (planned is None or rows[op.label()] not in planned):
        rows[op.label()] = AUTH_CARRIERS["firstMessage"][1][0]
    for probe, channel, how in (
        ("messaging.notification_delivery", contract.user_push_channel(), "push"),
        ("messaging.dashboard_push", contract.push_channel(), "push"),
        ("messaging.channel_broadcast", contract.broadcast_channel(), "broadcast"),
    ):
        ch = channel[0] if isinstance(channel, tuple) else channel
        if ch is not None and (planned is None or probe in planned) and probe not in rows.values():
            rows[f"{' / '.join(ch.pushes) or ch.name} ({how})"] = probe
    rows.update({label: probe for label, probe in contract.error_rows().items() if planned is None or probe in planned})
    for key, probe, words in BAD_INPUT_CLOSES:
        code = (contract.closes or {}).get(key)
        if code is not None and probe not in rows.values() and (planned is None or probe in planned):
            rows[f"{words} → close {code}"] = probe
    return rows
