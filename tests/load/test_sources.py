"""Connection set-up of the load engine: source addresses, and the collector while a shard runs."""

from __future__ import annotations

import asyncio
import collections
import gc
import threading
from collections.abc import Iterator

import pytest
from aiohttp import WSMsgType, web

from pitchey_analysis.exceptions import UsageError
from pitchey_analysis.load import LoadPlan, ShardSpec, run_load, run_shard
from pitchey_analysis.load.spec import ECHO_PING


@pytest.fixture
def echo() -> Iterator[tuple[str, collections.Counter[str]]]:
    """A plain WebSocket echo server on loopback that counts the connections per peer address."""
    peers: collections.Counter[str] = collections.Counter()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    box: dict[str, object] = {}

    async def ws(request: web.Request) -> web.WebSocketResponse:
        peers[request.remote or "?"] += 1
        sock = web.WebSocketResponse()
        await sock.prepare(request)
        async for msg in sock:
            if msg.type == WSMsgType.TEXT:
                await sock.send_str(msg.data)
        return sock

    async def start() -> None:
        app = web.Application()
        app.router.add_get("/", ws)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        box["runner"], box["port"] = runner, runner.addresses[0][1]
        started.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield f"ws://127.0.0.1:{box['port']}/", peers
    finally:
        asyncio.run_coroutine_threadsafe(box["runner"].cleanup(), loop).result(10)  # type: ignore[attr-defined]
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.mark.parametrize("factory", [True, False], ids=["socket_factory", "older picows: local_addr"])
def test_connections_leave_from_the_given_source_addresses(echo, monkeypatch, factory):
    from pitchey_analysis.load import engine

    monkeypatch.setattr(engine, "_SOCKET_FACTORY", factory)
    url, peers = echo
    res = run_load(
        LoadPlan(
            url,
            levels=(20,),
            duration_s=0.3,
            model="hold",
            workers=0,
            source_addresses=("127.0.0.2", "127.0.0.3"),
            await_first_frame=False,
            ping=ECHO_PING,
        ),
        progress=False,
    )
    assert res.opened == 20 and res.held == 20, res.errors()
    assert peers == {"127.0.0.2": 10, "127.0.0.3": 10}  # as the target saw them, round robin


def test_source_addresses_are_shared_evenly_over_the_shards(echo):
    """Three addresses, two shards: each address carries a third of the connections, not one shard's half."""
    url, peers = echo
    res = run_load(
        LoadPlan(
            url,
            levels=(30,),
            duration_s=0.3,
            model="hold",
            workers=2,
            source_addresses=("127.0.0.2", "127.0.0.3", "127.0.0.4"),
            await_first_frame=False,
            ping=ECHO_PING,
        ),
        progress=False,
    )
    assert res.opened == 30 and len({s.pid for s in res.shards}) == 2, res.errors()
    assert peers == {"127.0.0.2": 10, "127.0.0.3": 10, "127.0.0.4": 10}


def test_a_source_address_that_is_a_name_is_refused_before_any_connection(echo):
    url, peers = echo
    with pytest.raises(UsageError, match="source address 'localhost' is not an IP address"):
        run_load(
            LoadPlan(
                url,
                levels=(5,),
                duration_s=0.1,
                model="hold",
                workers=0,
                source_addresses=("localhost",),
                await_first_frame=False,
                ping=ECHO_PING,
            ),
            progress=False,
        )
    assert not peers


def test_source_addresses_of_the_other_family_than_the_target_are_refused():
    from pitchey_analysis.load.options import source_address_problem

    assert source_address_problem("ws://127.0.0.1:9/", ("127.0.0.2", "127.0.0.3")) is None
    assert source_address_problem("ws://[::1]:9/", ("::1",)) is None
    assert source_address_problem("ws://target.example:9/", ("::1", "10.0.0.1")) is None  # a name: resolved later
    assert "IPv6 but the target 127.0.0.1 is IPv4" in source_address_problem("ws://127.0.0.1:9/", ("127.0.0.2", "::1"))
    assert "IPv4 but the target ::1 is IPv6" in source_address_problem("wss://[::1]:9/x", ("127.0.0.2",))


def test_overlapping_shards_restore_the_collector_once_the_last_ends():
    from pitchey_analysis.load.engine import _collector_for_held_connections

    before = gc.get_threshold()
    a, b = _collector_for_held_connections(), _collector_for_held_connections()
    a.__enter__()
    b.__enter__()
    a.__exit__(None, None, None)  # the first shard ends while the second runs
    assert gc.get_threshold()[0] == max(before[0], 50_000)
    b.__exit__(None, None, None)
    assert gc.get_threshold() == before
    gc.set_threshold(0, *before[1:])  # a process that turned collection off keeps it off
    try:
        with _collector_for_held_connections():
            assert gc.get_threshold()[0] == 0
    finally:
        gc.set_threshold(*before)


def test_the_collector_runs_less_often_during_a_shard_and_as_before_after(echo):
    url, _ = echo
    before = gc.get_threshold()
    during: list[tuple[int, int, int]] = []

    async def sink(msg):
        during.append(gc.get_threshold())

    res = run_shard(
        ShardSpec(
            url=url,
            connections=5,
            duration_s=0.6,
            model="open",
            rate_per_conn=10,
            await_first_frame=False,
            ping=ECHO_PING,
            users=(),
        ),
        sink,
    )
    assert res.opened == 5 and during
    assert all(t[0] == max(before[0], 50_000) and t[1:] == before[1:] for t in during)
    assert gc.get_threshold() == before
