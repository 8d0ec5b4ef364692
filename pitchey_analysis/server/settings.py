"""What the reference server's handlers need to know besides the shared state (the hub): one value, passed in.

The HTTP and WebSocket handlers take a :class:`Settings` and the :class:`~.hub.Hub`,
never the server object, so ``app`` imports ``http`` and ``ws`` and neither imports ``app``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .profile import Profile
from .proxy import Network


@dataclass
class Settings:
    """The server's configuration as its handlers read it."""

    profile: Profile
    #: the secret login signs tokens with (and /ws verifies them with)
    jwt_secret: str
    #: the secret /ws verifies with under Part B item 6 (Defect.SPLIT_JWT_SECRET)
    ws_only_secret: str
    allowed_origins: frozenset[str] = frozenset()
    #: whether the lockout may key on X-Forwarded-For / X-Real-IP (a trusted proxy in front)
    trust_proxy: bool = False
    #: the proxies whose X-Forwarded-For is believed (``--trust-proxy ADDRESS/CIDR``)
    trusted_proxies: tuple[Network, ...] = ()
    #: connections accepted at once (connection_cap; None: no cap)
    connection_cap: int | None = None
    #: whether ``/echo`` is routed (``serve --echo``; the Autobahn test)
    echo: bool = False
    #: served over TLS (HSTS header)
    tls: bool = False
    #: the WebSocket URL, known once the server listens (reported by /api/ws/health)
    ws_url: str = ""
