"""What a shard is asked to do and what it hands back (plain data, picklable)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # a shard process imports no numpy (see capture.samplestream)
    import numpy as np


@dataclass(frozen=True)
class Operation:
    """One message type a user sends, with its weight and the answer type that ends its round trip.

    ``answer=None``: the message has no answer (e.g. ``typing_start``); it is counted, not timed.
    """

    type: str
    weight: float = 1.0
    answer: str | None = None
    fields: tuple[tuple[str, Any], ...] = ()  # extra JSON fields of the message

    def metric(self) -> str:
        """The samples' metric name: ``rtt_ms`` for ping (as the probe suite names it), ``rtt_ms:<type>`` otherwise."""
        return "rtt_ms" if self.type == "ping" else f"rtt_ms:{self.type}"


#: the closed and hold models' request: Pitchey (PROTOCOL.md) answers ``ping`` with ``pong``
PING = Operation("ping", 1.0, "pong")
#: the same request to a plain echo target, which answers a message with the message itself
ECHO_PING = Operation("ping", 1.0, "ping")

#: answers the Pitchey contract gives (PROTOCOL.md); a scenario may name others
DEFAULT_ANSWERS = {"ping": "pong", "get_dashboard_metrics": "dashboard_metrics", "request_initial_data": "initial_data",
                   "presence_update": "presence_updated", "send_message": "message_sent", "subscribe": "subscription_confirmed",
                   "unsubscribe": "unsubscribed", "auth": "auth_success"}


@dataclass(frozen=True)
class UserSpec:
    """A kind of user of a scenario: who it is, what it sends and how long it stays."""

    name: str = "anonymous"
    weight: float = 1.0
    token: str | None = None  # a secret: set by the parent after logging in, never recorded
    rate_per_s: float = 1.0  # messages per second per connection (open model)
    operations: tuple[Operation, ...] = (Operation("ping", 1.0, "pong"),)
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
    subscribe: str | None = None  # a channel to subscribe to after 'connected' (fan-out measurements)
    await_first_frame: bool = True  # Pitchey sends 'connected' first; a plain echo target sends nothing
    ping: Operation = PING  # the closed and hold models' request and its answer type (ECHO_PING for a plain echo target)
    cafile: str | None = None  # CA certificate for wss:// targets
    insecure: bool = False  # do not verify certificates (recorded by the caller)
    users: tuple[UserSpec, ...] = ()  # a scenario's users (open model); empty: anonymous pings at rate_per_conn
    stages: tuple[tuple[int, float], ...] = ()  # a continuous ramp (open model): (this shard's connections, seconds) in turn
    stage_rates: tuple[float, ...] = ()  # per stage: the users' rates times this (empty: 1 in every stage)
    flush_s: float = 0.5  # samples and generator figures are handed on at least this often
    lag_probe_s: float = 0.01  # the event loop's lag is sampled this often
    late_bound_s: float = 0.05  # a send later than this after its scheduled time is counted late
    drop_after_s: float = 1.0  # a send this far behind schedule is not made and counted dropped (k6's dropped iterations)
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
