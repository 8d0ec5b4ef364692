"""Service-level checks: target, observed, interval, samples, status (pure).

Status rules (DESIGN.md): a percentile target is **met** when the upper end of
its 95% interval is below the target, **missed** when the lower end is at or
above it, **not verified** otherwise (including too few samples). The
concurrency target is judged on the Wilson interval of the success rate at the
target level.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import TYPE_CHECKING, Any

import pandas as pd

from .stats import min_samples, percentiles, wilson

if TYPE_CHECKING:  # soak imports this module
    from .soak import Saturation


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
        raise ValueError(f"unknown target(s): {sorted(unknown)}")
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


def _probe_ids(probes: pd.DataFrame, name: str | None) -> set[str] | None:
    if name is None:
        return None
    return set(probes.loc[probes["probe"] == name, "probe_id"].dropna())


def slo_checks(samples: pd.DataFrame, probes: pd.DataFrame, *, tls: bool, targets: tuple[Target, ...] = DEFAULT_TARGETS,
               generator: Saturation | None = None) -> pd.DataFrame:
    """One row per target: target, threshold, observed, lo, hi, samples, needed, status, note.

    ``generator``: the load generator's saturation (:func:`.soak.generator_saturation`). When the generator was
    saturated for more than its allowed share of the run, every latency target is "not verified (generator
    saturated)": a client that cannot keep its schedule makes any service look slow.
    """
    rows = []
    for t in targets:
        if t.prefer and (samples["metric"] == t.prefer).any():
            t = replace(t, metric=t.prefer, judged_on=t.prefer_judged_on or t.judged_on)
        sel = samples[samples["metric"] == t.metric]
        ids = _probe_ids(probes, t.probe)
        if ids is not None:
            sel = sel[sel["probe_id"].isin(ids)]
        if t.concurrency is not None:
            sel = sel[sel["concurrency"] == t.concurrency]
        row = {"target": t.name, "goal": t.label(), "judged_on": t.judged_on, "threshold": t.threshold}
        if t.tls_only and not tls:
            rows.append({**row, "observed": math.nan, "lo": math.nan, "hi": math.nan, "samples": 0, "needed": 0,
                         "status": "not applicable", "note": "the target is not wss://"})
            continue
        if t.kind == "success_rate":
            n = len(sel)
            k = int((sel["ok"] == True).sum())  # noqa: E712
            iv = wilson(k, n)
            if n == 0:
                status, note = "not verified", f"level {t.concurrency} was not run"
            elif iv.lo >= t.threshold:
                status, note = "met", f"{k} of {n} connections answered"
            elif iv.hi < t.threshold:
                status, note = "missed", f"{k} of {n} connections answered"
            else:
                status, note = "not verified", f"{k} of {n}: interval straddles the target"
            rows.append({**row, "observed": iv.estimate, "lo": iv.lo, "hi": iv.hi, "samples": n, "needed": t.concurrency or 0,
                         "status": status, "note": note})
            continue
        values = sel.loc[(sel["ok"] == True) & sel["value_ms"].notna(), "value_ms"].to_numpy()  # noqa: E712
        iv = percentiles(values, (t.q,))[t.q]
        need = min_samples(t.q)
        if iv.n == 0:
            status, note = "not verified", "no samples"
        elif not math.isnan(iv.hi) and iv.hi < t.threshold:
            status, note = "met", "upper end of the interval below the target"
        elif not math.isnan(iv.lo) and iv.lo >= t.threshold:
            status, note = "missed", "lower end of the interval at or above the target"
        elif iv.n < need:
            status, note = "not verified", f"too few samples ({iv.n} < {need})"
        else:
            status, note = "not verified", "interval straddles the target"
        if generator is not None and generator.saturated and iv.n:
            status, note = "not verified", f"generator saturated: {generator.note()}"
        rows.append({**row, "observed": iv.estimate, "lo": iv.lo, "hi": iv.hi, "samples": iv.n, "needed": need,
                     "status": status, "note": note})
    return pd.DataFrame(rows)
