"""The declared schema of a run dataset, and the reading that checks every file of a run against it.

A run directory may come from anyone ("here is last night's run"): nothing in it is believed before it is
checked. :func:`read_manifest` reads ``manifest.json`` (a regular file of bounded size, UTF-8, one JSON
object whose fields have the types :data:`MANIFEST` declares); :func:`check_parquet` checks a table file's
columns and their Arrow types against :data:`~.records.TABLES`; :func:`check_values` checks a loaded table's
enumerated and required values (an ``outcome`` is one of :data:`~.records.OUTCOMES`). Each raises
:class:`~pitchey_analysis.exceptions.DatasetError`, one line naming the file and the field.

Output files named after a run go through :func:`safe_stem` and :func:`output_path`: a ``run_id`` is text
from the dataset, so it never chooses a folder.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..exceptions import DatasetError, UsageError
from ..outcomes import RunStatus
from .records import OUTCOMES, TABLES

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

#: the largest manifest read (a real one is a few kB; a bigger one is not a manifest)
MANIFEST_MAX_BYTES = 16 << 20
#: the statuses a run's manifest may have
STATUSES: tuple[str, ...] = tuple(RunStatus)

_OBJ, _STR, _BOOL, _LIST = (dict,), (str,), (bool,), (list,)
_NUM = (int, float)
_NONE = (type(None),)

#: the earliest and latest times a run may carry (pandas' datetime64[ns] holds 1677-09-21 to 2262-04-11)
TIME_RANGE = ("1970-01-01", "2262-04-10")


def _timestamp(value: Any) -> str | None:
    """Why ``value`` is not an ISO 8601 time a report can place (None when it is)."""
    import datetime as dt

    try:
        t = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return "expected an ISO 8601 time"
    if not TIME_RANGE[0] <= t.date().isoformat() <= TIME_RANGE[1]:
        return f"expected a time between {TIME_RANGE[0]} and {TIME_RANGE[1]}"
    return None


def _within(lo: float | None = None, hi: float | None = None, *, above: bool = False) -> Any:
    """A check of a number: ``lo`` <= value (``above``: ``lo`` < value) and value <= ``hi``."""

    def check(value: Any) -> str | None:
        if value is None:
            return None
        if lo is not None and (value <= lo if above else value < lo):
            return f"expected a number {'>' if above else '>='} {lo:g}" + (f" and <= {hi:g}" if hi is not None else "")
        if hi is not None and value > hi:
            return f"expected a number <= {hi:g}" + (f" and {'>' if above else '>='} {lo:g}" if lo is not None else "")
        return None

    return check


#: manifest field -> (accepted JSON types, allowed values, or a check returning why a value is refused, or None).
#: Every field may be absent (older runs lack some); a field present must match. Dotted names are fields of an
#: object field; ``name[]`` is each element of a list field, ``name{}`` each value of an object field. Every field
#: the analysis or the report reads is declared here: what is not declared is never read.
MANIFEST: dict[str, tuple[tuple[type, ...], tuple[Any, ...] | Any | None]] = {
    "schema_version": ((int,), _within(1)),
    "run_id": (_STR, None),
    "status": (_STR, STATUSES),
    "started_at": (_STR + _NONE, _timestamp),
    "ended_at": (_STR + _NONE, _timestamp),
    "created": (_STR + _NONE, _timestamp),
    "target": (_OBJ + _NONE, None),
    "target.ws_url": (_STR + _NONE, None),
    "target.http_url": (_STR + _NONE, None),
    "target.embedded": (_BOOL, None),
    "target.tls": (_BOOL, None),
    "server": (_OBJ + _NONE, None),
    "server.profile": (_OBJ + _NONE, None),
    "server.profile.name": (_STR + _NONE, None),
    "server.profile.disabled": (_LIST + _NONE, None),
    "server.profile.defects": (_LIST + _NONE, None),
    "server.knobs": (_OBJ + _NONE, None),
    "suite": (_OBJ + _NONE, None),
    "suite.name": (_STR + _NONE, None),
    "suite.version": (_STR + _NONE, None),
    "config": (_OBJ + _NONE, None),
    "config.credentials": (_OBJ + _NONE, None),
    "config.credentials.user": (_STR + _NONE, None),
    "config.credentials.user_types": (_LIST + _NONE, None),
    "config.credentials.user_types[]": (_STR, None),
    "config.credentials.admin": (_BOOL + _NONE, None),
    "config.credentials.jwt_secret_given": (_BOOL + _NONE, None),
    "versions": (_OBJ + _NONE, None),
    "plan": (_LIST + _NONE, None),
    "plan[]": (_STR + _OBJ, None),
    "plan[].probe": (_STR, None),
    "plan[].category": (_STR + _NONE, None),
    "plan[].critical": (_BOOL + _NONE, None),
    "plan[].selected": (_BOOL + _NONE, None),
    "plan[].skip": (_STR + _NONE, None),
    "counts": (_OBJ + _NONE, None),
    "degraded_reason": (_STR + _NONE, None),
    "deadline_reached": (_BOOL + _NONE, None),
    "deadline_s": (_NUM + _NONE, _within(0)),
    "contract": (_OBJ + _NONE, None),
    "contract.name": (_STR + _NONE, None),
    "contract.title": (_STR + _NONE, None),
    "contract.version": (_STR + _NONE, None),
    "contract.sha256": (_STR + _NONE, None),
    "contract.file": (_STR + _NONE, None),
    "contract.message_types": (_OBJ + _NONE, None),
    "contract.message_types{}": (_STR, None),
    "contract.error_types": (_OBJ + _NONE, None),
    "contract.error_types{}": (_STR, None),
    "contract.message_table": (_OBJ + _NONE, None),
    "contract.message_table{}": (_STR, None),
    "contract.declared": (_OBJ + _NONE, None),
    "contract.declared.closes": (_OBJ + _NONE, None),
    "contract.declared.closes{}": ((int,), None),
    "contract.declared.rate_error": (_STR + _NONE, None),
    "contract.declared.carriers": (_OBJ + _NONE, None),
    "contract.declared.carriers{}": (_STR, None),
    "contract.targets": (_OBJ + _NONE, None),
    "contract.targets.connectP95Ms": (_NUM + _NONE, _within(0, above=True)),
    "contract.targets.roundTripP95Ms": (_NUM + _NONE, _within(0, above=True)),
    "contract.targets.tlsHandshakeP95Ms": (_NUM + _NONE, _within(0, above=True)),
    "contract.targets.concurrency": (_OBJ + _NONE, None),
    "contract.targets.concurrency.level": ((int,) + _NONE, _within(1)),
    "contract.targets.concurrency.minSuccessRate": (_NUM + _NONE, _within(0, 1)),
    "targets": (_LIST + _NONE, None),
    "targets[]": (_OBJ, None),
    "targets[].name": (_STR, None),
    "targets[].metric": (_STR, None),
    "targets[].judged_on": (_STR, None),
    "targets[].threshold": (_NUM, _within(0)),
    "targets[].q": (_NUM, _within(0, 1, above=True)),
    "targets[].probe": (_STR + _NONE, None),
    "targets[].concurrency": ((int,) + _NONE, _within(1)),
    "targets[].tls_only": (_BOOL, None),
    "targets[].kind": (_STR, ("percentile", "success_rate")),
    "targets[].prefer": (_STR + _NONE, None),
    "targets[].prefer_judged_on": (_STR + _NONE, None),
    "contract_spoken": (_OBJ + _NONE, None),
    "contract_spoken.speaks": (_BOOL + _NONE, None),
    "contract_spoken.why": (_STR + _NONE, None),
    "contract_spoken.seen": (_LIST + _NONE, None),
    "conformance": (_OBJ + _NONE, None),
    "conformance.by_type_and_path": (_LIST + _NONE, None),
    "conformance.by_type_and_path[]": (_OBJ, None),
    "conformance.by_type_and_path[].type": (_STR + _NONE, None),
    "conformance.by_type_and_path[].path": (_STR + _NONE, None),
    "conformance.by_type_and_path[].count": ((int,), _within(0)),
}
#: the fields an element of a list field must have (a service-level target without its threshold judges nothing)
REQUIRED: dict[str, tuple[str, ...]] = {
    "plan[]": ("probe",),
    "conformance.by_type_and_path[]": ("type", "path", "count"),
    "targets[]": ("name", "metric", "judged_on", "threshold"),
}

#: table -> column -> allowed values (None: any, but not missing); checked on every loaded row
ENUMERATED: dict[str, dict[str, tuple[str, ...] | None]] = {
    "probes": {"probe_id": None, "probe": None, "outcome": OUTCOMES, "critical": None},
    "samples": {"metric": None},
    "frames": {"direction": ("in", "out")},
}
#: the longest time a run records, in ms (a probe, a latency, a frame's offset): 115 days, far beyond the longest soak
#: (7 days); a larger one is not a measurement (and no figure can bin it)
MAX_MS = 1e10
#: table -> numeric column -> (lowest, highest, missing allowed); checked on every loaded row. No measurement is
#: infinite; a duration, a latency or a size is never negative (a negative latency would meet every target).
RANGES: dict[str, dict[str, tuple[float, float, bool]]] = {
    "probes": {"attempt": (1, 1e6, False), "duration_ms": (0, MAX_MS, True), "close_code": (0, 65535, True)},
    "samples": {
        "value_ms": (0, MAX_MS, True),
        "t_offset_s": (-MAX_MS / 1e3, MAX_MS / 1e3, True),
        "concurrency": (0, 1e8, False),
        "conn_index": (0, 1e8, False),
    },
    "frames": {"t_ms": (-MAX_MS, MAX_MS, True), "size_bytes": (0, 1 << 40, False)},
}
#: table -> the time columns, each within :data:`TIME_RANGE`
TIMES: dict[str, tuple[str, ...]] = {"probes": ("started_at",)}
#: table -> the columns whose every value is one row's own (one record per execution of a probe)
UNIQUE: dict[str, tuple[str, ...]] = {"probes": ("probe_id",)}

# the Arrow type ids each documented pandas dtype may be stored as (a column of nulls only is "null")
_ARROW_KINDS = {
    "string": ("string", "large_string", "null", "dictionary"),
    "category": ("string", "large_string", "null", "dictionary"),
    "int64": ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "null"),
    "Int64": ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "null"),
    "float64": ("float", "double", "halffloat", "int8", "int16", "int32", "int64", "null"),
    "boolean": ("bool", "null"),
    "datetime64[ns, UTC]": ("timestamp", "null"),
}

_NAMES = {
    type(None): "null",
    bool: "true/false",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "an object",
}


def _what(value: Any) -> str:
    return _NAMES.get(type(value), type(value).__name__)


def check_regular_file(path: Path, max_bytes: int | None = None) -> int:
    """The size of ``path`` if it is a regular file (a symlink is followed) of at most ``max_bytes``; else
    :class:`DatasetError`. A device (``/dev/zero``), a FIFO or a folder would be read forever or not at all."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DatasetError(path, None, "missing") from None
    except OSError as exc:
        raise DatasetError(path, None, f"cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        raise DatasetError(path, None, "not a regular file (a device, a pipe or a folder)")
    if max_bytes is not None and st.st_size > max_bytes:
        raise DatasetError(path, None, f"{st.st_size:,} bytes: larger than any {path.name} ({max_bytes:,} at most)")
    return st.st_size


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """``run_dir/manifest.json``, checked against :data:`MANIFEST`; :class:`DatasetError` names the file and field."""
    path = Path(run_dir) / "manifest.json"
    if not path.exists() and not path.is_symlink():
        raise DatasetError(path, None, "missing: not a run directory")
    check_regular_file(path, MANIFEST_MAX_BYTES)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise DatasetError(path, None, f"cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise DatasetError(path, None, "not UTF-8 text") from None
    if not text.strip():
        raise DatasetError(path, None, "empty")
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise DatasetError(path, None, f"not JSON ({str(exc).splitlines()[0]})") from None
    except RecursionError:
        raise DatasetError(path, None, "nested too deeply to be a manifest") from None
    if not isinstance(doc, dict):
        raise DatasetError(path, None, f"{_what(doc)}, not a JSON object")
    check_manifest(doc, path)
    return doc


def _at(doc: Any, name: str) -> list[tuple[str, Any]]:
    """The values at a declared field name (``a.b``, ``a[].b``, ``a{}``) in ``doc``, each with its concrete name
    (``targets[2].threshold``); a field absent, or under a parent of another type, has none (the parent's own
    declaration refuses that parent)."""
    found: list[tuple[str, Any]] = [("", doc)]
    for part in name.split("."):
        key, each = part.rstrip("[]{}"), part[len(part.rstrip("[]{}")) :]
        nxt: list[tuple[str, Any]] = []
        for where, holder in found:
            if not isinstance(holder, dict) or key not in holder:
                continue
            here, value = f"{where}.{key}" if where else key, holder[key]
            if each == "[]" and isinstance(value, list):
                nxt += [(f"{here}[{i}]", v) for i, v in enumerate(value)]
            elif each == "{}" and isinstance(value, dict):
                nxt += [(f"{here}.{k}", v) for k, v in value.items()]
            elif not each:
                nxt.append((here, value))
        found = nxt
    return found


def check_manifest(doc: dict[str, Any], path: Path | str = "manifest.json") -> None:
    """Raise :class:`DatasetError` at the first field of ``doc`` whose type or value :data:`MANIFEST` refuses."""
    for name, (types, allowed) in MANIFEST.items():
        for where, value in _at(doc, name):
            if not isinstance(value, types) or (type(value) is bool and bool not in types):
                want = " or ".join(dict.fromkeys(_NAMES.get(t, t.__name__) for t in types))
                raise DatasetError(path, where, f"is {_what(value)}, expected {want}")
            if isinstance(value, float) and not math.isfinite(value):
                raise DatasetError(path, where, f"is {value}, expected a finite number")
            if isinstance(allowed, tuple) and value not in allowed:
                raise DatasetError(path, where, f"is {json.dumps(value)[:60]}, expected one of {', '.join(allowed)}")
            why = allowed(value) if callable(allowed) and value is not None else None
            if why:
                raise DatasetError(path, where, f"is {json.dumps(value)[:60]}, {why}")
            for key in REQUIRED.get(name, ()):
                if isinstance(value, dict) and key not in value:
                    raise DatasetError(path, f"{where}.{key}", "missing")
    if "run_id" in doc and not doc["run_id"].strip():
        raise DatasetError(path, "run_id", "is empty")


def check_parquet(path: Path, table: str, columns: list[str] | None = None) -> None:
    """Check a table file: a regular Parquet file whose columns are :data:`~.records.TABLES`' (``columns``: those
    only) and whose Arrow types can hold their documented dtypes (``int64`` stored as text is refused, not coerced)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    check_regular_file(path)
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DatasetError(path, None, f"not a readable Parquet file ({str(exc).splitlines()[0][:120]})") from None
    names = set(schema.names)
    for col, (dtype, _) in TABLES[table].items():
        if columns is not None and col not in columns:
            continue
        if col not in names:
            raise DatasetError(path, col, "missing column")
        typ = schema.field(col).type
        kind = "dictionary" if pa.types.is_dictionary(typ) else str(typ).split("[", 1)[0]
        if kind == "dictionary" and dtype not in ("string", "category"):
            raise DatasetError(path, col, f"stored as {typ}, expected {dtype}")
        if kind == "dictionary" and not (
            pa.types.is_string(typ.value_type) or pa.types.is_large_string(typ.value_type)
        ):
            raise DatasetError(path, col, f"stored as {typ}, expected text")
        if kind not in _ARROW_KINDS[dtype]:
            raise DatasetError(path, col, f"stored as {typ}, expected {dtype}")


def check_values(df: pd.DataFrame, table: str, path: Path | str) -> None:
    """Raise :class:`DatasetError` at the first column of a loaded table with a value its schema refuses
    (:data:`ENUMERATED`, :data:`RANGES`, :data:`UNIQUE`), naming the value and the number of rows that have it."""
    for col, allowed in ENUMERATED[table].items():
        values = df[col]
        missing = int(values.isna().sum())
        if missing:
            raise DatasetError(path, col, f"missing in {missing} of {len(df)} rows")
        if allowed is not None:
            bad = values[~values.astype("string").isin(allowed)]
            if len(bad):
                raise DatasetError(
                    path,
                    col,
                    f"{json.dumps(str(bad.iloc[0]))[:60]} in {len(bad)} of {len(df)} rows, "
                    f"expected one of {', '.join(allowed)}",
                )
    for col, (lo, hi, nullable) in RANGES[table].items():
        check_range(df[col].to_numpy(dtype="float64", na_value=math.nan), col, lo, hi, nullable, path)
    for col in TIMES.get(table, ()):
        times = df[col].dropna()
        bad = times[(times < TIME_RANGE[0]) | (times > TIME_RANGE[1])] if len(times) else times
        if len(bad):
            raise DatasetError(
                path,
                col,
                f"{bad.iloc[0]} in {len(bad)} of {len(df)} rows, "
                f"expected a time between {TIME_RANGE[0]} and {TIME_RANGE[1]}",
            )
    for col in UNIQUE.get(table, ()):
        twice = df[col][df[col].duplicated(keep=False)]
        if len(twice):
            raise DatasetError(
                path,
                col,
                f"{json.dumps(str(twice.iloc[0]))[:60]} in {int((df[col] == twice.iloc[0]).sum())} "
                f"rows ({len(twice)} rows share a value), expected one row each",
            )


def check_range(values: Any, col: str, lo: float, hi: float, nullable: bool, path: Path | str) -> None:
    """Raise :class:`DatasetError` when a numpy array of a column's values (missing: NaN) holds a value outside
    [``lo``, ``hi``], or a missing one where ``nullable`` is False."""
    import numpy as np

    nan = np.isnan(values)
    if not nullable and nan.any():
        raise DatasetError(path, col, f"missing in {int(nan.sum())} of {len(values)} rows")
    with np.errstate(invalid="ignore"):
        bad = ~nan & ((values < lo) | (values > hi))
    if bad.any():
        first = float(values[bad][0])
        raise DatasetError(
            path,
            col,
            f"{first:g} in {int(bad.sum())} of {len(values)} rows, expected a finite number from {lo:g} to {hi:g}",
        )


#: the largest ``events.jsonl`` read (a week-long load run writes a few hundred MB) and the longest line of it (a
#: record is a few kB; a longer line is skipped as a torn one is)
EVENTS_MAX_BYTES = 4 << 30
EVENT_LINE_MAX_BYTES = 1 << 20

_INT = (int,)
#: run event -> field -> (accepted JSON types, a check or None, required): the ``run_event`` lines the analysis reads
#: (:func:`~.dataset.load_events`). Other fields of such a line must be a JSON scalar, a number finite.
EVENTS: dict[str, dict[str, tuple[tuple[type, ...], Any, bool]]] = {
    "generator": {
        "shard": (_INT, _within(0), True),
        "t_offset_s": (_NUM, None, True),
        "window_s": (_NUM, _within(0, above=True), True),
        "open": (_INT, _within(0), True),
        "sent": (_INT, _within(0), True),
        "late": (_INT, _within(0), True),
        "dropped": (_INT, _within(0), True),
        "lag_max_ms": (_NUM + _NONE, _within(0), True),
        "cpu_share": (_NUM + _NONE, _within(0), False),
        "probe_id": (_STR + _NONE, None, False),
    },
    "target_stats": {
        "t_offset_s": (_NUM, None, True),
        "sessions": (_INT + _NONE, _within(0), False),
        "source": (_STR + _NONE, None, False),
        "error": (_STR + _NONE, None, False),
    },
}


def check_event(obj: dict[str, Any], path: Path | str, line: int) -> None:
    """Raise :class:`DatasetError` when a ``run_event`` line of ``events.jsonl`` that :data:`EVENTS` declares has
    a field of the wrong type or value, lacks a required one, or holds a list or an object the analysis would
    take for a figure."""
    event = obj.get("event")
    fields = EVENTS.get(str(event), {})
    for key, value in obj.items():
        where = f"{event} (line {line}).{key}"
        types, check, _ = fields.get(key, (_STR + _NUM + _BOOL + _NONE, None, False))
        if not isinstance(value, types) or (type(value) is bool and bool not in types):
            want = " or ".join(dict.fromkeys(_NAMES.get(t, t.__name__) for t in types))
            raise DatasetError(path, where, f"is {_what(value)}, expected {want}")
        if isinstance(value, float) and not math.isfinite(value):
            raise DatasetError(path, where, f"is {value}, expected a finite number")
        why = check(value) if check is not None and value is not None else None
        if why:
            raise DatasetError(path, where, f"is {json.dumps(value)[:60]}, {why}")
    for key, (_, _, required) in fields.items():
        if required and key not in obj:
            raise DatasetError(path, f"{event} (line {line}).{key}", "missing")


_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_stem(text: str, limit: int = 100) -> str:
    """A file name made from dataset text (a ``run_id``): letters, digits, ``.``, ``_`` and ``-`` only, no
    leading dot, at most ``limit`` characters; ``run`` when nothing is left (pure)."""
    s = _UNSAFE_NAME.sub("_", str(text)).lstrip("._-")[:limit].rstrip("._-")
    return s or "run"


def output_path(out: Path, stem: str, suffix: str) -> Path:
    """``out/<safe stem><suffix>``, refused (UsageError, a ValueError) unless it lands directly in ``out``."""
    p = Path(out) / f"{safe_stem(stem)}{suffix}"
    if p.parent.resolve() != Path(out).resolve() or p.name in (".", ".."):  # by construction; kept as the rule
        raise UsageError(f"{p} is not in {out}")
    return p


__all__ = [
    "ENUMERATED",
    "EVENTS",
    "EVENTS_MAX_BYTES",
    "EVENT_LINE_MAX_BYTES",
    "MANIFEST",
    "RANGES",
    "REQUIRED",
    "STATUSES",
    "TIMES",
    "TIME_RANGE",
    "UNIQUE",
    "check_event",
    "check_manifest",
    "check_parquet",
    "check_range",
    "check_regular_file",
    "check_values",
    "output_path",
    "read_manifest",
    "safe_stem",
]
