"""Bad input the suite must survive: each is a recorded outcome, never a crash, and the run completes."""

from __future__ import annotations

import asyncio
import json
import os

import pytest

from pitchey_analysis import load_run
from pitchey_analysis.exceptions import UsageError
from pitchey_analysis.net import check_target, free_port
from pitchey_analysis.runner import SuiteConfig, arun_suite, make_options
from tests.probes.badserver import CONNECTED, BadServer, close, connected_then_silent, frame, read_frame, text


def quick_config(**over) -> SuiteConfig:
    # No preflight: these targets are broken on purpose, and what the probes record of them is under test
    # (the preflight's own one-line errors are tested in tests/test_evidence.py).
    return SuiteConfig(suite="quick", options=make_options("quick", **over), progress=False, preflight=False)


async def run_against(url: str, tmp_path, only=None, **over):
    cfg = quick_config(**over)
    cfg.only = only
    path = await asyncio.wait_for(arun_suite(url, suite="quick", out=tmp_path, config=cfg), 240)
    run = load_run(path)
    assert run.manifest["status"] == "complete"
    return run


def outcomes(run):
    return {r.probe: (r.outcome, r.reason) for r in run.probes.itertuples()}


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:1/ws", "ws://", "not a url", "ws://127.0.0.1:99999/ws", "ftp://x/ws"]
)
def test_malformed_target_refused_before_anything_starts(url):
    with pytest.raises(UsageError, match="malformed target URL"):
        check_target(url)


async def test_connection_refused_is_recorded(tmp_path):
    run = await run_against(f"ws://127.0.0.1:{free_port()}/ws", tmp_path, only=["connection", "messaging.ping"])
    o = outcomes(run)
    assert o["connection.anonymous_connect"] == ("error", "connect_refused")
    assert o["messaging.ping"] == ("error", "connect_refused")
    assert o["connection.login"] == ("skip", "no_credentials")


@pytest.mark.parametrize("upgrade,reason", [("never", "connect_timeout"), ("half", "connect_timeout")])
async def test_unanswered_or_half_written_handshake(tmp_path, upgrade, reason):
    async with BadServer(upgrade=upgrade) as b:
        run = await run_against(
            b.ws_url, tmp_path, only=["connection.anonymous_connect", "messaging.ping"], open_timeout_s=0.5
        )
    o = outcomes(run)
    assert o["connection.anonymous_connect"][1] in (reason, "bad_handshake")
    assert o["messaging.ping"][1] in (reason, "bad_handshake")


@pytest.mark.parametrize("status", [401, 403])
async def test_every_upgrade_refused_as_unauthorised_is_another_session_model(tmp_path, status):
    """The contract serves anonymous sessions; a target refusing every upgrade made its way with 401/403 does not
    take this contract's session model: no specific finding, the run says the target does not speak the contract."""
    from pitchey_analysis.analysis import analyze

    async with BadServer(status=status) as b:
        run = await run_against(b.ws_url, tmp_path, only=["messaging.ping", "connection.health"])
    o = outcomes(run)
    assert o["messaging.ping"][:2] == ("skip", "contract_not_spoken")
    v = analyze(run).verdict
    assert v.verdict == "INSUFFICIENT EVIDENCE" and f"HTTP {status}" in v.reasons.iloc[0]["detail"]


@pytest.mark.parametrize("status", [500])
async def test_http_status_instead_of_101(tmp_path, status):
    async with BadServer(status=status) as b:
        run = await run_against(b.ws_url, tmp_path, only=["messaging.ping", "connection.health"])
    o = outcomes(run)
    assert o["messaging.ping"] == ("fail", "upgrade_rejected")
    assert o["connection.health"] == ("fail", "wrong_status")
    detail = run.probes.set_index("probe").loc["messaging.ping", "detail"]
    assert str(status) in detail


async def test_invalid_tls_certificate_is_recorded_never_silently_unverified(make_server, tmp_path):
    srv = await make_server(tls=True)
    run = await run_against(srv.ws_url, tmp_path, only=["messaging.ping", "readiness.tls"])
    o = outcomes(run)
    assert o["messaging.ping"] == ("fail", "tls_error")  # the system store does not trust the test CA
    cfg = SuiteConfig(suite="quick", options=make_options("quick"), progress=False)
    with pytest.raises(UsageError, match="not trusted.*--cafile"):  # with the preflight, one line for the user
        await arun_suite(srv.ws_url, suite="quick", out=tmp_path / "pf", config=cfg)
    assert not (tmp_path / "pf").exists()
    cfg = quick_config()
    cfg.only, cfg.insecure = ["readiness.tls"], True
    run = load_run(await arun_suite(srv.ws_url, suite="quick", out=tmp_path, config=cfg))
    assert outcomes(run)["readiness.tls"] == ("fail", "tls_unverified")
    assert run.manifest["config"]["insecure"] is True


async def _garbage(reader, writer):
    writer.write(text(CONNECTED))
    writer.write(frame(0x1, b"\xff\xfe not utf8"))
    await writer.drain()
    await asyncio.sleep(3600)


async def _binary_and_nonjson(reader, writer):
    writer.write(text(CONNECTED))
    while True:
        op, data = await read_frame(reader)
        if op == 0x8:
            writer.write(close(1000))
            return
        writer.write(frame(0x2, b"\x00\x01") + text("not json at all") + text({"type": "mystery"}))
        await writer.drain()


async def _oversized(reader, writer):
    writer.write(text(CONNECTED))
    writer.write(frame(0x1, b'"' + b"x" * (2 * 1024 * 1024) + b'"'))
    await writer.drain()
    await asyncio.sleep(3600)


def _close_with(code):
    async def b(reader, writer):
        writer.write(text(CONNECTED))
        await read_frame(reader)
        writer.write(close(code, "bye"))
        await writer.drain()
        await asyncio.sleep(1)

    return b


_silent = connected_then_silent  # 'connected', then silence


async def _flood(reader, writer):
    writer.write(text(CONNECTED))
    blob = text({"type": "dashboard_update", "pad": "y" * 1000})
    for _ in range(20000):  # bounded: about 20 MB
        writer.write(blob)
        await writer.drain()


async def test_invalid_utf8_from_the_server(tmp_path):
    async with BadServer(_garbage) as b:
        run = await run_against(b.ws_url, tmp_path, only=["messaging.ping"])
    assert outcomes(run)["messaging.ping"][0] == "fail"


async def test_binary_non_json_and_unknown_frames(tmp_path):
    async with BadServer(_binary_and_nonjson) as b:
        run = await run_against(b.ws_url, tmp_path, only=["messaging.ping", "messaging.invalid_json"])
    o = outcomes(run)
    assert o["messaging.ping"] == ("fail", "no_answer")
    assert o["messaging.invalid_json"] == ("fail", "no_answer")
    kinds = set(run.frames["type"].dropna())
    assert {"binary", "invalid", "mystery"} <= kinds


async def test_oversized_frame_from_the_server(tmp_path):
    async with BadServer(_oversized) as b:
        run = await run_against(b.ws_url, tmp_path, only=["messaging.ping"])
    o = outcomes(run)
    assert o["messaging.ping"][0] == "fail"


@pytest.mark.parametrize("code", [1000, 1008, 1011, 4001])
async def test_server_closing_mid_run(tmp_path, code):
    async with BadServer(_close_with(code)) as b:
        run = await run_against(b.ws_url, tmp_path, only=["messaging", "resilience.invalid_then_working"])
    o = outcomes(run)
    assert o["messaging.ping"] == ("fail", "no_answer")
    assert o["resilience.invalid_then_working"] == ("fail", f"closed_{code}")
    closes = run.frames[run.frames["type"] == "close"]["payload"]
    assert closes.str.startswith(str(code)).any()


async def test_unanswered_pings(tmp_path):
    async with BadServer(_silent) as b:
        run = await run_against(b.ws_url, tmp_path, only=["messaging.ping", "performance.round_trip"])
    o = outcomes(run)
    assert o["messaging.ping"] == ("fail", "no_answer")
    assert o["performance.round_trip"] == ("fail", "no_answer")


async def test_flood_of_server_messages_keeps_memory_bounded(tmp_path):
    import resource

    async with BadServer(_flood) as b:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        run = await run_against(b.ws_url, tmp_path, only=["messaging.ping"])
        grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert outcomes(run)["messaging.ping"] == ("fail", "no_answer")
    assert grown_mb < 200
    assert len(run.frames) <= 250  # the frames table is capped per connection


async def test_disk_full_marks_the_run_degraded(tmp_path, monkeypatch):
    """events.jsonl on /dev/full: every write fails with ENOSPC."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    from pitchey_analysis.capture import recorder as rec_mod

    real_open = open

    def fake_open(path, mode="r", *a, **k):
        if str(path).endswith("events.jsonl") and "a" in mode:
            return real_open("/dev/full", "w", *a, **k)
        return real_open(path, mode, *a, **k)

    monkeypatch.setattr(rec_mod, "open", fake_open, raising=False)
    async with BadServer(_silent) as b:
        cfg = quick_config()
        cfg.only = ["messaging.ping"]
        path = await arun_suite(b.ws_url, suite="quick", out=tmp_path, config=cfg)
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["status"] == "degraded"
    assert "ENOSPC" in manifest["degraded_reason"] or "No space" in manifest["degraded_reason"]
    run = load_run(path)  # still loadable
    assert run.source == "jsonl"


async def test_http_url_is_used_when_given(make_server, tmp_path):
    srv = await make_server()
    cfg = quick_config()
    cfg.only = ["connection.health"]
    run = load_run(await arun_suite(srv.ws_url, suite="quick", out=tmp_path, config=cfg, http_url=srv.http_url + "/"))
    assert outcomes(run)["connection.health"] == ("pass", "ok")
    run = load_run(
        await arun_suite(
            srv.ws_url, suite="quick", out=tmp_path, config=cfg, http_url=f"http://127.0.0.1:{free_port()}"
        )
    )
    assert outcomes(run)["connection.health"] == ("error", "connect_refused")
    assert run.manifest["target"]["http_url"].startswith("http://127.0.0.1:")
