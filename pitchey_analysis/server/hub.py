"""Server-side state: sessions, channels, lockout counters and statistics.

Nothing here does network I/O beyond queueing frames for a session's writer
task; the handlers in ``http.py`` and ``ws.py`` drive it.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import logging
import random
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .deadline import GuardedProtocol, close_frame
from .limits import EventWindow, resident_bytes
from .profile import Defect, Profile
from .proxy import Network, client_address
from .store import User, UserStore

log = logging.getLogger("pitchey_analysis.server")

AUTH_CHANNELS = ("dashboard", "notifications", "uploads")
PUBLIC_CHANNELS = ("presence",)
AUTH_CAPABILITIES = ["notifications", "dashboard", "presence", "messaging", "uploads"]
ANON_CAPABILITIES = ["public_pitches", "browsing"]


def now_ms() -> int:
    """Milliseconds since the epoch."""
    return int(time.time() * 1000)


@dataclass(frozen=True)
class _CloseRequest:
    """Queued behind pending frames: close once they are sent."""

    code: int
    reason: str
    #: end the connection at the transport (GuardedProtocol.hang_up), not by aiohttp's close handshake
    hang_up: bool = False


@dataclass(eq=False)
class Session:
    """One WebSocket connection."""

    id: str
    ws: web.WebSocketResponse
    address: str
    user: User | None = None
    subs: set[str] = field(default_factory=set)
    queue: asyncio.Queue[Any] | None = None
    writer: asyncio.Task[None] | None = None
    opened: float = field(default_factory=time.monotonic)
    last_activity: float = field(default_factory=time.monotonic)
    ping_sent_at: float | None = None
    last_ping_at: float = field(default_factory=time.monotonic)
    tokens: float = 0.0
    refilled_at: float = field(default_factory=time.monotonic)
    strikes: collections.deque[float] = field(default_factory=collections.deque)
    closing: bool = False
    leaked: bool = False
    close_task: asyncio.Task[None] | None = None
    pending: list[Any] = field(default_factory=list)  # messages held during a user lookup
    #: the connection's guard (deadlines, cap, mask check): what a hang-up goes through; None without one
    guard: GuardedProtocol | None = None
    #: the server hung up on this client (a flood): its input is dropped, its close frame goes out at the transport
    hung_up: bool = False


class Hub:
    """Registry of sessions and everything shared between them."""

    def __init__(self, profile: Profile, store: UserStore) -> None:
        self.profile = profile
        self.knobs = profile.knobs
        self.store = store
        self.sessions: dict[str, Session] = {}
        self.by_user: dict[int, set[Session]] = collections.defaultdict(set)
        self.channels: dict[str, set[Session]] = collections.defaultdict(set)
        self.failures: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        #: the lockout's failures when bounded_lockout is on (expiring, at most lockout_table_size keys)
        self.failure_window = EventWindow(self.knobs.lockout_window_s, self.knobs.lockout_table_size)
        self.started = time.monotonic()
        self.received_by_type: collections.Counter[str] = collections.Counter()
        self.sent_by_type: collections.Counter[str] = collections.Counter()
        self.errors_by_code: collections.Counter[str] = collections.Counter()
        self.rate_limited = 0
        self.notifications: dict[int, list[dict[str, Any]]] = collections.defaultdict(list)
        self.unread_messages: collections.Counter[int] = collections.Counter()
        self._ids = itertools.count(1)
        self.rng = random.Random(self.knobs.seed)
        self.shutting_down = False
        #: (monotonic time, open sessions) at each change, for a count reported session_count_lag_s late
        self._counts: collections.deque[tuple[float, int]] = collections.deque([(self.started, 0)])

    # -- bookkeeping -------------------------------------------------------
    def uptime_s(self) -> float:
        """Seconds since the hub started."""
        return round(time.monotonic() - self.started, 3)

    def next_id(self) -> int:
        """A fresh integer id for messages and notifications."""
        return next(self._ids)

    def new_session(self, ws: web.WebSocketResponse, address: str) -> Session:
        """Create a session (not yet registered)."""
        s = Session(id=secrets.token_hex(8), ws=ws, address=address, tokens=float(self.knobs.rate_bucket))
        bounded = self.profile.on("send_queue_limit")
        s.queue = asyncio.Queue(maxsize=self.knobs.send_queue_size if bounded else 0)
        s.writer = asyncio.get_running_loop().create_task(self._write_loop(s))
        return s

    def register(self, s: Session) -> None:
        """Count a session as open."""
        self.sessions[s.id] = s
        if s.user:
            self.by_user[s.user.id].add(s)
        self._count_changed()

    def _count_changed(self) -> None:
        if self.knobs.session_count_lag_s > 0:
            self._counts.append((time.monotonic(), len(self.sessions)))

    def session_count(self) -> int:
        """The open-session count the endpoints report: the live one, or as it was ``session_count_lag_s`` ago."""
        lag = self.knobs.session_count_lag_s
        if lag <= 0:
            return len(self.sessions)
        cutoff = time.monotonic() - lag
        while len(self._counts) > 1 and self._counts[1][0] <= cutoff:
            self._counts.popleft()
        return self._counts[0][1]

    def set_user(self, s: Session, user: User) -> None:
        """Attach an authenticated user to a session (with reauth_moves: detached from the one before)."""
        old = s.user
        if old is not None and old.id != user.id and self.profile.on("reauth_moves"):
            self._leave_user(s, old.id)
            for ch in [c for c in s.subs if c.startswith("user:") or c in AUTH_CHANNELS]:
                self.unsubscribe(s, ch)  # what the old user may read, the new one may not
        s.user = user
        if s.id in self.sessions:
            self.by_user[user.id].add(s)

    def _leave_user(self, s: Session, uid: int) -> None:
        group = self.by_user.get(uid)
        if group is not None:
            group.discard(s)
            if not group:
                del self.by_user[uid]

    def unsubscribe(self, s: Session, channel: str) -> None:
        """Take a session off a channel; an empty channel is forgotten."""
        s.subs.discard(channel)
        subs = self.channels.get(channel)
        if subs is not None:
            subs.discard(s)
            if not subs:
                del self.channels[channel]

    def count_received(self, mtype: str, known: bool) -> None:
        """Count a received message by type; with known_type_counters, unknown types share one key."""
        if not known and self.profile.on("known_type_counters"):
            mtype = "(unknown)"
        self.received_by_type[mtype] += 1

    def unregister(self, s: Session) -> None:
        """Forget a session and its subscriptions."""
        self.sessions.pop(s.id, None)
        self._count_changed()
        if s.user:
            self._leave_user(s, s.user.id)
        for ch in list(s.subs):
            self.unsubscribe(s, ch)
        if s.writer and not s.writer.done() and s.close_task is not s.writer:
            s.writer.cancel()

    def stats(self) -> dict[str, Any]:
        """The body of ``/api/ws/stats`` (knob ``stats_layout``: the contract's, or flat as the real backend's)."""
        if self.knobs.stats_layout == "flat":
            return {
                "totalSessions": self.session_count(),
                "authenticatedSessions": sum(1 for s in self.sessions.values() if s.user),
                "messagesReceived": sum(self.received_by_type.values()),
                "uptime": self.uptime_s(),
            }
        return {
            "connections": {
                "total": self.session_count(),
                "authenticated": sum(1 for s in self.sessions.values() if s.user),
                "users": len(self.by_user),
            },
            "messages": {
                "received": sum(self.received_by_type.values()),
                "sent": sum(self.sent_by_type.values()),
                "by_type": dict(self.received_by_type),
            },
            "errors": {"by_code": dict(self.errors_by_code)},
            "rate_limited": self.rate_limited,
            "uptime_s": self.uptime_s(),
            # the process's resident memory: what a churn of clients left behind shows here once they are gone
            "memory": {"rss_bytes": resident_bytes()},
        }

    def metrics(self) -> dict[str, Any]:
        """The ``metrics`` object of dashboard frames."""
        up = max(self.uptime_s(), 1e-3)
        received = sum(self.received_by_type.values())
        return {
            "activeUsers": len(self.by_user),
            "connections": len(self.sessions),
            "messagesPerMinute": round(received / up * 60.0, 2),
            "uptime_s": up,
        }

    # -- lockout -----------------------------------------------------------
    def lockout_key(self, request: web.Request, trust_proxy: bool, proxies: tuple[Network, ...] = ()) -> str:
        """The address a failed authentication is counted against.

        With proxy_allowlist, X-Forwarded-For counts only from the trusted ``proxies`` (rightmost hop they did not
        add); without it (the issue-31 weakness), from any peer, first (client-written) entry.
        """
        if (
            trust_proxy
            and self.profile.on("proxy_allowlist")
            and not self.profile.has(Defect.SPOOFABLE_LOCKOUT_KEY)
            and not self.knobs.lockout_key_header
        ):
            return client_address(request.remote, request.headers.get("X-Forwarded-For", ""), proxies) or "unknown"
        xff = request.headers.get("X-Forwarded-For", "").split(",")[0].strip()
        real = request.headers.get("X-Real-IP", "").strip()
        header = self.knobs.lockout_key_header
        if header and request.headers.get(header, "").strip():
            return request.headers[header].split(",")[0].strip()  # a defect: a client-chosen key
        if self.profile.has(Defect.SPOOFABLE_LOCKOUT_KEY) or trust_proxy:
            if xff:
                return xff
            if real and self.profile.has(Defect.SPOOFABLE_LOCKOUT_KEY):
                return real
        if self.profile.has(Defect.SHARED_FAILURE_COUNTER):
            return "unknown"  # every direct client shares this key (Part B item 8)
        return request.remote or "unknown"

    def _bounded(self) -> bool:
        return self.profile.on("bounded_lockout") and not self.profile.has(Defect.SHARED_FAILURE_COUNTER)

    def _recent(self, key: str) -> collections.deque[float]:
        q = self.failures[key]
        horizon = time.monotonic() - self.knobs.lockout_window_s
        while q and q[0] < horizon:
            q.popleft()
        return q

    def record_failure(self, key: str) -> None:
        """Count one failed authentication for ``key``."""
        if self.profile.on("lockout") or self.profile.has(Defect.SHARED_FAILURE_COUNTER):
            if self._bounded():
                self.failure_window.add(key, time.monotonic())
            else:
                self._recent(key).append(time.monotonic())

    def clear_failures(self, key: str) -> None:
        """Forget the failures of ``key`` (Part B item 8: one success clears them)."""
        self.failures.pop(key, None)
        self.failure_window.clear(key)

    def lockout_keys(self) -> int:
        """Keys the lockout table holds (a gauge for tests and attacks)."""
        return len(self.failure_window) if self._bounded() else len(self.failures)

    def prune(self) -> None:
        """Forget expired lockout entries (the sweeper calls this)."""
        if self._bounded():
            self.failure_window.prune(time.monotonic())

    def locked(self, key: str) -> bool:
        """Whether ``key`` has reached the failure threshold."""
        if not (self.profile.on("lockout") or self.profile.has(Defect.SHARED_FAILURE_COUNTER)):
            return False
        if self._bounded():
            return self.failure_window.count(key, time.monotonic()) >= self.knobs.lockout_threshold
        return len(self._recent(key)) >= self.knobs.lockout_threshold

    # -- sending -----------------------------------------------------------
    def send(self, s: Session, frame: dict[str, Any] | str) -> None:
        """Queue a frame (a JSON object, or raw text) for a session; a full queue closes it with 1008."""
        if s.closing or s.queue is None:
            return
        try:
            s.queue.put_nowait(frame)
        except asyncio.QueueFull:
            log.info("session %s: send queue overflow, closing 1008", s.id)
            self.close(s, 1008, "Send queue overflow", drain=False)

    def reply(self, s: Session, request_type: str, frame: dict[str, Any]) -> None:
        """Send an answer to ``request_type``, applying the drop and latency knobs."""
        if request_type in self.knobs.drop_answers:
            return
        lat = self.knobs.latency_ms.get(request_type) or self.knobs.latency_ms.get("*")
        if lat:
            mean, jitter = lat
            delay = max(0.0, mean + self.rng.uniform(-jitter, jitter)) / 1000.0
            asyncio.get_running_loop().call_later(delay, self.send, s, frame)
        else:
            self.send(s, frame)

    def error(self, s: Session, code: str, message: str, **extra: Any) -> None:
        """Send an ``error`` frame with a stable code."""
        self.errors_by_code[code] += 1
        if not self.profile.on("error_shape"):
            # A leaky error: no message, a seconds timestamp and the stack of the handler.
            self.send(
                s,
                {
                    "type": "error",
                    "code": code,
                    "error": message,
                    "timestamp": int(time.time()),
                    **extra,
                    "stack": f"Error: {message}\n    at WebSocketHandler.dispatch (/srv/pitchey/src/ws.ts:214:13)",
                },
            )
            return
        self.send(s, {"type": "error", "code": code, "message": message, "timestamp": now_ms(), **extra})

    def publish(self, channel: str, frame: dict[str, Any]) -> int:
        """Send a frame to every subscriber of a channel; returns the count."""
        subs = list(self.channels.get(channel, ()))
        for s in subs:
            self.send(s, frame)
        return len(subs)

    def to_user(self, user_id: int, frame: dict[str, Any]) -> int:
        """Send a frame to every session of a user."""
        sessions = list(self.by_user.get(user_id, ()))
        for s in sessions:
            self.send(s, frame)
        return len(sessions)

    def close(self, s: Session, code: int, reason: str, *, drain: bool = True, hang_up: bool = False) -> None:
        """Close a session from the server side (non-blocking).

        With ``drain`` the frames already queued (e.g. the rate_limited errors
        before a 1008) are sent first; an overflowing queue closes at once.
        With ``hang_up`` (a client that floods) nothing more it sends is read
        or answered, and the close frame goes out at the transport followed by
        the end of the connection (:meth:`GuardedProtocol.hang_up`), so that the
        client sees the close code even while it keeps sending.
        """
        if s.closing:
            return
        s.closing = True
        if hang_up and s.guard is not None:
            s.hung_up = True
            s.guard.discard_input()
        if drain and s.writer and not s.writer.done() and s.queue is not None:
            try:
                s.queue.put_nowait(_CloseRequest(code, reason, s.hung_up))
                s.close_task = s.writer
                return
            except asyncio.QueueFull:
                pass
        if s.writer and not s.writer.done():
            s.writer.cancel()
        if s.hung_up and s.guard is not None:
            s.guard.hang_up(close_frame(code, reason))
            return
        s.close_task = asyncio.get_running_loop().create_task(self._close(s, code, reason))

    async def _close(self, s: Session, code: int, reason: str) -> None:
        try:
            await asyncio.wait_for(s.ws.close(code=code, message=reason.encode()), 5.0)
        except (TimeoutError, ConnectionError, RuntimeError):
            pass

    async def _write_loop(self, s: Session) -> None:
        assert s.queue is not None
        try:
            while True:
                frame = await s.queue.get()
                if isinstance(frame, _CloseRequest):
                    if frame.hang_up and s.guard is not None:
                        s.guard.hang_up(close_frame(frame.code, frame.reason))
                    else:
                        await self._close(s, frame.code, frame.reason)
                    return
                data = frame if isinstance(frame, str) else json.dumps(frame, separators=(",", ":"))
                await s.ws.send_str(data)
                self.sent_by_type[frame.get("type", "?") if isinstance(frame, dict) else "(text)"] += 1
        except asyncio.CancelledError:
            raise
        except (ConnectionError, RuntimeError):
            # The peer went away: an ordinary event, not worth a traceback.
            pass
