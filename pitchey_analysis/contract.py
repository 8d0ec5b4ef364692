"""The service contract as data: an AsyncAPI 3.0 document plus an ``x-readiness`` extension.

A contract says what the service under test does: the messages clients send
(``action: receive`` operations of the service, with their ``reply``), what it
pushes (``action: send``), their payloads as JSON Schema, and, in
``x-readiness`` (docs/contract.md), what a readiness suite needs besides:
logins, upgrade authentication, the first frame, endpoints with JSON pointers
to live figures, push triggers, limits with their close codes, targets.

Three steps, each a plain function:
    :func:`read_document` (file or shipped name -> text and mapping),
    :func:`validate_document` (-> :class:`ContractError` naming the JSON path of the first error),
    :func:`build` (-> :class:`Contract`, the typed model the rest of the code reads).
:func:`load_contract` does all three. Nothing here does network I/O.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

# jsonschema is imported where it validates: importing it costs seconds of CPU where the optional rfc3987-syntax is
# installed (Jupyter pulls it in; it compiles ~35 grammars at import, python-jsonschema/jsonschema#1428), which every
# command that never validates a payload (--help, argument errors, report) would pay.
if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

from .exceptions import UsageError


def skip_unused_format_plugins() -> None:
    """Let a later ``import jsonschema`` in this process skip its optional IRI format plugin.

    Contracts are validated without format checking (``format`` is an annotation here), so the
    ``iri``/``iri-reference`` checkers that jsonschema registers when ``rfc3987-syntax`` is installed
    are never used -- but registering them compiles Lark grammars at import, seconds of CPU
    (python-jsonschema/jsonschema#1428; Jupyter installs the plugin). Called by the process's owner
    only (the console command, the tests), as it changes what ``jsonschema.FormatChecker`` knows in
    the whole process; a no-op once jsonschema or the plugin is imported.
    """
    import sys

    if "jsonschema" not in sys.modules and "rfc3987_syntax" not in sys.modules:
        sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]  # import raises ImportError: jsonschema skips it

CONTRACTS_DIR = Path(__file__).resolve().parent / "contracts"
DEFAULT = "pitchey"
SUFFIXES = (".asyncapi.yaml", ".asyncapi.yml", ".asyncapi.json", ".yaml", ".yml", ".json")


class ContractError(UsageError):
    """A contract that cannot be read or does not validate; ``path`` is the JSON path of the first error."""

    def __init__(self, message: str, path: str = "$") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


# -- the document schema -------------------------------------------------------------
_REF = {"type": "object", "required": ["$ref"], "properties": {"$ref": {"type": "string", "pattern": "^#/"}}}
_POINTER = {"type": "string", "pattern": "^(/([^/~]|~[01])*)*$"}
_CLOSE = {"type": "integer", "minimum": 1000, "maximum": 4999}
_STATUS = {"type": "integer", "minimum": 100, "maximum": 599}
_EXT: dict[str, Any] = {"^x-": {}}


def _obj(props: dict[str, Any], required: list[str] | None = None, *, closed: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    if closed:
        out["additionalProperties"] = False
        out["patternProperties"] = _EXT
    return out


_HTTP_CALL = _obj({"method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE"]}, "path": {"type": "string", "pattern": "^/"},
                   "admin": {"type": "boolean"}, "body": {}, "status": _STATUS, "description": {"type": "string"}}, ["path"])
_LIMIT_PROPS = {"close": _CLOSE, "description": {"type": "string"}}

#: x-readiness at the root: every field optional (what is not declared is not tested).
X_READINESS_ROOT = _obj({
    "login": _obj({
        "users": {"type": "object", "additionalProperties": _obj({"path": {"type": "string", "pattern": "^/"}}, ["path"])},
        "method": {"enum": ["POST", "PUT"]},
        "body": {"type": "object"},
        "status": _STATUS,
        "token": _POINTER,
        "userId": _POINTER,
        "refusedStatus": {"type": "array", "items": _STATUS},
    }),
    "admin": _obj({"path": {"type": "string", "pattern": "^/"}, "userType": {"type": "string"}}),
    "upgrade": _obj({
        "query": {"type": "string"}, "header": {"type": "string"}, "scheme": {"type": "string"},
        "message": {"type": "string"}, "success": {"type": "string"}, "failure": {"type": "string"},
        "jwt": _obj({"algorithms": {"type": "array", "items": {"type": "string"}}, "issuer": {"type": "string"},
                     "audience": {"type": "string"}}),
    }),
    "firstFrame": _obj({
        "type": {"type": "string"}, "authenticated": _POINTER, "user": _POINTER, "userId": _POINTER, "authError": _POINTER,
        "capabilities": _POINTER, "capabilitiesAuthenticated": {"type": "array", "items": {"type": "string"}},
        "capabilitiesAnonymous": {"type": "array", "items": {"type": "string"}},
    }, ["type"]),
    "errors": _obj({"message": {"type": "string"}, "code": _POINTER, **{k: {"type": "string"} for k in (
        "invalidFormat", "unknownType", "authRequired", "forbiddenChannel", "rateLimited", "invalidToken", "expiredToken",
        "userNotFound")},
        # JSON Schema of HTTP error bodies (readiness.no_stack_traces notes bodies off it; conformance, not a leak)
        "httpBody": {"type": "object"}}),
    "channels": {"type": "object", "additionalProperties": _obj({
        "auth": {"type": "boolean"}, "owner": {"type": "boolean"}, "pushes": {"type": "array", "items": {"type": "string"}},
        "intervalSeconds": {"type": "number", "exclusiveMinimum": 0}, "trigger": _HTTP_CALL, "description": {"type": "string"},
    })},
    "endpoints": _obj({
        "health": _obj({"path": {"type": "string", "pattern": "^/"}, "status": _POINTER, "healthy": {}}, ["path"]),
        "wsHealth": _obj({"path": {"type": "string", "pattern": "^/"}, "status": _POINTER, "connections": _POINTER,
                          "endpoint": _POINTER}, ["path"]),
        "stats": _obj({"path": {"type": "string", "pattern": "^/"}, "admin": {"type": "boolean"}, "sessions": _POINTER}, ["path"]),
    }),
    "securityHeaders": {"type": "array", "items": {"type": "string"}},
    "origin": _obj({"refusedStatus": {"const": 403}}),
    "limits": _obj({
        "messageSize": _obj({"bytes": {"type": "integer", "minimum": 1}, **_LIMIT_PROPS}, ["bytes"]),
        "invalidUtf8": _obj(_LIMIT_PROPS),
        "rate": _obj({"burst": {"type": "integer", "minimum": 1}, "refillPerSecond": {"type": "number", "minimum": 0},
                      "error": {"type": "string"}, **_LIMIT_PROPS}, ["burst"]),
        "lockout": _obj({"failures": {"type": "integer", "minimum": 1}, "windowSeconds": {"type": "number", "exclusiveMinimum": 0},
                         "key": {"enum": ["socket", "forwarded"]}, **_LIMIT_PROPS}, ["failures"]),
        "idleTimeout": _obj({"seconds": {"type": "number", "exclusiveMinimum": 0}, **_LIMIT_PROPS}, ["seconds"]),
        "serverPing": _obj({"intervalSeconds": {"type": "number", "exclusiveMinimum": 0},
                            "timeoutSeconds": {"type": "number", "exclusiveMinimum": 0}, **_LIMIT_PROPS}, ["intervalSeconds"]),
        "sendQueue": _obj({"messages": {"type": "integer", "minimum": 1}, **_LIMIT_PROPS}),
        "shutdown": _obj(_LIMIT_PROPS),
    }),
    "targets": _obj({
        "connectP95Ms": {"type": "number", "exclusiveMinimum": 0}, "roundTripP95Ms": {"type": "number", "exclusiveMinimum": 0},
        "tlsHandshakeP95Ms": {"type": "number", "exclusiveMinimum": 0},
        "concurrency": _obj({"level": {"type": "integer", "minimum": 1}, "minSuccessRate": {"type": "number", "minimum": 0, "maximum": 1}}),
    }),
})

#: x-readiness on an operation.
X_READINESS_OPERATION = _obj({
    "probe": {"type": "string", "pattern": r"^[a-z_]+\.[A-Za-z0-9_.:-]+$"},
    "critical": {"type": "boolean"},
    "auth": {"type": "boolean"},
    "generate": {"type": "boolean"},
    "authCheck": {"type": "boolean"},
    "expected": {"type": "string"},
    "echo": {"type": "array", "items": {"type": "string"}},
    "setup": {"type": "array", "items": _obj({"send": {"type": "object"}, "await": {"type": "string"}}, ["send"])},
})

#: The subset of AsyncAPI 3.0 the suite reads, plus x-readiness (Draft 2020-12).
DOCUMENT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["asyncapi", "info", "operations"],
    "properties": {
        "asyncapi": {"type": "string", "pattern": r"^3\.0\.\d+$"},
        "info": {"type": "object", "required": ["title", "version"],
                 "properties": {"title": {"type": "string"}, "version": {"type": "string"}}},
        "servers": {"type": "object"},
        "defaultContentType": {"type": "string"},
        "channels": {"type": "object", "additionalProperties": {
            "type": "object",
            "properties": {"address": {"type": ["string", "null"]}, "messages": {"type": "object", "additionalProperties": {"type": "object"}},
                           "bindings": {"type": "object"}},
        }},
        "operations": {"type": "object", "additionalProperties": {
            "type": "object",
            "required": ["action", "channel"],
            "properties": {
                "action": {"enum": ["send", "receive"]},
                "channel": _REF,
                "messages": {"type": "array", "items": _REF},
                "reply": {"type": "object", "properties": {"channel": _REF, "messages": {"type": "array", "items": _REF}}},
                "x-readiness": X_READINESS_OPERATION,
            },
        }},
        "components": {"type": "object", "properties": {
            "messages": {"type": "object", "additionalProperties": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "payload": {"type": "object"},
                               "examples": {"type": "array", "items": {"type": "object", "properties": {"payload": {}}}},
                               "x-readiness": _obj({"probe": {"type": "string"}, "critical": {"type": "boolean"}})},
            }},
            "schemas": {"type": "object"},
        }},
        "x-readiness": X_READINESS_ROOT,
    },
}


# -- the model -------------------------------------------------------------------------
@dataclass(frozen=True)
class Message:
    """A message of the contract: its key, its ``type`` value and its payload schema (refs resolved)."""

    key: str
    type: str | None
    schema: dict[str, Any]
    example: dict[str, Any] | None = None
    title: str = ""

    @functools.cached_property
    def validator(self) -> Draft202012Validator:
        """A compiled validator of the payload."""
        from jsonschema import Draft202012Validator

        return Draft202012Validator(self.schema)

    def error(self, payload: Any) -> SchemaIssue | None:
        """The best-matching schema error of a payload, or None when it validates."""
        from jsonschema.exceptions import best_match

        err = best_match(self.validator.iter_errors(payload))
        if err is None:
            return None
        return SchemaIssue(self.key, err.json_path, err.message[:300], "/".join(str(p) for p in err.absolute_schema_path))

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
    setup: tuple[dict[str, Any], ...] = ()
    auth_check: bool = False

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
        return (self.action == "receive" and self.generate and self.answer is not None and self.request is not None
                and self.request.example is not None)

    def label(self) -> str:
        """The row label of the message-type table, e.g. ``ping → pong``."""
        req = self.request.type if self.request else self.id
        if self.action == "send":
            return f"{req} (push)"
        if not self.reply:
            return str(req)
        return f"{req} → {' / '.join(dict.fromkeys(str(m.type) for m in self.reply if m.type != 'error'))}"


@dataclass(frozen=True)
class HttpCall:
    """An HTTP request the suite makes: method, path, admin token or not, body template, expected status."""

    path: str
    method: str = "GET"
    admin: bool = False
    body: Any = None
    status: int | None = None


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

    def authenticated_in(self, frame: Any) -> bool:
        """Whether a first frame says the session is authenticated (``/authenticated`` when no pointer is declared)."""
        return pointer_get(frame, self.authenticated or "/authenticated") is True

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
            for m in (o.reply if o.action == "receive" else o.messages):
                if m.type and all(m.key != x.key for x in out.get(m.type, [])):
                    out.setdefault(m.type, []).append(m)
        return out

    def auth_check_operation(self) -> Operation | None:
        """The authentication-only request the suite sends to tell an anonymous session from an authenticated one:
        the operation marked ``authCheck``, else the first authentication-only one with an example and a reply."""
        ops = [o for o in self.receives() if o.auth and o.reply and o.request is not None and o.request.example is not None]
        return next((o for o in ops if o.auth_check), ops[0] if ops else None)

    def round_trip(self) -> Operation | None:
        """The request/answer the suite checks a session is alive with: ``ping`` when declared, else the first
        generated operation that needs neither authentication nor setup."""
        ops = [o for o in self.request_answers() if not o.auth and not o.setup]
        return next((o for o in ops if o.request is not None and o.request.type == "ping"), ops[0] if ops else None)

    @property
    def error_type(self) -> str:
        """The ``type`` of the service's error frames (``x-readiness.errors.message``, default ``error``)."""
        return self.errors.get("message") or "error"

    def http_error_issue(self, body: Any) -> SchemaIssue | None:
        """How an HTTP error body is off the contract's ``errors.httpBody`` schema (None: on it, or no schema)."""
        schema = self.errors.get("httpBody")
        if not isinstance(schema, dict):
            return None
        return Message("httpBody", None, schema).error(body)

    def error_code(self, frame: Any) -> Any:
        """The machine code of an error frame (at ``x-readiness.errors.code``, default ``/code``); None for other frames."""
        if not isinstance(frame, dict) or frame.get("type") != self.error_type:
            return None
        return pointer_get(frame, self.errors.get("code") or "/code")

    def push_channel(self) -> Channel | None:
        """A channel that pushes at a fixed interval (the first declared with ``intervalSeconds`` and a push)."""
        return next((c for c in self.channels.values() if c.interval_s and c.pushes and "{" not in c.name), None)

    def declares_type(self, mtype: str) -> bool:
        """Whether clients may send ``mtype``."""
        return mtype in self.client_types()

    def check_frame(self, frame: Any) -> SchemaIssue | None:
        """Validate a received frame against the contract's message of its ``type`` (None: it conforms).

        A frame whose type the service never sends per the contract is an issue at ``$.type``.
        """
        if not isinstance(frame, dict):
            return None
        mtype = frame.get("type")
        if not isinstance(mtype, str):
            return None  # the json_frames invariant judges those
        candidates = self.server_messages().get(mtype)
        if not candidates:
            return SchemaIssue("", "$.type", f"{mtype!r} is not a message the contract says the service sends")
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
        return {"name": self.name, "title": self.title, "version": self.version, "sha256": self.sha256,
                "source": self.source, "format": self.file_format}


#: The error answers the message-type table lists: (x-readiness.errors key, the probe that judges it, a note).
ERROR_ROWS: tuple[tuple[str, str, str], ...] = (
    ("invalidFormat", "messaging.invalid_json", " (not JSON)"),
    ("invalidFormat", "messaging.missing_type", " (no type)"),
    ("unknownType", "messaging.unknown_type", ""),
    ("forbiddenChannel", "messaging.forbidden_channel", ""),
    ("authRequired", "auth.required_for_protected", ""),
)


# -- reading -----------------------------------------------------------------------------
def shipped() -> list[str]:
    """The names of the contracts shipped with the package."""
    return sorted(p.name.split(".")[0] for p in CONTRACTS_DIR.glob("*.asyncapi.*"))


def locate(ref: str | Path) -> Path:
    """The file of a contract given as a path or a shipped name."""
    p = Path(ref)
    if p.is_file():
        return p
    for suffix in SUFFIXES:
        cand = CONTRACTS_DIR / f"{ref}{suffix}"
        if cand.is_file():
            return cand
    raise ContractError(f"no contract file {str(ref)!r} and no shipped contract of that name (shipped: {', '.join(shipped())})", "")


def read_document(ref: str | Path) -> tuple[str, dict[str, Any], Path]:
    """Read a contract file (YAML or JSON): its text, its mapping, its path."""
    path = locate(ref)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ContractError(f"cannot read {path}: {exc}", "") from None
    return text, parse_text(text, str(path)), path


def parse_text(text: str, where: str = "<contract>") -> dict[str, Any]:
    """Parse YAML or JSON text into a mapping."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ContractError(f"{where} is not YAML/JSON{at}: {getattr(exc, 'problem', None) or exc}", "$") from None
    if not isinstance(doc, dict):
        raise ContractError("a contract is a mapping (an AsyncAPI document)", "$")
    return doc


def resolve_pointer(doc: Any, pointer: str) -> Any:
    """The value at a JSON pointer (RFC 6901) in ``doc``; KeyError when absent."""
    if pointer in ("", "/"):
        return doc if pointer == "" else doc.get("")
    cur = doc
    for part in pointer.lstrip("/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            raise KeyError(pointer)
    return cur


def pointer_get(doc: Any, pointer: str | None, default: Any = None) -> Any:
    """The value at a JSON pointer, or ``default`` when the pointer is None or absent."""
    if pointer is None:
        return default
    try:
        return resolve_pointer(doc, pointer)
    except (KeyError, TypeError, AttributeError):
        return default


def _path(parts: Any) -> str:
    out = "$"
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if re.fullmatch(r"[A-Za-z_][\w-]*", str(p)) else f"[{json.dumps(p)}]")
    return out


def _walk_refs(node: Any, parts: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield parts + ("$ref",), node["$ref"]
        for k, v in node.items():
            yield from _walk_refs(v, parts + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk_refs(v, parts + (i,))


def validate_document(doc: dict[str, Any]) -> None:
    """Validate a contract document; raises :class:`ContractError` with the JSON path of the first error."""
    import jsonschema
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    err = best_match(Draft202012Validator(DOCUMENT_SCHEMA).iter_errors(doc))
    if err is not None:
        raise ContractError(err.message, err.json_path)
    for parts, ref in _walk_refs(doc):
        if not ref.startswith("#/"):
            raise ContractError(f"only local references are supported, got {ref!r}", _path(parts))
        try:
            resolve_pointer(doc, ref[1:])
        except KeyError:
            raise ContractError(f"reference {ref!r} points at nothing", _path(parts)) from None
    for key, msg in ((doc.get("components") or {}).get("messages") or {}).items():
        payload = msg.get("payload")
        if isinstance(payload, dict):
            try:
                Draft202012Validator.check_schema(_resolved(doc, payload))
            except jsonschema.SchemaError as exc:
                raise ContractError(f"payload is not a JSON Schema: {exc.message}",
                                    _path(("components", "messages", key, "payload", *exc.absolute_path))) from None
            for i, ex in enumerate(msg.get("examples") or []):
                if "payload" in ex:
                    bad = best_match(Draft202012Validator(_resolved(doc, payload)).iter_errors(ex["payload"]))
                    if bad is not None:
                        raise ContractError(f"example does not match the payload schema: {bad.message}",
                                            _path(("components", "messages", key, "examples", i, "payload", *bad.absolute_path)))
    for op_id, op in (doc.get("operations") or {}).items():
        for i, m in enumerate(op.get("messages") or []):
            if not m["$ref"].startswith(op["channel"]["$ref"] + "/messages/"):
                raise ContractError(f"an operation's messages must be messages of its channel {op['channel']['$ref']}",
                                    _path(("operations", op_id, "messages", i, "$ref")))
    x = doc.get("x-readiness") or {}
    types = {m.get("payload", {}).get("properties", {}).get("type", {}).get("const")
             for m in ((doc.get("components") or {}).get("messages") or {}).values() if isinstance(m.get("payload"), dict)}
    first = (x.get("firstFrame") or {}).get("type")
    if first is not None and first not in types:
        raise ContractError(f"no message has type {first!r}", "$['x-readiness'].firstFrame.type")
    for cname, ch in (x.get("channels") or {}).items():
        for i, t in enumerate(ch.get("pushes") or []):
            if t not in types:
                raise ContractError(f"no message has type {t!r}", _path(("x-readiness", "channels", cname, "pushes", i)))


def _resolved(doc: dict[str, Any], node: Any, depth: int = 0) -> Any:
    """``node`` with local ``$ref`` replaced by their targets (recursively; refs nested 20 deep at most)."""
    if depth > 20:
        raise ContractError("references nested too deep (a cycle?)", "$")
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
            target = copy.deepcopy(resolve_pointer(doc, node["$ref"][1:]))
            rest = {k: v for k, v in node.items() if k != "$ref"}
            merged = _resolved(doc, target, depth + 1)
            if rest and isinstance(merged, dict):
                merged = {**merged, **_resolved(doc, rest, depth + 1)}
            return merged
        return {k: _resolved(doc, v, depth) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolved(doc, v, depth) for v in node]
    return node


# -- building the model -----------------------------------------------------------------
def build(doc: dict[str, Any], *, name: str = "contract", text: str = "", source: str = "", file_format: str = "yaml") -> Contract:
    """The typed model of a validated document."""
    comp = (doc.get("components") or {}).get("messages") or {}
    messages: dict[str, Message] = {}

    def message(ref: str) -> Message:
        node = resolve_pointer(doc, ref[1:])
        key = ref.rsplit("/", 1)[-1]
        # a channel's message is a $ref to a component (or inline): follow it to its component key
        if isinstance(node, dict) and isinstance(node.get("$ref"), str):
            key = node["$ref"].rsplit("/", 1)[-1]
            node = resolve_pointer(doc, node["$ref"][1:])
        if key in messages:
            return messages[key]
        payload = _resolved(doc, node.get("payload") or {})
        mtype = ((payload.get("properties") or {}).get("type") or {}).get("const")
        if mtype is None:
            enum = ((payload.get("properties") or {}).get("type") or {}).get("enum")
            mtype = enum[0] if isinstance(enum, list) and len(enum) == 1 else None
        examples = [e["payload"] for e in node.get("examples") or [] if isinstance(e, dict) and "payload" in e]
        m = Message(key, mtype, payload, examples[0] if examples else None, node.get("title") or node.get("name") or key)
        messages[key] = m
        return m

    for key in comp:
        message(f"#/components/messages/{key}")
    ops = []
    for op_id, op in (doc.get("operations") or {}).items():
        xr = op.get("x-readiness") or {}
        ms = tuple(message(m["$ref"]) for m in op.get("messages") or [])
        reply = tuple(message(m["$ref"]) for m in (op.get("reply") or {}).get("messages") or [])
        ops.append(Operation(
            op_id, op["action"], ms, reply, probe=xr.get("probe"), critical=bool(xr.get("critical", False)),
            auth=bool(xr.get("auth", False)), generate=bool(xr.get("generate", True)), expected=xr.get("expected", ""),
            echo=tuple(xr.get("echo") or ()), setup=tuple(xr.get("setup") or ()), auth_check=bool(xr.get("authCheck", False)),
        ))
    x = doc.get("x-readiness") or {}
    login = None
    if "login" in x:
        lg = x["login"]
        login = Login(
            paths={k: v["path"] for k, v in (lg.get("users") or {}).items()}, method=lg.get("method", "POST"),
            body=lg.get("body") or {"email": "{email}", "password": "{password}"}, status=lg.get("status", 200),
            token=lg.get("token", "/token"), user_id=lg.get("userId"),
            refused_status=tuple(lg.get("refusedStatus") or (400, 401, 403, 404)),
            admin_path=(x.get("admin") or {}).get("path"),
        )
    up = None
    if "upgrade" in x:
        u = x["upgrade"]
        up = Upgrade(u.get("query"), u.get("header"), u.get("scheme", "Bearer"), u.get("message"), u.get("success"),
                     u.get("failure"), dict(u.get("jwt") or {}))
    ff = None
    if "firstFrame" in x:
        f = x["firstFrame"]
        ff = FirstFrame(f["type"], f.get("authenticated"), f.get("user"), f.get("userId"), f.get("authError"),
                        f.get("capabilities"), tuple(f.get("capabilitiesAuthenticated") or ()),
                        tuple(f.get("capabilitiesAnonymous") or ()))
    channels = {}
    for cname, c in (x.get("channels") or {}).items():
        trig = c.get("trigger")
        channels[cname] = Channel(cname, bool(c.get("auth", False)), bool(c.get("owner", False)), tuple(c.get("pushes") or ()),
                                  c.get("intervalSeconds"),
                                  HttpCall(trig["path"], trig.get("method", "POST"), bool(trig.get("admin", False)), trig.get("body"),
                                           trig.get("status")) if trig else None)
    limits = {k: Limit(k, {kk: vv for kk, vv in v.items() if kk != "close"}, v.get("close")) for k, v in (x.get("limits") or {}).items()}
    info = doc.get("info") or {}
    return Contract(
        name=name, title=info.get("title", name), version=str(info.get("version", "")), text=text, document=doc,
        operations=tuple(ops), messages=messages, login=login, upgrade=up, first_frame=ff, errors={k: _resolved(doc, v) if k == "httpBody" else v for k, v in (x.get("errors") or {}).items()},
        channels=channels, endpoints=dict(x.get("endpoints") or {}), security_headers=tuple(x.get("securityHeaders") or ()),
        origin=x.get("origin"), limits=limits, targets=dict(x.get("targets") or {}), source=source, file_format=file_format,
    )


def contract_name(path: Path) -> str:
    """A contract's name from its file name (``pitchey.asyncapi.yaml`` -> ``pitchey``)."""
    n = path.name
    for suffix in SUFFIXES:
        if n.endswith(suffix):
            return n[: -len(suffix)]
    return path.stem


def load_contract(ref: str | Path = DEFAULT) -> Contract:
    """Read, validate and build a contract from a file path or a shipped name."""
    if str(ref) == DEFAULT:
        return default_contract()
    return _load(ref)


def _load(ref: str | Path, *, validate: bool = True) -> Contract:
    text, doc, path = read_document(ref)
    if validate:
        validate_document(doc)
    shipped_file = path.resolve().parent == CONTRACTS_DIR
    return build(doc, name=contract_name(path), text=text, source=f"shipped:{contract_name(path)}" if shipped_file else str(path),
                 file_format="json" if path.suffix == ".json" else "yaml")


def contract_from_text(text: str, *, name: str = "contract", source: str = "") -> Contract:
    """A contract from its text (a run directory's stored copy)."""
    doc = parse_text(text)
    validate_document(doc)
    return build(doc, name=name, text=text, source=source, file_format="json" if text.lstrip().startswith("{") else "yaml")


@functools.cache
def default_contract() -> Contract:
    """The shipped ``pitchey`` contract (PROTOCOL.md Part A), loaded once. Not validated again at each start (the
    probes register from it at import): the shipped documents are validated by the tests
    (``tests/test_contract.py::test_shipped_contracts_validate``) and ``pitchey-analysis contract check pitchey``."""
    return _load(DEFAULT, validate=False)
