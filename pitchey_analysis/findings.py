"""The finding catalogue: what a failing probe means, in plain words, and what to do about it.

Data, kept beside the probe catalogue (``base.CATALOGUE``): one entry per
(probe, reason code) the suite can emit, each with a short ``title``, the
``impact`` for the service's users, and a ``remediation`` written for the
service's developers. What the contract expects is the probe's own
``expected`` text (the probe catalogue), so it is not repeated here.

Entries that name a ``group`` describe one defect that several probes observe
(e.g. every refused token answered in the wrong form): the report merges them
into one finding with the group's text and every probe as evidence.

A probe or reason without a specific entry falls back to :data:`GENERIC`
(per reason code), so probes added elsewhere still yield a readable finding;
``tests/probes/test_findings.py`` lists what lacks a specific entry.
"""

from __future__ import annotations

import re
from typing import TypedDict


class FindingText(TypedDict, total=False):
    """Title, impact and remediation of one finding (``group`` merges findings of one defect)."""

    title: str
    impact: str
    remediation: str
    group: str


def _f(title: str, impact: str, remediation: str, group: str | None = None) -> FindingText:
    out: FindingText = {"title": title, "impact": impact, "remediation": remediation}
    if group:
        out["group"] = group
    return out


def _in_group(group: str, probes: tuple[str, ...], reasons: tuple[str, ...]) -> dict[tuple[str, str], FindingText]:
    """Entries that carry no text of their own: each (probe, reason) is reported as the finding of ``group``."""
    return {(probe, reason): _f("", "", "", group) for probe in probes for reason in reasons}


#: One defect seen by several probes: the merged finding's text.
GROUPS: dict[str, FindingText] = {
    "refused-token-form": _f(
        "Refused tokens are not answered in the contract's form",
        "Bad tokens are not admitted, but the session comes back anonymous without an authError: a client cannot tell "
        "an expired token (refresh it) from an invalid one (log in again), and shows a logged-out user without saying "
        "why.",
        "On a token that fails verification, answer 'connected' with authenticated:false and authError set to "
        "'invalid_token' or 'expired_token' (as the contract's connected frame declares); keep the session anonymous.",
    ),
    "unanswered-requests": _f(
        "Requests of several message types are never answered",
        "Clients wait for answers that never come: subscriptions are not confirmed, dashboards stay empty, errors for "
        "unknown types are not reported; every such request ends in the client's timeout.",
        "Dispatch every message type the contract declares (subscribe, unsubscribe, get_dashboard_metrics, ...) and "
        "answer "
        "unknown types with error unknown_type; log unhandled types server-side. Check the dispatch table first: "
        "when several types fail together, the handler is usually never reached.",
    ),
    "missing-pushes": _f(
        "Subscribed clients receive no pushes",
        "Live updates (dashboard, notifications, presence, channel broadcasts) never reach the browser; users see "
        "stale "
        "data until they reload.",
        "Register subscriptions in the hub when 'subscribe' arrives and publish to the subscribers of each channel; "
        "when "
        "subscribe itself is unanswered (see that finding), fix it first: the pushes depend on it.",
    ),
}

#: Specific entries: (probe, reason) -> text.
FINDINGS: dict[tuple[str, str], FindingText] = {
    **_in_group(
        "refused-token-form",
        ("auth.invalid_token", "auth.forged_token", "auth.alg_none", "auth.expired_token", "auth.wrong_audience"),
        ("wrong_answer", "refused_by_close", "refused_at_upgrade"),
    ),
    **_in_group(
        "unanswered-requests",
        (
            "messaging.subscribe",
            "messaging.unsubscribe",
            "messaging.dashboard_metrics",
            "messaging.unknown_type",
            "messaging.forbidden_channel",
            "readiness.subscription_cap",
        ),
        ("no_answer",),
    ),
    **_in_group(
        "missing-pushes",
        (
            "messaging.presence_update",
            "messaging.notification_delivery",
            "messaging.dashboard_push",
            "messaging.channel_broadcast",
        ),
        ("no_push",),
    ),
    # connection
    ("connection.health", "wrong_status"): _f(
        "The health endpoint does not answer 200 'healthy'",
        "Load balancers and uptime monitors take the service for down and route traffic away from it.",
        "Serve GET /api/health with 200 and {success:true, data:{status:'healthy'}} without authentication.",
    ),
    ("connection.login", "wrong_answer"): _f(
        "Login tokens lack claims the contract requires",
        "The WebSocket side cannot identify the user or check the token's audience and expiry.",
        "Sign login tokens with sub, email, userType, iat, exp, iss and aud, with the same secret and issuer the "
        "WebSocket side verifies.",
    ),
    ("connection.login_no_password", "secret_leak"): _f(
        "A login answer contains the user's password",
        "Whoever reads a login answer (browser storage, logs, a proxy, a script injected into the page) holds the "
        "user's "
        "password in clear text: a credential leak for every user who logs in. Seen in the answer of each login named "
        "below (every user type and the admin are read).",
        "Build login answers from an explicit allow-list of user fields (id, email, name, userType); never serialise "
        "the user record.",
    ),
    ("connection.login_no_password", "password_hash"): _f(
        "A login answer contains the user's password hash",
        "Whoever reads a login answer can guess the password offline, at the speed of their own hardware, with no "
        "lockout or throttle in the way; an admin's hash opens the service itself. Seen as a stored-hash shape "
        "(bcrypt, argon2, PBKDF2, sha-crypt) or a field named for one in the answer of the login named below; the hash "
        "itself is not recorded.",
        "Build login answers from an explicit allow-list of user fields; never serialise the user row (hash, salt) "
        "into "
        "any answer, for any user type or role.",
    ),
    ("connection.anonymous_connect", "wrong_answer"): _f(
        "Anonymous sessions get a 'connected' frame off contract",
        "Clients cannot tell which capabilities an anonymous session has and may offer features that then fail.",
        "Send 'connected' with authenticated:false and the public capabilities the contract lists.",
    ),
    ("connection.authenticated_connect", "auth_rejected"): _f(
        "A valid login token is refused on the WebSocket upgrade",
        "Logged-in users get no authenticated session: nothing personal (notifications, messages) works.",
        "Verify upgrade tokens with the same secret, algorithm and audience as the login endpoint signs them.",
    ),
    ("connection.user_types", "closed_1011"): _f(
        "Some user types are disconnected with 1011 after connecting",
        "Whole classes of users (e.g. investors, production companies) cannot use the real-time features at all.",
        "Look the user up in the same store the login endpoint uses, for every user type; a missing record must not "
        "close the session with 1011.",
    ),
    ("connection.single_connected_frame", "extra_frame"): _f(
        "Each session receives more than one 'connected' frame",
        "Clients run their on-connect logic twice (duplicate subscriptions, double initial loads).",
        "Send 'connected' exactly once per session, after authentication is settled.",
    ),
    ("connection.ping_on_connected", "no_answer"): _f(
        "Messages sent right after 'connected' are lost",
        "A client that starts talking as soon as it is told it is connected loses its first requests (subscriptions, "
        "initial data).",
        "Send 'connected' only once the session is ready to dispatch, or queue messages that arrive during the user "
        "lookup.",
    ),
    # authentication
    ("auth.query_token", "auth_rejected"): _f(
        "A login token in ?token= is refused",
        "Browsers (which cannot set upgrade headers) cannot open authenticated sessions.",
        "Accept the login token as the token query parameter, verified with the login endpoint's secret; do not log "
        "the URL with it.",
    ),
    ("auth.header_token", "auth_rejected"): _f(
        "A login token in the Authorization header is refused",
        "Server-side and mobile clients that send 'Authorization: Bearer' get anonymous sessions.",
        "Read 'Authorization: Bearer <token>' on the upgrade request and verify it like the query token.",
    ),
    ("auth.post_connection", "no_answer"): _f(
        "Post-connection 'auth' is never answered",
        "Clients that authenticate after connecting (to keep tokens out of URLs) wait forever and stay anonymous.",
        "Handle {type:'auth', token} on an open session: verify the token, attach the user, answer auth_success (or "
        "auth_error).",
    ),
    ("auth.invalid_token", "token_accepted"): _f(
        "Garbage tokens are accepted",
        "Any string opens an authenticated session: a complete authentication bypass.",
        "Refuse every token that fails verification; never fall back to a default user.",
    ),
    ("auth.forged_token", "token_accepted"): _f(
        "Tokens signed with another key are accepted",
        "Anyone can forge a token for any user and act as them: a complete authentication bypass.",
        "Verify the signature with the service's secret on every token; never decode without verification.",
    ),
    ("auth.alg_none", "token_accepted"): _f(
        "Unsigned (alg:none) tokens are accepted",
        "Anyone can impersonate any user without knowing a key: a complete authentication bypass.",
        "Pass an explicit algorithm allow-list (e.g. algorithms=['HS256']) to the JWT library's decode.",
    ),
    ("auth.expired_token", "token_accepted"): _f(
        "Expired tokens are accepted",
        "A stolen or leaked token works forever; logging out or expiry does not end access.",
        "Check exp (the JWT library does when it is given the token unmodified and verify_exp is not switched off).",
    ),
    ("auth.wrong_audience", "token_accepted"): _f(
        "Tokens issued for another audience are accepted",
        "Tokens of another service signed with the same key open sessions here.",
        "Verify aud against this service's audience when decoding.",
    ),
    ("auth.unknown_user", "wrong_answer"): _f(
        "A token for a user who does not exist is not answered with user_not_found",
        "Deleted or unknown users get a confusing session (or a closed connection) instead of a clear error.",
        "When the token's user is not found, send error user_not_found and keep the session anonymous.",
    ),
    ("auth.token_subject", "wrong_subject"): _f(
        "Login tokens name the wrong user",
        "Users act as somebody else: they see and change another account's data.",
        "Set sub to the id of the user who logged in, for every login endpoint and user type.",
    ),
    ("auth.required_for_protected", "wrong_answer"): _f(
        "Authenticated-only messages are not refused on anonymous sessions",
        "Anonymous clients can use features reserved for logged-in users.",
        "Check the session's user before dispatching protected message types; answer error auth_required.",
    ),
    # messaging
    ("messaging.ping", "no_answer"): _f(
        "Application-level ping is not answered",
        "Client heartbeats fail: clients reconnect in a loop or show a dead connection.",
        "Answer {type:'ping', id} with {type:'pong', id, timestamp, serverTime}.",
    ),
    ("messaging.ping", "wrong_answer"): _f(
        "Pong does not have the contract's shape",
        "Clients cannot match pongs to pings or measure latency (the id is not echoed, or fields are nested).",
        "Answer with flat fields: {type:'pong', id (echoed), timestamp, serverTime}.",
    ),
    ("messaging.send_message", "no_answer"): _f(
        "Sent messages are not confirmed or not delivered",
        "Chat between users does not work: senders get no confirmation, recipients nothing.",
        "Answer send_message with message_sent and deliver new_message to the recipient's sessions.",
    ),
    ("messaging.typing", "no_answer"): _f(
        "Typing indicators are not relayed",
        "Recipients never see that someone is typing.",
        "Relay typing_start to the recipient as user_typing with isTyping:true.",
    ),
    ("messaging.notification_read", "no_answer"): _f(
        "Read notifications are not echoed to the user's sessions",
        "Unread counters disagree between a user's tabs and devices.",
        "Echo notification_read to all of the user's sessions.",
    ),
    ("messaging.initial_data", "no_answer"): _f(
        "request_initial_data is never answered",
        "Clients start without notifications or unread counts.",
        "Answer with initial_data {userId, notifications, unreadMessagesCount, serverTime}.",
    ),
    ("messaging.presence_update", "no_answer"): _f(
        "presence_update is never answered",
        "Clients cannot confirm their presence change.",
        "Answer presence_update with presence_updated.",
    ),
    ("messaging.forbidden_channel", "wrong_answer"): _f(
        "Other users' private channels can be subscribed to",
        "Any user can read another user's private events (notifications, messages).",
        "Check channel ownership on subscribe; answer error forbidden_channel for user:<id> channels of other users.",
    ),
    ("messaging.invalid_json", "no_answer"): _f(
        "Text that is not JSON gets no error",
        "Client bugs go unnoticed: the server silently drops their messages.",
        "Answer unparsable text with {type:'error', code:'invalid_format', message, timestamp}.",
    ),
    ("messaging.invalid_json", "wrong_answer"): _f(
        "Errors for invalid JSON are not in the contract's form",
        "Clients that handle errors by code cannot recognise this one.",
        "Send {type:'error', code:'invalid_format', message, timestamp} with flat fields (no payload.error wrapper).",
    ),
    ("messaging.missing_type", "no_answer"): _f(
        "A JSON object without 'type' gets no error",
        "Malformed client messages vanish silently, which hides client bugs.",
        "Answer objects without a type with error invalid_format.",
    ),
    # performance
    ("performance.connect_time", "upgrade_rejected"): _f(
        "Sequential connects are refused",
        "New clients cannot connect even without load; the connection-time target cannot be judged.",
        "Check connection limits and upgrade handling; a single client connecting in turn must always be accepted.",
    ),
    ("performance.round_trip", "no_answer"): _f(
        "Round trips on idle connections go unanswered",
        "Some requests are dropped even without load; clients see timeouts.",
        "Find where answers are dropped (queues, back-pressure, handler errors); every request must be answered.",
    ),
    ("performance.concurrency_ramp", "upgrade_rejected"): _f(
        "Concurrent connections are refused below the target level",
        "The service cannot hold the number of simultaneous users it is meant to serve.",
        "Raise connection limits (server, proxy, file descriptors) to at least the target level and re-run the ramp.",
    ),
    # readiness
    ("readiness.health_live", "static_health"): _f(
        "The WebSocket health endpoint is static",
        "Monitoring reports healthy whatever the WebSocket side does; outages go unseen.",
        "Compute /api/ws/health from live state: uptime, and a connection count that moves with clients.",
    ),
    ("readiness.health_endpoint", "wrong_answer"): _f(
        "The health endpoint names a WebSocket endpoint that is not served",
        "Operators and clients reading it connect to the wrong place.",
        "Report the endpoint really served (host, port, path), from the server's configuration.",
    ),
    ("readiness.stats_requires_auth", "wrong_answer"): _f(
        "Operational statistics are served without a token",
        "Anyone can read usage figures of the service.",
        "Require a valid token on /api/ws/stats and answer 401 without one.",
    ),
    ("readiness.stats_non_admin", "wrong_answer"): _f(
        "Operational statistics are open to non-admin users",
        "Ordinary users can read figures meant for operators.",
        "Authorise by role (admin), not by user id; answer 403 to everyone else.",
    ),
    ("readiness.stats_admin", "wrong_answer"): _f(
        "Admins do not get the statistics the contract describes",
        "Operators cannot watch connections, messages, errors and rate limiting.",
        "Serve connections, messages, errors, rate_limited and uptime_s to admins with 200.",
    ),
    ("readiness.security_headers", "missing_headers"): _f(
        "HTTP responses lack security headers",
        "Browsers do not apply their protections (MIME sniffing, framing, referrer, content policy).",
        "Add X-Content-Type-Options, X-Frame-Options, Referrer-Policy, Content-Security-Policy (and HSTS over TLS) to "
        "every response.",
    ),
    ("readiness.tls", "not_tls"): _f(
        "The service is served without TLS",
        "Tokens and messages travel in clear and can be read or altered on the way.",
        "Serve wss:// (TLS 1.2 or newer) in front of the service, e.g. at the load balancer.",
    ),
    ("readiness.tls", "weak_tls"): _f(
        "TLS older than 1.2 is negotiated",
        "Traffic is exposed to known attacks on old protocol versions.",
        "Disable TLS 1.0 and 1.1; allow 1.2 and 1.3 only.",
    ),
    ("readiness.tls", "tls_unverified"): _f(
        "The TLS certificate was not verified in this run",
        "Nothing shows that clients can trust the certificate.",
        "Re-run with --cafile (the CA that signed the certificate) instead of --insecure, or use a publicly trusted "
        "certificate.",
    ),
    ("readiness.tls", "tls_error"): _f(
        "The TLS handshake fails",
        "Clients cannot connect securely at all.",
        "Check the certificate chain, names and protocol versions the server offers.",
    ),
    ("readiness.no_stack_traces", "stack_trace"): _f(
        "Error answers contain stack traces",
        "Attackers learn file paths, library versions and code structure.",
        "Answer errors with a message and a stable code only; log the trace server-side.",
    ),
    ("readiness.no_stack_traces", "wrong_answer"): _f(  # runs recorded before non-JSON bodies stopped counting
        "Error answers are not JSON",
        "Clients cannot parse the errors they get.",
        "Answer every error with a JSON body {success:false, error}.",
    ),
    ("readiness.rate_limit", "no_rate_limit"): _f(
        "Message floods are not rate-limited",
        "One client can flood the service and degrade it for everyone.",
        "Limit messages per connection (token bucket); answer excess with error rate_limited, then close 1008.",
    ),
    ("readiness.rate_limit", "no_close"): _f(
        "A flooding client is never disconnected",
        "Abusive clients keep their connection and keep the server busy with errors.",
        "After the rate_limited errors, close the connection with 1008 (policy violation); send the errors in the "
        "contract's flat form.",
    ),
    ("readiness.rate_limit", "wrong_answer"): _f(
        "Rate limiting closes without the contract's errors first",
        "Clients cannot tell they were throttled before being dropped.",
        "Send error rate_limited frames before closing with 1008.",
    ),
    ("readiness.origin_check", "origin_accepted"): _f(
        "Upgrades from foreign origins are accepted",
        "Any web page can open a session with the user's cookies (cross-site WebSocket hijacking).",
        "Check the Origin header against an allow-list and answer 403 to others.",
    ),
    ("readiness.origin_check", "wrong_answer"): _f(
        "Foreign origins are refused with the wrong status",
        "The refusal works but clients and monitors see an unexpected status.",
        "Refuse foreign origins with HTTP 403.",
    ),
    ("readiness.size_limit", "no_close"): _f(
        "Oversized messages are accepted",
        "A client can exhaust server memory with huge messages.",
        "Set a maximum message size (e.g. 64 KiB) and close with 1009 beyond it.",
    ),
    ("readiness.invalid_utf8", "no_close"): _f(
        "Invalid UTF-8 text frames are accepted",
        "The server processes malformed text, against RFC 6455 §8.1.",
        "Use a WebSocket library that validates UTF-8 and closes with 1007.",
    ),
    ("readiness.trigger_authorization", "trigger_unauthorized"): _f(
        "A push trigger lets callers without the role make the service push to other users",
        "Any logged-in user (or anyone, where no token is needed) can make the service send notifications or messages "
        "into other users' sessions: spoofed system messages and phishing links shown in the product's own interface, "
        "and spam at will. Seen as the trigger's answer (2xx) to a call the contract's role forbids, named below with "
        "the caller and the user id it named.",
        "Check the caller in the trigger's handler before anything is sent: the admin role for admin triggers; for "
        "per-user triggers, that the user id named is the caller's own (from the verified token, never from the body).",
    ),
    ("readiness.session_leak", "session_leak"): _f(
        "Sessions of clients that left are never removed",
        "A client that opens connections and drops them during the set-up, in a loop, grows the service's memory and "
        "session count without bound; statistics and presence are wrong. Seen as the service's own session count, read "
        "once it had settled, growing cycle by cycle (the series below) while no client was connected.",
        "Remove the session in a finally block that runs whatever phase the connection ends in (including during the "
        "user lookup).",
    ),
    ("readiness.lockout_spoofing", "no_lockout"): _f(
        "Repeated failed authentications are never locked out",
        "Tokens and passwords can be guessed without limit.",
        "Lock out an address after N failed authentications within a window.",
    ),
    ("readiness.lockout_spoofing", "spoofable_lockout"): _f(
        "The lockout trusts X-Forwarded-For from any client",
        "Attackers evade the lockout by changing the header, or lock out other users by naming their address.",
        "Key the lockout on the socket address; trust forwarding headers only from configured proxies.",
    ),
    # resilience
    ("resilience.graceful_close", "wrong_close"): _f(
        "A client's close is not answered with close 1000",
        "Clients cannot tell a clean shutdown from a failure (RFC 6455 §5.5.1).",
        "Answer a close frame with a close frame carrying the same code.",
    ),
    ("resilience.server_ping", "no_ping"): _f(
        "The server sends no ping control frames",
        "Dead connections (closed laptops, lost networks) stay open on the server until the OS notices.",
        "Send RFC 6455 ping frames at an interval and close connections that do not answer.",
    ),
    ("resilience.server_ping", "json_heartbeat"): _f(
        "Heartbeats are JSON messages instead of ping control frames",
        "Clients must implement a custom heartbeat; standard clients never answer it.",
        "Use RFC 6455 ping/pong control frames (§5.5.2) for liveness.",
    ),
    ("resilience.reconnect", "upgrade_rejected"): _f(
        "A client cannot reconnect after a dropped connection",
        "Users stay disconnected after a network blip or server restart.",
        "Accept reconnects (no stale per-user session limits); check that dropped sessions are released.",
    ),
    ("resilience.handshake_timeout", "slowloris_held"): _f(
        "Half-sent upgrade requests are held open (slow-loris)",
        "A few clients that send their request head slowly hold sockets and file descriptors without limit, "
        "until the service cannot accept anybody else.",
        "Bound the time to receive a complete request head (e.g. a header/handshake timeout in the server or the proxy "
        "in front of it: nginx client_header_timeout, a load balancer's idle timeout) and drop the connection after "
        "it.",
    ),
    ("resilience.sustained_sessions", "session_dropped"): _f(
        "The service closes sessions after a few seconds",
        "Dashboards, notifications and presence stop for every user whose session is dropped; clients reconnect in a "
        "loop "
        "and lose what was pushed meanwhile.",
        "Find what closes idle sessions (an idle timeout shorter than the heartbeat, a proxy's read timeout, a forced "
        "recycle) and keep sessions open while the client answers pings; see the close code and the lifetime "
        "histogram.",
    ),
    ("resilience.sustained_sessions", "missed_pushes"): _f(
        "Held sessions miss their scheduled pushes",
        "Users watching a dashboard see it freeze although their connection is open.",
        "Keep publishing to every subscriber for the whole life of a session; check that subscriptions survive idle "
        "periods.",
    ),
    # hardening (issue 31): what a hostile client can do, and how the suite saw it
    ("messaging.id_reuse", "reused_id_accepted"): _f(
        "A request that reuses an id is answered as a new one",
        "Answers can be matched to the wrong request: a client (or an attacker replaying a frame) gets a result meant "
        "for another command. Seen by sending a request again with the id of one already answered on the session: it "
        "was answered as a success, where the contract says ids must increase.",
        "Refuse a request whose id is not above the session's last one, with the contract's error.",
    ),
    ("auth.before_authentication", "accepted_before_auth"): _f(
        "Commands are answered before the session authenticates",
        "Anyone who can open a connection can use authenticated commands without a credential. Seen by sending an "
        "authenticated-only command on a session that never sent its authentication message: it was answered.",
        "Refuse (or close on) every command until the first-message authentication has succeeded.",
    ),
    ("messaging.batch", "batch_element_dropped"): _f(
        "Requests sent together in one frame are not all answered",
        "Clients that batch (as the contract allows) wait for answers that never come. Seen by sending several "
        "requests as one JSON array: some of their ids were never answered.",
        "Answer every element of a batch (in one array frame or several), each with its request's id.",
    ),
    ("resilience.nested_json", "session_closed"): _f(
        "Deeply nested JSON ends the session instead of an error",
        "An attacker can crash the message handler at will with one small message (JSON nested tens of thousands deep, "
        "well inside the size limit), and where the same parser serves other users' work, take it down with them. Seen "
        "by sending such a message: the session was closed instead of answered with the contract's error.",
        "Treat every parse failure as bad input: catch the parser's depth error (Python's RecursionError, a stack "
        "overflow elsewhere) or use a parser with a depth limit, and answer the contract's invalid-format error while "
        "keeping the session.",
    ),
    ("resilience.nested_json", "session_lost"): _f(
        "Deeply nested JSON leaves the session unusable",
        "An attacker can break a session's handler with one small deeply nested message; the error is sent but the "
        "session no longer answers. Seen by a round trip after the error that went unanswered.",
        "Reject over-deep input before dispatch, without leaving the session's handler in a broken state.",
    ),
    ("resilience.nested_json", "no_answer"): _f(
        "Deeply nested JSON is neither answered nor refused",
        "A client (or an attacker probing for a crash) gets no error for input the service could not parse; the "
        "handler "
        "may have failed silently. Seen by sending JSON nested tens of thousands deep and waiting for the contract's "
        "error.",
        "Answer any parse failure, depth included, with the contract's invalid-format error.",
    ),
    ("resilience.nested_json", "server_error"): _f(
        "A deeply nested login body makes the HTTP side fail with 5xx",
        "An attacker can make the login endpoint raise an internal error with one small request, at no cost, filling "
        "logs with tracebacks and alerting on-call for nothing. Seen as a 5xx answer to a login whose body is JSON "
        "nested tens of thousands deep.",
        "Answer any body that does not parse, depth included, with 400.",
    ),
    ("readiness.control_frame_flood", "control_flood_unlimited"): _f(
        "Ping control frames bypass the rate limit",
        "An attacker can flood the service with WebSocket ping frames, each answered with a pong, without ever "
        "reaching "
        "the rate limit that stops a flood of messages: one connection can keep the service busy and raise every other "
        "client's latency. Seen by a burst of pings beyond the declared burst, all answered, with no error and no "
        "close.",
        "Count ping and pong control frames toward the same per-connection rate limit as messages (RFC 6455 §5.5.2 "
        "lets a "
        "server answer only the most recent ping), and close the flooder with the rate limit's code.",
    ),
    ("readiness.control_frame_flood", "no_close"): _f(
        "A ping flood is refused but never disconnected",
        "An attacker can keep flooding ping frames: each is refused, but the connection is kept and the server keeps "
        "working for it. Seen by error frames after the burst and no close.",
        "After the rate_limited errors, close the connection with the rate limit's close code (1008).",
    ),
    ("resilience.tls_handshake_stall", "handshake_held"): _f(
        "Stalled TLS handshakes are held open",
        "An attacker can open thousands of connections that send 5 bytes of a ClientHello and stop: each holds a "
        "socket, "
        "a file descriptor and TLS buffers until the library's own timeout (often 60 s), until nobody else can "
        "connect. "
        "Seen by such a connection still open past the declared handshake deadline.",
        "Count the TLS handshake toward the request-head deadline (start the clock at accept, not after the "
        "handshake), "
        "or set the TLS handshake timeout of the server or the proxy in front of it to the declared deadline.",
    ),
    ("resilience.keepalive_trickle", "keepalive_held"): _f(
        "A trickled second request on a kept-alive connection is held open",
        "An attacker can send one good request, then trickle the next request head on the same connection, and hold "
        "the connection without limit: the slow-loris protection covers only the first request. Seen by a second "
        "request head sent in part and still held past the declared deadline.",
        "Apply the request-head deadline to every request of a kept-alive connection (and a body deadline to every "
        "body), not only to the first; e.g. a proxy's client_header_timeout and client_body_timeout.",
    ),
    ("readiness.login_throttle", "no_throttle"): _f(
        "HTTP login is not throttled",
        "An attacker can guess passwords at the speed of the login endpoint, against one account or across many from "
        "one "
        "address, and each guess costs the service a password hash. Seen by a series of wrong logins all refused as "
        "wrong credentials, none answered 429.",
        "Throttle failed logins per address and per account (a window of recent failures) and answer 429 with "
        "Retry-After past it; hash passwords off the event loop.",
    ),
    ("readiness.login_throttle", "throttle_bypassed"): _f(
        "A throttled account still lets the right password in",
        "An attacker can keep guessing after the 429s: a wrong password is throttled but the right one is let in, so "
        "the throttle tells the attacker when a guess was right. Seen by the right password accepted right after the "
        "wrong ones were throttled.",
        "While an account or address is throttled, answer every login for it with 429, whatever the password.",
    ),
    ("readiness.subscription_cap", "no_cap"): _f(
        "Subscriptions per session are not capped",
        "An anonymous attacker can make the service hold any number of channels per session (and per channel name), "
        "growing memory until it fails for everyone. Seen by one session confirmed on more channels than the declared "
        "cap.",
        "Cap the channels one session may hold (and the length of a channel name) and refuse past the cap with the "
        "declared error; forget empty channels when sessions leave.",
    ),
    ("readiness.subscription_cap", "wrong_answer"): _f(
        "Subscriptions are refused otherwise than the contract declares",
        "Clients cannot tell a full session from another refusal, or are refused before the declared cap.",
        "Refuse a subscription only past the declared cap, with the declared error code.",
    ),
    ("readiness.connection_cap", "no_cap"): _f(
        "Connections are not capped",
        "An attacker can open idle connections until the service runs out of file descriptors; past that it accepts "
        "no one, health checks included, and every good client's latency climbs first. Seen by more upgrades served "
        "than the declared cap.",
        "Refuse connections beyond a cap below the process's file limit with the declared status (503 with "
        "Retry-After), "
        "so the service degrades visibly instead of failing.",
    ),
    ("readiness.connection_cap", "wrong_status"): _f(
        "Connections past the cap are refused with another status",
        "Load balancers and clients cannot tell an overloaded service from a broken one.",
        "Refuse connections past the cap with the declared status (503).",
    ),
    ("readiness.memory_retained", "memory_retained"): _f(
        "Memory is retained after the clients left",
        "Any client the service serves (anonymous ones too) can make it keep memory for good: messages of made-up "
        "kinds, or other values it counts or indexes by what the client wrote, stay after the client has gone, so a "
        "churn of clients, each inside the rate limit, fills the process until it fails for everyone. Seen by the "
        "memory gauge the contract names: read before a churn of sessions sending messages of unique unknown kinds "
        "and subscribing to unique channels, and again, until it settled, after they left.",
        "Bound every structure a client can grow and release it on close: count statistics only for the contract's "
        "kinds (any other under one key), cap subscriptions and channel-name length, forget empty channels, and expire "
        "any table keyed by what a client sends.",
    ),
    ("readiness.connection_cap", "slot_not_released"): _f(
        "A closed connection does not free its slot",
        "Once the cap is reached it stays reached: every new client is refused although connections have left. Seen by "
        "upgrades still refused after one of the probe's connections closed.",
        "Count a connection out of the cap as soon as it closes, however it closes.",
    ),
    ("auth.unknown_user", "closed_1011"): _f(
        "A token for a user who does not exist ends the session with an internal error (1011)",
        "Anyone holding a validly signed token of a deleted or unknown user makes the service fail its user lookup; "
        "clients of such users lose the session with an internal error instead of a clear refusal and reconnect in a "
        "loop. Seen as close 1011 instead of an anonymous session that goes on.",
        "When the token's user is not found, send the declared error and keep the session anonymous; never let the "
        "lookup's failure end the session.",
    ),
    ("auth.unknown_user", "connected_not_first"): _f(
        "An unknown user's error comes before 'connected'",
        "Clients that wait for 'connected' as the first frame misread the session.",
        "Send 'connected' first in every session, and the user_not_found error after it.",
    ),
    ("messaging.stop_pushes", "pushes_after_stop"): _f(
        "Ending a stream does not stop its pushes",
        "A client that ends a stream (leaves a view, cancels a subscription) keeps receiving its pushes: bandwidth and "
        "battery spent on data nobody shows, and the server keeps the work going for every client that ever "
        "subscribed. "
        "Seen by ending a running stream with its id and counting the pushes for that id that still came after a grace "
        "period.",
        "When the stop request arrives, cancel the stream registered under its id (and forget the id) before "
        "answering; "
        "check the id the stop names is looked up in the same registry the start request wrote to.",
    ),
    ("session.first_frame", "wrong_first_frame"): _f(
        "Sessions do not start with exactly one 'connected' frame",
        "Clients that set up on the first frame (or on every 'connected') initialise twice or misread the session.",
        "Send the declared first frame once, first, in every session; send nothing before it.",
    ),
    ("session.json_frames", "not_json"): _f(
        "The service sends frames that are not JSON objects with a type",
        "Clients' message dispatch throws on those frames.",
        "Send only JSON objects with a string 'type' on the WebSocket.",
    ),
    ("session.error_shape", "malformed_error"): _f(
        "Error frames lack code, message or timestamp (or carry a stack trace)",
        "Clients cannot tell errors apart or show them; stack traces leak the service's internals.",
        "Build every error frame with one helper: {type:'error', code, message, timestamp (ms)}; never include "
        "exception text.",
    ),
    ("session.nothing_after_close", "frame_after_close"): _f(
        "The service sends frames after its close frame",
        "RFC 6455 §5.5.1 forbids data after a close; clients may drop the connection uncleanly.",
        "Stop the session's send queue before sending the close frame.",
    ),
    ("session.close_codes", "invalid_close_code"): _f(
        "The service sends close codes that are not allowed on the wire",
        "Clients treat the close as a protocol error; the reason for the close is lost.",
        "Use only the codes RFC 6455 §7.4 allows on the wire (1000-1003, 1007-1014, 3000-4999).",
    ),
    ("resilience.invalid_then_working", "closed_1003"): _f(
        "Bad input closes the connection",
        "One malformed or binary message drops the user's session and its subscriptions.",
        "Answer bad input with an error frame and keep the session open.",
    ),
    ("resilience.lockout_per_address", "closed_1008"): _f(
        "Failed authentications from one client lock out everybody",
        "One attacker (or a misconfigured client) locks all users out of the service.",
        "Key the failure counter on each client's own address, not on a shared key.",
    ),
    ("resilience.lockout_per_address", "no_lockout"): _f(
        "Repeated failed authentications are never locked out",
        "Tokens can be guessed without limit.",
        "Lock out an address after N failed authentications within a window.",
    ),
}

#: Per reason code: the text of a finding when no specific entry exists (probes from elsewhere degrade gracefully).
GENERIC: dict[str, FindingText] = {
    "wrong_answer": _f(
        "{probe}: the answer is off contract",
        "Clients relying on the contract misread or reject the answer.",
        "Compare the observed answer with what the contract expects (below) and align the handler.",
    ),
    "no_answer": _f(
        "{probe}: no answer within the timeout",
        "Clients wait and time out.",
        "Make sure the message type is dispatched and answered, also under the conditions of this probe.",
    ),
    "no_push": _f(
        "{probe}: the expected push never arrived",
        "Live updates do not reach clients.",
        "Check the subscription is registered and the event published to its channel.",
    ),
    "auth_rejected": _f(
        "{probe}: valid credentials are refused",
        "Users cannot authenticate.",
        "Verify tokens with the same secret, algorithm and audience that issued them.",
    ),
    "auth_accepted": _f(
        "{probe}: a token that must be refused is accepted",
        "Authentication can be bypassed.",
        "Verify signature, algorithm, expiry and audience of every token.",
    ),
    "login_failed": _f(
        "{probe}: the login needed by this probe failed",
        "Nothing behind authentication could be checked.",
        "Check the credentials given to the suite and the login endpoint.",
    ),
    "wrong_status": _f(
        "{probe}: an HTTP endpoint answers the wrong status",
        "Clients and monitors misread the answer.",
        "Answer with the status the contract declares.",
    ),
    "upgrade_rejected": _f(
        "{probe}: the WebSocket upgrade is refused",
        "Clients cannot connect.",
        "Check the endpoint path, connection limits and what the upgrade requires.",
    ),
    "bad_handshake": _f(
        "{probe}: the upgrade answer is not a valid WebSocket handshake",
        "Standard clients cannot connect.",
        "Serve a conforming RFC 6455 handshake (101, Sec-WebSocket-Accept).",
    ),
    "connect_timeout": _f(
        "{probe}: the operation timed out",
        "Clients wait and give up.",
        "Find what blocks (handshake, handler, lookup) and bound it.",
    ),
    "connect_refused": _f(
        "{probe}: nothing listens at the target",
        "The service is unreachable.",
        "Check the target URL and that the service is running.",
    ),
    "network_error": _f(
        "{probe}: a network error interrupted the probe",
        "Clients would see the same failure.",
        "Check the network path and the server's logs at the time shown.",
    ),
    "tls_error": _f(
        "{probe}: the TLS handshake failed",
        "Clients cannot connect securely.",
        "Check certificate chain, names and protocol versions.",
    ),
    "closed_*": _f(
        "{probe}: the server closed the connection unexpectedly",
        "Sessions end without the client asking.",
        "Look up the close code (RFC 6455 §7.4.1) and the server's log for that session.",
    ),
    "extra_frame": _f(
        "{probe}: an unexpected extra frame arrived",
        "Clients may process it twice.",
        "Send each frame the contract declares once.",
    ),
    "no_close": _f(
        "{probe}: the connection was not closed when it should have been",
        "Misbehaving clients keep their sessions.",
        "Close with the code the contract gives for this case.",
    ),
    "wrong_close": _f(
        "{probe}: the close code is not the expected one",
        "Clients misread why they were disconnected.",
        "Close with the code the contract gives for this case.",
    ),
    "late_answer": _f(
        "{probe}: the answer came after the timeout",
        "Clients give up before it arrives.",
        "Find what delays the answer (lookups, queues) and shorten it.",
    ),
    "probe_error": _f(
        "{probe}: the probe itself failed",
        "No evidence either way for this feature.",
        "Read the detail; if it is a fault of the suite, report it with the run directory.",
    ),
    "target_missed": _f(
        "{probe} is missed",
        "Users see slower connections or answers than the service promises.",
        "Profile the slow stage (see the connection-flow and latency tables) and re-run.",
    ),
    "token_accepted": _f(
        "{probe}: a token that must be refused is accepted",
        "Authentication can be bypassed.",
        "Verify signature, algorithm, expiry and audience of every token.",
    ),
    "anonymous_accepted": _f(
        "{probe}: an anonymous session is served although the contract says none is",
        "Anyone can use the service without a credential.",
        "Refuse upgrades without a valid credential, as the contract declares.",
    ),
    "refused_at_upgrade": _f(
        "{probe}: refused at the upgrade instead of the contract's answer",
        "Clients cannot tell why they were refused.",
        "Answer as the contract says for this case.",
    ),
    "refused_by_close": _f(
        "{probe}: refused by closing instead of the contract's answer",
        "Clients cannot tell why they were refused.",
        "Answer as the contract says for this case.",
    ),
    "closed_1006": _f(
        "{probe}: the connection was dropped without a close frame",
        "Clients see an abnormal closure and cannot tell why.",
        "Close sessions with a close frame and a code (RFC 6455 §7.1.5); check for crashes and proxy timeouts.",
    ),
    "session_dropped": _f(
        "{probe}: sessions were closed by the service",
        "Users lose their live session.",
        "Keep sessions open while clients answer pings.",
    ),
    "missed_pushes": _f("{probe}: scheduled pushes were missed", "Live views freeze.", "Publish to every subscriber."),
    "slowloris_held": _f(
        "{probe}: half-sent requests are held open",
        "Slow clients exhaust the service's sockets.",
        "Bound the time to receive a request head.",
    ),
    "connected_not_first": _f(
        "{probe}: 'connected' is not the first frame",
        "Clients misread the session.",
        "Send the declared first frame first.",
    ),
    "*": _f(
        "{probe}: failed ({reason})",
        "The feature this probe checks does not work as the contract says.",
        "Read the observation and the expectation below and align the service.",
    ),
}


#: words of the Pitchey protocol a specific text may name; a run judged by another contract gets no such text
PITCHEY_WORDS = re.compile(
    r"'connected'|connected frame|dashboard|pitch|auth_success|auth_error|/api/|\{type:|creator|"
    r"investor|presence|notification|get_dashboard|subscription_confirmed|"
    # its message model: a 'type' field, its codes and claims, bad input answered by an error frame
    r"'type'|without a type|invalid_format|rate_limited|1008|typing_start|user_typing|isTyping|"
    r"uptime_s|\bsub\b|userType|with an error frame",
    re.IGNORECASE,
)


def text_for(probe: str, reason: str, *, pitchey: bool = True) -> tuple[FindingText, bool]:
    """The finding text of (probe, reason), with ``{probe}``/``{reason}`` filled in, and whether it is specific.

    A grouped entry returns the group's text (with ``group`` set). With ``pitchey`` False (the run was judged by
    another contract), a specific text that names the Pitchey protocol's messages, channels or endpoints is not
    used: the generic text of the reason names the probe instead.
    """
    spec = FINDINGS.get((probe, reason))
    if spec is not None and not pitchey:
        text = spec.get("group") and GROUPS[str(spec["group"])] or spec
        if any(PITCHEY_WORDS.search(str(v)) for v in text.values()):
            spec = None
    if spec is not None:
        group = spec.get("group")
        if group:
            return {**GROUPS[group], "group": group}, True
        return spec, True
    key = "closed_*" if reason.startswith("closed_") and reason not in GENERIC else reason
    base = GENERIC.get(key, GENERIC["*"])
    return {k: str(v).format(probe=probe, reason=reason) for k, v in base.items()}, False  # type: ignore[return-value]
