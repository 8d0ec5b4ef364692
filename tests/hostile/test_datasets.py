"""Hostile datasets: every corrupted or nonsensical run is one line and exit 2 naming the file and the field, never a
traceback and never a report; a folder of runs skips the unreadable ones with a warning; a run id never chooses where
a file is written.

Each case corrupts a fresh copy of a committed sample run. The table covers each file of a run (manifest.json, each
Parquet table, events.jsonl, samples.arrows) in each way a file goes wrong: missing, empty, not its format, the wrong
JSON type, a field of the wrong type or value, a device or a folder in its place, too large.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pitchey_analysis.capture.dataset import load_run
from pitchey_analysis.capture.schema import output_path, safe_stem
from pitchey_analysis.exceptions import DatasetError

from .common import SAMPLE, files_under, one_line_error, run_cli

Corrupt = Callable[[Path], object]


def manifest_text(text: str | bytes) -> Corrupt:
    def apply(run: Path) -> None:
        p = run / "manifest.json"
        p.write_bytes(text if isinstance(text, bytes) else text.encode())

    return apply


def manifest_field(name: str, value: object) -> Corrupt:
    def apply(run: Path) -> None:
        p = run / "manifest.json"
        m = json.loads(p.read_text())
        holder = m
        *parents, key = name.split(".")
        for k in parents:
            holder = holder[k]
        holder[key] = value
        p.write_text(json.dumps(m))

    return apply


def replaced_by(name: str, how: str) -> Corrupt:
    """The file ``name`` replaced: missing, empty, random bytes, truncated, a symlink to /dev/zero, a folder, a FIFO."""

    def apply(run: Path) -> None:
        p = run / name
        data = p.read_bytes() if p.exists() else b""
        p.unlink(missing_ok=True)
        if how == "missing":
            return
        if how == "empty":
            p.write_bytes(b"")
        elif how == "random":
            p.write_bytes(os.urandom(4096))
        elif how == "truncated":
            p.write_bytes(data[: len(data) // 2])
        elif how == "dev_zero":
            p.symlink_to("/dev/zero")
        elif how == "folder":
            p.mkdir()
        elif how == "fifo":
            os.mkfifo(p)
        elif how == "huge":  # sparse: 20 MB that take no disk
            with open(p, "wb") as f:
                f.truncate(20 << 20)

    return apply


def table_edit(table: str, edit: Callable[[pd.DataFrame], pd.DataFrame]) -> Corrupt:
    def apply(run: Path) -> None:
        p = run / f"{table}.parquet"
        df = pd.read_parquet(p)
        edit(df).to_parquet(p, index=False)

    return apply


def jsonl_only(*lines: str) -> Corrupt:
    """Parquet removed (a run that did not end), these lines appended to events.jsonl."""

    def apply(run: Path) -> None:
        for t in ("probes", "samples", "frames"):
            (run / f"{t}.parquet").unlink()
        with open(run / "events.jsonl", "a") as f:
            for line in lines:
                f.write(line + "\n")

    return apply


def _symlink_loop(run: Path) -> None:
    (run / "manifest.json").unlink()
    (run / "manifest.json").symlink_to(run / "manifest.json")


def _set(col: str, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def edit(df: pd.DataFrame) -> pd.DataFrame:
        df[col] = value
        return df

    return edit


def _timestamps(run: Path, when: str) -> None:
    """Every probe's start at ``when`` (microseconds: a time pandas' nanoseconds cannot hold)."""
    p = run / "probes.parquet"
    t = pq.read_table(p)
    typ = pa.timestamp("us", tz="UTC")
    stamp = pa.array([pd.Timestamp(when).to_pydatetime()] * t.num_rows, typ)
    pq.write_table(t.set_column(t.schema.get_field_index("started_at"), pa.field("started_at", typ), stamp), p)


def _append(run: Path, *events: dict) -> None:
    with open(run / "events.jsonl", "a") as f:
        for e in events:
            f.write(json.dumps(e, separators=(",", ":")) + "\n")


#: a load run's generator window, as the engine writes it
WINDOW = {
    "kind": "run_event",
    "event": "generator",
    "t_offset_s": 1.0,
    "shard": 0,
    "window_s": 1.0,
    "open": 5,
    "sent": 5,
    "late": 0,
    "dropped": 0,
    "lag_max_ms": 1.0,
    "cpu_share": 0.1,
}


PROBE = {
    "kind": "probe",
    "probe_id": "x#1",
    "category": "connection",
    "probe": "x",
    "attempt": 1,
    "started_at": "2026-11-29T21:05:00Z",
    "duration_ms": 1.0,
    "outcome": "pass",
    "reason": "ok",
    "detail": "",
    "expected": "",
    "observed": "{}",
    "close_code": None,
    "close_reason": None,
    "critical": True,
}

#: (case, corruption, file named in the error, text of the error)
CASES: list[tuple[str, Corrupt, str, str]] = [
    ("manifest missing", replaced_by("manifest.json", "missing"), "manifest.json", "missing"),
    ("manifest empty", manifest_text(""), "manifest.json", "empty"),
    ("manifest not JSON", manifest_text("{not json"), "manifest.json", "not JSON"),
    ("manifest binary", manifest_text(b"\x89PNG\r\n\x1a\n\x00\xff\xfe"), "manifest.json", "not UTF-8"),
    ("manifest null", manifest_text("null"), "manifest.json", "null, not a JSON object"),
    ("manifest list", manifest_text("[1, 2]"), "manifest.json", "a list, not a JSON object"),
    ("manifest number", manifest_text("42"), "manifest.json", "not a JSON object"),
    ("manifest string", manifest_text('"run"'), "manifest.json", "not a JSON object"),
    ("manifest nested deeply", manifest_text("[" * 100_000 + "]" * 100_000), "manifest.json", "nested too deeply"),
    ("manifest /dev/zero", replaced_by("manifest.json", "dev_zero"), "manifest.json", "not a regular file"),
    ("manifest FIFO", replaced_by("manifest.json", "fifo"), "manifest.json", "not a regular file"),
    ("manifest a folder", replaced_by("manifest.json", "folder"), "manifest.json", "not a regular file"),
    ("manifest 20 MB", replaced_by("manifest.json", "huge"), "manifest.json", "larger than any manifest.json"),
    ("run_id a list", manifest_field("run_id", ["a"]), "manifest.json: run_id", "expected a string"),
    ("run_id empty", manifest_field("run_id", " "), "manifest.json: run_id", "empty"),
    ("status unknown", manifest_field("status", "banana"), "manifest.json: status", "expected one of"),
    ("status a number", manifest_field("status", 1), "manifest.json: status", "expected a string"),
    ("target a string", manifest_field("target", "ws://x"), "manifest.json: target", "expected an object"),
    ("target.tls a string", manifest_field("target.tls", "yes"), "manifest.json: target.tls", "expected true/false"),
    ("started_at a number", manifest_field("started_at", 5), "manifest.json: started_at", "expected a string"),
    (
        "plan entries numbers",
        manifest_field("plan", [1, 2]),
        "manifest.json: plan[0]",
        "expected a string or an object",
    ),
    ("deadline_s NaN", manifest_text('{"run_id": "r", "deadline_s": NaN}'), "manifest.json: deadline_s", "finite"),
    (
        "probes.parquet truncated",
        replaced_by("probes.parquet", "truncated"),
        "probes.parquet",
        "not a readable Parquet",
    ),
    ("probes.parquet random", replaced_by("probes.parquet", "random"), "probes.parquet", "not a readable Parquet"),
    ("probes.parquet empty", replaced_by("probes.parquet", "empty"), "probes.parquet", "not a readable Parquet"),
    ("probes.parquet /dev/zero", replaced_by("probes.parquet", "dev_zero"), "probes.parquet", "not a regular file"),
    ("samples.parquet a folder", replaced_by("samples.parquet", "folder"), "samples.parquet", "not a regular file"),
    ("frames.parquet random", replaced_by("frames.parquet", "random"), "frames.parquet", "not a readable Parquet"),
    (
        "every outcome banana",
        table_edit("probes", _set("outcome", "banana")),
        "probes.parquet: outcome",
        '"banana" in 57 of 57 rows',
    ),
    (
        "an outcome missing",
        table_edit("probes", lambda df: df.assign(outcome=df["outcome"].where(df.index > 0, None))),
        "probes.parquet: outcome",
        "missing in 1 of",
    ),
    (
        "outcome column missing",
        table_edit("probes", lambda df: df.drop(columns=["outcome"])),
        "probes.parquet: outcome",
        "missing column",
    ),
    ("attempt as text", table_edit("probes", _set("attempt", "one")), "probes.parquet: attempt", "expected int64"),
    ("critical as text", table_edit("probes", _set("critical", "yes")), "probes.parquet: critical", "expected boolean"),
    (
        "critical missing",
        table_edit("probes", _set("critical", None)),
        "probes.parquet: critical",
        "missing in 57 of 57",
    ),
    (
        "outcome as dictionary codes",
        table_edit("probes", lambda df: df.assign(outcome=pd.Categorical([1] * len(df)))),
        "probes.parquet: outcome",
        "expected string",
    ),
    ("manifest a symlink loop", _symlink_loop, "manifest.json", "cannot be read"),
    (
        "value_ms as text",
        table_edit("samples", _set("value_ms", "fast")),
        "samples.parquet: value_ms",
        "expected float64",
    ),
    (
        "started_at as text",
        table_edit("probes", _set("started_at", "yesterday")),
        "probes.parquet: started_at",
        "expected datetime64",
    ),
    (
        "frame direction sideways",
        table_edit("frames", _set("direction", "sideways")),
        "frames.parquet: direction",
        "expected one of in, out",
    ),
    (
        "jsonl outcome banana",
        jsonl_only(json.dumps({**PROBE, "outcome": "banana"})),
        "events.jsonl: outcome",
        '"banana"',
    ),
    (
        "jsonl detail an object",
        jsonl_only(json.dumps({**PROBE, "detail": {"a": 1}})),
        "events.jsonl: probes.detail",
        "expected string",
    ),
    (
        "jsonl probe without a name",
        jsonl_only(json.dumps({**PROBE, "probe": None})),
        "events.jsonl: probe",
        "missing in 1",
    ),
    (
        "events.jsonl /dev/zero",
        lambda run: (jsonl_only()(run), replaced_by("events.jsonl", "dev_zero")(run)),
        "events.jsonl",
        "not a regular file",
    ),
    (
        "samples.arrows random",
        lambda run: (jsonl_only()(run), (run / "samples.arrows").write_bytes(os.urandom(8192))),
        "samples.arrows",
        "not an Arrow stream",
    ),
    # fields the analysis reads beyond the run's identity: each declared, with its elements' types and ranges
    ("contract a string", manifest_field("contract", "pitchey"), "manifest.json: contract", "expected an object"),
    (
        "message table a list",
        manifest_field("contract", {"message_table": [1, 2]}),
        "manifest.json: contract.message_table",
        "expected an object",
    ),
    (
        "message table values numbers",
        manifest_field("contract", {"message_types": {"ping": 1}}),
        "manifest.json: contract.message_types.ping",
        "expected a string",
    ),
    (
        "a target without its metric",
        manifest_field("targets", [{"name": "t", "threshold": 1}]),
        "manifest.json: targets[0].metric",
        "missing",
    ),
    (
        "a target's threshold negative",
        manifest_field("targets", [{"name": "t", "metric": "m", "judged_on": "", "threshold": -1}]),
        "manifest.json: targets[0].threshold",
        "expected a number >= 0",
    ),
    (
        "a target's quantile 2",
        manifest_field("targets", [{"name": "t", "metric": "m", "judged_on": "", "threshold": 1, "q": 2}]),
        "manifest.json: targets[0].q",
        "<= 1",
    ),
    (
        "conformance rows numbers",
        manifest_field("conformance", {"by_type_and_path": [1]}),
        "manifest.json: conformance.by_type_and_path[0]",
        "expected an object",
    ),
    (
        "contract_spoken.seen a number",
        manifest_field("contract_spoken", {"speaks": False, "seen": 5}),
        "manifest.json: contract_spoken.seen",
        "expected a list",
    ),
    (
        "plan entry critical a string",
        manifest_field("plan", [{"probe": "x", "critical": "no"}]),
        "manifest.json: plan[0].critical",
        "expected true/false",
    ),
    (
        "plan entry without a probe",
        manifest_field("plan", [{"critical": True}]),
        "manifest.json: plan[0].probe",
        "missing",
    ),
    (
        "user types numbers",
        manifest_field("config.credentials", {"user_types": [1]}),
        "manifest.json: config.credentials.user_types[0]",
        "expected a string",
    ),
    ("versions a list", manifest_field("versions", [1]), "manifest.json: versions", "expected an object"),
    ("started_at not a time", manifest_field("started_at", "yesterday"), "manifest.json: started_at", "ISO 8601"),
    (
        "started_at year 9999",
        manifest_field("started_at", "9999-12-31T00:00:00+00:00"),
        "manifest.json: started_at",
        "between 1970-01-01 and 2262",
    ),
    # values no measurement has: each column's range, a probe's record twice, a time no report can place
    (
        "durations negative",
        table_edit("probes", _set("duration_ms", -1e9)),
        "probes.parquet: duration_ms",
        "-1e+09 in 57 of 57",
    ),
    (
        "latencies negative",
        table_edit("samples", _set("value_ms", -5.0)),
        "samples.parquet: value_ms",
        "expected a finite number",
    ),
    (
        "latencies infinite",
        table_edit("samples", _set("value_ms", float("inf"))),
        "samples.parquet: value_ms",
        "inf in 271",
    ),
    ("latencies 1e308", table_edit("samples", _set("value_ms", 1e308)), "samples.parquet: value_ms", "1e+308 in 271"),
    (
        "concurrency negative",
        table_edit("samples", _set("concurrency", -7)),
        "samples.parquet: concurrency",
        "-7 in 271",
    ),
    ("close code 99999", table_edit("probes", _set("close_code", 99999)), "probes.parquet: close_code", "99999 in 57"),
    ("attempt 0", table_edit("probes", _set("attempt", 0)), "probes.parquet: attempt", "0 in 57"),
    ("frame sizes negative", table_edit("frames", _set("size_bytes", -1)), "frames.parquet: size_bytes", "-1 in 242"),
    (
        "probe ids duplicated",
        table_edit("probes", lambda df: pd.concat([df, df.assign(outcome="pass")], ignore_index=True)),
        "probes.parquet: probe_id",
        "expected one row each",
    ),
    (
        "probes started in 9999",
        lambda run: _timestamps(run, "9999-12-31"),
        "probes.parquet: started_at",
        "expected a time between",
    ),
    (
        "jsonl latency negative",
        jsonl_only(
            json.dumps(
                {
                    "kind": "sample",
                    "probe_id": "x#1",
                    "metric": "rtt_ms",
                    "value_ms": -1,
                    "t_offset_s": 0,
                    "concurrency": 1,
                    "conn_index": 0,
                    "ok": True,
                }
            )
        ),
        "events.jsonl: value_ms",
        "-1 in 1 of 272 rows",
    ),
    # the run events a report reads (a load run's windows and polls), and events.jsonl itself beside the Parquet tables
    (
        "events.jsonl /dev/zero beside Parquet",
        replaced_by("events.jsonl", "dev_zero"),
        "events.jsonl",
        "not a regular file",
    ),
    ("events.jsonl a FIFO beside Parquet", replaced_by("events.jsonl", "fifo"), "events.jsonl", "not a regular file"),
    (
        "a generator window without its fields",
        lambda run: _append(run, {"kind": "run_event", "event": "generator", "t_offset_s": 1}),
        "events.jsonl: generator (line",
        ".shard: missing",
    ),
    (
        "a generator window's lag a list",
        lambda run: _append(run, {**WINDOW, "lag_max_ms": [1]}),
        "events.jsonl: generator (line",
        ".lag_max_ms: is a list",
    ),
    (
        "a poll's figure an object",
        lambda run: _append(run, {"kind": "run_event", "event": "target_stats", "t_offset_s": 1, "memory": {"rss": 1}}),
        "events.jsonl: target_stats (line",
        ".memory: is an object",
    ),
    (
        "a poll's sessions negative",
        lambda run: _append(run, {"kind": "run_event", "event": "target_stats", "t_offset_s": 1, "sessions": -4}),
        "events.jsonl: target_stats (line",
        ".sessions: is -4",
    ),
]


@pytest.mark.parametrize("case, corrupt, where, message", CASES, ids=[c[0] for c in CASES])
def test_a_corrupted_run_is_one_line_exit_2_and_no_report(capsys, tmp_path, sample_copy, case, corrupt, where, message):
    corrupt(sample_copy)
    out = tmp_path / "reports"
    code, _, err = run_cli(capsys, "report", str(sample_copy), "--out", str(out), "--format", "html")
    line = one_line_error(err)
    assert code == 2, err
    assert where in line and message in line, line
    assert len(err.strip().splitlines()) == 1, err
    assert files_under(out) == []  # nothing written, not even a temporary file


@pytest.mark.parametrize("case, corrupt, where, message", CASES[:12], ids=[c[0] for c in CASES[:12]])
def test_the_library_raises_one_error_type_naming_file_and_field(sample_copy, case, corrupt, where, message):
    corrupt(sample_copy)
    with pytest.raises(DatasetError) as exc:
        load_run(sample_copy)
    assert exc.value.file.endswith(where.split(":")[0]) and message in str(exc.value)


def test_lines_that_are_not_objects_are_skipped_as_torn_lines_are(sample_copy):
    """A crash-safe log's reader skips what is not a record (a torn write); the records around them are read."""
    jsonl_only("[1, 2]", "null", "42", '"text"', "{not json", json.dumps(PROBE))(sample_copy)
    run = load_run(sample_copy)
    assert run.source == "jsonl" and "x#1" in set(run.probes["probe_id"])


def test_history_skips_each_unreadable_run_with_one_warning_and_goes_on(capsys, tmp_path, sample_copy):
    runs = sample_copy.parent
    for i, (_, corrupt, _, _) in enumerate(CASES[1:6] + CASES[22:24]):  # (a folder without a manifest is no run)
        bad = runs / f"20261130T00000{i}Z-bad{i:03d}"
        shutil.copytree(sample_copy, bad)
        corrupt(bad)
    code, out, err = run_cli(capsys, "history", "--runs-dir", str(runs))
    assert code == 0, err
    assert sample_copy.name in out
    warnings = err.strip().splitlines()
    assert len(warnings) == 7 and all("warning: skipped an unreadable run" in w for w in warnings), err


def test_report_latest_skips_an_unreadable_newest_run(capsys, tmp_path, sample_copy):
    newest = sample_copy.parent / "20261231T000000Z-ffffff"
    shutil.copytree(sample_copy, newest)
    manifest_text("null")(newest)
    out = tmp_path / "reports"
    code, stdout, err = run_cli(
        capsys, "report", "latest", "--runs-dir", str(sample_copy.parent), "--out", str(out), "--format", "html"
    )
    assert code == 0, err
    assert "warning: skipped an unreadable run" in err and newest.name in err
    assert files_under(out) == [f"{sample_copy.name}.html"]


@pytest.mark.parametrize("run_id", ["../../escaped", "/tmp/escaped-absolute", "..", "a/b/../../c\x1b[2J", ".hidden"])
def test_a_run_id_never_chooses_the_folder(run_id):
    """The names a report would get: letters, digits, . _ - only, never a leading dot, always directly in --out
    (pure)."""
    out = Path("/tmp/out-folder")
    for suffix in (".html", ".pdf", ".ipynb"):
        p = output_path(out, run_id, suffix)
        assert p.parent == out and not p.name.startswith(".") and "/" not in safe_stem(run_id), p


@pytest.mark.parametrize("run_id", ["../../escaped", "/tmp/pitchey-escaped-absolute"])
def test_report_and_compare_write_only_under_out(capsys, tmp_path, sample_copy, run_id):
    manifest_field("run_id", run_id)(sample_copy)
    out = tmp_path / "a" / "b" / "reports"
    code, _, err = run_cli(capsys, "report", str(sample_copy), "--out", str(out), "--format", "html")
    assert code == 0, err
    code, _, err = run_cli(capsys, "compare", str(sample_copy), str(sample_copy), "--out", str(out), "--format", "html")
    assert code == 0, err
    written = files_under(tmp_path)
    outside = [f for f in written if not f.startswith("a/b/reports/") and not f.startswith("runs/")]
    assert outside == [] and not Path("/tmp/pitchey-escaped-absolute.html").exists(), written
    assert len(files_under(out)) == 2  # the report and the comparison, nothing else (no executed notebook left)


def test_a_killed_run_is_reportable_and_never_ready(tmp_path):
    """A run whose manifest still says running (SIGKILL) is read from events.jsonl and its verdict says incomplete."""
    from pitchey_analysis.analysis import verdict_for_run
    from pitchey_analysis.capture.recorder import Recorder
    from pitchey_analysis.capture.records import probe_record

    rec = Recorder(tmp_path, {"plan": [{"probe": "x", "critical": True, "selected": True}]})
    rec.probe(
        probe_record(
            probe_id="x#1",
            category="connection",
            probe="x",
            attempt=1,
            started_at="2026-11-29T21:05:00Z",
            duration_ms=1.0,
            outcome="pass",
            reason="ok",
            detail="",
            expected="",
            observed="{}",
            close_code=None,
            close_reason=None,
            critical=True,
        )
    )
    rec._fh.flush()  # killed here: no close, no Parquet
    run = load_run(rec.dir)
    v = verdict_for_run(run)
    assert run.manifest["status"] == "running" and run.source == "jsonl"
    assert v.completeness == "incomplete" and v.verdict != "READY" and "incomplete" in v.run_note()
    rec.close()


def test_parquet_types_checked_before_reading(tmp_path, sample_copy):
    """A column stored as a list (a type no documented dtype holds) is refused by the schema, not by pandas."""
    p = sample_copy / "frames.parquet"
    t = pq.read_table(p)
    t = t.set_column(t.schema.get_field_index("payload"), "payload", pa.array([[1]] * t.num_rows))
    pq.write_table(t, p)
    with pytest.raises(DatasetError, match="frames.parquet: payload: stored as list"):
        load_run(sample_copy)


def test_a_run_without_a_critical_pass_is_never_ready(sample_copy):
    """No probe recorded, every critical flag off, or every probe skipped: nothing was judged, whatever the targets say
    (a target that does not apply, here TLS on a ws:// run, is no evidence either)."""
    from pitchey_analysis.analysis import verdict_for_run

    tls_only = [{"name": "t", "metric": "tls_handshake_ms", "judged_on": "x", "threshold": 1.0, "tls_only": True}]
    manifest_field("targets", tls_only)(sample_copy)
    manifest_field("plan", None)(sample_copy)
    for edit in (
        lambda df: df.iloc[:0],
        lambda df: df.assign(outcome="pass", critical=False),
        lambda df: df.assign(outcome="skip", reason="x", critical=False),
    ):
        shutil.copy(SAMPLE / "probes.parquet", sample_copy / "probes.parquet")
        table_edit("probes", edit)(sample_copy)
        v = verdict_for_run(load_run(sample_copy))
        assert v.verdict == "INSUFFICIENT EVIDENCE" and "no critical probe passed" in set(v.reasons["status"]), v
    table_edit("probes", lambda df: df.iloc[:1].assign(outcome="pass", critical=True))(sample_copy)
    assert verdict_for_run(load_run(sample_copy)).verdict == "READY"  # one critical pass and nothing else is evidence


def test_an_overlong_events_line_is_skipped_without_being_held(sample_copy):
    """A line of 64 MB without a newline (a sparse file: no disk) is skipped as a torn line is; the records after it
    are read, and memory holds at most one line's limit."""
    from pitchey_analysis.capture.schema import EVENT_LINE_MAX_BYTES

    for t in ("probes", "samples", "frames"):
        (sample_copy / f"{t}.parquet").unlink()
    p = sample_copy / "events.jsonl"
    with open(p, "ab") as f:
        f.truncate(p.stat().st_size + (64 << 20))
    with open(p, "a") as f:
        f.write("\n" + json.dumps(PROBE) + "\n")
    assert 64 << 20 > 8 * EVENT_LINE_MAX_BYTES
    run = load_run(sample_copy)
    assert "x#1" in set(run.probes["probe_id"])


#: objects of a manifest whose entries are of one kind (names to values) or shown as text whatever they hold (the
#: configuration, the schedule): the entries kept stand for the others
MAPS: dict[tuple, int | tuple[str, ...]] = {
    ("contract", "message_types"): 1,
    ("contract", "error_types"): 1,
    ("contract", "message_table"): 1,
    ("versions",): 1,
    ("server", "knobs"): 1,
    ("counts",): 1,
    ("config",): ("timeout_s", "concurrency_levels", "credentials"),
    ("schedule",): ("stages",),
}


def _every_field(x: object, path: tuple = ()) -> list[tuple]:
    """The path of every field of a manifest (a list's first element stands for the others, as :data:`MAPS` say)."""
    out: list[tuple] = []
    keep = MAPS.get(path)
    if isinstance(x, dict):
        items = (
            list(x.items())[:keep]
            if isinstance(keep, int)
            else [(k, v) for k, v in x.items() if keep is None or k in keep]
        )
    else:
        items = [(0, x[0])] if isinstance(x, list) and x else []
    for k, v in items:
        out += [path + (k,), *_every_field(v, path + (k,))]
    return out


def _modern(manifest: dict) -> dict:
    """The sample's manifest with every field a run writes today (what judged it, its conformance, its schedule)."""
    from pitchey_analysis.judged import DEFAULT_TARGETS, MESSAGE_TYPES, target_records

    return {
        **manifest,
        "created": manifest["started_at"],
        "deadline_s": 180.0,
        "deadline_reached": False,
        "plan": [
            {"probe": p, "category": p.split(".")[0], "critical": True, "selected": True, "skip": None}
            for p in manifest["plan"]
        ],
        "contract": {
            "name": "pitchey",
            "title": "t",
            "version": "1",
            "sha256": "ab" * 32,
            "source": "shipped:pitchey",
            "format": "yaml",
            "file": "contract.yaml",
            "message_types": dict(list(MESSAGE_TYPES.items())[:3]),
            "error_types": {"error unknown_type": "messaging.unknown_type"},
            "message_table": MESSAGE_TYPES,
            "targets": {"connectP95Ms": 100, "concurrency": {"level": 100, "minSuccessRate": 0.95}},
        },
        "targets": target_records(DEFAULT_TARGETS),
        "contract_spoken": {"speaks": True, "why": "2 frames", "seen": ['{"type":"connected"}']},
        "conformance": {
            "frames_checked": 3,
            "violations": 1,
            "by_type_and_path": [{"type": "pong", "path": "$.id", "count": 1}],
        },
        "schedule": {"sequential": False, "parallel": 6, "stages": [{"stage": 1, "probes": [{"probe": "x"}]}]},
    }


#: a value of every JSON kind, each one a hostile dataset may put anywhere (text a terminal or a browser would act on)
ANY_VALUE = [None, "\x1b[2J<script>x</script>", -1, [1, "x"], {"k": [1]}]


#: the manifest's fields in groups of similar cost (each a test of its own, so that workers share them)
FIELD_GROUPS = {
    "judged": ("plan", "contract", "targets", "contract_spoken", "conformance", "status", "deadline_reached"),
    "described": ("config", "server", "schedule", "versions", "counts", "target", "suite"),
}


@pytest.mark.parametrize("group", [*FIELD_GROUPS, "others"])
@pytest.mark.slow
def test_whatever_a_manifest_field_holds_the_run_is_refused_or_reported(sample_copy, group):
    """The class, not the cases: every field of a manifest (every element of its lists, every value of its objects),
    replaced by a value of every JSON kind, is either refused by the schema (one error naming the file and field) or
    drawn by everything that reads a manifest (the analysis, each manifest-reading section of the report, what the
    history reads of it, a comparison) without an exception. A field the code reads but the schema does not declare
    fails here."""
    import copy

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pitchey_analysis.analysis import analyze
    from pitchey_analysis.analysis.compare import contracts_differ
    from pitchey_analysis.analysis.history import contract_id, target_key, trend_key
    from pitchey_analysis.capture.schema import check_manifest
    from pitchey_analysis.report import figures, render
    from pitchey_analysis.report.render import contract_name, target_line

    base = _modern(json.loads((sample_copy / "manifest.json").read_text()))
    check_manifest(base)
    run = load_run(sample_copy)
    accepted, refused, failures = 0, 0, []
    named = {k for g in FIELD_GROUPS.values() for k in g}
    for path in _every_field(base):
        if not (path[0] in FIELD_GROUPS[group] if group in FIELD_GROUPS else path[0] not in named):
            continue
        for value in ANY_VALUE:
            m = copy.deepcopy(base)
            holder = m
            for k in path[:-1]:
                holder = holder[k]
            if type(holder[path[-1]]) is type(value) and not isinstance(value, (list, dict)):
                continue  # a value of the field's own kind: the sample's is one
            holder[path[-1]] = value
            try:
                check_manifest(m)
            except DatasetError:
                refused += 1
                continue
            accepted += 1
            run.manifest = m
            try:
                a = analyze(run)
                for draw in (render.header, render.verdict, render.summary, render.findings, render.configuration):
                    draw(a)
                render.table(a.message_types, "message-types")
                plt.close(figures.close_timeline(run.frames, run.probes, m))
                target_key(m), contract_id(m), trend_key(m), pd.Timestamp(m.get("started_at"))  # the history's reading
                contracts_differ(m, base)
                target_line(m), contract_name(m)
            except Exception as exc:  # the finding is which field and value, whatever the exception
                failures.append(f"{'.'.join(map(str, path))} = {value!r}: {type(exc).__name__}: {exc}")
    assert failures == [], "\n".join(failures[:20])
    assert accepted and refused  # both halves of the class were met


def test_a_meeting_pack_skips_an_unreadable_sibling_and_appears_whole(capsys, tmp_path, sample_copy):
    """An unreadable run beside the one a meeting is about made the whole pack fail (after its report was written,
    leaving a folder that looked like a pack); it is skipped with one warning, and the pack appears only whole
    (built under a temporary name, renamed)."""
    bad = sample_copy.parent / "20261130T000000Z-bad000"
    shutil.copytree(sample_copy, bad)
    manifest_text("null")(bad)
    dangling = sample_copy.parent / "20261130T000001Z-bad001"
    dangling.mkdir()
    (dangling / "manifest.json").symlink_to("/dev/zero")
    out = tmp_path / "reports"
    code, _, err = run_cli(
        capsys,
        "report",
        "--meeting",
        sample_copy.name,
        "--runs-dir",
        str(sample_copy.parent),
        "--out",
        str(out),
        "--format",
        "html",
    )
    assert code == 0, err
    assert [
        ln for ln in err.strip().splitlines() if "warning: skipped an unreadable run" in ln
    ] == err.strip().splitlines()
    assert len(err.strip().splitlines()) == 2 and "Traceback" not in err
    pack = f"meeting-{sample_copy.name}"
    assert {f.split("/")[0] for f in files_under(out)} == {pack}
    assert {"SHA256SUMS", "README.txt", f"{sample_copy.name}.html"} <= {f.split("/")[1] for f in files_under(out)}
