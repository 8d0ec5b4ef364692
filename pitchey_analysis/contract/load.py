"""Reading a contract: file or shipped name -> text -> mapping -> validated -> :class:`Contract`. No network I/O."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from ..textsafe import printable
from .errors import ContractError
from .model import (
    Channel,
    Contract,
    Delivery,
    FirstFrame,
    HttpCall,
    Limit,
    Login,
    Message,
    Operation,
    Stops,
    Upgrade,
    offline_validator,
)
from .pointers import _path, resolve_pointer
from .schema import DOCUMENT_SCHEMA
from .wire import Envelope, Ids, consts, correlation_pointer, derive_kind_pointer, is_kind_value, kind_text

CONTRACTS_DIR = Path(__file__).resolve().parent.parent / "contracts"
DEFAULT = "pitchey"
SUFFIXES = (".asyncapi.yaml", ".asyncapi.yml", ".asyncapi.json", ".yaml", ".yml", ".json")


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


def shipped() -> list[str]:
    """The names of the contracts shipped with the package."""
    return sorted(p.name.split(".")[0] for p in CONTRACTS_DIR.glob("*.asyncapi.*"))


def locate(ref: str | Path) -> Path:
    """The file of a contract given as a path or a shipped name."""
    p = Path(ref)
    if p.is_file():
        return p
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", str(ref)) or ".." in str(ref):
        raise ContractError(
            f"no contract file {str(ref)!r} (a shipped contract is named by a plain name: {', '.join(shipped())})", ""
        )
    for suffix in SUFFIXES:
        cand = CONTRACTS_DIR / f"{ref}{suffix}"
        if cand.is_file():
            return cand
    raise ContractError(
        f"no contract file {str(ref)!r} and no shipped contract of that name (shipped: {', '.join(shipped())})", ""
    )


def read_document(ref: str | Path) -> tuple[str, dict[str, Any], Path]:
    """Read a contract file (YAML or JSON): its text, its mapping, its path."""
    path = locate(ref)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ContractError(f"{path} is {path.stat().st_size:,} bytes; a contract is at most {MAX_BYTES:,}", "")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ContractError(f"cannot read {path}: {exc}", "") from None
    return text, parse_text(text, str(path)), path


def parse_text(text: str, where: str = "<contract>") -> dict[str, Any]:
    """Parse YAML or JSON text into a mapping."""
    if len(text) > MAX_BYTES:
        raise ContractError(f"{where} is {len(text):,} characters; a contract is at most {MAX_BYTES:,}", "$")
    if _flow_depth(text) > 4 * MAX_DEPTH:  # the YAML parser recurses: refuse before it spends seconds
        raise ContractError(f"{where} is nested more than {4 * MAX_DEPTH} brackets deep", "$")
    try:
        doc = yaml.load(text, Loader=_StrictLoader)
    except RecursionError:
        raise ContractError(f"{where} is nested too deep to read", "$") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ContractError(f"{where} is not YAML/JSON{at}: {getattr(exc, 'problem', None) or exc}", "$") from None
    if not isinstance(doc, dict):
        raise ContractError("a contract is a mapping (an AsyncAPI document)", "$")
    _check_values(doc)
    return doc


#: the JSON Schema keywords that name another schema (2020-12 §8.2.3; 2019-09's recursive one) or set the base URI
#: others are resolved against (§8.2.1)
_REFERENCES = ("$ref", "$dynamicRef", "$recursiveRef", "$id")


def _walk_refs(node: Any, parts: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    if isinstance(node, dict):
        for kw in _REFERENCES:
            if isinstance(node.get(kw), str):
                yield parts + (kw,), node[kw]
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
    from referencing.exceptions import Unresolvable

    err = best_match(offline_validator(DOCUMENT_SCHEMA).iter_errors(doc))
    if err is not None:
        message = err.message
        if err.validator == "additionalProperties" and isinstance(err.schema, dict):
            # an unknown key: name it and the keys this place takes
            allowed = sorted(err.schema.get("properties") or {})
            extra = sorted(set(err.instance) - set(allowed)) if isinstance(err.instance, dict) else []
            extra = [k for k in extra if not str(k).startswith("x-")]
            message = f"unknown key {', '.join(map(repr, extra)) or '?'}; allowed here: {', '.join(allowed)} (or x-*)"
        raise ContractError(message, _path(tuple(err.absolute_path)))
    for parts, ref in _walk_refs(doc):
        local = ref.startswith("#/") if parts[-1] == "$ref" else ref.startswith("#")  # a dynamic one may name an anchor
        if not local:
            raise ContractError(f"only local references are supported, got {ref!r}", _path(parts))
        if parts[-1] != "$ref":
            continue
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
                raise ContractError(
                    f"payload is not a JSON Schema: {exc.message}",
                    _path(("components", "messages", key, "payload", *exc.absolute_path)),
                ) from None
            for i, ex in enumerate(msg.get("examples") or []):
                if "payload" in ex:
                    try:
                        bad = best_match(offline_validator(_resolved(doc, payload)).iter_errors(ex["payload"]))
                    except Unresolvable as exc:  # an anchor or a URI no document here holds: never fetched
                        raise ContractError(
                            f"a reference of the payload cannot be resolved here ({printable(exc, 120)})",
                            _path(("components", "messages", key, "payload")),
                        ) from None
                    if bad is not None:
                        raise ContractError(
                            f"example does not match the payload schema: {bad.message}",
                            _path(("components", "messages", key, "examples", i, "payload", *bad.absolute_path)),
                        )
    for op_id, op in (doc.get("operations") or {}).items():
        for i, m in enumerate(op.get("messages") or []):
            if not m["$ref"].startswith(op["channel"]["$ref"] + "/messages/"):
                raise ContractError(
                    f"an operation's messages must be messages of its channel {op['channel']['$ref']}",
                    _path(("operations", op_id, "messages", i, "$ref")),
                )
    x = doc.get("x-readiness") or {}
    named, kind_pointer = _kinds(doc, x)
    types = set(named.values())
    where_kinds = (
        f"kinds at {kind_pointer}"
        if kind_pointer is not None
        else "kinds (no kind pointer: messages are named by their keys)"
    )
    known = f" (the messages' {where_kinds}: {', '.join(sorted(types)[:12])}; or their keys)"
    types |= set(named)  # a message's key names its kind too (``hello`` for ``op: 10``)
    first = (x.get("firstFrame") or {}).get("type")
    if first is not None and _ref_text(first) not in types:
        raise ContractError(f"no message has type {first!r}{known}", "$['x-readiness'].firstFrame.type")
    for op_id, op in (doc.get("operations") or {}).items():
        d = (op.get("x-readiness") or {}).get("delivers")
        if not d:
            continue
        where = ("operations", op_id, "x-readiness", "delivers")
        if types - {None} and _ref_text(d["message"]) not in types:
            raise ContractError(f"no message has type {d['message']!r}{known}", _path((*where, "message")))
        if d["to"] == "subscribers" and not d.get("channel"):
            raise ContractError("delivery to subscribers names no channel", _path(where))
        if d["to"] == "recipient" and not d.get("recipient"):
            raise ContractError("delivery to a recipient names no pointer for it in the request", _path(where))
    for op_id, op in (doc.get("operations") or {}).items():
        st = (op.get("x-readiness") or {}).get("stops")
        if st and st["operation"] not in (doc.get("operations") or {}):
            raise ContractError(
                f"no operation {st['operation']!r}", _path(("operations", op_id, "x-readiness", "stops", "operation"))
            )
    for cname, ch in (x.get("channels") or {}).items():
        for i, t in enumerate(ch.get("pushes") or []):
            if _ref_text(t) not in types:
                raise ContractError(
                    f"no message has type {t!r}{known}", _path(("x-readiness", "channels", cname, "pushes", i))
                )
        for name in ch.get("carries") or {}:
            if "{" + name + "}" not in cname:
                raise ContractError(
                    f"the channel has no placeholder {{{name}}}",
                    _path(("x-readiness", "channels", cname, "carries", name)),
                )


def _kinds(doc: dict[str, Any], x: dict[str, Any]) -> tuple[dict[str, str], str | None]:
    """The kinds of the document's messages as the typed contract names them, by message key: the constant at the kind
    pointer (``x-readiness.kind``, else the derived one; objects and arrays alike; a string, or any other JSON scalar
    as its JSON text: ``10``), else the message's key."""
    payloads = {
        k: _resolved(doc, m["payload"])
        for k, m in ((doc.get("components") or {}).get("messages") or {}).items()
        if isinstance(m, dict) and isinstance(m.get("payload"), dict)
    }
    kind_pointer = x["kind"] if "kind" in x else derive_kind_pointer(payloads.values())
    out = {}
    for key, payload in payloads.items():
        kind = dict(consts(payload)).get(kind_pointer) if kind_pointer is not None else None
        out[key] = kind_text(kind) if is_kind_value(kind) else key
    return out, kind_pointer


def _ref_text(ref: Any) -> Any:
    """A reference to a kind as written in ``x-readiness`` (a kind's text, a message key, or the kind's JSON scalar
    itself: ``type: 10``) as text (pure)."""
    return kind_text(ref) if is_kind_value(ref) else ref


def _kind_of_ref(ref: Any, messages: dict[str, Message]) -> Any:
    """The kind a reference of ``x-readiness`` names: a kind of the contract's messages as is, else the kind of the
    message whose key it is (``hello`` -> ``10`` where that message fixes ``op: 10``); pure."""
    text = _ref_text(ref)
    if not isinstance(text, str) or any(m.type == text for m in messages.values()):
        return text
    return messages[text].type if text in messages else text


#: bounds of what a contract may make the tool do: its size, its nesting, what its references expand to
MAX_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 64
MAX_EXPANSION = 200_000  # nodes the resolved references may add up to, over the whole document
MAX_RESOLVED_DEPTH = 256  # levels of a schema once its references are followed


class _Resolver:
    """Local ``$ref`` resolution for one document: each reference resolved once and shared (never copied per use),
    within an expansion budget, so that a fan-out of references cannot take minutes or gigabytes."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.done: dict[str, Any] = {}
        self.active: set[str] = set()
        self.spent = 0

    def resolve(self, node: Any, depth: int = 0) -> Any:
        out = self._resolve(node, depth)
        if depth == 0 and _tree_size(out, MAX_EXPANSION) > MAX_EXPANSION:
            # shared here, but a validator walks it as a tree: its size as a tree is what it costs downstream
            raise ContractError(f"references expand to more than {MAX_EXPANSION:,} nodes", "$")
        return out

    def _resolve(self, node: Any, depth: int = 0) -> Any:
        self.spent += 1
        if self.spent > MAX_EXPANSION:
            raise ContractError(f"references expand to more than {MAX_EXPANSION:,} nodes", "$")
        if depth > MAX_RESOLVED_DEPTH:
            raise ContractError(f"nested more than {MAX_RESOLVED_DEPTH} levels deep (through references)", "$")
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/"):
                if ref in self.active:
                    raise ContractError(f"reference {ref!r} refers to itself (a cycle)", "$")
                if ref not in self.done:
                    self.active.add(ref)
                    try:
                        self.done[ref] = self._resolve(resolve_pointer(self.doc, ref[1:]), depth + 1)
                    except KeyError:
                        raise ContractError(f"reference {ref!r} points at nothing", "$") from None
                    finally:
                        self.active.discard(ref)
                merged = self.done[ref]
                rest = {k: v for k, v in node.items() if k != "$ref"}
                if rest and isinstance(merged, dict):
                    merged = {**merged, **self._resolve(rest, depth + 1)}
                return merged
            return {k: self._resolve(v, depth + 1) for k, v in node.items()}
        if isinstance(node, list):
            return [self._resolve(v, depth + 1) for v in node]
        return node


def _tree_size(node: Any, limit: int) -> int:
    """How many nodes ``node`` has walked as a tree (shared subtrees counted at each use), stopping past ``limit``."""
    sizes: dict[int, int] = {}

    def size(n: Any) -> int:
        if not isinstance(n, (dict, list)):
            return 1
        if id(n) in sizes:
            return sizes[id(n)]
        total = 1
        for v in n.values() if isinstance(n, dict) else n:
            total += size(v)
            if total > limit:
                break
        sizes[id(n)] = total
        return total

    return size(node)


_RESOLVERS: dict[int, _Resolver] = {}


def _resolved(doc: dict[str, Any], node: Any) -> Any:
    """``node`` with local ``$ref`` replaced by their targets (resolved once per document, shared, bounded)."""
    r = _RESOLVERS.get(id(doc))
    if r is None or r.doc is not doc:
        if len(_RESOLVERS) > 64:
            _RESOLVERS.clear()
        r = _RESOLVERS[id(doc)] = _Resolver(doc)
    return r.resolve(node)


def _flow_depth(text: str) -> int:
    """The deepest nesting of ``[``/``{`` in a text (strings not told apart: an upper bound; pure)."""
    depth = deepest = 0
    for m in re.finditer(r"[\[\]{}]", text):
        depth = depth + 1 if m.group() in "[{" else max(0, depth - 1)
        deepest = max(deepest, depth)
    return deepest


class _StrictLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no annotations
    """YAML without aliases (no billion laughs), without duplicate keys (no silent last-wins), and with JSON's values
    only: a contract is a JSON document written in YAML (AsyncAPI 3.0 §"Format"). A date is read as the text it is
    written as (YAML 1.2 reads it so); bytes, sets and ordered pairs are refused; a key is text; an integer of more
    digits than Python converts is refused, with its line."""

    def construct_yaml_timestamp(self, node: Any) -> Any:
        return self.construct_scalar(node)

    def _not_json(self, node: Any) -> Any:
        raise ContractError(
            f"YAML type {node.tag.rsplit(':', 1)[-1]} is not JSON (line {node.start_mark.line + 1}): quote the value",
            "$",
        )

    def construct_yaml_int(self, node: Any) -> Any:
        try:
            return super().construct_yaml_int(node)
        except ValueError:
            raise ContractError(
                f"an integer of {len(str(node.value)):,} characters (line {node.start_mark.line + 1}): "
                "no contract value is that large",
                "$",
            ) from None

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.events.AliasEvent):
            event = self.peek_event()
            raise ContractError(f"YAML aliases are not accepted in a contract (line {event.start_mark.line + 1})", "$")
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str):  # JSON's keys are text: 200 or true as a key would not be found as "200"
                if isinstance(key, (int, float, bool)) or key is None:
                    raise ContractError(f"key {key!r} is not text (line {key_node.start_mark.line + 1}): quote it", "$")
                raise ContractError(f"a key that is not text (line {key_node.start_mark.line + 1})", "$")
            if key in seen:
                raise ContractError(f"duplicate key {key!r} (line {key_node.start_mark.line + 1})", "$")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _StrictLoader.construct_yaml_timestamp)
_StrictLoader.add_constructor("tag:yaml.org,2002:int", _StrictLoader.construct_yaml_int)
for _tag in ("binary", "set", "omap", "pairs"):
    _StrictLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _StrictLoader._not_json)


def _check_values(doc: Any) -> None:
    """Refuse nesting beyond :data:`MAX_DEPTH` and numbers that are not finite (``.nan``, ``.inf``), with their path."""
    import math

    stack: list[tuple[Any, tuple[Any, ...]]] = [(doc, ())]
    while stack:
        node, parts = stack.pop()
        if len(parts) > MAX_DEPTH:
            raise ContractError(f"nested more than {MAX_DEPTH} levels deep", _path(parts[:MAX_DEPTH]))
        if isinstance(node, float) and not math.isfinite(node):
            raise ContractError(f"{node} is not a finite number", _path(parts))
        if isinstance(node, dict):
            stack.extend((v, (*parts, k)) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, (*parts, i)) for i, v in enumerate(node))


# -- building the model -----------------------------------------------------------------
def build(
    doc: dict[str, Any], *, name: str = "contract", text: str = "", source: str = "", file_format: str = "yaml"
) -> Contract:
    """The typed model of a validated document."""
    comp = (doc.get("components") or {}).get("messages") or {}
    x = doc.get("x-readiness") or {}
    messages: dict[str, Message] = {}
    nodes: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}  # key -> (message node, resolved payload)

    def node_of(ref: str) -> tuple[str, dict[str, Any]]:
        node = resolve_pointer(doc, ref[1:])
        key = ref.rsplit("/", 1)[-1]
        # a channel's message is a $ref to a component (or inline): follow it to its component key
        if isinstance(node, dict) and isinstance(node.get("$ref"), str):
            key = node["$ref"].rsplit("/", 1)[-1]
            node = resolve_pointer(doc, node["$ref"][1:])
        if key not in nodes:
            nodes[key] = (node, _resolved(doc, node.get("payload") or {}))
        return key, node

    refs = [f"#/components/messages/{k}" for k in comp]
    for op in (doc.get("operations") or {}).values():
        refs += [m["$ref"] for m in op.get("messages") or []]
        refs += [m["$ref"] for m in (op.get("reply") or {}).get("messages") or []]
    for ref in refs:
        node_of(ref)
    # the pointer that names a message's kind: declared (null: every message told by its schema), else derived
    kind_pointer = x["kind"] if "kind" in x else derive_kind_pointer(p for _, p in nodes.values())

    def message(ref: str) -> Message:
        key, node = node_of(ref)
        if key in messages:
            return messages[key]
        payload = nodes[key][1]
        fixed = dict(consts(payload))
        mtype = fixed.get(kind_pointer) if kind_pointer is not None else None
        by_schema = not is_kind_value(mtype)  # a constant there names the kind: a string, a number, a boolean
        examples = [e["payload"] for e in node.get("examples") or [] if isinstance(e, dict) and "payload" in e]
        m = Message(
            key,
            key if by_schema else kind_text(mtype),
            payload,
            examples[0] if examples else None,
            node.get("title") or node.get("name") or key,
            by_schema=by_schema,
            kind=None if by_schema else mtype,
            correlation=correlation_pointer(_resolved(doc, {k: v for k, v in node.items() if k == "correlationId"})),
        )
        messages[key] = m
        return m

    for key in nodes:
        message(f"#/components/messages/{key}" if key in comp else next(r for r in refs if node_of(r)[0] == key))

    def kind(ref: Any) -> Any:  # a reference to a kind in x-readiness: the kind (a message key names its message's)
        return None if ref is None else _kind_of_ref(ref, messages)

    ops = []
    for op_id, op in (doc.get("operations") or {}).items():
        xr = op.get("x-readiness") or {}
        ms = tuple(message(m["$ref"]) for m in op.get("messages") or [])
        reply = tuple(message(m["$ref"]) for m in (op.get("reply") or {}).get("messages") or [])
        ops.append(
            Operation(
                op_id,
                op["action"],
                ms,
                reply,
                probe=xr.get("probe"),
                critical=bool(xr.get("critical", False)),
                auth=bool(xr.get("auth", False)),
                generate=bool(xr.get("generate", True)),
                expected=xr.get("expected", ""),
                echo=tuple(xr.get("echo") or ()),
                echo_at=tuple((str(k), str(v)) for k, v in echo.items())
                if isinstance(echo := xr.get("echo"), dict)
                else (),
                setup=tuple(xr.get("setup") or ()),
                auth_check=bool(xr.get("authCheck", False)),
                subscribes=bool(xr.get("subscribes", False)),
                unsubscribes=bool(xr.get("unsubscribes", False)),
                stops=Stops(st["operation"], kind(st["pushes"]), st.get("send")) if (st := xr.get("stops")) else None,
                delivers=Delivery(
                    d["to"],
                    kind(d["message"]),
                    d.get("channel"),
                    d.get("recipient"),
                    _echo_pairs(d.get("echo")),
                    dict(d.get("values") or {}),
                    said=str(d["message"]),
                )
                if (d := xr.get("delivers"))
                else None,
            )
        )
    login = None
    if "login" in x:
        lg = x["login"]
        login = Login(
            paths={k: v["path"] for k, v in (lg.get("users") or {}).items()},
            method=lg.get("method", "POST"),
            body=lg.get("body") or {"email": "{email}", "password": "{password}"},
            status=lg.get("status", 200),
            token=lg.get("token", "/token"),
            user_id=lg.get("userId"),
            refused_status=tuple(lg.get("refusedStatus") or (400, 401, 403, 404)),
            admin_path=(x.get("admin") or {}).get("path"),
            session=lg.get("session", "token"),
            exchange=HttpCall(
                lg["exchange"]["path"], lg["exchange"].get("method", "GET"), False, None, lg["exchange"].get("status")
            )
            if lg.get("exchange")
            else None,
            exchange_token=(lg.get("exchange") or {}).get("token", "/token"),
        )
    up = None
    if "upgrade" in x:
        u = x["upgrade"]
        refusal = tuple(u.get("refusal") or (("http",) if u.get("refusedStatus") else ("anonymous", "close", "error")))
        fm = u.get("firstMessage")
        fm = {**fm, **{k: kind(fm[k]) for k in ("success", "failure") if k in fm}} if isinstance(fm, dict) else fm
        up = Upgrade(
            u.get("query"),
            u.get("header"),
            u.get("scheme", "Bearer"),
            kind(u.get("message")),
            kind(u.get("success")),
            kind(u.get("failure")),
            dict(u.get("jwt") or {}),
            credential=u.get("credential") or ("login" if login is not None else "token"),
            cookie=u.get("cookie"),
            subprotocol=u.get("subprotocol"),
            first_message=fm,
            refusal=refusal,
            refusal_declared=bool(u.get("refusal") or u.get("refusedStatus")),
            refused_status=tuple(u.get("refusedStatus") or (401, 403)),
            anonymous=bool(u.get("anonymous", True)),
        )
    ff = None
    if "firstFrame" in x:
        f = x["firstFrame"]
        ff = FirstFrame(
            kind(f["type"]),
            f.get("authenticated"),
            f.get("user"),
            f.get("userId"),
            f.get("authError"),
            f.get("capabilities"),
            tuple(f.get("capabilitiesAuthenticated") or ()),
            tuple(f.get("capabilitiesAnonymous") or ()),
            authenticated_when=f.get("authenticatedWhen", "true"),
        )
    channels = {}
    for cname, c in (x.get("channels") or {}).items():
        trig = c.get("trigger")
        channels[cname] = Channel(
            cname,
            bool(c.get("auth", False)),
            bool(c.get("owner", False)),
            tuple(kind(t) for t in c.get("pushes") or ()),
            c.get("intervalSeconds"),
            _http_call(trig) if trig else None,
            tuple((c.get("carries") or {}).items()),
        )
    limits = {
        k: Limit(k, {kk: vv for kk, vv in v.items() if kk != "close"}, v.get("close"))
        for k, v in (x.get("limits") or {}).items()
    }
    info = doc.get("info") or {}
    return Contract(
        name=name,
        title=info.get("title", name),
        version=str(info.get("version", "")),
        text=text,
        document=doc,
        operations=tuple(ops),
        messages=messages,
        login=login,
        upgrade=up,
        first_frame=ff,
        errors={
            k: _resolved(doc, v) if k == "httpBody" else [_ref_text(m) for m in v] if k == "messages" else v
            for k, v in (x.get("errors") or {}).items()
        },
        channels=channels,
        endpoints=dict(x.get("endpoints") or {}),
        security_headers=tuple(x.get("securityHeaders") or ()),
        origin=x.get("origin"),
        limits=limits,
        targets=dict(x.get("targets") or {}),
        source=source,
        file_format=file_format,
        kind_pointer=kind_pointer,
        batch=bool(x.get("batch", False)),
        batch_requests=bool(x.get("batchRequests", False)),
        ids=Ids(ids.get("rule"), int(ids.get("start", 1))) if (ids := x.get("ids")) else Ids(),
        envelope=Envelope(w["pointer"], w["equals"])
        if (w := (x.get("errors") or {}).get("when")) and "equals" in w
        else (Envelope(w["pointer"]) if w else None),
        ignores=frozenset(x.get("ignores") or ()),
        closes={k: int(v) for k, v in (x.get("closes") or {}).items() if not str(k).startswith("x-")},
        triggers={n: _http_call(t) for n, t in (x.get("triggers") or {}).items()},
        subprotocols=binding_subprotocols(doc),
    )


def binding_subprotocols(doc: dict[str, Any]) -> tuple[str, ...]:
    """The subprotocols the channels' WebSocket bindings fix for the upgrade: the ``Sec-WebSocket-Protocol``
    property (any spelling of the header name) of ``bindings.ws.headers``, a ``const``, an ``enum`` or a
    one-value ``default`` (a comma-separated list split), in the order declared, each once."""
    out: list[str] = []
    for ch in (doc.get("channels") or {}).values():
        ws = ((ch or {}).get("bindings") or {}).get("ws") if isinstance(ch, dict) else None
        headers = _resolved(doc, ws.get("headers")) if isinstance(ws, dict) else None
        props = headers.get("properties") if isinstance(headers, dict) else None
        for name, sub in (props or {}).items() if isinstance(props, dict) else ():
            if str(name).lower() != "sec-websocket-protocol" or not isinstance(sub, dict):
                continue
            values = (
                [sub["const"]]
                if "const" in sub
                else (sub.get("enum") or ([sub["default"]] if "default" in sub else []))
            )
            for v in values:
                for proto in str(v).split(",") if isinstance(v, str) else ():
                    if proto.strip() and proto.strip() not in out:
                        out.append(proto.strip())
    return tuple(out)


def _http_call(d: dict[str, Any]) -> HttpCall:
    """A declared HTTP call; ``role: admin`` sends the admin's token as ``admin: true`` does, and ``admin: true``
    without a role means only the admin may call it."""
    admin = bool(d.get("admin", False)) or d.get("role") == "admin"
    return HttpCall(
        d["path"],
        d.get("method", "POST"),
        admin,
        d.get("body"),
        d.get("status"),
        d.get("role") or ("admin" if admin else "user"),
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
    return build(
        doc,
        name=contract_name(path),
        text=text,
        source=f"shipped:{contract_name(path)}" if shipped_file else str(path),
        file_format="json" if path.suffix == ".json" else "yaml",
    )


def contract_from_text(text: str, *, name: str = "contract", source: str = "") -> Contract:
    """A contract from its text (a run directory's stored copy)."""
    doc = parse_text(text)
    validate_document(doc)
    return build(
        doc, name=name, text=text, source=source, file_format="json" if text.lstrip().startswith("{") else "yaml"
    )


@functools.cache
def default_contract() -> Contract:
    """The shipped ``pitchey`` contract (PROTOCOL.md Part A), loaded once. Not validated again at each start (the
    probes register from it at import): the shipped documents are validated by the tests
    (``tests/test_contract.py::test_shipped_contracts_validate``) and ``pitchey-analysis contract check pitchey``."""
    return _load(DEFAULT, validate=False)


def _echo_pairs(echo: Any) -> tuple[tuple[str, str], ...]:
    """``delivers.echo`` as (request pointer, push pointer) pairs: a list names the same place in both, a mapping
    the request's place and the push's."""
    if isinstance(echo, dict):
        return tuple((str(k), str(v)) for k, v in echo.items())
    return tuple((str(p), str(p)) for p in echo or ())
