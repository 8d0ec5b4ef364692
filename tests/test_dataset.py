"""The recorder and the run dataset: batching, redaction, torn lines, loading, concatenation."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from pitchey_analysis import load_run, load_runs
from pitchey_analysis.capture.recorder import Recorder, new_run_id
from pitchey_analysis.capture.records import TABLES, describe
from tests.waiting import eventually


def _probe(pid="p#1", outcome="pass", **kw):
    return {
        "probe_id": pid,
        "category": "connection",
        "probe": "connection.health",
        "attempt": 1,
        "started_at": "2026-01-01T00:00:00+00:00",
        "duration_ms": 1.0,
        "outcome": outcome,
        "reason": "ok",
        "detail": "",
        "expected": "",
        "observed": None,
        "close_code": None,
        "close_reason": None,
        "critical": True,
        **kw,
    }


def test_run_id_format():
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{6}", new_run_id())


def test_samples_reach_the_file_within_100_ms_and_probes_at_once(tmp_path):
    rec = Recorder(tmp_path, {"x": 1})
    rec.probe(_probe())
    assert '"kind":"probe"' in (rec.dir / "events.jsonl").read_text()  # flushed at once
    rec.sample(
        {
            "probe_id": "p#1",
            "metric": "rtt_ms",
            "value_ms": 1.0,
            "t_offset_s": 0.0,
            "concurrency": 1,
            "conn_index": 0,
            "ok": True,
        }
    )
    # the batch is written by the recorder's timer within 100 ms; 0.25 s leaves room for a loaded machine
    eventually(lambda: '"kind":"sample"' in (rec.dir / "events.jsonl").read_text(), 0.25, "the sample's write")
    rec.close()
    run = load_run(rec.dir)
    assert run.source == "parquet" and run.manifest["status"] == "complete" and len(run.samples) == 1


def test_secrets_are_redacted_before_writing(tmp_path):
    jwt_like = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    rec = Recorder(tmp_path, {"target": "ws://h/ws?token=abc", "password": "hunter2"}, secrets_to_mask=("hunter2",))
    rec.probe(
        _probe(
            detail=f"sent Authorization: Bearer {jwt_like} and hunter2",
            observed=json.dumps({"token": "xyz", "url": "ws://h/ws?token=abc"}),
        )
    )
    rec.close()
    # the control: the record and the manifest were written, masked (a record lost would pass the search below)
    assert {"events.jsonl", "manifest.json", "probes.parquet"} <= {f.name for f in rec.dir.iterdir()}
    assert "sent Authorization: Bearer [REDACTED] and [REDACTED]" in (rec.dir / "events.jsonl").read_text()
    assert json.loads((rec.dir / "manifest.json").read_text())["target"] == "ws://h/ws?token=[REDACTED]"
    for f in rec.dir.iterdir():
        blob = f.read_bytes().decode("utf-8", "replace")
        assert "hunter2" not in blob and jwt_like not in blob and "token=abc" not in blob, f.name


def test_torn_and_garbage_lines_are_skipped(tmp_path):
    rec = Recorder(tmp_path, {})
    rec.probe(_probe("a#1"))
    rec.probe(_probe("b#1", outcome="fail"))
    rec._fh.flush()
    with open(rec.dir / "events.jsonl", "a") as f:
        f.write("not json\n")
        f.write('{"kind":"probe","probe_id":"c#1","outc')  # torn: no newline
    run = load_run(rec.dir)  # no Parquet yet: read from the JSONL
    assert run.source == "jsonl" and list(run.probes["probe_id"]) == ["a#1", "b#1"]
    assert list(run.probes.dtypes.astype(str)) == [d for d, _ in TABLES["probes"].values()]


def test_load_runs_concatenates(tmp_path):
    paths = []
    for i in range(2):
        # run ids carry the second: the second run starts a second after the first on an injected clock
        rec = Recorder(tmp_path, {"i": i}, now=lambda i=i: dt.datetime(2026, 1, 1, 0, 0, i, tzinfo=dt.UTC))
        rec.probe(_probe(f"p{i}#1"))
        paths.append(rec.close())
    assert [p.name[:16] for p in paths] == ["20260101T000000Z", "20260101T000001Z"]
    assert json.loads((paths[1] / "manifest.json").read_text())["started_at"] == "2026-01-01T00:00:01.000+00:00"
    both = load_runs(runs_dir=tmp_path)
    assert len(both.probes) == 2 and set(both.probes["run_id"]) == {p.name for p in paths}
    assert set(both.manifest) == {p.name for p in paths}
    assert load_run("latest", runs_dir=tmp_path).path == paths[-1]


def test_latest_falls_back_to_the_committed_sample(tmp_path, monkeypatch):
    monkeypatch.setenv("PITCHEY_DATA_DIR", str(tmp_path))
    run = load_run("latest")
    assert "sample" in str(run.path) and len(run.probes) > 40


def test_unknown_run_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no run 'nope'"):
        load_run("nope", runs_dir=tmp_path)


def test_every_column_is_documented_in_the_readme():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for table in TABLES:
        for col in describe(table)["column"]:
            assert f"`{col}`" in readme, col


def test_record_constructors_build_exactly_the_documented_columns():
    """One constructor per table (capture/records.py): its fields are the table's columns, in order, without run_id."""
    import inspect

    from pitchey_analysis.capture.records import CONSTRUCTORS, TABLES

    assert set(CONSTRUCTORS) == set(TABLES)
    for table, make in CONSTRUCTORS.items():
        params = list(inspect.signature(make).parameters)
        assert params == [c for c in TABLES[table] if c != "run_id"], table
        row = make(**{p: None if p != "t_offset_s" and p != "t_ms" else 0.0 for p in params})
        assert list(row) == params, table
