"""What a load run is asked to do: the user's choices as one frozen :class:`LoadPlan`, checked once, recorded once.

The plan is made once (by the ``load`` command from its options, by a benchmark or a test directly) and handed to
every layer: :func:`~.capture.capture_load` writes its :meth:`~LoadPlan.manifest_record` into the run's manifest
(``config``) and runs its :meth:`~LoadPlan.schedule` level by level through :func:`~.orchestrate.run_load`, which
makes the shards' :class:`~.spec.ShardSpec` from it. Secrets are not in it: the admin token and the users (who carry
their tokens) are handed beside it. Plain data, like :mod:`.spec`: importing this module loads neither the engine
nor Dask.
"""

from __future__ import annotations

import ipaddress
from dataclasses import KW_ONLY, dataclass
from typing import Any
from urllib.parse import urlsplit

from ..exceptions import UsageError
from ..net import check_target
from .spec import ROUND_TRIP, Operation, ShardSpec

#: the load models (see :mod:`pitchey_analysis.load`)
MODELS = ("open", "closed", "hold")
#: the shards' tuning values the manifest records (``config.shard``)
RECORDED_SHARD_OPTIONS = ("flush_s", "lag_probe_s", "late_bound_s", "drop_after_s", "answer_timeout")
#: file descriptors a worker keeps for itself beside its connections (Python, Dask, the run's files)
FILES_SPARE = 200


def open_files_limit() -> int:
    """The file descriptors a process (so each local worker, which inherits it) may open: the soft ``RLIMIT_NOFILE``."""
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 30


def source_address_problem(url: str, addresses: tuple[str, ...]) -> str | None:
    """What is wrong with the source addresses for ``url``, in one line, or None.

    Each must be an IP address (``bind`` would resolve a name once per connection) of the target's family when the
    target's host is an address (an IPv4 source cannot reach an IPv6 target, nor the other way round).
    """
    try:
        target = ipaddress.ip_address((urlsplit(url).hostname or "").strip("[]"))
    except ValueError:
        target = None  # a host name: its family is known only once resolved
    for a in addresses:
        try:
            ip = ipaddress.ip_address(a)
        except ValueError:
            return f"source address {a!r} is not an IP address"
        if target is not None and ip.version != target.version:
            return f"source address {a} is IPv{ip.version} but the target {target} is IPv{target.version}"
    return None


@dataclass(frozen=True)
class Level:
    """One level of a plan's schedule: one probe record of the run, one :func:`~.orchestrate.run_load`.

    ``stages`` ((connections, seconds), ...) make it a continuous ramp (``connections`` is then the largest stage,
    ``duration_s`` their sum) whose users' rates are multiplied by ``stage_rates`` stage by stage; otherwise the
    users' rates (the plan's ``rate_per_conn`` without users) are multiplied by ``rate_scale`` for the whole level.
    """

    connections: int
    duration_s: float
    kind: str = "load.level"  # load.level | load.ramp
    stages: tuple[tuple[int, float], ...] = ()
    stage_rates: tuple[float, ...] = ()
    rate_scale: float = 1.0

    @property
    def name(self) -> str:
        """The level's probe name (``load.level_100``, ``load.ramp_40``)."""
        return f"{self.kind}_{self.connections}"


@dataclass(frozen=True)
class LoadPlan:
    """Every choice of a load run that is the user's, checked when made (:class:`UsageError` naming the ``load``
    command's option for each problem, all of them in one message).

    ``levels`` run one after another for ``duration_s`` each; ``stages`` ((connections, seconds), ...), when given,
    run instead, one after another as levels or with ``ramp`` as one continuous level whose connections join and
    leave at the stage bounds; ``stage_rates`` (one per stage) multiply the users' rates (``rate_per_conn``
    without users) in their stage. The target's session count is polled every ``poll_s`` from before the load
    until ``settle_s`` after it. A run is saturated (its latency not verified) when more than ``max_share`` of
    the generator's time is in windows with a loop lag over ``lag_bound_ms``. The fields from ``message_bytes``
    on are the shards' (:class:`~.spec.ShardSpec`'s fields of the same names, their defaults too).
    """

    url: str
    _: KW_ONLY
    levels: tuple[int, ...] = ()
    duration_s: float = 10.0
    model: str = "open"  # open | closed | hold
    rate_per_conn: float = 1.0  # open model: messages per second per connection
    workers: int = 2  # shards; 0: one shard in a thread of this process, without Dask
    scheduler: str | None = None  # a Dask scheduler's address; None: a local cluster
    source_addresses: tuple[str, ...] = ()
    settle_s: float = 2.0
    poll_s: float = 1.0
    cafile: str | None = None  # CA certificate for wss:// targets
    insecure: bool = False  # do not verify certificates
    lag_bound_ms: float = 50.0
    max_share: float = 0.1
    stages: tuple[tuple[int, float], ...] | None = None
    stage_rates: tuple[float, ...] | None = None
    ramp: bool = False
    message_bytes: int = ShardSpec.message_bytes
    connect_rate: float = ShardSpec.connect_rate  # new connections per second over all shards
    seed: int = ShardSpec.seed
    handshake_timeout: float = ShardSpec.handshake_timeout
    answer_timeout: float = ShardSpec.answer_timeout
    subscribe: str | None = ShardSpec.subscribe
    await_first_frame: bool | None = ShardSpec.await_first_frame
    ping: Operation = ROUND_TRIP
    flush_s: float = ShardSpec.flush_s
    lag_probe_s: float = ShardSpec.lag_probe_s
    late_bound_s: float = ShardSpec.late_bound_s
    drop_after_s: float = ShardSpec.drop_after_s

    def __post_init__(self) -> None:
        # sequences as tuples whatever was given (a scenario's lists): the plan is hashable and compares by value
        set_ = object.__setattr__
        set_(self, "levels", tuple(self.levels))
        set_(self, "source_addresses", tuple(self.source_addresses))
        if self.stages is not None:
            set_(self, "stages", tuple((n, d) for n, d in self.stages))
        if self.stage_rates is not None:
            set_(self, "stage_rates", tuple(self.stage_rates))
        bad = self.problems()
        if bad:
            raise UsageError("; ".join(bad))

    def problems(self) -> list[str]:
        """What cannot work in this plan, each naming the ``load`` command's option (pure but for the open-files
        limit)."""
        levels = self.levels
        most = max([*levels, *(n for n, _ in self.stages or ())], default=0)
        bad = [
            f"{name} must be {rule}"
            for name, ok, rule in (
                (
                    "--connections" if len(levels) == 1 else "--levels",
                    all(n >= 1 for n in levels),
                    "at least 1" if len(levels) == 1 else "at least 1 each",
                ),
                ("--duration", bool(self.stages) or self.duration_s > 0, "positive"),
                ("--rate", self.rate_per_conn >= 0, "0 (closed model) or positive"),
                ("--workers", self.workers >= 0, "0 (in this process) or more"),
                ("--settle", self.settle_s >= 0, "0 or more"),
            )
            if not ok
        ]
        if not levels and not self.stages:
            bad.append("no level to run: give levels or stages")
        if self.model not in MODELS:
            bad.append(f"the model must be one of {', '.join(MODELS)}, not {self.model!r}")
        rates = self.stage_rates or ()
        if rates and (not self.stages or len(rates) != len(self.stages)):
            bad.append(f"{len(rates)} stage rates for {len(self.stages or ())} stages")
        if not self.scheduler:  # local workers: each holds its share of the connections, one file descriptor each
            per_worker = -(-most // max(1, self.workers))
            limit = open_files_limit()
            if per_worker > limit - FILES_SPARE:
                bad.append(
                    f"--connections {most:,} over {max(1, self.workers)} worker(s) is {per_worker:,} connections a "
                    "worker, "
                    f"and a worker may open {limit:,} files ({limit - FILES_SPARE:,} connections; `ulimit -n`): "
                    "raise the limit or --workers"
                )
        try:
            check_target(self.url)
        except UsageError as exc:
            bad.append(str(exc))
        problem = source_address_problem(self.url, self.source_addresses)
        if problem:
            bad.append(f"--source-address: {problem}")
        return bad

    def schedule(self) -> tuple[Level, ...]:
        """The levels the run is made of, in order (pure)."""
        rates = self.stage_rates or ()
        if (
            self.stages and self.ramp
        ):  # one level: the connections join and leave at the stage bounds, the rates change at them
            return (
                Level(max(n for n, _ in self.stages), sum(d for _, d in self.stages), "load.ramp", self.stages, rates),
            )
        return tuple(
            Level(n, d, rate_scale=rates[k] if rates else 1.0)
            for k, (n, d) in enumerate(self.stages or [(n, self.duration_s) for n in self.levels])
        )

    def manifest_record(self) -> dict[str, Any]:
        """The plan as the run's manifest records it (``config``; JSON values: lists, not tuples).

        The keys and values are those runs recorded before the plan (the analysis and the report read old runs
        and new alike): the TLS options (which only the command's runs recorded then), the levels and stages,
        the model and its rate, the cluster, the polls, the saturation bounds, and the shards' tuning as ``shard``.
        """
        return {
            "cafile": self.cafile,
            "insecure": self.insecure,
            "levels": list(self.levels),
            "stages": [list(s) for s in self.stages] if self.stages is not None else None,
            "stage_rates": list(self.stage_rates) if self.stage_rates is not None else None,
            "ramp": self.ramp,
            "duration_s": self.duration_s,
            "model": self.model,
            "rate_per_conn": self.rate_per_conn,
            "workers": self.workers,
            "scheduler": self.scheduler,
            "settle_s": self.settle_s,
            "poll_s": self.poll_s,
            "source_addresses": list(self.source_addresses),
            "lag_bound_ms": self.lag_bound_ms,
            "saturated_share_max": self.max_share,
            "shard": {k: getattr(self, k) for k in RECORDED_SHARD_OPTIONS},
        }
