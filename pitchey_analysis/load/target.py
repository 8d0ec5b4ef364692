"""The target's own figures, polled while the load runs: its session count over time.

Where the count is comes from the service contract, as for the probe
``readiness.session_leak``: the stats endpoint and its ``sessions`` pointer
(``x-readiness.endpoints.stats``; with the admin token when it says ``admin``),
else the health endpoint and its ``connections`` pointer (``endpoints.wsHealth``).
Pitchey: ``/api/ws/stats`` ``/data/connections/total``, else ``/api/ws/health``
``/data/websocket/connections``. A contract that declares neither is polled for
nothing (``source: none``); a poll that fails is recorded as such.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from ..contract import Contract, default_contract, pointer_get
from ..net import client_ssl_context, read_body_sync, urlopen_no_redirect


def sessions_from(pointer: str, body: Any) -> int | None:
    """The session count at ``pointer`` (a JSON pointer of the contract) in an answer (pure); None when it is not
    there."""
    value = pointer_get(body, pointer)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def count_sources(contract: Contract) -> list[tuple[str, str, str, bool]]:
    """Where the contract's service reports its open-session count (pure):
    (source name ``stats``/``health``, path, JSON pointer, needs the admin token)."""
    stats = (contract.endpoints.get("stats") or {}).get("path")
    return [
        ("stats" if path == stats else "health", path, pointer, admin)
        for path, pointer, admin in contract.session_count_sources()
    ]


class TargetPoller:
    """Polls the target every ``every_s`` in a thread and hands each figure to ``on_poll``."""

    def __init__(
        self,
        http_base: str,
        on_poll: Callable[[dict[str, Any]], None],
        *,
        admin_token: str | None = None,
        every_s: float = 1.0,
        cafile: str | None = None,
        insecure: bool = False,
        timeout_s: float = 2.0,
        contract: Contract | None = None,
    ) -> None:
        self.http_base, self.on_poll, self.admin_token = http_base.rstrip("/"), on_poll, admin_token
        #: the contract's session-count sources (default: the shipped Pitchey contract)
        self.sources = count_sources(contract or default_contract())
        self.every_s, self.timeout_s = every_s, timeout_s
        self.tls = client_ssl_context(cafile, insecure)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="target-poller", daemon=True)

    def _get(self, path: str, token: str | None) -> Any:
        req = urllib.request.Request(
            self.http_base + path, headers={"Authorization": f"Bearer {token}"} if token else {}
        )
        ctx = self.tls if self.http_base.startswith("https") else None
        with urlopen_no_redirect(
            req, timeout=self.timeout_s, context=ctx
        ) as r:  # the admin token: never to another host
            return json.loads(read_body_sync(r))

    def poll_once(self) -> dict[str, Any]:
        """One poll: ``{"sessions": n or None, "source": "stats"|"health"|"none", "error": ...}``."""
        tries = [
            (source, path, pointer, self.admin_token if admin else None)
            for source, path, pointer, admin in self.sources
            if self.admin_token or not admin
        ]
        error = "" if tries else "the contract declares no session count the poller can read"
        for source, path, pointer, token in tries:
            try:
                n = sessions_from(pointer, self._get(path, token))
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
