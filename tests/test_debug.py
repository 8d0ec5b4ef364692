"""The message-flow debugger: a trace from the first byte, and a summary that shows Part B."""

from __future__ import annotations

import io
import subprocess
import sys

import pandas as pd

from pitchey_analysis.debug import trace_session
from pitchey_analysis.runner import DEMO_USERS


async def _summary(srv, listen_s: float = 0.3):
    out = io.StringIO()
    frames, summary = await trace_session(srv.ws_url, srv.http_url, creds=DEMO_USERS["creator"], sweep=True,
                                          listen_s=listen_s, window_s=0.3, out=out)
    return frames, dict(zip(summary["sent"], summary["answers"], strict=True)), out.getvalue()


async def test_sweep_against_complete(server):
    frames, s, printed = await _summary(server)
    assert s["(nothing: the upgrade)"] == "connected"
    assert s["ping"] == "pong" and s["auth"] == "auth_success" and s["subscribe"] == "subscription_confirmed"
    assert s["get_dashboard_metrics"] == "dashboard_metrics" and s["unknown type"] == "error"
    assert "new_message" in s["send_message"] and "message_sent" in s["send_message"]
    assert "← connected" in printed and "→ ping" in printed
    assert set(frames.columns) >= {"direction", "t_ms", "type", "size_bytes", "payload"}
    assert "Demo123" not in printed and "eyJ" not in printed  # the auth frame's token is redacted


async def test_sweep_against_pitchey_2025_11_shows_part_b(make_server):
    srv = await make_server("pitchey-2025-11")
    # the second 'connected' follows the user lookup: listened for a second (a loaded machine was past 0.3 s)
    _, s, _ = await _summary(srv, listen_s=1.0)
    assert s["(nothing: the upgrade)"].split(", ").count("connected") == 2  # item 4 (its JSON ping may follow)
    assert s["auth"] == "no answer"  # item 1
    assert s["subscribe"] == "no answer" and s["unknown type"] == "no answer"  # item 2
    assert s["object without type"] == "no answer"  # item 16
    assert s["ping"] == "pong"  # answered, in the wrapped shape of item 3


def test_cli_debug_saves_frames(tmp_path):
    out = tmp_path / "frames.parquet"
    r = subprocess.run([sys.executable, "-m", "pitchey_analysis.cli", "debug", "--sweep", "--duration", "0.3", "--save", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "summary" in r.stdout and "subscription_confirmed" in r.stdout
    df = pd.read_parquet(out)
    assert len(df) > 10 and set(df["direction"]) == {"in", "out"}
