"""Small clients used by the server tests (independent of the probe code)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from websockets.asyncio.client import ClientConnection, connect

from pitchey_analysis.demo import DEMO_PASSWORD, DEMO_USERS
from pitchey_analysis.server import ReferenceServer

PASSWORD = DEMO_PASSWORD
USERS = {u.user_type: u.email for u in DEMO_USERS}


async def login(
    srv: ReferenceServer, kind: str = "creator", email: str | None = None, password: str = PASSWORD
) -> dict[str, Any]:
    """POST a login; returns {'status', 'body'}."""
    endpoint = "creator" if kind == "admin" else kind
    async with aiohttp.ClientSession() as s:
        async with s.post(
            f"{srv.http_url}/api/auth/{endpoint}/login", json={"email": email or USERS[kind], "password": password}
        ) as r:
            return {"status": r.status, "body": await r.json(), "headers": dict(r.headers)}


async def token(srv: ReferenceServer, kind: str = "creator") -> str:
    """A login token."""
    ans = await login(srv, kind)
    assert ans["status"] == 200, ans
    return ans["body"]["token"]


async def http_get(srv: ReferenceServer, path: str, tok: str | None = None) -> tuple[int, Any, dict[str, str]]:
    """GET a path; returns (status, json or text, headers)."""
    headers = {"Authorization": f"Bearer {tok}"} if tok else {}
    async with aiohttp.ClientSession() as s:
        async with s.get(srv.http_url + path, headers=headers) as r:
            text = await r.text()
            try:
                body = json.loads(text)
            except ValueError:
                body = text
            return r.status, body, dict(r.headers)


async def http_post(srv: ReferenceServer, path: str, body: Any, tok: str | None = None) -> tuple[int, Any]:
    """POST JSON; returns (status, json)."""
    headers = {"Authorization": f"Bearer {tok}"} if tok else {}
    async with aiohttp.ClientSession() as s:
        async with s.post(srv.http_url + path, json=body, headers=headers) as r:
            return r.status, await r.json()


async def ws(
    srv: ReferenceServer, tok: str | None = None, *, header: bool = False, local: str | None = None, **kw: Any
) -> ClientConnection:
    """Open a WebSocket to the server."""
    url = srv.ws_url + (f"?token={tok}" if tok and not header else "")
    headers = dict(kw.pop("additional_headers", {}) or {})
    if tok and header:
        headers["Authorization"] = f"Bearer {tok}"
    extra: dict[str, Any] = {}
    if local:
        extra["local_addr"] = (local, 0)
    return await connect(url, additional_headers=headers or None, ping_interval=None, **extra, **kw)


async def recv(c: ClientConnection, timeout: float = 2.0) -> dict[str, Any]:
    """The next JSON frame."""
    return json.loads(await asyncio.wait_for(c.recv(), timeout))


async def until(c: ClientConnection, mtype: str, timeout: float = 2.0) -> dict[str, Any]:
    """Read frames until one of ``mtype`` arrives."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        f = await recv(c, max(0.01, end - loop.time()))
        if f.get("type") == mtype:
            return f


async def before_pong(c: ClientConnection, timeout: float = 2.0) -> list[dict[str, Any]]:
    """Send a ping and return the frames that arrive before its pong: the session is alive (the control), and whatever
    the server meant to answer to what was sent before has arrived by then (an event, not a fixed wait)."""
    await send(c, {"type": "ping", "id": "barrier"})
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    frames = []
    while (f := await recv(c, max(0.01, end - loop.time())))["type"] != "pong":
        frames.append(f)
    return frames


async def nothing(c: ClientConnection, timeout: float = 0.3) -> None:
    """Assert that no frame arrives within ``timeout``."""
    try:
        got = await asyncio.wait_for(c.recv(), timeout)
    except TimeoutError:
        return
    raise AssertionError(f"unexpected frame {got!r}")


async def send(c: ClientConnection, obj: Any) -> None:
    """Send JSON (or raw text)."""
    await c.send(obj if isinstance(obj, (str, bytes)) else json.dumps(obj))
