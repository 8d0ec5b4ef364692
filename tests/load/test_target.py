"""The load's poller of the target's figures reads where the session count is from the contract."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pitchey_analysis.contract import contract_from_text, load_contract
from pitchey_analysis.load.target import TargetPoller, count_sources, sessions_from
from tests.ticker.server import TickerServer

TICKER = Path(__file__).resolve().parents[1] / "ticker" / "ticker.asyncapi.yaml"
HEALTH = "    health: {path: /v1/status, status: /up, healthy: true}"


def ticker_with_count():
    text = TICKER.read_text()
    assert HEALTH in text
    return contract_from_text(
        text.replace(HEALTH, HEALTH + "\n    wsHealth: {path: /v1/status, connections: /clients}"), name="ticker-count"
    )


def test_sources_and_pointers_come_from_the_contract():
    assert count_sources(load_contract("pitchey")) == [
        ("stats", "/api/ws/stats", "/data/connections/total", True),
        ("health", "/api/ws/health", "/data/websocket/connections", False),
    ]
    assert count_sources(ticker_with_count()) == [("health", "/v1/status", "/clients", False)]
    assert count_sources(load_contract(TICKER)) == []
    assert sessions_from("/data/totalSessions", {"data": {"totalSessions": 4}}) == 4
    assert sessions_from("/data/connections/total", {"data": {"totalSessions": 4}}) is None
    assert sessions_from("/clients", {"clients": True}) is None  # a boolean is no count


async def test_the_poller_reads_the_pitchey_server_by_default(server):
    p = TargetPoller(server.http_url, lambda _: None)
    got = await asyncio.to_thread(p.poll_once)
    assert got["source"] == "health" and isinstance(got["sessions"], int), got


async def test_the_poller_reads_another_service_where_its_contract_says():
    async with TickerServer() as t:
        got = await asyncio.to_thread(TargetPoller(t.http_url, lambda _: None, contract=ticker_with_count()).poll_once)
        assert got == {"sessions": 0, "source": "health", "error": ""}
        # Pitchey's paths are not the ticker's: nothing read, and said so
        got = await asyncio.to_thread(TargetPoller(t.http_url, lambda _: None).poll_once)
        assert got["sessions"] is None and got["source"] == "none" and got["error"], got
        # a contract declaring no count: no poll at all, and said so
        got = await asyncio.to_thread(
            TargetPoller(t.http_url, lambda _: None, contract=load_contract(TICKER)).poll_once
        )
        assert got["sessions"] is None and "declares no session count" in got["error"], got
