"""The requests the suite builds from a contract (pure): logins, the credential exchange, the upgrade
with its credential, the first-message authentication, a request's id slot, the subscription. Probes,
preflight, load, client and debug use these, so that nothing outside the contract package knows how a
service wants them."""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from .model import Contract, Operation
from .pointers import pointer_get
from .wire import set_pointer


def fill_template(template: Any, values: dict[str, Any]) -> Any:
    """A template with ``"{name}"`` strings replaced by values (a whole-string placeholder keeps the value's
    JSON type; one inside a longer string is replaced as text)."""
    if isinstance(template, str):
        if template.startswith("{") and template.endswith("}") and template[1:-1] in values:
            return values[template[1:-1]]
        for k, v in values.items():
            if isinstance(v, (str, int, float)) and not isinstance(v, bool):
                template = template.replace("{" + k + "}", str(v))
        return template
    if isinstance(template, dict):
        return {k: fill_template(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [fill_template(v, values) for v in template]
    return template


def login_body(contract: Contract, email: str, password: str) -> dict[str, Any]:
    """The login request's JSON body, from the contract's template."""
    lg = contract.login
    template = lg.body if lg is not None else {"email": "{email}", "password": "{password}"}
    body = fill_template(template, {"email": email, "password": password})
    return body if isinstance(body, dict) else {}


def upgrade_target(
    contract: Contract, ws_url: str, token: str | None, *, path: str | None = None, session_cookie: str | None = None
) -> tuple[str, dict[str, str], list[str] | None]:
    """The upgrade's URL, headers and subprotocols carrying ``token`` where the contract says: a query
    parameter (``upgrade.query``, ``token`` when nothing else is declared), a header, a cookie, a subprotocol.
    ``session_cookie`` (a ``Cookie`` header value from a cookie login) is sent as is. The subprotocols the
    contract's WebSocket binding fixes are offered on every upgrade, with a credential or without."""
    up = contract.upgrade
    parts = urlsplit(ws_url)
    query = parts.query
    headers: dict[str, str] = {}
    protocols: list[str] | None = list(contract.subprotocols) or None
    if token:
        via = carrier(contract)
        if via == "header" and up is not None and up.header:
            headers[up.header] = f"{up.scheme} {token}" if up.scheme else token
        elif via == "cookie" and up is not None and up.cookie:
            headers["Cookie"] = f"{up.cookie}={token}"
        elif via == "subprotocol" and up is not None and up.subprotocol is not None:
            protocols = [*(protocols or ()), f"{up.subprotocol}{token}"]
        elif via == "query":
            name = up.query if up is not None and up.query else "token"
            query = with_query(query, name, token)
    if session_cookie:
        headers["Cookie"] = "; ".join(x for x in (headers.get("Cookie"), session_cookie) if x)
    return urlunsplit((parts.scheme, parts.netloc, path or parts.path, query, "")), headers, protocols


def with_query(query: str, name: str, value: str) -> str:
    """A URL query string with ``name=value`` added (replacing a ``name`` it has), keeping every other parameter
    the target's URL carries (``?vsn=2.0.0``: a service may need them to speak its protocol at all)."""
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != name]
    return urlencode([*kept, (name, value)], quote_via=quote, safe="")


def carrier(contract: Contract) -> str:
    """Where a session's credential goes, the first the contract declares of: a query parameter, a header,
    a cookie, a subprotocol, the first message (``query`` with ``?token=`` when it declares none)."""
    up = contract.upgrade
    if up is None:
        return "query"
    for via, declared in (
        ("query", up.query),
        ("header", up.header),
        ("cookie", up.cookie),
        ("subprotocol", up.subprotocol is not None),
        ("message", up.first_message is not None),
    ):
        if declared:
            return via
    return "query"


def header_upgrade(contract: Contract, token: str) -> dict[str, str]:
    """The header carrying a token on the upgrade (the contract's ``upgrade.header``, else ``Authorization``)."""
    up = contract.upgrade
    scheme = up.scheme if up is not None else "Bearer"
    return {up.header if up and up.header else "Authorization": f"{scheme} {token}" if scheme else token}


def auth_message(contract: Contract, token: str) -> dict[str, Any] | None:
    """The first-message authentication carrying ``token`` (None when the contract declares none)."""
    up = contract.upgrade
    if up is None or up.first_message is None:
        return None
    msg = fill_template(up.first_message.get("send") or {}, {"token": token})
    return msg if isinstance(msg, dict) else None


def operation_sending(contract: Contract, kind: str) -> Operation | None:
    """The operation whose request is of ``kind`` (``""``: the contract's round trip, else its first
    request/answer operation that needs no setup); None when the contract has none."""
    if kind:  # by its request's kind, else (a kind of another name, Phoenix's ``phx_join``) by the operation's id
        return next(
            (o for o in contract.receives() if o.request is not None and o.request.type == kind),
            next((o for o in contract.receives() if o.request is not None and o.id == kind), None),
        )
    return contract.round_trip() or next((o for o in contract.request_answers() if not o.setup), None)


def request_id(contract: Contract, request: Any) -> tuple[str | None, str]:
    """Where a request carries its id and the id rule for it (``increasing``, ``unique`` or ``example``):
    its correlation pointer, else (as the probes' round trip does) a top-level ``id`` its example has;
    ``(None, "")`` when it carries none."""
    ptr = contract.correlation_of(request) if isinstance(request, (dict, list)) else None
    if ptr is None and isinstance(request, dict) and "id" in request:
        ptr = "/id"
    if ptr is None:
        return None, ""
    return ptr, contract.ids.rule_for(pointer_get(request, ptr))


def subscribe_request(contract: Contract, channel: str | None = None) -> tuple[dict[str, Any], set[str]] | None:
    """The subscription request's example (:meth:`Contract.subscription`; to ``channel`` when given: at the field of
    the example that names a channel of the contract, else ``/channel``) and the kinds of its answers; None when the
    contract has no subscription request."""
    return channel_request(contract, contract.subscription(), channel)


def unsubscribe_request(contract: Contract, channel: str | None = None) -> tuple[dict[str, Any], set[str]] | None:
    """The request ending a subscription (:meth:`Contract.unsubscription`), made as :func:`subscribe_request` makes
    the subscription; None when the contract has none."""
    return channel_request(contract, contract.unsubscription(), channel)


def channel_request(
    contract: Contract, op: Operation | None, channel: str | None
) -> tuple[dict[str, Any], set[str]] | None:
    """An operation's example naming ``channel`` (when given: at the field of the example that names a channel of the
    contract, else ``/channel``) and the kinds of its answers other than errors; None without the operation."""
    if op is None or op.request is None:
        return None
    example = copy.deepcopy(op.request.example or {})  # an object, or an array
    if channel is not None:
        fields = example.items() if isinstance(example, dict) else enumerate(example)
        at = next(
            (f"/{k}" for k, v in fields if isinstance(v, str) and contract.channel_for(v) is not None), "/channel"
        )
        example = set_pointer(example, at, channel)
    # where an envelope tells errors (``/4/status``), an error kind may also be the success's (``phx_reply``)
    errors = contract.error_kinds() if contract.envelope is None else frozenset()
    return example, {m.type for m in op.reply if m.type and m.type not in errors}
