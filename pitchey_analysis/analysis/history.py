"""Every run of a target over time: verdict, score, pass rate per category and p95 per metric, with intervals (pure).

Runs of the embedded reference server listen on a new port each time, so a run's
target key is its URL, or ``embedded:<profile>`` when the target was ours. A trend
follows one target judged against one contract (:func:`trend_key`): a score under
another contract, or of another profile, is another series, never a point of this one.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..judged import targets_from_manifest
from ..outcomes import Completeness
from .latency import latency_summary
from .rates import category_rates, overall_score
from .slo import slo_checks
from .tables import latest
from .verdict import verdict


def target_key(manifest: dict[str, Any]) -> str:
    """The target a run judged, comparable across runs (URL, or ``embedded:<profile>``)."""
    t = manifest.get("target") or {}
    if t.get("embedded"):
        prof = ((manifest.get("server") or {}).get("profile") or {}).get("name") or "?"
        return f"embedded:{prof}"
    return str(t.get("ws_url", "?"))


def contract_id(manifest: dict[str, Any]) -> str:
    """The contract a run was judged against: its sha256, else its name (older runs: the built-in pitchey)."""
    c = manifest.get("contract")
    if isinstance(c, dict):
        return str(c.get("sha256") or c.get("name") or "pitchey")
    return "pitchey"


def contract_label(manifest: dict[str, Any]) -> str:
    """The contract as a reader tells it apart: its name, and the start of its sha256 when recorded."""
    c = manifest.get("contract")
    if isinstance(c, dict):
        name = str(c.get("name") or c.get("title") or "pitchey")
        return f"{name} {str(c['sha256'])[:8]}" if c.get("sha256") else name
    return str(c) if c else "pitchey"


def trend_key(manifest: dict[str, Any]) -> str:
    """The trend a run belongs to: runs are compared over time only with runs of the same target and contract."""
    return f"{target_key(manifest)} · contract {contract_label(manifest)}"


def trends(h: dict[str, pd.DataFrame]) -> list[tuple[str, dict[str, pd.DataFrame]]]:
    """``h`` split into one history per (target, contract), in the order each trend first appears."""
    out = []
    for key in h["runs"]["trend"].drop_duplicates():
        ids = set(h["runs"].loc[h["runs"]["trend"] == key, "run_id"])
        out.append((str(key), {name: df[df["run_id"].isin(ids)].reset_index(drop=True) for name, df in h.items()}))
    return out


def history(
    runs: list[Any], target: str | None = None, metrics: tuple[str, ...] = ("connect_ms", "rtt_ms", "tls_handshake_ms")
) -> dict[str, pd.DataFrame]:
    """Tables of the runs' trend, oldest first.

    Args:
        runs: loaded runs (``load_run``).
        target: keep runs whose target key contains this text (None: all).
        metrics: the latency metrics whose p95 is followed.

    Returns:
        ``runs`` (run_id, started, target, contract, trend, suite, verdict, score), ``categories`` (run_id, started,
        category, passed, judged, rate, lo, hi) and ``p95`` (run_id, started, metric, count, p95, lo, hi).
    """
    rows, cats, lat = [], [], []
    for r in sorted(runs, key=lambda r: str(r.manifest.get("started_at", r.run_id))):
        key = target_key(r.manifest)
        if target and target not in key:
            continue
        started = pd.Timestamp(r.manifest.get("started_at")) if r.manifest.get("started_at") else pd.NaT
        probes = latest(r.probes)
        rates = category_rates(probes)
        slo = slo_checks(
            r.samples,
            r.probes,
            tls=bool((r.manifest.get("target") or {}).get("tls")),
            targets=targets_from_manifest(r.manifest),
        )
        status = Completeness.DEADLINE if r.manifest.get("deadline_reached") else r.manifest.get("status")
        v = verdict(
            probes, slo, plan=r.manifest.get("plan"), status=status, spoken=r.manifest.get("contract_spoken")
        )  # as the run's own report says
        rows.append(
            {
                "run_id": r.run_id,
                "started": started,
                "target": key,
                "contract": contract_label(r.manifest),
                "contract_id": contract_id(r.manifest),
                "trend": trend_key(r.manifest),
                "suite": (r.manifest.get("suite") or {}).get("name"),
                "verdict": v.verdict,
                "score": overall_score(rates),
            }
        )
        for c in rates.itertuples():
            cats.append(
                {
                    "run_id": r.run_id,
                    "started": started,
                    "category": c.category,
                    "passed": c.passed,
                    "judged": c.judged,
                    "rate": c.rate,
                    "lo": c.lo,
                    "hi": c.hi,
                }
            )
        summ = latency_summary(r.samples[r.samples["concurrency"] == 1])
        for m in summ[summ["metric"].isin(metrics)].itertuples():
            lat.append(
                {
                    "run_id": r.run_id,
                    "started": started,
                    "metric": m.metric,
                    "count": m.count,
                    "p95": m.p95,
                    "lo": m.p95_lo,
                    "hi": m.p95_hi,
                }
            )
    return {
        "runs": pd.DataFrame(
            rows,
            columns=["run_id", "started", "target", "contract", "contract_id", "trend", "suite", "verdict", "score"],
        ),
        "categories": pd.DataFrame(
            cats, columns=["run_id", "started", "category", "passed", "judged", "rate", "lo", "hi"]
        ),
        "p95": pd.DataFrame(lat, columns=["run_id", "started", "metric", "count", "p95", "lo", "hi"]),
    }
