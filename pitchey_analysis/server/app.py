"""Assembly of the reference server and the ways to start it.

``PitcheyServer`` wires the hub, the HTTP handlers and the WebSocket handler
into one aiohttp application and runs the periodic work (pings, idle
timeouts, dashboard pushes). ``ReferenceServer`` is the public handle:
``async with ReferenceServer() as srv`` or, for notebooks, plain ``with``,
which runs the server in a background thread.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from ..aio import BackgroundLoop
from . import schemas, tokens
from . import tls as tls_mod
from .deadline import GuardConfig, guarded
from .http import HttpHandlers, request_log
from .hub import Hub, now_ms
from .limits import connection_cap
from .profile import Defect, Profile, make_profile
from .proxy import LOOPBACK, parse_networks
from .settings import Settings
from .store import UserStore
from .ws import WebSocketHandler

log = logging.getLogger("pitchey_analysis.server")


class PitcheyServer:
    """The aiohttp application of the reference Pitchey service."""

    def __init__(
        self,
        profile: Profile,
        *,
        jwt_secret: str | None = None,
        allowed_origins: tuple[str, ...] = (),
        trust_proxy: bool | tuple[str, ...] | list[str] = False,
        tls: tls_mod.TLSFiles | None = None,
        store_path: str = ":memory:",
        echo: bool = False,
    ) -> None:
        self.profile = profile
        secret = jwt_secret or tokens.new_secret()
        tokens.check_secret(secret)
        proxies = parse_networks(LOOPBACK if trust_proxy is True else trust_proxy or ())
        cap = connection_cap(profile.knobs.open_files) if profile.on("connection_cap") else None
        self.settings = Settings(
            profile,
            secret,
            ws_only_secret=tokens.new_secret(),
            allowed_origins=frozenset(allowed_origins),
            trust_proxy=bool(proxies),
            trusted_proxies=proxies,
            tls=tls is not None,
            connection_cap=cap,
            echo=echo,
        )
        self.tls = tls
        self.store = UserStore(store_path, iterations=profile.knobs.password_iterations)
        self.hub = Hub(profile, self.store)
        self.http = HttpHandlers(self.settings, self.hub)
        self.ws = WebSocketHandler(self.settings, self.hub)
        self.http_url = ""
        self._tasks: list[asyncio.Task[Any]] = []

    @property
    def jwt_secret(self) -> str:
        """The signing secret of login tokens."""
        return self.settings.jwt_secret

    @property
    def ws_url(self) -> str:
        """The WebSocket URL (set once the server listens)."""
        return self.settings.ws_url

    @ws_url.setter
    def ws_url(self, url: str) -> None:
        self.settings.ws_url = url

    def app(self) -> web.Application:
        """Build the aiohttp application."""
        app = web.Application(middlewares=[self.http.errors], client_max_size=1024**2)
        self.http.routes(app)
        app.router.add_get("/ws", self.ws.handle)
        app.router.add_get("/api/ws", self.ws.handle)
        if self.settings.echo:
            app.router.add_get("/echo", self.echo)
        app.router.add_route("*", "/{tail:.*}", self.http.not_found)
        app.on_response_prepare.append(self.http.add_headers)
        return app

    async def echo(self, request: web.Request) -> web.StreamResponse:
        """A plain echo endpoint with the same WebSocket settings, for Autobahn (``serve --echo``), rate-limited."""
        p, k = self.profile, self.profile.knobs
        max_size = k.max_message_bytes if p.on("size_limit") else 0
        ws = web.WebSocketResponse(max_msg_size=max_size)
        await ws.prepare(request)
        tokens_left, refilled = float(k.rate_bucket), time.monotonic()
        try:
            async for msg in ws:
                if p.on("rate_limit"):
                    now = time.monotonic()
                    tokens_left = min(float(k.rate_bucket), tokens_left + (now - refilled) * k.rate_refill_per_s)
                    refilled = now
                    if tokens_left < 1.0:
                        await ws.close(code=1008, message=b"Rate limit exceeded")
                        break
                    tokens_left -= 1.0
                if msg.type == aiohttp.WSMsgType.TEXT:
                    await ws.send_str(msg.data)
                elif msg.type == aiohttp.WSMsgType.BINARY:
                    await ws.send_bytes(msg.data)
        except (ConnectionError, aiohttp.ClientConnectionResetError):
            pass
        return ws

    # -- periodic work ----------------------------------------------------
    def start_background(self) -> None:
        """Start the sweeper and the dashboard pusher."""
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._sweep()), loop.create_task(self._push_dashboard())]

    async def stop_background(self) -> None:
        """Stop the periodic tasks."""
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _tick(self) -> float:
        k = self.profile.knobs
        shortest = min(k.ping_interval, k.ping_timeout, k.idle_timeout, k.close_after or 1e9)
        return max(0.02, min(1.0, shortest / 4))

    async def _sweep(self) -> None:
        p, k, hub = self.profile, self.profile.knobs, self.hub
        tick = self._tick()
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            hub.prune()
            for s in list(hub.sessions.values()):
                if s.closing or s.ws.closed or s.leaked:
                    continue
                if k.close_after is not None and now - s.opened >= k.close_after:
                    hub.close(s, 1012, "Forced close")
                    continue
                if p.on("idle_timeout") and now - s.last_activity >= k.idle_timeout:
                    hub.close(s, 1000, "Session timeout")
                    continue
                if p.has(Defect.JSON_HEARTBEAT):
                    if now - s.last_ping_at >= k.ping_interval:
                        s.last_ping_at = now
                        hub.send(s, {"type": "ping", "timestamp": now_ms()})
                    continue
                if not p.on("server_ping"):
                    continue
                if s.ping_sent_at is not None:
                    if now - s.ping_sent_at >= k.ping_timeout:
                        hub.close(s, 1011, "Ping timeout")
                elif now - s.last_ping_at >= k.ping_interval:
                    s.last_ping_at = s.ping_sent_at = now
                    try:
                        await s.ws.ping(b"pitchey")  # RFC 6455 §5.5.2
                    except (ConnectionError, RuntimeError):
                        pass

    async def _push_dashboard(self) -> None:
        while True:
            await asyncio.sleep(self.profile.knobs.dashboard_interval)
            if self.profile.on("push_dashboard") and self.hub.channels.get("dashboard"):
                self.hub.publish(
                    "dashboard", {"type": "dashboard_update", "metrics": self.hub.metrics(), "timestamp": now_ms()}
                )

    async def shutdown(self, grace_s: float = 0.2) -> None:
        """Health answers 503, then every session is closed 1001."""
        self.hub.shutting_down = True
        await asyncio.sleep(grace_s)
        sessions = [s for s in self.hub.sessions.values() if not s.ws.closed]
        for s in sessions:
            s.closing = True
            if s.writer and not s.writer.done():
                s.writer.cancel()

        async def close(s: Any) -> None:
            try:
                await asyncio.wait_for(s.ws.close(code=1001, message=b"Server shutting down"), 2.0)
            except (TimeoutError, ConnectionError, RuntimeError):
                pass

        await asyncio.gather(*(close(s) for s in sessions))


class ReferenceServer:
    """The embedded reference Pitchey service on loopback.

    Example:
        >>> async with ReferenceServer(profile="pitchey-2025-11") as srv:  # doctest: +SKIP
        ...     print(srv.ws_url)

    Args:
        profile: a profile name or a :class:`Profile`.
        host: address to bind (loopback by default).
        port: port to bind; 0 picks a free one.
        tls: serve ``https://``/``wss://`` with a generated certificate.
        jwt_secret: signing secret; a random one when None (never printed).
        allowed_origins: browser origins allowed to upgrade.
        trust_proxy: proxies whose ``X-Forwarded-For`` is believed (addresses or CIDR blocks; True: loopback).
        tls_dir: where to write the certificate files (a temporary folder by default).
        echo: route ``/echo`` (a rate-limited echo endpoint for Autobahn; off by default).
        **profile_options: passed to :func:`make_profile` (``disable=``,
            ``enable_defects=``, knobs such as ``ping_interval=``).
    """

    def __init__(
        self,
        profile: str | Profile = "complete",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = False,
        jwt_secret: str | None = None,
        allowed_origins: tuple[str, ...] | list[str] = (),
        trust_proxy: bool | tuple[str, ...] | list[str] = False,
        tls_dir: str | Path | None = None,
        reuse_port: bool = False,
        echo: bool = False,
        **profile_options: Any,
    ) -> None:
        self.profile = profile if isinstance(profile, Profile) else make_profile(profile, **profile_options)
        self.host, self.port = host, port
        self._tls_wanted = tls
        self._tls_dir = Path(tls_dir) if tls_dir else None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._secret = jwt_secret
        self._origins = tuple(allowed_origins)
        self._trust_proxy = trust_proxy
        self._reuse_port = reuse_port
        self._echo = echo
        self.server: PitcheyServer | None = None
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None
        self._bg: BackgroundLoop | None = None
        self.tls_files: tls_mod.TLSFiles | None = None

    # -- public figures ---------------------------------------------------
    @property
    def ws_url(self) -> str:
        """The WebSocket URL (``ws://host:port/ws`` or ``wss://``)."""
        assert self.server, "server not started"
        return self.server.ws_url

    @property
    def http_url(self) -> str:
        """The HTTP base URL."""
        assert self.server, "server not started"
        return self.server.http_url

    @property
    def jwt_secret(self) -> str:
        """The signing secret (for tests and the embedded suite; never logged)."""
        assert self.server, "server not started"
        return self.server.jwt_secret

    @property
    def ca_file(self) -> Path | None:
        """The CA certificate that verifies the server, when served with TLS."""
        return self.tls_files.ca_cert if self.tls_files else None

    @property
    def hub(self) -> Hub:
        """Server state, for tests that check the server's own view."""
        assert self.server
        return self.server.hub

    # -- async lifecycle --------------------------------------------------
    async def start(self) -> ReferenceServer:
        """Bind and start serving."""
        if self._tls_wanted:
            if self._tls_dir is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="pitchey-tls-")
                self._tls_dir = Path(self._tmp.name)
            hosts = tuple(dict.fromkeys(h for h in (self.host, "localhost", "127.0.0.1", "::1") if h))
            self.tls_files = tls_mod.generate(self._tls_dir, hosts)
        self.server = PitcheyServer(
            self.profile,
            jwt_secret=self._secret,
            allowed_origins=self._origins,
            trust_proxy=self._trust_proxy,
            tls=self.tls_files,
            echo=self._echo,
        )
        if self.profile.on("schema_validation"):
            schemas.warm()
        self._runner = web.AppRunner(
            self.server.app(), access_log=None, handle_signals=False, shutdown_timeout=2.0, logger=request_log
        )
        await self._runner.setup()
        ssl_ctx = self.tls_files.server_context() if self.tls_files else None
        guard = self._guard()
        # The TLS handshake under the upgrade's deadline (asyncio's own default is 60 s).
        tls_deadline = guard.head_timeout if ssl_ctx and guard.from_accept else None
        self._listener = await asyncio.get_running_loop().create_server(
            guarded(self._runner.server, guard),  # type: ignore[arg-type]
            self.host,
            self.port,
            ssl=ssl_ctx,
            ssl_handshake_timeout=tls_deadline,
            reuse_address=True,
            reuse_port=self._reuse_port or None,
        )
        sock = self._listener.sockets[0]
        self.port = sock.getsockname()[1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "https" if ssl_ctx else "http"
        self.server.http_url = f"{scheme}://{host}:{self.port}"
        self.server.ws_url = f"{'wss' if ssl_ctx else 'ws'}://{host}:{self.port}/ws"
        self.server.start_background()
        log.info("serving %s (profile %s)", self.server.ws_url, self.profile.name)
        return self

    def _guard(self) -> GuardConfig:
        p, k = self.profile, self.profile.knobs
        assert self.server is not None
        head = k.handshake_timeout if p.on("handshake_timeout") else None
        return GuardConfig(
            head_timeout=head,
            body_timeout=k.body_timeout,
            per_request=p.on("request_deadlines"),
            from_accept=head is not None and p.on("tls_handshake_deadline"),
            cap=self.server.settings.connection_cap,
            mask_check=p.on("mask_check"),
        )

    async def stop(self, grace_s: float = 0.2) -> None:
        """Shut down cleanly: health 503 for ``grace_s`` (a load balancer's drain), close 1001, stop listening."""
        if self.server is None or self._runner is None:
            return
        await self.server.shutdown(grace_s)
        await self.server.stop_background()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        await self._runner.cleanup()
        self.server.store.close()
        self._runner = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def __aenter__(self) -> ReferenceServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- background-thread lifecycle (notebooks, scripts) -----------------
    @property
    def _loop(self) -> asyncio.AbstractEventLoop | None:
        """The background loop serving under ``with`` (None otherwise)."""
        return self._bg.loop if self._bg is not None else None

    def __enter__(self) -> ReferenceServer:
        self._bg = BackgroundLoop("pitchey-reference-server").start()
        try:
            self._bg.call(self.start())
        except BaseException:
            self._bg.stop()
            self._bg = None
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bg is not None:
            try:
                self._bg.call(self.stop(), timeout=10)
            finally:
                self._bg.stop()
                self._bg = None


def freeze_heap() -> None:
    """Move what the process holds once it serves out of the collector's sight (a server process only).

    Python's full collection walks every object; a client that opens connections as fast as it can makes the
    server allocate enough to start one every few hundred connections, and with the contract, jsonschema and
    aiohttp loaded each took about 90 ms of the loop (every client waited). Frozen, the start-up heap is no longer
    walked (a collection then takes about 10 ms). Not done for a server embedded in another program: objects
    that program frees later would never be collected.
    """
    gc.collect()
    gc.freeze()


def serve_forever(server: ReferenceServer) -> None:
    """Run a server until Ctrl-C (used by ``pitchey-analysis serve``)."""

    async def main() -> None:
        await server.start()
        freeze_heap()
        print(json.dumps({"ws_url": server.ws_url, "http_url": server.http_url}), flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await server.stop()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
