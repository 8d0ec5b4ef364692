"""WebSocket services of other shapes than Pitchey's, written for the tests, each with its own contract here.

- ``jsonrpc``: JSON-RPC 2.0 on ``/rpc`` -- ``{"jsonrpc","id","method","params"}`` answered ``{"id","result"}``
  or ``{"id","error":{code,message}}``; batches (a JSON array of requests, answered by an array); no first
  frame; malformed JSON answered -32700, an unknown method -32601.
- ``header``: messages ``{header: {msg_type, msg_id}, parent_header, content, channel}`` with no ``type``; an
  answer carries the request's id at ``/parent_header/msg_id``, beside a ``status`` broadcast on ``iopub``.
- ``firstauth``: speaks first (``auth_required``), wants a user-made token in the client's first message
  (``auth_ok`` / ``auth_invalid`` and a close); commands carry an integer ``id`` that must increase within the
  session; every answer is one envelope ``{"type":"result","id","success","result"|"error"}``; ``batch``
  answers come as one JSON array frame; unauthenticated commands are refused (close 4001).
- ``cookie``: a cookie-session login (``POST /login`` sets ``sid``), ``GET /api/ws/token`` exchanges it for a
  WebSocket token, the upgrade takes ``?token=`` and answers 401 without a good one; the first frame is
  ``{"type":"connected","data":{"sessionId","userId"}}``; ``post {to, body}`` is answered ``posted`` and
  delivered to the sessions of user ``to`` as ``chat {from, body}``.
- ``graphqlws``: GraphQL over WebSocket, the ``graphql-transport-ws`` protocol. The subprotocol is negotiated at
  the upgrade (a session that did not offer it is closed 4406); the client speaks first: ``connection_init``
  (``payload.token`` the user-made token) answered ``connection_ack``, a bad or missing token closed 4403, no init
  within :data:`INIT_TIMEOUT_S` closed 4408, a second init 4429, anything but ``ping``/``pong`` before the ack
  4401; ``subscribe {id, payload: {query}}`` answered by ``next {id, payload: {data}}`` frames and ``complete
  {id}``, or ``error {id, payload: [{message}]}``; the client's ``complete {id}`` stops a subscription; a duplicate
  active id closes 4409; a frame that is not a message of the protocol closes 4400; ``ping``/``pong`` both ways
  (the service pings every :data:`PING_EVERY_S`).
- ``phoenix``: Phoenix Channels v2 -- every frame a JSON array ``[join_ref, ref, topic, event, payload]``, only
  with ``?vsn=2.0.0`` on the URL (else objects ``{join_ref, ref, topic, event, payload}``, as Phoenix's default V1
  serializer); ``POST /api/login`` answers ``{"data": {"token", "user_id"}}``, the upgrade takes ``?token=`` and
  answers 403 without a good one; ``heartbeat`` on ``phoenix`` and ``phx_join``/``new_msg``/``phx_leave`` on
  ``room:*`` are answered ``phx_reply`` with the request's ref (``/1``), ok or error at ``/4/status``; a
  ``new_msg`` is broadcast to the topic's members.
- ``apigw``: an AWS API Gateway-style action-routed service on ``/production``. Frames are routed by ``action``
  (``ping``, ``join {room}``, ``sendmessage {data: {room, text}}``); answers carry no kind field and no id, told apart
  only by their schema (``{"pong": true, "at"}``, ``{"joined", "members"}``, ``{"sent": true, "room"}``); a message is
  broadcast to the room's members as ``{"from", "room", "text"}``; an unknown (or missing) action is answered with
  API Gateway's own ``{"message": "Forbidden", "connectionId", "requestId"}``, malformed JSON with
  ``{"message": "Internal server error", ...}``; ``POST /auth`` answers ``{"idToken"}`` (opaque), the upgrade wants
  it raw in ``Authorization`` (HTTP 401 otherwise); frames over 128 KiB close 1009.
- ``gateway``: a Discord-gateway-like service on ``/gateway``: every frame ``{"op": int, "d", "s", "t"}``, its kind
  the INTEGER ``op``; no error frames at all, every error a close code. The service speaks first (HELLO op 10);
  ``POST /api/login`` answers ``{"token", "user": {"id"}}``, IDENTIFY (op 2, ``d.token``) is answered by the READY
  dispatch (op 0) or closed 4004; HEARTBEAT (op 1, allowed before IDENTIFY) is answered HEARTBEAT_ACK (op 11);
  any other op before IDENTIFY closes 4003, an unknown op 4001, undecodable input 4002 (frames over 4096 bytes
  too); more than 120 frames in 60 s close 4008; REQUEST_GUILD_MEMBERS (op 8) is answered by a
  GUILD_MEMBERS_CHUNK dispatch, PRESENCE_UPDATE (op 3) is answered by nothing and pushed as a PRESENCE_UPDATE
  dispatch to every other session of the user.

``defects`` switches one defect on: ``wrong_id`` (answers carry another id), ``reused_id`` (a reused id is
accepted), ``error_as_success`` (an error reported with ``success: true``), ``drop_batch`` (the last element of
a batch is dropped), ``pre_auth`` (commands before authentication are answered), ``utf8_kill`` (a text frame of
invalid UTF-8 stops the service for every client), ``accept_bad_token`` (a bad token is accepted),
``drop_delivery`` (a chat post is answered but never delivered), ``keep_after_complete`` (a subscription the client
completed keeps sending ``next``), ``wrong_ref`` (phoenix: a heartbeat is answered with another ref), ``no_broadcast``
(phoenix: a new_msg is acknowledged but reaches no other member), ``unknown_ok`` (apigw: an unknown action is
answered by a success body), ``no_fanout`` (apigw: a sendmessage is acknowledged but broadcast to nobody),
``no_rate_close`` (gateway: never closes on the rate limit), ``pre_auth`` (gateway too: ops before IDENTIFY answered),
``no_presence`` (gateway: a presence update reaches
nobody), ``unknown_decode`` (gateway: an unknown op closes 4002, as undecodable input), ``deep_crash`` (gateway:
JSON nested too deep kills the session's handler), ``no_heartbeat_ack`` (gateway: a heartbeat is never answered).
Loopback only; ``async with ShapeServer("jsonrpc") as s: s.ws_url``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

from aiohttp import WSMsgType, web

TOKEN = "tok-" + "a" * 24  # the user-made access token of ``firstauth``
USER = ("ada@shapes.test", "Shapes123", 42)
PATHS = {
    "jsonrpc": "/rpc",
    "header": "/kernel",
    "firstauth": "/api/websocket",
    "cookie": "/ws",
    "graphqlws": "/graphql",
    "phoenix": "/socket/websocket?vsn=2.0.0",
    "apigw": "/production",
    "gateway": "/gateway",
}
GW_MAX_PAYLOAD, GW_RATE, GW_WINDOW_S = 4096, 120, 60.0
APIGW_MAX_FRAME = 128 * 1024
GQL_PROTOCOL = "graphql-transport-ws"
INIT_TIMEOUT_S = 3.0  # graphql-ws's default connectionInitWaitTimeout
PING_EVERY_S = 5.0


class ShapeServer:
    """One service of a given shape on 127.0.0.1, any free port."""

    def __init__(self, shape: str, *, defects: set[str] | frozenset[str] = frozenset()) -> None:
        self.shape, self.defects = shape, set(defects)
        self.runner: web.AppRunner | None = None
        self.port = 0
        self.stopped = False  # utf8_kill: the service stopped for every client
        self.sessions: dict[str, int] = {}  # cookie sid -> user id
        self.ws_tokens: dict[str, int] = {}
        self.members: dict[Any, set[web.WebSocketResponse]] = {}  # cookie: a user's open sessions (chat delivery)
        self.posts = 0
        self.sockets: set[web.WebSocketResponse] = set()
        self.rooms: dict[
            str, dict[web.WebSocketResponse, tuple[str, bool]]
        ] = {}  # phoenix: topic -> {ws: (join_ref, v1)}
        self.jwt_secret = None
        self.ca_file = None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{PATHS[self.shape]}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> ShapeServer:
        app = web.Application()
        app.router.add_get(PATHS[self.shape].split("?")[0], self.ws)
        app.router.add_get("/health", self.health)
        app.router.add_post("/login", self.login)
        app.router.add_get("/api/ws/token", self.exchange)
        app.router.add_post("/api/login", self.token_login)
        app.router.add_post("/auth", self.id_token)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    # -- HTTP ------------------------------------------------------------------------
    async def health(self, request: web.Request) -> web.Response:
        if self.stopped:
            return web.json_response({"status": "down"}, status=503)
        return web.json_response({"status": "ok", "connections": len(self.sockets)})

    async def login(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "bad json"}, status=400)
        if not isinstance(body, dict) or (body.get("email"), body.get("password")) != USER[:2]:
            return web.json_response({"error": "invalid credentials"}, status=401)
        sid = secrets.token_hex(16)
        self.sessions[sid] = USER[2]
        resp = web.json_response({"ok": True})
        resp.set_cookie("sid", sid, httponly=True)
        return resp

    async def token_login(self, request: web.Request) -> web.Response:
        """phoenix: a login answered with a bearer token for the upgrade's ``?token=``."""
        try:
            body = await request.json()
        except (ValueError, RecursionError):  # not JSON, or nested too deep for the parser
            return web.json_response({"errors": {"detail": "Bad Request"}}, status=400)
        if not isinstance(body, dict) or (body.get("email"), body.get("password")) != USER[:2]:
            return web.json_response({"errors": {"detail": "invalid credentials"}}, status=401)
        tok = secrets.token_urlsafe(18)
        self.ws_tokens[tok] = USER[2]
        if self.shape == "gateway":
            return web.json_response({"token": tok, "user": {"id": str(USER[2])}})
        return web.json_response({"data": {"token": tok, "user_id": USER[2]}})

    async def id_token(self, request: web.Request) -> web.Response:
        """apigw: a login answered with an opaque id token for the upgrade's ``Authorization`` header."""
        try:
            body = await request.json()
        except (ValueError, RecursionError):
            return web.json_response({"message": "Bad Request"}, status=400)
        if not isinstance(body, dict) or (body.get("email"), body.get("password")) != USER[:2]:
            return web.json_response({"message": "Unauthorized"}, status=401)
        tok = secrets.token_urlsafe(24)
        self.ws_tokens[tok] = USER[2]
        return web.json_response({"idToken": tok})

    async def exchange(self, request: web.Request) -> web.Response:
        uid = self.sessions.get(request.cookies.get("sid", ""))
        if uid is None:
            return web.json_response({"error": "no session"}, status=401)
        tok = secrets.token_hex(16)
        self.ws_tokens[tok] = uid
        return web.json_response({"token": tok})

    # -- WebSocket -------------------------------------------------------------------
    async def ws(self, request: web.Request) -> web.StreamResponse:
        if self.stopped:
            raise web.HTTPServiceUnavailable()
        uid: Any = None
        if self.shape in ("cookie", "phoenix"):
            tok = request.query.get("token", "")
            uid = self.ws_tokens.get(tok)
            if uid is None and "accept_bad_token" in self.defects and tok:
                uid = 0
            if uid is None and self.shape == "phoenix":
                return web.Response(status=403, text="Forbidden")
            if uid is None:
                return web.json_response({"error": "unauthorized"}, status=401)
        if self.shape == "apigw":
            tok = request.headers.get("Authorization", "")
            uid = self.ws_tokens.get(tok)
            if uid is None and "accept_bad_token" in self.defects and tok:
                uid = 0
            if uid is None:
                return web.json_response({"message": "Unauthorized"}, status=401)
        if self.shape == "phoenix":
            uid = (uid, request.query.get("vsn", "1.0.0") == "1.0.0")  # Phoenix's default serializer is V1 (objects)
        ws = web.WebSocketResponse(
            max_msg_size=APIGW_MAX_FRAME if self.shape == "apigw" else 1 << 20,
            protocols=(GQL_PROTOCOL,) if self.shape == "graphqlws" else (),
        )
        await ws.prepare(request)
        self.sockets.add(ws)
        try:
            await getattr(self, f"_{self.shape}")(ws, uid)
        finally:
            self.sockets.discard(ws)
        return ws

    async def _frames(self, ws: web.WebSocketResponse):  # type: ignore[no-untyped-def]
        """Text frames as str; a frame of invalid UTF-8 stops the service (utf8_kill) or closes 1007."""
        while True:
            try:
                msg = await ws.receive()
            except Exception:
                return
            if msg.type == WSMsgType.TEXT:
                yield msg.data
            elif msg.type == WSMsgType.ERROR or msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                if "utf8_kill" in self.defects and isinstance(msg.data, Exception) and "utf" in str(msg.data).lower():
                    await self._stop()
                return
            elif msg.type == WSMsgType.BINARY:
                continue

    async def _stop(self) -> None:
        self.stopped = True
        for other in list(self.sockets):
            await other.close(code=1011)

    async def _jsonrpc(self, ws: web.WebSocketResponse, uid: Any) -> None:
        async for text in self._frames(ws):
            try:
                req = json.loads(text)
            except ValueError:
                await ws.send_json({"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}})
                continue
            if isinstance(req, list):
                answers = [a for a in (self._rpc(r) for r in req) if a is not None]
                if "drop_batch" in self.defects and len(answers) > 1:
                    answers = answers[:-1]
                if answers:
                    await ws.send_json(answers)
                continue
            ans = self._rpc(req)
            if ans is not None:
                await ws.send_json(ans)

    def _rpc(self, req: Any) -> dict[str, Any] | None:
        if not isinstance(req, dict) or req.get("jsonrpc") != "2.0" or not isinstance(req.get("method"), str):
            return {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Invalid Request"}}
        rid = req.get("id")
        if rid is None:
            return None  # a notification
        out_id = (
            rid + 1
            if "wrong_id" in self.defects and isinstance(rid, int)
            else (f"{rid}x" if "wrong_id" in self.defects else rid)
        )
        params = req.get("params")
        if req["method"] == "ping":
            return {"jsonrpc": "2.0", "id": out_id, "result": "pong"}
        if req["method"] == "add" and isinstance(params, list) and all(isinstance(p, (int, float)) for p in params):
            return {"jsonrpc": "2.0", "id": out_id, "result": sum(params)}
        if req["method"] == "add":
            return {"jsonrpc": "2.0", "id": out_id, "error": {"code": -32602, "message": "Invalid params"}}
        return {"jsonrpc": "2.0", "id": out_id, "error": {"code": -32601, "message": "Method not found"}}

    async def _header(self, ws: web.WebSocketResponse, uid: Any) -> None:
        async for text in self._frames(ws):
            try:
                msg = json.loads(text)
                header = msg["header"]
                mtype, mid = header["msg_type"], header["msg_id"]
            except (ValueError, KeyError, TypeError):
                continue  # the service ignores what it cannot read (declared in its contract)
            parent = {"msg_id": "other" if "wrong_id" in self.defects else mid, "msg_type": mtype}

            def reply(
                kind: str, content: dict[str, Any], channel: str = "shell", parent: dict[str, Any] = parent
            ) -> dict[str, Any]:
                return {
                    "header": {"msg_type": kind, "msg_id": secrets.token_hex(8)},
                    "parent_header": parent,
                    "content": content,
                    "channel": channel,
                }

            await ws.send_json(reply("status", {"execution_state": "busy"}, "iopub"))
            if mtype == "kernel_info_request":
                await ws.send_json(reply("kernel_info_reply", {"status": "ok", "protocol_version": "5.3"}))
            elif mtype == "execute_request":
                code = (msg.get("content") or {}).get("code")
                await ws.send_json(
                    reply(
                        "execute_reply",
                        {"status": "ok", "execution_count": 1}
                        if isinstance(code, str)
                        else {"status": "error", "ename": "TypeError"},
                    )
                )
            await ws.send_json(reply("status", {"execution_state": "idle"}, "iopub"))

    async def _firstauth(self, ws: web.WebSocketResponse, uid: Any) -> None:
        await ws.send_json({"type": "auth_required", "version": "1.0"})
        authed = False
        last = 0
        deadline = asyncio.get_running_loop().time() + 10
        async for text in self._frames(ws):
            try:
                msg = json.loads(text)
            except ValueError:
                await ws.send_json(
                    {
                        "type": "result",
                        "id": None,
                        "success": False,
                        "error": {"code": "invalid_format", "message": "not JSON"},
                    }
                )
                continue
            if not isinstance(msg, dict):
                continue
            if not authed:
                if msg.get("type") == "auth":
                    if msg.get("access_token") == TOKEN:
                        authed = True
                        await ws.send_json({"type": "auth_ok", "version": "1.0"})
                        continue
                    await ws.send_json({"type": "auth_invalid", "message": "Invalid access token"})
                    await ws.close(code=4001)
                    return
                if "pre_auth" not in self.defects:
                    await ws.close(code=4001, message=b"auth first")
                    return
                if asyncio.get_running_loop().time() > deadline:
                    await ws.close(code=4001)
                    return
            rid = msg.get("id")
            if not isinstance(rid, int) or isinstance(rid, bool):
                await ws.send_json(
                    {
                        "type": "result",
                        "id": None,
                        "success": False,
                        "error": {"code": "invalid_format", "message": "an integer id is required"},
                    }
                )
                continue
            if rid <= last and "reused_id" not in self.defects:
                await ws.send_json(
                    {
                        "type": "result",
                        "id": rid,
                        "success": False,
                        "error": {"code": "id_reuse", "message": "id must increase"},
                    }
                )
                continue
            last = max(last, rid)
            out = rid + 1 if "wrong_id" in self.defects else rid
            kind = msg.get("type")
            if kind == "ping":
                await ws.send_json({"type": "pong", "id": out})
            elif kind == "get_states":
                await ws.send_json(
                    {
                        "type": "result",
                        "id": out,
                        "success": True,
                        "result": [{"entity_id": "light.desk", "state": "on"}],
                    }
                )
            elif kind == "subscribe_events":
                await ws.send_json({"type": "result", "id": out, "success": True, "result": None})
                events = [
                    {"type": "event", "id": out, "event": {"event_type": "state_changed", "n": i}} for i in range(3)
                ]
                if "drop_batch" in self.defects:
                    events = events[:-1]
                await ws.send_str(json.dumps(events))  # coalesced: one frame, a JSON array
            elif "error_as_success" in self.defects:
                await ws.send_json({"type": "result", "id": out, "success": True, "result": None})
            else:
                await ws.send_json(
                    {
                        "type": "result",
                        "id": out,
                        "success": False,
                        "error": {"code": "unknown_command", "message": "Unknown command."},
                    }
                )

    async def _cookie(self, ws: web.WebSocketResponse, uid: Any) -> None:
        self.members.setdefault(uid, set()).add(ws)
        try:
            await self._cookie_session(ws, uid)
        finally:
            self.members[uid].discard(ws)

    async def _cookie_session(self, ws: web.WebSocketResponse, uid: Any) -> None:
        await ws.send_json({"type": "connected", "data": {"sessionId": secrets.token_hex(6), "userId": uid}})
        async for text in self._frames(ws):
            try:
                msg = json.loads(text)
            except ValueError:
                await ws.send_json({"type": "error", "data": {"message": "invalid JSON"}})
                continue
            if isinstance(msg, dict) and msg.get("type") == "echo" and isinstance(msg.get("text"), str):
                await ws.send_json({"type": "echo_reply", "text": msg["text"]})
            elif isinstance(msg, dict) and msg.get("type") == "whoami":
                await ws.send_json({"type": "identity", "userId": uid})
            elif (
                isinstance(msg, dict)
                and msg.get("type") == "post"
                and isinstance(msg.get("to"), int)
                and isinstance(msg.get("body"), str)
            ):
                self.posts += 1
                await ws.send_json({"type": "posted", "postId": f"p{self.posts}"})
                if "drop_delivery" not in self.defects:
                    for other in list(self.members.get(msg["to"], ())):
                        await other.send_json({"type": "chat", "from": uid, "body": msg["body"]})
            else:
                await ws.send_json({"type": "error", "data": {"message": "unsupported"}})

    # -- graphql-transport-ws ------------------------------------------------------------
    async def _graphqlws(self, ws: web.WebSocketResponse, uid: Any) -> None:
        if ws.ws_protocol != GQL_PROTOCOL:
            await ws.close(code=4406, message=b"Subprotocol not acceptable")
            return
        state: dict[str, Any] = {"acked": False, "init": False, "subs": {}, "all": set()}
        loop = asyncio.get_running_loop()

        async def init_timeout() -> None:
            await asyncio.sleep(INIT_TIMEOUT_S)
            if not state["init"]:
                await ws.close(code=4408, message=b"Connection initialisation timeout")

        async def pinger() -> None:
            while not ws.closed:
                await asyncio.sleep(PING_EVERY_S)
                if state["acked"] and not ws.closed:
                    await ws.send_json({"type": "ping"})

        tasks = [loop.create_task(init_timeout()), loop.create_task(pinger())]
        try:
            async for text in self._frames(ws):
                if not await self._gql_frame(ws, state, text):
                    return
        finally:
            for t in tasks + list(state["all"]):  # a subscription kept after `complete` (defect) included
                t.cancel()

    async def _gql_frame(self, ws: web.WebSocketResponse, state: dict[str, Any], text: str) -> bool:
        """Handle one frame; False once the session is closed."""
        try:
            msg = json.loads(text)
        except ValueError:
            msg = None
        kind = msg.get("type") if isinstance(msg, dict) else None
        if kind not in ("connection_init", "ping", "pong", "subscribe", "complete"):
            await ws.close(code=4400, message=b"Invalid message received")
            return False
        assert isinstance(msg, dict)
        if kind == "ping":
            await ws.send_json({"type": "pong"})
            return True
        if kind == "pong":
            return True
        if kind == "connection_init":
            if state["init"]:
                await ws.close(code=4429, message=b"Too many initialisation requests")
                return False
            state["init"] = True
            payload = msg.get("payload")
            token = payload.get("token") if isinstance(payload, dict) else None
            if token != TOKEN and not ("accept_bad_token" in self.defects and token):
                await ws.close(code=4403, message=b"Forbidden")
                return False
            state["acked"] = True
            await ws.send_json({"type": "connection_ack"})
            return True
        if not state["acked"]:
            await ws.close(code=4401, message=b"Unauthorized")
            return False
        sid = msg.get("id")
        if not isinstance(sid, str) or not sid:
            await ws.close(code=4400, message=b"Invalid message received")
            return False
        subs: dict[str, asyncio.Task[None]] = state["subs"]
        if kind == "complete":
            task = subs.pop(sid, None)
            if task is not None and "keep_after_complete" not in self.defects:
                task.cancel()
            return True
        if sid in subs:
            await ws.close(code=4409, message=f"Subscriber for {sid} already exists".encode())
            return False
        payload = msg.get("payload")
        query = payload.get("query") if isinstance(payload, dict) else None
        if not isinstance(query, str):
            await ws.close(code=4400, message=b"Invalid message received")
            return False
        subs[sid] = asyncio.get_running_loop().create_task(self._gql_run(ws, subs, sid, query))
        state["all"].add(subs[sid])
        return True

    async def _gql_run(self, ws: web.WebSocketResponse, subs: dict[str, Any], sid: str, query: str) -> None:
        """Execute one operation of a tiny schema: ``{ hello }``, ``subscription { tick }`` (3 events),
        ``subscription { forever }`` (until completed); anything else is a GraphQL error."""
        out = f"{sid}-x" if "wrong_id" in self.defects else sid
        q = " ".join(query.replace("{", " { ").replace("}", " } ").split())
        try:
            if q in ("{ hello }", "query { hello }"):
                await ws.send_json({"type": "next", "id": out, "payload": {"data": {"hello": "world"}}})
            elif q in ("subscription { tick }", "subscription { forever }"):
                n = 0
                while n < 3 or q.endswith("forever }"):
                    await ws.send_json({"type": "next", "id": out, "payload": {"data": {"tick": n}}})
                    n += 1
                    await asyncio.sleep(0.05 if n < 3 else 0.2)
            else:
                await ws.send_json(
                    {"type": "error", "id": out, "payload": [{"message": f"Cannot query: {query[:60]}"}]}
                )
                return
            if not ws.closed:
                await ws.send_json({"type": "complete", "id": out})
        except (ConnectionError, RuntimeError):
            return
        finally:
            if subs.get(sid) is asyncio.current_task():
                subs.pop(sid, None)

    async def _phoenix(self, ws: web.WebSocketResponse, who: Any) -> None:
        uid, v1 = who
        joined: dict[str, str] = {}

        async def out(
            join_ref: Any,
            ref: Any,
            topic: str,
            event: str,
            payload: Any,
            to: web.WebSocketResponse = ws,
            as_v1: bool = v1,
        ) -> None:
            if as_v1:
                await to.send_json(
                    {"join_ref": join_ref, "ref": ref, "topic": topic, "event": event, "payload": payload}
                )
            else:
                await to.send_str(json.dumps([join_ref, ref, topic, event, payload]))

        async def reply(join_ref: Any, ref: Any, topic: str, status: str, response: dict[str, Any]) -> None:
            await out(join_ref, ref, topic, "phx_reply", {"status": status, "response": response})

        try:
            async for text in self._frames(ws):
                try:
                    frame = json.loads(text)
                except (ValueError, RecursionError):  # nested too deep for Python's parser too
                    continue  # Phoenix drops what its serializer cannot decode (declared in its contract)
                if v1 and isinstance(frame, dict):
                    frame = [frame.get(k) for k in ("join_ref", "ref", "topic", "event", "payload")]
                elif v1:
                    continue
                if not (
                    isinstance(frame, list)
                    and len(frame) == 5
                    and isinstance(frame[2], str)
                    and isinstance(frame[3], str)
                ):
                    continue
                join_ref, ref, topic, event, payload = frame
                if topic == "phoenix" and event == "heartbeat":
                    if "wrong_ref" in self.defects:
                        ref = str(int(ref) + 1) if str(ref).isdigit() else "0"
                    await reply(None, ref, "phoenix", "ok", {})
                elif event == "phx_join" and topic.startswith("room:"):
                    joined[topic] = join_ref
                    self.rooms.setdefault(topic, {})[ws] = (join_ref, v1)
                    await reply(join_ref, ref, topic, "ok", {})
                elif event == "phx_leave" and topic in joined:
                    jr = joined.pop(topic)
                    self.rooms.get(topic, {}).pop(ws, None)
                    await reply(jr, ref, topic, "ok", {})
                    await out(jr, jr, topic, "phx_close", {})
                elif event == "new_msg" and topic in joined:
                    body = payload.get("body") if isinstance(payload, dict) else None
                    if not isinstance(body, str):
                        await reply(join_ref, ref, topic, "error", {"reason": "invalid_payload"})
                        continue
                    await reply(join_ref, ref, topic, "ok", {})
                    for member, (jr, mv1) in list(self.rooms.get(topic, {}).items()):
                        if not member.closed and ("no_broadcast" not in self.defects or member is ws):
                            await out(jr, None, topic, "new_msg", {"body": body, "user_id": uid}, to=member, as_v1=mv1)
                elif event in ("phx_join", "phx_leave", "new_msg"):
                    await reply(join_ref, ref, topic, "error", {"reason": "unmatched topic"})
                else:
                    await reply(join_ref, ref, topic, "error", {"reason": "unknown_event"})
        finally:
            for topic in joined:
                self.rooms.get(topic, {}).pop(ws, None)

    # -- API Gateway-style action routing ------------------------------------------------
    async def _apigw(self, ws: web.WebSocketResponse, uid: Any) -> None:
        conn = secrets.token_urlsafe(10)
        rooms: set[str] = set()

        def gateway(message: str) -> dict[str, Any]:  # API Gateway's own error body: no code field
            return {"message": message, "connectionId": conn, "requestId": secrets.token_urlsafe(10)}

        try:
            async for text in self._frames(ws):
                try:
                    msg = json.loads(text)
                except (ValueError, RecursionError):  # nested too deep for the parser too: the gateway's 500
                    await ws.send_json(gateway("Internal server error"))
                    continue
                action = msg.get("action") if isinstance(msg, dict) else None
                if action == "ping":
                    await ws.send_json({"pong": True, "at": int(asyncio.get_running_loop().time() * 1000)})
                elif action == "join" and isinstance(msg.get("room"), str) and msg["room"]:
                    rooms.add(msg["room"])
                    members = self.rooms.setdefault(msg["room"], {})
                    members[ws] = ("", False)
                    await ws.send_json({"joined": msg["room"], "members": len(members)})
                elif (
                    action == "sendmessage"
                    and isinstance(msg.get("data"), dict)
                    and isinstance(msg["data"].get("room"), str)
                    and isinstance(msg["data"].get("text"), str)
                ):
                    room, body = msg["data"]["room"], msg["data"]["text"]
                    await ws.send_json({"sent": True, "room": room})
                    if "no_fanout" in self.defects:
                        continue
                    for member in list(self.rooms.get(room, {})):
                        if not member.closed:
                            await member.send_json({"from": uid, "room": room, "text": body})
                elif "unknown_ok" in self.defects and isinstance(action, str):
                    await ws.send_json({"pong": True, "at": 0})
                else:
                    await ws.send_json(gateway("Forbidden"))
        finally:
            for room in rooms:
                self.rooms.get(room, {}).pop(ws, None)

    async def _gateway(self, ws: web.WebSocketResponse, uid: Any) -> None:
        """gateway: integer op kinds, errors only as close codes (see the module's docstring)."""
        user: str | None = None
        seq = 0
        stamps: list[float] = []
        loop = asyncio.get_running_loop()

        async def send(who: web.WebSocketResponse, op: int, d: Any = None, t: str | None = None) -> None:
            nonlocal seq
            s = None
            if op == 0:
                seq += 1
                s = seq
            await who.send_str(json.dumps({"op": op, "d": d, "s": s, "t": t}))

        await send(ws, 10, {"heartbeat_interval": 45000})
        try:
            while True:
                msg = await ws.receive()
                if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                    return
                now = loop.time()
                stamps = [t for t in stamps if now - t <= GW_WINDOW_S] + [now]
                if len(stamps) > GW_RATE and "no_rate_close" not in self.defects:
                    await ws.close(code=4008, message=b"Rate limited")
                    return
                if msg.type == WSMsgType.BINARY:
                    await ws.close(code=4002, message=b"Decode error")
                    return
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    if len(msg.data.encode()) > GW_MAX_PAYLOAD:
                        raise ValueError("too large")
                    frame = json.loads(msg.data)
                except (ValueError, RecursionError) as exc:
                    if "deep_crash" in self.defects and isinstance(exc, RecursionError):
                        raise  # the session's handler dies: the connection drops without a close frame
                    await ws.close(code=4002, message=b"Decode error")
                    return
                op = frame.get("op") if isinstance(frame, dict) else None
                d = frame.get("d") if isinstance(frame, dict) else None
                if not isinstance(op, int) or isinstance(op, bool):
                    await ws.close(code=4002, message=b"Decode error")
                    return
                if op not in (1, 2, 3, 8):
                    await ws.close(code=4002 if "unknown_decode" in self.defects else 4001, message=b"Unknown opcode")
                    return
                if op == 1:
                    if "no_heartbeat_ack" not in self.defects:
                        await send(ws, 11)
                elif op == 2:
                    if user is not None:
                        await ws.close(code=4005, message=b"Already authenticated")
                        return
                    token = d.get("token") if isinstance(d, dict) else None
                    known = self.ws_tokens.get(token) if isinstance(token, str) else None
                    if known is None and "accept_bad_token" in self.defects and token:
                        known = 0
                    if known is None:
                        await ws.close(code=4004, message=b"Authentication failed")
                        return
                    user = str(known)
                    self.members.setdefault(user, set()).add(ws)
                    await send(ws, 0, {"v": 10, "session_id": secrets.token_hex(8), "user": {"id": user}}, "READY")
                elif user is None and "pre_auth" not in self.defects:
                    await ws.close(code=4003, message=b"Not authenticated")
                    return
                elif op == 8 and isinstance(d, dict) and isinstance(d.get("guild_id"), str):
                    await send(
                        ws,
                        0,
                        {
                            "guild_id": d["guild_id"],
                            "members": [{"user": {"id": str(USER[2])}}],
                            "chunk_index": 0,
                            "chunk_count": 1,
                        },
                        "GUILD_MEMBERS_CHUNK",
                    )
                elif op == 3 and isinstance(d, dict):
                    if "no_presence" in self.defects:
                        continue
                    event = {"user": {"id": user}, "guild_id": "1", "status": d.get("status", "online")}
                    for other in list(self.members.get(user or "", ())):
                        if other is not ws and not other.closed:
                            await send(other, 0, event, "PRESENCE_UPDATE")
                else:
                    await ws.close(code=4002, message=b"Decode error")
                    return
        finally:
            if user is not None:
                self.members.get(user, set()).discard(ws)
