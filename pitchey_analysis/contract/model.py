"""The typed contract: messages, operations, the session model, what the suite reads (pure dataclasses)."""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .pointers import pointer_get
from .wire import Envelope, Ids, IdSource, is_kind_value, is_marker, kind_key, kind_text, set_pointer

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator


_NOTHING = object()


def _refuse(uri: str) -> Any:
    """The retrieval of every resource a schema names by URI: refused (a contract is read without network I/O)."""
    from referencing.exceptions import NoSuchResource

    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]  # an attrs class: mypy sees no fields


def offline_validator(schema: Any) -> Draft202012Validator:
    """A JSON Schema 2020-12 validator that never fetches anything: its registry retrieves nothing, so a reference to
    a URI (``$ref``, ``$dynamicRef``, ``$recursiveRef``, relative to an ``$id``) is unresolvable instead of fetched
    (jsonschema's default registry still fetches unknown http(s) URIs, with a deprecation warning only)."""
    from jsonschema import Draft202012Validator
    from referencing import Registry

    registry = Registry(retrieve=_refuse)  # type: ignore[call-arg]  # attrs, as above
    return Draft202012Validator(schema, registry=registry)


@dataclass(frozen=True, eq=False)  # identity: one object per message of the contract
class Message:
    """A message of the contract: its key, its kind (``type``: as text) and its payload schema (refs resolved)."""

    key: str
    #: its kind as the tool names and shows it: the constant at the contract's kind pointer (a string as is, another
    #: JSON scalar as its JSON text: ``10``), else (told by its schema) its key
    type: str | None
    schema: dict[str, Any]
    example: Any = None  # a JSON object, or an array where the contract's messages are arrays
    title: str = ""
    #: no constant at the contract's kind pointer: a frame is this message when it validates against its schema
    by_schema: bool = False
    #: where the message carries its correlation id (AsyncAPI correlationId, as a JSON pointer into the payload)
    correlation: str | None = None
    #: the kind's JSON value at the kind pointer (``"ping"``, ``10``, ``true``); None when told by its schema
    kind: Any = None

    @functools.cached_property
    def validator(self) -> Draft202012Validator:
        """A compiled validator of the payload (:func:`offline_validator`)."""
        return offline_validator(self.schema)

    def error(self, payload: Any) -> SchemaIssue | None:
        """The best-matching schema error of a payload, or None when it validates."""
        from jsonschema.exceptions import best_match

        err = best_match(self.validator.iter_errors(payload))
        if err is None:
            return None
        return SchemaIssue(
            self.key, err.json_path, err.message[:300], "/".join(str(p) for p in err.absolute_schema_path)
        )

    @property
    def word(self) -> str:
        """The message as the tool names it in what it writes: its kind where that is a word (a string), else its
        key (a number is no word: ``heartbeatAck`` for ``op: 11``)."""
        return self.key if self.kind is not None and not isinstance(self.kind, str) else str(self.type)

    def fields(self) -> set[str]:
        """The top-level property names of the payload."""
        return set((self.schema.get("properties") or {}).keys())


@dataclass(frozen=True)
class SchemaIssue:
    """Why a frame does not match the contract: the message tried, the JSON path in the frame, the error."""

    message: str
    path: str
    error: str
    schema_path: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"message": self.message, "path": self.path, "error": self.error, "schema_path": self.schema_path}


@dataclass(frozen=True)
class Delivery:
    """What a request makes the service push to other sessions (``x-readiness.delivers`` on an operation):
    to whom (``subscribers`` of ``channel``, the ``recipient`` the request names at ``recipient``, or the
    sender's own other sessions, ``self``), the message kind pushed, the request's values it carries back
    (``echo``: (request pointer, push pointer) pairs) and values it must hold (``values``: pointer -> value)."""

    to: str
    message: str
    channel: str | None = None
    recipient: str | None = None
    echo: tuple[tuple[str, str], ...] = ()
    values: dict[str, Any] = field(default_factory=dict)
    #: the pushed message as the contract names it (its reference: a kind, or a message key where kinds are numbers)
    said: str = ""


@dataclass(frozen=True)
class Stops:
    """What a request ends (``x-readiness.stops``): the pushes of kind ``pushes`` that the request of ``operation``
    started, named by the same correlation id; ``send`` starts a stream that does not end on its own."""

    operation: str
    pushes: str
    send: dict[str, Any] | None = None


@dataclass(frozen=True)
class Operation:
    """An operation of the service: ``receive`` (a client sends it) or ``send`` (a push)."""

    id: str
    action: str
    messages: tuple[Message, ...]
    reply: tuple[Message, ...] = ()
    probe: str | None = None
    critical: bool = False
    auth: bool = False
    generate: bool = True
    expected: str = ""
    echo: tuple[str, ...] = ()
    #: where the answer carries an echoed field back when not under its own name (field -> pointer: room -> /joined)
    echo_at: tuple[tuple[str, str], ...] = ()
    setup: tuple[dict[str, Any], ...] = ()
    auth_check: bool = False
    delivers: Delivery | None = None
    subscribes: bool = False
    unsubscribes: bool = False
    stops: Stops | None = None

    @property
    def request(self) -> Message | None:
        """The message a client sends (receive operations)."""
        return self.messages[0] if self.messages else None

    @property
    def answer(self) -> Message | None:
        """The expected answer: the first message of the reply."""
        return self.reply[0] if self.reply else None

    @property
    def probe_name(self) -> str:
        """The probe that judges this operation."""
        return self.probe or f"messaging.{self.id}"

    @property
    def generated(self) -> bool:
        """Whether a request/answer probe is generated for it (a receive with a reply and an example)."""
        return (
            self.action == "receive"
            and self.generate
            and self.answer is not None
            and self.request is not None
            and self.request.example is not None
        )

    def label(self) -> str:
        """The row label of the message-type table, e.g. ``ping → pong``."""
        req = self.request.word if self.request else self.id
        if self.action == "send":
            return f"{req} (push)"
        if not self.reply:
            return str(req)
        return f"{req} → {' / '.join(dict.fromkeys(m.word for m in self.reply if m.type != 'error'))}"


@dataclass(frozen=True)
class HttpCall:
    """An HTTP request the suite makes: method, path, admin token or not, body template, expected status,
    and who may make it (``role``: ``admin``, ``owner`` -- a user for their own ``{userId}`` --, or any ``user``)."""

    path: str
    method: str = "GET"
    admin: bool = False
    body: Any = None
    status: int | None = None
    role: str = "user"


@dataclass(frozen=True)
class Login:
    """How users log in: a path per user type, the body template, where token and user id are in the answer."""

    paths: dict[str, str]
    method: str = "POST"
    body: dict[str, Any] = field(default_factory=lambda: {"email": "{email}", "password": "{password}"})
    status: int = 200
    token: str = "/token"
    user_id: str | None = None
    refused_status: tuple[int, ...] = (400, 401, 403, 404)
    admin_path: str | None = None
    session: str = "token"  # "cookie": the answer sets a cookie session
    exchange: HttpCall | None = None  # the call that exchanges the session for a WebSocket token
    exchange_token: str = "/token"


#: RFC 7519's claim names (and Pitchey's for what RFC 7519 does not name), for the roles a contract may name otherwise
#: (``x-readiness.upgrade.jwt.claims``)
JWT_CLAIM_NAMES = {
    "subject": "sub",
    "expiry": "exp",
    "issuedAt": "iat",
    "audience": "aud",
    "issuer": "iss",
    "userType": "userType",
    "email": "email",
}


@dataclass(frozen=True)
class Upgrade:
    """Authentication methods on the upgrade and after it."""

    query: str | None = None
    header: str | None = None
    scheme: str = "Bearer"
    message: str | None = None
    success: str | None = None
    failure: str | None = None
    jwt: dict[str, Any] = field(default_factory=dict)
    credential: str = "login"  # login | token (the user supplies it) | none
    cookie: str | None = None
    subprotocol: str | None = None
    first_message: dict[str, Any] | None = None  # {send: template, success: kind, failure: kind}
    refusal: tuple[str, ...] = ("anonymous", "close", "error")
    refusal_declared: bool = False  # the contract says how a refused credential shows (else the default above)
    refused_status: tuple[int, ...] = (401, 403)
    anonymous: bool = True

    def claim(self, name: str) -> str | None:
        """The claim name of ``subject``/``userType``/``audience``/``expiry``/``issuer``/``issuedAt``/``email`` in
        issued tokens, where declared."""
        return ((self.jwt.get("claims") or {}) if isinstance(self.jwt, dict) else {}).get(name)

    def claim_name(self, role: str) -> str:
        """The claim name of ``role`` in issued tokens: declared, else RFC 7519's (:data:`JWT_CLAIM_NAMES`)."""
        return self.claim(role) or JWT_CLAIM_NAMES[role]

    def required_claims(self) -> dict[str, str]:
        """The claims an issued token must carry (role -> claim name): every one declared, and where tokens are JWTs
        (``jwt``) their subject and expiry, and the issuer and the audience where ``jwt`` names them, by RFC 7519's
        names unless declared otherwise. Empty when the contract does not say its tokens are JWTs."""
        if not self.jwt:
            return {}
        roles = ["subject", "expiry", *(r for r in ("issuer", "audience") if self.jwt.get(r))]
        roles += [r for r, v in ((self.jwt.get("claims") or {}) if isinstance(self.jwt, dict) else {}).items() if v]
        return {r: self.claim_name(r) for r in roles}

    @property
    def refuses_at_upgrade(self) -> bool:
        """Whether a refused credential is answered by an HTTP status at the upgrade."""
        return "http" in self.refusal


@dataclass(frozen=True)
class FirstFrame:
    """The first frame of every session and where its facts are (JSON pointers)."""

    type: str
    authenticated: str | None = None
    user: str | None = None
    user_id: str | None = None
    auth_error: str | None = None
    capabilities: str | None = None
    capabilities_authenticated: tuple[str, ...] = ()
    capabilities_anonymous: tuple[str, ...] = ()
    authenticated_when: str = "true"  # "present": any value at the pointer says so

    def authenticated_in(self, frame: Any) -> bool:
        """Whether a first frame says the session is authenticated (``/authenticated`` when no pointer is declared)."""
        value = pointer_get(frame, self.authenticated or "/authenticated")
        if self.authenticated_when == "present":
            return value not in (None, "", False)
        return value is True

    def auth_error_in(self, frame: Any) -> Any:
        """The authentication error a first frame reports (None when the contract names no place for it)."""
        return pointer_get(frame, self.auth_error)

    def capabilities_in(self, frame: Any) -> set[str]:
        """The capabilities a first frame lists (empty when the contract names no place for them)."""
        caps = pointer_get(frame, self.capabilities)
        return {c for c in caps if isinstance(c, str)} if isinstance(caps, list) else set()

    def user_id_in(self, frame: Any) -> Any:
        """The user id a first frame names."""
        return pointer_get(frame, self.user_id)


@dataclass(frozen=True)
class Channel:
    """A subscription channel (``pitch:{id}`` is a pattern): who may subscribe, what it pushes, how to trigger it."""

    name: str
    auth: bool = False
    owner: bool = False
    pushes: tuple[str, ...] = ()
    interval_s: float | None = None
    trigger: HttpCall | None = None
    #: a pattern's placeholders and where its pushes carry their values (``(("id", "/pitchId"),)``)
    carries: tuple[tuple[str, str], ...] = ()

    def carries_push(self, name: str, push: Any) -> bool:
        """Whether a push of this channel belongs to its concrete channel ``name`` (``pitch:3``): it carries each
        placeholder's value of that name where the contract says (a number as its digits); True where the contract
        says nothing (a channel without placeholders, or without ``carries``)."""
        if not self.carries:
            return True
        m = re.fullmatch(re.sub(r"\\\{[^}]*\\\}", "(.+)", re.escape(self.name)), name)
        if m is None:
            return False
        values = dict(zip(re.findall(r"\{([^}]*)\}", self.name), m.groups(), strict=False))
        return all(str(pointer_get(push, ptr)) == values[key] for key, ptr in self.carries if key in values)


@dataclass(frozen=True)
class Limit:
    """A limit and the close code it must end in."""

    name: str
    values: dict[str, Any]
    close: int | None = None

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)


@dataclass(frozen=True)
class Contract:
    """The typed contract the suite, the report and the reference server read."""

    name: str
    title: str
    version: str
    text: str
    document: dict[str, Any]
    operations: tuple[Operation, ...]
    messages: dict[str, Message]
    login: Login | None = None
    upgrade: Upgrade | None = None
    first_frame: FirstFrame | None = None
    errors: dict[str, Any] = field(default_factory=dict)  # codes (str) and httpBody (a JSON Schema)
    channels: dict[str, Channel] = field(default_factory=dict)
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    security_headers: tuple[str, ...] = ()
    origin: dict[str, Any] | None = None
    limits: dict[str, Limit] = field(default_factory=dict)
    targets: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    file_format: str = "yaml"
    #: the JSON pointer naming a message's kind (None: every message is told by its schema)
    kind_pointer: str | None = "/type"
    batch: bool = False
    batch_requests: bool = False
    ids: Ids = field(default_factory=Ids)
    envelope: Envelope | None = None
    ignores: frozenset[str] = frozenset()
    #: input the service answers by closing the session on purpose: what (as in ``ignores``, or ``binary``) -> code
    closes: dict[str, int] = field(default_factory=dict)
    #: HTTP endpoints that make the service push, beside the channels' triggers (``x-readiness.triggers``)
    triggers: dict[str, HttpCall] = field(default_factory=dict)
    #: the WebSocket subprotocols every upgrade offers, in order (the channel's ``bindings.ws.headers`` schema
    #: fixing ``Sec-WebSocket-Protocol``, AsyncAPI's WebSocket binding): a protocol the service negotiates
    subprotocols: tuple[str, ...] = ()

    # -- identity --------------------------------------------------------------------
    @property
    def sha256(self) -> str:
        """The digest of the document as given (stored with each run)."""
        return hashlib.sha256(self.text.encode()).hexdigest()

    # -- what the suite reads -----------------------------------------------------------
    def operation(self, op_id: str) -> Operation | None:
        """An operation by id."""
        return next((o for o in self.operations if o.id == op_id), None)

    def receives(self) -> list[Operation]:
        """Operations for what clients send."""
        return [o for o in self.operations if o.action == "receive"]

    def request_answers(self) -> list[Operation]:
        """Receive operations with a reply and an example: one generated probe each."""
        return [o for o in self.operations if o.generated]

    def pushes(self) -> list[Operation]:
        """Send operations (what the service pushes)."""
        return [o for o in self.operations if o.action == "send"]

    def client_types(self) -> set[str]:
        """Every message type a client may send."""
        return {m.type for o in self.receives() for m in o.messages if m.type}

    def auth_only_types(self) -> frozenset[str]:
        """Message types only an authenticated session may send."""
        return frozenset(m.type for o in self.receives() if o.auth for m in o.messages if m.type)

    def server_messages(self) -> dict[str, list[Message]]:
        """The messages the service sends (replies and pushes), by ``type`` value."""
        return self._server_messages

    @functools.cached_property
    def _server_messages(self) -> dict[str, list[Message]]:
        out: dict[str, list[Message]] = {}
        for o in self.operations:
            for m in o.reply if o.action == "receive" else o.messages:
                if m.type and all(m.key != x.key for x in out.get(m.type, [])):
                    out.setdefault(m.type, []).append(m)
        for m in self.error_messages():  # an error message the contract declares is one the service sends
            if m.type and all(m.key != x.key for x in out.get(m.type, [])):
                out.setdefault(m.type, []).append(m)
        return out

    def operation_for(self, probe: str) -> Operation | None:
        """The first receive operation mapped to ``probe`` (``x-readiness.probe``, default ``messaging.<id>``)
        whose request has an example: what a probe written as code sends; None when the contract maps none."""
        return next(
            (
                o
                for o in self.receives()
                if o.probe_name == probe and o.request is not None and o.request.example is not None
            ),
            None,
        )

    def auth_check_operation(self) -> Operation | None:
        """The authentication-only request the suite sends to tell an anonymous session from an authenticated one:
        the operation marked ``authCheck``, else the first authentication-only one with an example and a reply."""
        ops = [
            o for o in self.receives() if o.auth and o.reply and o.request is not None and o.request.example is not None
        ]
        return next((o for o in ops if o.auth_check), ops[0] if ops else None)

    def stopper(self) -> Operation | None:
        """The first receive operation that ends another's pushes (``x-readiness.stops``) and has an example."""
        return next(
            (
                o
                for o in self.receives()
                if o.stops is not None
                and o.request is not None
                and o.request.example is not None
                and self.operation(o.stops.operation) is not None
            ),
            None,
        )

    def subscription(self) -> Operation | None:
        """The request that subscribes a session to a channel of ``x-readiness.channels``: the operation marked
        ``subscribes: true``, else the first receive operation with an example naming a declared channel (at a
        top-level string) that needs no setup (an unsubscribe needs a subscription first); None when none does."""
        ops = [o for o in self.receives() if o.request is not None and o.request.example is not None]
        marked = next((o for o in ops if o.subscribes), None)
        if marked is not None or not self.channels:
            return marked

        def fields(example: Any) -> list[Any]:  # an object's values, or an array message's elements
            return (
                list(example.values())
                if isinstance(example, dict)
                else list(example)
                if isinstance(example, list)
                else []
            )

        return next(
            (
                o
                for o in ops
                if not o.setup
                and any(
                    isinstance(v, str) and self.channel_for(v) is not None
                    for v in fields(o.request.example if o.request is not None else None)
                )
            ),
            None,
        )

    def unsubscription(self) -> Operation | None:
        """The request that ends a session's subscription to a channel: the receive operation marked
        ``unsubscribes: true`` with an example; None when none is (nothing is guessed)."""
        return next(
            (o for o in self.receives() if o.unsubscribes and o.request is not None and o.request.example is not None),
            None,
        )

    def round_trip(self) -> Operation | None:
        """The request/answer the suite checks a session is alive with: ``ping`` when declared, else the first
        generated operation that needs neither authentication nor setup."""
        ops = [o for o in self.request_answers() if not o.auth and not o.setup]
        return next((o for o in ops if o.request is not None and o.request.type == "ping"), ops[0] if ops else None)

    @property
    def error_type(self) -> str:
        """The ``type`` of the service's error frames (``x-readiness.errors.message``, default ``error``)."""
        return self.errors.get("message") or "error"

    @property
    def has_error_frames(self) -> bool:
        """Whether the service's protocol has error frames at all: the contract declares them (an error kind or
        messages, a code, an envelope; ``errors.httpBody`` is of HTTP) or a message of the default error kind. A
        protocol whose every error is a close code has none (Discord's gateway)."""
        return (
            any(k != "httpBody" for k in self.errors)
            or self.envelope is not None
            or any(m.type == self.error_type for m in self.messages.values())
        )

    def http_error_issue(self, body: Any) -> SchemaIssue | None:
        """How an HTTP error body is off the contract's ``errors.httpBody`` schema (None: on it, or no schema)."""
        schema = self.errors.get("httpBody")
        if not isinstance(schema, dict):
            return None
        return Message("httpBody", None, schema).error(body)

    def error_code(self, frame: Any) -> Any:
        """The machine code of an error frame (at ``x-readiness.errors.code``, default ``/code``); None for other
        frames."""
        if not self.is_error(frame):
            return None
        return pointer_get(frame, self.errors.get("code") or "/code")

    def is_named_error(self, frame: Any, name: Any) -> bool:
        """Whether a frame is the error the contract names for a case (``errors.unknownType``, ...): an error frame
        with that machine code, or -- for error messages with no code field, told by their schema -- an error frame
        of that message (its kind or key: ``forbidden``). ``name`` None: any error frame without a code."""
        if not self.is_error(frame):
            return False
        return bool(self.error_code(frame) == name or (name is not None and self.kind_of(frame) == name))

    # -- the wire: kinds, errors, correlation, ids ----------------------------------------
    @functools.cached_property
    def array_frames(self) -> bool:
        """Whether a received JSON array is one message, read through the contract's pointers like an object (RFC
        6901 indexes arrays): where a message's payload is an array and the contract declares no batches (where it
        does, an array is several messages)."""

        def is_array(schema: dict[str, Any]) -> bool:
            t = schema.get("type")
            return t == "array" or (isinstance(t, list) and "array" in t) or "prefixItems" in schema

        return not self.batch and any(is_array(m.schema) for m in self.messages.values())

    def kind_of(self, frame: Any, *, sent: bool = False) -> str | None:
        """The kind of a frame as this contract tells them apart: the string at its kind pointer, else the
        message (of the service's when received, of the clients' when ``sent``) whose schema it validates
        against; the reader's markers keep theirs (``invalid``, ``binary``); None for anything else."""
        if not isinstance(frame, (dict, list)):
            return None
        if isinstance(frame, dict) and is_marker(frame):
            kind = frame.get("type")
            return kind if isinstance(kind, str) else None
        if self.kind_pointer is not None:
            value = pointer_get(frame, self.kind_pointer)
            if is_kind_value(value):
                return self._kind_name(value)
        for m in self._client_by_schema if sent else self._server_by_schema:
            if m.error(frame) is None:
                return m.type
        return None

    @functools.cached_property
    def _declared_kinds(self) -> dict[tuple[str, Any], str]:
        """Every kind a message of the contract fixes, by its JSON value (:func:`kind_key`) -> its text."""
        return {kind_key(m.kind): str(m.type) for m in self.messages.values() if m.kind is not None}

    def _kind_name(self, value: Any) -> str:
        """The kind of a value at the kind pointer, compared by JSON value: a declared kind's text; an undeclared
        value's text, quoted or typed where that text is a declared kind's (``"10"`` where ``op: 10`` is declared)."""
        declared = self._declared_kinds
        name = declared.get(kind_key(value))
        if name is not None:
            return name
        text = kind_text(value)
        if text not in declared.values():
            return text
        return json.dumps(value) if isinstance(value, str) else f"{text} ({kind_key(value)[0]})"

    def kind_word(self, kind: Any) -> str:
        """A kind as the tool names it in what it writes: as is where it is a word (a string kind, a message told by
        its schema), else the keys of the messages of that kind (``hello`` for ``op: 10``; ``ready/presence`` for a
        kind two messages share); an undeclared kind as its text."""
        keys = [
            m.key
            for m in self.messages.values()
            if m.kind is not None and not isinstance(m.kind, str) and m.type == kind
        ]
        return "/".join(keys) if keys else str(kind)

    def word_of(self, frame: Any) -> str:
        """A received frame named as the tool writes it: the word of the contract's message it is (of its kind, the
        first whose schema it validates against), else its kind's (:meth:`kind_word`)."""
        kind = self.kind_of(frame)
        for m in self.server_messages().get(kind or "", ()):
            if m.error(frame) is None:
                return m.word
        return self.kind_word(kind)

    def kind_value(self, kind: str) -> Any:
        """The JSON value a kind of the contract is written as on the wire (``10`` for the kind ``10`` of integer
        kinds); an undeclared kind as is."""
        return next((m.kind for m in self.messages.values() if m.kind is not None and m.type == kind), kind)

    def unknown_kind(self, seed: str = "no_such_type_xyz") -> Any:
        """A kind no message of the contract has, of the JSON type its kinds are (an unused integer where they are
        integers: a service that reads an integer kind would refuse a string as undecodable, not as unknown);
        ``seed`` where its kinds are strings (or none is declared). Different seeds give different kinds."""
        values = [m.kind for m in self.messages.values() if m.kind is not None]
        if not values or any(isinstance(v, str) for v in values) or all(isinstance(v, bool) for v in values):
            taken = {kind_text(v) for v in values}
            return seed if seed not in taken else f"{seed}_{len(taken)}"
        numbers = [v for v in values if not isinstance(v, bool)]
        start = max(int(max(numbers)) + 1000, 9000)  # far from the declared ones (a range the protocol may grow into)
        return start + int.from_bytes(hashlib.sha256(seed.encode()).digest()[:3], "big")

    @functools.cached_property
    def _server_by_schema(self) -> tuple[Message, ...]:
        return tuple(m for ms in self.server_messages().values() for m in ms if m.by_schema)

    @functools.cached_property
    def _client_by_schema(self) -> tuple[Message, ...]:
        return tuple(dict.fromkeys(m for o in self.receives() for m in o.messages if m.by_schema))

    def error_kinds(self) -> frozenset[str]:
        """The kinds of the service's error frames: ``errors.messages`` when declared, else ``errors.message``."""
        declared = self.errors.get("messages")
        # a message told apart by its schema alone has no type value: it names no kind here
        kinds = {t for k in declared or () if (t := self.messages[k].type if k in self.messages else k) is not None}
        return frozenset(kinds or {self.error_type})

    def is_error(self, frame: Any) -> bool:
        """Whether a frame is an error answer: of an error kind, or an error by the declared envelope."""
        if not isinstance(frame, (dict, list)) or is_marker(frame):
            return False
        if self.envelope is not None:  # one envelope for answers: the envelope alone tells an error
            return self.envelope.is_error(frame)
        return self.kind_of(frame) in self.error_kinds()

    @functools.cached_property
    def error_envelope(self) -> Envelope | None:
        """How an error answer is told without validating schemas: the declared envelope, else a top-level
        property every error message told by its schema requires and no other message the service sends
        requires (JSON-RPC's ``/error``); None when neither (error answers are then told by their kind)."""
        if self.envelope is not None:
            return self.envelope
        errors = [m for m in self.error_messages() if m.by_schema]
        if not errors:
            return None
        others = [m for ms in self.server_messages().values() for m in ms if m not in errors]
        taken = {str(r) for m in others for r in m.schema.get("required") or ()}
        common = set.intersection(*({str(r) for r in m.schema.get("required") or ()} for m in errors)) - taken
        return Envelope("/" + sorted(common)[0].replace("~", "~0").replace("/", "~1")) if common else None

    def error_messages(self) -> list[Message]:
        """The messages error frames are judged against (``errors.messages``, else those of ``errors.message``)."""
        out = [
            m
            for m in self.messages.values()
            if m.type in self.error_kinds() or m.key in (self.errors.get("messages") or ())
        ]
        return list(dict.fromkeys(out))

    @functools.cached_property
    def answer_pointers(self) -> tuple[str, ...]:
        """Where the service's messages carry a request's correlation id back (their correlationId locations)."""
        return tuple(
            dict.fromkeys(m.correlation for ms in self.server_messages().values() for m in ms if m.correlation)
        )

    def correlation_of(self, request: Any) -> str | None:
        """Where a request (a client message) carries its correlation id, by its kind; None: not correlated."""
        kind = self.kind_of(request, sent=True)
        for o in self.receives():
            for m in o.messages:
                if m.type == kind and m.correlation:
                    return m.correlation
        return None

    def stamped(self, request: Any, ids: IdSource) -> tuple[Any, Any]:
        """A request with a fresh id at its correlation pointer by the contract's id rule, and that id
        (None when the request carries none); the request itself when it is not correlated."""
        ptr = self.correlation_of(request) if isinstance(request, (dict, list)) else None
        if ptr is None:
            return request, None
        rid = ids.next(pointer_get(request, ptr))
        return set_pointer(request, ptr, rid), rid

    def answers_id(self, frame: Any, rid: Any) -> bool:
        """Whether a received frame carries ``rid`` back where its message carries a correlation id (where the
        contract's answers carry one, for a frame of a kind it does not know)."""
        if rid is None or not isinstance(frame, (dict, list)) or is_marker(frame):
            return False
        ms = self.server_messages().get(self.kind_of(frame) or "")
        pointers = [m.correlation for m in ms if m.correlation] if ms else list(self.answer_pointers)
        return any(pointer_get(frame, p, _NOTHING) == rid for p in pointers)

    def user_push_channel(self) -> Channel | None:
        """A channel a user subscribes to by its name and whose trigger pushes to one user (its path or body names
        ``{userId}``): where a push made for the run's user must arrive; None when the contract has none."""
        return next(
            (
                c
                for c in self.channels.values()
                if c.trigger is not None and "{" not in c.name and "{userId}" in _template_text(c.trigger)
            ),
            None,
        )

    def broadcast_channel(self) -> tuple[Channel, str] | None:
        """A channel whose trigger names the channel it pushes to (``{channel}`` in its path or body) and a concrete
        name of it (a pattern's placeholders filled: ``pitch:{id}`` -> ``pitch:42``); None when the contract has
        none."""
        for c in self.channels.values():
            if c.trigger is not None and "{channel}" in _template_text(c.trigger):
                return c, re.sub(r"\{[^}]*\}", "42", c.name)
        return None

    def push_channel(self) -> Channel | None:
        """A channel that pushes at a fixed interval (the first declared with ``intervalSeconds`` and a push)."""
        return next((c for c in self.channels.values() if c.interval_s and c.pushes and "{" not in c.name), None)

    def declares_type(self, mtype: str) -> bool:
        """Whether clients may send ``mtype``."""
        return mtype in self.client_types()

    def check_frame(self, frame: Any) -> SchemaIssue | None:
        """Validate a received frame against the contract's message of its kind (None: it conforms).

        A frame whose kind the service never sends per the contract is an issue at the kind's path.
        """
        if not isinstance(frame, (dict, list)) or is_marker(frame):
            return None
        mtype = self.kind_of(frame)
        if mtype is None:
            if self.kind_pointer is None:
                return SchemaIssue(
                    "", "$", "the frame matches none of the messages the contract says the service sends"
                )
            return None  # the json_frames invariant judges those
        candidates = self.server_messages().get(mtype)
        if not candidates:
            where = "$" + (self.kind_pointer or "").replace("/", ".")
            return SchemaIssue("", where, f"{mtype!r} is not a message the contract says the service sends")
        if self.envelope is not None and self.envelope.is_error(frame) and self.error_messages():
            candidates = self.error_messages()
        issues = []
        for m in candidates:
            issue = m.error(frame)
            if issue is None:
                return None
            issues.append(issue)
        return issues[0]

    def channel_for(self, name: str) -> Channel | None:
        """The declared channel a concrete name falls under (``pitch:42`` -> ``pitch:{id}``)."""
        if name in self.channels:
            return self.channels[name]
        for pat, ch in self.channels.items():
            if "{" in pat and re.fullmatch(re.sub(r"\\\{[^}]*\\\}", ".+", re.escape(pat)), name):
                return ch
        return None

    def http_triggers(self) -> list[tuple[str, HttpCall, Channel | None]]:
        """Every HTTP call the contract says makes the service push: (name, call, its channel or None) -- the
        channels' triggers (named by their channel), then ``x-readiness.triggers``."""
        out: list[tuple[str, HttpCall, Channel | None]] = [
            (n, c.trigger, c) for n, c in self.channels.items() if c.trigger
        ]
        return out + [(n, t, None) for n, t in self.triggers.items()]

    def login_path(self, user_type: str) -> str | None:
        """The login path of a user type."""
        return self.login.paths.get(user_type) if self.login else None

    def endpoint(self, name: str) -> dict[str, Any] | None:
        """An endpoint of ``x-readiness.endpoints`` (health, wsHealth, stats)."""
        return self.endpoints.get(name)

    def limit(self, name: str) -> Limit | None:
        """A limit of ``x-readiness.limits``."""
        return self.limits.get(name)

    def session_count_sources(self) -> list[tuple[str, str, bool]]:
        """Where the service reports its open-session count: (path, JSON pointer, needs an admin token)."""
        out = []
        stats = self.endpoints.get("stats") or {}
        if stats.get("sessions"):
            out.append((stats["path"], stats["sessions"], bool(stats.get("admin"))))
        ws = self.endpoints.get("wsHealth") or {}
        if ws.get("connections"):
            out.append((ws["path"], ws["connections"], False))
        return out

    def memory_sources(self) -> list[tuple[str, str, bool]]:
        """Where the service reports its resident memory in bytes: (path, JSON pointer, needs an admin token)."""
        out = []
        for name in ("wsHealth", "stats"):  # the public document first
            ep = self.endpoints.get(name) or {}
            if ep.get("memory"):
                out.append((ep["path"], ep["memory"], bool(ep.get("admin"))))
        return out

    def message_type_rows(self) -> dict[str, str]:
        """Message-type table rows of this contract: label -> probe name (receive operations, then pushes)."""
        rows: dict[str, str] = {}
        if self.first_frame:
            rows[self.first_frame.type] = "connection.single_connected_frame"
        for o in self.receives():
            if o.probe_name not in rows.values():
                rows[o.label()] = o.probe_name
        return rows

    def error_rows(self) -> dict[str, str]:
        """Message-type table rows of the error answers this contract names a code for: label -> probe
        (e.g. ``error auth_required`` -> ``auth.required_for_protected``; a ``problem`` frame coded
        ``login_first`` when the contract spells it so)."""
        rows: dict[str, str] = {}
        for key, probe, note in ERROR_ROWS:
            code = self.errors.get(key)
            if code:
                rows[f"{self.error_type} {code}{note}"] = probe
        return rows

    def summary(self) -> dict[str, Any]:
        """What the manifest keeps about the contract."""
        return {
            "name": self.name,
            "title": self.title,
            "version": self.version,
            "sha256": self.sha256,
            "source": self.source,
            "format": self.file_format,
        }


def _template_text(call: HttpCall) -> str:
    """An HTTP call's path and body template as one text (to see which placeholders it fills; pure)."""
    import json

    return call.path + " " + json.dumps(call.body, sort_keys=True, default=str)


#: The error answers the message-type table lists: (x-readiness.errors key, the probe that judges it, a note).
ERROR_ROWS: tuple[tuple[str, str, str], ...] = (
    ("invalidFormat", "messaging.invalid_json", " (not JSON)"),
    ("invalidFormat", "messaging.missing_type", " (no type)"),
    ("unknownType", "messaging.unknown_type", ""),
    ("forbiddenChannel", "messaging.forbidden_channel", ""),
    ("authRequired", "auth.required_for_protected", ""),
)
