"""The shard engine: one process's connections, with picows on uvloop (no Dask here).

A shard never keeps its samples for long: every ``flush_s`` (0.5 s) it hands a
chunk (Arrow record batches with the rows of the run's ``samples.arrows``, made
with nanoarrow: a shard imports neither pyarrow nor numpy; see
:mod:`pitchey_analysis.capture.samplestream`) and one *generator window* to its sink, so memory stays flat however long
the run and
a crash of the process that runs ``load`` loses at most the last second or two.
Without a sink (a direct :func:`run_shard` call) the chunks are kept and joined
into the result at the end: explicit, and fine for short runs.

Generator honesty: the shard samples its own event loop's lag every
``lag_probe_s`` (10 ms) and its CPU share per window; a send made more than
``late_bound_s`` after its scheduled time is counted *late*, and one that is
more than ``drop_after_s`` behind is not made at all and counted *dropped*
(k6's dropped iterations). The analysis decides from these figures whether the
generator, rather than the target, was the bottleneck.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import contextlib
import gc
import inspect
import itertools
import json
import math
import os
import random
import resource
import socket
import sys
import threading
import time
from array import array
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from picows import WSListener, WSMsgType, ws_connect

from ..capture.samplestream import decode_chunk, encode_chunk
from ..exceptions import UsageError
from ..net import client_ssl_context
from .spec import Connect, Operation, ShardResult, ShardSpec, UserSpec

Sink = Callable[[dict[str, Any]], Awaitable[None]]

_BIND_NO_PORT: int | None = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24 if sys.platform == "linux" else None)
_CONNECT_PARAMS = inspect.signature(ws_connect).parameters
#: picows 2 connects through aiofastnet's transports unless told not to; uvloop's own (C) connection set-up costs
#: about a third less CPU per open (``make bench``, opens), and a shard's loop is uvloop whenever it is installed
_TRANSPORTS: dict[str, Any] = {"use_aiofastnet": False} if "use_aiofastnet" in _CONNECT_PARAMS else {}
#: an upgrade answered with a redirect is the target's answer, never followed (picows follows 5 by default): a
#: credential in the URL or the headers must never go to another address (as the probes, probes/session.py)
if "max_redirects" in _CONNECT_PARAMS:
    _TRANSPORTS["max_redirects"] = 0
#: picows before its socket_factory: the source address goes to the loop's create_connection (bind to port 0)
_SOCKET_FACTORY = "socket_factory" in _CONNECT_PARAMS

_NOT_ERRORS = ("sent", "answered", "late", "dropped", "left", "push_stamp_unusable")
#: how far a target's clock may be behind ours before its push stamps are no delay of this run (seconds)
PUSH_SKEW_S = 60.0


class SampleColumns:
    """One window's samples in compact typed columns (``array.array``: no Python object per sample, no cap).

    One set of columns per metric (value, offset, connection index, ok: 25 bytes a sample), so that a
    chunk's string columns are one repeated text per metric (see :func:`.encode_chunk`). The sink empties
    the columns every window, so they never hold more than a window's worth. ``probe_id`` and ``concurrency``
    fill the chunk's columns of the same names.
    """

    def __init__(self, probe_id: str = "", concurrency: int = 0) -> None:
        self.probe_id, self.concurrency = probe_id, concurrency
        self.names: list[str] = []
        self._codes: dict[str, int] = {}
        self._cols: list[tuple[array[float], array[float], array[int], array[int]]] = []
        self._adds: list[tuple[Any, Any, Any, Any]] = []
        self.total = 0

    def _fresh(self, code: int) -> None:
        """Empty columns for metric ``code`` (a new metric's, or in place of those a chunk took)."""
        cols = (array("d"), array("d"), array("q"), array("b"))
        # bound methods: one attribute lookup less per column and sample on the hot path
        adds = (cols[0].append, cols[1].append, cols[2].append, cols[3].append)
        if code == len(self._cols):
            self._cols.append(cols)
            self._adds.append(adds)
        else:
            self._cols[code], self._adds[code] = cols, adds

    @property
    def n(self) -> int:
        """Samples waiting for the next chunk."""
        return sum(len(c[0]) for c in self._cols)

    def code(self, name: str) -> int:
        """The integer code of a metric name."""
        c = self._codes.get(name)
        if c is None:
            c = self._codes[name] = len(self.names)
            self.names.append(name)
            self._fresh(c)
        return c

    def add(self, code: int, value: float, t: float, conn: int, ok: bool) -> None:
        """Append one sample."""
        a = self._adds[code]
        a[0](value)
        a[1](t)
        a[2](conn)
        a[3](ok)
        self.total += 1

    def take(self) -> tuple[bytes, int] | None:
        """This window's samples as an Arrow chunk and its rows (None when there are none); the columns start over."""
        groups = [(name, *cols) for name, cols in zip(self.names, self._cols, strict=True) if cols[0]]
        if not groups:
            return None
        for code, cols in enumerate(self._cols):
            if cols[0]:
                self._fresh(code)  # new columns: the old ones go into the chunk as they are
        return encode_chunk(self.probe_id, self.concurrency, groups)


class LagMonitor:
    """Samples how late the event loop wakes up (a saturated generator wakes up late)."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self.lags: list[float] = []

    async def run(self, stop: asyncio.Event) -> None:
        """Sleep ``every_s`` again and again, noting the oversleep, until ``stop``."""
        while not stop.is_set():
            t0 = time.perf_counter()
            await asyncio.sleep(self.every_s)
            self.lags.append(max(0.0, time.perf_counter() - t0 - self.every_s))

    def take(self) -> tuple[float, float, int]:
        """(max, p99, count) of this window's lags in ms; the window starts over."""
        lags, self.lags = sorted(self.lags), []
        if not lags:
            return math.nan, math.nan, 0
        n = len(lags)
        p99 = lags[min(n - 1, math.ceil(0.99 * (n - 1)))]  # nearest rank at or above: a bound, never an underestimate
        return lags[-1] * 1000.0, p99 * 1000.0, n


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return math.nan


def _request_frame(op: Operation, size: int, some_id: int) -> tuple[bytes, bytes]:
    """A made request's bytes around its id slot (quotes included for string ids; no slot: all in the first part),
    padded to ``size`` bytes (with ids as long as ``some_id``) when it is the padded round trip."""
    head, tail = op.head, op.tail
    if op.pad:
        text = head + (str(some_id) if op.id_kind else "") + tail
        room = size - len(text.encode()) - len(',"pad":""')
        if room > 0 and text.endswith("}"):
            pad = ("," if text[:-1].rstrip()[-1:] != "{" else "") + '"pad":"' + "x" * room + '"'
            if op.id_kind:
                tail = tail[:-1] + pad + "}"
            else:
                head = head[:-1] + pad + "}"
    return head.encode(), tail.encode()


def _at(obj: Any, keys: tuple[str, ...]) -> Any:
    """The value at a JSON pointer's keys in a parsed frame (None when absent)."""
    for k in keys:
        if type(obj) is dict:
            obj = obj.get(k)
        elif type(obj) is list and k.isdigit() and int(k) < len(obj):
            obj = obj[int(k)]
        else:
            return None
    return obj


def _as_id(value: Any) -> int | None:
    """One of our ids read back from a frame (sent as a JSON number or a string of digits), else None."""
    if type(value) is int:
        return value
    if type(value) is str and value.isdigit():
        return int(value)
    return None


def _pick(rng: random.Random, items: tuple[Any, ...]) -> Any:
    if len(items) == 1:
        return items[0]
    return rng.choices(items, weights=[getattr(x, "weight", 1.0) for x in items])[0]


def _bound_socket(addr: str) -> Callable[[Any], socket.socket]:
    """picows' socket factory: a socket bound to the source address ``addr``, connected by picows.

    On Linux the port is left to ``connect`` (IP_BIND_ADDRESS_NO_PORT): ``bind`` to port 0 searches the address's
    bound ports, a cost that grows with every connection held (about 1 ms an open at 8,000 held here, against
    0.1 ms), while ``connect`` picks one through its hash of whole address pairs.
    """
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET

    def make(_parsed: Any) -> socket.socket:
        s = socket.socket(family, socket.SOCK_STREAM)
        try:
            if _BIND_NO_PORT is not None:
                with contextlib.suppress(OSError):  # a kernel without it: bind picks the port
                    s.setsockopt(socket.IPPROTO_IP, _BIND_NO_PORT, 1)
            s.bind((addr, 0))
        except OSError:
            s.close()
            raise
        return s

    return make


#: frames handled from one connection in one turn of the event loop (a legitimate target sends a few): past them, the
#: frames of that turn are counted (``frames_not_read``) and not handled, and the connection's reading waits for the
#: next turn. picows hands over every frame of a read at once and grows its read buffer to what the socket holds
#: (megabytes under a flood), so a target flooding frames would otherwise keep the loop, and its timers (the level's
#: end among them), from running for seconds at a time. A turn ends with a callback the first frame of the turn
#: schedules (``call_soon`` runs after the I/O callbacks of the turn), so an idle loop schedules nothing.
FRAMES_PER_TURN = 1024
# why a connection's reading is held: its turn is used up, our answers (pongs) wait for a target that does not
# read them, or the level has ended
_HOLD_TURN, _HOLD_WRITES, _HOLD_END = 1, 2, 4


# a connection's stages: awaiting the declared first frame, begun (authenticating first when the contract says so),
# authenticating, subscribing, ready (sending its requests)
_FIRST, _BEGUN, _AUTH, _SUBSCRIBING, _READY = range(5)
#: the key of the pending requests whose answers are matched by correlation id (no kind is this)
_BY_ID = "\x00by-id"
#: a pending request: its scheduled send, its metric code, the kinds that may answer it (correlated requests)
_Entry = tuple[float, int, frozenset[str]]
#: what a shard keeps per operation (:meth:`_Shard.known`)
_Known = tuple[int, bytes, bytes, str | None, frozenset[str]]


class _Listener(WSListener):
    """One connection: its stage, its pending requests per answer kind (or by id), the shard it reports to."""

    def __init__(self, shard: _Shard, index: int, user: UserSpec) -> None:
        self.shard, self.index, self.user = shard, index, user
        self.conn = shard.conn_index(index)
        self.pushed = False
        self.stage = _FIRST if shard.wire.first_frame is not None else _BEGUN
        self.awaiting = 0  # subscriptions not yet confirmed
        self.sub_ids: set[int] = set()  # the ids of correlated subscribe requests not yet confirmed
        self.refused: str | None = None  # the kind of frame that refused the first-message authentication
        self.connected = asyncio.get_running_loop().create_future()
        self.pending: dict[str, collections.OrderedDict[int, _Entry]] = {}
        self.by_id: collections.OrderedDict[int, _Entry] | None = None  # pending[_BY_ID], at hand
        self.leaving = False
        self.is_open = False
        self.transport: Any = None
        self.turn_frames = 0
        self.turn_seen = -1
        self.hold = 0

    # Reading held and released (the transport under picows): the target's frames are read in turns, and not
    # while our own writes pile up (picows answers each ping with a pong; a target that floods pings and never
    # reads would otherwise grow our write buffer for ever), nor once the level has ended.
    def hold_reading(self, why: int) -> None:
        if not self.hold and self.transport is not None:
            with contextlib.suppress(Exception):  # a transport closing under us: nothing left to hold
                self.transport.underlying_transport.pause_reading()
        self.hold |= why

    def release_reading(self, why: int) -> None:
        if not self.hold & why:
            return
        self.hold &= ~why
        if not self.hold and self.transport is not None and self.is_open:
            with contextlib.suppress(Exception):
                self.transport.underlying_transport.resume_reading()

    def _next_turn(self) -> None:
        self.turn_frames = 0
        self.release_reading(_HOLD_TURN)

    def pause_writing(self) -> None:
        self.hold_reading(_HOLD_WRITES)

    def resume_writing(self) -> None:
        self.release_reading(_HOLD_WRITES)

    # picows calls these from its transport: an exception raised here would disconnect the connection and
    # be logged, not counted. So the future ``connected`` is settled only once, whatever order picows calls in
    # (a cancelled wait, a close before the handshake ends), with a result, never an exception nobody awaits,
    # and anything unexpected in a callback becomes a counted error of kind ``client:<exception>``.
    def _settle(self, value: float | None) -> None:
        """``connected`` gets its result once: the instant the connection was ready, or None (it closed before)."""
        if not self.connected.done():
            self.connected.set_result(value)

    def on_ws_connected(self, transport: Any) -> None:
        sh = self.shard
        self.is_open = True
        self.transport = transport
        sh.open_now += 1
        sh.res.max_open = max(sh.res.max_open, sh.open_now)
        if self.stage == _BEGUN:  # no first frame declared: the session has begun
            self._begin(transport, time.perf_counter())

    def _begin(self, transport: Any, now: float) -> None:
        """The session has begun: authenticate in the first message (where the contract says so), then subscribe."""
        auth = self.shard.connect_for(self.user).auth
        if auth is not None:
            self.stage = _AUTH
            transport.send(WSMsgType.TEXT, auth.encode())
            return
        self._subscribe(transport, now)

    def _subscribe(self, transport: Any, now: float) -> None:
        """Send the user's subscriptions (the contract's subscribe request per channel), or be ready."""
        sh = self.shard
        channels = self.user.channels or ((sh.spec.subscribe,) if sh.spec.subscribe else ())
        if not channels:
            self._ready(now)
            return
        self.stage, self.awaiting = _SUBSCRIBING, len(channels)
        for ch in channels:
            op = sh.subscribes[ch]
            _, head, tail, _, _ = sh.known(op)
            if tail:
                mid = next(sh.ids)
                self.sub_ids.add(mid)
                transport.send(WSMsgType.TEXT, head + str(mid).encode() + tail)
            else:
                transport.send(WSMsgType.TEXT, head)

    def _ready(self, now: float) -> None:
        self.stage = _READY
        self._settle(now)

    def _setup(self, transport: Any, obj: Any, kind: str, now: float) -> None:
        """A message before the session is ready: the first frame, the authentication's answer, a confirmation."""
        sh = self.shard
        if self.stage == _FIRST:
            if kind == sh.wire.first_frame or sh.wire.first_frame == "":
                self._begin(transport, now)
        elif self.stage == _AUTH:
            if kind == sh.wire.auth_ok:
                self._subscribe(transport, now)
            elif kind in sh.wire.auth_refused or sh.is_error(obj, kind):
                self.refused = kind or "error"
                transport.disconnect()
        elif self.stage == _SUBSCRIBING and self._confirms(obj, kind):
            self.awaiting -= 1
            if self.awaiting <= 0:
                self._ready(now)

    def _confirms(self, obj: Any, kind: str) -> bool:
        """Whether a message confirms one of the subscriptions sent (by its id where they carried one)."""
        sh = self.shard
        if kind not in sh.sub_kinds or sh.is_error(obj, kind):
            return False
        if not self.sub_ids:
            return True
        for at in sh.wire.answer_at:
            mid = _as_id(_at(obj, at))
            if mid is not None and mid in self.sub_ids:
                self.sub_ids.discard(mid)
                return True
        return False

    def on_ws_frame(self, transport: Any, frame: Any) -> None:
        try:
            now = time.perf_counter()
            sh = self.shard
            if not sh.turn_open:
                sh.turn_open = True
                sh.turn += 1
                sh.loop.call_soon(sh.end_turn)
            if self.turn_seen != sh.turn:
                self.turn_seen, self.turn_frames = sh.turn, 0
            self.turn_frames += 1
            if self.turn_frames > FRAMES_PER_TURN:
                sh.counters["frames_not_read"] += 1
                if not self.hold & _HOLD_TURN:
                    self.hold_reading(_HOLD_TURN)
                    sh.loop.call_soon(self._next_turn)
                return
            if frame.msg_type == WSMsgType.TEXT:
                try:
                    data = frame.get_payload_as_utf8_text()  # json.loads of a str skips the encoding sniffing of bytes
                except UnicodeDecodeError:
                    sh.counters["invalid_utf8"] += 1  # RFC 6455 §8.1: a text frame must be UTF-8
                    return
                try:
                    obj = json.loads(data)
                except ValueError:
                    if self.stage == _FIRST and sh.wire.first_frame == "":  # any first frame will do
                        self._begin(transport, now)
                    return
                if type(obj) is list and sh.batch:  # several messages in one frame (the contract says so)
                    for item in obj:
                        self._message(transport, item, now)
                else:
                    self._message(transport, obj, now)
            elif frame.msg_type == WSMsgType.CLOSE:
                code = frame.get_close_code()
                reason = frame.get_close_message()
                reason_text = reason.decode("utf-8", "replace")[:60] if reason else ""
                if not self.leaving:
                    sh.closes[f"{int(code)} {reason_text}".strip()] += 1
                transport.send_close(1000 if code in (0, 1005, 1006) or code < 1000 else code)  # RFC 6455 §7.4.1
                transport.disconnect()
        except Exception as exc:  # a bug of ours or a frame nobody foresaw: counted, never raised into picows
            self.shard.note_error(f"client:{type(exc).__name__}", exc)

    def _message(self, transport: Any, obj: Any, now: float) -> None:
        """One message of the target: an answer (by its correlation id, else by its kind), a push, or the session's
        set-up before it is ready."""
        sh = self.shard
        is_obj = type(obj) is dict  # else an array message (the contract's), read at its pointers' indexes
        if not is_obj and not (type(obj) is list and sh.wire.arrays):
            return
        key = sh.kind_key if is_obj else None
        kind = obj.get(key) if key is not None else _at(obj, sh.wire.kind_at)
        if type(kind) is not str:
            kind = ""
        if self.stage != _READY:
            self._setup(transport, obj, kind, now)
            return
        entry: _Entry | None = None  # the request this message answers, and its id
        mid, error = 0, False
        by_id = self.by_id
        if by_id:
            for at in sh.wire.answer_at:
                value = obj.get(at[0]) if len(at) == 1 and is_obj else _at(obj, at)
                if value is None:
                    continue
                rid = _as_id(value)
                found = by_id.get(rid) if rid is not None else None
                if rid is not None and found is not None and kind in found[2]:
                    del by_id[rid]
                    mid, entry, error = rid, found, sh.is_error(obj, kind)
                    break
                if kind in sh.id_kinds:  # an answer carrying an id no request of this connection waits for
                    sh.counters["unmatched_answer"] += 1
                    return
        if entry is None:
            waiting = self.pending.get(kind)
            if not waiting:
                if sh.spec.subscribe and not self.pushed:  # a push: note when the first one arrived
                    self.pushed = True
                    sh.res.push_arrivals.append(sh.epoch0 + (now - sh.perf0))
                stamp = obj.get("timestamp") if is_obj else None
                if (
                    kind
                    and kind not in sh.wire.reply_kinds
                    and isinstance(stamp, int | float)
                    and not isinstance(stamp, bool)
                ):
                    # a push with the server's time: its delivery delay (same clock on one machine; skew across
                    # machines)
                    arrival_ms = (sh.epoch0 + (now - sh.perf0)) * 1000.0
                    delay = arrival_ms - float(stamp)
                    # the target's clock is its own: a stamp after the arrival, or older than the run (a minute of
                    # skew allowed), is no delivery delay of this run (a stamp of 1 made 1.8e12 ms)
                    if 0.0 <= delay <= (sh.offset(now) + PUSH_SKEW_S) * 1000.0:
                        sh.samples.add(sh.samples.code(f"push_ms:{kind}"), delay, sh.offset(now), self.conn, True)
                    else:
                        sh.counters["push_stamp_unusable"] += 1
                return
            echo = sh.echo_key.get(kind)  # answers by kind that carry our id back: the id picks the request
            got = None
            if echo is not None:
                v = (obj.get(echo) if is_obj else _at(obj, (echo,))) if isinstance(echo, str) else _at(obj, echo)
                try:  # our ids, sent as numbers or strings of digits (a try costs nothing when nothing is raised)
                    got = int(v) if v is not None else None
                except (TypeError, ValueError):
                    got = None
            if got is None:
                mid, entry = waiting.popitem(last=False)  # answers without our id: first in, first out
            else:
                mid, entry = got, waiting.pop(got, None)
                if entry is None:  # the answer to a request already counted (a timeout): not another's answer
                    sh.counters["answer_after_timeout"] += 1
                    return
        scheduled, code, _ = entry
        if error:  # an error answer ends its round trip as a failed sample
            sh.counters["error_answer"] += 1
            sh.samples.add(code, math.nan, sh.t0_offset + scheduled, self.conn, False)
        else:
            sh.answered += 1
            sh.samples.add(code, (now - scheduled) * 1000.0, sh.t0_offset + scheduled, self.conn, True)
        if now < sh.closed_end:  # the closed model: the answer sends the next request, no task in between
            sh.send(self.index, sh.spec.ping, now, wait=False)
            return
        fut = sh.waiters.pop(mid, None)
        if fut is not None and not fut.done():
            fut.set_result(now)

    def on_ws_disconnected(self, transport: Any) -> None:
        sh = self.shard
        if self.is_open:  # picows may report a disconnect of a connection whose handshake never completed
            self.is_open = False
            sh.open_now -= 1
        self._settle(None)
        for waiting in self.pending.values():  # requests the target will never answer now
            for mid, (scheduled, code, _) in waiting.items():
                sh.counters["closed_before_answer"] += 1
                sh.samples.add(code, math.nan, sh.offset(scheduled), self.conn, False)
                fut = sh.waiters.pop(mid, None)
                if fut is not None and not fut.done():
                    fut.set_exception(ConnectionError("closed"))
            waiting.clear()


class _Shard:
    """One shard's state and phases."""

    def __init__(self, spec: ShardSpec, sink: Sink | None) -> None:
        if spec.wire is None:  # not made by the parent (a direct call): made here from the Pitchey contract
            from .plan import complete

            spec = complete(spec)
        assert spec.wire is not None  # complete() makes it
        self.spec, self.sink, self.wire = spec, sink, spec.wire
        self.rng = random.Random(spec.seed + spec.shard)
        self.res = ShardResult(spec.shard, socket.gethostname(), os.getpid(), spec.connections)
        self.samples = SampleColumns(spec.probe_id, spec.concurrency)
        self.epoch0, self.perf0 = time.time(), time.perf_counter()
        self.t0_offset = self.epoch0 - self.perf0 - spec.run_start  # offset(perf) == t0_offset + perf
        self.stage_ends: list[float] = []  # perf_counter ends of the ramp's stages, when their rates differ
        self.sent = self.answered = 0  # plain ints on the hot path (folded into the counters for each window)
        self.closed_end = -math.inf  # the closed model's end (perf_counter): answers before it send the next request
        self._op_codes: dict[int, _Known] = {}  # by id(op): a dataclass hashes slowly
        self.counters: collections.Counter[str] = collections.Counter()
        self.closes: collections.Counter[str] = collections.Counter()
        self.open_now = 0
        self.waiters: dict[int, asyncio.Future[float]] = {}
        self.busy: set[_Listener] = set()  # listeners that may have requests waiting for an answer
        # message ids: unique over shards and all of one length within a shard (so a ping's frame has one size)
        self.ids = iter(range((spec.shard + 1) * 10**12, (spec.shard + 2) * 10**12))
        self.loop = asyncio.get_running_loop()
        self.turn, self.turn_open = 0, False  # the loop's turns that handled frames (see FRAMES_PER_TURN)
        self.transports: list[Any] = [None] * spec.connections
        self.factories: dict[str, Callable[[Any], socket.socket]] = {}  # by source address
        self.listeners: list[_Listener | None] = [None] * spec.connections
        users = spec.users or (UserSpec(rate_per_s=spec.rate_per_conn, operations=(spec.ping,)),)
        self.users = [_pick(self.rng, users) for _ in range(spec.connections)]
        #: how each user's connections open (by id(user)); a user the spec does not hold opens as the first does
        self.connects = {id(u): c for u, c in zip(users, spec.connects, strict=False)}
        self.connect_default = spec.connects[0] if spec.connects else Connect(spec.url)
        self.connect_code = self.samples.code("connect_ms")
        w = self.wire
        self.kind_key = w.kind_at[0] if len(w.kind_at) == 1 else None  # the common case: a top-level kind field
        self.batch = w.batch
        #: per answer kind, where it carries the request's id back: a top-level key, or a pointer's keys
        self.echo_key: dict[str, str | tuple[str, ...]] = {k: at[0] if len(at) == 1 else at for k, at in w.echo_at}
        #: the kinds that answer requests matched by id (one of them with an id nobody waits for: not an answer)
        self.id_kinds = frozenset(
            k for u in users for o in (*u.operations, spec.ping) if o.correlated for k in o.answers
        )
        self.subscribes = dict(w.subscribe)
        self.sub_kinds = frozenset(k for _, o in w.subscribe for k in o.answers)
        self.tls = client_ssl_context(spec.cafile, spec.insecure)
        self.lag = LagMonitor(spec.lag_probe_s)
        self.kept: list[bytes] = []
        self.seq = 0
        self._last = (time.perf_counter(), time.process_time(), collections.Counter[str]())

    def end_turn(self) -> None:
        self.turn_open = False

    def note_error(self, kind: str, exc: BaseException) -> None:
        """Count an error; the first of each kind keeps its message and where it was raised (tokens masked)."""
        self.counters[kind] += 1
        if kind not in self.res.error_examples:
            from ..capture.redact import redact_text

            tb = exc.__traceback__
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            where = f" at {os.path.basename(tb.tb_frame.f_code.co_filename)}:{tb.tb_lineno}" if tb is not None else ""
            self.res.error_examples[kind] = redact_text(f"{exc}{where}")[:300]

    def offset(self, perf: float) -> float:
        """Seconds from the run's start (``spec.run_start``) to a ``perf_counter`` instant."""
        return self.t0_offset + perf

    def is_error(self, obj: Any, kind: str) -> bool:
        """Whether an answer is an error as the contract tells them: by its envelope, else by its kind."""
        w = self.wire
        if w.error_at is not None:
            value = _at(obj, w.error_at)
            if value is not None and (
                not w.error_equals or (type(value) is type(w.error_equals[0]) and value == w.error_equals[0])
            ):
                return True
        return kind in w.error_kinds

    def known(self, op: Operation) -> _Known:
        """An operation's metric code, its bytes around the id slot, its pending key and the kinds that answer it."""
        known = self._op_codes.get(id(op))
        if known is None:  # the spec holds its operations for the whole run: their ids stay theirs
            head, tail = _request_frame(op, self.spec.message_bytes, (self.spec.shard + 1) * 10**12)
            key = None if op.answer is None or not op.answers else (_BY_ID if op.correlated else op.answers[0])
            known = self._op_codes[id(op)] = (
                self.samples.code(op.metric()),
                head,
                tail,
                key,
                frozenset(op.answers) | self.wire.error_kinds,
            )
        return known

    # -- connections ---------------------------------------------------------
    def connect_for(self, user: UserSpec) -> Connect:
        """How a user's connections open (its credential carried the contract's way)."""
        return self.connects.get(id(user), self.connect_default)

    async def open_one(self, i: int) -> bool:
        """Open connection ``i`` and wait for it to be ready; one ``connect_ms`` sample either way."""
        t0 = time.perf_counter()
        user = self.users[i]
        try:
            kw: dict[str, Any] = {"websocket_handshake_timeout": self.spec.handshake_timeout, **_TRANSPORTS}
            if self.spec.source_addresses:  # one of several source addresses, in turn over the run's connections
                addr = self.spec.source_addresses[self.conn_index(i) % len(self.spec.source_addresses)]
                if _SOCKET_FACTORY:
                    factory = self.factories.get(addr)
                    if factory is None:  # made once per address (setdefault would build one per connection)
                        factory = self.factories[addr] = _bound_socket(addr)
                    kw["socket_factory"] = factory
                else:
                    kw["local_addr"] = (addr, 0)
            if self.spec.url.startswith("wss"):
                kw["ssl_context"] = self.tls
            how = self.connect_for(user)
            if how.headers:
                kw["extra_headers"] = how.headers
            transport, made = await ws_connect(lambda: _Listener(self, i, user), how.url, **kw)
            # picows types the listener as WSListener (never None); ours is a _Listener, or None (see below)
            listener = made if isinstance(made, _Listener) else None
            self.transports[i], self.listeners[i] = transport, listener
            if listener is None:  # picows hands back no listener when the target closed during the upgrade
                raise ConnectionError("closed during the WebSocket upgrade (picows returned no listener)")
            ready = listener.connected  # settled during the upgrade unless the session has a set-up
            if (ready.result() if ready.done() else await asyncio.wait_for(ready, self.spec.answer_timeout)) is None:
                if listener.refused:
                    raise ConnectionError(f"the first-message authentication was refused ({listener.refused})")
                raise ConnectionError("closed before the session began")
            self.res.opened += 1
            self.samples.add(
                self.connect_code, (time.perf_counter() - t0) * 1000.0, self.offset(t0), self.conn_index(i), True
            )
            return True
        except Exception as exc:
            self.note_error(f"connect:{type(exc).__name__}", exc)
            self.samples.add(self.connect_code, math.nan, self.offset(t0), self.conn_index(i), False)
            t = self.transports[i]
            if t is not None:
                t.disconnect()
            self.transports[i] = None
            return False

    def leave(self, i: int) -> None:
        """Close connection ``i`` from our side (churn, or the end of the run)."""
        t, listener = self.transports[i], self.listeners[i]
        if t is None:
            return
        if listener is not None:
            listener.leaving = True
        if not t.is_disconnected:
            t.send_close(1000)  # picows' default is 1005, which must never be sent (RFC 6455 §7.4.1)
            t.disconnect()
        self.transports[i] = None

    # -- requests ------------------------------------------------------------
    def send(self, i: int, op: Operation, scheduled: float, wait: bool) -> asyncio.Future[float] | None:
        """Send one request on connection ``i``; its sample is taken when the answer arrives (or never comes)."""
        t, listener = self.transports[i], self.listeners[i]
        known = self._op_codes.get(id(op))
        code, head, tail, key, accept = known if known is not None else self.known(op)
        if t is None or listener is None or listener.stage != _READY or t.is_disconnected:
            self.counters["send_on_closed"] += 1
            self.samples.add(code, math.nan, self.t0_offset + scheduled, self.conn_index(i), False)
            return None
        mid = next(self.ids)
        self.sent += 1
        fut = None
        if key is not None:
            waiting = listener.pending.get(key)
            if waiting is None:
                waiting = listener.pending[key] = collections.OrderedDict()
                if key is _BY_ID:
                    listener.by_id = waiting
            waiting[mid] = (scheduled, code, accept)
            self.busy.add(listener)
            if wait:
                fut = self.waiters[mid] = self.loop.create_future()
        # the request's bytes with this id spliced in (an id slot is never last: its tail is never empty): no JSON
        # encoding per message
        t.send(WSMsgType.TEXT, head + str(mid).encode() + tail if tail else head)
        return fut

    async def request(self, i: int, op: Operation) -> bool:
        """Send and wait for the answer (closed model, the hold model's last ping)."""
        fut = self.send(i, op, time.perf_counter(), wait=True)
        if fut is None:
            return op.answer is None and self.transports[i] is not None
        try:
            await asyncio.wait_for(fut, self.spec.answer_timeout)
            return True
        except (TimeoutError, ConnectionError):
            self.expire(force=False)
            return False

    def expire(self, force: bool) -> None:
        """Requests unanswered after ``answer_timeout`` (all of them with ``force``) become timeouts."""
        limit = time.perf_counter() - self.spec.answer_timeout
        for listener in list(self.busy):  # only connections with requests out: cheap at 100,000 idle connections
            if not any(listener.pending.values()):
                self.busy.discard(listener)
                continue
            for waiting in listener.pending.values():
                while waiting:
                    mid, (scheduled, code, _) = next(iter(waiting.items()))
                    if not force and scheduled > limit:
                        break
                    del waiting[mid]
                    self.counters["timeout"] += 1
                    self.samples.add(code, math.nan, self.offset(scheduled), listener.conn, False)
                    self.waiters.pop(mid, None)

    # -- the open model --------------------------------------------------------
    def conn_index(self, i: int) -> int:
        """The run's index of this shard's connection ``i`` (its samples' ``conn_index``)."""
        return self.spec.conn_offset + i

    def rate_scale(self, t: float) -> float:
        """The rate multiplier of the stage under way at ``perf_counter`` instant ``t`` (the last stage's after the
        end)."""
        rates = self.spec.stage_rates
        return rates[min(bisect.bisect_right(self.stage_ends, t), len(rates) - 1)]

    async def user_loop(self, i: int, t_start: float, end: float) -> None:
        """Connection ``i`` sends its user's operations on schedule; a churning user leaves and comes back."""
        user, spec = self.users[i], self.spec
        interval = 1.0 / user.rate_per_s if user.rate_per_s > 0 else math.inf
        nxt = t_start + self.rng.random() * min(interval, 1.0)
        life_end = math.inf if user.session_s is None else t_start + user.session_s
        while True:
            now = time.perf_counter()
            if now >= end:
                # sends scheduled before the end that a stalled loop never reached: not made, so counted (dropped)
                self.counters["dropped"] += self._slots(nxt, end, interval)
                return
            if now >= life_end or self.transports[i] is None:
                if self.transports[i] is None and user.session_s is None:
                    return  # a connection that could not open (or was closed by the target) is not retried
                await self.finish_pending(i)
                self.leave(i)
                self.counters["left"] += 1
                if user.rejoin_s > 0:
                    await asyncio.sleep(min(user.rejoin_s, max(0.0, end - time.perf_counter())))
                    if time.perf_counter() >= end:
                        return
                if not await self.open_one(i):
                    await asyncio.sleep(0.1)
                life_end = time.perf_counter() + (user.session_s or 0.0)
                nxt = max(nxt, time.perf_counter())
                continue
            if nxt >= end and user.session_s is None:
                await asyncio.sleep(max(0.0, end - now))
                return
            wake = min(nxt, life_end, end)
            if wake > now:
                await asyncio.sleep(wake - now)
                now = time.perf_counter()
            if now < nxt:
                continue
            behind = now - nxt
            if behind > spec.drop_after_s:
                self.counters["dropped"] += 1
            else:
                if behind > spec.late_bound_s:
                    self.counters["late"] += 1
                self.send(i, _pick(self.rng, user.operations), nxt, wait=False)
            nxt = self._after(nxt, interval)

    def _slots(self, nxt: float, end: float, interval: float) -> int:
        """How many sends the schedule has in ``[nxt, end)`` (the stages' rates applied)."""
        if nxt >= end or not math.isfinite(interval):
            return 0
        if not self.stage_ends:
            return math.ceil((end - nxt) / interval)
        n = 0
        while nxt < end:  # bounded: the schedule's own sends up to the end
            n += 1
            nxt = self._after(nxt, interval)
        return n

    def _after(self, nxt: float, interval: float) -> float:
        """The send after the one scheduled at ``nxt`` (the stage's rate applied when stages change it)."""
        return nxt + (interval / self.rate_scale(nxt) if self.stage_ends else interval)

    async def staged_loop(self, i: int, t_start: float) -> None:
        """Connection ``i`` in a ramp: present during the stages that count it, joining and leaving at their bounds."""
        for a, b in active_intervals(i, self.spec.stages):
            start, stop = t_start + a, t_start + b
            # joiners at a stage boundary arrive at connect_rate, not all in the same instant
            delay = (
                start
                + (i % max(1, int(self.spec.connect_rate))) / self.spec.connect_rate * (a > 0)
                - time.perf_counter()
            )
            if delay > 0:
                await asyncio.sleep(delay)
            if self.transports[i] is None and not await self.open_one(i) and self.users[i].session_s is None:
                continue
            await self.user_loop(i, time.perf_counter(), stop)
            await self.finish_pending(i)
            self.leave(i)

    async def finish_pending(self, i: int) -> None:
        """Before a churning user leaves, its answers are awaited (bounded), so leaving never loses one."""
        listener = self.listeners[i]
        deadline = time.perf_counter() + self.spec.answer_timeout
        while listener is not None and any(listener.pending.values()) and time.perf_counter() < deadline:
            await asyncio.sleep(0.005)

    # -- windows -------------------------------------------------------------
    def window(self) -> dict[str, Any]:
        """This window's generator figures (deltas since the last window, except ``open``)."""
        now_perf, now_cpu = time.perf_counter(), time.process_time()
        last_perf, last_cpu, last_counts = self._last
        counts = collections.Counter(self.counters)
        counts["sent"], counts["answered"] = self.sent, self.answered
        delta = counts - last_counts
        self._last = (now_perf, now_cpu, counts)
        lag_max, lag_p99, lag_n = self.lag.take()
        wall = max(1e-9, now_perf - last_perf)
        return {
            "shard": self.spec.shard,
            "t_offset_s": self.offset(now_perf),
            "window_s": wall,
            "open": self.open_now,
            "sent": delta["sent"],
            "answered": delta["answered"],
            "late": delta["late"],
            "dropped": delta["dropped"],
            "errors": sum(v for k, v in delta.items() if k not in _NOT_ERRORS),
            "lag_max_ms": lag_max,
            "lag_p99_ms": lag_p99,
            "lag_n": lag_n,
            "cpu_share": (now_cpu - last_cpu) / wall,
            "rss_mb": _rss_mb(),
            "samples": self.samples.total,
        }

    async def flush(self, final: bool = False) -> None:
        """Hand this window's samples and figures on (or keep them when there is no sink)."""
        self.expire(force=final)
        taken, health = self.samples.take(), self.window()
        chunk, rows = taken if taken is not None else (None, 0)
        msg = {
            "shard": self.spec.shard,
            "seq": self.seq,
            "chunk": chunk,
            "rows": rows,
            "health": health,
            "final": final,
        }
        self.seq += 1
        if self.sink is None:
            if chunk is not None:
                self.kept.append(chunk)
            self.res.health.append(health)
            return
        await self.sink(msg)

    async def flusher(self, stop: asyncio.Event) -> None:
        """Flush every ``flush_s`` until ``stop``."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), self.spec.flush_s)
            except TimeoutError:
                pass
            if not stop.is_set():
                await self.flush()

    # -- the whole shard -------------------------------------------------------
    async def run(self) -> ShardResult:
        spec = self.spec
        stop_lag, stop_flush = asyncio.Event(), asyncio.Event()
        lag_task = self.loop.create_task(self.lag.run(stop_lag))
        flush_task = self.loop.create_task(self.flusher(stop_flush))
        cpu0, wall0 = time.process_time(), time.perf_counter()
        try:
            staged = bool(spec.stages) and spec.model == "open"
            first = spec.stages[0][0] if staged else spec.connections
            batch = max(1, int(spec.connect_rate / 20))  # open at connect_rate, in batches so the loop is never flooded
            for start in range(0, first, batch):
                t_batch = time.perf_counter()
                await asyncio.gather(*(self.open_one(i) for i in range(start, min(start + batch, first))))
                delay = batch / spec.connect_rate - (time.perf_counter() - t_batch)
                if delay > 0:
                    await asyncio.sleep(delay)
            t_start = time.perf_counter()
            end = t_start + (sum(d for _, d in spec.stages) if staged else spec.duration_s)
            if staged and spec.stage_rates:
                if len(spec.stage_rates) != len(spec.stages):
                    raise UsageError(f"{len(spec.stage_rates)} stage rates for {len(spec.stages)} stages")
                ends = itertools.accumulate(d for _, d in spec.stages)
                self.stage_ends = [t_start + e for e in ends]
            if staged:
                await asyncio.gather(*(self.staged_loop(i, t_start) for i in range(spec.connections)))
            if spec.model == "open":
                if not staged:
                    await asyncio.gather(
                        *(
                            self.user_loop(i, t_start, end)
                            for i in range(spec.connections)
                            if self.transports[i] is not None or self.users[i].session_s is not None
                        )
                    )
                deadline = time.perf_counter() + min(spec.answer_timeout, 2.0)
                while (
                    any(li is not None and any(li.pending.values()) for li in self.listeners)
                    and time.perf_counter() < deadline
                ):
                    await asyncio.sleep(0.01)
                self.expire(force=True)
            elif spec.model == "closed":
                # each answer sends the connection's next request (in on_ws_frame) until ``end``; a request
                # unanswered after answer_timeout becomes a timeout (expire, every flush) and its connection stops
                self.closed_end = end
                for i in range(spec.connections):
                    if self.transports[i] is not None:
                        self.send(i, spec.ping, time.perf_counter(), wait=False)
                await asyncio.sleep(max(0.0, end - time.perf_counter()))
                deadline = time.perf_counter() + spec.answer_timeout
                while self.busy and time.perf_counter() < deadline:
                    self.expire(force=False)
                    await asyncio.sleep(0.01)
                self.expire(force=True)
            elif spec.model == "hold":
                await asyncio.sleep(max(0.0, end - time.perf_counter()))
                # the final pings go out at connect_rate, in the opening's batches: a bounded window
                # (connections / connect_rate s) in which each ping has answer_timeout from its own send; all
                # at once, 12,500 pings queue behind each other on both sides and time out on a busy machine
                pings: list[asyncio.Task[bool]] = []
                for start in range(0, spec.connections, batch):
                    t_batch = time.perf_counter()
                    pings.extend(
                        self.loop.create_task(self.request(i, spec.ping))
                        for i in range(start, min(start + batch, spec.connections))
                    )
                    delay = batch / spec.connect_rate - (time.perf_counter() - t_batch)
                    if delay > 0:
                        await asyncio.sleep(delay)
                results = await asyncio.gather(*pings)
                self.res.held = sum(
                    1
                    for i, r in enumerate(results)
                    if r and self.transports[i] is not None and not self.transports[i].is_disconnected
                )
            else:
                raise UsageError(f"unknown model {spec.model!r}")
            self.res.wall_s = time.perf_counter() - wall0
            self.res.cpu_s = time.process_time() - cpu0
        finally:
            for li in self.listeners:  # the level has ended: whatever the target still sends is not read
                if li is not None:
                    li.hold_reading(_HOLD_END)
            for i in range(spec.connections):
                self.leave(i)
            await asyncio.sleep(0.2)
            stop_flush.set()
            await flush_task
            stop_lag.set()
            await lag_task
            await self.flush(final=True)
        return self.result()

    def result(self) -> ShardResult:
        res, c = self.res, self.counters
        res.sent, res.answered, res.late, res.dropped = self.sent, self.answered, c["late"], c["dropped"]
        res.samples = self.samples.total
        res.errors = {k: v for k, v in c.items() if k not in _NOT_ERRORS and v}
        res.left = c["left"]
        res.close_codes = dict(self.closes)
        res.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        attach_samples(res, self.kept)
        return res


def active_intervals(i: int, stages: tuple[tuple[int, float], ...]) -> list[tuple[float, float]]:
    """The spans (seconds from the ramp's start) during which connection ``i`` is one of the stage's connections
    (pure)."""
    out: list[tuple[float, float]] = []
    t = 0.0
    for n, d in stages:
        if i < n:
            if out and out[-1][1] == t:
                out[-1] = (out[-1][0], t + d)
            else:
                out.append((t, t + d))
        t += d
    return out


def attach_samples(res: ShardResult, chunks: list[bytes]) -> None:
    """Join a shard's chunks into the result's sample columns (for runs whose samples stay in memory)."""
    if not chunks:
        return
    import pyarrow as pa

    t = pa.concat_tables([decode_chunk(b) for b in chunks])
    res.metric = t.column("metric").to_numpy(zero_copy_only=False)
    res.value_ms = t.column("value_ms").to_numpy()
    res.t_offset_s = t.column("t_offset_s").to_numpy()
    res.conn_index = t.column("conn_index").to_numpy()
    res.ok = t.column("ok").to_numpy(zero_copy_only=False)


async def run_shard_async(spec: ShardSpec, sink: Sink | None = None) -> ShardResult:
    """Run one shard on the running loop; ``sink`` receives a message every ``flush_s``."""
    return await _Shard(spec, sink).run()


_COLLECTOR_LOCK = threading.Lock()
_collector_users = 0
_collector_saved: tuple[int, ...] = ()


@contextlib.contextmanager
def _collector_for_held_connections() -> Iterator[None]:
    """The cyclic collector's first generation at 50,000 allocations, not 700, while shards run; restored after.

    A shard holds thousands of long-lived connections (transport, listener, future, dicts each), and opening or
    serving them allocates hundreds of short-lived containers a connection: at the default threshold the collector
    runs every few connections and its older generations re-traverse every connection held, 15-20% of the open
    phase's CPU here. Only the collection frequency changes (its generations and the garbage it frees do not), and
    memory held in reference cycles is bounded by the larger threshold. The setting is the process's: shards that
    overlap in one process (threads of one worker) share it, and the last one to end restores what the first found;
    a threshold of 0 (collection off) is left alone.
    """
    global _collector_users, _collector_saved
    with _COLLECTOR_LOCK:
        if _collector_users == 0:
            _collector_saved = gc.get_threshold()
            if _collector_saved[0] > 0:
                gc.set_threshold(max(_collector_saved[0], 50_000), *_collector_saved[1:])
        _collector_users += 1
    try:
        yield
    finally:
        with _COLLECTOR_LOCK:
            _collector_users -= 1
            if _collector_users == 0:
                gc.set_threshold(*_collector_saved)


def run_shard(spec: ShardSpec, sink: Sink | None = None) -> ShardResult:
    """Run one shard in this process (uvloop when available)."""
    with _collector_for_held_connections():
        try:
            import uvloop

            return uvloop.run(run_shard_async(spec, sink))
        except ImportError:
            return asyncio.run(run_shard_async(spec, sink))
