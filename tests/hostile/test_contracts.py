"""Hostile contracts: every one refused in seconds, in one line naming where, never a traceback or a hang.

A contract is read from people the user may not vouch for ("here is our service's document"): bounds come
before parsing (size, bracket depth) and while resolving (aliases refused, duplicate keys refused, each
reference resolved once and shared within an expansion budget, nesting bounded), and every number is finite
and inside the ranges the contract schema documents.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pitchey_analysis.contract import ContractError, contract_from_text, load_contract

BASE = (Path(__file__).resolve().parents[1] / "shapes" / "jsonrpc.asyncapi.yaml").read_text()


def _fanout(levels: int) -> str:
    schemas = "".join(
        f"    s{i}: {{allOf: [{{$ref: '#/components/schemas/s{i + 1}'}}, {{$ref: '#/components/schemas/s{i + 1}'}}]}}\n"
        for i in range(levels)
    )
    return (
        "asyncapi: 3.0.0\ninfo: {title: x, version: '1'}\noperations: {}\ncomponents:\n  schemas:\n"
        + schemas
        + f"    s{levels}: {{type: string}}\n  messages:\n    m: {{payload: {{$ref: '#/components/schemas/s0'}}}}\n"
    )


CASES = {
    "billion laughs": (
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n'
        "c: [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n",
        "aliases are not accepted",
    ),
    "duplicate key": (BASE.replace("x-readiness:\n", "x-readiness:\n  batch: false\n", 1), "duplicate key 'batch'"),
    "deep flow nesting": ("a: " + "[" * 100_000 + "]" * 100_000, "brackets deep"),
    "deep block nesting": ("".join("  " * i + f"k{i}:\n" for i in range(200)) + "  " * 200 + "v: 1\n", "levels deep"),
    "nan target": (
        BASE.replace("  batch: true", "  batch: true\n  targets: {connectP95Ms: .nan}"),
        "not a finite number",
    ),
    "inf interval": (
        BASE.replace("    invalidUtf8: {close: 1007}", "    serverPing: {intervalSeconds: .inf}"),
        "not a finite number",
    ),
    "lockout 1e20": (
        BASE.replace("    invalidUtf8: {close: 1007}", "    lockout: {failures: 100000000000000000000}"),
        "lockout.failures",
    ),
    "level 10 million": (
        BASE.replace("  batch: true", "  batch: true\n  targets: {concurrency: {level: 10000000}}"),
        "concurrency.level",
    ),
    "handshake deadline a day": (
        BASE.replace("    invalidUtf8: {close: 1007}", "    handshake: {seconds: 86400}"),
        "handshake.seconds",
    ),
    "a trillion subscriptions": (
        BASE.replace("    invalidUtf8: {close: 1007}", "    subscriptions: {perSession: 1000000000000}"),
        "subscriptions.perSession",
    ),
    "a billion connections": (
        BASE.replace("    invalidUtf8: {close: 1007}", "    connections: {max: 1000000000}"),
        "connections.max",
    ),
    "too big": ("a: '" + "x" * (9 * 1024 * 1024) + "'\n", "at most"),
    # values JSON does not have, read by a YAML parser: refused (or read as the text they are written as)
    "an integer of 20,000 digits": (
        BASE.replace("  batch: true", "  batch: true\n  x-big: " + "9" * 20_000),
        "an integer of 20,000",
    ),
    "bytes": (BASE + "x-bin: !!binary aGVsbG8=\n", "YAML type binary is not JSON"),
    "a set": (BASE + "x-set: !!set {a, b}\n", "YAML type set is not JSON"),
    "ordered pairs": (BASE + "x-pairs: !!pairs [a: 1]\n", "YAML type pairs is not JSON"),
    "a number as a key": (BASE.replace("  batch: true", "  batch: true\n  x-codes: {200: ok}"), "key 200 is not text"),
    "a list as a key": (BASE + "? [a, b]\n: c\n", "a key that is not text"),
    "python object": ("!!python/object/apply:os.system ['true']\n", "could not determine a constructor"),
    # every keyword that names another schema or a base URI, not only $ref: none may leave the document
    "$dynamicRef to http": (
        BASE.replace("method: {const: ping}", "method: {$dynamicRef: 'http://127.0.0.1:9/x#meta'}"),
        "only local references are supported",
    ),
    "$recursiveRef to http": (
        BASE.replace("method: {const: ping}", "method: {$recursiveRef: 'http://127.0.0.1:9/r'}"),
        "only local references are supported",
    ),
    "$id to http": (
        BASE.replace("method: {const: ping}", "method: {$id: 'http://127.0.0.1:9/b.json', type: string}"),
        "only local references are supported",
    ),
    "$ref to file": (
        BASE.replace("method: {const: ping}", "method: {$ref: 'file:///etc/passwd'}"),
        "only local references",
    ),
    "a cycle": (
        "asyncapi: 3.0.0\ninfo: {title: x, version: '1'}\noperations: {}\ncomponents:\n  schemas:\n"
        "    a: {$ref: '#/components/schemas/b'}\n    b: {$ref: '#/components/schemas/a'}\n"
        "  messages:\n    m: {payload: {$ref: '#/components/schemas/a'}}\n",
        "cycle",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_hostile_contract_is_refused_in_seconds(name):
    text, says = CASES[name]
    t0 = time.perf_counter()
    with pytest.raises(ContractError) as err:
        contract_from_text(text)
    assert says in str(err.value), str(err.value)
    assert "\n" not in str(err.value)
    assert time.perf_counter() - t0 < 10  # the bound is the behaviour: refused in seconds, not minutes


def test_a_reference_fan_out_is_resolved_once_per_reference_and_refused_past_its_budget():
    """Each schema referring twice to the next: 8 deep is resolved once per reference and shared; 30 deep
    (2^30 uses, what a validator would walk) is refused in seconds instead of taking minutes."""
    c = contract_from_text(_fanout(8))
    assert c.messages["m"].schema["allOf"][0] is c.messages["m"].schema["allOf"][1]
    t0 = time.perf_counter()
    with pytest.raises(ContractError, match="expand to more than"):
        contract_from_text(_fanout(30))
    assert time.perf_counter() - t0 < 10


@pytest.mark.parametrize("ref", ["../contracts/pitchey", "../../etc/x", "pitchey/../pitchey", "/nonexistent/x.yaml"])
def test_a_shipped_name_cannot_climb_out_of_the_shipped_folder(ref):
    with pytest.raises(ContractError) as err:
        load_contract(ref)
    assert "no contract file" in str(err.value)


def test_a_date_is_read_as_the_text_it_is_written_as():
    """``version: 2025-11-01`` unquoted: YAML 1.1 would make it a date (no JSON value); it is the text written."""
    c = contract_from_text(BASE.replace('version: "1.0"', "version: 2025-11-01"))
    assert c.document["info"]["version"] == "2025-11-01"


def test_no_schema_reference_is_ever_fetched():
    """The validators never retrieve a URI (jsonschema's default registry fetches unknown http(s) URIs): a schema
    naming one, however it names it, is unresolvable, and the server it names hears nothing."""
    from referencing.exceptions import Unresolvable

    from pitchey_analysis.contract.model import offline_validator

    from . import servers as S

    async def answer(reader, writer, line, headers, srv):
        writer.write(S.http_answer("200 OK", b'{"type": "string", "$dynamicAnchor": "meta"}'))
        await writer.drain()

    with S.hostile(answer) as srv:
        for schema in (
            {"$dynamicRef": f"{srv.http_url}/x#meta"},
            {"$ref": f"{srv.http_url}/y.json"},
            {"$id": f"{srv.http_url}/base.json", "properties": {"a": {"$ref": "other.json"}}},
        ):
            with pytest.raises(Unresolvable):
                offline_validator(schema).validate({"a": 1})
        heard = list(srv.requests)
    assert heard == []


def test_contract_check_prints_the_contract_s_text_escaped(capsys):
    from .common import run_cli

    text = BASE.replace("JSON-RPC calculator", '"calc\\u202e\\x1b[2Jevil"')
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(text)
    code, out, err = run_cli(capsys, "contract", "check", f.name)
    Path(f.name).unlink()
    assert code == 0, err
    assert "\x1b" not in out and "\u202e" not in out and "calc\\u202e\\x1b[2Jevil" in out, out


PITCHEY = (Path(__file__).resolve().parents[2] / "pitchey_analysis" / "contracts" / "pitchey.asyncapi.yaml").read_text()


@pytest.mark.parametrize(
    "limit",
    [
        "messageSize: {bytes: 2147483648, close: 1009}",
        "messageSize: {bytes: 2147483649, close: 1009}",
        "subscriptions: {perSession: 1000000, error: subscription_limit}",
    ],
)
def test_a_limit_inside_its_range_never_makes_a_probe_build_what_it_names(limit):
    """A size limit of 2 GiB or a cap of a million subscriptions is a valid contract; the probes that would send past
    it skip (cap_too_high) before building anything (a 2.4 GB frame, a million channel names). Past the range, the
    contract is refused naming the field."""
    import asyncio

    from pitchey_analysis.probes.base import Options, ProbeContext
    from pitchey_analysis.probes.hardening import subscription_cap
    from pitchey_analysis.probes.readiness import size_limit

    field = limit.split(":")[0]
    text = "\n".join(
        ("    " + limit) if line.strip().startswith(field + ":") else line for line in PITCHEY.splitlines()
    )
    try:
        c = contract_from_text(text)
    except ContractError as exc:
        assert limit == "messageSize: {bytes: 2147483649, close: 1009}" and "messageSize.bytes" in str(exc), exc
        return
    ctx = ProbeContext(
        ws_url="ws://127.0.0.1:9/ws", http_url="http://127.0.0.1:9", recorder=None, options=Options(), contract=c
    )
    r = asyncio.run((size_limit if field == "messageSize" else subscription_cap)(ctx))
    assert r.outcome == "skip" and r.reason == "cap_too_high", r
