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

from ..exceptions import DatasetError
from .records import OUTCOMES, TABLES

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

#: the largest manifest read (a real one is a few kB; a bigger one is not a manifest)
MANIFEST_MAX_BYTES = 16 << 20
#: the statuses a run's manifest may have
STATUSES = ("running", "complete", "interrupted", "degraded")

_OBJ, _STR, _BOOL, _LIST = (dict,), (str,), (bool,), (list,)
_NUM = (int, float)
_NONE = (type(None),)

#: manifest field -> (accepted JSON types, allowed values or None); every field may be absent (older runs lack some),
#: a field present must match. Dotted names are fields of an object field.
MANIFEST: dict[str, tuple[tuple[type, ...], tuple[Any, ...] | None]] = {
    "schema_version": ((int,), None),
    "run_id": (_STR, None),
    "status": (_STR, STATUSES),
    "started_at": (_STR + _NONE, None),
    "ended_at": (_STR + _NONE, None),
    "target": (_OBJ + _NONE, None),
    "target.ws_url": (_STR + _NONE, None),
    "target.http_url": (_STR + _NONE, None),
    "target.embedded": (_BOOL, None),
    "target.tls": (_BOOL, None),
    "server": (_OBJ + _NONE, None),
    "server.profile": (_OBJ + _NONE, None),
    "suite": (_OBJ + _NONE, None),
    "suite.name": (_STR + _NONE, None),
    "config": (_OBJ + _NONE, None),
    "plan": (_LIST + _NONE, None),
    "counts": (_OBJ + _NONE, None),
    "degraded_reason": (_STR + _NONE, None),
    "deadline_reached": (_BOOL + _NONE, None),
    "deadline_s": (_NUM + _NONE, None),
    "contract_spoken": (_OBJ + _NONE, None),
    "contract_spoken.speaks": (_BOOL + _NONE, None),
    "contract_spoken.why": (_STR + _NONE, None),
}

#: table -> column -> allowed values (None: any, but not missing); checked on every loaded row
ENUMERATED: dict[str, dict[str, tuple[str, ...] | None]] = {
    "probes": {"probe_id": None, "probe": None, "outcome": OUTCOMES, "critical": None},
    "samples": {"metric": None},
    "frames": {"direction": ("in", "out")},
}

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

_NAMES = {type(None): "null", bool: "true/false", int: "an integer", float: "a number", str: "a string",
          list: "a list", dict: "an object"}


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


def check_manifest(doc: dict[str, Any], path: Path | str = "manifest.json") -> None:
    """Raise :class:`DatasetError` at the first field of ``doc`` whose type or value :data:`MANIFEST` refuses."""
    for name, (types, allowed) in MANIFEST.items():
        parent, _, key = name.rpartition(".")
        holder = doc.get(parent) if parent else doc
        if not isinstance(holder, dict) or key not in holder:
            continue
        value = holder[key]
        if not isinstance(value, types) or (type(value) is bool and bool not in types):
            want = " or ".join(dict.fromkeys(_NAMES.get(t, t.__name__) for t in types))
            raise DatasetError(path, name, f"is {_what(value)}, expected {want}")
        if isinstance(value, float) and not math.isfinite(value):
            raise DatasetError(path, name, f"is {value}, expected a finite number")
        if allowed is not None and value not in allowed:
            raise DatasetError(path, name, f"is {json.dumps(value)[:60]}, expected one of {', '.join(allowed)}")
    if "run_id" in doc and not doc["run_id"].strip():
        raise DatasetError(path, "run_id", "is empty")
    for i, entry in enumerate(doc.get("plan") or []):
        if not (isinstance(entry, str) or (isinstance(entry, dict) and isinstance(entry.get("probe"), str))):
            raise DatasetError(path, f"plan[{i}]", f"is {_what(entry)}, expected a probe name or an object with probe")


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
        if kind == "dictionary" and not (pa.types.is_string(typ.value_type) or pa.types.is_large_string(typ.value_type)):
            raise DatasetError(path, col, f"stored as {typ}, expected text")
        if kind not in _ARROW_KINDS[dtype]:
            raise DatasetError(path, col, f"stored as {typ}, expected {dtype}")


def check_values(df: pd.DataFrame, table: str, path: Path | str) -> None:
    """Raise :class:`DatasetError` at the first column of a loaded table with a value its schema refuses
    (:data:`ENUMERATED`), naming the value and the number of rows that have it."""
    for col, allowed in ENUMERATED[table].items():
        values = df[col]
        missing = int(values.isna().sum())
        if missing:
            raise DatasetError(path, col, f"missing in {missing} of {len(df)} rows")
        if allowed is not None:
            bad = values[~values.astype("string").isin(allowed)]
            if len(bad):
                raise DatasetError(path, col, f"{json.dumps(str(bad.iloc[0]))[:60]} in {len(bad)} of {len(df)} rows, "
                                              f"expected one of {', '.join(allowed)}")


_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_stem(text: str, limit: int = 100) -> str:
    """A file name made from dataset text (a ``run_id``): letters, digits, ``.``, ``_`` and ``-`` only, no
    leading dot, at most ``limit`` characters; ``run`` when nothing is left (pure)."""
    s = _UNSAFE_NAME.sub("_", str(text)).lstrip("._-")[:limit].rstrip("._-")
    return s or "run"


def output_path(out: Path, stem: str, suffix: str) -> Path:
    """``out/<safe stem><suffix>``, refused (ValueError) unless it lands directly in ``out``."""
    p = Path(out) / f"{safe_stem(stem)}{suffix}"
    if p.parent.resolve() != Path(out).resolve() or p.name in (".", ".."):  # by construction; kept as the rule
        raise ValueError(f"{p} is not in {out}")
    return p


__all__ = ["ENUMERATED", "MANIFEST", "STATUSES", "check_manifest", "check_parquet", "check_regular_file", "check_values",
           "output_path", "read_manifest", "safe_stem"]
