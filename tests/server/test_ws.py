"""WebSocket side of the reference server: every row of PROTOCOL.md Part A over real sockets."""

from __future__ import annotations

import asyncio
import json
import time

import jwt
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Frame, Opcode

from tests.helpers import before_pong, http_get, http_post, nothing, recv, send, token, until, ws
from tests.waiting import aeventually

AUTH_CAPS = ["notifications", "dashboard", "presence", "messaging", "uploads"]


def claims(**over):
    now = int(time.time())
    c = {
        "sub": "1",
        "email": "e",
        "userType": "creator",
        "iat": now,
        "exp": now + 60,
        "iss": "pitchey",
        "aud": "pitchey-ws",
    }
    c.update(over)
    return c


async def test_anonymous_connected_frame(server):
    c = await ws(server)
    first = await recv(c)
    assert first["type"] == "connected" and first["authenticated"] is False and first["user"] is None
    assert first["capabilities"] == ["public_pitches", "browsing"]
    assert isinstance(first["sessionId"], str) and isinstance(first["timestamp"], int)
    assert "authError" not in first
    await c.close()


@pytest.mark.parametrize("how", ["query", "header", "post"])
async def test_three_ways_to_authenticate(server, how):
    tok = await token(server)
    if how == "post":
        c = await ws(server)
        assert (await recv(c))["authenticated"] is False
        await send(c, {"type": "auth", "token": tok})
        ans = await recv(c)
        assert ans["type"] == "auth_success" and ans["user"]["id"] == 1
    else:
        c = await ws(server, tok, header=how == "header")
        first = await recv(c)
        assert first["authenticated"] is True and first["user"] == {
            "id": 1,
            "username": "alexcreator",
            "type": "creator",
        }
        assert first["capabilities"] == AUTH_CAPS
    await c.close()


@pytest.mark.parametrize(
    "make,err",
    [
        (lambda s: jwt.encode(claims(), "x" * 40, algorithm="HS256"), "invalid_token"),
        (lambda s: jwt.encode(claims(exp=1000, iat=900), s, algorithm="HS256"), "expired_token"),
        (lambda s: jwt.encode(claims(aud="other"), s, algorithm="HS256"), "invalid_token"),
        (lambda s: jwt.encode(claims(iss="other"), s, algorithm="HS256"), "invalid_token"),
        (lambda s: jwt.encode(claims(), "", algorithm="none"), "invalid_token"),
        (lambda s: jwt.encode(claims(), s, algorithm="HS512"), "invalid_token"),
        (lambda s: "garbage", "invalid_token"),
    ],
    ids=["forged", "expired", "wrong-audience", "wrong-issuer", "alg-none", "hs512", "garbage"],
)
async def test_bad_upgrade_tokens_give_anonymous_with_auth_error(server, make, err):
    c = await ws(server, make(server.jwt_secret), local="127.0.0.77")
    first = await recv(c)
    assert first["authenticated"] is False and first["authError"] == err
    await c.close()


async def test_unknown_user_gets_connected_first_then_user_not_found(server):
    # PROTOCOL.md Part A: 'connected' is the first frame of every session, this one included.
    tok = jwt.encode(claims(sub="999"), server.jwt_secret, algorithm="HS256")
    c = await ws(server, tok, local="127.0.0.78")
    first = await recv(c)
    assert first["type"] == "connected" and first["authenticated"] is False and first["user"] is None
    err = await recv(c)
    assert err["type"] == "error" and err["code"] == "user_not_found"
    assert isinstance(err["message"], str) and err["timestamp"] > 10**12
    await nothing(c)
    await c.close()


async def test_post_connection_auth_error(server):
    c = await ws(server)
    await recv(c)
    await send(c, {"type": "auth", "token": "nope"})
    ans = await recv(c)
    assert ans["type"] == "auth_error" and ans["code"] == "invalid_token"
    await c.close()


async def test_ping_pong_echoes_id(server):
    c = await ws(server)
    await recv(c)
    await send(c, {"type": "ping", "id": "abc"})
    pong = await recv(c)
    assert pong["type"] == "pong" and pong["id"] == "abc" and isinstance(pong["serverTime"], int)
    await c.close()


async def test_subscribe_unsubscribe_and_channel_rules(server):
    c = await ws(server, await token(server))
    await recv(c)
    await send(c, {"type": "subscribe", "channel": "dashboard"})
    assert await recv(c) == {"type": "subscription_confirmed", "channel": "dashboard"}
    await send(c, {"type": "subscribe", "channel": "user:2"})
    err = await recv(c)
    assert err["type"] == "error" and err["code"] == "forbidden_channel" and {"message", "timestamp"} <= set(err)
    await send(c, {"type": "subscribe", "channel": "user:1"})
    assert (await recv(c))["type"] == "subscription_confirmed"
    await send(c, {"type": "unsubscribe", "channel": "dashboard"})
    assert await recv(c) == {"type": "unsubscribed", "channel": "dashboard"}
    await c.close()
    anon = await ws(server)
    await recv(anon)
    await send(anon, {"type": "subscribe", "channel": "notifications"})
    assert (await recv(anon))["code"] == "auth_required"
    await send(anon, {"type": "subscribe", "channel": "pitch:5"})
    assert (await recv(anon))["type"] == "subscription_confirmed"
    await anon.close()


@pytest.mark.parametrize(
    "mtype",
    [
        "get_dashboard_metrics",
        "presence_update",
        "send_message",
        "typing_start",
        "typing_stop",
        "notification_read",
        "request_initial_data",
    ],
)
async def test_authenticated_only_types_refused_when_anonymous(server, mtype):
    c = await ws(server)
    await recv(c)
    await send(c, {"type": mtype, "status": "away", "recipientId": 1, "content": "x", "notificationId": 1})
    ans = await recv(c)
    assert ans["type"] == "error" and ans["code"] == "auth_required"
    await c.close()


async def test_every_authenticated_message_type(server):
    a = await ws(server, await token(server, "creator"))
    b = await ws(server, await token(server, "investor"))
    await recv(a), await recv(b)
    await send(b, {"type": "subscribe", "channel": "presence"})
    await until(b, "subscription_confirmed")
    await send(a, {"type": "get_dashboard_metrics"})
    m = await recv(a)
    assert m["type"] == "dashboard_metrics" and set(m["metrics"]) == {
        "activeUsers",
        "connections",
        "messagesPerMinute",
        "uptime_s",
    }
    await send(a, {"type": "presence_update", "status": "busy"})
    assert await recv(a) == {"type": "presence_updated", "status": "busy"}
    assert (await until(b, "presence")) == {"type": "presence", "userId": 1, "status": "busy"}
    await send(a, {"type": "send_message", "recipientId": 2, "content": "hello"})
    sent = await recv(a)
    assert sent["type"] == "message_sent"
    msg = await until(b, "new_message")
    assert msg["messageId"] == sent["messageId"] and msg["senderId"] == 1 and msg["content"] == "hello"
    await send(a, {"type": "typing_start", "recipientId": 2})
    assert await until(b, "user_typing") == {"type": "user_typing", "userId": 1, "isTyping": True}
    await send(a, {"type": "typing_stop", "recipientId": 2})
    assert (await until(b, "user_typing"))["isTyping"] is False
    await send(b, {"type": "request_initial_data"})
    init = await until(b, "initial_data")
    assert init["userId"] == 2 and init["unreadMessagesCount"] == 1 and isinstance(init["notifications"], list)
    a2 = await ws(server, await token(server, "creator"))
    await recv(a2)
    await send(a, {"type": "notification_read", "notificationId": 7})
    assert await until(a, "notification_read") == {"type": "notification_read", "notificationId": 7}
    assert await until(a2, "notification_read") == {"type": "notification_read", "notificationId": 7}
    for c in (a, a2, b):
        await c.close()


async def test_pushes_dashboard_notifications_broadcast(server):
    admin = await token(server, "admin")
    c = await ws(server, await token(server))
    await recv(c)
    for ch in ("dashboard", "notifications", "uploads", "pitch:9"):
        await send(c, {"type": "subscribe", "channel": ch})
        await until(c, "subscription_confirmed")
    upd = await until(c, "dashboard_update", timeout=3)
    assert set(upd["metrics"]) == {"activeUsers", "connections", "messagesPerMinute", "uptime_s"}
    status, body = await http_post(server, "/api/notifications", {"userId": 1, "title": "T", "message": "M"}, admin)
    n = await until(c, "notification")
    assert n["id"] == body["id"] and n["title"] == "T" and n["message"] == "M"
    await http_post(
        server,
        "/api/broadcast",
        {
            "channel": "uploads",
            "message": {"type": "upload_progress", "uploadId": "u", "progress": 50, "status": "uploading"},
        },
        admin,
    )
    assert (await until(c, "upload_progress"))["progress"] == 50
    await http_post(
        server,
        "/api/broadcast",
        {"channel": "pitch:9", "message": {"type": "pitch_stats_update", "pitchId": 9, "views": 1, "likes": 0}},
        admin,
    )
    assert (await until(c, "pitch_stats_update"))["pitchId"] == 9
    await c.close()


async def test_a_user_sees_only_their_own_notifications(server):
    admin = await token(server, "admin")
    owner = await ws(server, await token(server, "creator"))  # userId 1: the control, who must get it
    await recv(owner)
    other = await ws(server, await token(server, "investor"))
    await recv(other)
    for c in (owner, other):
        await send(c, {"type": "subscribe", "channel": "notifications"})
        await until(c, "subscription_confirmed")
    await http_post(server, "/api/notifications", {"userId": 1, "title": "for creator", "message": "x"}, admin)
    assert (await until(owner, "notification"))["title"] == "for creator"
    # a round trip on the other session after the owner's delivery: whatever was pushed to it came before the pong
    assert "notification" not in [f["type"] for f in await before_pong(other)]
    for c in (owner, other):
        await c.close()


@pytest.mark.parametrize(
    "payload,code",
    [
        ("not json", "invalid_format"),
        ('{"no":"type"}', "invalid_format"),
        ("[1,2]", "invalid_format"),
        ('{"type":"bogus"}', "unknown_type"),
    ],
)
async def test_bad_input_answered_and_connection_usable(server, payload, code):
    c = await ws(server)
    await recv(c)
    await send(c, payload)
    err = await recv(c)
    assert err["type"] == "error" and err["code"] == code and {"message", "timestamp"} <= set(err)
    if code == "unknown_type":
        assert err["received"] == "bogus"
    await send(c, {"type": "ping", "id": "x"})
    assert (await recv(c))["type"] == "pong"
    await c.close()


async def test_binary_frame_is_invalid_format(server):
    c = await ws(server)
    await recv(c)
    await c.send(b"\x00\x01")
    assert (await recv(c))["code"] == "invalid_format"
    await c.close()


async def test_origin_allow_list(make_server):
    srv = await make_server(allowed_origins=["https://app.pitchey.example"])
    with pytest.raises(InvalidStatus) as exc:
        await ws(srv, origin="https://evil.example")
    assert exc.value.response.status_code == 403
    ok = await ws(srv, origin="https://app.pitchey.example")
    assert (await recv(ok))["type"] == "connected"
    await ok.close()


async def test_oversized_message_closes_1009(server):
    c = await ws(server, max_size=None)
    await recv(c)
    await c.send("x" * (70 * 1024))
    with pytest.raises(ConnectionClosed):
        await recv(c)
    assert c.protocol.close_rcvd.code == 1009


async def test_invalid_utf8_closes_1007(server):
    c = await ws(server)
    await recv(c)
    c.protocol.send_frame(Frame(Opcode.TEXT, b"\xff\xfe"))
    c.send_data()
    with pytest.raises(ConnectionClosed):
        await recv(c)
    assert c.protocol.close_rcvd.code == 1007


async def test_burst_rate_limited_then_1008(server):
    c = await ws(server)
    await recv(c)
    for i in range(200):
        try:
            await send(c, {"type": "ping", "id": str(i)})
        except ConnectionClosed:
            break
    codes = []
    with pytest.raises(ConnectionClosed):
        while True:
            f = await recv(c)
            if f["type"] == "error":
                codes.append(f["code"])
    assert codes == ["rate_limited"] * 3
    assert c.protocol.close_rcvd.code == 1008 and c.protocol.close_rcvd.reason == "Rate limit exceeded"
    _, stats, _ = await http_get(server, "/api/ws/stats", await token(server, "admin"))
    assert stats["data"]["rate_limited"] >= 4


async def test_ten_failed_authentications_lock_that_address_only(server):
    for _ in range(10):
        c = await ws(server, "bad", local="127.0.0.50")
        await recv(c)
        await c.close()
    locked = await ws(server, local="127.0.0.50")
    with pytest.raises(ConnectionClosed):
        await recv(locked)
    assert locked.protocol.close_rcvd.code == 1008
    assert locked.protocol.close_rcvd.reason == "Too many failed connection attempts"
    # X-Forwarded-For is not trusted by default: it neither frees nor moves the lockout.
    spoof = await ws(server, local="127.0.0.50", additional_headers={"X-Forwarded-For": "203.0.113.1"})
    with pytest.raises(ConnectionClosed):
        await recv(spoof)
    other = await ws(server, local="127.0.0.51")
    assert (await recv(other))["type"] == "connected"
    await send(other, {"type": "ping"})
    assert (await recv(other))["type"] == "pong"
    await other.close()


async def test_trusted_proxy_keys_lockout_by_forwarded_address(make_server):
    srv = await make_server(trust_proxy=True)
    for _ in range(10):
        c = await ws(srv, "bad", additional_headers={"X-Forwarded-For": "198.51.100.4"})
        await recv(c)
        await c.close()
    locked = await ws(srv, additional_headers={"X-Forwarded-For": "198.51.100.4"})
    with pytest.raises(ConnectionClosed):
        await recv(locked)
    fine = await ws(srv, additional_headers={"X-Forwarded-For": "198.51.100.5"})
    assert (await recv(fine))["type"] == "connected"
    await fine.close()


async def test_server_ping_control_frames_and_1011_when_unanswered(make_server):
    srv = await make_server(ping_interval=0.2, ping_timeout=0.4)
    c = await ws(srv)  # websockets answers pings automatically
    await recv(c)
    pings = []
    counted = c.protocol.recv_frame

    def count_pings(frame):
        pings.append(frame.opcode is Opcode.PING)
        counted(frame)

    c.protocol.recv_frame = count_pings
    # the server sends its next ping only once the last one is answered: a third ping shows two answered
    await aeventually(lambda: sum(pings) >= 3, 5.0, "three server pings")
    await send(c, {"type": "ping"})
    assert (await recv(c))["type"] == "pong"  # still open: pings were answered
    await c.close()
    mute = await ws(srv)
    await recv(mute)
    mute.protocol.send_pong = lambda data: None  # stop answering pings (RFC 6455 §5.5.3)
    orig = mute.protocol.recv_frame

    def drop_pings(frame):
        if frame.opcode is Opcode.PING:
            return
        orig(frame)

    mute.protocol.recv_frame = drop_pings
    with pytest.raises(ConnectionClosed):
        while True:
            await recv(mute, timeout=3)
    assert mute.protocol.close_rcvd.code == 1011


async def test_idle_timeout_closes_1000(make_server):
    srv = await make_server(idle_timeout=0.4, ping_interval=60)
    c = await ws(srv)
    await recv(c)
    with pytest.raises(ConnectionClosed):
        await recv(c, timeout=3)
    assert c.protocol.close_rcvd.code == 1000 and c.protocol.close_rcvd.reason == "Session timeout"


async def test_graceful_close_answered_1000(server):
    c = await ws(server)
    await recv(c)
    await c.close(1000)
    assert c.protocol.close_rcvd.code == 1000


async def test_shutdown_health_503_then_1001(make_server):
    srv = await make_server()
    c = await ws(srv)
    await recv(c)
    task = asyncio.create_task(srv.server.shutdown(grace_s=0.3))
    await aeventually(lambda: srv.hub.shutting_down, 2.0, "the shutdown's start")
    status, body, _ = await http_get(srv, "/api/ws/health")
    assert status == 503 and body["data"]["status"] == "degraded"
    with pytest.raises(ConnectionClosed):
        await recv(c, timeout=3)
    assert c.protocol.close_rcvd.code == 1001 and c.protocol.close_rcvd.reason == "Server shutting down"
    await task


async def test_slow_consumer_closed_1008_and_others_keep_receiving(make_server):
    srv = await make_server(send_queue_size=50, ping_interval=60.0, ping_timeout=60.0)  # no ping timeout (1011) first
    admin = await token(srv, "admin")
    # A small receive buffer switches off the kernel's autotuning (up to 32 MB here),
    # so that a client that stops reading is felt by the server quickly.
    import socket

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    sock.connect(("127.0.0.1", srv.port))
    from websockets.asyncio.client import connect

    slow = await connect(srv.ws_url, sock=sock, max_queue=1, ping_interval=None)
    fast = await ws(srv)
    await recv(slow), await recv(fast)
    for c in (slow, fast):
        await send(c, {"type": "subscribe", "channel": "pitch:1"})
        await until(c, "subscription_confirmed")
    slow.transport.pause_reading()  # a subscriber that never reads
    # 60 KB frames: enough to fill the kernel's socket buffers on loopback (several MB).
    import secrets

    # Random padding: permessage-deflate would shrink a repeated character to nothing.
    big = {"type": "pitch_stats_update", "pitchId": 1, "views": 0, "likes": 0, "pad": secrets.token_hex(30000)}
    got = 0
    sent = 0

    def cut_off() -> bool:
        return len(srv.hub.sessions) < 2 or any(s.closing for s in srv.hub.sessions.values())

    for _ in range(300):
        await http_post(srv, "/api/broadcast", {"channel": "pitch:1", "message": big}, admin)
        sent += 1
        while True:
            try:
                await asyncio.wait_for(fast.recv(), 0.001)
                got += 1
            except TimeoutError:
                break
        assert all(s.queue.qsize() <= 50 for s in srv.hub.sessions.values())  # memory stays bounded
        if cut_off():
            break
    assert cut_off(), "the slow consumer was never cut off"
    slow.transport.resume_reading()
    with pytest.raises(ConnectionClosed):
        while True:
            await recv(slow, timeout=5)
    assert slow.protocol.close_rcvd.code == 1008 and slow.protocol.close_rcvd.reason == "Send queue overflow"
    while got < sent:
        await asyncio.wait_for(fast.recv(), 2)
        got += 1
    assert got == sent
    await fast.close()


async def test_fault_knobs_latency_drop_close_after_cap(make_server):
    srv = await make_server(
        latency_ms={"ping": (150.0, 0.0)}, drop_answers=["get_dashboard_metrics"], close_after=0.6, max_connections=2
    )
    c = await ws(srv, await token(srv))
    await recv(c)
    t0 = time.perf_counter()
    await send(c, {"type": "ping"})
    await until(c, "pong")
    assert time.perf_counter() - t0 >= 0.14
    await send(c, {"type": "get_dashboard_metrics"})
    await nothing(c, 0.2)
    c2 = await ws(srv)
    with pytest.raises(InvalidStatus):
        await ws(srv)
    with pytest.raises(ConnectionClosed):
        await recv(c, timeout=3)
    assert c.protocol.close_rcvd.code == 1012
    await c2.close()


async def test_tokens_never_logged(make_server, caplog):
    import logging

    caplog.set_level(logging.DEBUG, logger="pitchey_analysis")
    srv = await make_server()
    tok = await token(srv)
    c = await ws(srv, tok)
    await recv(c)
    await c.close()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "/ws?token=[REDACTED]" in text
    assert tok not in text and tok.split(".")[1] not in text


async def test_ordinary_disconnects_log_no_traceback(make_server, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    srv = await make_server()
    for _ in range(5):
        c = await ws(srv)
        c.transport.abort()
    c = await ws(srv, await token(srv))
    await send(c, {"type": "subscribe", "channel": "dashboard"})
    c.transport.abort()
    await asyncio.sleep(0.5)  # a negative wait: no traceback logged within 0.5 s of the aborts (no event to wait for)
    assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]


async def test_stats_count_sessions_and_messages(server):
    admin = await token(server, "admin")
    c = await ws(server, await token(server))
    await recv(c)
    await send(c, {"type": "ping"})
    await recv(c)
    _, body, _ = await http_get(server, "/api/ws/stats", admin)
    d = body["data"]
    assert d["connections"]["total"] == 1 and d["connections"]["authenticated"] == 1 and d["connections"]["users"] == 1
    assert d["messages"]["by_type"]["ping"] == 1 and d["messages"]["sent"] >= 2
    await c.close()
    await aeventually(lambda: not server.hub.sessions, 2.0, "the closed session's removal")
    _, body, _ = await http_get(server, "/api/ws/stats", admin)
    assert body["data"]["connections"]["total"] == 0
    assert json.dumps(body)  # serializable
