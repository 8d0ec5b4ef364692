"""The command line as a user runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import pytest

CLI = [sys.executable, "-m", "pitchey_analysis.cli"]


def cli(*args, timeout=180, **kw):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, **kw)


def main(capsys, *args: str) -> tuple[int, str, str]:
    """``pitchey-analysis ARGS`` in this process (argparse's own exits included): exit code, stdout, stderr."""
    from pitchey_analysis import cli as cli_mod

    try:
        code = cli_mod.main(list(args))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def test_the_console_entry_point_answers_help_and_misuse():
    """The real process once: help exits 0, misuse exits 2 with one line; the other cases run in-process below."""
    r = cli("--help")
    assert r.returncode == 0 and "usage: pitchey-analysis" in r.stdout
    r = cli("run", "--target", "http://127.0.0.1/ws")
    assert r.returncode == 2 and "malformed target URL" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize(
    "sub", [[], ["serve"], ["run"], ["report"], ["compare"], ["debug"], ["load"], ["history"], ["contract"]]
)
def test_help(capsys, sub):
    code, out, _ = main(capsys, *sub, "--help")
    assert code == 0 and "usage: pitchey-analysis" in out


def test_no_command_prints_help_and_exits_2(capsys):
    code, out, _ = main(capsys)
    assert code == 2 and "serve" in out


def test_dry_run_lists_probes_without_running(capsys):
    code, out, _ = main(capsys, "run", "--dry-run", "--target", "wss://pitchey.example.com/ws")
    assert code == 0
    assert "readiness.lockout_spoofing" in out and "skip (disruptive_not_allowed)" in out
    code, out, _ = main(capsys, "run", "--dry-run", "--target", "wss://pitchey.example.com/ws", "--allow-disruptive")
    assert code == 0 and "disruptive_not_allowed" not in out


@pytest.mark.parametrize(
    "args,msg",
    [
        (["run", "--target", "http://127.0.0.1/ws"], "malformed target URL"),
        (["run", "--target", "ws://"], "malformed target URL"),
        (["run", "--email", "a@b.c"], "give both --email and --password"),
        (["run", "--password", "Demo123"], "--password needs --email"),
        (["run", "--concurrency", "1,x"], "concurrency levels must be integers"),
        (["run", "--target", "ws://127.0.0.1:9/ws", "--http-url", "ftp://x"], "malformed HTTP URL"),
        (["report", "no-such-run", "--runs-dir", "/nonexistent"], "no run"),
        (["report", "--format", "docx"], "--format takes html, pdf"),
        (["serve", "--disable", "nope"], "unknown feature"),
    ],
)
def test_misuse_is_one_line_and_exit_2(capsys, monkeypatch, args, msg):
    for var in ("PITCHEY_EMAIL", "PITCHEY_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    code, _, err = main(capsys, *args)
    assert code == 2, err
    assert msg in err.strip().splitlines()[-1]  # argparse's own errors print the usage above the error line
    assert "Traceback" not in err


def test_wrong_password_against_the_embedded_server_is_caught_by_the_preflight(tmp_path, capsys, monkeypatch):
    """A mistyped password is the user's mistake even against our own server: one line, exit 2, no run recorded."""
    monkeypatch.delenv("PITCHEY_PASSWORD", raising=False)
    code, out, err = main(
        capsys,
        "run",
        "--suite",
        "quick",
        "--out",
        str(tmp_path),
        "--no-progress",
        "--email",
        "alex.creator@demo.com",
        "--password",
        "Demo124",
    )
    assert code == 2, err
    assert err.strip().splitlines()[-1].startswith("pitchey-analysis run: error: login as creator failed (401)")
    assert "Demo124" not in err + out
    assert not any(p.is_dir() for p in tmp_path.iterdir())  # no run recorded
    code, _, err = main(
        capsys,
        "run",
        "--suite",
        "quick",
        "--out",
        str(tmp_path),
        "--no-progress",
        "--only",
        "connection.health",
        "--email",
        "alex.creator@demo.com",
        "--password",
        "Demo123",
        "--tls",
        "--fail-on",
        "not-ready",
    )
    assert code == 0, err  # the right password passes, over wss:// too (one probe: INSUFFICIENT EVIDENCE, let through)
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 1


def test_quick_run_writes_summaries_and_exit_codes(tmp_path, capsys):
    """In-process (the console entry point is checked above): the summaries, and the exit policy on three runs."""
    code, out, err = main(
        capsys,
        "run",
        "--suite",
        "quick",
        "--out",
        str(tmp_path),
        "--no-progress",
        "--only",
        "connection",
        "--only",
        "readiness.tls",
        "--json",
        str(tmp_path / "s.json"),
        "--junit",
        str(tmp_path / "j.xml"),
    )
    assert code == 3, err  # INSUFFICIENT EVIDENCE (below) is not a pass
    assert "verdict:" in out and "run dataset:" in out
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["status"] == "complete" and summary["verdict"] == "INSUFFICIENT EVIDENCE"
    suites = ET.parse(tmp_path / "j.xml").getroot()
    assert (
        sum(int(s.get("tests")) for s in suites) == 10
    )  # 8 connection probes, session.first_frame (judging their sessions) and the TLS probe
    assert {s.get("name") for s in suites} == {"connection", "readiness"}
    code, _, _ = main(
        capsys,
        "run",
        "--suite",
        "quick",
        "--out",
        str(tmp_path),
        "--no-progress",
        "--only",
        "connection.health",
        "--fail-on",
        "insufficient",
    )
    assert code == 3  # targets not verified in so small a run: INSUFFICIENT EVIDENCE
    code, _, _ = main(
        capsys,
        "run",
        "--suite",
        "quick",
        "--out",
        str(tmp_path),
        "--no-progress",
        "--profile",
        "pitchey-2025-11",
        "--only",
        "connection.login_no_password",
    )
    assert code == 1  # a critical probe failed


def test_serve_answers_login_and_ping_then_stops_cleanly():
    import asyncio

    import aiohttp
    from websockets.asyncio.client import connect

    proc = subprocess.Popen([*CLI, "serve", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ws_url = http_url = None
        end = time.monotonic() + 30
        while time.monotonic() < end and not (ws_url and http_url):
            line = proc.stderr.readline()
            if line.startswith("WebSocket:"):
                ws_url = line.split()[1]
            elif line.startswith("HTTP:"):
                http_url = line.split()[1]
        assert ws_url and http_url

        async def client():
            async with aiohttp.ClientSession() as s:
                async with s.post(
                    http_url + "/api/auth/creator/login", json={"email": "alex.creator@demo.com", "password": "Demo123"}
                ) as r:
                    token = (await r.json())["token"]
            c = await connect(ws_url + "?token=" + token)
            assert json.loads(await c.recv())["authenticated"] is True
            await c.send(json.dumps({"type": "ping", "id": "x"}))
            assert json.loads(await c.recv())["id"] == "x"
            proc.send_signal(signal.SIGINT)
            try:
                while True:
                    await asyncio.wait_for(c.recv(), 10)
            except Exception:
                pass
            return c.protocol.close_rcvd

        rcvd = asyncio.run(client())
        assert rcvd is not None and rcvd.code == 1001
        assert proc.wait(15) == 0
        err = proc.stderr.read()
        assert "Traceback" not in err and token_free(err)
    finally:
        if proc.poll() is None:
            proc.kill()


def token_free(text: str) -> bool:
    import re

    return not re.search(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ", text)


def test_degraded_capture_exits_4(tmp_path, monkeypatch, capsys):
    """Disk full while writing: the run is marked degraded and `run` exits 4; what was written stays readable."""
    import pathlib

    from pitchey_analysis import cli
    from pitchey_analysis.capture import recorder as rec_mod

    real_open = open

    def fake_open(path, mode="r", *a, **k):
        if str(path).endswith("events.jsonl") and "a" in mode:
            return real_open("/dev/full", "w", *a, **k)
        return real_open(path, mode, *a, **k)

    if not pathlib.Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    monkeypatch.setattr(rec_mod, "open", fake_open, raising=False)
    code = cli.main(["run", "--suite", "quick", "--only", "connection.health", "--out", str(tmp_path), "--no-progress"])
    assert code == 4
    assert "capture was degraded" in capsys.readouterr().err


def test_exit_policy_is_a_pure_function():
    from pitchey_analysis.cli.run import exit_code

    ok = {"status": "complete", "critical_failed": False, "verdict": "READY"}
    assert exit_code("critical", **ok) == 0
    assert exit_code("critical", **{**ok, "critical_failed": True}) == 1
    assert exit_code("never", **{**ok, "critical_failed": True, "verdict": "NOT READY"}) == 0
    assert exit_code("not-ready", **{**ok, "verdict": "INSUFFICIENT EVIDENCE"}) == 0
    assert exit_code("insufficient", **{**ok, "verdict": "INSUFFICIENT EVIDENCE"}) == 3
    assert exit_code("critical", **{**ok, "verdict": "INSUFFICIENT EVIDENCE"}) == 3  # not a pass, by default
    assert exit_code("critical", **{**ok, "verdict": "NOT READY"}) == 0  # no critical probe failed (an SLO missed)
    assert exit_code("insufficient", **{**ok, "verdict": "NOT READY"}) == 1
    assert exit_code("critical", **{**ok, "critical_failed": True, "verdict": "INSUFFICIENT EVIDENCE"}) == 1
    assert exit_code("not-ready", **{**ok, "verdict": "NOT READY"}) == 1
    assert exit_code("never", **{**ok, "status": "degraded"}) == 4
    # NOT READY by a missed target alone while critical probes went unjudged: missing evidence, not a pass
    gaps = {**ok, "verdict": "NOT READY", "gaps": True}
    assert exit_code("critical", **gaps) == 3
    assert exit_code("critical", **{**gaps, "critical_failed": True}) == 1
    assert exit_code("not-ready", **gaps) == 1
    assert exit_code("insufficient", **gaps) == 1
    assert exit_code("never", **gaps) == 0


@pytest.mark.slow
def test_a_target_that_answers_nothing_never_exits_0(tmp_path, capsys):
    """A service that accepts TCP connections and answers nothing (not the upgrade, not HTTP): the concurrency
    target is missed (every connection timed out) so the verdict is NOT READY, while every critical probe went
    unjudged. Before, that exited 0 under the default --fail-on and a pipeline went green on a dead service."""
    from tests.conftest import SHORT
    from tests.hostile.servers import answers_nothing, hostile

    with hostile(answers_nothing) as srv:
        code, out, err = main(
            capsys,
            *("run", "--target", srv.ws_url, "--suite", "quick", "--out", str(tmp_path), "--no-progress"),
            *("--json", str(tmp_path / "s.json"), "--timeout-scale", str(SHORT)),
        )
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["verdict"] == "NOT READY", summary["verdict"]  # the control: the case the policy missed
    assert "connection.ping_on_connected" in summary["evidence_gaps"], summary["evidence_gaps"]
    assert code == 3, (code, err[-500:])
    assert "could not be judged" in err and "missing evidence is not a pass" in err, err[-500:]


def test_timeout_scale_is_an_argument_not_an_environment_change():
    from pitchey_analysis.runner import make_options

    before = dict(os.environ)
    opts = make_options("quick", scale=0.5)
    assert opts.timeout_scale == 0.5 and opts.timeout_s == 1.5  # the quick suite answers within 3 s, times 0.5
    assert dict(os.environ) == before


@pytest.mark.slow
def test_the_default_run_can_be_ready(tmp_path, capsys):
    """`pitchey-analysis run` as the README's first line gives it (only --out and the exit policy added): the embedded
    complete server over wss://, so the critical TLS probe and the TLS target are judged and the verdict is READY."""
    # the user's own waits (scale 1), not the tests' shortened ones: under a loaded test machine the shortened
    # waits let level-100 pings time out and the run missed the concurrency target without the server failing
    code, out, err = main(
        capsys,
        "run",
        "--out",
        str(tmp_path),
        "--no-progress",
        "--json",
        str(tmp_path / "s.json"),
        "--fail-on",
        "never",
        "--timeout-scale",
        "1",
    )
    assert code == 0, err
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["verdict"] == "READY", out[-3000:]
