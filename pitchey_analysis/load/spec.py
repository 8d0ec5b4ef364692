"""What a shard is asked to do and what it hands back (plain data, picklable)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # a shard process imports no numpy (see capture.samplestream)
    import numpy as np


@dataclass(frozen=True)
class Operation:
    """One request a user sends, with its weight: made from the contract by the parent (:mod:`.plan`).

    Before it is made, ``type`` names the contract's operation by the kind of its request (``""``: the contract's
    round trip, see :meth:`~pitchey_analysis.contract.Contract.round_trip`) and ``fields`` the top-level fields set
    over its example. Made, it carries the request's JSON text around its id slot (``head + id + tail``, the id a
    JSON number for ``id_kind`` ``int``, a string for ``str``; no slot: ``head`` as is) and how its answer is known:
    with ``correlated``, the frame carrying its id back where the contract's answers carry one, of one of the kinds
    ``answers``; else the first frame of kind ``answers[0]``. ``answer`` names the answer (``None``: the request has
    none, e.g. ``typing_start``; it is counted, not timed). A shard only reads these fields: it imports no contract.
    """

    type: str = ""
    weight: float = 1.0
    answer: str | None = None
    fields: tuple[tuple[str, Any], ...] = ()  # top-level fields set over the contract's example
    echo: bool = False  # a plain echo target: the answer is the request itself (its own kind)
    head: str = ""
    tail: str = ""
    id_kind: str = ""  # int | str | "" (no id slot)
    id_at: tuple[str, ...] = ()  # where the request carries its id (a JSON pointer's keys)
    correlated: bool = False
    answers: tuple[str, ...] = ()  # the kinds (as a shard reads them: "" for none) that end its round trip
    pad: bool = False  # padded to the shard's message_bytes (the round trip, where its schema allows more fields)
    metric_name: str = ""

    @property
    def made(self) -> bool:
        """Whether the request's text has been made from the contract."""
        return bool(self.head)

    def metric(self) -> str:
        """The samples' metric name: ``rtt_ms`` for the contract's round trip (as the probe suite names it),
        ``rtt_ms:<type>`` otherwise."""
        return self.metric_name or f"rtt_ms:{self.type}"


#: the closed and hold models' request: the contract's round trip (its ``ping`` when declared)
ROUND_TRIP = Operation()
#: the same request to a plain echo target, which answers a message with the message itself
ECHO_PING = Operation(echo=True)


@dataclass(frozen=True)
class Wire:
    """How a shard reads the target's frames, made from the contract by the parent (:mod:`.plan`): plain data.

    Pointers are JSON pointers split into their keys. ``answer_at``: where answers carry a request's correlation
    id back; ``echo_at``: (answer kind, where) for answers matched by kind that carry the request's own id back
    (their request stamped it there), so that a late answer is never taken for the next request's.
    """

    kind_at: tuple[str, ...] = ()
    answer_at: tuple[tuple[str, ...], ...] = ()
    echo_at: tuple[tuple[str, tuple[str, ...]], ...] = ()
    batch: bool = False  # a frame holding a JSON array is several messages
    arrays: bool = False  # a frame holding a JSON array is one message, read at the pointers as an object is
    reply_kinds: frozenset[str] = frozenset()  # kinds that answer a request (never taken for pushes)
    error_kinds: frozenset[str] = frozenset()  # an answer of one of these kinds is an error
    error_at: tuple[str, ...] | None = None  # an answer with a value here is an error (equal to error_equals when
    error_equals: tuple[Any, ...] = ()  # one is given: a 1-tuple)
    first_frame: str | None = None  # the kind of the frame awaited before anything is sent ("": any; None: none)
    auth_ok: str | None = None  # first-message authentication: the kind that accepts it
    auth_refused: frozenset[str] = frozenset()
    subscribe: tuple[tuple[str, Operation], ...] = ()  # per channel, its subscribe request


@dataclass(frozen=True)
class Connect:
    """How one user's connections open: the upgrade's URL and headers, and the first message (the credential carried
    the contract's way; a secret: made by the parent, never recorded)."""

    url: str
    headers: tuple[tuple[str, str], ...] = ()
    auth: str | None = None


@dataclass(frozen=True)
class UserSpec:
    """A kind of user of a scenario: who it is, what it sends and how long it stays."""

    name: str = "anonymous"
    weight: float = 1.0
    token: str | None = None  # a secret: set by the parent after logging in, never recorded
    rate_per_s: float = 1.0  # messages per second per connection (open model)
    operations: tuple[Operation, ...] = (ROUND_TRIP,)
    channels: tuple[str, ...] = ()
    session_s: float | None = None  # churn: leave after this long and connect again (0: right after 'connected')
    rejoin_s: float = 0.0  # churn: pause between leaving and connecting again


@dataclass
class ShardSpec:
    """What one shard does."""

    url: str
    connections: int
    duration_s: float
    model: str = "open"  # open | closed | hold
    rate_per_conn: float = 1.0  # open model: messages per second per connection
    message_bytes: int = 100
    source_addresses: tuple[str, ...] = ()
    connect_rate: float = 2000.0  # new connections per second in this shard
    shard: int = 0
    run_start: float = 0.0  # epoch seconds of the run's start
    seed: int = 0
    handshake_timeout: float = 10.0
    answer_timeout: float = 10.0
    subscribe: str | None = None  # a channel to subscribe to once the session began (fan-out measurements)
    await_first_frame: bool | None = (
        None  # None: as the contract declares; False: never (a plain echo target sends nothing)
    )
    ping: Operation = ROUND_TRIP  # the closed and hold models' request (ECHO_PING for a plain echo target)
    cafile: str | None = None  # CA certificate for wss:// targets
    insecure: bool = False  # do not verify certificates (recorded by the caller)
    users: tuple[UserSpec, ...] = ()  # a scenario's users (open model); empty: anonymous round trips at rate_per_conn
    wire: Wire | None = None  # None: not yet made from the contract (run_load makes it; run_shard with Pitchey's)
    connects: tuple[Connect, ...] = ()  # per user (in the order of ``users``; the anonymous user without them)
    stages: tuple[
        tuple[int, float], ...
    ] = ()  # a continuous ramp (open model): (this shard's connections, seconds) in turn
    stage_rates: tuple[float, ...] = ()  # per stage: the users' rates times this (empty: 1 in every stage)
    flush_s: float = 0.5  # samples and generator figures are handed on at least this often
    lag_probe_s: float = 0.01  # the event loop's lag is sampled this often
    late_bound_s: float = 0.05  # a send later than this after its scheduled time is counted late
    drop_after_s: float = (
        1.0  # a send this far behind schedule is not made and counted dropped (k6's dropped iterations)
    )
    conn_offset: int = 0  # this shard's connection i is the run's connection conn_offset + i (its samples' conn_index)
    probe_id: str = ""  # the samples' probe_id (the level's probe record)
    concurrency: int = 0  # the samples' concurrency (the level: connections over all shards)


@dataclass
class ShardResult:
    """Counts of one shard; the samples themselves too when no sink took them on the way."""

    shard: int
    host: str
    pid: int
    connections: int = 0  # connections asked of this shard (its conn_index runs conn_offset..conn_offset+connections-1)
    metric: np.ndarray | list[str] = field(default_factory=list)
    value_ms: np.ndarray | None = None
    t_offset_s: np.ndarray | None = None
    conn_index: np.ndarray | None = None
    ok: np.ndarray | None = None
    opened: int = 0
    max_open: int = 0
    held: int = 0
    sent: int = 0
    answered: int = 0
    late: int = 0
    dropped: int = 0
    left: int = 0  # churn: times a connection left on purpose (and came back)
    samples: int = 0  # samples taken (handed on or kept here): every one, no cap
    errors: dict[str, int] = field(default_factory=dict)
    error_examples: dict[str, str] = field(default_factory=dict)  # kind -> the first one's message (tokens masked)
    close_codes: dict[str, int] = field(default_factory=dict)  # "code reason" -> count, closes the target initiated
    cpu_s: float = 0.0
    wall_s: float = 0.0
    peak_rss_mb: float = 0.0
    push_arrivals: list[float] = field(default_factory=list)  # epoch seconds of pushed frames (first per connection)
    health: list[dict[str, Any]] = field(default_factory=list)  # generator windows (kept when no sink took them)
