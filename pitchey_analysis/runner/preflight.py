"""Preflight: check in a few seconds what the user gave, before any probe runs.

A wrong URL, a plain HTTP server or a wrong password are the user's mistakes,
not findings about the service: each is told in one line naming the cause and
the fix, and no run is recorded. A refused credential is not tried again, so a
wrong password cannot lock the user out of a real deployment. Failures of the
target itself (a silent or slow endpoint) are left to the probes: they are data.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import websockets.exceptions as wsexc
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from ..capture.redact import redact_url
from ..contract import pointer_get
from ..contract.requests import login_body, upgrade_target, with_query
from ..net import read_body
from ..probes.base import Credentials
from ..probes.common import LOGIN_PATH
from ..textsafe import printable

#: Seconds each preflight step may take.
STEP_TIMEOUT_S = 3.0


from ..exceptions import PreflightError  # noqa: E402 - re-exported


@dataclass
class Target:
    """What preflight needs of the run's configuration."""

    ws_url: str
    http_url: str
    ssl_context: ssl.SSLContext | None
    headers: dict[str, str]
    users: list[Credentials]
    admin: Credentials | None
    #: the run's contract (login paths, body, token pointer, upgrade query); None: Pitchey's
    contract: Any = None


def _hostport(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme in ("wss", "https") else 80)


async def check_tcp(url: str) -> None:
    """Something must listen at the URL's host and port."""
    host, port = _hostport(url)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), STEP_TIMEOUT_S)
    except socket.gaierror:
        raise PreflightError(f"cannot resolve host {host!r}: check the URL") from None
    except ConnectionRefusedError:
        raise PreflightError(f"nothing listens on {host}:{port}: check the URL and that the service runs") from None
    except TimeoutError:
        raise PreflightError(
            f"{host}:{port} did not accept a connection within {STEP_TIMEOUT_S:.0f} s: "
            "check the address and any firewall"
        ) from None
    except OSError as exc:
        raise PreflightError(f"cannot reach {host}:{port}: {exc.strerror or exc}") from None
    writer.close()


async def login_token(t: Target, creds: Credentials, *, admin: bool = False) -> str:
    """One login; returns the token or raises with what to fix (a credential the user supplied is used as is)."""
    if creds.token:
        return creds.token
    lg = t.contract.login if t.contract is not None else None
    path = (
        creds.login_path
        or (lg.admin_path if admin and lg else None)
        or (t.contract.login_path(creds.user_type) if lg else None)
        or LOGIN_PATH.format(kind=creds.user_type)
    )
    body_out = (
        login_body(t.contract, creds.email, creds.password)
        if t.contract is not None
        else {"email": creds.email, "password": creds.password}
    )
    url = t.http_url.rstrip("/") + path
    who = "admin" if admin else creds.user_type
    flag = "--admin-password" if admin else ("--password" if not creds.login_path else "the password")
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=STEP_TIMEOUT_S)) as s:
            async with s.request(
                lg.method if lg else "POST",
                url,
                json=body_out,
                allow_redirects=False,
                ssl=(t.ssl_context or True) if url.startswith("https") else True,
            ) as r:
                status, reason = r.status, r.reason or ""
                location = r.headers.get("Location", "")
                try:
                    body = json.loads(await read_body(r))
                except (ValueError, RecursionError):
                    body = None
                cookie = "; ".join(c.split(";", 1)[0] for c in r.headers.getall("Set-Cookie", ()) if "=" in c)
            if lg is not None and lg.session == "cookie" and status == lg.status and cookie:
                if lg.exchange is None:
                    return cookie  # the session cookie is the credential the upgrade carries
                ex_url = t.http_url.rstrip("/") + lg.exchange.path
                async with s.request(
                    lg.exchange.method,
                    ex_url,
                    headers={"Cookie": cookie},
                    allow_redirects=False,
                    ssl=(t.ssl_context or True) if ex_url.startswith("https") else True,
                ) as r2:
                    try:
                        ex_body = await r2.json(content_type=None)
                    except ValueError:
                        ex_body = None
                    tok = pointer_get(ex_body, lg.exchange_token)
                    if r2.status != (lg.exchange.status or 200) or not isinstance(tok, str) or not tok:
                        raise PreflightError(
                            f"login as {who} worked, but {lg.exchange.path} answered HTTP {r2.status} "
                            f"with no token at {lg.exchange_token}: check the contract's login.exchange"
                        )
                    return tok
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise PreflightError(f"login as {who} could not reach {url} ({type(exc).__name__}): check --http-url") from None
    if 300 <= status < 400:
        raise PreflightError(
            f"login as {who}: {path} answered a redirect ({status} to {printable(redact_url(location), 80)}), "
            "not followed: the password is sent to --http-url only; give the login's real address"
        )
    if status in (400, 401, 403):
        raise PreflightError(f"login as {who} failed ({status}): check {flag} (not retried, to avoid a lockout)")
    if status in (404, 405):
        raise PreflightError(f"login as {who}: {path} answered {status} {reason}: check --http-url or the login path")
    pointer = lg.token if lg else "/token"
    token = pointer_get(body, pointer)
    if status != (lg.status if lg else 200) or not isinstance(token, str) or not token:
        raise PreflightError(
            f"login as {who} answered HTTP {status} with nothing at the contract's token pointer "
            f"{pointer}: check the contract's login.token, the login path and --http-url"
        )
    return token


async def check_upgrade(t: Target, token: str | None) -> None:
    """The URL must be a WebSocket endpoint (101), anonymously or with a login token."""

    async def attempt(tok: str | None) -> None:
        url, carried, protocols = t.ws_url, dict[str, str](), None
        if t.contract is not None:  # its carrier for a credential, its subprotocols always
            url, carried, protocols = upgrade_target(t.contract, t.ws_url, tok)
        elif tok:
            url = urlsplit(url)._replace(query=with_query(urlsplit(url).query, "token", tok)).geturl()
        headers = {**(t.headers or {}), **carried}
        conn = await connect(
            url,
            additional_headers=headers or None,
            open_timeout=STEP_TIMEOUT_S,
            subprotocols=[Subprotocol(p) for p in protocols] if protocols else None,
            ssl=t.ssl_context if url.startswith("wss") else None,
            ping_interval=None,
            user_agent_header="pitchey-analysis preflight",
        )
        await conn.close()

    try:
        try:
            await attempt(None)
        except wsexc.InvalidStatus as exc:
            if exc.response.status_code in (401, 403) and token:
                await attempt(token)
            else:
                raise
    except wsexc.InvalidStatus as exc:
        r = exc.response
        why = "not a WebSocket endpoint" if r.status_code not in (401, 403) else "the upgrade was refused"
        raise PreflightError(
            f"the upgrade to {t.ws_url.split('?')[0]} was answered HTTP {r.status_code} {r.reason_phrase}: {why}"
        ) from None
    except ssl.SSLCertVerificationError as exc:
        raise PreflightError(
            f"the TLS certificate of {t.ws_url} is not trusted ({exc.verify_message}): give --cafile CA.pem"
        ) from None
    except ssl.SSLError as exc:
        raise PreflightError(f"TLS with {t.ws_url} failed ({exc.reason or exc}): is it really wss://?") from None
    except (wsexc.InvalidHandshake, wsexc.InvalidMessage) as exc:
        answer = await _plain_answer(t)
        what = f"was answered {answer}" if answer else f"got no valid WebSocket answer ({exc})"
        raise PreflightError(f"the upgrade to {t.ws_url} {what}: not a WebSocket endpoint") from None
    except (TimeoutError, OSError, wsexc.ConnectionClosed):
        return  # the target's own failure (silent, slow, dropping): the probes record it as data


async def _plain_answer(t: Target) -> str | None:
    """The status line a plain HTTP server gives to the upgrade request (HTTP/1.0 servers included)."""
    parts = urlsplit(t.ws_url)
    url = parts._replace(scheme="https" if parts.scheme == "wss" else "http", query="").geturl()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=STEP_TIMEOUT_S)) as s:
            async with s.get(
                url,
                headers={
                    "Upgrade": "websocket",
                    "Connection": "Upgrade",
                    "Sec-WebSocket-Version": "13",
                    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                },
                ssl=(t.ssl_context or True) if url.startswith("https") else True,
            ) as r:
                return f"HTTP {r.status} {r.reason or ''}".rstrip()
    except (aiohttp.ClientError, TimeoutError, OSError):
        return None


async def preflight(t: Target) -> None:
    """TCP reachability, logins (one per credential), a WebSocket upgrade; raises :class:`PreflightError`."""
    await check_tcp(t.ws_url)
    tokens = [await login_token(t, c) for c in t.users]
    if t.admin is not None:
        await login_token(t, t.admin, admin=True)
    await check_upgrade(t, tokens[0] if tokens else None)
