"""Reference-server switches that each break one session invariant (probes/invariants.py), over real sockets."""

from __future__ import annotations

import time

import jwt
from websockets.exceptions import ConnectionClosed

from pitchey_analysis.probes.invariants import SessionTrace, check_session
from pitchey_analysis.probes.session import TracedConnection, parse_frame
from tests.helpers import recv, send, ws


def unknown_user_token(srv) -> str:
    now = int(time.time())
    claims = {
        "sub": "999",
        "email": "e",
        "userType": "creator",
        "iat": now,
        "exp": now + 60,
        "iss": "pitchey",
        "aud": "pitchey-ws",
    }
    return jwt.encode(claims, srv.jwt_secret, algorithm="HS256")


async def test_connected_first_off_sends_the_error_first(make_server):
    srv = await make_server(disable=["connected_first"])
    c = await ws(srv, unknown_user_token(srv), local="127.0.0.79")
    assert (await recv(c))["code"] == "user_not_found"
    assert (await recv(c))["type"] == "connected"
    await c.close()


async def test_json_frames_off_sends_plain_text_after_connected(make_server):
    srv = await make_server(disable=["json_frames"])
    c = await ws(srv)
    assert (await recv(c))["type"] == "connected"
    assert await c.recv() == "Welcome to Pitchey"
    await c.close()


async def test_error_shape_off_sends_a_leaky_error(make_server):
    srv = await make_server(disable=["error_shape"])
    c = await ws(srv)
    await recv(c)
    await send(c, "not json")
    err = await recv(c)
    assert err["type"] == "error" and "message" not in err and err["timestamp"] < 10**11 and "ws.ts:" in err["stack"]
    await c.close()


async def test_silent_after_close_off_writes_a_frame_after_the_close(make_server):
    srv = await make_server(disable=["silent_after_close"])
    c = await ws(srv, create_connection=TracedConnection)
    await recv(c)
    await c.close()
    assert c.wire_close_code == 1000 and c.after_close_bytes > 0
    assert b'"goodbye"' in bytes(c.after_close)


async def test_valid_close_codes_off_answers_1005(make_server):
    srv = await make_server(disable=["valid_close_codes"])
    c = await ws(srv, create_connection=TracedConnection)
    await recv(c)
    await c.close()
    assert c.wire_close_code == 1005
    assert c.protocol.close_rcvd is None  # the library refuses the code (RFC 6455 §7.4.1)


async def test_complete_server_keeps_every_invariant(server):
    c = await ws(server, create_connection=TracedConnection)
    frames = [parse_frame(await c.recv())]
    await send(c, "not json")
    await send(c, {"type": "ping", "id": "1"})
    frames += [parse_frame(await c.recv()), parse_frame(await c.recv())]
    await c.close()
    try:
        await c.recv()
    except ConnectionClosed:
        pass
    trace = SessionTrace(
        frames=[(0.0, f) for f in frames], close_received=c.close_frame_seen, close_code=c.wire_close_code
    )
    assert [f["type"] for f in frames] == ["connected", "error", "pong"]
    assert c.close_frame_seen and c.after_close_bytes == 0
    assert check_session(trace) == []
