"""The probes' WebSocket connection: every frame is kept from the first byte.

The seed's tools began to listen only after the open event or after a wait
began, and missed frames that had already arrived. Here a reader task starts
as soon as the upgrade completes, every frame (control frames included) is
kept with its arrival time, and :meth:`ProbeSession.expect` searches frames
received *before* the wait began as well as after.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Collection
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode

from ..capture.records import frame_record
from ..contract.requests import auth_message, carrier, header_upgrade, upgrade_target
from ..contract.wire import IdSource
from .base import NoFirstFrame, ProbeContext, Result, Stop, compact
from .conformance import frame_issues, violation_event
from .invariants import SessionTrace, describe_wire, violation_record
from .vocabulary import CONTROL_PING, CONTROL_PONG

MAX_KEPT = 5000  # frames kept per connection: a flooding server cannot grow memory without bound
MAX_TRACED = 200  # frames written to the frames table per connection
PAYLOAD_CHARS = 512
MAX_AFTER_CLOSE = 4096  # bytes kept of what arrives after the server's close frame
MAX_VIOLATIONS_RECORDED = 20  # invariant_violation events per session (the counters count them all)
CLOSE_TIMEOUT_S = 2.0  # the close handshake's wait for the target's close frame
MAX_PINGS_KEPT = 100  # arrival times of server pings kept per connection (``ping_count`` counts them all)
#: bytes of our own answers (pongs) waiting for a target that does not read them: past this, its frames are not
#: read until it reads ours (a target flooding pings cannot grow our write buffer without bound)
MAX_WRITE_BUFFER = 1 << 20
#: once the target's close frame has come and ours has answered it, how long the client still reads (what a target
#: sends after its close is evidence for the session invariants) before it ends the connection itself (RFC 6455
#: §7.1.1 allows it): a target that never closes its side (e.g. over TLS, which cannot half-close) is not waited on
AFTER_CLOSE_LINGER_S = 0.25


class TracedConnection(ClientConnection):
    """A client connection that notes control frames (server pings) as they arrive.

    It also keeps what the session invariants need and the library does not
    expose: the close code as it was on the wire (websockets refuses a code
    RFC 6455 §7.4 forbids before reporting it) and whatever the server sends
    after its close frame (which the library discards unparsed).
    """

    on_control: Callable[[str, bytes], None] | None = None

    def __init__(self, protocol: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(protocol, *args, **kwargs)
        self.close_frame_seen = False
        self.wire_close_code: int | None = None
        self.after_close = bytearray()
        self.after_close_bytes = 0
        # Wrapped on the instance: the Sans-I/O core calls self.recv_frame() and
        # self.reader.discard(), and has no hook of its own for either.
        recv_frame, reader = protocol.recv_frame, protocol.reader
        discard = reader.discard

        def traced_recv_frame(frame: Frame) -> None:
            if self.close_frame_seen:
                try:
                    self._keep_after_close(frame.serialize(mask=False))
                except Exception:  # noting it must never break the parser
                    self.after_close_bytes += len(frame.data)
            elif frame.opcode is Opcode.CLOSE:
                self.close_frame_seen = True
                if len(frame.data) >= 2:
                    self.wire_close_code = int.from_bytes(frame.data[:2], "big")
                self.loop.call_later(AFTER_CLOSE_LINGER_S, self._end_after_close)
            recv_frame(frame)

        def traced_discard() -> None:
            if self.close_frame_seen:
                self._keep_after_close(bytes(reader.buffer))
            discard()

        protocol.recv_frame = traced_recv_frame
        reader.discard = traced_discard
        self.paused_for_writes = False

    # Backpressure on the target's frames: each ping is answered with a pong (RFC 6455 §5.5.2) written at once by
    # the library; a target that sends pings and never reads would fill our write buffer for ever. Reading stops
    # while our unread answers exceed MAX_WRITE_BUFFER, and resumes when the transport says they drained.
    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        transport = self.transport
        if (
            not self.paused_for_writes
            and transport.get_write_buffer_size() > MAX_WRITE_BUFFER
            and not transport.is_closing()
        ):
            self.paused_for_writes = True
            transport.pause_reading()

    def resume_writing(self) -> None:
        super().resume_writing()
        if self.paused_for_writes:
            self.paused_for_writes = False
            if not getattr(self.recv_messages, "paused", False):  # the library's own pause (a full queue) stands
                self.transport.resume_reading()

    def _end_after_close(self) -> None:
        """End the connection from our side: the closing handshake is done, the target did not end it."""
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.close()

    def _keep_after_close(self, data: bytes) -> None:
        self.after_close_bytes += len(data)
        room = MAX_AFTER_CLOSE - len(self.after_close)
        if room > 0:
            self.after_close += data[:room]

    def process_event(self, event: Any) -> None:
        if self.response is not None and isinstance(event, Frame) and event.opcode in (Opcode.PING, Opcode.PONG):
            if self.on_control:
                self.on_control(CONTROL_PING if event.opcode is Opcode.PING else CONTROL_PONG, bytes(event.data))
        super().process_event(event)


class connect_here(connect):
    """websockets' ``connect`` that follows no redirect: an upgrade answered 3xx is the target's answer, so that a
    credential carried on the upgrade (query, header, cookie) is never sent to another address."""

    def process_redirect(self, exc: Exception) -> Exception | str:
        return exc


def parse_frame(data: str | bytes) -> dict[str, Any]:
    """A received message as a dict (pure).

    A JSON object is kept as it came. Non-JSON text becomes ``{"type": "invalid", "_raw": ...}``; binary
    data ``{"type": "binary", "_size": n}``; a JSON value that is not an object keeps its value under
    ``_value`` (the contract's :func:`~pitchey_analysis.contract.wire.is_marker` tells these notes apart).
    """
    if isinstance(data, bytes):
        return {"type": "binary", "_size": len(data)}
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError):
        return {"type": "invalid", "_raw": data[:PAYLOAD_CHARS]}
    if isinstance(obj, dict):
        return obj
    return {"type": None, "_value": obj}


def parse_frames(data: str | bytes, *, batch: bool, arrays: bool = False) -> list[dict[str, Any]]:
    """The messages of one received frame: one, or (``batch``: the contract says so) each element of a JSON array;
    ``arrays`` (the contract's messages are arrays): a JSON array is one message, kept as the array it is."""
    frame = parse_frame(data)
    if arrays and not batch and isinstance(frame.get("_value"), list) and "_raw" not in frame:
        return [frame["_value"]]  # read through the contract's pointers, as objects are
    if batch and isinstance(frame.get("_value"), list) and "_raw" not in frame:
        items = frame["_value"]
        return [i if isinstance(i, dict) else {"type": None, "_value": i} for i in items] or [frame]
    return [frame]


class ProbeSession:
    """One WebSocket connection opened by a probe."""

    def __init__(
        self, ctx: ProbeContext, conn: ClientConnection, *, trace: bool, opened_at: float, audit: bool = True
    ) -> None:
        self.ctx = ctx
        self.conn = conn
        self.conn_id = ctx.new_conn_id()
        self.trace = trace
        self.opened_at = opened_at
        self.frames: list[tuple[float, dict[str, Any]]] = []  # (t_ms, frame)
        self.dropped = 0
        self.pings: list[float] = []  # t_ms of the first MAX_PINGS_KEPT server ping control frames
        self.ping_count = 0  # every server ping control frame
        self._new = asyncio.Event()
        self._traced = 0
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._closing = False  # set when the probe starts the close
        self.closed_by_target = False  # the session ended without the probe closing it
        self.probe_id = ctx.probe_id  # the session may outlive its probe
        self.checked = not audit  # the runner's own liveness sessions are no evidence for the session invariants
        self.ids = IdSource(ctx.contract.ids)  # the ids of this session's requests, by the contract's rule
        self.last_id: Any = None  # the id the last request sent carried (None: not correlated)
        self._sent_at: float | None = None  # when the last frame was sent (time.perf_counter)
        self.batches = 0  # frames that held several messages
        self.auto_token: str | None = None  # the run's credential, still to be sent in a first message
        #: what showed the session authenticated (the frame, or the answer to an authenticated-only request; set by
        #: probes/common.authed_session), the evidence a probe that needed an authenticated session records
        self.authenticated_by: dict[str, Any] | None = None
        #: the first-message authentication this session sent (None: none sent) and its answer (None: no answer)
        self.auth_sent: dict[str, Any] | None = None
        self.auth_answer: dict[str, Any] | None = None
        if audit:
            ctx.invariants.opened += 1
        if isinstance(conn, TracedConnection):
            conn.on_control = self._control
        self._reader = asyncio.get_running_loop().create_task(self._read(), name=f"ProbeSession._read {self.conn_id}")
        # registered until its reader ends, so that the runner can end what a probe left open
        ctx.open_sessions.add(self)
        self._reader.add_done_callback(lambda _: ctx.open_sessions.discard(self))

    # -- opening -----------------------------------------------------------
    @classmethod
    async def open(
        cls,
        ctx: ProbeContext,
        *,
        token: str | None = None,
        header_token: str | None = None,
        headers: dict[str, str] | None = None,
        path: str | None = None,
        local_addr: str | None = None,
        trace: bool = True,
        timeout: float | None = None,
        anonymous: bool = False,
        audit: bool = True,
    ) -> ProbeSession:
        """Open a connection (raises on failure; callers classify).

        Where the contract serves no anonymous session, a session opened without a credential (and not
        ``anonymous`` on purpose) carries the run's own (:attr:`ProbeContext.auto_token`), and
        :meth:`connected`/:meth:`begun` authenticate it first when the contract wants that in a message.
        """
        up = ctx.contract.upgrade
        auto = None
        if token is None and header_token is None and not anonymous and up is not None and not up.anonymous:
            auto = token = ctx.auto_token
            if token is None:  # the user's part, not the target's: no session can be had without a credential
                raise Stop(
                    Result.skip(
                        "no_credentials",
                        "the service serves no anonymous session (its contract says so) "
                        "and no credential was given (--email/--password or --token)",
                    )
                )
        url, carried, protocols = upgrade_target(
            ctx.contract, ctx.ws_url, token, path=path, session_cookie=ctx.session_cookie if token else None
        )
        hdrs = {**ctx.extra_headers, **carried}
        if header_token:
            hdrs.update(header_upgrade(ctx.contract, header_token))
        hdrs.update(headers or {})
        kwargs: dict[str, Any] = {}
        if protocols:
            kwargs["subprotocols"] = protocols
        if local_addr:
            kwargs["local_addr"] = (local_addr, 0)
        if ctx.tls:
            kwargs["ssl"] = ctx.ssl_context
        t0 = time.perf_counter()
        conn = await connect_here(
            url,
            additional_headers=hdrs or None,
            open_timeout=timeout or ctx.options.open_timeout_s,
            ping_interval=None,  # the probes measure; they do not keep alive on their own
            close_timeout=CLOSE_TIMEOUT_S,
            max_size=2**20,
            max_queue=64,
            compression=None,
            user_agent_header="pitchey-analysis",
            create_connection=TracedConnection,
            **kwargs,
        )
        s = cls(ctx, conn, trace=trace, opened_at=t0, audit=audit)
        # a credential the contract carries in the first message is sent by connected()/begun() (or start()),
        # whether it is the run's own or one given here: the upgrade alone never carries it
        s.auto_token = auto if auto is not None else (token if token and carrier(ctx.contract) == "message" else None)
        return s

    # -- frames ------------------------------------------------------------
    def _t_ms(self) -> float:
        return (time.perf_counter() - self.opened_at) * 1000.0

    def _record(self, direction: str, ftype: str | None, size: int, payload: str) -> None:
        if not self.trace or self._traced >= MAX_TRACED:
            return
        self._traced += 1
        self.ctx.recorder.frame(
            frame_record(
                probe_id=self.ctx.probe_id,
                conn_id=self.conn_id,
                direction=direction,
                t_ms=self._t_ms(),
                type=ftype,
                size_bytes=size,
                payload=payload[:PAYLOAD_CHARS],
            )
        )

    def record_close(self, closed_at: float | None = None) -> None:
        """Put the target's close of this session in the frames table, traced or not (``closed_at``: a
        ``time.perf_counter()`` value, default now)."""
        t_ms = ((closed_at if closed_at is not None else time.perf_counter()) - self.opened_at) * 1000.0
        self.ctx.recorder.frame(
            frame_record(
                probe_id=self.ctx.probe_id,
                conn_id=self.conn_id,
                direction="in",
                t_ms=t_ms,
                type="close",
                size_bytes=0,
                payload=f"{self.close_code} {self.close_reason}",
            )
        )

    def _control(self, kind: str, data: bytes) -> None:
        if kind == CONTROL_PING:
            self.ping_count += 1
            if len(self.pings) < MAX_PINGS_KEPT:
                self.pings.append(self._t_ms())
        self._record("in", kind, len(data), "")
        self._new.set()

    async def _read(self) -> None:
        try:
            async for data in self.conn:
                t = self._t_ms()
                frames = parse_frames(data, batch=self.ctx.contract.batch, arrays=self.ctx.contract.array_frames)
                size = len(data) if isinstance(data, bytes) else len(data.encode())
                if len(frames) > 1:
                    self.batches += 1
                self._record(
                    "in",
                    self.kind(frames[0]) if len(frames) == 1 else "batch",
                    size,
                    data if isinstance(data, str) else "",
                )
                for frame in frames:
                    if len(self.frames) < MAX_KEPT:
                        self.frames.append((t, frame))
                    else:
                        self.dropped += 1
                self._new.set()
        except ConnectionClosed:
            pass
        finally:
            rcvd = self.conn.protocol.close_rcvd
            self.close_code = rcvd.code if rcvd else 1006
            self.close_reason = rcvd.reason if rcvd else ""
            self.closed_by_target = not self._closing
            self._record("in", "close", 0, f"{self.close_code} {self.close_reason}")
            self.check_invariants()
            self._new.set()

    def trace_for_invariants(self) -> SessionTrace:
        """What this session received, for the session invariants."""
        conn = self.conn
        if isinstance(conn, TracedConnection):
            seen, code = conn.close_frame_seen, conn.wire_close_code
            after = describe_wire(bytes(conn.after_close))
            if conn.after_close_bytes > len(conn.after_close):
                after.append({"opcode": "raw", "size_bytes": conn.after_close_bytes - len(conn.after_close)})
        else:
            rcvd = conn.protocol.close_rcvd
            seen, code, after = rcvd is not None, rcvd.code if rcvd and rcvd.code != 1005 else None, []
        return SessionTrace(
            frames=self.frames, close_received=seen, close_code=code, after_close=after, dropped=self.dropped
        )

    def check_invariants(self) -> None:
        """Check the session invariants once the session has ended, and record what broke."""
        if self.checked:
            return
        self.checked = True
        record_violations(self.ctx, self.trace_for_invariants(), probe_id=self.probe_id, conn_id=self.conn_id)

    @property
    def closed(self) -> bool:
        """Whether the connection has ended."""
        return self._reader.done()

    def kind(self, frame: Any, *, sent: bool = False) -> str | None:
        """A frame's kind, as the contract tells them apart."""
        return self.ctx.contract.kind_of(frame, sent=sent)

    async def send(self, obj: Any, *, raw: bool = False) -> Any:
        """Send a JSON object (or raw text/bytes); returns what was sent.

        A request the contract correlates gets a fresh id at its correlation pointer by the contract's
        id rule (never the same twice on a session; :attr:`last_id`), unless ``raw``.
        """
        self.last_id = None
        if (isinstance(obj, dict) or (isinstance(obj, list) and self.ctx.contract.array_frames)) and not raw:
            obj, self.last_id = self.ctx.contract.stamped(obj, self.ids)
        data = obj if isinstance(obj, (str, bytes)) else json.dumps(obj, separators=(",", ":"))
        ftype = (
            self.kind(obj, sent=True)
            if isinstance(obj, (dict, list))
            else ("binary" if isinstance(data, bytes) else "raw")
        )
        self._record("out", ftype, len(data), data if isinstance(data, str) else "")
        self._sent_at = time.perf_counter()
        await self.conn.send(data)
        return obj

    async def ask(self, obj: Any, kinds: Collection[str | None], timeout: float) -> dict[str, Any] | None:
        """Send a request and wait for its answer: the frame carrying its id back where the contract
        correlates it, else the first later frame of one of ``kinds`` (or an error frame)."""
        mark = self.mark()
        await self.send(obj)
        return await self.expect_answer(kinds, timeout, since=mark)

    async def expect_answer(
        self, kinds: Collection[str | None], timeout: float, *, since: int, rid: Any = None, errors: bool = True
    ) -> dict[str, Any] | None:
        """The answer to the last request (or to ``rid``): matched by correlation id when the request had one
        (a frame of the right kind carrying another id is no answer), else by kind (one of ``kinds``, or an error
        frame unless ``errors`` is False)."""
        c = self.ctx.contract
        last = rid is None  # the answer to the last request sent: its round trip paces the run's quiet windows
        rid = self.last_id if rid is None else rid
        sent_at = self._sent_at

        def of_kind(f: Any) -> bool:
            return c.kind_of(f) in kinds or (errors and c.is_error(f))

        if rid is not None:
            ans = await self.expect(lambda f: c.answers_id(f, rid) and of_kind(f), timeout, since=since)
        else:
            ans = await self.expect(of_kind, timeout, since=since)
        if ans is not None and last and sent_at is not None:
            self.ctx.state.pace.note((time.perf_counter() - sent_at) * 1000, loaded=self.ctx.state.under_load())
        return ans

    def stray_answer(self, kinds: Collection[str | None], since: int) -> dict[str, Any] | None:
        """A frame of one of ``kinds`` received from ``since`` on that carries another id than the last request's
        (the evidence that its answer was wrong, not missing); None when the request was not correlated."""
        c, rid = self.ctx.contract, self.last_id
        if rid is None:
            return None
        return next((f for _, f in self.frames[since:] if c.kind_of(f) in kinds and not c.answers_id(f, rid)), None)

    async def expect(
        self, pred: Callable[[dict[str, Any]], bool], timeout: float, *, since: int = 0
    ) -> dict[str, Any] | None:
        """The first frame from index ``since`` on that satisfies ``pred``, or None on timeout/close."""
        deadline = time.monotonic() + timeout
        i = since
        while True:
            while i < len(self.frames):
                frame = self.frames[i][1]
                i += 1
                if pred(frame):
                    return frame
            if self.closed:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._new.clear()
            try:
                await asyncio.wait_for(self._new.wait(), left)
            except TimeoutError:
                pass

    async def connected(self) -> dict[str, Any]:
        """The session's first frame as the contract declares it (``{}`` at once when it declares none); raises
        :class:`NoFirstFrame` when it does not come, so that a probe ends after one timeout instead of waiting
        out every later step too."""
        kind = self.ctx.first_frame_type
        if kind is None:
            await self._authenticate()
            return {}
        first = await self.expect_type(kind, timeout=self.ctx.options.timeout_s)
        await self._authenticate()
        if first is None:
            raise NoFirstFrame(
                self.close_code if self.closed else None,
                self.close_reason if self.closed else None,
                self.ctx.first_frame_word,
            )
        return first

    async def begun(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The session's declared first frame (None when it does not come); ``{}`` at once, for an open session,
        when the contract declares none."""
        kind = self.ctx.first_frame_type
        if kind is None:
            await self._authenticate()
            return None if self.closed else {}
        first = await self.expect_type(kind, timeout=self.ctx.options.timeout_s if timeout is None else timeout)
        if first is not None:
            await self._authenticate()
        return first

    async def _authenticate(self) -> None:
        """Send the run's credential in the contract's first message, once, and wait for its answer."""
        token, self.auto_token = self.auto_token, None
        up = self.ctx.contract.upgrade
        msg = auth_message(self.ctx.contract, token) if token else None
        if msg is None or up is None or up.first_message is None:
            return
        kinds = {k for k in (up.first_message.get("success"), up.first_message.get("failure")) if k}
        self.auth_sent = msg
        try:
            self.auth_answer = await self.ask(msg, kinds, self.ctx.options.timeout_s)
        except ConnectionClosed:
            return  # closed by the target before (or while) it was sent: the session is closed, which callers read

    async def expect_type(self, *types: str | None, timeout: float, since: int = 0) -> dict[str, Any] | None:
        """The first frame of one of ``types``."""
        return await self.expect(lambda f: self.kind(f) in types, timeout, since=since)

    def mark(self) -> int:
        """An index to pass as ``since`` so that only later frames count."""
        return len(self.frames)

    def types(self) -> list[str | None]:
        """The types of the frames received so far."""
        return [self.kind(f) for _, f in self.frames]

    async def wait_closed(self, timeout: float) -> bool:
        """Wait until the connection ends; True if it did."""
        try:
            await asyncio.wait_for(asyncio.shield(self._reader), timeout)
            return True
        except TimeoutError:
            return False

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close gracefully (RFC 6455 §7.1.2) and stop the reader."""
        self._closing = self._closing or not self.closed
        try:
            # bounded: the library's close first drains what we wrote, which a target that never reads never lets
            # happen; after the close timeout the connection is dropped (RFC 6455 §7.1.1: the client may close the TCP
            # connection when the server does not)
            await asyncio.wait_for(self.conn.close(code, reason), CLOSE_TIMEOUT_S + 1)
        except TimeoutError:
            self.conn.transport.abort()
        except Exception:
            pass
        await self._end_reader(3)

    async def _end_reader(self, grace: float) -> None:
        """Let the reader finish within ``grace`` seconds, else cancel it; either way it has ended on return."""
        if self._reader.done():
            return
        await asyncio.wait([self._reader], timeout=grace)
        if not self._reader.done():
            self._reader.cancel()
            await asyncio.wait([self._reader])  # never raises; a cancellation of the caller still propagates

    async def __aenter__(self) -> ProbeSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def end_sessions(ctx: ProbeContext) -> int:
    """Close every session still open on ``ctx`` and wait until their readers have ended.

    The runner calls it when a probe ends, however it ends (returned, raised,
    timed out, cancelled), so that no reader outlives its probe and writes into
    a recorder that is closed. Returns how many sessions were left open.
    """
    left = list(ctx.open_sessions)
    if left:
        await asyncio.gather(*(s.close() for s in left), return_exceptions=True)
    return len(left)


def record_violations(ctx: ProbeContext, trace: SessionTrace, *, probe_id: str, conn_id: str) -> None:
    """Check one ended session against the invariants: count it, and record each violation
    as an ``invariant_violation`` run event (the frame truncated; the recorder redacts)."""
    found = ctx.invariants.check(trace, probe_id=probe_id, conn_id=conn_id)
    event = getattr(ctx.recorder, "event", None)
    record_contract_violations(ctx, trace, probe_id=probe_id, conn_id=conn_id, event=event)
    if event is None:
        return
    for v in found[:MAX_VIOLATIONS_RECORDED]:
        event("invariant_violation", **violation_record(v, probe_id=probe_id, conn_id=conn_id))
    if len(found) > MAX_VIOLATIONS_RECORDED:
        event(
            "invariant_violation_overflow",
            probe_id=probe_id,
            conn_id=conn_id,
            detail=compact({"recorded": MAX_VIOLATIONS_RECORDED, "found": len(found)}),
        )


def record_contract_violations(
    ctx: ProbeContext, trace: SessionTrace, *, probe_id: str, conn_id: str, event: Callable[..., None] | None
) -> None:
    """Validate what a session received against the contract; record each mismatch as a
    ``contract_violation`` run event with the JSON path of the schema error (at most a few per session)."""
    found = frame_issues(ctx.contract, trace.frames)
    conf = ctx.conformance
    conf.frames += sum(1 for _, f in trace.frames if isinstance(ctx.contract.kind_of(f), str))
    for n, (pos, frame, issue) in enumerate(found):
        conf.violations[(ctx.contract.kind_of(frame), issue.path)] += 1
        rec = {
            **violation_event(pos, frame, issue),
            "probe_id": probe_id,
            "conn_id": conn_id,
            "frame": compact(frame, PAYLOAD_CHARS),
        }
        if len(conf.examples) < conf.max_examples:
            conf.examples.append(rec)
        if event is not None and n < MAX_VIOLATIONS_RECORDED:
            event("contract_violation", **rec)


def first_frame_observer(ctx: ProbeContext) -> Callable[[SessionTrace], None]:
    """A callback for ``flow.timed_connect``: what a timed connect read is checked too."""
    probe_id = ctx.probe_id

    def observe(trace: SessionTrace) -> None:
        if ctx.contract.array_frames:  # an array is one message of the contract, as ProbeSession reads it
            trace.frames = [
                (t, f["_value"] if isinstance(f.get("_value"), list) and "_raw" not in f else f)
                for t, f in trace.frames
            ]
        ctx.invariants.opened += 1
        record_violations(ctx, trace, probe_id=probe_id, conn_id=ctx.new_conn_id())

    return observe
