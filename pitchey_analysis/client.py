"""A reconnecting client of a service described by a contract (default the shipped Pitchey one): the seed's
``PitcheyWebSocketManager`` done right.

Everything it sends and waits for comes from the contract (``pitchey_analysis.contract``): the login, where the
credential goes on the upgrade or in a message, the first frame, how a frame's kind is read and an error told,
request ids and how answers carry them back, the subscription request and the pushes of each channel. Messages
are JSON objects (a contract of array messages, Phoenix's, is not served).

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
import copy
import json
import logging
import random
import ssl
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import jwt
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from .aio import BackgroundLoop
from .contract import Contract, Operation, default_contract, pointer_get
from .contract.requests import (
    auth_message,
    carrier,
    fill_template,
    header_upgrade,
    login_body,
    operation_sending,
    request_id,
    subscribe_request,
    unsubscribe_request,
    upgrade_target,
    with_query,
)
from .contract.wire import IdSource, is_marker, set_pointer
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


def channel_pushes(contract: Contract, channel: str) -> frozenset[str]:
    """The kinds the service pushes on a channel (a concrete name, ``pitch:3``, falls under its pattern), from the
    contract's ``x-readiness.channels`` (pure)."""
    ch = contract.channel_for(channel)
    return frozenset(ch.pushes) if ch is not None else frozenset()


def backoff(
    initial: float = 0.5, factor: float = 2.0, cap: float = 30.0, rng: Callable[[], float] = random.random
) -> Iterator[float]:
    """Exponential backoff with full jitter: the n-th delay is uniform in [0, min(cap, initial·factor^n)].

    A pure generator (no sleeping), so tests can check its statistics and
    inject a fast schedule.
    """
    ceiling = min(cap, initial)
    while True:
        yield rng() * ceiling
        ceiling = min(cap, ceiling * factor)


class PitcheyClient:
    """An asyncio client of the service a contract describes (default the shipped Pitchey contract).

    Args:
        http_url: the HTTP base (``http://host:port``).
        ws_url: the WebSocket URL (``ws://host:port/ws``).
        auth: how the token is presented: ``"query"``, ``"header"``, ``"message"`` (the contract's authentication
            message: its first-message authentication, else its post-connection one), or None: where the contract
            says a session's credential goes.
        user_type: the login of this user type in the contract (default its first).
        reconnect: reconnect after an abnormal close.
        max_attempts: reconnect attempts before giving up (``ConnectionLost``).
        backoff_factory: a callable returning the delay generator.
        heartbeat_interval: the contract's round trip every so many seconds (None: off).
        heartbeat_timeout: an answer missing this long means a dead connection.
        request_timeout: default wait for an answer.
        ssl_context: for ``wss://`` targets.
        contract: the service's contract (:func:`pitchey_analysis.contract.load_contract`).
    """

    def __init__(
        self,
        http_url: str,
        ws_url: str,
        *,
        auth: str | None = None,
        user_type: str | None = None,
        reconnect: bool = True,
        max_attempts: int = 10,
        backoff_factory: Callable[[], Iterator[float]] = backoff,
        heartbeat_interval: float | None = 20.0,
        heartbeat_timeout: float = 10.0,
        request_timeout: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
        max_incoming: int = 1000,
        contract: Contract | None = None,
    ) -> None:
        if auth not in (None, "query", "header", "message"):
            raise UsageError("auth must be 'query', 'header', 'message' or None (the contract's)")
        self.contract = contract or default_contract()
        self.http_url, self.ws_url = http_url.rstrip("/"), ws_url
        users = list(self.contract.login.paths) if self.contract.login is not None else []
        self.auth, self.user_type = auth, user_type or (users[0] if users else "")
        self.reconnect, self.max_attempts = reconnect, max_attempts
        self.backoff_factory = backoff_factory
        self.heartbeat_interval, self.heartbeat_timeout = heartbeat_interval, heartbeat_timeout
        self.request_timeout = request_timeout
        self.ssl_context = ssl_context
        self.token: str | None = None
        self.user: dict[str, Any] | None = None
        self.session: dict[str, Any] | None = None  # the last first frame (empty where the contract declares none)
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
        self._ids = IdSource(self.contract.ids)  # a fresh one per session (never an id twice on a session)
        self.reconnects = 0

    # -- HTTP -----------------------------------------------------------------
    async def login(self, email: str, password: str, user_type: str | None = None) -> dict[str, Any]:
        """Log in as the contract says (its path for the user type, body template, status and token pointer); keeps
        the token (and the credentials, to log in again when it expires). Returns the user object of the answer
        (where the contract's ``login.userId`` points into one), else an empty dict."""
        lg = self.contract.login
        self.user_type = user_type or self.user_type
        path = self.contract.login_path(self.user_type)
        if lg is None or path is None:
            raise ValueError(f"the contract {self.contract.name!r} declares no login for user type {self.user_type!r}")
        async with aiohttp.ClientSession() as s:
            url = f"{self.http_url}{path}"
            # never redirected: the password goes to the login URL only (RFC 9110 §15.4: a 307 would resend it)
            async with s.request(
                lg.method,
                url,
                json=login_body(self.contract, email, password),
                ssl=self.ssl_context or True,
                allow_redirects=False,
            ) as r:
                try:
                    body = json.loads(await read_body(r))
                except (ValueError, RecursionError):
                    body = None
                if not isinstance(body, dict):
                    raise LoginError(r.status, "the answer is not a JSON object")
                token = pointer_get(body, lg.token)
                if r.status != lg.status or not isinstance(token, str) or not token:
                    raise LoginError(r.status, str(body.get("error", "")))
        parent = lg.user_id.rsplit("/", 1)[0] if lg.user_id else ""
        user = pointer_get(body, parent) if parent else None
        self.token, self.user = token, user if isinstance(user, dict) else None
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
        """Open the session (authenticated when logged in); returns the contract's first frame (empty without one)."""
        self._closing = False
        first = await self._open()
        self._tasks.append(asyncio.get_running_loop().create_task(self._supervise()))
        return first

    def _carrier(self) -> str:
        """Where the token goes: ``query``, ``header``, ``message`` as asked, else where the contract says."""
        return self.auth or carrier(self.contract)

    def _upgrade(self) -> tuple[str, dict[str, str], list[str] | None]:
        """The upgrade's URL, headers and subprotocols, carrying the token where :meth:`_carrier` says."""
        via = self._carrier()
        if not self.token or via == "message":
            return upgrade_target(self.contract, self.ws_url, None)
        if self.auth == "query":
            url, headers, protocols = upgrade_target(self.contract, self.ws_url, None)
            up = self.contract.upgrade
            parts = urlsplit(url)
            query = with_query(parts.query, up.query if up is not None and up.query else "token", self.token)
            return urlunsplit((parts.scheme, parts.netloc, parts.path, query, "")), headers, protocols
        if self.auth == "header":
            url, headers, protocols = upgrade_target(self.contract, self.ws_url, None)
            return url, {**headers, **header_upgrade(self.contract, self.token)}, protocols
        return upgrade_target(self.contract, self.ws_url, self.token)

    def _auth_request(self, token: str) -> tuple[dict[str, Any], str | None, bool]:
        """The authentication message carrying ``token``, the kind of its success, and whether it is the session's
        first message (else it follows the first frame): the contract's first-message authentication, else its
        post-connection one (``upgrade.message``, sent as its operation's example)."""
        up = self.contract.upgrade
        first = auth_message(self.contract, token)
        if first is not None and up is not None and up.first_message is not None:
            return first, up.first_message.get("success"), True
        op = operation_sending(self.contract, up.message) if up is not None and up.message else None
        example = op.request.example if op is not None and op.request is not None else None
        if up is None or not isinstance(example, dict):
            raise ConnectError(f"the contract {self.contract.name!r} declares no authentication message")
        return fill_template(copy.deepcopy(example), {"token": token}), up.success, False

    async def _authenticate(self, message: dict[str, Any], success: str | None) -> None:
        if success is None:  # nothing to wait for
            await self.send(message)
            return
        up = self.contract.upgrade
        failure = (
            up.first_message.get("failure") if up is not None and up.first_message else (up.failure if up else None)
        )
        ans = await self._ask(message, tuple(k for k in (success, failure) if k))
        if self.contract.kind_of(ans) != success:
            code = self.contract.error_code(ans) or self.contract.kind_of(ans)
            raise ConnectError(f"authentication refused: {code}")

    async def _open(self) -> dict[str, Any]:
        if self._credentials and self.token_expired():
            await self.login(*self._credentials)
        url, headers, protocols = self._upgrade()
        auth = self._auth_request(self.token) if self.token and self._carrier() == "message" else None
        kwargs: dict[str, Any] = {"ssl": self.ssl_context} if url.startswith("wss") else {}
        if protocols:
            kwargs["subprotocols"] = protocols
        try:
            conn = await connect(
                url,
                additional_headers=headers or None,
                open_timeout=self.request_timeout,
                ping_interval=None,
                close_timeout=2,
                **kwargs,
            )
        except (TimeoutError, OSError, Exception) as exc:
            raise ConnectError(f"{type(exc).__name__}: {exc}") from exc
        self._conn = conn
        self._ids = IdSource(self.contract.ids)
        ff = self.contract.first_frame
        # waited for from the start (its task runs before the reader's): a service may speak first, before a
        # first-message authentication is answered
        began = (
            asyncio.ensure_future(self.expect(lambda m: self.contract.kind_of(m) == ff.type, ff.type)) if ff else None
        )
        reader = asyncio.get_running_loop().create_task(self._read(conn))
        self._tasks.append(reader)
        await asyncio.sleep(0)  # the waiter is registered before anything is read
        try:
            if auth is not None and auth[2]:
                await self._authenticate(auth[0], auth[1])
            first: dict[str, Any] = await began if began is not None else {}
        finally:
            if began is not None and not began.done():
                began.cancel()
        self.session = first
        if auth is not None and not auth[2]:
            await self._authenticate(auth[0], auth[1])
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
                except (ValueError, TypeError, RecursionError):
                    continue
                # with batches declared, a JSON array is several messages
                for one in msg if isinstance(msg, list) and self.contract.batch else [msg]:
                    if isinstance(one, dict) and not is_marker(one):
                        self._dispatch(one)
        except ConnectionClosed:
            pass

    def _dispatch(self, msg: dict[str, Any]) -> None:
        for pred, fut in list(self._waiters):
            if not fut.done() and pred(msg):
                fut.set_result(msg)
                self._waiters.remove((pred, fut))
                return
        kind = self.contract.kind_of(msg)
        for channel, callbacks in self._subs.items():
            ch = self.contract.channel_for(channel)
            if ch is not None and kind in ch.pushes and ch.carries_push(channel, msg):
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
            beats = self.heartbeat_interval and self.contract.round_trip() is not None  # a contract without one: none
            hb = asyncio.get_running_loop().create_task(self._heartbeat(conn)) if beats else None
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

    async def expect(
        self, pred: Callable[[dict[str, Any]], bool], what: str, timeout: float | None = None
    ) -> dict[str, Any]:
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

    async def request(
        self,
        kind: str,
        *,
        expect: tuple[str, ...] | str | None = None,
        timeout: float | None = None,
        match: Callable[[dict[str, Any]], bool] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Send the contract's request of ``kind`` (a message kind, or an operation id) and wait for its answer.

        The request is its operation's example with ``fields`` set over its top-level fields (a message of that kind
        with ``fields`` where the contract has no such operation); it carries a fresh id where the contract correlates
        it. The answer is a frame of a kind in ``expect`` (default: the operation's reply kinds) carrying that id
        back, or an error answer.
        """
        op = operation_sending(self.contract, kind)
        if op is not None and op.request is not None and isinstance(op.request.example, dict):
            message = {**copy.deepcopy(op.request.example), **fields}
        elif self.contract.kind_pointer is not None:
            message = {**set_pointer({}, self.contract.kind_pointer, self.contract.kind_value(kind)), **fields}
        else:
            raise ValueError(f"the contract {self.contract.name!r} has no request {kind!r}")
        want = (expect,) if isinstance(expect, str) else tuple(expect) if expect is not None else _answers(op)
        if not want:
            raise ValueError(f"the contract {self.contract.name!r} names no answer to {kind!r}: give expect=")
        return await self._ask(message, want, timeout, match)

    async def _ask(
        self,
        message: dict[str, Any],
        want: tuple[str, ...],
        timeout: float | None = None,
        match: Callable[[dict[str, Any]], bool] | None = None,
    ) -> dict[str, Any]:
        """Send ``message`` with a fresh id (where it carries one) and wait for its answer: a frame of a kind in
        ``want`` carrying that id back (a correlated request's where the answer's correlation id says, else at the
        same place or none), or an error answer."""
        c = self.contract
        ptr, _ = request_id(c, message)
        rid: Any = None
        if ptr is not None:
            rid = self._ids.next(pointer_get(message, ptr))
            message = set_pointer(message, ptr, rid)
        correlated = ptr is not None and c.correlation_of(message) is not None

        def answers(m: dict[str, Any]) -> bool:
            if rid is None:
                return True
            return c.answers_id(m, rid) if correlated else pointer_get(m, ptr) in (rid, None)

        waiter = asyncio.ensure_future(
            self.expect(
                lambda m: answers(m) and ((c.kind_of(m) in want and (match is None or match(m))) or c.is_error(m)),
                "/".join(want),
                timeout,
            )
        )
        await asyncio.sleep(0)  # the waiter is registered before the request leaves
        await self.send(message)
        return await waiter

    async def ping(self, timeout: float | None = None) -> float:
        """Round trip of the contract's liveness request (Pitchey: ping), in milliseconds."""
        op = self.contract.round_trip()
        example = op.request.example if op is not None and op.request is not None else None
        if op is None or not isinstance(example, dict):
            raise ValueError(f"the contract {self.contract.name!r} declares no round trip")
        t0 = time.perf_counter()
        ans = await self._ask(copy.deepcopy(example), _answers(op), timeout)
        if self.contract.is_error(ans):
            raise PitcheyError(f"the round trip was answered {ans}")
        return (time.perf_counter() - t0) * 1000.0

    async def _subscribe_on_server(self, channel: str) -> None:
        sub = subscribe_request(self.contract, channel)
        if sub is None:
            raise ValueError(f"the contract {self.contract.name!r} has no subscription request")
        ans = await self._ask(sub[0], tuple(sorted(sub[1])), match=_naming(sub[0], channel))
        if self.contract.is_error(ans):
            raise ForbiddenChannel(channel, str(self.contract.error_code(ans)))

    async def subscribe(self, channel: str, callback: Callback | None = None) -> None:
        """Subscribe with the contract's subscription request and wait for its answer; restored after every
        reconnect. ``callback`` gets the pushes of the channel (the kinds the contract says it pushes; for a pattern
        channel, those carrying its name's values where the contract says).

        Raises:
            ForbiddenChannel: the server refused (forbidden_channel, auth_required, ...).
            RequestTimeout: no confirmation in time.
        """
        await self._subscribe_on_server(channel)
        self._subs.setdefault(channel, [])
        if callback is not None:
            self._subs[channel].append(callback)

    async def unsubscribe(self, channel: str) -> None:
        """Unsubscribe (with the contract's unsubscribe request, where it declares one); the channel is not restored
        after a reconnect."""
        self._subs.pop(channel, None)
        req = unsubscribe_request(self.contract, channel)
        if req is not None:
            await self._ask(req[0], tuple(sorted(req[1])), match=_naming(req[0], channel))

    async def messages(self) -> AsyncIterator[dict[str, Any]]:
        """Every incoming message (answers to requests excluded), as an async iterator."""
        while True:
            yield await self._incoming.get()

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self.messages()

    # -- capability helpers: the operations the contract maps to the suite's probes ------------------
    async def call(self, probe: str, **fields: Any) -> dict[str, Any]:
        """Send the request of the operation the contract maps to ``probe`` (``x-readiness.probe``, default
        ``messaging.<operation id>``), ``fields`` set over its example, and return its answer."""
        op = self.contract.operation_for(probe)
        if op is None:
            raise ValueError(f"the contract {self.contract.name!r} maps no request to {probe}")
        return await self.request(op.id, **fields)

    async def dashboard_metrics(self) -> dict[str, Any]:
        """The dashboard metrics (Pitchey: ``get_dashboard_metrics`` → the metrics object)."""
        ans = await self.call("messaging.dashboard_metrics")
        metrics: dict[str, Any] = ans.get("metrics", ans)
        return metrics

    async def subscribe_dashboard(self, callback: Callback) -> None:
        """Receive the pushes of the contract's interval channel (Pitchey: ``dashboard_update``)."""
        ch = self.contract.push_channel()
        if ch is None:
            raise ValueError(f"the contract {self.contract.name!r} has no channel pushing at an interval")
        await self.subscribe(ch.name, callback)

    async def subscribe_notifications(self, callback: Callback) -> None:
        """Receive the pushes made for this user (Pitchey: ``notification``)."""
        ch = self.contract.user_push_channel()
        if ch is None:
            raise ValueError(f"the contract {self.contract.name!r} has no channel of pushes to one user")
        await self.subscribe(ch.name, callback)

    async def update_presence(self, status: str) -> dict[str, Any]:
        """Set this user's presence (online, away, busy, offline; Pitchey: ``presence_update``)."""
        return await self.call("messaging.presence_update", status=status)

    async def send_message(self, recipient_id: int, content: str) -> dict[str, Any]:
        """Send a direct message (Pitchey: ``send_message`` → ``message_sent``)."""
        return await self.call("messaging.send_message", recipientId=recipient_id, content=content)

    async def initial_data(self) -> dict[str, Any]:
        """The session's initial data (Pitchey: ``request_initial_data`` → ``initial_data``)."""
        return await self.call("messaging.initial_data")


def _answers(op: Operation | None) -> tuple[str, ...]:
    """The kinds answering an operation's request (its reply's, the expected first; pure)."""
    return tuple(dict.fromkeys(m.type for m in op.reply if m.type)) if op is not None else ()


def _naming(request: dict[str, Any], channel: str) -> Callable[[dict[str, Any]], bool]:
    """A frame answering a request about ``channel``: naming it at the request's field that names it, or not at all."""
    at = next((k for k, v in request.items() if v == channel), None)
    return lambda m: at is None or m.get(at, channel) == channel


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

    def request(self, kind: str, *, expect: tuple[str, ...] | str | None = None, **fields: Any) -> dict[str, Any]:
        """See :meth:`PitcheyClient.request`."""
        return self._call(self.client.request(kind, expect=expect, **fields))

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
