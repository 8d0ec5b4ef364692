"""Repeatability across runs of the same suite (analysis/stability.py) and ``run --repeat``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd

from pitchey_analysis.analysis.stability import COLUMNS, stability


def _probes(*rows: tuple[str, str, str, bool]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "probe_id": f"{p}#1",
                "probe": p,
                "category": p.split(".")[0],
                "attempt": 1,
                "started_at": "t",
                "outcome": o,
                "reason": r,
                "critical": c,
            }
            for p, o, r, c in rows
        ]
    )


def test_a_probe_that_changes_its_outcome_is_flaky():
    a = _probes(
        ("readiness.lockout_spoofing", "fail", "spoofable_lockout", True), ("messaging.ping", "pass", "ok", False)
    )
    b = _probes(("readiness.lockout_spoofing", "fail", "no_lockout", True), ("messaging.ping", "pass", "ok", False))
    c = _probes(
        ("readiness.lockout_spoofing", "fail", "spoofable_lockout", True), ("messaging.ping", "pass", "ok", False)
    )
    t = stability([a, b, c]).set_index("probe")
    assert list(stability([a]).columns) == COLUMNS
    assert bool(t.at["messaging.ping", "stable"]) and t.at["messaging.ping", "outcomes"] == "pass ×3"
    lock = t.loc["readiness.lockout_spoofing"]
    assert not lock["stable"] and lock["critical"]
    assert lock["finding"] == "flaky: fail no_lockout in 1 of 3 runs"
    assert lock["outcomes"] == "fail spoofable_lockout ×2, fail no_lockout ×1"


def test_a_probe_missing_from_a_run_is_not_stable():
    a = _probes(("auth.unknown_user", "pass", "ok", False))
    t = stability([a, _probes()]).set_index("probe")
    assert not t.at["auth.unknown_user", "stable"] and "not run in 1 of 2 runs" in t.at["auth.unknown_user", "finding"]


def test_run_repeat_tells_the_stability_of_every_probe(tmp_path):
    env = {**os.environ, "PITCHEY_TIMEOUT_SCALE": "0.4"}
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pitchey_analysis",
            "run",
            "--suite",
            "quick",
            "--only",
            "connection.health",
            "--only",
            "messaging.ping",
            "--repeat",
            "2",
            "--out",
            str(tmp_path),
            "--no-progress",
            "--no-tls",
            "--fail-on",
            "never",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert r.returncode == 0, r.stderr[-800:]
    assert "stability over 2 runs" in r.stdout and "2 of 2 probes gave the same outcome every time" in r.stdout
    # in the order they ran (two run ids of the same second differ by their random part, not by time)
    manifests = sorted(
        (json.loads(p.read_text()) for p in tmp_path.glob("*/manifest.json")), key=lambda m: m["started_at"]
    )
    assert [m["config"]["repeat"]["index"] for m in manifests] == [1, 2]
    assert len({m["config"]["repeat"]["group"] for m in manifests}) == 1
