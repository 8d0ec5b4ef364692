"""Hostile targets: ``debug`` and ``load`` against servers of our own that flood, go silent, send escape sequences,
answer nonsense or redirect nowhere. Each ends within seconds of ``--duration`` (the bound is the behaviour here),
keeps bounded buffers, prints no control character of the target's, and fails in one line.
"""

from __future__ import annotations

import asyncio
import time

import pytest

#: seconds beyond the listening time a debug session may take (login, upgrade, close): the command's own slack
from pitchey_analysis.debug import SLACK_S
from pitchey_analysis.textsafe import printable

from . import servers as S
from .common import one_line_error, run_cli

DEBUG = [  # (behaviour, exit code, text on stdout or in the error line)
    (S.ping_flood, 0, "pings received"),
    (S.frame_flood, 0, "more counted only"),
    (S.silent, 0, "connected"),
    (S.escapes, 0, "\\x1b[2J"),
    (S.bad_status, 1, "InvalidMessage: did not receive a valid HTTP response"),
    (S.redirect_file, 1, "HTTP 30"),  # a redirect is the answer, never followed (nor to file:)
    (S.redirect_loop, 1, "HTTP 30"),  # the first redirect is the answer: no loop is ever entered
    (S.endless_headers, 1, ("InvalidMessage", "TimeoutError: timed out during opening handshake")),  # whichever first
]


@pytest.mark.parametrize("behaviour, code, text", DEBUG, ids=[b.__name__ for b, _, _ in DEBUG])
def test_debug_ends_in_time_bounded_and_escaped(capsys, behaviour, code, text):
    duration = 1.0
    with S.hostile(behaviour) as srv:
        t0 = time.monotonic()
        got, out, err = run_cli(capsys, "debug", srv.ws_url, "--duration", str(duration))
        took = time.monotonic() - t0
    assert got == code, err
    assert took < 2 * duration + SLACK_S, took
    if code:
        line = one_line_error(err)
        assert any(t in line for t in ((text,) if isinstance(text, str) else text)), line
        assert len(err.strip().splitlines()) == 1, err
    else:
        assert text in out, out[-2000:]
    for stream in (out, err):  # nothing the target sent reaches the terminal as a control character
        assert printable(stream.replace("\n", "")) == stream.replace("\n", ""), [
            c for c in stream if printable(c) != c
        ][:5]


def test_a_ping_flood_is_counted_not_stored_and_our_pongs_do_not_pile_up():
    from pitchey_analysis.contract import default_contract
    from pitchey_analysis.probes.base import Options, ProbeContext
    from pitchey_analysis.probes.session import MAX_PINGS_KEPT, MAX_WRITE_BUFFER, ProbeSession

    class Nowhere:
        def frame(self, row):
            pass

        def sample(self, row):
            pass

        def add_secret(self, s):
            pass

    async def go(url: str) -> tuple[int, int, int]:
        ctx = ProbeContext(ws_url=url, http_url="", recorder=Nowhere(), options=Options(), contract=default_contract())
        s = await ProbeSession.open(ctx)
        most = 0
        for _ in range(
            20
        ):  # a bounded watch, not a wait for an event: 1 s of the flood, the write buffer read every 50 ms
            await asyncio.sleep(0.05)
            most = max(most, s.conn.transport.get_write_buffer_size())
        count, kept = s.ping_count, len(s.pings)
        await s.close()
        return count, kept, most

    with S.hostile(S.ping_flood) as srv:
        count, kept, most = asyncio.run(go(srv.ws_url))
    assert count > MAX_PINGS_KEPT and kept == MAX_PINGS_KEPT
    assert most <= MAX_WRITE_BUFFER + (1 << 20), most  # one read's answers past the mark at most


@pytest.mark.parametrize("behaviour", [S.frame_flood, S.ping_flood, S.silent], ids=lambda b: b.__name__)
def test_load_ends_within_seconds_of_its_duration_whatever_the_target_sends(capsys, tmp_path, behaviour):
    duration = 2.0
    with S.hostile(behaviour) as srv:
        t0 = time.monotonic()
        code, out, err = run_cli(
            capsys,
            "load",
            "--target",
            srv.ws_url,
            "--duration",
            str(duration),
            "--connections",
            "8",
            "--workers",
            "0",
            "--settle",
            "0",
            "--out",
            str(tmp_path),
        )
        took = time.monotonic() - t0
    assert code == 0, err
    # opening, the level, at most 2 s for the last answers, the dataset: seconds, never minutes
    assert took < duration + 15, took
    if behaviour is S.frame_flood:
        assert "frames_not_read" in out, out


def test_the_one_function_escapes_every_control_and_reordering_character():
    hostile = "".join(chr(c) for c in [*range(0, 32), 127, *range(0x80, 0xA0)]) + "\u202e\u2066\u200b\ufeff\udcff"
    shown = printable(hostile)
    assert all(c.isprintable() and c not in "\u202e\u2066\u200b\ufeff" for c in shown), shown
    assert printable("plain text, é, 日本") == "plain text, é, 日本"
    assert printable("x" * 50, 10) == "x" * 10 + "…"


@pytest.mark.parametrize("kind", ["gzip", "length", "chunked"])
def test_an_http_answer_is_read_only_as_far_as_any_answer_goes(kind):
    """A login (or any HTTP call of the suite) answered with a gzip bomb, a 5 GB body or an endless chunked one: at
    most MAX_BODY_BYTES are read (decompressed), in seconds, and the answer is judged on what was read."""
    from pitchey_analysis.contract import default_contract
    from pitchey_analysis.net import MAX_BODY_BYTES
    from pitchey_analysis.probes.base import Options, ProbeContext
    from pitchey_analysis.probes.common import http

    with S.hostile(S.body_bomb(kind)) as srv:
        ctx = ProbeContext(
            ws_url=srv.ws_url,
            http_url=srv.http_url,
            recorder=None,
            options=Options(timeout_s=30),
            contract=default_contract(),
        )
        t0 = time.monotonic()
        ans = asyncio.run(http(ctx, "POST", "/api/auth/creator/login", json_body={"email": "a@b.c", "password": "x"}))
        took = time.monotonic() - t0
    assert ans.status == 200 and len(ans.text) <= MAX_BODY_BYTES and ans.body is None, len(ans.text)
    assert took < 20, took
