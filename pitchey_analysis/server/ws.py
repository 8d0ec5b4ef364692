"""The ``/ws`` endpoint: upgrade, authentication, first frame, message loop.

Comments cite PROTOCOL.md (Part A is the contract, Part B the defects).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from typing import Any

import aiohttp
from aiohttp import web

from ..contract import default_contract
from . import schemas, tokens
from .deadline import LINGER_S, GuardedProtocol
from .hub import ANON_CAPABILITIES, AUTH_CAPABILITIES, AUTH_CHANNELS, Hub, Session, now_ms
from .profile import Defect
from .settings import Settings
from .store import User

log = logging.getLogger("pitchey_analysis.server")


# The reference server serves the ``pitchey`` contract: its dispatch and its authentication-only set are read from
# it (one ``on_<type>`` method per type), when the first message arrives rather than at import.
@functools.cache
def auth_only_types() -> frozenset[str]:
    """The message types that need an authenticated session."""
    return frozenset(default_contract().auth_only_types())


@functools.cache
def handlers() -> dict[str, str]:
    """Message type -> the name of the method that handles it."""
    return {t: "on_" + t for t in sorted(default_contract().client_types())}


PRESENCE_STATES = frozenset({"online", "away", "busy", "offline"})
#: messages one session handles before it lets the others run: a read of queued messages does not wait, so a client
#: that sent many at once would otherwise hold the event loop until they are all answered
TURN = 16


def _uid(s: Session) -> int:
    """The session's user id, 0 for anonymous (only reachable with auth_required_check off)."""
    return s.user.id if s.user else 0


def _user_brief(user: User | None) -> dict[str, Any] | None:
    return {"id": user.id, "username": user.username, "type": user.user_type} if user else None


class WebSocketHandler:
    """Serves one WebSocket connection per call."""

    def __init__(self, settings: Settings, hub: Hub) -> None:
        self.settings = settings
        self.hub = hub
        self.profile = settings.profile

    # -- authentication helpers --------------------------------------------
    def _ws_secret(self) -> str:
        # Part B item 6: the WebSocket side used a secret of its own.
        return self.settings.ws_only_secret if self.profile.has(Defect.SPLIT_JWT_SECRET) else self.settings.jwt_secret

    def verify(self, token: str) -> tokens.Verified:
        """Verify a token as the WebSocket side does."""
        p = self.profile
        return tokens.verify(
            token,
            self._ws_secret(),
            check_exp=p.on("exp_check"),
            check_aud=p.on("aud_check") and p.on("token_claims"),
            alg_allowlist=p.on("alg_allowlist"),
            check_signature=p.on("signature_check"),
        )

    def counts(self, kind: str) -> bool:
        """Whether the lockout counts this kind of failed authentication.

        Part B item 8: the 2025-11 deployment counted failed session set-ups
        (a valid token whose user is not found), not invalid tokens.
        """
        if self.profile.has(Defect.SHARED_FAILURE_COUNTER):
            return kind == "unknown_user"
        return self.profile.knobs.lockout_counts in ("both", kind)

    def lookup(self, claims: dict[str, Any]) -> User | None:
        """Find the token's user in the store (the ws table under item 7)."""
        try:
            uid = int(claims["sub"])
        except (KeyError, TypeError, ValueError):
            return None
        return self.hub.store.get(uid, ws_table=self.profile.has(Defect.WS_USERS_MISSING))

    @staticmethod
    def upgrade_token(request: web.Request, query_ok: bool, header_ok: bool) -> str | None:
        """The token offered on the upgrade, by query or by header."""
        if query_ok and request.query.get("token"):
            return request.query["token"]
        auth = request.headers.get("Authorization", "")
        if header_ok and auth.lower().startswith("bearer "):
            return auth[7:].strip()
        return None

    def connected_frame(self, s: Session, auth_error: str | None) -> dict[str, Any]:
        """The first frame of a session (PROTOCOL.md, 'First frame')."""
        frame: dict[str, Any] = {
            "type": "connected",
            "authenticated": s.user is not None,
            "user": _user_brief(s.user),
            "sessionId": s.id,
            "timestamp": now_ms(),
            "capabilities": AUTH_CAPABILITIES if s.user else ANON_CAPABILITIES,
        }
        if not self.profile.on("capabilities"):
            del frame["capabilities"]
        if auth_error and not self.profile.has(Defect.NO_AUTH_ERROR):
            frame["authError"] = auth_error
        return frame

    # -- the endpoint ------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        cfg, hub, p = self.settings, self.hub, self.profile
        origin = request.headers.get("Origin")
        if origin is not None and p.on("origin_check") and origin not in cfg.allowed_origins:
            return web.json_response({"success": False, "error": "origin not allowed"}, status=403)
        if hub.shutting_down:
            return web.json_response({"success": False, "error": "shutting down"}, status=503)
        cap = p.knobs.max_connections if p.knobs.max_connections is not None else cfg.connection_cap
        if cap is not None and len(hub.sessions) >= cap:
            return web.json_response(
                {"success": False, "error": "connection limit reached"}, status=503, headers={"Retry-After": "1"}
            )

        key = hub.lockout_key(request, cfg.trust_proxy, cfg.trusted_proxies)
        token = self.upgrade_token(request, p.on("query_auth"), p.on("header_auth"))
        max_size = p.knobs.max_message_bytes if p.on("size_limit") else 0
        # Without autoclose the message loop answers a client's close itself (and can break the answer).
        autoclose = p.on("graceful_close") and p.on("valid_close_codes") and p.on("silent_after_close")
        ws = web.WebSocketResponse(autoping=False, max_msg_size=max_size, autoclose=autoclose)
        await ws.prepare(request)
        s = hub.new_session(ws, key)
        guard = request.transport.get_protocol() if request.transport is not None else None
        s.guard = guard if isinstance(guard, GuardedProtocol) else None
        try:
            await self._serve(request, s, key, token)
        except (ConnectionError, asyncio.CancelledError, aiohttp.ClientConnectionResetError):
            pass
        finally:
            if s.close_task is not None and not s.close_task.done():
                # A close was requested (1008, 1011, ...): let it go out first.
                try:
                    await asyncio.wait_for(asyncio.shield(s.close_task), 3.0)
                except (TimeoutError, asyncio.CancelledError, ConnectionError):
                    pass
            if not s.leaked:
                hub.unregister(s)
            elif s.writer and not s.writer.done():
                s.writer.cancel()
            if s.hung_up and s.guard is not None:
                # The close frame is out and the transport ends the connection; aiohttp's own close would write
                # after it and reset a connection whose input is unread.
                try:
                    await asyncio.wait_for(s.guard.wait_closed(), LINGER_S + 1.0)
                except TimeoutError:
                    pass
            elif not ws.closed:
                try:
                    await asyncio.wait_for(ws.close(), 2.0)
                except (TimeoutError, ConnectionError):
                    pass
        return ws

    @staticmethod
    def _close_then_talk(request: web.Request, code: int) -> None:
        """Answer a close, then write one more text frame (RFC 6455 §5.5.1 forbids it) and end the TCP
        connection; written raw because aiohttp sends nothing after its close frame."""
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        payload = json.dumps({"type": "goodbye", "timestamp": now_ms()}).encode()
        close = bytes([0x88, 2]) + code.to_bytes(2, "big")  # FIN + close, unmasked
        transport.write(close + bytes([0x81, len(payload)]) + payload)  # FIN + text, < 126 bytes
        transport.close()

    async def _serve(self, request: web.Request, s: Session, key: str, token: str | None) -> None:
        hub, p = self.hub, self.profile
        defective_setup = p.has_any(
            Defect.SECOND_CONNECTED,
            Defect.WS_USERS_MISSING,
            Defect.DROP_DURING_LOOKUP,
            Defect.SHARED_FAILURE_COUNTER,
            Defect.LOOKUP_SESSION_LEAK,
        )

        if not defective_setup and hub.locked(key):
            # Contract: further upgrades from a locked-out address are closed 1008.
            await s.ws.close(code=1008, message=b"Too many failed connection attempts")
            return

        claims: dict[str, Any] | None = None
        auth_error: str | None = None
        if token is not None:
            v = self.verify(token)
            claims, auth_error = v.claims, v.error
            if auth_error and self.counts("invalid_token"):
                hub.record_failure(key)

        if defective_setup:
            await self._defective_setup(s, key, claims, auth_error)
            if s.closing or s.ws.closed:
                return
        else:
            unknown_user = False
            if claims is not None:
                user = self.lookup(claims)
                if user is None:
                    if self.counts("unknown_user"):
                        hub.record_failure(key)
                    unknown_user = True
                else:
                    s.user = user
            hub.register(s)
            if unknown_user and not p.on("connected_first"):
                hub.error(s, "user_not_found", "the token's user does not exist")
            # Contract: 'connected' is the first frame of every session, the unknown user's error after it.
            hub.send(s, self.connected_frame(s, auth_error))
            if not p.on("json_frames"):
                hub.send(s, "Welcome to Pitchey")  # a text frame that is not JSON
            if unknown_user and p.on("connected_first"):
                hub.error(s, "user_not_found", "the token's user does not exist")

        await self._message_loop(s, key, request)

    async def _defective_setup(
        self, s: Session, key: str, claims: dict[str, Any] | None, auth_error: str | None
    ) -> None:
        """Session setup as the 2025-11 deployment did it (Part B items 4, 7, 8, 15, 18)."""
        hub, p = self.hub, self.profile
        hub.register(s)
        first = self.connected_frame(s, auth_error)
        if claims is not None:
            first["authenticated"] = True
            first["user"] = {
                "id": int(claims.get("sub", 0) or 0),
                "username": claims.get("email"),
                "type": claims.get("userType"),
            }
            first["capabilities"] = AUTH_CAPABILITIES
        hub.send(s, first)
        if hub.locked(key):
            # Item 8: connected, then 1008 for everyone sharing the key.
            await asyncio.sleep(0)
            hub.close(s, 1008, "Too many failed connection attempts")
            return
        if claims is None:
            if p.has(Defect.SECOND_CONNECTED):
                hub.send(s, {"type": "connected", "payload": {"sessionId": s.id, "userId": None, "presence": "online"}})
            return
        lo, hi = p.knobs.lookup_delay_ms
        if p.has_any(Defect.DROP_DURING_LOOKUP, Defect.LOOKUP_SESSION_LEAK):
            # Item 15: frames arriving during the lookup are read and dropped
            # (without item 15 they are kept and handled after the lookup).
            deadline = time.monotonic() + hub.rng.uniform(lo, hi) / 1000.0
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    msg = await s.ws.receive(timeout=left)
                except TimeoutError:
                    break
                if msg.type in (
                    aiohttp.WSMsgType.CLOSE,
                    aiohttp.WSMsgType.CLOSING,
                    aiohttp.WSMsgType.CLOSED,
                    aiohttp.WSMsgType.ERROR,
                ):
                    if p.has(Defect.LOOKUP_SESSION_LEAK):
                        s.leaked = True  # item 18: never removed from the registry
                    return
                if not p.has(Defect.DROP_DURING_LOOKUP):
                    s.pending.append(msg)
        user = self.lookup(claims)
        if user is None:
            if self.counts("unknown_user"):
                hub.record_failure(key)
            hub.send(s, {"type": "error", "message": "User not found", "code": 1011, "category": "internal"})
            hub.close(s, 1011, "User not found")
            return
        hub.set_user(s, user)
        if p.has(Defect.SHARED_FAILURE_COUNTER):
            hub.clear_failures(key)
        if p.has(Defect.SECOND_CONNECTED):
            hub.send(s, {"type": "connected", "payload": {"sessionId": s.id, "userId": user.id, "presence": "online"}})
        for msg in s.pending:
            if msg.type == aiohttp.WSMsgType.TEXT and not self._rate_limited(s):
                await self.on_text(s, key, msg.data)
        s.pending.clear()

    # -- the message loop --------------------------------------------------
    async def _message_loop(self, s: Session, key: str, request: web.Request) -> None:
        ws = s.ws
        handled = 0
        while not ws.closed and not s.hung_up:
            handled += 1
            if handled % TURN == 0:
                await asyncio.sleep(0)
                if ws.closed or s.hung_up:
                    return
            msg = await ws.receive()
            s.last_activity = time.monotonic()
            if msg.type == aiohttp.WSMsgType.TEXT:
                if self._rate_limited(s):
                    continue
                await self.on_text(s, key, msg.data)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                if self._rate_limited(s):
                    continue
                self.invalid_format(s)
            elif msg.type == aiohttp.WSMsgType.PING:
                if self._control_limited(s):
                    continue
                await ws.pong(msg.data)  # RFC 6455 §5.5.3: answer with the same payload
            elif msg.type == aiohttp.WSMsgType.PONG:
                s.ping_sent_at = None
                self._control_limited(s)
            elif msg.type == aiohttp.WSMsgType.CLOSE:
                p = self.profile
                code, reason = (msg.data or 1000, b"") if p.on("graceful_close") else (1011, b"unexpected")
                if not p.on("valid_close_codes"):
                    code, reason = 1005, b""  # RFC 6455 §7.4.1: 1005 must never be sent
                if p.on("silent_after_close"):
                    await ws.close(code=code, message=reason)
                else:
                    self._close_then_talk(request, code)
                return
            else:  # CLOSING, CLOSED, ERROR
                return

    def _control_limited(self, s: Session) -> bool:
        """Control frames spend the same tokens as messages (control_frame_limit): a ping flood is a flood."""
        return self.profile.on("control_frame_limit") and self._rate_limited(s)

    def _rate_limited(self, s: Session) -> bool:
        """Token bucket of PROTOCOL.md 'Limits'; True when the message is refused."""
        p, k, hub = self.profile, self.profile.knobs, self.hub
        if not (p.on("rate_limit") or p.has(Defect.RATE_LIMIT_WRAPPED)):
            return False
        now = time.monotonic()
        s.tokens = min(float(k.rate_bucket), s.tokens + (now - s.refilled_at) * k.rate_refill_per_s)
        s.refilled_at = now
        if s.tokens >= 1.0:
            s.tokens -= 1.0
            return False
        hub.rate_limited += 1
        if p.has(Defect.RATE_LIMIT_WRAPPED):
            hub.send(s, {"type": "error", "payload": {"error": "Rate limit exceeded"}})
            return True
        while s.strikes and s.strikes[0] < now - 10.0:
            s.strikes.popleft()
        s.strikes.append(now)
        if len(s.strikes) >= 4:
            hub.close(s, 1008, "Rate limit exceeded", hang_up=True)
        else:
            hub.error(s, "rate_limited", "too many messages; slow down")
        return True

    def invalid_format(self, s: Session) -> None:
        """Answer input that is not a JSON object with a type."""
        if not self.profile.on("bad_input_tolerance"):
            self.hub.close(s, 1003, "Invalid input")
            return
        if self.profile.has(Defect.INVALID_FORMAT_WRAPPED):
            self.hub.send(s, {"type": "error", "payload": {"error": "Invalid message format"}})
        elif self.profile.on("answer_invalid_format"):
            self.hub.error(s, "invalid_format", "message must be a JSON object with a string 'type'")

    async def on_text(self, s: Session, key: str, data: str) -> None:
        """Dispatch one text message."""
        hub, p = self.hub, self.profile
        try:
            msg = json.loads(data)
        except ValueError:
            self.invalid_format(s)
            return
        except RecursionError:
            # Nesting deeper than the interpreter's stack, inside the size limit: still just bad input.
            if not p.on("parse_guard"):
                raise
            self.invalid_format(s)
            return
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            if isinstance(msg, dict) and p.has(Defect.UNTYPED_UNANSWERED):
                return  # item 16: no reply at all
            self.invalid_format(s)
            return
        mtype = msg["type"]
        name = handlers().get(mtype)
        hub.count_received(mtype, name is not None)
        handler = getattr(self, name) if name else None
        if handler is None:
            if p.has(Defect.REQUESTS_IGNORED):
                return  # item 2: unknown types silently ignored
            if p.on("answer_unknown_type"):
                hub.error(s, "unknown_type", f"unknown message type {mtype[:64]!r}", received=mtype[:64])
            return
        if mtype in auth_only_types() and s.user is None and p.on("auth_required_check"):
            hub.error(s, "auth_required", f"{mtype} needs an authenticated session")
            return
        if p.on("schema_validation") and p.on("answer_invalid_format"):
            why = schemas.problem(mtype, msg)
            if why:
                hub.error(s, "invalid_format", why)
                return
        await handler(s, key, msg)

    # -- one method per message type (PROTOCOL.md table) -------------------
    async def on_ping(self, s: Session, key: str, msg: dict[str, Any]) -> None:
        if not self.profile.on("answer_pong"):
            return
        if self.profile.has(Defect.PONG_WRAPPED):
            frame = {"type": "pong", "payload": {"timestamp": now_ms()}, "messageId": self.hub.next_id()}
        else:
            frame = {
                "type": "pong",
                "id": msg.get("id"),
                "timestamp": msg.get("timestamp", now_ms()),
                "serverTime": now_ms(),
            }
        self.hub.reply(s, "ping", frame)

    async def on_auth(self, s: Session, key: str, msg: dict[str, Any]) -> None:
        hub, p = self.hub, self.profile
        if p.has(Defect.NO_AUTH_ANSWER) or not p.on("answer_auth"):
            return  # item 1: never answered
        token = msg.get("token")
        if not isinstance(token, str) or not token:
            hub.record_failure(key)
            hub.reply(s, "auth", {"type": "auth_error", "code": "invalid_token", "message": "token missing"})
            return
        v = self.verify(token)
        if v.error:
            hub.record_failure(key)
            hub.reply(s, "auth", {"type": "auth_error", "code": v.error, "message": "token refused"})
            return
        user = self.lookup(v.claims or {})
        if user is None:
            hub.record_failure(key)
            hub.reply(
                s,
                "auth",
                {"type": "auth_error", "code": "user_not_found", "message": "the token's user does not exist"},
            )
            return
        hub.set_user(s, user)
        hub.reply(s, "auth", {"type": "auth_success", "user": _user_brief(user), "capabilities": AUTH_CAPABILITIES})

    def channel_error(self, s: Session, channel: object) -> str | None:
        """Why a session may not subscribe to a channel, or None."""
        if not isinstance(channel, str) or not channel:
            return "invalid_channel"
        if self.profile.on("subscription_cap") and len(channel) > self.profile.knobs.max_channel_length:
            return "invalid_channel"
        if channel.startswith("user:"):
            if s.user is None:
                return "auth_required"
            if self.profile.on("channel_acl") and channel != f"user:{s.user.id}":
                return "forbidden_channel"
            return None
        if channel in AUTH_CHANNELS:
            return "auth_required" if s.user is None else None
        if channel == "presence" or channel.startswith("pitch:"):
            return None
        return "unknown_channel"

    async def on_subscribe(self, s: Session, key: str, msg: dict[str, Any]) -> None:
        hub, p = self.hub, self.profile
        if p.has(Defect.REQUESTS_IGNORED) or not p.on("answer_subscribe"):
            return
        channel = msg.get("channel")
        why = self.channel_error(s, channel)
        if why:
            hub.error(s, why, f"cannot subscribe to {str(channel)[:64]!r}", channel=str(channel)[:64])
            return
        assert isinstance(channel, str)
        if p.on("subscription_cap") and channel not in s.subs and len(s.subs) >= p.knobs.max_subscriptions:
            hub.error(
                s, "subscription_limit", f"at most {p.knobs.max_subscriptions} channels per session", channel=channel
            )
            return
        s.subs.add(channel)
        hub.channels[channel].add(s)
        hub.reply(s, "subscribe", {"type": "subscription_confirmed", "channel": channel})

    async def on_unsubscribe(self, s: Session, key: str, msg: dict[str, Any]) -> None:
        hub, p = self.hub, self.profile
        if p.has(Defect.REQUESTS_IGNORED) or not p.on("answer_unsubscribe"):
            return
        channel = msg.get("channel")
        if isinstance(channel, str) and channel in s.subs:
            hub.unsubscribe(s, channel)
        hub.reply(s, "unsubscribe", {"type": "unsubscribed", "channel": channel})

    async def on_get_dashboard_metrics(self, s: Session, key: str, msg: dict[str, Any]) -> None:
        if self.profile.has(Defect.REQUESTS_IGNORED) or not self.profile.on("answer_dashboard_metrics"):
            return
        self.hub.reply(
            s,
            "get_dashboard_metrics",
            {"type": "dashboard_metrics", "metrics": self.hub.metrics(), "timestamp": now_ms()},
        )

    async def on_presence_update(self, s: Session, key: str, msg: dict[str, Any]) -> None:
        hub, p = self.hub, self.profile
        status = msg.get("status")
        if not isinstance(status, str) or status not in PRESENCE_STATES:
            hub.error(s, "invalid_status", "status must be online, away, busy or offline")
            return
        if p.on("answer_presence_update"):
            hub.reply(s, "presence_update", {"type": "presence_updated", "status": status})
        if p.on("push_presence"):
            hub.publish("presence", {"type": "presence", "userId": _uid(s), "status": status})

    async def on_send_message(self, s: Session, key: str, msg: dict[str, Any]) -> None:
        hub, p = self.hub, self.profile
        rid, content = msg.get("recipientId"), msg.get("content")
        if not isinstance(rid, int) or not isinstance(content, str):
            hub.error(s, "invalid_format", "send_message needs recipientId (int) and content (str)")
            return
        mid = hub.next_id()
        if not p.on("known_type_counters") or hub.store.get(rid) is not None:
            hub.unread_messages[rid] += 1  # a count per id a client names would grow without bound
        hub.to_user(
            rid,
            {
                "type": "new_message",
                "messageId": mid,
                "senderId": _uid(s),
                "content": content[:4096],
                "timestamp": now_ms(),
            },
        )
        if p.on("answer_send_message"):
            hub.reply(s, "send_message", {"type": "message_sent", "messageId": mid})

    async def _typing(self, s: Session, msg: dict[str, Any], typing: bool) -> None:
        rid = msg.get("recipientId")
        if not isinstance(rid, int):
            self.hub.error(s, "invalid_format", "typing needs recipientId (int)")
            return
        if self.profile.on("answer_typing"):
            self.hub.to_user(rid, {"type": "user_typing", "userId": _uid(s), "isTyping": typing})

    async def on_typing_start(self, s: Session, key: str, msg: dict[str, Any]) -> None:
        await self._typing(s, msg, True)

    async def on_typing_stop(self, s: Session, key: str, msg: dict[str, Any]) -> None:
        await self._typing(s, msg, False)

    async def on_notification_read(self, s: Session, key: str, msg: dict[str, Any]) -> None:
        hub = self.hub
        nid = msg.get("notificationId")
        for n in hub.notifications.get(_uid(s), []):
            if n["id"] == nid:
                n["read"] = True
        if self.profile.on("answer_notification_read"):
            if s.user is None:
                hub.send(s, {"type": "notification_read", "notificationId": nid})
            else:
                hub.to_user(s.user.id, {"type": "notification_read", "notificationId": nid})

    async def on_request_initial_data(self, s: Session, key: str, msg: dict[str, Any]) -> None:
        hub = self.hub
        if not self.profile.on("answer_initial_data"):
            return
        uid = _uid(s)
        unread = [n for n in hub.notifications.get(uid, []) if not n.get("read")]
        hub.reply(
            s,
            "request_initial_data",
            {
                "type": "initial_data",
                "userId": uid,
                "notifications": unread[-50:],
                "unreadMessagesCount": hub.unread_messages[uid],
                "serverTime": now_ms(),
            },
        )
