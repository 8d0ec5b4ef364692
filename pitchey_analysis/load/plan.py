"""The load engine's plan, made from the contract in the parent (pure): what the shards send and how they read.

A shard imports no contract (and no numpy): what it needs crosses to it as plain, picklable data made here --
each request's JSON text split around its id slot (so that a send splices an id into bytes, with no JSON
encoding per message), and how frames are read (:class:`~.spec.Wire`): the kind pointer, where answers carry
a request's correlation id back, which kinds answer and which are errors, the first frame and first-message
authentication, the subscribe request per channel. Everything here asks the contract
(:mod:`pitchey_analysis.contract`); nothing names a message of any service.

Ids follow the contract's rule (``x-readiness.ids``): a shard numbers its requests from one counter of
fixed-width integers (``(shard + 1) * 10**12`` on), so ids increase on every session and are never sent
twice; ``increasing`` sends them as JSON numbers, ``unique`` as strings, ``example`` not at all (the
example's id as is; answers are then told apart by kind and order).
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from typing import Any

from ..contract import Contract, default_contract
from ..contract import Operation as ContractOperation
from ..contract.pointers import pointer_parts
from ..contract.requests import auth_message, carrier, operation_sending, request_id, subscribe_request, upgrade_target
from ..contract.wire import set_pointer
from ..exceptions import UsageError
from .spec import Connect, Operation, ShardSpec, Wire

#: the id slot's stand-in while the request's text is made (never sent)
_SLOT = "\x00pitchey-analysis-id\x00"


def contract_operation(contract: Contract, kind: str) -> ContractOperation:
    """The contract's operation sending ``kind`` (``""``: its round trip); UsageError naming what it has."""
    op = operation_sending(contract, kind)
    if op is None or op.request is None:
        what = f"no operation sending {kind!r}" if kind else "no request/answer operation to load with"
        raise UsageError(
            f"the contract {contract.name} has {what} "
            f"(clients send: {', '.join(sorted(contract.client_types())) or 'nothing'})"
        )
    return op


def _key(contract: Contract, kind: str | None) -> str:
    """A reply kind as a shard reads it: the value at the kind pointer, ``""`` for a message told by its schema."""
    if kind is None:
        return ""
    m = contract.messages.get(kind)
    return "" if m is not None and m.by_schema else kind


def _text(request: Any) -> str:
    return json.dumps(request, separators=(",", ":"))


def _fields(contract: Contract, request: Any, id_ptr: str | None) -> tuple[tuple[str, Any], ...]:
    """A request's top-level fields (an array's items by index) besides its kind and its id (what a scenario may
    set)."""
    skip = {pointer_parts(p)[0] for p in (contract.kind_pointer, id_ptr) if p and pointer_parts(p)}
    items = request.items() if isinstance(request, dict) else ((str(i), v) for i, v in enumerate(request))
    return tuple(sorted((k, v) for k, v in items if k not in skip))


def make(contract: Contract, op: Operation) -> Operation:
    """``op`` made from the contract: its request (the example with ``op.fields`` set over it) as text around the
    id slot, its answer and how it is matched (an operation already made is returned as it is)."""
    if op.made:
        return op
    cop = contract_operation(contract, op.type)
    assert cop.request is not None  # contract_operation returns operations with a request
    request: Any = copy.deepcopy(cop.request.example or {})  # an object, or an array for a contract of array frames
    for k, v in op.fields:
        request = set_pointer(request, f"/{k}", v) if isinstance(request, list) else {**request, k: v}
    kind = cop.request.type or ""
    ptr, rule = request_id(contract, request)
    correlated = contract.correlation_of(request) is not None and not op.echo
    if ptr is not None and rule != "example":
        head, _, tail = _text(set_pointer(request, ptr, _SLOT)).partition(_text(_SLOT))
        id_kind = "int" if rule == "increasing" else "str"
        if id_kind == "str":
            head, tail = head + '"', '"' + tail
    else:
        head, tail, id_kind, ptr = _text(request), "", "", None
    errors = contract.error_kinds() if contract.envelope is None else frozenset()  # else the envelope tells errors
    answer = kind if op.echo else next((m.type for m in cop.reply if m.type and m.type not in errors), None)
    replies = [m.type for m in cop.reply] if correlated else [answer]
    answers = (
        tuple(dict.fromkeys(kind if op.echo else _key(contract, k) for k in replies)) if answer is not None else ()
    )
    round_trip = contract.round_trip()
    is_round_trip = round_trip is not None and cop.id == round_trip.id
    schema = cop.request.schema if isinstance(cop.request.schema, dict) else {}
    return replace(
        op,
        type=kind,
        answer=answer,
        fields=_fields(contract, request, ptr),
        head=head,
        tail=tail,
        id_kind=id_kind,
        id_at=pointer_parts(ptr) if ptr else (),
        correlated=correlated,
        answers=answers,
        pad=is_round_trip and isinstance(request, dict) and schema.get("additionalProperties", True) is not False,
        metric_name="rtt_ms" if is_round_trip else "",
    )


def wire(contract: Contract, *, first_frame: bool | None = None, channels: tuple[str, ...] = ()) -> Wire:
    """How a shard reads frames of this contract. ``first_frame``: None awaits the declared first frame (if any),
    False none (a plain echo target sends none), True the declared one or any; ``channels``: those the users
    subscribe to (their subscribe requests made here)."""
    ff = contract.first_frame
    first = None if first_frame is False else (ff.type if ff is not None else ("" if first_frame else None))
    env = contract.error_envelope
    up = contract.upgrade
    fm = (up.first_message if up is not None else None) or {}
    subscribe = []
    for ch in dict.fromkeys(channels):
        req = subscribe_request(contract, ch)
        kind = contract.kind_of(req[0], sent=True) if req is not None else None
        if req is None or not kind:
            raise UsageError(
                f"the contract {contract.name} declares no subscription request: channel {ch!r} cannot be subscribed to"
            )
        subscribe.append((ch, make(contract, Operation(kind, fields=tuple(req[0].items())))))
    return Wire(
        kind_at=pointer_parts(contract.kind_pointer) if contract.kind_pointer else (),
        answer_at=tuple(pointer_parts(p) for p in contract.answer_pointers),
        batch=contract.batch,
        arrays=contract.array_frames,
        reply_kinds=frozenset(_key(contract, m.type) for o in contract.receives() for m in o.reply)
        | contract.error_kinds(),
        error_kinds=frozenset() if contract.envelope is not None else contract.error_kinds(),
        error_at=pointer_parts(env.pointer) if env is not None else None,
        error_equals=() if env is None or env.by_presence else (env.equals,),
        first_frame=first,
        auth_ok=fm.get("success"),
        auth_refused=frozenset(k for k in (fm.get("failure"),) if k),
        subscribe=tuple(subscribe),
    )


def connect(contract: Contract, url: str, token: str | None) -> Connect:
    """How a user's connections open: the credential carried the contract's way (a query parameter, a header, a
    cookie, a subprotocol, or the first message)."""
    target, headers, protocols = upgrade_target(contract, url, token)
    if protocols:
        headers["Sec-WebSocket-Protocol"] = ", ".join(protocols)
    msg = auth_message(contract, token) if token and carrier(contract) == "message" else None
    return Connect(target, tuple(headers.items()), _text(msg) if msg is not None else None)


def complete(spec: ShardSpec, contract: Contract | None = None) -> ShardSpec:
    """A shard's spec with everything it sends made from ``contract`` (Pitchey's when None) and how it reads frames;
    a spec already made is returned as it is."""
    if spec.wire is not None:
        return spec
    c = contract or default_contract()
    users = tuple(replace(u, operations=tuple(make(c, o) for o in u.operations)) for u in spec.users)
    ping = make(c, spec.ping)
    channels = tuple(ch for u in users for ch in u.channels) + ((spec.subscribe,) if spec.subscribe else ())
    w = wire(c, first_frame=spec.await_first_frame, channels=channels)
    echo: dict[str, tuple[str, ...] | None] = {}
    for o in [ping, *(o for u in users for o in u.operations)]:
        if not o.correlated and o.answers and o.id_at:  # an answer of its kind that carries the id back where it went
            echo[o.answers[0]] = o.id_at if echo.get(o.answers[0], o.id_at) == o.id_at else None
    w = replace(w, echo_at=tuple((k, at) for k, at in echo.items() if at is not None))
    connects = tuple(connect(c, spec.url, u.token) for u in users) if users else (connect(c, spec.url, None),)
    return replace(spec, users=users, ping=ping, wire=w, connects=connects)
