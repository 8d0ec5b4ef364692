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

from .common import files_under, one_line_error, run_cli

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


PROBE = {"kind": "probe", "probe_id": "x#1", "category": "connection", "probe": "x", "attempt": 1,
         "started_at": "2026-11-29T21:05:00Z", "duration_ms": 1.0, "outcome": "pass", "reason": "ok", "detail": "",
         "expected": "", "observed": "{}", "close_code": None, "close_reason": None, "critical": True}

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
    ("plan entries numbers", manifest_field("plan", [1, 2]), "manifest.json: plan[0]", "expected a probe name"),
    ("deadline_s NaN", manifest_text('{"run_id": "r", "deadline_s": NaN}'), "manifest.json: deadline_s", "finite"),
    ("probes.parquet truncated", replaced_by("probes.parquet", "truncated"), "probes.parquet", "not a readable Parquet"),
    ("probes.parquet random", replaced_by("probes.parquet", "random"), "probes.parquet", "not a readable Parquet"),
    ("probes.parquet empty", replaced_by("probes.parquet", "empty"), "probes.parquet", "not a readable Parquet"),
    ("probes.parquet /dev/zero", replaced_by("probes.parquet", "dev_zero"), "probes.parquet", "not a regular file"),
    ("samples.parquet a folder", replaced_by("samples.parquet", "folder"), "samples.parquet", "not a regular file"),
    ("frames.parquet random", replaced_by("frames.parquet", "random"), "frames.parquet", "not a readable Parquet"),
    ("every outcome banana", table_edit("probes", _set("outcome", "banana")), "probes.parquet: outcome",
     '"banana" in 57 of 57 rows'),
    ("an outcome missing", table_edit("probes", lambda df: df.assign(outcome=df["outcome"].where(df.index > 0, None))),
     "probes.parquet: outcome", "missing in 1 of"),
    ("outcome column missing", table_edit("probes", lambda df: df.drop(columns=["outcome"])), "probes.parquet: outcome",
     "missing column"),
    ("attempt as text", table_edit("probes", _set("attempt", "one")), "probes.parquet: attempt", "expected int64"),
    ("critical as text", table_edit("probes", _set("critical", "yes")), "probes.parquet: critical", "expected boolean"),
    ("critical missing", table_edit("probes", _set("critical", None)), "probes.parquet: critical", "missing in 57 of 57"),
    ("outcome as dictionary codes", table_edit("probes", lambda df: df.assign(outcome=pd.Categorical([1] * len(df)))),
     "probes.parquet: outcome", "expected string"),
    ("manifest a symlink loop", _symlink_loop, "manifest.json", "cannot be read"),
    ("value_ms as text", table_edit("samples", _set("value_ms", "fast")), "samples.parquet: value_ms", "expected float64"),
    ("started_at as text", table_edit("probes", _set("started_at", "yesterday")), "probes.parquet: started_at",
     "expected datetime64"),
    ("frame direction sideways", table_edit("frames", _set("direction", "sideways")), "frames.parquet: direction",
     "expected one of in, out"),
    ("jsonl outcome banana", jsonl_only(json.dumps({**PROBE, "outcome": "banana"})), "events.jsonl: outcome", '"banana"'),
    ("jsonl detail an object", jsonl_only(json.dumps({**PROBE, "detail": {"a": 1}})), "events.jsonl: probes.detail",
     "expected string"),
    ("jsonl probe without a name", jsonl_only(json.dumps({**PROBE, "probe": None})), "events.jsonl: probe", "missing in 1"),
    ("events.jsonl /dev/zero", lambda run: (jsonl_only()(run), replaced_by("events.jsonl", "dev_zero")(run)), "events.jsonl",
     "not a regular file"),
    ("samples.arrows random", lambda run: (jsonl_only()(run), (run / "samples.arrows").write_bytes(os.urandom(8192))),
     "samples.arrows", "not an Arrow stream"),
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
    code, stdout, err = run_cli(capsys, "report", "latest", "--runs-dir", str(sample_copy.parent), "--out", str(out),
                                "--format", "html")
    assert code == 0, err
    assert "warning: skipped an unreadable run" in err and newest.name in err
    assert files_under(out) == [f"{sample_copy.name}.html"]


@pytest.mark.parametrize("run_id", ["../../escaped", "/tmp/escaped-absolute", "..", "a/b/../../c\x1b[2J", ".hidden"])
def test_a_run_id_never_chooses_the_folder(run_id):
    """The names a report would get: letters, digits, . _ - only, never a leading dot, always directly in --out (pure)."""
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
    rec.probe(probe_record(probe_id="x#1", category="connection", probe="x", attempt=1, started_at="2026-11-29T21:05:00Z",
                           duration_ms=1.0, outcome="pass", reason="ok", detail="", expected="", observed="{}",
                           close_code=None, close_reason=None, critical=True))
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
