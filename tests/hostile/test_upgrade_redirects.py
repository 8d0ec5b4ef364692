"""An upgrade answered with a redirect is the target's answer: the credential it carries never goes elsewhere."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from websockets.exceptions import InvalidStatus

from pitchey_analysis.probes import ProbeContext
from pitchey_analysis.probes.session import ProbeSession


async def _site(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


@contextlib.asynccontextmanager
async def redirecting(status: int) -> AsyncIterator[tuple[int, list[str]]]:
    """A target whose /ws answers ``status`` to another address; yields its port and what reached the other."""
    seen: list[str] = []

    async def elsewhere(request: web.Request) -> web.Response:
        seen.append(request.query_string)
        return web.Response(status=404)

    other = web.Application()
    other.router.add_get("/{tail:.*}", elsewhere)
    other_runner, other_port = await _site(other)

    async def redirect(request: web.Request) -> web.Response:
        return web.Response(status=status, headers={"Location": f"ws://127.0.0.1:{other_port}/ws?token=s3cret-token"})

    app = web.Application()
    app.router.add_get("/ws", redirect)
    runner, port = await _site(app)
    try:
        yield port, seen
    finally:
        await runner.cleanup()
        await other_runner.cleanup()


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_an_upgrade_redirect_is_not_followed(status):
    async with redirecting(status) as (port, seen):
        ctx = ProbeContext(ws_url=f"ws://127.0.0.1:{port}/ws", http_url=f"http://127.0.0.1:{port}", recorder=None)
        with pytest.raises(InvalidStatus) as err:
            await ProbeSession.open(ctx, token="s3cret-token")
        assert err.value.response.status_code == status
        assert seen == []  # nothing, and so no token, reached the other address


async def test_the_load_engine_follows_no_upgrade_redirect():
    """picows follows redirects unless told not to: the engine's connections never do (the token stays here)."""
    import asyncio

    from pitchey_analysis.load import ShardSpec, run_shard

    async with redirecting(302) as (port, seen):
        r = await asyncio.to_thread(
            run_shard,
            ShardSpec(
                url=f"ws://127.0.0.1:{port}/ws?token=s3cret-token", connections=2, duration_s=0.3, model="closed"
            ),
        )
        assert r.opened == 0 and sum(r.errors.values()) >= 2, r.errors
        assert seen == []
