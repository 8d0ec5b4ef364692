"""Dropped sessions: how long sessions held idle lived, and whether the server closed them (pure).

Reads what ``resilience.sustained_sessions`` stored: one ``session_lifetime_s``
sample per session (its value in seconds, in the ``value_ms`` column) and, in
the probe record's ``observed``, which sessions the server closed and with
which close code (``drops``: ``[conn_index, close_code, lifetime_s]``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..outcomes import Outcome
from .tables import latest

PROBE = "resilience.sustained_sessions"
METRIC = "session_lifetime_s"
LIFETIME_COLUMNS = ["conn_index", "lifetime_s", "dropped", "close_code"]


def _sustained(probes: pd.DataFrame) -> tuple[pd.Series | None, dict[str, Any]]:
    """The latest execution of the probe and its parsed ``observed`` (empty when absent or unreadable)."""
    if probes.empty:
        return None, {}
    rows = latest(probes)
    rows = rows[rows["probe"] == PROBE]
    if rows.empty:
        return None, {}
    row = rows.iloc[-1]
    try:
        obs = json.loads(row["observed"]) if isinstance(row["observed"], str) else {}
    except ValueError:  # truncated by the recorder
        obs = {}
    return row, obs if isinstance(obs, dict) else {}


def session_lifetimes(samples: pd.DataFrame, probes: pd.DataFrame) -> pd.DataFrame:
    """One row per session the probe held: conn_index, lifetime_s, dropped (closed by the server), close_code.

    Sessions that could not be opened have no lifetime and are left out.
    """
    row, obs = _sustained(probes)
    if row is None or samples.empty:
        return pd.DataFrame(
            {
                c: pd.Series(dtype=t)
                for c, t in zip(LIFETIME_COLUMNS, ("int64", "float64", "boolean", "Int64"), strict=True)
            }
        )
    drops = {int(d[0]): d[1] for d in obs.get("drops", []) if isinstance(d, list) and len(d) >= 2}
    s = samples[(samples["probe_id"] == row["probe_id"]) & (samples["metric"] == METRIC) & samples["ok"].eq(True)]
    s = s[s["value_ms"].notna()].sort_values("conn_index")
    idx = s["conn_index"].astype("int64").to_numpy()
    return pd.DataFrame(
        {
            "conn_index": idx,
            "lifetime_s": s["value_ms"].astype("float64").to_numpy(),
            "dropped": pd.array([i in drops for i in idx], dtype="boolean"),
            "close_code": pd.array([drops.get(i) for i in idx], dtype="Int64"),
        }
    )


@dataclass(frozen=True)
class SessionDrops:
    """The dropped-sessions finding: how many, with which close, after how long."""

    sessions: int
    dropped: int
    close_code: int | None
    close_reason: str
    close_codes: dict[str, int]
    window_s: float
    lifetime_min_s: float
    lifetime_median_s: float
    lifetime_max_s: float

    def title(self) -> str:
        """The finding's headline, e.g. "The service closes sessions after about 3 s"."""
        m = self.lifetime_median_s
        if m < 0.1:
            return "The service closes sessions right after they open"
        return (
            f"The service closes sessions after about {m:.0f} s"
            if m >= 1.5
            else f"The service closes sessions after about {m:.1f} s"
        )

    def sentence(self) -> str:
        """Evidence in one paragraph: counts, close code and reason, lifetimes, the window."""
        codes = ", ".join(f"{c} ({k})" for c, k in sorted(self.close_codes.items()))
        return (
            f"{self.dropped} of {self.sessions} sessions held idle for {self.window_s:.1f} s were closed by the server "
            f"with close code {self.close_code} ({self.close_reason!r}); all close codes: {codes}. "
            f"They lived {self.lifetime_min_s:.2f}–{self.lifetime_max_s:.2f} s (median {self.lifetime_median_s:.2f} "
            "s). "
            "Clients that hold a session (dashboards, notifications, presence) must reconnect that often, "
            "and miss what is pushed meanwhile."
        )


def dropped_sessions(samples: pd.DataFrame, probes: pd.DataFrame) -> SessionDrops | None:
    """The finding when the sustained-sessions probe failed because the server closed sessions, else None."""
    row, obs = _sustained(probes)
    if row is None or row["outcome"] != Outcome.FAIL or row["reason"] != "session_dropped":
        return None
    life = session_lifetimes(samples, probes)
    dropped = life[life["dropped"].fillna(False)]["lifetime_s"].to_numpy()
    if dropped.size == 0:  # samples missing: fall back to the record's own summary
        summary = obs.get("drop_lifetime_s") or {}
        lo, med, hi = (float(summary.get(k, math.nan)) for k in ("min", "median", "max"))
    else:
        lo, med, hi = float(dropped.min()), float(np.median(dropped)), float(dropped.max())
    code = row["close_code"]
    return SessionDrops(
        sessions=int(obs.get("sessions", len(life))),
        dropped=int(obs.get("dropped", int(life["dropped"].fillna(False).sum()))),
        close_code=None if pd.isna(code) else int(code),
        close_reason="" if pd.isna(row["close_reason"]) else str(row["close_reason"]),
        close_codes={str(k): int(v) for k, v in (obs.get("close_codes") or {}).items()},
        window_s=float(obs.get("window_s", math.nan)),
        lifetime_min_s=lo,
        lifetime_median_s=med,
        lifetime_max_s=hi,
    )
