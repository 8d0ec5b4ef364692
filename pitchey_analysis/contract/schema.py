"""The document schema: the subset of AsyncAPI 3.0 the suite reads, plus ``x-readiness`` (Draft 2020-12)."""

from __future__ import annotations

from typing import Any

_REF = {"type": "object", "required": ["$ref"], "properties": {"$ref": {"type": "string", "pattern": "^#/"}}}
_POINTER = {"type": "string", "pattern": "^(/([^/~]|~[01])*)*$"}
#: a reference to a message kind: its kind (text, or the JSON scalar the messages fix: ``10``) or a message key
_KIND = {"type": ["string", "integer", "number", "boolean"]}
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


_HTTP_CALL = _obj(
    {
        "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE"]},
        "path": {"type": "string", "pattern": "^/"},
        "admin": {"type": "boolean"},
        "body": {},
        "status": _STATUS,
        "description": {"type": "string"},
        # who may call it (readiness.trigger_authorization): the admin only; a user for their own {userId}
        # only; any logged-in user (default: admin when `admin: true`, else user)
        "role": {"enum": ["admin", "owner", "user"]},
    },
    ["path"],
)
_LIMIT_PROPS = {"close": _CLOSE, "description": {"type": "string"}}

#: x-readiness at the root: every field optional (what is not declared is not tested).
X_READINESS_ROOT = _obj(
    {
        "login": _obj(
            {
                "users": {
                    "type": "object",
                    "additionalProperties": _obj({"path": {"type": "string", "pattern": "^/"}}, ["path"]),
                },
                "method": {"enum": ["POST", "PUT"]},
                "body": {"type": "object"},
                "status": _STATUS,
                "token": _POINTER,
                "userId": _POINTER,
                "refusedStatus": {"type": "array", "items": _STATUS},
                # the login answer sets a cookie session (sent with the exchange call and, with upgrade.cookie, on the
                # upgrade)
                "session": {"enum": ["token", "cookie"]},
                # a second HTTP call that exchanges the login's session for the WebSocket token
                "exchange": _obj(
                    {
                        "method": {"enum": ["GET", "POST"]},
                        "path": {"type": "string", "pattern": "^/"},
                        "token": _POINTER,
                        "status": _STATUS,
                    },
                    ["path"],
                ),
            }
        ),
        "admin": _obj({"path": {"type": "string", "pattern": "^/"}, "userType": {"type": "string"}}),
        "upgrade": _obj(
            {
                "query": {"type": "string"},
                "header": {"type": "string"},
                "scheme": {"type": "string"},
                "message": _KIND,
                "success": _KIND,
                "failure": _KIND,
                # where the credential comes from: a login (x-readiness.login), a token the user supplies (--token),
                # none
                "credential": {"enum": ["login", "token", "none"]},
                "cookie": {"type": "string"},  # the cookie carrying the token (or the login's session) on the upgrade
                "subprotocol": {
                    "type": "string"
                },  # the token as a subprotocol: this prefix + token ("" for the token alone)
                # authentication in the first message: the template sent ("{token}" filled in), the answers that
                # accept/refuse
                "firstMessage": _obj({"send": {"type": "object"}, "success": _KIND, "failure": _KIND}, ["send"]),
                # how a refused token shows: an HTTP status at the upgrade, a close, an error frame, an anonymous
                # session
                "refusal": {"type": "array", "items": {"enum": ["http", "close", "error", "anonymous"]}, "minItems": 1},
                "refusedStatus": {"type": "array", "items": _STATUS, "minItems": 1},
                "anonymous": {"type": "boolean"},  # whether sessions without a credential are served (default true)
                "jwt": _obj(
                    {
                        "algorithms": {"type": "array", "items": {"type": "string"}},
                        "issuer": {"type": "string"},
                        "audience": {"type": "string"},
                        # the claim names checked in issued tokens (only those declared)
                        "claims": _obj(
                            {
                                k: {"type": "string"}
                                for k in ("subject", "userType", "audience", "expiry", "issuer", "issuedAt", "email")
                            }
                        ),
                    }
                ),
            }
        ),
        "firstFrame": _obj(
            {
                "type": _KIND,
                "authenticated": _POINTER,
                # how /authenticated says so: the value true (default) or any value present
                "authenticatedWhen": {"enum": ["true", "present"]},
                "user": _POINTER,
                "userId": _POINTER,
                "authError": _POINTER,
                "capabilities": _POINTER,
                "capabilitiesAuthenticated": {"type": "array", "items": {"type": "string"}},
                "capabilitiesAnonymous": {"type": "array", "items": {"type": "string"}},
            },
            ["type"],
        ),
        "errors": _obj(
            {
                "message": {"type": "string"},
                "code": _POINTER,
                **{
                    k: {"type": ["string", "integer"]}
                    for k in (
                        "invalidFormat",
                        "missingKind",
                        "unknownType",
                        "authRequired",
                        "forbiddenChannel",
                        "rateLimited",
                        "invalidToken",
                        "expiredToken",
                        "userNotFound",
                    )
                },
                # JSON Schema of HTTP error bodies (readiness.no_stack_traces notes bodies off it; conformance, not a
                # leak)
                "httpBody": {"type": "object"},
                # the error messages (kinds or message keys) error frames match; session.error_shape judges against them
                "messages": {"type": "array", "items": _KIND, "minItems": 1},
                # one envelope for answers: an error is the one whose value at pointer equals `equals` (or is present)
                "when": _obj({"pointer": _POINTER, "equals": {}}, ["pointer"]),
            }
        ),
        # the pointer naming a message's kind (/type, /method, /header/msg_type); null: every message told by its schema
        "kind": {"oneOf": [_POINTER, {"type": "null"}]},
        "batch": {"type": "boolean"},  # a frame holding a JSON array is several messages
        "batchRequests": {"type": "boolean"},  # clients may send several requests in one JSON-array frame
        "ids": _obj(
            {
                "rule": {"enum": ["increasing", "unique", "example"]},
                "start": {"type": "integer", "minimum": 0, "maximum": 2**53},
            }
        ),
        # what the service ignores on purpose (no answer): unknown kinds, objects without a kind, text that is not JSON
        "ignores": {"type": "array", "items": {"enum": ["unknownType", "untyped", "invalidJson"]}},
        # input the service answers by closing the session on purpose, with the close code (graphql-transport-ws: 4400)
        "closes": _obj({k: _CLOSE for k in ("unknownType", "untyped", "invalidJson", "binary", "authRequired")}),
        "channels": {
            "type": "object",
            "additionalProperties": _obj(
                {
                    "auth": {"type": "boolean"},
                    "owner": {"type": "boolean"},
                    "pushes": {"type": "array", "items": _KIND},
                    "intervalSeconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 3600},
                    "trigger": _HTTP_CALL,
                    "description": {"type": "string"},
                    # a pattern channel: where its pushes carry the value of each placeholder ({id: /pitchId}: pitch:3's
                    # have 3 there)
                    "carries": {"type": "object", "additionalProperties": _POINTER},
                }
            ),
        },
        # HTTP endpoints that make the service push, beside the channels' triggers (e.g. a notify call), with who may
        # call them
        "triggers": {"type": "object", "additionalProperties": _HTTP_CALL},
        "endpoints": _obj(
            {
                "health": _obj(
                    {"path": {"type": "string", "pattern": "^/"}, "status": _POINTER, "healthy": {}}, ["path"]
                ),
                # memory: a pointer to the service's resident memory in bytes (readiness.memory_retained)
                "wsHealth": _obj(
                    {
                        "path": {"type": "string", "pattern": "^/"},
                        "status": _POINTER,
                        "connections": _POINTER,
                        "endpoint": _POINTER,
                        "memory": _POINTER,
                    },
                    ["path"],
                ),
                "stats": _obj(
                    {
                        "path": {"type": "string", "pattern": "^/"},
                        "admin": {"type": "boolean"},
                        "sessions": _POINTER,
                        "memory": _POINTER,
                    },
                    ["path"],
                ),
            }
        ),
        "securityHeaders": {"type": "array", "items": {"type": "string"}},
        "origin": _obj({"refusedStatus": {"const": 403}}),
        "limits": _obj(
            {
                "messageSize": _obj(
                    {"bytes": {"type": "integer", "minimum": 1, "maximum": 2**31}, **_LIMIT_PROPS}, ["bytes"]
                ),
                "invalidUtf8": _obj(_LIMIT_PROPS),
                "rate": _obj(
                    {
                        "burst": {"type": "integer", "minimum": 1, "maximum": 100_000},
                        "refillPerSecond": {"type": "number", "minimum": 0, "maximum": 1_000_000},
                        "error": {"type": "string"},
                        **_LIMIT_PROPS,
                    },
                    ["burst"],
                ),
                "lockout": _obj(
                    {
                        "failures": {"type": "integer", "minimum": 1, "maximum": 1000},
                        "windowSeconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 86400},
                        "key": {"enum": ["socket", "forwarded"]},
                        **_LIMIT_PROPS,
                    },
                    ["failures"],
                ),
                "idleTimeout": _obj(
                    {"seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 86400}, **_LIMIT_PROPS},
                    ["seconds"],
                ),
                "serverPing": _obj(
                    {
                        "intervalSeconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 3600},
                        "timeoutSeconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 3600},
                        **_LIMIT_PROPS,
                    },
                    ["intervalSeconds"],
                ),
                "sendQueue": _obj(
                    {"messages": {"type": "integer", "minimum": 1, "maximum": 10_000_000}, **_LIMIT_PROPS}
                ),
                "shutdown": _obj(_LIMIT_PROPS),
                # the time a client has for its TLS handshake and for each request head (slow-loris), seconds
                "handshake": _obj(
                    {"seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 3600}, **_LIMIT_PROPS}, ["seconds"]
                ),
                # channels one session may hold at once, and the error code of a subscription past them
                "subscriptions": _obj(
                    {
                        "perSession": {"type": "integer", "minimum": 1, "maximum": 1_000_000},
                        "error": {"type": "string"},
                        **_LIMIT_PROPS,
                    },
                    ["perSession"],
                ),
                # connections the service serves at once, and the HTTP status of an upgrade past them
                "connections": _obj(
                    {
                        "max": {"type": "integer", "minimum": 1, "maximum": 10_000_000},
                        "status": _STATUS,
                        **_LIMIT_PROPS,
                    },
                    ["max"],
                ),
            }
        ),
        "targets": _obj(
            {
                "connectP95Ms": {"type": "number", "exclusiveMinimum": 0, "maximum": 3_600_000},
                "roundTripP95Ms": {"type": "number", "exclusiveMinimum": 0, "maximum": 3_600_000},
                "tlsHandshakeP95Ms": {"type": "number", "exclusiveMinimum": 0, "maximum": 3_600_000},
                "concurrency": _obj(
                    {
                        "level": {"type": "integer", "minimum": 1, "maximum": 100_000},
                        "minSuccessRate": {"type": "number", "minimum": 0, "maximum": 1},
                    }
                ),
            }
        ),
    }
)

#: x-readiness on an operation.
X_READINESS_OPERATION = _obj(
    {
        "probe": {"type": "string", "pattern": r"^[a-z_]+\.[A-Za-z0-9_.:-]+$"},
        "critical": {"type": "boolean"},
        "auth": {"type": "boolean"},
        "generate": {"type": "boolean"},
        "authCheck": {"type": "boolean"},
        # the request that subscribes a session to a channel of x-readiness.channels (default: the first request
        # whose example names a declared channel and that needs no setup)
        "subscribes": {"type": "boolean"},
        # the request that ends a session's subscription to a channel (the client's unsubscribe; default: none)
        "unsubscribes": {"type": "boolean"},
        # this request ends the pushes of another operation's running request, named by the same correlation id
        # (messaging.stop_pushes): the operation, the kind of its pushes, and the request that starts a stream that
        # does not end on its own (default: that operation's example)
        "stops": _obj(
            {"operation": {"type": "string"}, "pushes": _KIND, "send": {"type": "object"}}, ["operation", "pushes"]
        ),
        "expected": {"type": "string"},
        # fields of the example the answer carries back under their own name, or field -> where the answer carries it
        "echo": {
            "oneOf": [
                {"type": "array", "items": {"type": "string"}},
                {"type": "object", "additionalProperties": _POINTER},
            ]
        },
        "setup": {
            "type": "array",
            "items": _obj({"send": {"type": ["object", "array"]}, "await": {"type": "string"}}, ["send"]),
        },
        # what the request makes the service push to other sessions (the push probes written as code read it):
        # to the subscribers of `channel`, to the user the request names at `recipient`, or to the sender's other
        # sessions (`self`); the kind pushed, the request's values it carries (`echo`) and values it holds (`values`)
        "delivers": _obj(
            {
                "to": {"enum": ["subscribers", "recipient", "self"]},
                "message": _KIND,
                "channel": {"type": "string"},
                "recipient": _POINTER,
                # pointers where request and push carry the value alike, or request pointer -> push pointer
                # where the push carries it elsewhere ({/data/text: /text})
                "echo": {
                    "oneOf": [
                        {"type": "array", "items": _POINTER},
                        {"type": "object", "propertyNames": _POINTER, "additionalProperties": _POINTER},
                    ]
                },
                "values": {"type": "object", "propertyNames": _POINTER},
            },
            ["to", "message"],
        ),
    }
)

#: The subset of AsyncAPI 3.0 the suite reads, plus x-readiness (Draft 2020-12).
DOCUMENT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["asyncapi", "info", "operations"],
    "properties": {
        "asyncapi": {"type": "string", "pattern": r"^3\.0\.\d+$"},
        "info": {
            "type": "object",
            "required": ["title", "version"],
            "properties": {"title": {"type": "string"}, "version": {"type": "string"}},
        },
        "servers": {"type": "object"},
        "defaultContentType": {"type": "string"},
        "channels": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "address": {"type": ["string", "null"]},
                    "messages": {"type": "object", "additionalProperties": {"type": "object"}},
                    "bindings": {"type": "object"},
                },
            },
        },
        "operations": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["action", "channel"],
                "properties": {
                    "action": {"enum": ["send", "receive"]},
                    "channel": _REF,
                    "messages": {"type": "array", "items": _REF},
                    "reply": {
                        "type": "object",
                        "properties": {"channel": _REF, "messages": {"type": "array", "items": _REF}},
                    },
                    "x-readiness": X_READINESS_OPERATION,
                },
            },
        },
        "components": {
            "type": "object",
            "properties": {
                "messages": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string"},
                            "payload": {"type": "object"},
                            "examples": {"type": "array", "items": {"type": "object", "properties": {"payload": {}}}},
                            "x-readiness": _obj({"probe": {"type": "string"}, "critical": {"type": "boolean"}}),
                        },
                    },
                },
                "schemas": {"type": "object"},
            },
        },
        "x-readiness": X_READINESS_ROOT,
    },
}
