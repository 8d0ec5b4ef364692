"""Findings: one per defect, from the failing probes and missed targets (pure).

The text (title, impact, remediation) comes from the finding catalogue
(:mod:`pitchey_analysis.findings`); what the contract expects is the
probe's recorded ``expected``; the evidence is what the run observed.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from ..findings import GENERIC, text_for
from ..outcomes import FAILED, Outcome, TargetStatus
from .tables import latest

COLUMNS = [
    "finding",
    "severity",
    "title",
    "probes",
    "evidence",
    "close_codes",
    "expects",
    "impact",
    "remediation",
    "specific",
]
SEVERITY_ORDER = {"blocking": 0, "risk": 1}


def shorten(s: str, n: int) -> str:
    """``s`` cut to at most ``n`` characters at a word boundary, with an ellipsis: a reader never sees half a word
    ("use…" for "user_not_found"). A single word longer than ``n`` is cut where it must be."""
    if len(s) <= n:
        return s
    head = s[: n - 1]
    cut = max(head.rfind(" "), head.rfind(","), head.rfind(";"))
    if cut >= n // 2:
        head = head[:cut]
    return head.rstrip(" ,;:") + "…"


def _short(v: object, n: int = 160) -> str:
    s = "" if v is None or v is pd.NA or (isinstance(v, float) and v != v) else str(v)
    return shorten(s, n)


def _evidence(r: pd.Series) -> str:
    """One line: what the probe saw (detail, then the observed answer when it adds something)."""
    line = f"{r['probe']}: {_short(r['detail'], 140)}"
    obs = r.get("observed")
    if isinstance(obs, str) and obs:
        try:
            parsed = json.loads(obs)
            obs = json.dumps(
                parsed.get("answer", parsed) if isinstance(parsed, dict) else parsed, separators=(", ", ": ")
            )
        except ValueError:
            pass
        if obs not in ("null", "{}", "[]"):
            line += f" — observed {_short(obs, 90)}"
    return line


def defect_findings(probes: pd.DataFrame, slo: pd.DataFrame | None = None, *, pitchey: bool = True) -> pd.DataFrame:
    """One row per defect: severity (blocking / risk), title, probes, evidence, close codes, expects, impact,
    remediation.

    Failing or erroring probes whose catalogue entries share a group become one
    finding; a critical probe makes its finding blocking. A missed service-level
    target is a blocking finding of its own.
    """
    bad = latest(probes)
    bad = bad[bad["outcome"].isin(FAILED)].sort_values(["category", "probe"], kind="stable")
    merged: dict[str, dict[str, Any]] = {}
    for _, r in bad.iterrows():
        text, specific = text_for(str(r["probe"]), str(r["reason"]), pitchey=pitchey)
        key = text.get("group") or f"{r['probe']}:{r['reason']}"
        f = merged.setdefault(
            key,
            {
                "title": text["title"],
                "impact": text["impact"],
                "remediation": text["remediation"],
                "rows": [],
                "specific": specific,
            },
        )
        f["rows"].append(r)
    rows = []
    for f in merged.values():
        grp = pd.DataFrame(f["rows"])
        critical = bool(grp["critical"].fillna(False).astype(bool).any())
        codes = sorted({int(c) for c in grp["close_code"].dropna()})
        expects = "; ".join(
            dict.fromkeys(
                f"{p}: {e}" if len(grp) > 1 else str(e) for p, e in zip(grp["probe"], grp["expected"], strict=True)
            )
        )
        rows.append(
            {
                "severity": "blocking" if critical else "risk",
                "title": f["title"],
                "probes": ", ".join(grp["probe"]),
                "evidence": "\n".join(_evidence(r) for _, r in grp.iterrows()),
                "close_codes": ", ".join(map(str, codes)),
                "expects": expects,
                "impact": f["impact"],
                "remediation": f["remediation"],
                "specific": f["specific"],
            }
        )
    if slo is not None and not slo.empty:
        for _, t in slo[slo["status"] == TargetStatus.MISSED].iterrows():
            g = GENERIC["target_missed"]
            rows.append(
                {
                    "severity": "blocking",
                    "title": g["title"].format(probe=f"The {t['target']} target"),
                    "probes": "",
                    "evidence": f"{t['target']}: observed {t['observed']:.1f} ms [{t['lo']:.1f}–{t['hi']:.1f}], goal "
                    f"{t['goal']}",
                    "close_codes": "",
                    "expects": f"{t['target']} {t['goal']} ({t['judged_on']})",
                    "impact": g["impact"],
                    "remediation": g["remediation"],
                    "specific": False,
                }
            )
    out = pd.DataFrame(rows, columns=[c for c in COLUMNS if c != "finding"])
    out = out.sort_values("severity", key=lambda s: s.map(SEVERITY_ORDER), kind="stable").reset_index(drop=True)
    out.insert(0, "finding", [f"F{i + 1}" for i in range(len(out))])
    return out


def all_outcomes(probes: pd.DataFrame, *, pitchey: bool = True) -> pd.DataFrame:
    """Every probe's last attempt: category, probe, critical, outcome, one-line evidence (the report's appendix).

    With ``pitchey`` False (another contract judged the run), the probes of features that contract does not have
    (skipped ``not_in_contract``) are one line per category with their count, not their names: those name the
    Pitchey protocol's features, not the service's.
    """
    p = latest(probes)
    cols = ["category", "probe", "critical", "outcome", "evidence"]
    if p.empty:
        return pd.DataFrame(columns=cols)
    if not pitchey:
        absent = (p["outcome"] == Outcome.SKIP) & (p["reason"] == "not_in_contract")
        counts = p[absent].groupby("category", sort=False).size()
        p = p[~absent]
        extra = pd.DataFrame(
            [
                {
                    "category": c,
                    "probe": f"({n} probes of features the contract does not declare)",
                    "critical": False,
                    "outcome": Outcome.SKIP,
                    "reason": "not_in_contract",
                    "detail": "not planned: the contract does not declare what they test",
                    "started_at": pd.NaT,
                }
                for c, n in counts.items()
            ]
        )
        p = pd.concat([p, extra], ignore_index=True) if len(extra) else p
    out = p.assign(
        evidence=[
            _short(d, 150) if o == Outcome.PASS else f"{r}: {_short(d, 140)}"
            for o, r, d in zip(p["outcome"], p["reason"], p["detail"], strict=True)
        ]
    )
    order = {c: i for i, c in enumerate(dict.fromkeys(probes["category"]))}
    out = out.sort_values(
        ["category", "started_at"], key=lambda s: s.map(order) if s.name == "category" else s, kind="stable"
    )
    return out[cols].reset_index(drop=True)


#: RFC 6455 §7.4.1 close codes (and the ones the suite provokes on purpose).
CLOSE_MEANINGS = {
    1000: "normal closure",
    1001: "going away",
    1002: "protocol error",
    1003: "unsupported data",
    1005: "no status code (a close frame without a code)",
    1006: "abnormal closure: the connection dropped without a close frame",
    1007: "invalid payload data (e.g. invalid UTF-8)",
    1008: "policy violation (rate limit, lockout)",
    1009: "message too big",
    1011: "internal server error",
    1012: "service restart",
    1013: "try again later",
}


#: Closes some probes provoke on purpose (the probe then judges them).
PROVOKED = {
    ("resilience.reconnect", 1006),
    ("readiness.size_limit", 1009),
    ("readiness.invalid_utf8", 1007),
    ("readiness.rate_limit", 1008),
    ("readiness.lockout_spoofing", 1008),
    ("resilience.lockout_per_address", 1008),
}


#: What each probe provokes a declared close with (the keys of the contract's declared closes it may end in).
PROVOKES: dict[str, tuple[str, ...]] = {
    "readiness.size_limit": ("limits.messageSize",),
    "readiness.invalid_utf8": ("limits.invalidUtf8",),
    "readiness.rate_limit": ("limits.rate",),
    "readiness.control_frame_flood": ("limits.rate",),
    "readiness.lockout_spoofing": ("limits.lockout",),
    "resilience.lockout_per_address": ("limits.lockout",),
    "messaging.invalid_json": ("invalidJson",),
    "messaging.missing_type": ("untyped",),
    "messaging.unknown_type": ("unknownType",),
    "resilience.invalid_then_working": ("invalidJson", "untyped", "binary"),
}


def _close_code(value: object) -> int | None:
    """A close code as an int (a frame's payload starts with it; a probe's column holds it), or None."""
    try:
        return int(str(value).split(" ")[0]) if value is not None and not pd.isna(value) else None
    except (TypeError, ValueError):
        return None


def close_codes(frames: pd.DataFrame, probes: pd.DataFrame, declared: dict[str, int] | None = None) -> pd.DataFrame:
    """Every close code the run observed: the close frames the server sent and the close each probe recorded
    (a probe may keep no frame of its session), with count, meaning, whether the run's contract declares it
    (``declared``: what -> code, from its :func:`~pitchey_analysis.judged.declared_record`; None: not known) and the
    probes whose sessions saw it (pure)."""
    names = probes.drop_duplicates("probe_id").set_index("probe_id")["probe"]
    closes = frames[(frames["type"] == "close") & (frames["direction"] == "in")]
    seen_by: dict[int, list[str]] = {}
    for pid, payload in zip(closes["probe_id"], closes["payload"], strict=True):
        code = _close_code(payload)
        if code is not None:
            seen_by.setdefault(code, []).append(str(names.get(pid, pid)))
    if "close_code" in probes.columns:  # the close a probe recorded, where none of its session's frames holds it
        for _, r in latest(probes).iterrows():
            code = _close_code(r["close_code"])
            if code is not None and r["probe"] not in seen_by.get(code, []):
                seen_by.setdefault(code, []).append(str(r["probe"]))
    whats: dict[int, list[str]] = {}
    for what, code in (declared or {}).items():
        whats.setdefault(int(code), []).append(what)
    rows = []
    for code in sorted(seen_by):
        seen = sorted(set(seen_by[code]))
        meaning = CLOSE_MEANINGS.get(code, "application-defined")
        provoked = all(
            (p, code) in PROVOKED or any(w in whats.get(code, ()) for w in PROVOKES.get(p, ())) for p in seen
        )
        if provoked:
            meaning += "; provoked on purpose by the probe"
        if declared is None:  # a run that kept no contract: nothing to tell
            status = "—"
        elif code in whats:
            status = "declared: " + ", ".join(whats[code])
        else:  # a standard code (RFC 6455 §7.4.1) needs no declaration to be understood
            status = "not declared" + (" (standard code)" if code < 3000 else "")
        rows.append(
            {
                "code": code,
                "count": len(seen_by[code]),
                "meaning": meaning,
                "contract": status,
                "probes": ", ".join(seen) if len(seen) <= 6 else f"{len(seen)} probes",
            }
        )
    return pd.DataFrame(rows, columns=["code", "count", "meaning", "contract", "probes"])
