"""The target's own figures, polled while the load runs: its session count over time.

``/api/ws/stats`` (``data.connections.total``, or ``data.totalSessions`` in the
real backend's flat layout) with an admin token, else ``/api/ws/health``
(``data.websocket.connections``). A poll that fails is recorded as such.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from ..net import client_ssl_context


def sessions_from(source: str, body: Any) -> int | None:
    """The session count in a stats or health answer (pure); None when it is not there."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        return None
    if source == "stats":
        conns = data.get("connections")
        value = conns.get("total") if isinstance(conns, dict) else data.get("totalSessions")
    else:
        ws = data.get("websocket")
        value = ws.get("connections") if isinstance(ws, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class TargetPoller:
    """Polls the target every ``every_s`` in a thread and hands each figure to ``on_poll``."""

    def __init__(self, http_base: str, on_poll: Callable[[dict[str, Any]], None], *, admin_token: str | None = None,
                 every_s: float = 1.0, cafile: str | None = None, insecure: bool = False, timeout_s: float = 2.0) -> None:
        self.http_base, self.on_poll, self.admin_token = http_base.rstrip("/"), on_poll, admin_token
        self.every_s, self.timeout_s = every_s, timeout_s
        self.tls = client_ssl_context(cafile, insecure)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="target-poller", daemon=True)

    def _get(self, path: str, token: str | None) -> Any:
        req = urllib.request.Request(self.http_base + path, headers={"Authorization": f"Bearer {token}"} if token else {})
        ctx = self.tls if self.http_base.startswith("https") else None
        with urllib.request.urlopen(req, timeout=self.timeout_s, context=ctx) as r:
            return json.load(r)

    def poll_once(self) -> dict[str, Any]:
        """One poll: ``{"sessions": n or None, "source": "stats"|"health"|"none", "error": ...}``."""
        tries = [("stats", "/api/ws/stats", self.admin_token)] if self.admin_token else []
        tries.append(("health", "/api/ws/health", None))
        error = ""
        for source, path, token in tries:
            try:
                n = sessions_from(source, self._get(path, token))
            except (OSError, ValueError) as exc:
                error = f"{source}: {type(exc).__name__}"
                continue
            if n is not None:
                return {"sessions": n, "source": source, "error": ""}
            error = f"{source}: no session count"
        return {"sessions": None, "source": "none", "error": error}

    def _loop(self) -> None:
        while True:
            t = time.time()
            self.on_poll({"t_epoch": t, **self.poll_once()})
            if self._stop.wait(max(0.0, self.every_s - (time.time() - t))):
                return

    def start(self) -> TargetPoller:
        """Start polling (the first poll at once: the baseline)."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after the current poll."""
        self._stop.set()
        self._thread.join(timeout=self.timeout_s * 2 + 1)
