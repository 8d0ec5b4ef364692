"""What a run is given: the suite's options (waits scaled, the contract's intervals and limits as defaults), the
embedded server's knobs and users, and :class:`SuiteConfig`, everything a run needs besides the target."""

from __future__ import annotations

import dataclasses
import ssl
from typing import Any

from .. import demo
from ..config import time_unit
from ..contract import Contract, default_contract
from ..demo import DEMO_PASSWORD
from ..exceptions import UsageError
from ..net import client_ssl_context
from ..probes import Credentials, Options
from ..probes.base import lockout_failures
from .schedule import PARALLEL

SUITES = ("quick", "full")
#: The run budget of each suite (``--deadline`` overrides it), in seconds.
DEADLINES = {"quick": 180.0, "full": 600.0}
#: Options of the quick suite (≤ 20 s against a local target).
#: Knobs of the embedded server during a run: short intervals so that pushes
#: and pings are observed within the run (recorded in the manifest).
EMBEDDED_KNOBS = {"dashboard_interval": 1.0, "ping_interval": 2.0, "ping_timeout": 10.0}
QUICK = {
    "timeout_s": 3.0,
    "connect_samples": 20,
    "rtt_samples": 60,
    "rtt_per_session": 60,
    "concurrency_levels": (1, 10, 50),
    "reconnect_samples": 2,
    "burst_size": 160,
    "server_ping_wait_s": 3.0,
    "push_timeout_s": 3.0,
    "push_interval_s": EMBEDDED_KNOBS["dashboard_interval"],
    "server_ping_interval_s": EMBEDDED_KNOBS["ping_interval"],
    "handshake_bound_s": 5.0,
    "sustain_window_s": 5.0,
}
#: The embedded target's users (pitchey_analysis/demo.py), as the probes' credentials.
DEMO_USERS = {
    u.user_type: Credentials(u.email, DEMO_PASSWORD, u.login_type) for u in demo.DEMO_USERS if u.user_type != "admin"
}
DEMO_ADMIN = Credentials(demo.BY_TYPE["admin"].email, DEMO_PASSWORD, demo.BY_TYPE["admin"].login_type)


@dataclasses.dataclass
class SuiteConfig:
    """Everything a run needs besides the target."""

    suite: str = "full"
    options: Options = dataclasses.field(default_factory=Options)
    user: Credentials | None = None
    users: dict[str, Credentials] = dataclasses.field(default_factory=dict)
    admin: Credentials | None = None
    jwt_secret: str | None = None
    cafile: str | None = None
    insecure: bool = False
    extra_headers: dict[str, str] = dataclasses.field(default_factory=dict)
    allow_disruptive: bool = False
    only: list[str] | None = None
    progress: bool = True
    #: the run's budget in seconds (None: the suite's default, see DEADLINES)
    deadline_s: float | None = None
    #: check reachability, the upgrade and every login before the suite (user mistakes exit early)
    preflight: bool = True
    #: the service contract the run judges against (stored verbatim in the run directory)
    contract: Contract = dataclasses.field(default_factory=default_contract)
    #: one probe at a time, in catalogue order (``run --sequential``); else the schedule of
    #: pitchey_analysis/runner/schedule.py
    sequential: bool = False
    #: probes of the together stage running at once (``run --parallel``)
    parallel: int = PARALLEL
    #: one run of ``run --repeat N``: its group, its index and N (recorded in the manifest)
    repeat: dict[str, Any] | None = None
    #: modules the caller uses once the run ends (the CLI: its verdict summary), imported while only the holds wait
    warm: tuple[str, ...] = ()

    def credentials(self) -> list[Credentials]:
        """Every distinct user credential (the main user first), without the admin."""
        out: dict[tuple[str, str], Credentials] = {}
        for c in [self.user, *self.users.values()]:
            if c is not None:
                out.setdefault((c.user_type, c.email), c)
        return list(out.values())


def ssl_context_for(cfg: SuiteConfig) -> ssl.SSLContext:
    """Verify against ``--cafile`` (or the system store); ``--insecure`` is recorded, never silent."""
    return client_ssl_context(cfg.cafile, cfg.insecure)


#: What is added to a contract's interval to wait for the push or ping it promises (seconds).
PUSH_MARGIN_S, PING_MARGIN_S = 2.0, 5.0


def contract_waits(contract: Contract | None) -> dict[str, float]:
    """The waits a contract's intervals imply (pure): a push within the interval channel's
    ``intervalSeconds`` + 2 s, a server ping within ``limits.serverPing.intervalSeconds`` + 5 s
    (Pitchey: 7 s and 35 s). What the contract does not declare keeps the default."""
    out: dict[str, float] = {}
    if contract is None:
        return out
    ch = contract.push_channel()
    if ch is not None and ch.interval_s:
        out["push_timeout_s"] = float(ch.interval_s) + PUSH_MARGIN_S
    ping = contract.limit("serverPing")
    if ping is not None and ping.get("intervalSeconds"):
        out["server_ping_wait_s"] = float(ping["intervalSeconds"]) + PING_MARGIN_S
    return out


def contract_intervals(contract: Contract | None) -> dict[str, float]:
    """The target's own intervals inside :func:`contract_waits`' waits (pure): the push channel's
    ``intervalSeconds`` and the server ping's, as ``push_interval_s`` and ``server_ping_interval_s``."""
    out: dict[str, float] = {}
    if contract is None:
        return out
    ch = contract.push_channel()
    if ch is not None and ch.interval_s:
        out["push_interval_s"] = float(ch.interval_s)
    ping = contract.limit("serverPing")
    if ping is not None and ping.get("intervalSeconds"):
        out["server_ping_interval_s"] = float(ping["intervalSeconds"])
    return out


def make_options(
    suite: str, *, scale: float | None = None, contract: Contract | None = None, **overrides: Any
) -> Options:
    """Options for a suite, with the timeout scale applied and overrides on top.

    The contract's values are the defaults the overrides (the CLI's options) replace:
    its intervals (below) and its lockout threshold (``limits.lockout.failures`` as
    ``lockout_attempts``, in both suites).

    ``scale`` multiplies every wait (default: ``$PITCHEY_TIMEOUT_SCALE``, the tests' unit, else 1);
    it is recorded in the options (``timeout_scale``) and so in the manifest. The full suite waits
    for pushes and server pings as long as the contract's intervals say (:func:`contract_waits`);
    the quick suite keeps its short waits (a smoke check against the embedded server's short knobs).
    """
    base: dict[str, Any] = (
        dict(QUICK) if suite == "quick" else {**contract_waits(contract), **contract_intervals(contract)}
    )
    failures = lockout_failures(contract)
    if failures is not None:
        base["lockout_attempts"] = failures
    level = (contract.targets.get("concurrency") or {}).get("level") if contract is not None else None
    if isinstance(level, int) and level > 0:
        # the ramp is sized by the contract's declared level: up to it and at most twice it (--concurrency overrides),
        # so that the tool's own load never wedges a target far beyond what it promises
        default = base.get("concurrency_levels") or Options().concurrency_levels
        base["concurrency_levels"] = tuple(sorted({lv for lv in default if lv <= 2 * level} | {level}))
    base.update({k: v for k, v in overrides.items() if v is not None})
    scale = time_unit() if scale is None else scale
    if scale <= 0:
        raise UsageError("the timeout scale must be positive")
    return Options(**base).scaled(scale)
