"""The reference server under attack (issue 31): each protection with its switch on, and off.

Every test that switches a protection off shows the weakness it guards
against, so a probe of the suite can be shown failing against that server.
"""

from __future__ import annotations

import asyncio
import threading

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from pitchey_analysis.server import store as store_mod
from pitchey_analysis.server.deadline import FrameWatcher, Phase, RequestClock
from pitchey_analysis.server.limits import EventWindow, connection_cap
from pitchey_analysis.server.proxy import client_address, parse_networks
from tests.helpers import PASSWORD, http_get, login, recv, send, token, until, ws
from tests.waiting import aeventually

#: a wait the test expects to run out: the protection is off, the connection stays
HELD = 1.0


# -- pure parts ----------------------------------------------------------------
def test_event_window_expires_bounds_and_never_creates_on_read():
    w = EventWindow(window_s=10.0, max_keys=3)
    for i in range(5):
        w.add(f"k{i}", now=float(i))
    assert len(w) == 3 and w.count("k0", 5.0) == 0 and w.count("k4", 5.0) == 1
    w.count("never", 5.0)
    assert len(w) == 3
    w.add("k4", 6.0)
    assert w.retry_after("k4", 7.0, limit=2) == pytest.approx(7.0)  # the older of the two expires at 14
    assert w.retry_after("k4", 7.0, limit=3) == 0.0
    w.prune(100.0)
    assert len(w) == 0


def test_connection_cap_follows_the_file_limit():
    assert connection_cap(20) == 4
    assert connection_cap(1024) == 1024 - 103
    assert connection_cap(20_000) == 18_000
    assert 0 < connection_cap() < 1_048_576


def test_request_clock_phases():
    c = RequestClock()
    entered, rest = c.feed(b"POST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nab")
    assert entered == [Phase.BODY] and rest == b""
    entered, _ = c.feed(b"cGET / HTTP/1.1\r\n")
    assert entered == [Phase.IDLE, Phase.HEAD] and c.phase is Phase.HEAD
    entered, _ = c.feed(b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
    assert entered == [Phase.CHUNKED, Phase.IDLE]
    entered, rest = c.feed(b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n\x81\x80")
    assert entered == [Phase.HEAD, Phase.UPGRADED] and rest == b"\x81\x80"


def test_frame_watcher_sees_an_unmasked_frame():
    w = FrameWatcher()
    masked = bytes([0x81, 0x82]) + b"mask" + b"xy"
    assert not w.feed(masked + masked[:3]) and not w.feed(masked[3:])
    assert w.feed(bytes([0x81, 0x02]) + b"{}")


def test_frame_watcher_hands_input_on_a_number_of_frames_at_a_time():
    ping = bytes([0x89, 0x80]) + b"mask"  # an empty ping, masked: 6 bytes
    big = bytes([0x81, 0xFE]) + (300).to_bytes(2, "big") + b"mask" + b"x" * 300
    w = FrameWatcher()
    assert w.scan(ping * 10, frames=3) == (False, 18)  # stops where the 4th frame begins
    assert w.scan(ping * 7, frames=0) == (False, 42)
    assert w.scan(big[:5], frames=1) == (False, 5)  # a header split across reads
    # the rest of that frame does not count as a new one: it and the next frame, not the one after
    assert w.scan(big[5:] + ping + ping, frames=1) == (False, len(big) - 5 + 6)
    assert w.scan(ping + bytes([0x81, 0x02]) + b"{}", frames=1) == (False, 6)
    assert w.scan(bytes([0x81, 0x02]) + b"{}")[0]
    lax = FrameWatcher(check_mask=False)  # mask check off: an unmasked frame (no mask key) is walked past
    assert lax.scan(bytes([0x81, 0x02]) + b"{}" + ping, frames=1) == (False, 4)


def test_client_address_rightmost_untrusted_hop():
    nets = parse_networks(["10.0.0.0/8", "::1"])
    assert client_address("127.0.0.1", "1.2.3.4", nets) == "127.0.0.1"  # a direct client names no one
    assert client_address("10.0.0.5", "6.6.6.6, 1.2.3.4", nets) == "1.2.3.4"  # the first entry is the client's own
    assert client_address("10.0.0.5", "1.2.3.4, 10.0.0.9", nets) == "1.2.3.4"  # a chain of trusted proxies
    assert client_address("10.0.0.5", "junk", nets) == "10.0.0.5"
    with pytest.raises(ValueError):
        parse_networks(["not-an-address"])


# -- raw connections -----------------------------------------------------------
async def _raw(srv, ssl=None):
    return await asyncio.open_connection("127.0.0.1", srv.port, ssl=ssl)


async def _dropped_within(reader, seconds: float) -> bool:
    """Whether the server ends the connection within ``seconds`` (reads until EOF or a reset)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    try:
        while loop.time() < end:
            data = await asyncio.wait_for(reader.read(65536), end - loop.time())
            if not data:
                return True
    except TimeoutError:
        return False
    except ConnectionError:
        return True
    return False


async def _response(reader) -> bytes:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2.0)
    length = next(int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length"))
    return head + await asyncio.wait_for(reader.readexactly(length), 2.0)


@pytest.mark.parametrize("on", [True, False], ids=["on", "off"])
async def test_tls_handshake_under_the_head_deadline(make_server, on):
    srv = await make_server(tls=True, handshake_timeout=0.3, disable=[] if on else ["tls_handshake_deadline"])
    reader, writer = await _raw(srv)
    writer.write(b"\x16\x03\x01\x00\xc8")  # 5 bytes of a ClientHello, then nothing
    try:
        assert await _dropped_within(reader, HELD) is on
    finally:
        writer.close()


@pytest.mark.parametrize("on", [True, False], ids=["on", "off"])
async def test_second_request_head_on_a_kept_alive_connection(make_server, on):
    srv = await make_server(handshake_timeout=0.3, disable=[] if on else ["request_deadlines"])
    reader, writer = await _raw(srv)
    try:
        writer.write(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b" 200 " in (await _response(reader)).split(b"\r\n")[0]
        writer.write(b"GET /api/health HTTP/1.1\r\n")  # and the rest never comes
        assert await _dropped_within(reader, HELD) is on
    finally:
        writer.close()


@pytest.mark.parametrize("on", [True, False], ids=["on", "off"])
async def test_trickled_request_body(make_server, on):
    srv = await make_server(body_timeout=0.3, disable=[] if on else ["request_deadlines"])
    reader, writer = await _raw(srv)
    try:
        writer.write(
            b"POST /api/auth/creator/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000000\r\n\r\n{"email": '
        )
        assert await _dropped_within(reader, HELD) is on
    finally:
        writer.close()


@pytest.mark.parametrize("on", [True, False], ids=["on", "off"])
async def test_connections_beyond_the_cap_get_503(make_server, on):
    srv = await make_server(open_files=20, disable=[] if on else ["connection_cap"])  # a cap of 4
    held = [await ws(srv) for _ in range(4)]
    try:
        if on:
            with pytest.raises(InvalidStatus) as err:
                await ws(srv)
            assert err.value.response.status_code == 503
            assert (await http_get(srv, "/api/health"))[0] == 503
            await held.pop().close()
            loop = asyncio.get_running_loop()
            end = loop.time() + 2.0
            status = 503
            while status == 503 and loop.time() < end:  # the slot comes back once the server sees the close
                status = (await http_get(srv, "/api/health"))[0]
            assert status == 200
        else:
            extra = await ws(srv)
            held.append(extra)
            assert (await recv(extra))["type"] == "connected"
    finally:
        for c in held:
            await c.close()


# -- WebSocket input -------------------------------------------------------------
@pytest.mark.parametrize("on", [True, False], ids=["on", "off"])
async def test_deeply_nested_json_is_invalid_format_and_the_session_kept(make_server, on):
    srv = await make_server(disable=[] if on else ["parse_guard"])
    c = await ws(srv)
    await recv(c)
    await send(c, "[" * 60_000)  # inside the 64 KiB limit, deeper than the interpreter's stack
    if on:
        assert (await recv(c))["code"] == "invalid_format"
        await send(c, {"type": "ping", "id": "after"})
        assert (await until(c, "pong"))["id"] == "after"
        await c.close()
    else:
        with pytest.raises(ConnectionClosed):
            await recv(c)


@pytest.mark.parametrize("on", [True, False], ids=["on", "off"])
async def test_deeply_nested_login_body_is_400(make_server, on):
    import aiohttp

    srv = await make_server(disable=[] if on else ["parse_guard"])
    async with aiohttp.ClientSession() as s:
        async with s.post(
            f"{srv.http_url}/api/auth/creator/login", data="[" * 60_000, headers={"Content-Type": "application/json"}
        ) as r:
            assert r.status == (400 if on else 500)


@pytest.mark.parametrize("on", [True, False], ids=["on", "off"])
async def test_wrong_typed_fields_answered_from_the_schema(make_server, on):
    srv = await make_server(disable=[] if on else ["schema_validation"])
    c = await ws(srv, await token(srv))
    await recv(c)
    await send(c, {"type": "presence_update", "status": ["online"]})
    err = await until(c, "error")
    assert err["code"] == ("invalid_format" if on else "invalid_status")
    await send(c, {"type": "ping", "id": {"nested": [1, 2]}})
    ans = await recv(c)
    assert ans["type"] == ("error" if on else "pong")
    await c.close()


@pytest.mark.parametrize("on", [True, False], ids=["on", "off"])
async def test_unknown_types_are_counted_under_one_key(make_server, on):
    srv = await make_server(disable=[] if on else ["known_type_counters"])
    c = await ws(srv)
    await recv(c)
    for i in range(5):
        await send(c, {"type": f"junk-{i}-" + "x" * 1000})
        assert (await recv(c))["code"] == "unknown_type"
    await c.close()
    unknown = [t for t in srv.hub.received_by_type if t.startswith("junk-")]
    assert (len(unknown), srv.hub.received_by_type.get("(unknown)", 0)) == ((0, 5) if on else (5, 0))


@pytest.mark.parametrize("on", [True, False], ids=["on", "off"])
async def test_subscriptions_capped_per_session_and_released_on_close(make_server, on):
    srv = await make_server(max_subscriptions=3, max_channel_length=16, disable=[] if on else ["subscription_cap"])
    c = await ws(srv)
    await recv(c)
    for i in range(4):
        await send(c, {"type": "subscribe", "channel": f"pitch:{i}"})
    answers = [await recv(c) for _ in range(4)]
    assert [a["type"] for a in answers[:3]] == ["subscription_confirmed"] * 3
    assert answers[3].get("code") == ("subscription_limit" if on else None)
    await send(c, {"type": "unsubscribe", "channel": "pitch:0"})
    await until(c, "unsubscribed")
    assert "pitch:0" not in srv.hub.channels  # an empty channel is forgotten
    await send(c, {"type": "subscribe", "channel": "pitch:" + "x" * 100})
    assert (await recv(c)).get("code") == ("invalid_channel" if on else None)
    await c.close()
    await aeventually(lambda: not srv.hub.channels, 2.0, "the closed session's channels released")


@pytest.mark.parametrize("on", [True, False], ids=["on", "off"])
async def test_control_frames_count_toward_the_rate_limit(make_server, on):
    srv = await make_server(rate_bucket=5, rate_refill_per_s=0.1, disable=[] if on else ["control_frame_limit"])
    c = await ws(srv)
    await recv(c)
    waiters = [await c.ping() for _ in range(30)]
    if on:
        assert (await recv(c))["code"] == "rate_limited"
        with pytest.raises(ConnectionClosed):
            while True:
                await recv(c)
        assert c.protocol.close_rcvd is not None and c.protocol.close_rcvd.code == 1008
    else:
        await asyncio.wait_for(asyncio.gather(*waiters), 2.0)
        await send(c, {"type": "ping", "id": "x"})
        assert (await recv(c))["type"] == "pong"
        await c.close()


async def _flood(srv, frame: bytes, seconds: float) -> tuple[bytes, int]:
    """A hostile client: upgrades, then writes ``frame`` over and over for ``seconds`` without reading, then reads
    what it was sent until the server ends the connection. Returns (what it read, the bytes it wrote)."""
    reader, writer = await _raw(srv)
    writer.write(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    assert b" 101 " in await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2.0)
    loop = asyncio.get_running_loop()
    end, wrote, batch = loop.time() + seconds, 0, frame * 2000
    try:
        while loop.time() < end:
            writer.write(batch)
            wrote += len(batch)
            await asyncio.wait_for(writer.drain(), max(0.01, end - loop.time()))
    except (ConnectionError, TimeoutError):
        pass
    got = b""
    try:
        while len(got) < 1_000_000:
            data = await asyncio.wait_for(reader.read(65536), 3.0)
            if not data:
                break
            got += data
    except ConnectionError:
        pass  # a reset: what was read before it is what the client saw
    finally:
        writer.close()
    return got, wrote


def _close_code(stream: bytes) -> int | None:
    """The code of the first close frame in a server's (unmasked) frames, None without one (what a client calls
    1006)."""
    i = 0
    while i + 2 <= len(stream):
        op, size, at = stream[i] & 0x0F, stream[i + 1] & 0x7F, i + 2
        if size == 126:
            size, at = int.from_bytes(stream[i + 2 : i + 4], "big"), i + 4
        if op == 0x8:
            return int.from_bytes(stream[at : at + 2], "big") if size >= 2 else 1005
        i = at + size
    return None


@pytest.mark.parametrize(
    "frame",
    [bytes([0x89, 0x80]) + b"mask", bytes([0x81, 0x8F]) + b"\x00" * 4 + b'{"type":"ping"}'],
    ids=["pings", "messages"],
)
async def test_a_flooder_reads_its_1008_and_nothing_it_sent_after_is_handled(make_server, frame):
    srv = await make_server(rate_bucket=5, rate_refill_per_s=0.1)
    got, wrote = await _flood(srv, frame, 0.5)
    assert _close_code(got) == 1008  # not a reset that loses it (1006), though the client never stopped sending
    assert wrote > 100 * len(frame) * 2000  # the server kept reading (and dropping) what it sent after its close
    assert srv.hub.rate_limited == 4  # 5 answered, 3 rate_limited errors and the close: nothing after it is parsed


@pytest.mark.parametrize("on", [True, False], ids=["on", "off"])
async def test_unmasked_client_frames_closed_1002(make_server, on):
    srv = await make_server(disable=[] if on else ["mask_check"])
    c = await ws(srv)
    await recv(c)
    payload = b'{"type":"ping","id":"raw"}'
    c.transport.write(bytes([0x81, len(payload)]) + payload)  # RFC 6455 §5.1: a client must mask
    if on:
        with pytest.raises(ConnectionClosed):
            await recv(c)
        assert c.protocol.close_rcvd is not None and c.protocol.close_rcvd.code == 1002
    else:
        assert (await recv(c))["id"] == "raw"
        await c.close()


@pytest.mark.parametrize("on", [True, False], ids=["on", "off"])
async def test_reauthentication_moves_the_session(make_server, on):
    srv = await make_server(disable=[] if on else ["reauth_moves"])
    c = await ws(srv, await token(srv, "creator"))
    me = (await recv(c))["user"]["id"]
    await send(c, {"type": "subscribe", "channel": f"user:{me}"})
    await until(c, "subscription_confirmed")
    await send(c, {"type": "auth", "token": await token(srv, "investor")})
    assert (await until(c, "auth_success"))["user"]["id"] != me
    session = next(iter(srv.hub.sessions.values()))
    assert (session in srv.hub.by_user.get(me, set())) is not on
    assert (f"user:{me}" in session.subs) is not on
    await c.close()


# -- lockout and proxies ---------------------------------------------------------
@pytest.mark.parametrize("on", [True, False], ids=["on", "off"])
async def test_lockout_table_is_bounded(make_server, on):
    srv = await make_server(lockout_table_size=5, disable=[] if on else ["bounded_lockout"])
    hub = srv.hub
    for i in range(50):
        hub.record_failure(f"198.51.100.{i}")
        hub.locked(f"203.0.113.{i}")  # a look-up alone never adds an entry (it did: a defaultdict)
    assert hub.lockout_keys() == (5 if on else 100)


@pytest.mark.parametrize("on", [True, False], ids=["on", "off"])
async def test_forwarded_for_believed_only_from_trusted_proxies(make_server, on):
    srv = await make_server(trust_proxy=True, disable=[] if on else ["proxy_allowlist"])
    spoofed = {"X-Forwarded-For": "203.0.113.9, 198.51.100.4"}  # the client wrote the first entry
    for _ in range(10):
        c = await ws(srv, "bad", additional_headers=spoofed)
        await recv(c)
        await c.close()
    assert srv.hub.locked("198.51.100.4") is on
    assert srv.hub.locked("203.0.113.9") is not on


async def test_forwarded_for_ignored_from_an_untrusted_peer(make_server):
    srv = await make_server(trust_proxy=["10.0.0.0/8"])
    for _ in range(10):
        c = await ws(srv, "bad", additional_headers={"X-Forwarded-For": "198.51.100.7"})
        await recv(c)
        await c.close()
    assert srv.hub.locked("127.0.0.1") and not srv.hub.locked("198.51.100.7")


# -- login -------------------------------------------------------------------------
@pytest.mark.parametrize("on", [True, False], ids=["on", "off"])
async def test_login_throttled_per_account(make_server, on):
    srv = await make_server(login_account_limit=3, disable=[] if on else ["login_throttle"])
    for _ in range(3):
        assert (await login(srv, "creator", password="wrong"))["status"] == 401
    ans = await login(srv, "creator")  # the right password, after 3 wrong ones
    if on:
        assert ans["status"] == 429 and int(ans["headers"]["Retry-After"]) >= 1
        assert (await login(srv, "investor"))["status"] == 200  # another account from the same address
    else:
        assert ans["status"] == 200


@pytest.mark.parametrize("on", [True, False], ids=["on", "off"])
async def test_login_throttled_per_address(make_server, on):
    srv = await make_server(login_address_limit=4, disable=[] if on else ["login_throttle"])
    for i in range(4):
        assert (await login(srv, "creator", email=f"nobody{i}@demo.com"))["status"] == 401
    assert (await login(srv, "creator", email="nobody9@demo.com"))["status"] == (429 if on else 401)


@pytest.mark.parametrize("on", [True, False], ids=["on", "off"])
async def test_password_hashing_off_the_event_loop(make_server, on, monkeypatch):
    srv = await make_server(disable=[] if on else ["login_off_loop"])
    threads: list[int] = []
    real = srv.hub.store.verify

    def spy(*a, **kw):
        threads.append(threading.get_ident())
        return real(*a, **kw)

    monkeypatch.setattr(srv.hub.store, "verify", spy)
    assert (await login(srv, "creator"))["status"] == 200
    assert (threads == [threading.get_ident()]) is not on


@pytest.mark.parametrize("on", [True, False], ids=["on", "off"])
async def test_unknown_email_costs_a_hash(make_server, on, monkeypatch):
    srv = await make_server(disable=[] if on else ["login_equal_time"])
    calls: list[bytes] = []
    real = store_mod._hash
    monkeypatch.setattr(store_mod, "_hash", lambda *a: calls.append(a[1]) or real(*a))
    assert (await login(srv, "creator", email="nobody@demo.com", password=PASSWORD))["status"] == 401
    assert len(calls) == (1 if on else 0)


# -- /echo -----------------------------------------------------------------------------
async def test_echo_only_when_asked_and_rate_limited(make_server):
    import aiohttp

    plain = await make_server()
    assert (await http_get(plain, "/echo"))[0] == 404
    srv = await make_server(echo=True, rate_bucket=3, rate_refill_per_s=0.1)
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(f"ws://127.0.0.1:{srv.port}/echo") as c:
            await c.send_str("hello")
            assert (await c.receive(timeout=2)).data == "hello"
            for _ in range(5):
                await c.send_str("x")
            msgs = [await c.receive(timeout=2) for _ in range(3)]
            assert msgs[-1].type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            assert c.close_code == 1008


async def test_request_schemas_are_compiled_before_the_first_client(make_server):
    from pitchey_analysis.server import schemas

    await make_server()
    # compiled at start: the first message of a type used to pay for it (the first of all ~1 s importing jsonschema)
    assert all("validator" in vars(m) for m in schemas._requests().values())


async def test_malformed_requests_log_one_line_at_a_bounded_rate(make_server, caplog, monkeypatch):
    import logging

    from pitchey_analysis.server.http import BAD_REQUEST_LINES

    monkeypatch.setattr(BAD_REQUEST_LINES, "_next_at", 0.0)
    monkeypatch.setattr(BAD_REQUEST_LINES, "every_s", 600.0)  # however slowly this machine sends the nine
    srv = await make_server()
    caplog.set_level(logging.INFO)
    heads = [
        b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n",  # a header over 8 KiB
        b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",  # a URL over 8 KiB
        b"GET /api/health HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(200)) + b"\r\n",
    ] * 3
    for head in heads:
        reader, writer = await _raw(srv)
        writer.write(head)
        assert b" 400 " in (await asyncio.wait_for(reader.readuntil(b"\r\n"), 2.0))
        writer.close()
    lines = [r for r in caplog.records if r.name.startswith(("aiohttp", "pitchey_analysis.server"))]
    # one line for the nine, no traceback, none of the client's bytes
    assert [(r.levelname, r.exc_info) for r in lines] == [("WARNING", None)], [r.getMessage()[:200] for r in lines]
    assert "malformed request" in lines[0].getMessage() and "aaa" not in lines[0].getMessage()
    assert BAD_REQUEST_LINES._left_out == 8
