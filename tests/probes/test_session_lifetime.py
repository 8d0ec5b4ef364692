"""No probe session outlives its probe: its reader is ended (closed, cancelled if need be, awaited) when the
probe ends, however it ends, so nothing writes into a recorder that is closed; and the recorder, once closed,
counts what it is still offered instead of raising from a background task."""

from __future__ import annotations

import asyncio
import json

import pytest

from pitchey_analysis.capture.recorder import Recorder
from pitchey_analysis.outcomes import Outcome
from pitchey_analysis.probes import ProbeContext, ProbeSpec, Result
from pitchey_analysis.probes.session import ProbeSession
from pitchey_analysis.runner import make_options, run_probe
from tests.probes.badserver import CONNECTED, BadServer, close, read_frame, text


async def connected_then_streaming(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A behaviour: 'connected', then a frame every few milliseconds for ever, whatever the client does,
    until the client sends its close frame (answered with 1000)."""
    writer.write(text(CONNECTED))

    async def stream() -> None:
        n = 0
        while True:
            n += 1
            writer.write(text({"type": "dashboard_update", "n": n}))
            await writer.drain()
            await asyncio.sleep(0.005)

    streaming = asyncio.create_task(stream())
    try:
        while True:
            op, _ = await read_frame(reader)
            if op == 0x8:
                streaming.cancel()
                writer.write(close(1000))
                await writer.drain()
                return
    finally:
        streaming.cancel()
        await asyncio.gather(streaming, return_exceptions=True)


def readers() -> list[asyncio.Task]:
    """The probe sessions' reader tasks that have not ended."""
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("ProbeSession._read") and not t.done()]


async def left_open(ctx: ProbeContext) -> Result:
    """A probe that forgets to close its session."""
    s = await ProbeSession.open(ctx)
    await s.expect_type("dashboard_update", timeout=ctx.options.timeout_s)
    return Result(Outcome.PASS)


async def raises(ctx: ProbeContext) -> Result:
    """A probe that crashes with its session open."""
    await ProbeSession.open(ctx)
    raise RuntimeError("a bug in the probe")


async def hangs(ctx: ProbeContext) -> Result:
    """A probe that never returns (cut off by the probe's time limit)."""
    await ProbeSession.open(ctx)
    await asyncio.sleep(3600)
    return Result(Outcome.PASS)


@pytest.mark.parametrize(
    "fn,outcome", [(left_open, "pass"), (raises, "error"), (hangs, "error")], ids=lambda v: getattr(v, "__name__", v)
)
async def test_no_session_outlives_its_probe(tmp_path, fn, outcome):
    async with BadServer(connected_then_streaming) as b:
        rec = Recorder(tmp_path, {"test": fn.__name__})
        ctx = ProbeContext(ws_url=b.ws_url, http_url=b.http_url, recorder=rec, options=make_options("quick"))
        spec = ProbeSpec(f"test.{fn.__name__}", "connection", False, "", fn)
        record = await run_probe(spec, ctx, rec, limit_s=1.0)
        assert record["outcome"] == outcome, record
        assert not ctx.open_sessions and not readers()  # ended with the probe, not later
        rec.close()
        await asyncio.sleep(0.1)  # the server keeps streaming: nothing reads it any more
        assert rec.late_writes == 0
    rows = [json.loads(line) for line in (rec.dir / "events.jsonl").read_text().splitlines()]
    frames = [r for r in rows if r["kind"] == "frame" and r["direction"] == "in"]
    assert frames and frames[-1]["type"] == "close"  # the session's end is in the trace, under its probe
    assert {r["probe_id"] for r in frames} == {record["probe_id"]}


def test_a_closed_recorder_counts_late_writes_and_never_raises(tmp_path):
    rec = Recorder(tmp_path, {"test": "late"})
    rec.frame(
        {"probe_id": "p", "conn_id": "c", "direction": "in", "t_ms": 1.0, "type": "x", "size_bytes": 1, "payload": ""}
    )
    path = rec.close()
    before = (path / "events.jsonl").read_text()
    rec.frame(
        {"probe_id": "p", "conn_id": "c", "direction": "in", "t_ms": 2.0, "type": "x", "size_bytes": 1, "payload": ""}
    )
    rec.event("late")
    assert rec.late_writes == 2
    assert (path / "events.jsonl").read_text() == before
