"""Serving from several processes that share one port (SO_REUSEPORT).

The kernel spreads new connections over the processes. Each process has its
own state: sessions, channel subscriptions, lockout counters, notifications
and statistics are per process (a broadcast reaches only the subscribers of
the process that received it). This mode is for capacity measurements; the
single-process server is the protocol reference.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import time
from typing import Any

from ..net import free_port
from .profile import Profile


def _child(profile: Profile, host: str, port: int, secret: str, ready: Any) -> None:
    import asyncio

    from .app import ReferenceServer, freeze_heap

    async def main() -> None:
        srv = ReferenceServer(profile, host=host, port=port, jwt_secret=secret, reuse_port=True)
        await srv.start()
        freeze_heap()
        ready.put(os.getpid())
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        await stop.wait()
        await srv.stop()

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())


class WorkerPool:
    """N server processes on one port; ``with WorkerPool(...) as pool: pool.ws_url``."""

    def __init__(
        self, profile: Profile, workers: int, host: str = "127.0.0.1", port: int = 0, jwt_secret: str | None = None
    ) -> None:
        from .tokens import new_secret

        self.profile, self.workers, self.host = profile, workers, host
        self.port = port or free_port(host)
        self.secret = jwt_secret or new_secret()
        self.procs: list[Any] = []  # processes of the spawn context
        h = f"[{host}]" if ":" in host else host
        self.ws_url, self.http_url = f"ws://{h}:{self.port}/ws", f"http://{h}:{self.port}"

    def start(self) -> WorkerPool:
        ctx = mp.get_context("spawn")
        ready = ctx.Queue()
        for _ in range(self.workers):
            p = ctx.Process(target=_child, args=(self.profile, self.host, self.port, self.secret, ready), daemon=True)
            p.start()
            self.procs.append(p)
        for _ in range(self.workers):
            ready.get(timeout=60)
        return self

    def stop(self) -> None:
        for p in self.procs:
            if p.is_alive():
                p.terminate()
        for p in self.procs:
            p.join(10)

    def __enter__(self) -> WorkerPool:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_workers(
    profile: Profile, *, workers: int, host: str = "127.0.0.1", port: int = 0, jwt_secret: str | None = None
) -> None:
    """``pitchey-analysis serve --workers N``: serve until Ctrl-C or a worker dies."""
    pool = WorkerPool(profile, workers, host, port, jwt_secret)
    pool.start()
    print(
        f"WebSocket: {pool.ws_url}\nHTTP:      {pool.http_url}\n{workers} worker processes (state is per process)",
        file=sys.stderr,
    )
    try:
        while all(p.is_alive() for p in pool.procs):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        pool.stop()
