"""HTTP side of the reference server: PROTOCOL.md Part A, 'HTTP'."""

from __future__ import annotations

import os

import aiohttp
import jwt
import pytest

from tests.helpers import USERS, http_get, http_post, login, token, ws

SEC_HEADERS = ("X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy", "Content-Security-Policy")


@pytest.mark.parametrize("kind", ["creator", "investor", "production", "admin"])
async def test_login_every_type(server, kind):
    ans = await login(server, kind)
    assert ans["status"] == 200
    body = ans["body"]
    assert body["success"] is True
    assert set(body["user"]) == {"id", "email", "username", "userType"}
    assert "Demo123" not in str(body)
    claims = jwt.decode(body["token"], server.jwt_secret, algorithms=["HS256"], audience="pitchey-ws", issuer="pitchey")
    assert claims["sub"] == str(body["user"]["id"])
    assert {"email", "userType", "iat", "exp"} <= set(claims)
    assert claims["exp"] - claims["iat"] == 86400


async def test_login_bad_credentials_and_missing_fields(server):
    assert (await login(server, "creator", password="wrong"))["status"] == 401
    assert (await login(server, "creator", email="nobody@demo.com"))["status"] == 401
    # A creator cannot log in at the investor endpoint; the admin can log in anywhere.
    assert (await login(server, "investor", email=USERS["creator"]))["status"] == 401
    status, body = await http_post(server, "/api/auth/creator/login", {"email": USERS["creator"]})
    assert status == 400 and body["success"] is False


async def test_health_and_ws_health_are_live(server):
    status, body, headers = await http_get(server, "/api/health")
    assert status == 200 and body["data"]["status"] == "healthy"
    _, before, _ = await http_get(server, "/api/ws/health")
    assert before["data"]["websocket"]["endpoint"] == server.ws_url
    c = await ws(server)
    _, after, _ = await http_get(server, "/api/ws/health")
    await c.close()
    assert after["data"]["websocket"]["connections"] == before["data"]["websocket"]["connections"] + 1
    assert after["data"]["uptime_s"] >= before["data"]["uptime_s"]
    assert "T" in after["data"]["timestamp"]


async def test_stats_needs_admin(server):
    assert (await http_get(server, "/api/ws/stats"))[0] == 401
    assert (await http_get(server, "/api/ws/stats", await token(server, "creator")))[0] == 403
    status, body, _ = await http_get(server, "/api/ws/stats", await token(server, "admin"))
    assert status == 200
    assert set(body["data"]) == {"connections", "messages", "errors", "rate_limited", "uptime_s", "memory"}
    assert set(body["data"]["connections"]) == {"total", "authenticated", "users"}
    rss = body["data"]["memory"]["rss_bytes"]  # resident memory now (/proc; null where there is none)
    if os.path.exists("/proc/self/statm"):  # where there is a /proc, null would be a figure lost (it passed before)
        assert isinstance(rss, int) and rss > 1024 * 1024, rss
    else:
        assert rss is None


async def test_notifications_and_broadcast_admin_only(server):
    body = {"userId": 1, "title": "t", "message": "m"}
    assert (await http_post(server, "/api/notifications", body))[0] == 401
    assert (await http_post(server, "/api/notifications", body, await token(server, "creator")))[0] == 403
    status, ans = await http_post(server, "/api/notifications", body, await token(server, "admin"))
    assert status == 201 and isinstance(ans["id"], int)
    status, ans = await http_post(
        server, "/api/broadcast", {"channel": "pitch:1", "message": {"type": "x"}}, await token(server, "admin")
    )
    assert status == 200 and ans["delivered"] == 0


@pytest.mark.parametrize("path", ["/", "/api/health", "/nope", "/api/ws/stats"])
async def test_security_headers_everywhere(server, path):
    _, _, headers = await http_get(server, path)
    for h in SEC_HEADERS:
        assert h in headers, (path, h)


async def test_unknown_routes_and_bad_json_have_no_stack_trace(server):
    status, body, _ = await http_get(server, "/")
    # PROTOCOL.md: 404 JSON {success:false, error} ('status == 404 and body == ... or success is False' passed any
    # status)
    assert status == 404 and body["success"] is False and set(body) == {"success", "error"} and body["error"], (
        status,
        body,
    )
    async with aiohttp.ClientSession() as s:
        async with s.post(
            server.http_url + "/api/auth/creator/login", data="{bad", headers={"Content-Type": "application/json"}
        ) as r:
            text = await r.text()
    assert r.status == 400 and "Traceback" not in text and 'File "' not in text


async def test_stack_traces_appear_when_that_feature_is_off(make_server):
    srv = await make_server(disable=["no_stack_traces"])
    async with aiohttp.ClientSession() as s:
        async with s.post(
            srv.http_url + "/api/auth/creator/login", data="{bad", headers={"Content-Type": "application/json"}
        ) as r:
            assert "Traceback" in await r.text()


async def test_tls_serves_https_and_wss_with_its_ca(make_server):
    import ssl

    from websockets.asyncio.client import connect

    srv = await make_server(tls=True)
    assert srv.http_url.startswith("https://") and srv.ws_url.startswith("wss://")
    ctx = ssl.create_default_context(cafile=str(srv.ca_file))
    async with aiohttp.ClientSession() as s:
        async with s.get(srv.http_url + "/api/health", ssl=ctx) as r:
            assert r.status == 200
            assert "Strict-Transport-Security" in r.headers
    async with connect(srv.ws_url, ssl=ctx) as c:
        assert '"connected"' in await c.recv()
    with pytest.raises(ssl.SSLCertVerificationError):
        await connect(srv.ws_url, ssl=ssl.create_default_context())


def test_short_secret_refused():
    from pitchey_analysis.server.app import PitcheyServer
    from pitchey_analysis.server.profile import make_profile

    with pytest.raises(ValueError, match="32 bytes"):
        PitcheyServer(make_profile(), jwt_secret="short")


async def test_sync_server_in_a_thread():
    """The plain ``with`` form runs the server in a background thread (notebooks)."""
    import json
    import urllib.request

    from pitchey_analysis import ReferenceServer

    with ReferenceServer() as srv:
        with urllib.request.urlopen(srv.http_url + "/api/health", timeout=5) as r:
            assert json.load(r)["data"]["status"] == "healthy"


def test_handlers_take_settings_not_the_server():
    """No import circle app ↔ http ↔ ws: the handlers get Settings and the Hub, and import nothing from app."""
    import ast
    from pathlib import Path

    import pitchey_analysis.server as pkg

    def imports_app(n: ast.AST) -> bool:
        """``from .app import x``, ``from . import app``, and the absolute spellings of both (the first alone was
        looked for, so ``from . import app`` passed)."""
        if isinstance(n, ast.Import):
            return any(a.name.startswith("pitchey_analysis.server.app") for a in n.names)
        if not isinstance(n, ast.ImportFrom):
            return False
        package = {1: "pitchey_analysis.server", 0: ""}.get(n.level)
        module = ".".join(filter(None, (package, n.module)))
        return module.startswith("pitchey_analysis.server.app") or (
            module == "pitchey_analysis.server" and any(a.name == "app" for a in n.names)
        )

    assert imports_app(ast.parse("from . import app").body[0]) and imports_app(ast.parse("from .app import X").body[0])
    for name in ("http", "ws", "hub", "settings"):
        tree = ast.parse((Path(pkg.__file__).parent / f"{name}.py").read_text())
        assert not [n for n in ast.walk(tree) if imports_app(n)], name
