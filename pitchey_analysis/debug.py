"""A frame-by-frame trace of one session (``pitchey-analysis debug``, :mod:`pitchey_analysis.cli.debug`).

Frames are captured from the first byte after the upgrade (the seed's tool
counted only frames that arrived after it began to wait, and reported
missing ``connected``/``pong`` frames that had in fact arrived). Each frame is
printed as it arrives; a sweep sends every message type of the contract and
the summary says which sent type got which answers.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import pandas as pd
from websockets.exceptions import ConnectionClosed

from .capture.records import frame_from_rows
from .capture.redact import redact, redact_text, redact_url
from .contract import Contract, default_contract
from .contract.requests import auth_message
from .contract.wire import set_pointer
from .exceptions import TraceError, UsageError
from .probes.base import Credentials, Options, ProbeContext
from .probes.common import heartbeat_kinds, login, login_user_id
from .probes.session import MAX_TRACED, ProbeSession
from .textsafe import printable

log = logging.getLogger("pitchey_analysis.debug")

#: seconds the session may take beyond its listening (login, upgrade, close) before the hard deadline stops it
SLACK_S = 15.0


def bad_input(contract: Contract) -> list[tuple[str, Any]]:
    """(label, message) of the bad input the sweep sends after the contract's messages (pure): text that is not
    JSON, an object without the contract's kind, and a request of the contract's shape with a kind it does not
    have (of the JSON type its kinds are)."""
    out: list[tuple[str, Any]] = [("invalid JSON", "this is not json"), ("object without kind", '{"hello":"world"}')]
    example = next(
        (o.request.example for o in contract.receives() if o.request and isinstance(o.request.example, dict)), None
    )
    if contract.kind_pointer is not None and example is not None:
        out.append(("unknown kind", set_pointer(example, contract.kind_pointer, contract.unknown_kind())))
    return out


def sweep_messages(contract: Contract) -> list[tuple[str, Any]]:
    """What ``--sweep`` sends: the example of every message clients may send (the contract's
    ``receive`` operations, in order), then bad input (pure)."""
    out = [
        (o.request.type or o.id, o.request.example)
        for o in contract.receives()
        if o.request and o.request.example is not None
    ]
    return out + bad_input(contract)


@functools.cache
def default_sweep() -> tuple[tuple[str, Any], ...]:
    """:func:`sweep_messages` of the default contract (made when first asked for, not at import)."""
    return tuple(sweep_messages(default_contract()))


class TraceRecorder:
    """Collects frame rows and prints each one as it arrives."""

    def __init__(self, out: TextIO | None, secrets: tuple[str, ...] = ()) -> None:
        self.rows: list[dict[str, Any]] = []
        self.out = out
        self._secrets = secrets
        self._t0 = time.monotonic()

    def scrub(self, obj: Any) -> Any:
        return redact(obj, self._secrets)

    def add_secret(self, s: str) -> None:
        self._secrets = (*self._secrets, s)

    def t_offset(self) -> float:
        return time.monotonic() - self._t0

    def frame(self, row: dict[str, Any]) -> None:
        row = {**row, "payload": self.scrub(row.get("payload") or "")}
        self.rows.append(row)
        if self.out is not None:  # the target's text, printed: every control character escaped (textsafe)
            arrow = "→" if row["direction"] == "out" else "←"
            print(
                f"{row['t_ms']:10.3f} ms {arrow} {printable(row['type'], 24):24s} {row['size_bytes']:7d} B  "
                f"{printable(row['payload'], 110)}",
                file=self.out,
                flush=True,
            )

    def sample(self, row: dict[str, Any]) -> None:  # the trace keeps frames only
        pass

    def probe_started(self, *a: Any) -> None:
        pass


def _fill(msg: Any, token: str | None, uid: Any) -> Any:
    """An example with the session's token filled in, addressed to the session's own user (so its pushes come back)."""
    if isinstance(msg, dict):
        return {
            k: (token if v == "{token}" else uid if v == "{uid}" or k == "recipientId" else v) for k, v in msg.items()
        }
    return msg


def _auth_kind(contract: Contract) -> str | None:
    """The kind of the contract's first-message authentication (None when it declares none; pure)."""
    msg = auth_message(contract, "token")
    return contract.kind_of(msg, sent=True) if msg is not None else None


async def trace_session(
    ws_url: str,
    http_url: str,
    *,
    creds: Credentials | None,
    sweep: bool,
    listen_s: float = 1.0,
    window_s: float = 0.5,
    out: TextIO | None = sys.stdout,
    ssl_context: Any = None,
    contract: Contract | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Open one session, optionally sweep (the contract's messages, default ``pitchey``), and return
    (frames table, summary table)."""
    rec = TraceRecorder(out, (creds.password,) if creds else ())
    contract = contract or default_contract()
    ctx = ProbeContext(
        ws_url=ws_url,
        http_url=http_url,
        recorder=rec,
        options=Options(),
        user=creds,
        ssl_context=ssl_context,
        contract=contract,
    )
    ctx.probe_id = "debug"
    token: str | None = None
    uid: Any = 0
    summary: list[dict[str, Any]] = []
    if creds is not None:
        token, ans = await login(ctx, creds)
        uid = login_user_id(ctx, ans) if token else None  # any id the service gives: a number, a UUID, a snowflake
        uid = 0 if uid is None else uid
        if token:
            rec.add_secret(token)  # an opaque token is no JWT the redaction would know: it is the session's secret
        if token is None:
            summary.append({"sent": "(login)", "answers": f"refused: HTTP {ans.status}; the session is anonymous"})
    s = await ProbeSession.open(ctx, token=token)
    s.auto_token = None  # the first-message authentication is sent below, where the trace shows it
    auth = auth_message(contract, token) if token else None
    auth_kind = _auth_kind(contract)
    try:
        await s.expect(lambda f: False, listen_s)  # everything the server sends unasked
        summary.append(
            {"sent": "(nothing: the upgrade)", "answers": ", ".join(str(t) for t in s.types()) or "no frame"}
        )
        if auth is not None and not s.closed:  # authenticated as the contract says: its first message, the token in it
            mark = s.mark()
            fm = (contract.upgrade.first_message if contract.upgrade else None) or {}
            try:
                await s.ask(auth, {k for k in (fm.get("success"), fm.get("failure")) if k}, ctx.options.timeout_s)
            except ConnectionClosed:
                await s.wait_closed(ctx.options.timeout_s)
            got = [str(t) for t in s.types()[mark:]]
            closed: list[str] = [f"connection closed {s.close_code}"] if s.closed else []
            summary.append(
                {
                    "sent": f"{auth_kind or 'authentication'} (the contract's first-message authentication)",
                    "answers": ", ".join(got + closed) or "no answer",
                }
            )
        if sweep:
            # what the service pushes at an interval (Pitchey: dashboard_update), and a JSON heartbeat (its round trip
            # request, sent by the service)
            unasked = {t for c in contract.channels.values() if c.interval_s for t in c.pushes} | heartbeat_kinds(
                contract
            )
            for label, msg in sweep_messages(contract):
                if auth_kind is not None and contract.kind_of(msg, sent=True) == auth_kind:
                    # the authentication is the contract's first message, sent once with the token (a second one,
                    # or its example's placeholder token, would be refused and end the session)
                    summary.append(
                        {
                            "sent": label,
                            "answers": "sent first, as the authentication (above)"
                            if auth is not None
                            else "not sent: no credential to authenticate with (--email and --password)",
                        }
                    )
                    continue
                if s.closed:
                    summary.append({"sent": label, "answers": f"connection closed {s.close_code}"})
                    continue
                mark = s.mark()
                await s.send(_fill(msg, token, uid))
                await s.expect(lambda f: False, window_s)
                # server-initiated frames (pushes, a JSON heartbeat) stay in the trace, not in the answers
                got = [str(t) for t in s.types()[mark:] if t not in unasked]
                if s.closed:  # the answer was a close: say so where it came, not only at the next message
                    got.append(f"connection closed {s.close_code}")
                summary.append({"sent": label, "answers": ", ".join(got) or "no answer"})
        else:
            await s.expect(lambda f: False, listen_s)
    finally:
        await s.close()
    received = len(s.frames) + s.dropped
    summary.append(
        {
            "sent": "(all)",
            "answers": f"{received} frames and {s.ping_count} pings received; the first {MAX_TRACED} "
            f"frames traced{f', {received - MAX_TRACED} more counted only' if received > MAX_TRACED else ''}",
        }
    )
    frames = frame_from_rows("frames", [{"run_id": "debug", **r} for r in rec.rows])
    return frames, pd.DataFrame(summary)


@dataclass(frozen=True)
class DebugOptions:
    """What ``pitchey-analysis debug`` traces (``debug --help`` says each)."""

    url: str | None = None
    profile: str = "complete"
    email: str | None = None
    password: str | None = None
    sweep: bool = False
    contract: str | None = None
    duration: float = 2.0
    cafile: str | None = None
    insecure: bool = False


def trace(o: DebugOptions) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Trace one session of ``o.url`` (None: the embedded reference server), each frame printed as it arrives;
    returns (frames table, summary table). A :class:`UsageError` for what the user gave (a malformed URL, a contract
    the embedded server does not serve); a :class:`TraceError`, one line naming the target, when the session failed
    or outlived its budget."""
    from .contract import ContractError, load_contract
    from .net import check_target, client_ssl_context, http_base
    from .runner import DEMO_USERS

    try:
        spec = load_contract(o.contract or "pitchey")
    except ContractError as exc:  # the error says where in the document; the line says it is the contract's
        raise UsageError(f"contract: {exc}") from None

    async def main() -> tuple[pd.DataFrame, pd.DataFrame]:
        user_type = next(iter(spec.login.paths), "creator") if spec.login else "creator"
        creds = Credentials(o.email, o.password, user_type) if o.email and o.password else None
        if o.url:
            check_target(o.url)
            ctx = client_ssl_context(o.cafile, o.insecure) if o.url.startswith("wss") else None
            return await trace_session(
                o.url,
                http_base(o.url),
                creds=creds,
                sweep=o.sweep,
                listen_s=o.duration,
                ssl_context=ctx,
                contract=spec,
                out=sys.stdout,
            )
        if spec.sha256 != default_contract().sha256:
            raise UsageError(
                f"the embedded reference server serves the pitchey contract only, not {spec.name!r}: give a URL"
            )
        from .server import ReferenceServer

        async with ReferenceServer(o.profile) as srv:
            print(f"embedded reference server ({o.profile}) at {srv.ws_url}", file=sys.stderr)
            return await trace_session(
                srv.ws_url,
                srv.http_url,
                creds=creds or DEMO_USERS["creator"],
                sweep=o.sweep,
                listen_s=o.duration,
                out=sys.stdout,
            )

    # the hard deadline: whatever the target sends (a flood, nothing, a close that never completes), the session
    # ends within its listening time and SLACK_S
    budget = 2 * o.duration + (len(sweep_messages(spec)) * 0.5 if o.sweep else 0.0) + SLACK_S

    class HardDeadline(Exception):
        """The session outlived its budget (a TimeoutError of the target's, e.g. the upgrade's, is not this)."""

    async def bounded() -> tuple[pd.DataFrame, pd.DataFrame]:
        try:
            async with asyncio.timeout(budget) as cm:
                return await main()
        except TimeoutError:
            if cm.expired():
                raise HardDeadline from None
            raise

    where = printable(redact_url(o.url)) if o.url else "the embedded server"
    try:
        return asyncio.run(bounded())
    except UsageError:
        raise
    except HardDeadline:
        raise TraceError(
            f"{where}: the session had not ended {budget:g} s after it began (--duration {o.duration:g}): stopped"
        ) from None
    except Exception as exc:  # the target's failure (refused, not a WebSocket, closed mid-upgrade): one line
        log.debug("debug of %s failed", where, exc_info=True)
        what = str(exc).splitlines()[0] if str(exc).strip() else "no detail"
        raise TraceError(f"{where}: {type(exc).__name__}: {printable(redact_text(what), 200)}") from None


def print_trace_summary(summary: pd.DataFrame) -> None:
    """The summary of a trace: what each message sent got back."""
    print("\nsummary (frames received after each message, including any that arrived before a wait began):")
    width = max(len(printable(x)) for x in summary["sent"])
    for row in summary.itertuples():
        print(f"  {printable(row.sent):{width}s} → {printable(row.answers)}")


def save_frames(frames: pd.DataFrame, path: Path) -> None:
    """Write the frames table to ``path``, CSV or Parquet by its extension, under a temporary name and renamed
    (an :class:`OSError` when it cannot be written: nothing partial is left)."""
    from .atomic import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        if path.suffix == ".csv":
            frames.to_csv(tmp, index=False)
        else:
            frames.to_parquet(tmp, index=False)
