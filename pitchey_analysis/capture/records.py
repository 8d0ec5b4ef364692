"""The run dataset's tables: columns, meanings and dtypes, in one place.

Every observation is one record; records become DataFrames only through
:func:`frame_from_rows`, which applies the explicit dtypes below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..outcomes import Outcome

if TYPE_CHECKING:  # pandas loads where a frame is built: the load process writes records without it
    import pandas as pd

SCHEMA_VERSION = 1
OUTCOMES: tuple[str, ...] = tuple(Outcome)

#: table -> column -> (pandas dtype, meaning)
TABLES: dict[str, dict[str, tuple[str, str]]] = {
    "probes": {
        "run_id": ("string", "run identifier, YYYYMMDDTHHMMSSZ-<6 hex>"),
        "probe_id": ("string", "unique id of this execution of the probe"),
        "category": ("string", "connection | authentication | messaging | performance | readiness | resilience"),
        "probe": ("string", "stable probe name, e.g. auth.header_token"),
        "attempt": ("int64", "1 for the first execution, 2.. for repetitions"),
        "started_at": ("datetime64[ns, UTC]", "when the probe started (UTC)"),
        "duration_ms": ("float64", "wall time of the probe"),
        "outcome": ("string", "pass | fail | error | skip"),
        "reason": ("string", "stable reason code (ok, no_answer, wrong_answer, closed_1008, ...)"),
        "detail": ("string", "one human-readable sentence on what happened"),
        "expected": ("string", "what the probe requires of the target"),
        "observed": ("string", "what the target did (JSON text, redacted)"),
        "close_code": ("Int64", "WebSocket close code seen, when a connection closed"),
        "close_reason": ("string", "close reason text seen"),
        "critical": ("boolean", "whether a failure blocks production (see the probe catalogue)"),
    },
    "samples": {
        "run_id": ("category", "run identifier"),
        "probe_id": ("category", "the probe execution that took the sample"),
        "metric": (
            "category",
            "tcp_connect_ms, tls_handshake_ms, ws_upgrade_ms, first_frame_ms, connect_ms, auth_ms, rtt_ms, "
            "reconnect_ms",
        ),
        "value_ms": ("float64", "the measured time in milliseconds (NaN when ok is False)"),
        "t_offset_s": ("float64", "seconds from the run's start to when the measurement began"),
        "concurrency": (
            "int64",
            "our load while measuring: the connections a probe held open at once (the ramp's level), at least the "
            "run's probes running at once (1: measured with nothing else of ours running)",
        ),
        "conn_index": ("int64", "which connection of the level/session took it"),
        "ok": ("boolean", "whether the measured operation succeeded"),
    },
    "frames": {
        "run_id": ("string", "run identifier"),
        "probe_id": ("string", "the probe execution whose connection carried the frame"),
        "conn_id": ("string", "connection id within the probe"),
        "direction": ("string", "in (server to client) | out (client to server)"),
        "t_ms": ("float64", "milliseconds since the connection opened"),
        "type": ("string", "JSON 'type' of the frame, or ping/pong/close/binary/invalid"),
        "size_bytes": ("int64", "payload size in bytes"),
        "payload": ("string", "payload text, redacted and truncated to 512 characters"),
    },
}


def probe_record(
    *,
    probe_id: str,
    category: str,
    probe: str,
    attempt: int,
    started_at: str,
    duration_ms: float,
    outcome: str,
    reason: str,
    detail: str,
    expected: str,
    observed: str | None,
    close_code: int | None,
    close_reason: str | None,
    critical: bool,
) -> dict[str, Any]:
    """A ``probes`` row (the recorder adds ``run_id``); a test keeps the fields equal to :data:`TABLES`."""
    return {
        "probe_id": probe_id,
        "category": category,
        "probe": probe,
        "attempt": attempt,
        "started_at": started_at,
        "duration_ms": duration_ms,
        "outcome": outcome,
        "reason": reason,
        "detail": detail,
        "expected": expected,
        "observed": observed,
        "close_code": close_code,
        "close_reason": close_reason,
        "critical": critical,
    }


def sample_record(
    *,
    probe_id: str | None,
    metric: str,
    value_ms: float | None,
    t_offset_s: float,
    concurrency: int = 1,
    conn_index: int = 0,
    ok: bool = True,
) -> dict[str, Any]:
    """A ``samples`` row (``value_ms`` None when the operation failed)."""
    return {
        "probe_id": probe_id,
        "metric": metric,
        "value_ms": value_ms if ok else None,
        "t_offset_s": round(t_offset_s, 6),
        "concurrency": concurrency,
        "conn_index": conn_index,
        "ok": ok,
    }


def frame_record(
    *, probe_id: str | None, conn_id: str, direction: str, t_ms: float, type: str | None, size_bytes: int, payload: str
) -> dict[str, Any]:
    """A ``frames`` row (the payload already redacted and truncated by the caller)."""
    return {
        "probe_id": probe_id,
        "conn_id": conn_id,
        "direction": direction,
        "t_ms": round(t_ms, 3),
        "type": type,
        "size_bytes": size_bytes,
        "payload": payload,
    }


#: The constructor of each table's rows.
CONSTRUCTORS = {"probes": probe_record, "samples": sample_record, "frames": frame_record}


def columns(table: str) -> list[str]:
    """The column names of a table, in order."""
    return list(TABLES[table])


def describe(table: str) -> pd.DataFrame:
    """A DataFrame documenting a table's columns (for notebooks and the README)."""
    import pandas as pd

    return pd.DataFrame([(c, d, m) for c, (d, m) in TABLES[table].items()], columns=["column", "dtype", "meaning"])


def frame_from_rows(table: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Build a table's DataFrame from record dicts with the explicit dtypes."""
    import pandas as pd

    spec = TABLES[table]
    df = pd.DataFrame(rows, columns=list(spec))
    for col, (dtype, _) in spec.items():
        if dtype.startswith("datetime64"):
            df[col] = pd.to_datetime(df[col], utc=True, errors="coerce", format="ISO8601").astype(dtype)
        elif dtype == "boolean":
            df[col] = df[col].astype("boolean")
        elif dtype == "category":  # repeated labels: small in memory, fast to filter and group
            df[col] = df[col].astype("string").astype("category")
        elif dtype in ("int64",):
            df[col] = pd.to_numeric(df[col], errors="coerce").fillna(0).astype("int64")
        elif dtype == "Int64":
            df[col] = pd.to_numeric(df[col], errors="coerce").astype("Int64")
        elif dtype == "float64":
            df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
        else:
            df[col] = df[col].astype("string")
    return df
