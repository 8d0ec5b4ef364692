"""The reconnecting client against the reference server with fault knobs."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from pathlib import Path

import jwt
import pytest

from pitchey_analysis import PitcheyClient, SyncPitcheyClient
from pitchey_analysis.client import ConnectionLost, ForbiddenChannel, backoff
from tests.helpers import http_post, token
from tests.waiting import aeventually


def fast():
    return itertools.repeat(0.01)


def client(srv, **kw):
    return PitcheyClient(srv.http_url, srv.ws_url, backoff_factory=kw.pop("backoff_factory", fast), **kw)


def test_backoff_bounds_cap_and_jitter():
    import random

    rng = random.Random(1)
    gen = backoff(initial=0.5, factor=2.0, cap=8.0, rng=rng.random)
    delays = [next(gen) for _ in range(2000)]
    for n, d in enumerate(delays[:10]):
        assert 0 <= d <= min(8.0, 0.5 * 2**n)
    capped = delays[10:]
    assert max(capped) <= 8.0
    # full jitter: uniform on [0, cap] once capped -> mean cap/2, spread cap/sqrt(12)
    assert abs(statistics.mean(capped) - 4.0) < 0.3
    assert abs(statistics.pstdev(capped) - 8.0 / 12**0.5) < 0.2
    assert len({round(d, 6) for d in capped}) > 1900


@pytest.mark.parametrize("auth", ["query", "header", "message"])
async def test_login_connect_ping_request(server, auth):
    c = client(server, auth=auth)
    user = await c.login("alex.creator@demo.com", "Demo123")
    assert user["id"] == 1
    first = await c.connect()
    assert first["type"] == "connected"
    assert 0 < await c.ping() < 1000
    metrics = await c.dashboard_metrics()
    assert set(metrics) == {"activeUsers", "connections", "messagesPerMinute", "uptime_s"}
    assert (await c.initial_data())["userId"] == 1
    await c.close()


async def test_forbidden_channel_raises(server):
    c = client(server)
    await c.login("alex.creator@demo.com", "Demo123")
    await c.connect()
    with pytest.raises(ForbiddenChannel) as exc:
        await c.subscribe("user:2")
    assert exc.value.code == "forbidden_channel"
    await c.close()


async def test_reconnects_after_server_drop_and_resubscribes(make_server):
    srv = await make_server(close_after=0.5)
    changes = []
    c = client(srv, heartbeat_interval=None)
    c.on_connection_change(changes.append)
    await c.login("alex.creator@demo.com", "Demo123")
    await c.connect()
    got = []
    await c.subscribe("pitch:3", got.append)
    admin = await token(srv, "admin")
    await aeventually(lambda: c.reconnects >= 1 and c.connected, 5, "the reconnect")
    await http_post(
        srv,
        "/api/broadcast",
        {"channel": "pitch:3", "message": {"type": "pitch_stats_update", "pitchId": 3, "views": 1, "likes": 1}},
        admin,
    )
    await aeventually(lambda: got, 5, "the broadcast's delivery")
    assert got[0]["pitchId"] == 3
    assert changes[:3] == [True, False, True]
    await c.close()


async def test_reconnect_schedule_is_followed(make_server):
    srv = await make_server(close_after=0.3)
    calls = []

    def recorded():
        for d in (0.05, 0.1, 0.2):
            calls.append(d)
            yield d

    c = client(srv, backoff_factory=recorded, heartbeat_interval=None)
    await c.connect()
    await aeventually(lambda: c.reconnects >= 1, 5, "the reconnect")
    assert calls[0] == 0.05
    await c.close()


async def test_gives_up_after_max_attempts(make_server):
    srv = await make_server(close_after=0.3)
    c = client(srv, max_attempts=2, heartbeat_interval=None)
    await c.connect()
    srv.hub.shutting_down = True  # every upgrade now answers 503
    await aeventually(lambda: c._lost is not None, 5, "the client's giving up")
    assert isinstance(c._lost, ConnectionLost)
    with pytest.raises(ConnectionLost):
        await c.ping()
    srv.hub.shutting_down = False
    await c.close()


async def test_server_that_stops_answering_pings_is_detected(make_server):
    srv = await make_server(drop_answers=["ping"])
    changes = []
    c = client(srv, heartbeat_interval=0.1, heartbeat_timeout=0.2)
    c.on_connection_change(changes.append)
    await c.connect()
    await aeventually(lambda: False in changes, 5, "the dead connection's drop")  # noticed and dropped
    await c.close()


async def test_expired_token_leads_to_a_new_login(make_server):
    srv = await make_server(close_after=0.4)
    c = client(srv, heartbeat_interval=None)
    await c.login("alex.creator@demo.com", "Demo123")
    await c.connect()
    old = c.token
    # Replace the token by an expired one: the next reconnect must log in again.
    claims = jwt.decode(old, options={"verify_signature": False})
    claims.update(exp=int(time.time()) - 10)
    c.token = expired = jwt.encode(claims, "x" * 40, algorithm="HS256")
    await aeventually(lambda: c.reconnects >= 1, 5, "the reconnect")
    assert c.token != expired and not c.token_expired()
    assert c.session["authenticated"] is True
    await c.close()


async def test_messages_iterator(server):
    c = client(server)
    await c.login("alex.creator@demo.com", "Demo123")
    await c.connect()
    await c.subscribe("dashboard")
    it = c.messages()
    msg = await asyncio.wait_for(it.__anext__(), 3)
    assert msg["type"] == "dashboard_update"
    await c.close()


def test_sync_wrapper():
    from pitchey_analysis import ReferenceServer

    with ReferenceServer() as srv, SyncPitcheyClient(srv.http_url, srv.ws_url) as c:
        c.login("alex.creator@demo.com", "Demo123")
        assert c.connect()["authenticated"] is True
        assert c.ping() > 0


SHAPES = Path(__file__).resolve().parent / "shapes"


async def test_the_client_speaks_a_json_rpc_contract():
    """No first frame, no login: the round trip and a request are the contract's (``method``, correlated integer ids
    answered by ``result`` frames carrying them back)."""
    from pitchey_analysis.contract import load_contract
    from tests.shapes.server import ShapeServer

    async with ShapeServer("jsonrpc") as srv:
        c = PitcheyClient(
            srv.http_url,
            srv.ws_url,
            contract=load_contract(SHAPES / "jsonrpc.asyncapi.yaml"),
            backoff_factory=fast,
            heartbeat_interval=None,
        )
        assert await c.connect() == {}
        assert 0 < await c.ping() < 1000
        first = await c.request("add", params=[2, 3])
        second = await c.request("add", params=[4, 5])
        assert (first["result"], second["result"]) == (5, 9) and second["id"] > first["id"]
        await c.close()


async def test_the_client_authenticates_in_the_first_message_of_a_contract_that_says_so():
    """``firstauth``: the service speaks first, the token goes in the client's first message (``auth`` → ``auth_ok``),
    commands carry increasing integer ids and every answer is one envelope; an unknown command is an error answer."""
    from pitchey_analysis.contract import load_contract
    from tests.shapes.server import TOKEN, ShapeServer

    async with ShapeServer("firstauth") as srv:
        c = PitcheyClient(
            srv.http_url,
            srv.ws_url,
            contract=load_contract(SHAPES / "firstauth.asyncapi.yaml"),
            backoff_factory=fast,
            heartbeat_interval=None,
        )
        c.token = TOKEN  # the user-made token this contract's sessions carry
        assert (await c.connect())["type"] == "auth_required"
        states = await c.request("get_states")
        assert states["success"] is True and states["result"][0]["entity_id"] == "light.desk"
        assert (await c.request("ping"))["type"] == "pong"
        refused = await c.request("no_such_command", expect="result", id=0)  # a fresh id at /id, as its commands have
        assert refused["success"] is False and refused["error"]["code"] == "unknown_command"
        await c.close()


async def test_a_pattern_channel_passes_on_only_its_own_pushes(server):
    """Subscribed to pitch:3, the callback gets pitch 3's stats, not pitch 4's (``carries`` in the contract)."""
    c = client(server, heartbeat_interval=None)
    await c.connect()
    got: list[dict] = []
    await c.subscribe("pitch:3", got.append)
    await c.subscribe("pitch:4")
    admin = await token(server, "admin")
    for pid in (4, 3):
        await http_post(
            server,
            "/api/broadcast",
            {
                "channel": f"pitch:{pid}",
                "message": {"type": "pitch_stats_update", "pitchId": pid, "views": 1, "likes": 1},
            },
            admin,
        )
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    await c.unsubscribe("pitch:4")
    assert [m["pitchId"] for m in got] == [3]
    await c.close()
