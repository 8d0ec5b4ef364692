"""A reconnecting Pitchey client: the seed's ``PitcheyWebSocketManager`` done right.

Exceptions (structured fields), defined in :mod:`pitchey_analysis.exceptions` under the package's root and
importable from here::

    PitcheyError (= ClientError)
    ├── LoginError            login refused (``status``)
    ├── ConnectError          could not open a session (``reason``)
    ├── ForbiddenChannel      subscribe refused (``channel``, ``code``)
    ├── RequestTimeout        no answer in time (``expected``)
    └── ConnectionLost        the session ended and reconnecting gave up (``code``, ``reason``)

Reconnection uses a pure delay generator (:func:`backoff`), injectable so
tests need not sleep, as websockets does. After reconnecting the client
authenticates again (a fresh login when the token has expired) and restores
every subscription.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import logging
import random
import ssl
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import aiohttp
import jwt
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from .aio import BackgroundLoop
from .contract import default_contract
from .exceptions import ClientError, UsageError
from .exceptions import ConnectError as ConnectError  # re-exported: the client's exceptions, importable from here
from .exceptions import ConnectionLost as ConnectionLost
from .exceptions import ForbiddenChannel as ForbiddenChannel
from .exceptions import LoginError as LoginError
from .exceptions import RequestTimeout as RequestTimeout
from .net import read_body

T = TypeVar("T")

log = logging.getLogger("pitchey_analysis.client")

Callback = Callable[[dict[str, Any]], Any]


@functools.cache
def channel_types() -> dict[str, frozenset[str]]:
    """Which pushed message types belong to which channel (``pitch:`` covers every pitch:<id>), from the ``pitchey``
    contract's ``x-readiness.channels``; read when first needed, not at import."""
    return {name.split("{", 1)[0]: frozenset(ch.pushes) for name, ch in default_contract().channels.items() if ch.pushes}

ABNORMAL_OK = frozenset({1000, 1001})  # closes that do not call for a reconnect when we asked for them


#: The client's root exception (an alias kept for existing callers).
PitcheyError = ClientError


def _call_user(cb: Callable[[Any], Any], arg: Any, what: str) -> None:
    """Call a user callback (plain or async); its bugs are logged, never break the client."""
    try:
        res = cb(arg)
        if asyncio.iscoroutine(res):
            asyncio.get_running_loop().create_task(res)
    except Exception:  # a user's callback may raise anything
        log.exception("%s callback failed", what)


def backoff(initial: float = 0.5, factor: float = 2.0, cap: float = 30.0,
            rng: Callable[[], float] = random.random) -> Iterator[float]:
    """Exponential backoff with full jitter: the n-th delay is uniform in [0, min(cap, initial·factor^n)].

    A pure generator (no sleeping), so tests can check its statistics and
    inject a fast schedule.
    """
    ceiling = min(cap, initial)
    while True:
        yield rng() * ceiling
        ceiling = min(cap, ceiling * factor)


class PitcheyClient:
    """An asyncio client of the Pitchey real-time service.

    Args:
        http_url: the HTTP base (``http://host:port``).
        ws_url: the WebSocket URL (``ws://host:port/ws``).
        auth: how the token is presented: ``"query"``, ``"header"`` or ``"message"`` (post-connection).
        user_type: the login endpoint (creator, investor, production).
        reconnect: reconnect after an abnormal close.
        max_attempts: reconnect attempts before giving up (``ConnectionLost``).
        backoff_factory: a callable returning the delay generator.
        heartbeat_interval: application ping every so many seconds (None: off).
        heartbeat_timeout: a pong missing this long means a dead connection.
        request_timeout: default wait for an answer.
        ssl_context: for ``wss://`` targets.
    """

    def __init__(
        self,
        http_url: str,
        ws_url: str,
        *,
        auth: str = "query",
        user_type: str = "creator",
        reconnect: bool = True,
        max_attempts: int = 10,
        backoff_factory: Callable[[], Iterator[float]] = backoff,
        heartbeat_interval: float | None = 20.0,
        heartbeat_timeout: float = 10.0,
        request_timeout: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
        max_incoming: int = 1000,
    ) -> None:
        if auth not in ("query", "header", "message"):
            raise UsageError("auth must be 'query', 'header' or 'message'")
        self.http_url, self.ws_url = http_url.rstrip("/"), ws_url
        self.auth, self.user_type = auth, user_type
        self.reconnect, self.max_attempts = reconnect, max_attempts
        self.backoff_factory = backoff_factory
        self.heartbeat_interval, self.heartbeat_timeout = heartbeat_interval, heartbeat_timeout
        self.request_timeout = request_timeout
        self.ssl_context = ssl_context
        self.token: str | None = None
        self.user: dict[str, Any] | None = None
        self.session: dict[str, Any] | None = None  # the last connected frame
        self._credentials: tuple[str, str] | None = None
        self._conn: ClientConnection | None = None
        self._subs: dict[str, list[Callback]] = {}
        self._waiters: list[tuple[Callable[[dict[str, Any]], bool], asyncio.Future[dict[str, Any]]]] = []
        self._incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=max_incoming)
        self._listeners: list[Callable[[bool], Any]] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._closing = False
        self._connected = asyncio.Event()
        self._lost: ConnectionLost | None = None
        self._ids = itertools.count(1)
        self.reconnects = 0

    # -- HTTP -----------------------------------------------------------------
    async def login(self, email: str, password: str, user_type: str | None = None) -> dict[str, Any]:
        """Log in; keeps the token (and the credentials, to log in again when it expires)."""
        self.user_type = user_type or self.user_type
        async with aiohttp.ClientSession() as s:
            url = f"{self.http_url}/api/auth/{self.user_type}/login"
            # never redirected: the password goes to the login URL only (RFC 9110 §15.4: a 307 would resend it)
            async with s.post(url, json={"email": email, "password": password}, ssl=self.ssl_context or True,
                              allow_redirects=False) as r:
                try:
                    body = json.loads(await read_body(r))
                except (ValueError, RecursionError):
                    body = None
                if not isinstance(body, dict):
                    raise LoginError(r.status, "the answer is not a JSON object")
                if r.status != 200 or not body.get("token"):
                    raise LoginError(r.status, str(body.get("error", "")))
        self.token, self.user = body["token"], body.get("user")
        self._credentials = (email, password)
        return self.user or {}

    def token_expired(self, margin_s: float = 30.0) -> bool:
        """Whether the token is missing or expires within ``margin_s``."""
        if not self.token:
            return True
        try:
            exp = jwt.decode(self.token, options={"verify_signature": False}).get("exp")
        except jwt.PyJWTError:
            return True
        return exp is not None and exp - margin_s <= time.time()

    # -- connection -------------------------------------------------------------
    def on_connection_change(self, callback: Callable[[bool], Any]) -> None:
        """Call ``callback(connected)`` whenever the session opens or drops."""
        self._listeners.append(callback)

    @property
    def connected(self) -> bool:
        """Whether a session is open now."""
        return self._connected.is_set()

    async def connect(self) -> dict[str, Any]:
        """Open the session (authenticated when logged in); returns the ``connected`` frame."""
        self._closing = False
        first = await self._open()
        self._tasks.append(asyncio.get_running_loop().create_task(self._supervise()))
        return first

    async def _open(self) -> dict[str, Any]:
        if self._credentials and self.token_expired():
            await self.login(*self._credentials)
        url, headers = self.ws_url, {}
        if self.token and self.auth == "query":
            url += ("&" if "?" in url else "?") + f"token={self.token}"
        elif self.token and self.auth == "header":
            headers["Authorization"] = f"Bearer {self.token}"
        kwargs: dict[str, Any] = {"ssl": self.ssl_context} if url.startswith("wss") else {}
        try:
            conn = await connect(url, additional_headers=headers or None, open_timeout=self.request_timeout,
                                 ping_interval=None, close_timeout=2, **kwargs)
        except (TimeoutError, OSError, Exception) as exc:
            raise ConnectError(f"{type(exc).__name__}: {exc}") from exc
        self._conn = conn
        reader = asyncio.get_running_loop().create_task(self._read(conn))
        self._tasks.append(reader)
        first = await self.expect(lambda m: m.get("type") == "connected", "connected")
        self.session = first
        if self.token and self.auth == "message":
            ans = await self.request("auth", token=self.token, expect=("auth_success", "auth_error"))
            if ans["type"] != "auth_success":
                raise ConnectError(f"post-connection auth refused: {ans.get('code')}")
        for channel in list(self._subs):
            await self._subscribe_on_server(channel)
        self._set_connected(True)
        return first

    def _set_connected(self, value: bool) -> None:
        if value == self._connected.is_set():
            return
        if value:
            self._connected.set()
        else:
            self._connected.clear()
        for cb in self._listeners:
            _call_user(cb, value, "connection-change")

    async def _read(self, conn: ClientConnection) -> None:
        try:
            async for data in conn:
                try:
                    msg = json.loads(data)
                except (ValueError, TypeError):
                    continue
                if isinstance(msg, dict):
                    self._dispatch(msg)
        except ConnectionClosed:
            pass

    def _dispatch(self, msg: dict[str, Any]) -> None:
        for pred, fut in list(self._waiters):
            if not fut.done() and pred(msg):
                fut.set_result(msg)
                self._waiters.remove((pred, fut))
                return
        mtype = msg.get("type")
        for channel, callbacks in self._subs.items():
            known = channel_types()
            key = channel if channel in known else channel.split(":")[0] + ":"
            types = known.get(key, frozenset())
            if mtype in types and (key != "pitch:" or str(msg.get("pitchId")) == channel[6:]):
                for cb in callbacks:
                    _call_user(cb, msg, "subscription")
        if self._incoming.full():
            self._incoming.get_nowait()  # keep memory bounded: drop the oldest
        self._incoming.put_nowait(msg)

    async def _supervise(self) -> None:
        """Heartbeats while connected; reconnect with backoff after an abnormal close."""
        while not self._closing:
            conn = self._conn
            assert conn is not None
            hb = asyncio.get_running_loop().create_task(self._heartbeat(conn)) if self.heartbeat_interval else None
            await conn.wait_closed()
            if hb:
                hb.cancel()
            self._set_connected(False)
            rcvd = conn.protocol.close_rcvd
            code, reason = (rcvd.code, rcvd.reason) if rcvd else (1006, "")
            if self._closing:
                return
            if not self.reconnect:
                self._lost = ConnectionLost(code, reason)
                self._fail_waiters()
                return
            delays = self.backoff_factory()
            for _attempt in range(self.max_attempts):
                await asyncio.sleep(next(delays))
                if self._closing:
                    return
                try:
                    await self._open()
                    self.reconnects += 1
                    break
                except (PitcheyError, OSError) as exc:
                    log.info("reconnect failed: %s", exc)
            else:
                self._lost = ConnectionLost(code, reason)
                self._fail_waiters()
                return

    async def _heartbeat(self, conn: ClientConnection) -> None:
        assert self.heartbeat_interval is not None
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            try:
                await self.ping(timeout=self.heartbeat_timeout)
            except RequestTimeout:
                log.info("heartbeat: no pong within %.1f s; dropping the connection", self.heartbeat_timeout)
                conn.transport.abort()
                return
            except (ConnectionClosed, PitcheyError):
                return

    def _fail_waiters(self) -> None:
        for _, fut in self._waiters:
            if not fut.done():
                fut.set_exception(self._lost or ConnectionLost(None))
        self._waiters.clear()

    async def close(self) -> None:
        """Close the session (1000) and stop reconnecting."""
        self._closing = True
        if self._conn is not None:
            await self._conn.close()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self._set_connected(False)

    async def __aenter__(self) -> PitcheyClient:
        if not self._tasks:
            await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- messages ---------------------------------------------------------------
    async def send(self, message: dict[str, Any]) -> None:
        """Send a message (waits for a reconnect in progress)."""
        if self._lost:
            raise self._lost
        if self._conn is None:
            raise ConnectError("not connected")
        await self._conn.send(json.dumps(message, separators=(",", ":")))

    async def expect(self, pred: Callable[[dict[str, Any]], bool], what: str, timeout: float | None = None) -> dict[str, Any]:
        """Wait for a message matching ``pred``."""
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        entry = (pred, fut)
        self._waiters.append(entry)
        try:
            return await asyncio.wait_for(fut, timeout or self.request_timeout)
        except TimeoutError:
            raise RequestTimeout(what, timeout or self.request_timeout) from None
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)

    async def request(self, type: str, *, expect: tuple[str, ...] | str, timeout: float | None = None,
                      match: Callable[[dict[str, Any]], bool] | None = None, **fields: Any) -> dict[str, Any]:
        """Send ``{type, **fields}`` and wait for an answer of type ``expect`` (or an ``error``)."""
        want = (expect,) if isinstance(expect, str) else expect
        waiter = asyncio.ensure_future(self.expect(
            lambda m: (m.get("type") in want and (match is None or match(m))) or m.get("type") == "error", "/".join(want), timeout))
        await asyncio.sleep(0)  # the waiter is registered before the request leaves
        await self.send({"type": type, **fields})
        return await waiter

    async def ping(self, timeout: float | None = None) -> float:
        """Round trip of an application ping, in milliseconds."""
        pid = f"c{next(self._ids)}"
        t0 = time.perf_counter()
        ans = await self.request("ping", id=pid, expect="pong", timeout=timeout, match=lambda m: m.get("id") in (pid, None))
        if ans.get("type") != "pong":
            raise PitcheyError(f"ping answered {ans}")
        return (time.perf_counter() - t0) * 1000.0

    async def _subscribe_on_server(self, channel: str) -> None:
        ans = await self.request("subscribe", channel=channel, expect="subscription_confirmed",
                                 match=lambda m: m.get("channel") == channel)
        if ans.get("type") == "error":
            raise ForbiddenChannel(channel, str(ans.get("code")))

    async def subscribe(self, channel: str, callback: Callback | None = None) -> None:
        """Subscribe and wait for ``subscription_confirmed``; restored after every reconnect.

        Raises:
            ForbiddenChannel: the server refused (forbidden_channel, auth_required, ...).
            RequestTimeout: no confirmation in time.
        """
        await self._subscribe_on_server(channel)
        self._subs.setdefault(channel, [])
        if callback is not None:
            self._subs[channel].append(callback)

    async def unsubscribe(self, channel: str) -> None:
        """Unsubscribe; the channel is not restored after a reconnect."""
        self._subs.pop(channel, None)
        await self.request("unsubscribe", channel=channel, expect="unsubscribed")

    async def messages(self) -> AsyncIterator[dict[str, Any]]:
        """Every incoming message (answers to requests excluded), as an async iterator."""
        while True:
            yield await self._incoming.get()

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self.messages()

    # -- capability helpers -------------------------------------------------------
    async def dashboard_metrics(self) -> dict[str, Any]:
        """``get_dashboard_metrics`` → the metrics object."""
        ans = await self.request("get_dashboard_metrics", expect="dashboard_metrics")
        metrics: dict[str, Any] = ans.get("metrics", ans)
        return metrics

    async def subscribe_dashboard(self, callback: Callback) -> None:
        """Receive ``dashboard_update`` pushes."""
        await self.subscribe("dashboard", callback)

    async def subscribe_notifications(self, callback: Callback) -> None:
        """Receive ``notification`` pushes."""
        await self.subscribe("notifications", callback)

    async def update_presence(self, status: str) -> dict[str, Any]:
        """``presence_update`` (online, away, busy, offline)."""
        return await self.request("presence_update", status=status, expect="presence_updated")

    async def send_message(self, recipient_id: int, content: str) -> dict[str, Any]:
        """``send_message`` → ``message_sent``."""
        return await self.request("send_message", recipientId=recipient_id, content=content, expect="message_sent")

    async def initial_data(self) -> dict[str, Any]:
        """``request_initial_data`` → ``initial_data``."""
        return await self.request("request_initial_data", expect="initial_data")


class SyncPitcheyClient:
    """A blocking wrapper for notebooks and scripts (the client runs in a background loop)."""

    def __init__(self, http_url: str, ws_url: str, **options: Any) -> None:
        self._bg = BackgroundLoop("pitchey-client").start()
        self.client: PitcheyClient = self._call(self._make(http_url, ws_url, options))

    async def _make(self, http_url: str, ws_url: str, options: dict[str, Any]) -> PitcheyClient:
        return PitcheyClient(http_url, ws_url, **options)

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float | None = 60) -> T:
        return self._bg.call(coro, timeout)

    def login(self, email: str, password: str, user_type: str | None = None) -> dict[str, Any]:
        """See :meth:`PitcheyClient.login`."""
        return self._call(self.client.login(email, password, user_type))

    def connect(self) -> dict[str, Any]:
        """See :meth:`PitcheyClient.connect`."""
        return self._call(self.client.connect())

    def ping(self) -> float:
        """See :meth:`PitcheyClient.ping`."""
        return self._call(self.client.ping())

    def subscribe(self, channel: str, callback: Callback | None = None) -> None:
        """See :meth:`PitcheyClient.subscribe` (callbacks run in the client's thread)."""
        self._call(self.client.subscribe(channel, callback))

    def request(self, type: str, *, expect: str, **fields: Any) -> dict[str, Any]:
        """See :meth:`PitcheyClient.request`."""
        return self._call(self.client.request(type, expect=expect, **fields))

    def close(self) -> None:
        """Close the session and stop the background loop."""
        try:
            self._call(self.client.close())
        finally:
            self._bg.stop(5)

    def __enter__(self) -> SyncPitcheyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
