"""HTTP endpoints of the reference server (PROTOCOL.md Part A, 'HTTP')."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import time
import traceback
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from ..capture.redact import redact_url
from . import tokens
from .hub import Hub, now_ms
from .limits import EventWindow
from .profile import Defect
from .settings import Settings
from .store import User

log = logging.getLogger("pitchey_analysis.server")


class BadRequestLines(logging.Filter):
    """aiohttp logs every request it cannot parse (a header or URL over its limits, too many headers, a broken
    head) with a full traceback at ERROR: a client could fill the log with one line of junk a request. Such a
    record becomes one line without the traceback or the client's bytes, at most one every ``every_s`` seconds,
    which counts the ones left out since. Other errors pass unchanged."""

    def __init__(self, every_s: float = 1.0) -> None:
        super().__init__()
        self.every_s = every_s
        self._next_at = 0.0
        self._left_out = 0

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True
        now = time.monotonic()
        if now < self._next_at:
            self._left_out += 1
            return False
        self._next_at = now + self.every_s
        remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
        more = f" ({self._left_out} more since the last such line)" if self._left_out else ""
        self._left_out = 0
        record.msg, record.args = (
            "refused a malformed request from %s: %s %s%s",
            (remote, exc.code, type(exc).__name__, more),
        )
        record.exc_info, record.exc_text = None, None
        if record.levelno > logging.WARNING:  # a client's junk is not the server's error (aiohttp logs it at ERROR)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


#: the logger aiohttp's request handlers use (passed to the AppRunner): malformed requests as one line, rate-bounded
request_log = logging.getLogger("pitchey_analysis.server.requests")
BAD_REQUEST_LINES = BadRequestLines()
request_log.addFilter(BAD_REQUEST_LINES)

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}
LOGIN_TYPES = ("creator", "investor", "production")
#: Part B item 20: the investor and production logins signed for fixed demo ids.
FIXED_IDS = {"investor": 15, "production": 16}


def _fail(status: int, error: str, detail: str | None = None) -> web.Response:
    body: dict[str, Any] = {"success": False, "error": error}
    if detail:
        body["detail"] = detail
    return web.json_response(body, status=status)


class HttpHandlers:
    """The HTTP side: login, health, stats, notifications, broadcast."""

    def __init__(self, settings: Settings, hub: Hub) -> None:
        self.settings = settings
        self.hub = hub
        self.profile = settings.profile
        self._static_health: dict[str, Any] | None = None
        k = self.profile.knobs
        #: failed logins per address and per account (login_throttle), bounded like the lockout table
        self.login_failures = EventWindow(k.login_window_s, k.lockout_table_size)

    def routes(self, app: web.Application) -> None:
        """Register the routes on ``app``."""
        r = app.router
        for t in LOGIN_TYPES:
            r.add_post(f"/api/auth/{t}/login", self.login)
        r.add_get("/api/health", self.health)
        r.add_get("/api/ws/health", self.ws_health)
        r.add_get("/api/ws/stats", self.ws_stats)
        r.add_post("/api/notifications", self.notifications)
        r.add_post("/api/broadcast", self.broadcast)
        r.add_post("/api/ws/notify", self.notify)

    # -- middleware and signals -------------------------------------------
    @web.middleware
    async def errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """JSON errors for every route; a stack trace only if the feature is off."""
        start = time.perf_counter()
        status = 500
        try:
            resp: web.StreamResponse = await handler(request)
            status = resp.status
            return resp
        except web.HTTPException as exc:
            status = exc.status
            if exc.status < 400:
                raise
            return _fail(exc.status, exc.reason or "error")
        except Exception:
            log.error("internal error on %s %s", request.method, redact_url(request.path_qs))
            detail = None if self.profile.on("no_stack_traces") else traceback.format_exc()
            return _fail(500, "internal error", detail)
        finally:
            log.debug(
                "%s %s %s %.1fms",
                request.method,
                redact_url(request.path_qs),
                status,
                (time.perf_counter() - start) * 1000,
            )

    async def add_headers(self, request: web.Request, response: web.StreamResponse) -> None:
        """on_response_prepare: security headers on every HTTP response."""
        if not self.profile.on("security_headers"):
            return
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        if self.settings.tls:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")

    # -- helpers -----------------------------------------------------------
    async def _json(self, request: web.Request) -> dict[str, Any] | web.Response:
        try:
            body = await request.json()
        except ValueError:
            detail = None if self.profile.on("no_stack_traces") else traceback.format_exc()
            return _fail(400, "body must be JSON", detail)
        except RecursionError:
            if not self.profile.on("parse_guard"):
                raise
            return _fail(400, "body must be JSON (nested too deeply)")
        if not isinstance(body, dict):
            return _fail(400, "body must be a JSON object")
        return body

    def bearer_user(self, request: web.Request) -> User | None:
        """The user of a valid ``Authorization: Bearer`` token, else None."""
        auth = request.headers.get("Authorization", "")
        if not auth.lower().startswith("bearer "):
            return None
        v = tokens.verify(auth[7:].strip(), self.settings.jwt_secret, check_aud=self.profile.on("token_claims"))
        if v.claims is None:
            return None
        try:
            return self.hub.store.get(int(v.claims["sub"]))
        except (KeyError, TypeError, ValueError):
            return None

    def _admin(self, request: web.Request) -> User | web.Response:
        user = self.bearer_user(request)
        if user is None:
            return _fail(401, "authentication required")
        if user.user_type != "admin" and self.profile.on("trigger_authz"):
            return _fail(403, "admin only")
        return user

    # -- endpoints ---------------------------------------------------------
    async def login(self, request: web.Request) -> web.Response:
        """POST /api/auth/{type}/login."""
        kind = request.path.split("/")[3]
        body = await self._json(request)
        if isinstance(body, web.Response):
            return body
        email, password = body.get("email"), body.get("password")
        if not isinstance(email, str) or not isinstance(password, str) or not email or not password:
            return _fail(400, "email and password are required")
        throttled = self._throttled(request, email)
        if throttled is not None:
            return throttled
        user = await self._verify(email, password)
        if user is None or user.user_type not in (kind, "admin"):
            self._login_failed(request, email)
            return _fail(401, "invalid credentials")
        sub = (
            FIXED_IDS[kind]
            if self.profile.has(Defect.FIXED_LOGIN_IDS) and kind in FIXED_IDS and user.user_type != "admin"
            else user.id
        )
        token = tokens.issue(
            self.settings.jwt_secret,
            sub=sub,
            email=user.email,
            user_type=user.user_type,
            full_claims=self.profile.on("token_claims"),
        )
        public = user.public()
        k = self.profile.knobs
        if (self.profile.has(Defect.PASSWORD_ECHO) and kind == "creator") or kind in k.password_echo_for:
            public["password"] = password  # Part B item 13
        if user.user_type in k.password_hash_for:
            public["passwordHash"] = self.hub.store.stored_hash(user.id)  # the whole user row serialised
        return web.json_response({"success": True, "token": token, "user": public})

    # -- login protections -------------------------------------------------
    def _login_keys(self, request: web.Request, email: str) -> tuple[tuple[str, int], ...]:
        cfg, k = self.settings, self.profile.knobs
        address = self.hub.lockout_key(request, cfg.trust_proxy, cfg.trusted_proxies)
        return (
            ("addr:" + address, k.login_address_limit),
            ("acct:" + email.strip().lower()[:254], k.login_account_limit),
        )

    def _throttled(self, request: web.Request, email: str) -> web.Response | None:
        """429 with Retry-After while an address or an account has too many recent failures (login_throttle)."""
        if not self.profile.on("login_throttle"):
            return None
        now = time.monotonic()
        wait = max(self.login_failures.retry_after(key, now, limit) for key, limit in self._login_keys(request, email))
        if wait <= 0:
            return None
        resp = _fail(429, "too many failed logins; try again later")
        resp.headers["Retry-After"] = str(max(1, math.ceil(wait)))
        return resp

    def _login_failed(self, request: web.Request, email: str) -> None:
        if self.profile.on("login_throttle"):
            now = time.monotonic()
            for key, _ in self._login_keys(request, email):
                self.login_failures.add(key, now)

    async def _verify(self, email: str, password: str) -> User | None:
        """The password check: in a thread (login_off_loop), so a hash does not stall every other client."""
        equal = self.profile.on("login_equal_time")
        if not self.profile.on("login_off_loop"):
            return self.hub.store.verify(email, password, equal_time=equal)
        return await asyncio.get_running_loop().run_in_executor(
            None, lambda: self.hub.store.verify(email, password, equal_time=equal)
        )

    async def health(self, request: web.Request) -> web.Response:
        """GET /api/health: the service as a whole."""
        if not self.profile.on("health_endpoint"):
            return _fail(404, "not found")
        status = "degraded" if self.hub.shutting_down else "healthy"
        return web.json_response(
            {"success": not self.hub.shutting_down, "data": {"status": status, "timestamp": now_ms()}},
            status=503 if self.hub.shutting_down else 200,
        )

    async def ws_health(self, request: web.Request) -> web.Response:
        """GET /api/ws/health: live figures (static under item 11)."""
        endpoint = (
            "ws://0.0.0.0:8001/ws" if self.profile.has(Defect.HARDCODED_HEALTH_ENDPOINT) else self.settings.ws_url
        )
        if self.profile.has(Defect.STATIC_HEALTH) or not self.profile.on("health_live"):
            if self._static_health is None:
                self._static_health = {
                    "success": True,
                    "data": {
                        "status": "healthy",
                        "timestamp": dt.datetime.now(dt.UTC).isoformat(),
                        "uptime_s": 0,
                        "websocket": {"enabled": True, "endpoint": endpoint, "connections": 0},
                    },
                }
            return web.json_response(self._static_health)
        down = self.hub.shutting_down
        return web.json_response(
            {
                "success": not down,
                "data": {
                    "status": "degraded" if down else "healthy",
                    "timestamp": dt.datetime.now(dt.UTC).isoformat(),
                    "uptime_s": self.hub.uptime_s(),
                    "websocket": {"enabled": True, "endpoint": endpoint, "connections": self.hub.session_count()},
                },
            },
            status=503 if down else 200,
        )

    async def ws_stats(self, request: web.Request) -> web.Response:
        """GET /api/ws/stats: admin only (ids 1-3 too under item 12)."""
        if not self.profile.on("stats_endpoint"):
            return _fail(404, "not found")
        if self.profile.on("stats_auth"):
            user = self.bearer_user(request)
            if user is None:
                return _fail(401, "authentication required")
            allowed = user.user_type == "admin" or (
                self.profile.has(Defect.STATS_OPEN_TO_USERS) and user.id in (1, 2, 3)
            )
            if not allowed:
                return _fail(403, "admin only")
        return web.json_response({"success": True, "data": self.hub.stats()})

    async def notifications(self, request: web.Request) -> web.Response:
        """POST /api/notifications (admin): create and deliver a notification."""
        admin = self._admin(request)
        if isinstance(admin, web.Response):
            return admin
        got = await self._notification(request)
        if isinstance(got, web.Response):
            return got
        return await self._deliver(*got)

    async def _notification(self, request: web.Request) -> tuple[int, str, str] | web.Response:
        """A notification request's body: (userId, title, message), or the 400 answer."""
        body = await self._json(request)
        if isinstance(body, web.Response):
            return body
        uid, title, message = body.get("userId"), body.get("title"), body.get("message")
        if not isinstance(uid, int) or not isinstance(title, str) or not isinstance(message, str):
            return _fail(400, "userId (int), title and message (str) are required")
        return uid, title, message

    async def notify(self, request: web.Request) -> web.Response:
        """POST /api/ws/notify: a logged-in user notifies a user's sessions: their own, or anyone's as the admin
        (with trigger_authz off, anyone's as any user: the 2025-11 backend's endpoint)."""
        user = self.bearer_user(request)
        if user is None:
            return _fail(401, "authentication required")
        got = await self._notification(request)
        if isinstance(got, web.Response):
            return got
        uid, title, message = got
        if uid != user.id and user.user_type != "admin" and self.profile.on("trigger_authz"):
            return _fail(403, "a user may notify only their own sessions")
        return await self._deliver(uid, title, message)

    async def _deliver(self, uid: int, title: str, message: str) -> web.Response:
        nid = self.hub.next_id()
        note = {
            "type": "notification",
            "id": nid,
            "title": title[:200],
            "message": message[:2000],
            "timestamp": now_ms(),
        }
        self.hub.notifications[uid].append(dict(note, read=False))
        if self.profile.on("push_notifications"):
            for s in list(self.hub.by_user.get(uid, ())):
                if "notifications" in s.subs:
                    self.hub.send(s, note)
        return web.json_response({"success": True, "id": nid}, status=201)

    async def broadcast(self, request: web.Request) -> web.Response:
        """POST /api/broadcast (admin): send a message to a channel's subscribers."""
        admin = self._admin(request)
        if isinstance(admin, web.Response):
            return admin
        body = await self._json(request)
        if isinstance(body, web.Response):
            return body
        channel, message = body.get("channel"), body.get("message")
        if not isinstance(channel, str) or not isinstance(message, dict) or not isinstance(message.get("type"), str):
            return _fail(400, "channel (str) and message (object with a type) are required")
        n = self.hub.publish(channel, message) if self.profile.on("push_broadcast") else 0
        return web.json_response({"success": True, "delivered": n})

    async def not_found(self, request: web.Request) -> web.Response:
        """Every unknown route."""
        return _fail(404, "not found")
