"""PROTOCOL.md Part B: each item switched on alone reproduces the 2025-11 behaviour."""

from __future__ import annotations

import jwt
import pytest
from websockets.exceptions import ConnectionClosed

from pitchey_analysis.server import DEFECTS, Defect, make_profile
from tests.helpers import before_pong, http_get, login, nothing, recv, send, token, until, ws
from tests.waiting import aeventually


async def one(make_server, item: Defect, **kw):
    return await make_server(defects=[item], **kw)


def test_profile_switches_on_all_but_item_6():
    p = make_profile("pitchey-2025-11")
    assert p.defects == frozenset(set(DEFECTS) - {6})
    assert make_profile("pitchey-2025-11", enable_defects=[Defect.SPLIT_JWT_SECRET]).has(6)
    assert not make_profile("pitchey-2025-11", disable_defects=[Defect.PONG_WRAPPED]).has(3)
    with pytest.raises(ValueError):
        make_profile("nope")
    with pytest.raises(ValueError, match="no Part B item 21"):
        make_profile(defects=[21])
    with pytest.raises(ValueError):
        make_profile(disable=["not_a_feature"])


def test_defects_are_named_and_the_numbers_still_accepted():
    """One name per Part B item of PROTOCOL.md; the item numbers (the CLI's --defect 15) and the names both select
    it."""
    assert [int(d) for d in Defect] == list(range(1, 21)) and set(DEFECTS) == set(Defect)
    assert Defect.parse("15") is Defect.parse("drop-during-lookup") is Defect.parse(15) is Defect.DROP_DURING_LOOKUP
    p = make_profile(defects=[15, "no_auth_error"])
    assert p.has(Defect.DROP_DURING_LOOKUP) and p.has(Defect.NO_AUTH_ERROR) and p.describe()["defects"] == [5, 15]
    with pytest.raises(ValueError, match="unknown defect"):
        Defect.parse("no_such_defect")


async def test_item1_post_connection_auth_unanswered(make_server):
    srv = await one(make_server, Defect.NO_AUTH_ANSWER)
    c = await ws(srv)
    await recv(c)
    await send(c, {"type": "auth", "token": await token(srv)})
    assert await before_pong(c) == []


@pytest.mark.parametrize(
    "msg",
    [
        {"type": "subscribe", "channel": "pitch:1"},
        {"type": "unsubscribe", "channel": "pitch:1"},
        {"type": "get_dashboard_metrics"},
        {"type": "what"},
    ],
)
async def test_item2_silently_ignored(make_server, msg):
    srv = await one(make_server, Defect.REQUESTS_IGNORED)
    c = await ws(srv, await token(srv))
    await recv(c)
    await send(c, msg)
    assert await before_pong(c) == []


async def test_item3_pong_wrapped(make_server):
    srv = await one(make_server, Defect.PONG_WRAPPED)
    c = await ws(srv)
    await recv(c)
    await send(c, {"type": "ping", "id": "x"})
    pong = await recv(c)
    assert pong["type"] == "pong" and "id" not in pong and "timestamp" in pong["payload"] and "messageId" in pong


async def test_item4_second_connected_frame(make_server):
    srv = await one(make_server, Defect.SECOND_CONNECTED)
    c = await ws(srv, await token(srv))
    assert (await recv(c))["type"] == "connected"
    second = await recv(c)
    assert second["type"] == "connected" and set(second["payload"]) == {"sessionId", "userId", "presence"}


async def test_item5_no_auth_error(make_server):
    srv = await one(make_server, Defect.NO_AUTH_ERROR)
    c = await ws(srv, "garbage", local="127.0.0.60")
    first = await recv(c)
    assert first["authenticated"] is False and "authError" not in first


async def test_item6_login_tokens_refused_on_ws(make_server):
    srv = await one(make_server, Defect.SPLIT_JWT_SECRET)
    c = await ws(srv, await token(srv), local="127.0.0.61")
    first = await recv(c)
    assert first["authenticated"] is False and first["authError"] == "invalid_token"


@pytest.mark.parametrize("kind", ["investor", "production"])
async def test_item7_missing_users_closed_1011(make_server, kind):
    srv = await one(make_server, Defect.WS_USERS_MISSING)
    c = await ws(srv, await token(srv, kind))
    frames = []
    with pytest.raises(ConnectionClosed):
        while True:
            frames.append(await recv(c))
    assert {"type": "error", "message": "User not found", "code": 1011, "category": "internal"} in frames
    assert c.protocol.close_rcvd.code == 1011
    ok = await ws(srv, await token(srv, "creator"))
    assert (await recv(ok))["type"] == "connected"
    await send(ok, {"type": "ping", "id": "p"})
    assert (await until(ok, "pong"))["id"] == "p"


async def test_item8_shared_counter_cascades_to_everyone(make_server):
    srv = await make_server(defects=[Defect.WS_USERS_MISSING, Defect.SHARED_FAILURE_COUNTER])
    for _ in range(10):
        c = await ws(srv, await token(srv, "investor"), local="127.0.0.62")
        with pytest.raises(ConnectionClosed):
            while True:
                await recv(c)
    bystander = await ws(srv, local="127.0.0.63")
    assert (await recv(bystander))["type"] == "connected"  # connected, then...
    with pytest.raises(ConnectionClosed):
        await recv(bystander)
    assert bystander.protocol.close_rcvd.code == 1008


async def test_item8_one_success_clears_the_counter(make_server):
    srv = await make_server(defects=[Defect.WS_USERS_MISSING, Defect.SHARED_FAILURE_COUNTER])
    for _ in range(9):
        c = await ws(srv, await token(srv, "investor"))
        with pytest.raises(ConnectionClosed):
            while True:
                await recv(c)
    assert len(srv.hub.failures.get("unknown", ())) == 9  # the control: the nine failures were counted
    good = await ws(srv, await token(srv, "creator"))
    await recv(good)
    await aeventually(lambda: srv.hub.failures.get("unknown") is None, 2.0, "the success's clearing of the counter")


async def test_item9_rate_limit_wrapped_no_close(make_server):
    srv = await one(make_server, Defect.RATE_LIMIT_WRAPPED)
    c = await ws(srv)
    await recv(c)
    for i in range(200):
        await send(c, {"type": "ping", "id": str(i)})
    errors = 0
    while True:
        try:
            f = await recv(c, 0.5)
        except TimeoutError:
            break
        if f["type"] == "error":
            assert f == {"type": "error", "payload": {"error": "Rate limit exceeded"}}
            errors += 1
    assert errors >= 70 and c.protocol.close_rcvd is None


async def test_item10_invalid_json_payload_error(make_server):
    srv = await one(make_server, Defect.INVALID_FORMAT_WRAPPED)
    c = await ws(srv)
    await recv(c)
    await send(c, "not json")
    assert await recv(c) == {"type": "error", "payload": {"error": "Invalid message format"}}


async def test_item11_static_health(make_server):
    srv = await one(make_server, Defect.STATIC_HEALTH)
    _, a, _ = await http_get(srv, "/api/ws/health")
    c = await ws(srv)
    await recv(c)
    _, b, _ = await http_get(srv, "/api/ws/health")
    assert a == b


async def test_item12_stats_open_to_ids_1_to_3(make_server):
    srv = await one(make_server, Defect.STATS_OPEN_TO_USERS)
    assert (await http_get(srv, "/api/ws/stats", await token(srv, "creator")))[0] == 200


async def test_item13_creator_login_echoes_password(make_server):
    srv = await one(make_server, Defect.PASSWORD_ECHO)
    assert (await login(srv, "creator"))["body"]["user"]["password"] == "Demo123"
    assert "password" not in (await login(srv, "investor"))["body"]["user"]


async def test_item14_json_heartbeat(make_server):
    srv = await make_server(defects=[Defect.JSON_HEARTBEAT], ping_interval=0.2)
    c = await ws(srv)
    await recv(c)
    assert (await until(c, "ping", timeout=2))["type"] == "ping"


async def test_item15_messages_dropped_during_lookup(make_server):
    srv = await make_server(defects=[Defect.DROP_DURING_LOOKUP], lookup_delay_ms=(150.0, 150.0))
    c = await ws(srv, await token(srv))
    await recv(c)
    await send(c, {"type": "ping", "id": "early"})
    await nothing(c, 0.3)
    await send(c, {"type": "ping", "id": "late"})
    assert (await recv(c))["id"] == "late"


async def test_item16_object_without_type_unanswered(make_server):
    srv = await one(make_server, Defect.UNTYPED_UNANSWERED)
    c = await ws(srv)
    await recv(c)
    await send(c, '{"hello": 1}')
    assert await before_pong(c) == []


async def test_item17_lockout_keyed_by_client_headers(make_server):
    srv = await one(make_server, Defect.SPOOFABLE_LOCKOUT_KEY)
    for _ in range(10):
        c = await ws(srv, "bad", local="127.0.0.64", additional_headers={"X-Forwarded-For": "127.0.0.65"})
        await recv(c)
        await c.close()
    victim = await ws(srv, local="127.0.0.65")  # never failed, but someone claimed its address
    with pytest.raises(ConnectionClosed):
        await recv(victim)
    assert victim.protocol.close_rcvd.code == 1008
    attacker = await ws(srv, local="127.0.0.64")
    assert (await recv(attacker))["type"] == "connected"


async def test_item18_sessions_leaving_during_lookup_leak(make_server):
    srv = await make_server(defects=[Defect.LOOKUP_SESSION_LEAK], lookup_delay_ms=(100.0, 100.0))
    admin = await token(srv, "admin")
    tok = await token(srv)
    for _ in range(3):
        c = await ws(srv, tok)
        await c.close()
    await aeventually(lambda: sum(s.leaked for s in srv.hub.sessions.values()) == 3, 2.0, "three sessions leaked")
    _, body, _ = await http_get(srv, "/api/ws/stats", admin)
    assert body["data"]["connections"]["total"] == 3


async def test_item19_hard_coded_endpoint(make_server):
    srv = await one(make_server, Defect.HARDCODED_HEALTH_ENDPOINT)
    _, body, _ = await http_get(srv, "/api/ws/health")
    assert body["data"]["websocket"]["endpoint"] == "ws://0.0.0.0:8001/ws"


async def test_item20_fixed_subjects(make_server):
    srv = await one(make_server, Defect.FIXED_LOGIN_IDS)
    for kind, sub in (("investor", "15"), ("production", "16"), ("creator", "1")):
        tok = (await login(srv, kind))["body"]["token"]
        assert jwt.decode(tok, options={"verify_signature": False})["sub"] == sub
