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
import math
import secrets
import ssl
import threading
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit

import websockets.exceptions as wsexc

from ..capture.records import sample_record
from ..categories import CATEGORIES
from ..contract import Contract, default_contract
from ..contract.requests import upgrade_target
from ..exceptions import UsageError
from ..outcomes import Outcome
from .conformance import Conformance
from .invariants import FrameShape, Tally


@dataclass
class Result:
    """The outcome of one probe execution."""

    outcome: Outcome
    reason: str = "ok"
    detail: str = ""
    observed: Any = None
    close_code: int | None = None
    close_reason: str | None = None
    #: overrides the catalogue's criticality for this outcome (e.g. a refusal of the
    #: wrong form is a non-critical contract deviation of a critical security probe).
    critical: bool | None = None

    @classmethod
    def ok(cls, detail: str = "", observed: Any = None, **kw: Any) -> Result:
        """A pass."""
        return cls(Outcome.PASS, "ok", detail, observed, **kw)

    @classmethod
    def fail(cls, reason: str, detail: str, observed: Any = None, **kw: Any) -> Result:
        """A failure of the target to meet the expectation."""
        return cls(Outcome.FAIL, reason, detail, observed, **kw)

    @classmethod
    def skip(cls, reason: str, detail: str, observed: Any = None) -> Result:
        """No evidence either way, with the reason (never a pass)."""
        return cls(Outcome.SKIP, reason, detail, observed)

    @classmethod
    def closed(cls, code: int | None, reason: str | None, what: str, observed: Any = None) -> Result:
        """The target closed the session before the probe had its evidence.

        A lockout close (1008 "Too many failed ...") says nothing about the
        feature under test: it is recorded as ``locked_out`` (skip), never as
        a finding of the probe's own feature.
        """
        if is_lockout_close(code, reason):
            return cls(
                Outcome.SKIP,
                "locked_out",
                f"{what}: the target had locked this client out (closed {code} {reason!r})",
                observed,
                close_code=code,
                close_reason=reason,
            )
        code = code or 1006
        return cls(
            Outcome.FAIL,
            f"closed_{code}",
            f"{what}: the target closed the session {code} {reason or ''!r}".rstrip(),
            observed,
            close_code=code,
            close_reason=reason,
        )


class Stop(Exception):
    """Ends a probe early with its result (``raise Stop(Result.fail(...))``); the runner records the result.

    It keeps a probe's preamble to one line: ``s = await authed(ctx)`` (probes/common.py). Control flow, not under
    PitcheyAnalysisError: it never leaves the runner, which turns it into the record it carries.
    """

    def __init__(self, result: Result) -> None:
        super().__init__(f"{result.outcome}: {result.reason}")
        self.result = result


ProbeFn = Callable[["ProbeContext"], Awaitable[Result]]


@dataclass(frozen=True)
class Evidence:
    """A field a pass must carry in its observation (``Result.observed``), checked by :func:`held_to_evidence`.

    Present means not empty: a count above 0, a non-empty text, list or mapping, ``True``. A field
    ``"status|close_code"`` is owed as any one of its alternatives (a refusal seen either way). With ``when``,
    the field is owed only where the observation names that fact as true (what the probe set out to do:
    a channel to hold, a push to wait for, a credential to authenticate with); what was not planned is not owed,
    and the plan itself is in the record.
    """

    field: str
    when: str | None = None


def _present(value: Any) -> bool:
    if value is None or value is False:
        return False
    if isinstance(value, (int, float)):
        return value > 0
    if isinstance(value, (str, list, tuple, dict, set)):
        return len(value) > 0
    return True


def lacking(evidence: tuple[Evidence, ...], observed: Any) -> list[str]:
    """The declared evidence fields an observation lacks (pure)."""
    obs = observed if isinstance(observed, dict) else {}
    return [
        e.field
        for e in evidence
        if (e.when is None or _present(obs.get(e.when))) and not any(_present(obs.get(f)) for f in e.field.split("|"))
    ]


def held_to_evidence(evidence: tuple[Evidence, ...], r: Result) -> Result:
    """A pass without the observation its probe declares is a skip ``no_evidence`` (pure; DESIGN.md, Evidence).

    One rule for every probe, applied where the runner calls it (:attr:`ProbeSpec.fn`), so that no probe can
    pass on an empty record: a session closed before it showed anything, subscriptions never confirmed,
    pushes never counted.
    """
    if r.outcome != Outcome.PASS:
        return r
    missing = lacking(evidence, r.observed)
    if not missing:
        return r
    said = f" (it would have passed as {r.detail!r})" if r.detail else ""
    return Result(
        Outcome.SKIP,
        "no_evidence",
        f"nothing observed to judge: {', '.join(missing)} missing or 0 in the observation{said}",
        r.observed,
        r.close_code,
        r.close_reason,
    )


@dataclass(frozen=True)
class ProbeSpec:
    """A catalogue entry."""

    name: str
    category: str
    critical: bool
    expected: str
    body: ProbeFn  # the probe as written; the runner calls :attr:`fn`
    needs: tuple[str, ...] = ()  # "jwt_secret", "admin", "tls", "loopback"
    disruptive: bool = False
    quick: bool = True  # part of the quick suite
    last: bool = False  # runs after every other probe (lockout tests)
    final: bool = False  # judges the whole run: runs after the ``last`` probes too (session invariants)
    #: the contract operation a generated request/answer probe judges (None: a probe written as code)
    operation: str | None = None
    #: how the probe shares the target with others (RUNS, runner/schedule.py): ``alone`` (default: one at a time, the
    #: idle
    #: holds beside it), ``together`` (its own sessions and contract traffic only: beside other such probes),
    #: ``hold`` (idle sessions held for a window: in the background), ``timing`` (measures latency: first, nothing
    #: else running) or ``figures`` (reads the target's own counts: nothing else running, no held session either)
    runs: str = "alone"
    #: what the probe may leave behind on the target (LEAVES), recorded in the plan; the runner checks the target
    #: is back to its baseline after it
    leaves: tuple[str, ...] = ()
    #: the option holding the probe's longest wait (e.g. ``sustain_window_s``): the plan's expected duration
    waits: str | None = None
    #: what a pass must have observed (:class:`Evidence`); every catalogue entry declares some
    evidence: tuple[Evidence, ...] = ()

    @property
    def fn(self) -> ProbeFn:
        """The probe as the runner calls it: its body, whose pass is held to its declared evidence."""
        body, evidence = self.body, self.evidence

        async def run(ctx: ProbeContext) -> Result:
            return held_to_evidence(evidence, await body(ctx))

        run.__name__ = getattr(body, "__name__", "probe")
        return run


#: How a probe shares the target (ProbeSpec.runs).
RUNS = ("alone", "together", "hold", "timing", "figures")
#: What a probe may leave behind (ProbeSpec.leaves): failed-authentication lockouts (of scratch source addresses),
#: a login throttle of the run's address, connections held to the cap, load.
LEAVES = ("lockout", "login_throttle", "connections", "load")


class Catalogue(MutableMapping[str, ProbeSpec]):
    """The probe catalogue: name -> :class:`ProbeSpec`, in running order.

    An entry may be registered :meth:`later`, as a function that makes it: the default contract's generated probes
    are (probes/messaging.py), so that importing the probes does not parse the contract (about 100 ms). They take
    their place in the order when the catalogue is first read.
    """

    def __init__(self) -> None:
        self._specs: dict[str, ProbeSpec] = {}
        #: a name, what makes an entry registered later, or (EACH, what makes several of them from the names taken)
        self._order: list[str | Callable[[], ProbeSpec] | tuple[str, Callable[[frozenset[str]], list[ProbeSpec]]]] = []
        self._pending = 0
        self._lock = threading.Lock()

    def add(self, spec: ProbeSpec) -> None:
        """Register ``spec`` now (a duplicate of an entry registered later is found when that one is made)."""
        if spec.name in self._specs:
            raise UsageError(f"duplicate probe name {spec.name!r}")
        self._specs[spec.name] = spec
        self._order.append(spec.name)

    def later(self, make: Callable[[], ProbeSpec]) -> None:
        """Register the entry ``make()`` returns, in this place of the order, when the catalogue is first read."""
        with self._lock:
            self._order.append(make)
            self._pending += 1

    def later_each(self, make: Callable[[frozenset[str]], list[ProbeSpec]]) -> None:
        """Register the entries ``make(taken)`` returns, in this place of the order, when the catalogue is first
        read; ``taken`` holds every name registered so far or now (``make`` leaves those out when it means to)."""
        with self._lock:
            self._order.append(("each", make))
            self._pending += 1

    def _settle(self) -> dict[str, ProbeSpec]:
        if self._pending:
            with self._lock:
                if self._pending:
                    made: dict[str, ProbeSpec] = {}
                    for entry in self._order:
                        if isinstance(entry, str):
                            specs = [self._specs[entry]]
                        elif isinstance(entry, tuple):
                            specs = entry[1](frozenset(made) | frozenset(self._specs))
                        else:
                            specs = [entry()]
                        for spec in specs:
                            if spec.name in made or not isinstance(entry, str) and spec.name in self._specs:
                                raise UsageError(f"duplicate probe name {spec.name!r}")
                            made[spec.name] = spec
                    self._specs, self._order, self._pending = made, list(made), 0
        return self._specs

    def __getitem__(self, name: str) -> ProbeSpec:
        return self._settle()[name]

    def __setitem__(self, name: str, spec: ProbeSpec) -> None:
        specs = self._settle()
        if name not in specs:
            self._order.append(name)
        specs[name] = spec

    def __delitem__(self, name: str) -> None:
        del self._settle()[name]
        self._order.remove(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._settle())

    def __len__(self) -> int:
        return len(self._settle())

    def __repr__(self) -> str:
        return f"Catalogue({list(self)!r})"


CATALOGUE = Catalogue()


def evidence_of(fields: tuple[str | Evidence, ...]) -> tuple[Evidence, ...]:
    """Evidence declarations from field names (``"pushes"``) or :class:`Evidence` entries."""
    return tuple(f if isinstance(f, Evidence) else Evidence(f) for f in fields)


def probe(
    name: str,
    *,
    category: str,
    critical: bool,
    expected: str,
    evidence: tuple[str | Evidence, ...] = (),
    needs: tuple[str, ...] = (),
    disruptive: bool = False,
    quick: bool = True,
    last: bool = False,
    final: bool = False,
    runs: str = "alone",
    leaves: tuple[str, ...] = (),
    waits: str | None = None,
) -> Callable[[ProbeFn], ProbeFn]:
    """Register a probe in the catalogue.

    ``evidence`` names the fields of its observation a pass must carry (:class:`Evidence`): a pass
    without them is recorded as a skip ``no_evidence``.
    """
    if category not in CATEGORIES:
        raise UsageError(f"unknown category {category!r}")
    if runs not in RUNS or not set(leaves) <= set(LEAVES):
        raise UsageError(f"{name}: runs must be one of {RUNS}, leaves a subset of {LEAVES}")
    if waits is not None and waits not in Options.__dataclass_fields__:
        raise UsageError(f"{name}: waits names no option: {waits!r}")

    def deco(fn: ProbeFn) -> ProbeFn:
        CATALOGUE.add(
            ProbeSpec(
                name,
                category,
                critical,
                expected,
                fn,
                needs=needs,
                disruptive=disruptive,
                quick=quick,
                last=last,
                final=final,
                evidence=evidence_of(evidence),
                runs=runs,
                leaves=leaves,
                waits=waits,
            )
        )
        return fn

    return deco


@dataclass
class Credentials:
    """An e-mail and a password, and the login endpoint type to use."""

    email: str
    password: str
    user_type: str = "creator"
    #: the HTTP login path; None: the contract's path for ``user_type``.
    login_path: str | None = None
    #: a credential the user made beforehand (``--token``): used as is, no login call
    token: str | None = None

    def __repr__(self) -> str:  # never print a password or a token
        return f"Credentials({self.user_type}:{self.email or 'token'})"


@dataclass(frozen=True)
class Timeouts:
    """Every wait of the probes (seconds), in one frozen object: :meth:`scaled` stretches them all for a slow
    target or machine (``--timeout-scale``). A wait added here is scaled with the others; there is no list of
    names to keep in step."""

    timeout_s: float = 5.0  # one answer
    open_timeout_s: float = 5.0  # one connection
    push_timeout_s: float = 7.0  # a server push (dashboard interval + margin)
    server_ping_wait_s: float = 35.0  # server ping interval + margin
    #: the target's own intervals inside the two waits above (the contract's, or the embedded server's in the quick
    #: suite): the timeout scale stretches only our margin on top of them, never what the target promises
    push_interval_s: float | None = 5.0
    server_ping_interval_s: float | None = 30.0
    handshake_bound_s: float = 10.0  # a half-sent upgrade request must be dropped by the target within this
    quiet_window_s: float = 0.3  # how long to watch for an unexpected extra frame
    settle_s: float = 0.5  # a session judged on a frame is watched this long afterwards: a close in it is not a pass
    sustain_window_s: float = 30.0  # how long resilience.sustained_sessions holds its sessions idle

    #: the waits that contain an interval of the target's (the field holding it): only the margin above it is scaled
    INTERVAL_IN: ClassVar[dict[str, str]] = {
        "push_timeout_s": "push_interval_s",
        "server_ping_wait_s": "server_ping_interval_s",
    }

    @classmethod
    def waits(cls) -> tuple[str, ...]:
        """The names of the waits :meth:`scaled` stretches: every field but the target's intervals."""
        intervals = set(cls.INTERVAL_IN.values())
        return tuple(f.name for f in fields(Timeouts) if f.name not in intervals)

    def scaled(self, k: float) -> Self:
        """These waits times ``k`` (the target's intervals inside a wait stay as promised: only our margin is
        stretched); every other field is kept."""
        changes: dict[str, float] = {}
        for name in self.waits():
            value: float = getattr(self, name)
            interval = getattr(self, self.INTERVAL_IN[name]) if name in self.INTERVAL_IN else None
            changes[name] = (
                interval + (value - interval) * k if interval is not None and 0 < interval <= value else value * k
            )
        return replace(self, **changes)


@dataclass(frozen=True)
class Options(Timeouts):
    """Tunable values of a run (all recorded in the manifest): its waits (:class:`Timeouts`) and its sizes."""

    connect_samples: int = 150  # the p95 interval's upper end is then the 148th: two outliers are not a verdict
    rtt_samples: int = 400
    rtt_per_session: int = 100  # stays below the target's burst limit of 120
    concurrency_levels: tuple[int, ...] = (1, 10, 100, 1000)
    reconnect_samples: int = 5
    burst_size: int = 200
    #: failed authentications that must lock an address out; None: the contract's limits.lockout.failures
    lockout_attempts: int | None = None
    sustain_sessions: int = 20  # sessions held open at once by resilience.sustained_sessions
    churn_bytes: int = 64 * 1024 * 1024  # unique message kinds sent by readiness.memory_retained's churn
    seed: int = 20251112
    timeout_scale: float = 1.0  # what the waits were multiplied by (recorded, not applied again)

    def scaled(self, k: float) -> Self:
        """:meth:`Timeouts.scaled`, and the scale recorded (``timeout_scale`` multiplied by ``k``)."""
        return replace(super().scaled(k), timeout_scale=self.timeout_scale * k)


#: The shortest quiet window (seconds): how long a probe watches, after the frame it judged, for what must not
#: follow (a close, an extra frame) once the run knows the target's round-trip time.
QUIET_FLOOR_S = 0.05
#: Round trips the run must have seen before its quiet windows derive from them (else the configured bound).
PACE_MIN_SAMPLES = 20


@dataclass
class Pace:
    """The round trips the run has observed so far (the most recent 2,000): its quiet windows derive from them.

    Those measured without our own load on the target (:meth:`RunState.under_load`) are also kept apart
    (``unloaded_ms``): a probe that runs without it watches for as long as the target answers unloaded, not for as
    long as the pool of the together stage or the concurrency ramp made it answer (a few slow answers under our own
    load would otherwise stretch every later probe's windows, up to the configured bound, which the same probe run
    with nothing beside it never needs)."""

    rtts_ms: deque[float] = field(default_factory=lambda: deque(maxlen=2000))
    unloaded_ms: deque[float] = field(default_factory=lambda: deque(maxlen=2000))

    def note(self, ms: float, *, loaded: bool = False) -> None:
        """One round trip; ``loaded``: measured under our own load (:meth:`RunState.under_load`)."""
        if ms >= 0 and math.isfinite(ms):
            self.rtts_ms.append(ms)
            if not loaded:
                self.unloaded_ms.append(ms)

    def p99_ms(self, *, unloaded: bool = False) -> float | None:
        """The 99th percentile round trip (``unloaded``: of those measured without our own load), or None before
        :data:`PACE_MIN_SAMPLES` were seen."""
        seen = self.unloaded_ms if unloaded else self.rtts_ms
        if len(seen) < PACE_MIN_SAMPLES:
            return None
        ordered = sorted(seen)
        return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]


@dataclass
class RunState:
    """What the probes of a run learn once and share (one object per run, whatever the number of contexts)."""

    session_cookie: str | None = None
    auto_token: str | None = None
    control: Any = None
    pace: Pace = field(default_factory=Pace)
    #: the probes running now (the runner's): a sample measured beside others records how many ran at once
    running: set[str] = field(default_factory=set)
    #: those of them that only hold idle sessions (``runs="hold"``): they do not load the target
    holds: set[str] = field(default_factory=set)
    #: those of them that load the target (``leaves`` load: the concurrency ramp, the floods)
    loads: set[str] = field(default_factory=set)

    def under_load(self) -> bool:
        """Whether our own load is on the target now: more than one probe sending (not a hold: the pool of the
        together stage), or a probe that loads it."""
        return len(self.running - self.holds) > 1 or bool(self.loads)


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
    _tokens: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    #: logins refused once are never tried again (a wrong password must not lock the user out)
    _refused: dict[str, tuple[int, Any]] = field(default_factory=dict)
    #: the service contract the run judges against (default: the shipped ``pitchey``)
    contract: Contract = field(default_factory=default_contract)
    #: counters of the frames validated against the contract (probes/conformance.py)
    conformance: Conformance = field(default_factory=Conformance)
    #: sessions whose reader still runs (probes/session.py); the runner ends them when their probe ends
    open_sessions: set[Any] = field(default_factory=set)
    #: what the run learns once and every probe shares (the run's probes may run concurrently, each with its own
    #: context made by :meth:`for_probe`; what they learn goes here)
    state: RunState = field(default_factory=lambda: RunState())

    def __post_init__(self) -> None:
        # the session invariants judge frames as the contract tells them apart, and the first frame it declares
        self.invariants.first_frame = self.first_frame_type
        self.invariants.shape = FrameShape.of(self.contract)

    def for_probe(self, probe_id: str) -> ProbeContext:
        """The context of one probe of the run: its own id and open sessions; the run's state, counters,
        caches and options shared."""
        return replace(self, probe_id=probe_id, open_sessions=set())

    @property
    def session_cookie(self) -> str | None:
        """The Cookie header of a cookie-session login, sent on authenticated upgrades (contract login.session:
        cookie)."""
        return self.state.session_cookie

    @session_cookie.setter
    def session_cookie(self, value: str | None) -> None:
        self.state.session_cookie = value

    @property
    def auto_token(self) -> str | None:
        """The run's credential for sessions of a contract that serves no anonymous one (the suite logs in once)."""
        return self.state.auto_token

    @auto_token.setter
    def auto_token(self, value: str | None) -> None:
        self.state.auto_token = value

    @property
    def _control(self) -> Any:
        """The control case of the negative-token probes, judged once per run."""
        return self.state.control

    @_control.setter
    def _control(self, value: Any) -> None:
        self.state.control = value

    def quiet(self, bound: float) -> float:
        """How long to watch, once the expected frame has come, for what must not follow it (a close, a second
        frame): ten times the run's 99th-percentile round trip (of those measured without our own load when there is
        none now, see :class:`Pace`), at least :data:`QUIET_FLOOR_S` (times the timeout scale when it
        is above 1), at most ``bound`` (the configured window, also used before the run has seen enough round
        trips). A healthy local target answers in milliseconds: its probes wait tens of milliseconds for an
        absence, not a second."""
        p99 = self.state.pace.p99_ms(unloaded=not self.state.under_load())
        if p99 is None:
            return bound
        return min(bound, max(QUIET_FLOOR_S * max(1.0, self.options.timeout_scale), 10 * p99 / 1000))

    # -- target facts ------------------------------------------------------
    @property
    def first_frame_type(self) -> str | None:
        """The kind of the first frame of every session, as the contract declares it (None: none declared,
        so none is awaited)."""
        ff = self.contract.first_frame
        return ff.type if ff else None

    @property
    def first_frame_word(self) -> str:
        """The first frame in the contract's words (its message, ``hello`` for ``op: 10``), for what probes write."""
        ff = self.contract.first_frame
        return f"'{self.contract.kind_word(ff.type)}'" if ff else "the upgrade"

    @property
    def round_trip_words(self) -> tuple[str, str]:
        """The round trip's request and answer in the contract's words (``heartbeat``, ``heartbeatAck``), for what
        probes write; plain words where the contract declares none."""
        op = self.contract.round_trip()
        req = op.request.word if op is not None and op.request is not None else "round-trip request"
        ans = op.answer.word if op is not None and op.answer is not None else "answer"
        return req, ans

    @property
    def lockout_attempts(self) -> int:
        """How many failed authentications the lockout probes send: the option when given,
        else the contract's ``limits.lockout.failures`` (10 when it declares none)."""
        if self.options.lockout_attempts is not None:
            return int(self.options.lockout_attempts)
        return lockout_failures(self.contract) or LOCKOUT_FAILURES

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

    def ws_url_with(self, *, token: str | None = None, path: str | None = None, anonymous: bool = False) -> str:
        """The WebSocket URL with a token query or another path (the run's own credential where the contract
        serves no anonymous session, unless ``anonymous`` on purpose)."""
        return str(self.upgrade_with(token=token, path=path, anonymous=anonymous)["url"])

    def upgrade_with(
        self, *, token: str | None = None, path: str | None = None, anonymous: bool = False
    ) -> dict[str, Any]:
        """The upgrade as the contract wants it, as keyword arguments of :func:`~.flow.timed_connect`: ``url``,
        ``headers`` (the run's extra headers and the credential's) and ``subprotocols`` (the contract's and the
        credential's); the run's own credential where the contract serves no anonymous session, unless
        ``anonymous`` on purpose."""
        up = self.contract.upgrade
        if token is None and not anonymous and up is not None and not up.anonymous:
            token = self.auto_token
        url, carried, protocols = upgrade_target(self.contract, self.ws_url, token, path=path)
        return {"url": url, "headers": {**self.extra_headers, **carried}, "subprotocols": protocols}

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

    def sample(
        self,
        metric: str,
        value_ms: float | None,
        *,
        t_offset_s: float,
        concurrency: int = 1,
        conn_index: int = 0,
        ok: bool = True,
    ) -> None:
        """Record one sample row (a round trip of an unloaded target also paces the run's quiet windows, :meth:`quiet`).

        ``concurrency`` is the load of ours on the target while measuring: the connections a probe holds open at
        once (the ramp's level), and at least the number of the run's probes running at that moment. A sample
        taken beside other probes (the together stage) is thus never counted with the quiet ones
        (``concurrency == 1``), which the latency table and the service-level targets judge."""
        concurrency = max(concurrency, len(self.state.running))
        if ok and value_ms is not None and metric.startswith("rtt_ms") and concurrency <= 1:
            self.state.pace.note(value_ms)
        self.recorder.sample(
            sample_record(
                probe_id=self.probe_id,
                metric=metric,
                value_ms=value_ms,
                t_offset_s=t_offset_s,
                concurrency=concurrency,
                conn_index=conn_index,
                ok=ok,
            )
        )


#: failed authentications the lockout probes send when neither the option nor the contract says
LOCKOUT_FAILURES = 10


def lockout_failures(contract: Contract | None) -> int | None:
    """The contract's lockout threshold (``limits.lockout.failures``), or None (pure)."""
    lim = contract.limit("lockout") if contract is not None else None
    return int(lim["failures"]) if lim is not None and lim.get("failures") else None


LOCKOUT_WORDS = ("too many failed", "locked", "lockout", "too many attempts")


def is_lockout_close(code: int | None, reason: str | None) -> bool:
    """Whether a close is a failed-authentication lockout (pure).

    RFC 6455 §7.4.1: 1008 is the policy-violation code; the contract's lockout
    reason is "Too many failed connection attempts".
    """
    return code == 1008 and any(w in (reason or "").lower() for w in LOCKOUT_WORDS)


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


class NoFirstFrame(Exception):
    """A session that never got its first frame (``what``: the contract's, in its words): raised to end a probe at once.

    Control flow, not under PitcheyAnalysisError: a failure of the target, which :func:`classify` makes a record.
    """

    def __init__(self, close_code: int | None = None, close_reason: str | None = None, what: str = "first") -> None:
        super().__init__(f"no {what} frame (closed {close_code})" if close_code else f"no {what} frame")
        self.close_code, self.close_reason, self.what = close_code, close_reason, what


def classify(exc: BaseException) -> Result:
    """Turn an exception from a network operation into a result (pure).

    The reason codes follow the phase that failed (connect, TLS, upgrade,
    answer, close), as httpx splits its exceptions.
    """
    if isinstance(exc, Stop):
        return exc.result
    if isinstance(exc, NoFirstFrame):
        if exc.close_code:
            return Result.closed(exc.close_code, exc.close_reason, f"no {exc.what} frame")
        return Result(Outcome.FAIL, "no_answer", f"no {exc.what} frame within the timeout")
    os_error = getattr(exc, "os_error", None)  # aiohttp wraps the socket's error (ClientConnectorError)
    if isinstance(os_error, OSError) and os_error is not exc:
        return classify(os_error)
    if isinstance(exc, wsexc.InvalidStatus):
        status = exc.response.status_code
        return Result(
            Outcome.FAIL, "upgrade_rejected", f"upgrade answered HTTP {status} instead of 101", {"status": status}
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        return Result(Outcome.FAIL, "tls_error", f"certificate not verified: {exc.verify_message}")
    if isinstance(exc, ssl.SSLError):
        return Result(Outcome.FAIL, "tls_error", f"TLS failed: {exc.reason or exc}")
    if isinstance(exc, ConnectionRefusedError):
        return Result(Outcome.ERROR, "connect_refused", "connection refused: nothing listens at the target")
    if isinstance(exc, wsexc.ConnectionClosed):
        rcvd = exc.rcvd
        code = rcvd.code if rcvd else 1006
        reason = rcvd.reason if rcvd else ""
        return Result.closed(code, reason, "connection closed")
    if isinstance(exc, wsexc.InvalidState) or (isinstance(exc, RuntimeError) and "write_eof" in str(exc)):
        # Sending on a connection the target is closing (e.g. a lockout close mid-probe).
        return Result(
            Outcome.FAIL, "closed_1006", f"the target closed the connection under the probe ({exc})", close_code=1006
        )
    if isinstance(exc, (wsexc.InvalidHandshake, wsexc.InvalidMessage)):
        return Result(Outcome.FAIL, "bad_handshake", f"invalid upgrade answer: {exc}")
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return Result(Outcome.FAIL, "connect_timeout", "the operation timed out")
    if isinstance(exc, OSError):
        return Result(Outcome.ERROR, "network_error", f"{type(exc).__name__}: {exc.strerror or exc}")
    return Result(Outcome.ERROR, "probe_error", f"{type(exc).__name__}: {exc}")


def catalogue_frame() -> Any:
    """The probe catalogue as a DataFrame: probe, category, critical, expected (printed in the report)."""
    import pandas as pd

    return pd.DataFrame(
        [
            {"probe": s.name, "category": s.category, "critical": s.critical, "expected": s.expected}
            for s in CATALOGUE.values()
        ]
    )
