"""What every probe shares: the catalogue, the context, the result, classification.

A probe is an ``async def`` taking a :class:`ProbeContext` and returning a
:class:`Result`. It is registered with :func:`probe`, which records its stable
name, category, criticality and what it expects (the probe catalogue printed
in the report's appendix). Probes know the target only through the network.

Failures of the target are data: exceptions raised by network operations are
turned into results by :func:`classify` (a pure function); only misuse of the
library raises.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import secrets
import ssl
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import websockets.exceptions as wsexc

from .invariants import Tally

CATEGORIES = ("connection", "authentication", "messaging", "performance", "readiness", "resilience")


@dataclass
class Result:
    """The outcome of one probe execution."""

    outcome: str  # pass | fail | error | skip
    reason: str = "ok"
    detail: str = ""
    observed: Any = None
    close_code: int | None = None
    close_reason: str | None = None

    @classmethod
    def ok(cls, detail: str = "", observed: Any = None, **kw: Any) -> Result:
        """A pass."""
        return cls("pass", "ok", detail, observed, **kw)

    @classmethod
    def fail(cls, reason: str, detail: str, observed: Any = None, **kw: Any) -> Result:
        """A failure of the target to meet the expectation."""
        return cls("fail", reason, detail, observed, **kw)

    @classmethod
    def skip(cls, reason: str, detail: str) -> Result:
        """Not run, with the reason."""
        return cls("skip", reason, detail)


ProbeFn = Callable[["ProbeContext"], Awaitable[Result]]


@dataclass(frozen=True)
class ProbeSpec:
    """A catalogue entry."""

    name: str
    category: str
    critical: bool
    expected: str
    fn: ProbeFn
    needs: tuple[str, ...] = ()  # "jwt_secret", "admin", "tls", "loopback"
    disruptive: bool = False
    quick: bool = True  # part of the quick suite
    last: bool = False  # runs after every other probe (lockout tests)
    final: bool = False  # judges the whole run: runs after the ``last`` probes too (session invariants)


CATALOGUE: dict[str, ProbeSpec] = {}


def probe(
    name: str,
    *,
    category: str,
    critical: bool,
    expected: str,
    needs: tuple[str, ...] = (),
    disruptive: bool = False,
    quick: bool = True,
    last: bool = False,
    final: bool = False,
) -> Callable[[ProbeFn], ProbeFn]:
    """Register a probe in the catalogue."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}")

    def deco(fn: ProbeFn) -> ProbeFn:
        if name in CATALOGUE:
            raise ValueError(f"duplicate probe name {name!r}")
        CATALOGUE[name] = ProbeSpec(name, category, critical, expected, fn, needs, disruptive, quick, last, final)
        return fn

    return deco


@dataclass
class Credentials:
    """An e-mail and a password, and the login endpoint type to use."""

    email: str
    password: str
    user_type: str = "creator"


@dataclass
class Options:
    """Tunable values of a run (all recorded in the manifest)."""

    timeout_s: float = 5.0  # one answer
    open_timeout_s: float = 5.0  # one connection
    push_timeout_s: float = 7.0  # a server push (dashboard interval + margin)
    server_ping_wait_s: float = 35.0  # server ping interval + margin
    handshake_bound_s: float = 2.0  # an unanswered upgrade must time out within this
    quiet_window_s: float = 0.3  # how long to watch for an unexpected extra frame
    connect_samples: int = 100
    rtt_samples: int = 400
    rtt_per_session: int = 100  # stays below the target's burst limit of 120
    concurrency_levels: tuple[int, ...] = (1, 10, 100, 1000)
    reconnect_samples: int = 5
    burst_size: int = 200
    lockout_attempts: int = 10
    seed: int = 20251112


@dataclass
class ProbeContext:
    """Everything a probe may use: the target, credentials, options, the recorder."""

    ws_url: str
    http_url: str
    recorder: Any  # Recorder; typed loosely to keep probes free of capture details
    options: Options = field(default_factory=Options)
    user: Credentials | None = None
    users: dict[str, Credentials] = field(default_factory=dict)  # by user type, for per-type probes
    admin: Credentials | None = None
    jwt_secret: str | None = None
    ssl_context: ssl.SSLContext | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)
    allow_disruptive: bool = False
    probe_id: str = ""
    #: counters of the session invariants over every session of the run (probes/invariants.py)
    invariants: Tally = field(default_factory=Tally)
    _tokens: dict[str, tuple[str, dict]] = field(default_factory=dict)

    # -- target facts ------------------------------------------------------
    @property
    def tls(self) -> bool:
        """Whether the target is ``wss://``."""
        return self.ws_url.startswith("wss://")

    @property
    def host(self) -> str:
        """The target's host name or address."""
        return urlsplit(self.ws_url).hostname or ""

    @property
    def port(self) -> int:
        """The target's port."""
        parts = urlsplit(self.ws_url)
        return parts.port or (443 if parts.scheme == "wss" else 80)

    @property
    def loopback(self) -> bool:
        """Whether the target is on this machine's loopback."""
        return is_loopback(self.host)

    def ws_url_with(self, *, token: str | None = None, path: str | None = None) -> str:
        """The WebSocket URL with a token query or another path."""
        parts = urlsplit(self.ws_url)
        query = f"token={token}" if token else parts.query
        return urlunsplit((parts.scheme, parts.netloc, path or parts.path, query, ""))

    def scratch_address(self) -> str | None:
        """A fresh loopback source address (127.x.y.z) for connections that count as failed
        authentications, so that the suite never locks itself out of a loopback target."""
        if not (self.loopback and self.host.startswith("127.")):
            return None
        n = secrets.randbelow(250 * 250 * 250)
        return f"127.{10 + n // 62500 % 240}.{n // 250 % 250 + 1}.{n % 250 + 1}"

    def new_conn_id(self) -> str:
        """A short connection id for the frames table."""
        return uuid.uuid4().hex[:8]

    def sample(self, metric: str, value_ms: float | None, *, t_offset_s: float, concurrency: int = 1,
               conn_index: int = 0, ok: bool = True) -> None:
        """Record one sample row."""
        self.recorder.sample(
            {
                "probe_id": self.probe_id,
                "metric": metric,
                "value_ms": value_ms if ok else None,
                "t_offset_s": round(t_offset_s, 6),
                "concurrency": concurrency,
                "conn_index": conn_index,
                "ok": ok,
            }
        )


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost."""
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def compact(obj: Any, limit: int = 2000) -> str:
    """JSON text of an observation, truncated."""
    text = obj if isinstance(obj, str) else json.dumps(obj, default=str, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def classify(exc: BaseException) -> Result:
    """Turn an exception from a network operation into a result (pure).

    The reason codes follow the phase that failed (connect, TLS, upgrade,
    answer, close), as httpx splits its exceptions.
    """
    os_error = getattr(exc, "os_error", None)  # aiohttp wraps the socket's error (ClientConnectorError)
    if isinstance(os_error, OSError) and os_error is not exc:
        return classify(os_error)
    if isinstance(exc, wsexc.InvalidStatus):
        status = exc.response.status_code
        return Result("fail", "upgrade_rejected", f"upgrade answered HTTP {status} instead of 101", {"status": status})
    if isinstance(exc, ssl.SSLCertVerificationError):
        return Result("fail", "tls_error", f"certificate not verified: {exc.verify_message}")
    if isinstance(exc, ssl.SSLError):
        return Result("fail", "tls_error", f"TLS failed: {exc.reason or exc}")
    if isinstance(exc, ConnectionRefusedError):
        return Result("error", "connect_refused", "connection refused: nothing listens at the target")
    if isinstance(exc, wsexc.ConnectionClosed):
        rcvd = exc.rcvd
        code = rcvd.code if rcvd else 1006
        reason = rcvd.reason if rcvd else ""
        return Result("fail", f"closed_{code}", f"connection closed {code} {reason!r}".strip(), close_code=code, close_reason=reason)
    if isinstance(exc, (wsexc.InvalidHandshake, wsexc.InvalidMessage)):
        return Result("fail", "bad_handshake", f"invalid upgrade answer: {exc}")
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return Result("fail", "connect_timeout", "the operation timed out")
    if isinstance(exc, OSError):
        return Result("error", "network_error", f"{type(exc).__name__}: {exc.strerror or exc}")
    return Result("error", "probe_error", f"{type(exc).__name__}: {exc}")


def catalogue_frame() -> Any:
    """The probe catalogue as a DataFrame: probe, category, critical, expected (printed in the report)."""
    import pandas as pd

    return pd.DataFrame([{"probe": s.name, "category": s.category, "critical": s.critical, "expected": s.expected}
                         for s in CATALOGUE.values()])
