"""What a shard is asked to do and what it hands back (plain data, picklable)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

TOPIC = "pitchey-load-progress"


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
    max_samples: int = 5_000_000
    subscribe: str | None = None  # a channel to subscribe to after 'connected' (fan-out measurements)
    await_first_frame: bool = True  # Pitchey sends 'connected' first; a plain echo target sends nothing
    cafile: str | None = None  # CA certificate for wss:// targets
    insecure: bool = False  # do not verify certificates (recorded by the caller)


@dataclass
class ShardResult:
    """Raw samples and counts of one shard (numpy arrays travel cheaply between processes)."""

    shard: int
    host: str
    pid: int
    connections: int = 0  # connections asked of this shard (its conn_index runs 0..connections-1)
    metric: list[str] = field(default_factory=list)
    value_ms: np.ndarray | None = None
    t_offset_s: np.ndarray | None = None
    conn_index: np.ndarray | None = None
    ok: np.ndarray | None = None
    opened: int = 0
    max_open: int = 0
    held: int = 0
    sent: int = 0
    answered: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    close_codes: dict[int, int] = field(default_factory=dict)
    cpu_s: float = 0.0
    wall_s: float = 0.0
    peak_rss_mb: float = 0.0
    push_arrivals: list[float] = field(default_factory=list)  # epoch seconds of pushed frames (first per connection)
