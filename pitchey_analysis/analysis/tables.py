"""The report's tables, computed from the probes and samples tables (pure)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..judged import MESSAGE_TYPES
from ..outcomes import FAILED, Outcome, Support
from .latency import latency_summary

MISSING_REASONS = frozenset({"no_answer", "no_push"})

AUTH_METHODS: dict[str, tuple[str, str | None]] = {
    "query parameter (?token=)": ("auth.query_token", "auth_connect_ms"),
    "Authorization: Bearer header": ("auth.header_token", "auth_connect_ms"),
    "post-connection {type:'auth'}": ("auth.post_connection", "auth_ms"),
}

CAPABILITIES: dict[str, tuple[str, ...]] = {
    "authenticated sessions": (
        "connection.authenticated_connect",
        "connection.user_types",
        "auth.query_token",
        "auth.header_token",
    ),
    "dashboard": ("messaging.subscribe", "messaging.dashboard_metrics", "messaging.dashboard_push"),
    "notifications": ("messaging.notification_delivery", "messaging.notification_read"),
    "presence updates": ("messaging.presence_update",),
    "messaging": ("messaging.send_message", "messaging.typing"),
    "public pitch channels": ("messaging.channel_broadcast",),
    "monitoring endpoints": ("readiness.health_live", "readiness.stats_admin"),
    "reconnection": ("resilience.reconnect",),
}

SECURITY_PROBES: dict[str, str] = {
    "TLS version and certificate": "readiness.tls",
    "security headers": "readiness.security_headers",
    "no stack traces in errors": "readiness.no_stack_traces",
    "no password in login answers": "connection.login_no_password",
    "stats need a token (401)": "readiness.stats_requires_auth",
    "stats admin only (403)": "readiness.stats_non_admin",
    "origin allow-list (403)": "readiness.origin_check",
    "message size limit": "readiness.size_limit",
    "invalid UTF-8 refused": "readiness.invalid_utf8",
    "rate limit": "readiness.rate_limit",
    "lockout per address": "resilience.lockout_per_address",
    "lockout not spoofable": "readiness.lockout_spoofing",
    "alg:none refused": "auth.alg_none",
    "forged tokens refused": "auth.forged_token",
    "expired tokens refused": "auth.expired_token",
    "garbage tokens refused": "auth.invalid_token",
    "wrong-audience tokens refused": "auth.wrong_audience",
}


#: The security checks that end in a close the contract declares: check -> the limit whose close it is.
_CHECK_LIMITS = {"message size limit": "messageSize", "invalid UTF-8 refused": "invalidUtf8", "rate limit": "rate"}


def security_label(check: str, declared: dict[str, Any] | None) -> str:
    """A security check's name with the codes the run's contract declares for it (``declared``: the contract's
    :func:`~pitchey_analysis.judged.declared_record`; None or nothing declared: the name alone, no code)."""
    declared = declared or {}
    limit = _CHECK_LIMITS.get(check)
    if limit is None:
        return check
    close = (declared.get("closes") or {}).get(f"limits.{limit}")
    error = declared.get("rate_error") if limit == "rate" else None
    if error and close is not None:
        return f"{check} (errors {error}, then close {close})"
    if error:
        return f"{check} (errors {error})"
    return f"{check} (close {close})" if close is not None else check


def _error_code(frame: object) -> object:
    """The error code a refusal's frame carries (any field named like ``authError``/``error``), or None."""
    if not isinstance(frame, dict):
        return None
    return next((v for k, v in frame.items() if "error" in k.lower() and v), None)


def security_outcome(outcome: str, reason: str, observed: object) -> str:
    """What happened to the attack, before the form of the answer (pure).

    Negative-token probes record ``security: accepted|refused``; the table says
    "ACCEPTED" when the attack succeeded, and for a refusal whether it had the
    contract's form.
    """
    import json

    sec, obs = None, {}
    if isinstance(observed, str) and observed.startswith("{"):
        try:
            obs = json.loads(observed)
            sec = obs.get("security")
        except ValueError:
            sec = None
    if reason == "token_accepted" or sec == "accepted":
        return "ACCEPTED (the attack succeeded)"
    if sec == "refused":
        if outcome == Outcome.PASS:
            return "refused, as the contract says"
        if reason == "wrong_answer" and not _error_code(obs.get("first_frame")):
            return "refused (no error code)"
        return f"refused, but not in the contract's form ({reason})"
    if outcome == Outcome.PASS:
        return "holds"
    if outcome == Outcome.SKIP:
        return f"not judged ({reason})"
    return f"fails ({reason})"


def latest(probes: pd.DataFrame) -> pd.DataFrame:
    """The last attempt of each probe."""
    if probes.empty:
        return probes
    return probes.sort_values(["probe", "attempt", "started_at"]).groupby("probe", sort=False).tail(1)


def _by_name(probes: pd.DataFrame) -> dict[str, pd.Series]:
    return {r["probe"]: r for _, r in latest(probes).iterrows()}


def _declared(r: pd.Series | None) -> bool:
    """Whether a probe's record is of something the run's contract declares (a skip not_in_contract is not: the
    row naming it would name another service's feature)."""
    return r is not None and not (r["outcome"] == Outcome.SKIP and r["reason"] == "not_in_contract")


def contract_conformance(manifest: dict[str, Any] | None) -> pd.DataFrame:
    """ "The service breaks its own contract": frames that did not match the run's contract, by message type
    and JSON path of the schema error (from the manifest's ``conformance``; empty when none or not recorded)."""
    conf = (manifest or {}).get("conformance") or {}
    rows = conf.get("by_type_and_path") or []
    return pd.DataFrame(rows, columns=["type", "path", "count"]).astype(
        {"type": "string", "path": "string", "count": "int64"}
    )


def message_type_support(probes: pd.DataFrame, rows: dict[str, str] | None = None) -> pd.DataFrame:
    """Message type, probe, support (full / partial / missing / not tested / error), reason, detail.

    ``rows`` maps each message type of the contract to the probe that judges it (default: Pitchey's).
    """
    by = _by_name(probes)
    rows_out = []
    for mtype, name in (rows or MESSAGE_TYPES).items():
        r = by.get(name)
        if r is None or r["outcome"] == Outcome.SKIP:
            support, reason, detail = (
                Support.NOT_TESTED,
                (r["reason"] if r is not None else "not run"),
                (r["detail"] if r is not None else ""),
            )
        elif r["outcome"] == Outcome.PASS:
            support, reason, detail = Support.FULL, r["reason"], r["detail"]
        elif r["outcome"] == Outcome.ERROR:
            support, reason, detail = Support.ERROR, r["reason"], r["detail"]
        else:
            support = Support.MISSING if r["reason"] in MISSING_REASONS else Support.PARTIAL
            reason, detail = r["reason"], r["detail"]
        rows_out.append({"message_type": mtype, "probe": name, "support": support, "reason": reason, "detail": detail})
    return pd.DataFrame(rows_out)


def auth_methods(probes: pd.DataFrame, samples: pd.DataFrame, declared: dict[str, str] | None = None) -> pd.DataFrame:
    """Method, status, median latency (ms) and its sample count.

    ``declared``: the carriers of a session's credential the run's contract declares (carrier -> words, from
    :func:`~pitchey_analysis.judged.declared_record`), one row each, judged by the probes of that carrier
    (:data:`~pitchey_analysis.judged.AUTH_CARRIERS`); None (a run recorded before): the catalogue's methods."""
    if declared is not None:
        return _declared_auth_methods(probes, samples, declared)
    by = _by_name(probes)
    rows = []
    for method, (name, metric) in AUTH_METHODS.items():
        r = by.get(name)
        if r is not None and not _declared(r):
            continue  # a method the run's contract does not declare
        status = (
            "not tested"
            if r is None or r["outcome"] == Outcome.SKIP
            else ("working" if r["outcome"] == Outcome.PASS else f"failing ({r['reason']})")
        )
        lat, n = float("nan"), 0
        if r is not None and metric:
            v = samples[
                (samples["probe_id"] == r["probe_id"]) & (samples["metric"] == metric) & samples["ok"].eq(True)
            ]["value_ms"]
            n = len(v)
            lat = float(v.median()) if n else float("nan")
        rows.append(
            {"method": _method_as_sent(method, r), "probe": name, "status": status, "latency_ms": lat, "samples": n}
        )
    return pd.DataFrame(rows, columns=["method", "probe", "status", "latency_ms", "samples"])


def _declared_auth_methods(probes: pd.DataFrame, samples: pd.DataFrame, declared: dict[str, str]) -> pd.DataFrame:
    """One row per declared carrier: working when every probe of it that ran passed, failing (with the first
    failing probe's reason) when one did not, not tested when none ran."""
    from ..judged import AUTH_CARRIERS

    by = _by_name(probes)
    rows = []
    for carrier, words in declared.items():
        names, metric = AUTH_CARRIERS[carrier][1:] if carrier in AUTH_CARRIERS else ((), None)
        ran = [by[n] for n in names if n in by and by[n]["outcome"] != Outcome.SKIP]
        bad = [r for r in ran if r["outcome"] != Outcome.PASS]
        status = "not tested" if not ran else f"failing ({bad[0]['reason']})" if bad else "working"
        lat, n = float("nan"), 0
        if metric:
            ids = {r["probe_id"] for r in ran}
            v = samples[samples["probe_id"].isin(ids) & (samples["metric"] == metric) & samples["ok"].eq(True)][
                "value_ms"
            ]
            n = len(v)
            lat = float(v.median()) if n else float("nan")
        shown = ", ".join(r["probe"] for r in ran) or ", ".join(names)
        rows.append(
            {
                "method": _method_as_sent(words, by.get(names[0]) if carrier == "header" and names else None),
                "probe": shown,
                "status": status,
                "latency_ms": lat,
                "samples": n,
            }
        )
    return pd.DataFrame(rows, columns=["method", "probe", "status", "latency_ms", "samples"])


def _method_as_sent(method: str, r: pd.Series | None) -> str:
    """The header method named as the probe sent it (its observed header and scheme: a raw token is no Bearer);
    runs recorded before the probe kept them keep the catalogue's name."""
    import json

    observed = r.get("observed") if r is not None else None
    if not isinstance(observed, str) or not observed.startswith("{"):
        return method
    try:
        obs = json.loads(observed)
    except ValueError:
        return method
    if not isinstance(obs, dict) or "scheme" not in obs or not isinstance(obs.get("header"), str):
        return method
    scheme = f"{obs['scheme']} " if obs["scheme"] else ""
    return f"{obs['header']}: {scheme}<token> header"


def connection_flow(samples: pd.DataFrame) -> pd.DataFrame:
    """The connection stages of sequential connects: count, p50, p95 (with intervals), mean share of the total."""
    stages = ["tcp_connect_ms", "tls_handshake_ms", "ws_upgrade_ms", "first_frame_ms"]
    seq = samples[(samples["concurrency"] == 1) & samples["metric"].isin(stages + ["connect_ms"])]
    summ = latency_summary(seq)
    if summ.empty:
        return pd.DataFrame(columns=["stage", "count", "mean", "p50", "p95", "p95_lo", "p95_hi", "share"])
    summ = summ.set_index("metric")
    total = sum(float(summ.loc[s, "mean"]) for s in stages if s in summ.index)
    rows = []
    for s in stages:
        if s not in summ.index:
            continue
        r = summ.loc[s]
        rows.append(
            {
                "stage": s.removesuffix("_ms"),
                "count": int(r["count"]),
                "mean": r["mean"],
                "p50": r["p50"],
                "p95": r["p95"],
                "p95_lo": r["p95_lo"],
                "p95_hi": r["p95_hi"],
                "share": r["mean"] / total if total else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def issues(probes: pd.DataFrame) -> pd.DataFrame:
    """Failures grouped by reason: reason, count, first seen, impact, probes, example."""
    bad = latest(probes)
    bad = bad[bad["outcome"].isin(FAILED)]
    if bad.empty:
        return pd.DataFrame(columns=["reason", "count", "first_seen", "impact", "probes", "example"])
    rows = []
    for reason, grp in bad.groupby("reason", sort=False):
        grp = grp.sort_values("started_at")
        first = grp.iloc[0]
        rows.append(
            {
                "reason": reason,
                "count": len(grp),
                "first_seen": first["started_at"],
                "impact": "critical" if bool(grp["critical"].fillna(False).any()) else "non-critical",
                "probes": ", ".join(grp["probe"]),
                "example": f"{first['probe']}: {first['detail']}",
            }
        )
    out = pd.DataFrame(rows)
    out["_crit"] = out["impact"] == "critical"
    return out.sort_values(["_crit", "count"], ascending=[False, False]).drop(columns="_crit").reset_index(drop=True)


def findings(probes: pd.DataFrame) -> pd.DataFrame:
    """Every failing or erroring probe: probe, category, critical, reason, expected, detail."""
    bad = latest(probes)
    bad = bad[bad["outcome"].isin(FAILED)]
    cols = ["probe", "category", "critical", "outcome", "reason", "expected", "detail"]
    return bad.sort_values(["critical", "category", "probe"], ascending=[False, True, True])[cols].reset_index(
        drop=True
    )


def capabilities(probes: pd.DataFrame) -> pd.DataFrame:
    """Capability, status (validated / failing / not tested), probes passed of probes run."""
    by = _by_name(probes)
    rows = []
    for cap, names in CAPABILITIES.items():
        if not any(_declared(by.get(n)) for n in names):
            continue  # a capability the run's contract does not have
        runs = [by[n] for n in names if n in by and by[n]["outcome"] != Outcome.SKIP]
        passed = sum(1 for r in runs if r["outcome"] == Outcome.PASS)
        status = "not tested" if not runs else ("validated" if passed == len(runs) else "failing")
        failing = [r["probe"] for r in runs if r["outcome"] != Outcome.PASS]
        rows.append(
            {
                "capability": cap,
                "status": status,
                "passed": passed,
                "judged": len(runs),
                "failing_probes": ", ".join(failing),
            }
        )
    return pd.DataFrame(rows, columns=["capability", "status", "passed", "judged", "failing_probes"])


def security_checks(probes: pd.DataFrame, declared: dict[str, Any] | None = None) -> pd.DataFrame:
    """Security-relevant probes: check (named with the codes ``declared`` by the run's contract), outcome, reason,
    detail."""
    by = _by_name(probes)
    rows = []
    for bare, name in SECURITY_PROBES.items():
        check = security_label(bare, declared)
        r = by.get(name)
        if r is not None and not _declared(r):
            continue  # a check the run's contract gives nothing to test by
        if r is None:
            rows.append(
                {"check": check, "probe": name, "outcome": "not run", "security": "not run", "reason": "", "detail": ""}
            )
        else:
            sec = security_outcome(r["outcome"], r["reason"], r.get("observed"))
            # a token refused without the contract's error code is a risk, not an accepted token: the outcome says so
            shown = sec if sec.startswith("refused (") else r["outcome"]
            rows.append(
                {
                    "check": check,
                    "probe": name,
                    "outcome": shown,
                    "security": sec,
                    "reason": r["reason"],
                    "detail": r["detail"],
                }
            )
    return pd.DataFrame(rows, columns=["check", "probe", "outcome", "security", "reason", "detail"])


def concurrency_table(samples: pd.DataFrame, probes: pd.DataFrame) -> pd.DataFrame:
    """Per ramp level: connections, success rate (Wilson), connect and round-trip p50/p95."""
    from .stats import percentiles, wilson

    ids = set(probes.loc[probes["probe"] == "performance.concurrency_ramp", "probe_id"])
    ramp = samples[samples["probe_id"].isin(ids)]
    rows = []
    for level, grp in ramp.groupby("concurrency"):
        rtt = grp[grp["metric"] == "rtt_ms"]
        con = grp[grp["metric"] == "connect_ms"]
        k, n = int(rtt["ok"].eq(True).sum()), len(rtt)
        iv = wilson(k, n)
        cp = percentiles(con.loc[con["ok"] == True, "value_ms"].to_numpy(), (0.5, 0.95))  # noqa: E712
        rp = percentiles(rtt.loc[rtt["ok"] == True, "value_ms"].to_numpy(), (0.5, 0.95))  # noqa: E712
        rows.append(
            {
                "level": int(level),
                "connections": n,
                "answered": k,
                "success_rate": iv.estimate,
                "lo": iv.lo,
                "hi": iv.hi,
                "error_rate": 1 - iv.estimate if n else float("nan"),
                "connect_p50": cp[0.5].estimate,
                "connect_p95": cp[0.95].estimate,
                "rtt_p50": rp[0.5].estimate,
                "rtt_p95": rp[0.95].estimate,
            }
        )
    return pd.DataFrame(rows)
