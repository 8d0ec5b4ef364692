"""Server profiles: which behaviours of the contract are on, and which defects.

A :class:`Profile` is plain data. ``complete`` implements PROTOCOL.md Part A;
``pitchey-2025-11`` switches on the defects of Part B (all but item 6). Every
Part A behaviour that a probe checks can also be switched off alone, so that a
test can show a probe failing against a server that lacks exactly that feature.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import cast

from ..exceptions import UsageError

#: Part A behaviours that can be switched off one at a time (name -> meaning).
FEATURES: dict[str, str] = {
    "security_headers": "security headers on every HTTP response",
    "origin_check": "Origin allow-list on the upgrade (403 otherwise)",
    "size_limit": "close 1009 for messages over 64 KiB",
    "rate_limit": "token bucket with rate_limited errors and close 1008",
    "lockout": "close 1008 after 10 failed authentications from one address",
    "no_stack_traces": "error bodies never contain a stack trace",
    "health_live": "/api/ws/health reports live figures",
    "stats_auth": "/api/ws/stats needs an admin token",
    "header_auth": "Authorization: Bearer accepted on the upgrade",
    "query_auth": "?token= accepted on the upgrade",
    "exp_check": "expired tokens refused",
    "aud_check": "iss and aud of tokens checked",
    "alg_allowlist": "only HS256 accepted (alg:none refused)",
    "server_ping": "WebSocket ping control frames from the server",
    "idle_timeout": "close 1000 'Session timeout' after the idle interval",
    "send_queue_limit": "bounded per-connection send queue (close 1008 on overflow)",
    "graceful_close": "answer a client close with the same code",
    "answer_pong": "answer ping",
    "answer_auth": "answer auth",
    "answer_subscribe": "answer subscribe",
    "answer_unsubscribe": "answer unsubscribe",
    "answer_dashboard_metrics": "answer get_dashboard_metrics",
    "answer_presence_update": "answer presence_update",
    "answer_send_message": "answer send_message",
    "answer_typing": "deliver typing_start/typing_stop",
    "answer_notification_read": "answer notification_read",
    "answer_initial_data": "answer request_initial_data",
    "answer_invalid_format": "answer invalid input with error invalid_format",
    "answer_unknown_type": "answer unknown types with error unknown_type",
    "auth_required_check": "refuse authenticated-only types on anonymous sessions",
    "push_dashboard": "dashboard_update pushes",
    "push_notifications": "notification pushes",
    "push_presence": "presence pushes",
    "push_broadcast": "POST /api/broadcast delivers to subscribers",
    "channel_acl": "user:<id> channels only for that user",
    "health_endpoint": "GET /api/health answers",
    "stats_endpoint": "GET /api/ws/stats exists",
    "token_claims": "issued tokens carry email, userType, iat, iss and aud",
    "capabilities": "connected frames list the session's capabilities",
    "signature_check": "token signatures verified",
    "bad_input_tolerance": "invalid input answered with an error, the connection kept",
    "handshake_timeout": "connections whose upgrade request is incomplete are dropped after handshake_timeout s "
    "(slow-loris)",
    # Session invariants (probes/invariants.py): each switch breaks one of them.
    "connected_first": "connected is the first frame of every session (an unknown user's error comes after it)",
    "json_frames": "every server text frame is a JSON object with a string type",
    "error_shape": "error frames carry code, message and a millisecond timestamp, and no stack trace",
    "silent_after_close": "nothing is sent after the server's close frame",
    "valid_close_codes": "only close codes RFC 6455 §7.4 allows on the wire",
    # Hardening (issue 31): each switch removes one protection against a hostile client.
    "known_type_counters": "statistics count the contract's message types only (any other under one key), unread "
    "counts known users only",
    "subscription_cap": "at most max_subscriptions channels per session, names of at most max_channel_length "
    "characters",
    "bounded_lockout": "the lockout table expires its entries and holds at most lockout_table_size keys",
    "connection_cap": "connections beyond a cap that follows the process's file limit refused with 503",
    "tls_handshake_deadline": "the TLS handshake counts toward handshake_timeout (the head deadline starts at accept)",
    "request_deadlines": "every request head within handshake_timeout, every request body within body_timeout",
    "parse_guard": "any parse failure (RecursionError included) answered invalid_format, and 400 over HTTP",
    "schema_validation": "incoming messages validated against the contract's JSON Schemas before dispatch",
    "control_frame_limit": "ping and pong control frames count toward the rate limit",
    "login_off_loop": "password hashing runs in a thread, off the event loop",
    "login_throttle": "HTTP login throttled per address and per account (429 with Retry-After)",
    "login_equal_time": "a login for an unknown email hashes a password too (same time as a wrong password)",
    "proxy_allowlist": "X-Forwarded-For believed only from --trust-proxy peers, the rightmost hop they did not add",
    "reauth_moves": "re-authentication moves the session to the new user (the old user's messages stop)",
    "mask_check": "unmasked client frames closed 1002 (RFC 6455 §5.1)",
    # Issue 25: who may call the push triggers.
    "trigger_authz": "push triggers refuse callers without the role: POST /api/notifications and /api/broadcast the "
    "non-admin (403), POST /api/ws/notify a user naming another user's id (403)",
}


class Defect(enum.IntEnum):
    """The Part B items of PROTOCOL.md by name; the value is the item's number (``Defect(15)``, ``--defect 15``)."""

    NO_AUTH_ANSWER = 1
    REQUESTS_IGNORED = 2
    PONG_WRAPPED = 3
    SECOND_CONNECTED = 4
    NO_AUTH_ERROR = 5
    SPLIT_JWT_SECRET = 6
    WS_USERS_MISSING = 7
    SHARED_FAILURE_COUNTER = 8
    RATE_LIMIT_WRAPPED = 9
    INVALID_FORMAT_WRAPPED = 10
    STATIC_HEALTH = 11
    STATS_OPEN_TO_USERS = 12
    PASSWORD_ECHO = 13
    JSON_HEARTBEAT = 14
    DROP_DURING_LOOKUP = 15
    UNTYPED_UNANSWERED = 16
    SPOOFABLE_LOCKOUT_KEY = 17
    LOOKUP_SESSION_LEAK = 18
    HARDCODED_HEALTH_ENDPOINT = 19
    FIXED_LOGIN_IDS = 20

    @classmethod
    def parse(cls, text: str | int) -> Defect:
        """A defect from its item number or its name (any case, ``-`` for ``_``): the CLI's ``--defect``."""
        if isinstance(text, int) or str(text).strip().isdigit():
            try:
                return cls(int(text))
            except ValueError:
                raise UsageError(f"no Part B item {text}; items are 1-{len(cls)}") from None
        try:
            return cls[str(text).strip().upper().replace("-", "_")]
        except KeyError:
            raise UsageError(
                f"unknown defect {text!r}; give a Part B item number or one of {', '.join(d.name.lower() for d in cls)}"
            ) from None


#: Part B items (defect -> short description), see PROTOCOL.md.
DEFECTS: dict[Defect, str] = {
    Defect.NO_AUTH_ANSWER: "post-connection auth never answered",
    Defect.REQUESTS_IGNORED: "subscribe/unsubscribe/get_dashboard_metrics/unknown types ignored",
    Defect.PONG_WRAPPED: "pong wraps data in payload and does not echo id",
    Defect.SECOND_CONNECTED: "a second connected frame follows the first",
    Defect.NO_AUTH_ERROR: "invalid upgrade token gives anonymous session without authError",
    Defect.SPLIT_JWT_SECRET: "WebSocket side uses a different JWT secret than login",
    Defect.WS_USERS_MISSING: "WebSocket user store lacks investor and production users (close 1011)",
    Defect.SHARED_FAILURE_COUNTER: "failure counter shared by all direct clients ('unknown' key)",
    Defect.RATE_LIMIT_WRAPPED: "rate limit errors wrapped in payload, no close",
    Defect.INVALID_FORMAT_WRAPPED: "non-JSON answered with payload.error instead of code",
    Defect.STATIC_HEALTH: "/api/ws/health static",
    Defect.STATS_OPEN_TO_USERS: "/api/ws/stats open to user ids 1-3",
    Defect.PASSWORD_ECHO: "creator login echoes the password",
    Defect.JSON_HEARTBEAT: "JSON heartbeat instead of ping control frames",
    Defect.DROP_DURING_LOOKUP: "messages dropped during the user lookup after connected",
    Defect.UNTYPED_UNANSWERED: "object without type gets no reply",
    Defect.SPOOFABLE_LOCKOUT_KEY: "lockout key taken from X-Forwarded-For / X-Real-IP without a trusted proxy",
    Defect.LOOKUP_SESSION_LEAK: "sessions that leave during user lookup are never removed",
    Defect.HARDCODED_HEALTH_ENDPOINT: "/api/ws/health reports a hard-coded endpoint",
    Defect.FIXED_LOGIN_IDS: "investor/production logins sign tokens for fixed ids 15/16",
}

PROFILE_NAMES = ("complete", "pitchey-2025-11")


@dataclass(frozen=True)
class Knobs:
    """Fault knobs and intervals (seconds unless said otherwise)."""

    dashboard_interval: float = 5.0
    ping_interval: float = 30.0
    ping_timeout: float = 20.0
    idle_timeout: float = 300.0
    #: added latency per message type: {type: (mean_ms, jitter_ms)}; "*" for all.
    latency_ms: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: answers of these message types are dropped.
    drop_answers: frozenset[str] = frozenset()
    #: close every connection this many seconds after it opened (None: never).
    close_after: float | None = None
    #: refuse upgrades beyond this many open sessions (None: the cap of connection_cap, or none when it is off).
    max_connections: int | None = None
    #: the file limit the connection cap follows (None: the process's soft RLIMIT_NOFILE).
    open_files: int | None = None
    #: channels one session may hold at once, and the longest channel name (characters).
    max_subscriptions: int = 64
    max_channel_length: int = 128
    #: keys the lockout table holds at most (the oldest is forgotten first).
    lockout_table_size: int = 10_000
    #: a request body must arrive within this many seconds of its head.
    body_timeout: float = 5.0
    #: failed HTTP logins allowed per address and per account within login_window_s before 429.
    login_address_limit: int = 20
    login_account_limit: int = 5
    login_window_s: float = 60.0
    send_queue_size: int = 1000
    max_message_bytes: int = 64 * 1024
    rate_bucket: int = 120
    rate_refill_per_s: float = 2.0
    lockout_threshold: int = 10
    lockout_window_s: float = 300.0
    #: lookup delay on authenticated sessions under defect 15 (min, max) ms.
    lookup_delay_ms: tuple[float, float] = (3.0, 20.0)
    #: the request head of an upgrade must arrive within this many seconds (slow-loris protection).
    handshake_timeout: float = 1.0
    #: PBKDF2-SHA256 iterations of the users' password hashes: the CPU cost of every login (the tests lower it)
    password_iterations: int = 20_000
    #: which failed authentications the lockout counts: "both", "invalid_token" or "unknown_user"
    #: (the 2025-11 deployment counted failed session set-ups only; see make_profile).
    lockout_counts: str = "both"
    #: a client-supplied header the lockout is keyed on, without a trusted proxy (a defect), e.g. "X-Real-IP".
    lockout_key_header: str | None = None
    #: layout of /api/ws/stats: "contract" (data.connections.total) or "flat" (data.totalSessions, as the real backend).
    stats_layout: str = "contract"
    #: the open-session count the stats and health endpoints report is this many seconds old (a backend that counts
    #: sessions in a background task; issue 25: read too early, a leak looked like static figures)
    session_count_lag_s: float = 0.0
    #: login types whose login answer echoes the password (Part B item 13 is the creator alone; issue 25: another type
    #: only)
    password_echo_for: frozenset[str] = frozenset()
    #: user types (``admin`` included) whose login answer carries their stored password hash (issue 25)
    password_hash_for: frozenset[str] = frozenset()
    seed: int | None = None


@dataclass(frozen=True)
class Profile:
    """What the reference server does: a name, switched-off features, defects."""

    name: str = "complete"
    disabled: frozenset[str] = frozenset()
    defects: frozenset[Defect] = frozenset()
    knobs: Knobs = field(default_factory=Knobs)

    def on(self, feature: str) -> bool:
        """Whether a Part A feature is on."""
        if feature not in FEATURES:
            raise KeyError(f"unknown feature {feature!r}")
        return feature not in self.disabled

    def has(self, defect: Defect) -> bool:
        """Whether a Part B defect is switched on."""
        return defect in self.defects

    def has_any(self, *defects: Defect) -> bool:
        """Whether any of these Part B defects is switched on."""
        return any(d in self.defects for d in defects)

    def describe(self) -> dict[str, object]:
        """A JSON-able description for manifests and logs."""
        return {
            "name": self.name,
            "disabled": sorted(self.disabled),
            "defects": sorted(int(d) for d in self.defects),
        }


def make_profile(
    name: str = "complete",
    *,
    disable: tuple[str, ...] | list[str] = (),
    defects: Iterable[Defect | int | str] | None = None,
    enable_defects: Iterable[Defect | int | str] = (),
    disable_defects: Iterable[Defect | int | str] = (),
    **knobs: object,
) -> Profile:
    """Build a profile by name, then switch features and defects individually.

    Args:
        name: ``complete`` or ``pitchey-2025-11``.
        disable: Part A features to switch off (see :data:`FEATURES`).
        defects: replace the profile's defect set entirely (:class:`Defect` members, item numbers or names).
        enable_defects: Part B items to add.
        disable_defects: Part B items to remove.
        **knobs: fields of :class:`Knobs`.

    Raises:
        UsageError (a ValueError): unknown profile, feature, defect or knob.
    """
    if name not in PROFILE_NAMES:
        raise UsageError(f"unknown profile {name!r}; choose from {', '.join(PROFILE_NAMES)}")
    base = frozenset() if name == "complete" else frozenset(set(Defect) - {Defect.SPLIT_JWT_SECRET})
    chosen = frozenset(map(Defect.parse, defects)) if defects is not None else base
    chosen = (chosen | frozenset(map(Defect.parse, enable_defects))) - frozenset(map(Defect.parse, disable_defects))
    bad = [f for f in disable if f not in FEATURES]
    if bad:
        raise UsageError(f"unknown feature(s): {', '.join(bad)}")
    fields = {f.name for f in dataclasses.fields(Knobs)}
    bad_k = [k for k in knobs if k not in fields]
    if bad_k:
        raise UsageError(f"unknown knob(s): {', '.join(bad_k)}")
    for knob in ("drop_answers", "password_echo_for", "password_hash_for"):
        if knob in knobs:
            knobs[knob] = frozenset(cast(Iterable[str], knobs[knob]))
    knobbed = Knobs(**knobs)  # type: ignore[arg-type]
    return Profile(name=name, disabled=frozenset(disable), defects=chosen, knobs=knobbed)
