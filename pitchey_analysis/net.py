"""Client-side network helpers shared by the suite, the side tools and the tests: one of each."""

from __future__ import annotations

import socket
import ssl
import urllib.request
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .capture.redact import redact_url
from .exceptions import UsageError
from .textsafe import printable


def client_ssl_context(cafile: str | None = None, insecure: bool = False) -> ssl.SSLContext:
    """The TLS context of every client of the target.

    It verifies against ``cafile`` (or the system store); ``insecure`` turns
    verification off, and the callers record that it did (never silent).
    """
    ctx = ssl.create_default_context(cafile=cafile) if cafile else ssl.create_default_context()
    if insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` now (a later bind may still lose a race for it)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def check_target(url: str) -> str:
    """Validate a WebSocket URL before anything starts."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # ws://[::1 (an unclosed IPv6 bracket)
        raise UsageError(f"malformed target URL {redact_url(url)!r}: {exc}") from None
    if any(c.isspace() or not c.isprintable() for c in url):
        raise UsageError(
            f"malformed target URL '{printable(url if '@' not in url else redact_url(url))}': "
            "it holds a space or a control character"
        )
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise UsageError(f"malformed target URL {redact_url(url)!r}: expected ws://host:port/path or wss://...")
    try:
        _ = parts.port
    except ValueError as exc:
        raise UsageError(f"malformed target URL {redact_url(url)!r}: {exc}") from None
    return url


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is answered as what it is (an HTTPError with its 3xx status), never followed."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def urlopen_no_redirect(req: urllib.request.Request, *, timeout: float, context: ssl.SSLContext | None = None) -> Any:
    """``urllib.request.urlopen`` that never follows a redirect: a login's body (a password) or an
    ``Authorization`` header is sent only to the URL given, never to where a target points."""
    handlers: list[Any] = [_NoRedirect()]
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    return urllib.request.build_opener(*handlers).open(req, timeout=timeout)


#: the most of an HTTP answer's body the tool reads (decompressed): a login, a health or a stats answer is a few kB;
#: a target answering gigabytes (a 5 GB Content-Length, a gzip bomb, an endless chunked body) is read this far only
MAX_BODY_BYTES = 16 << 20


async def read_body(r: Any, limit: int = MAX_BODY_BYTES) -> bytes:
    """At most ``limit`` bytes of an aiohttp answer's body (decompressed as it arrives); the rest is never read (the
    connection is closed with the answer)."""
    buf = bytearray()
    while len(buf) < limit:
        chunk = await r.content.read(min(1 << 20, limit - len(buf)))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def read_body_sync(r: Any, limit: int = MAX_BODY_BYTES) -> bytes:
    """:func:`read_body` for a ``urllib`` answer."""
    return bytes(r.read(limit))


def http_base(ws_url: str) -> str:
    """The HTTP base derived from a WebSocket URL."""
    parts = urlsplit(ws_url)
    return urlunsplit(("https" if parts.scheme == "wss" else "http", parts.netloc, "", "", ""))
