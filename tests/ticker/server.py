"""A small price-ticker service over JSON WebSocket frames, written for the tests (not Pitchey).

It proves the contract format: its own login (``POST /v1/session`` with
``{login, secret}``, the token at ``/access/jwt``), its own upgrade parameter
(``?access_token=``), its own first frame (``hello``) and its own messages
(``quote`` -> ``price``, ``clock`` -> ``time``, ``watch`` -> ``watching``,
``portfolio`` -> ``holdings``; errors are ``problem``). ``off`` switches answers
off one by one; ``slow`` holds some back; ``wrapped`` puts every answer's data under ``payload``.
Loopback only; ``async with TickerServer() as t: t.ws_url``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import Any

from aiohttp import WSMsgType, web

USERS = {"trader@ticker.test": ("Ticker123", 7, "trader")}
PRICES = {"ACME": (101.5, 101.7), "INIT": (9.9, 10.1)}
AUTH_ONLY = {"watch", "portfolio"}


def now_ms() -> int:
    return int(time.time() * 1000)


class TickerServer:
    """The ticker service on 127.0.0.1, any free port."""

    def __init__(
        self,
        *,
        off: set[str] | frozenset[str] = frozenset(),
        wrapped: bool = False,
        auth_check: bool = True,
        slow: dict[str, tuple[float, int | None]] | None = None,
        jwt_tokens: bool = False,
        defects: set[str] | frozenset[str] = frozenset(),
    ) -> None:
        self.off, self.wrapped, self.auth_check = set(off), wrapped, auth_check
        #: jwt_tokens: the session answer is a JWT naming the user in its ``userId`` claim (role, aud, exp beside it);
        #: a bad token gives an anonymous hello that says nothing of why; problems carry no code (``text`` only);
        #: unknown types are ignored. defects: ``no_signature_check`` (any JWT's claims believed), ``wrong_subject``
        #: (tokens name another user)
        self.jwt_tokens, self.defects = jwt_tokens, set(defects)
        self.jwt_key = secrets.token_hex(32) if jwt_tokens else None
        self.jwt_secret_given = self.jwt_key  # the signing key, for hand-made tokens (expired, other audience)
        #: kind -> (seconds each answer is held back, how many of its answers are: None for every one)
        self.slow = dict(slow or {})
        self.slowed: dict[str, int] = {}
        self.tokens: dict[str, int] = {}
        self.clients = 0
        self.runner: web.AppRunner | None = None
        self.port = 0
        self.jwt_secret = None
        self.ca_file = None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/stream"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> TickerServer:
        app = web.Application()
        app.router.add_post("/v1/session", self.session)
        app.router.add_get("/v1/status", self.status)
        app.router.add_get("/stream", self.stream)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def session(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"ok": False, "why": "bad json"}, status=400)
        login = body.get("login") if isinstance(body, dict) else None
        user = USERS.get(login) if isinstance(login, str) else None
        if user is None or body.get("secret") != user[0]:
            return web.json_response({"ok": False, "why": "denied"}, status=401)
        if self.jwt_tokens:
            import jwt

            claims = {
                "userId": 999 if "wrong_subject" in self.defects else user[1],
                "role": user[2],
                "aud": "ticker-rt",
                "exp": int(time.time()) + 3600,
                "iat": int(time.time()),
            }
            token = jwt.encode(claims, self.jwt_key or "", algorithm="HS256")
        else:
            token = secrets.token_urlsafe(24)
            self.tokens[token] = user[1]
        return web.json_response({"ok": True, "access": {"jwt": token}, "account": {"uid": user[1], "role": user[2]}})

    async def status(self, request: web.Request) -> web.Response:
        return web.json_response({"up": True, "clients": self.clients})

    def problem(self, reason: str) -> dict[str, Any]:
        if self.jwt_tokens:  # no machine code: words only
            return {
                "type": "problem",
                "text": {
                    "not_json": "that was not JSON",
                    "login_first": "please sign in first",
                    "unknown": "unknown request",
                }[reason],
            }
        return {"type": "problem", "reason": reason}

    def _jwt_user(self, token: str) -> int | None:
        import jwt

        if not token:
            return None
        try:
            if "no_signature_check" in self.defects:
                claims = jwt.decode(
                    token, options={"verify_signature": False, "verify_aud": False, "verify_exp": False}
                )
            else:
                claims = jwt.decode(token, self.jwt_key or "", algorithms=["HS256"], audience="ticker-rt")
        except jwt.PyJWTError:
            return None
        uid = claims.get("userId")
        return uid if isinstance(uid, int) else None

    def answer(self, mtype: str, data: dict[str, Any]) -> dict[str, Any]:
        return {"type": mtype, "payload": data} if self.wrapped else {"type": mtype, **data}

    async def stream(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=16384)
        await ws.prepare(request)
        given = request.query.get("access_token", "")
        uid = self._jwt_user(given) if self.jwt_tokens else self.tokens.get(given)
        self.clients += 1
        try:
            hello: dict[str, Any] = {"type": "hello", "session": secrets.token_hex(4), "authorized": uid is not None}
            if given and uid is None and not self.jwt_tokens:
                hello["denied"] = "bad_token"  # an unknown token: an anonymous session that says why
            await ws.send_json(hello)
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    m = json.loads(msg.data)
                except ValueError:
                    await ws.send_json(self.problem("not_json"))
                    continue
                t = m.get("type") if isinstance(m, dict) else None
                if t in self.off:
                    continue
                if t in self.slow:
                    delay, times = self.slow[t]
                    if times is None or self.slowed.get(t, 0) < times:
                        self.slowed[t] = self.slowed.get(t, 0) + 1
                        await asyncio.sleep(delay)
                if t in AUTH_ONLY and uid is None and self.auth_check:
                    await ws.send_json(self.problem("login_first"))
                elif t == "quote":
                    bid, ask = PRICES.get(m.get("symbol"), (0.0, 0.0))
                    await ws.send_json(
                        self.answer("price", {"symbol": m.get("symbol"), "bid": bid, "ask": ask, "ts": now_ms()})
                    )
                elif t == "clock":
                    await ws.send_json(self.answer("time", {"now": now_ms()}))
                elif t == "watch":
                    await ws.send_json(self.answer("watching", {"symbols": list(m.get("symbols") or [])}))
                elif t == "portfolio":
                    await ws.send_json(
                        self.answer("holdings", {"positions": [{"symbol": "ACME", "qty": 3}], "cash": 1000.0})
                    )
                elif not self.jwt_tokens:  # the jwt service ignores what it does not know
                    await ws.send_json(self.problem("unknown"))
        finally:
            self.clients -= 1
        return ws
