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
    schemas = "".join(f"    s{i}: {{allOf: [{{$ref: '#/components/schemas/s{i + 1}'}}, {{$ref: '#/components/schemas/s{i + 1}'}}]}}\n"
                      for i in range(levels))
    return ("asyncapi: 3.0.0\ninfo: {title: x, version: '1'}\noperations: {}\ncomponents:\n  schemas:\n" + schemas
            + f"    s{levels}: {{type: string}}\n  messages:\n    m: {{payload: {{$ref: '#/components/schemas/s0'}}}}\n")


CASES = {
    "billion laughs": ('a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n'
                       'c: [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n', "aliases are not accepted"),
    "duplicate key": (BASE.replace("x-readiness:\n", "x-readiness:\n  batch: false\n", 1), "duplicate key 'batch'"),
    "deep flow nesting": ("a: " + "[" * 100_000 + "]" * 100_000, "brackets deep"),
    "deep block nesting": ("".join("  " * i + f"k{i}:\n" for i in range(200)) + "  " * 200 + "v: 1\n", "levels deep"),
    "nan target": (BASE.replace("  batch: true", "  batch: true\n  targets: {connectP95Ms: .nan}"), "not a finite number"),
    "inf interval": (BASE.replace("    invalidUtf8: {close: 1007}", "    serverPing: {intervalSeconds: .inf}"),
                     "not a finite number"),
    "lockout 1e20": (BASE.replace("    invalidUtf8: {close: 1007}", "    lockout: {failures: 100000000000000000000}"),
                     "lockout.failures"),
    "level 10 million": (BASE.replace("  batch: true", "  batch: true\n  targets: {concurrency: {level: 10000000}}"),
                         "concurrency.level"),
    "too big": ("a: '" + "x" * (9 * 1024 * 1024) + "'\n", "at most"),
    "a cycle": ("asyncapi: 3.0.0\ninfo: {title: x, version: '1'}\noperations: {}\ncomponents:\n  schemas:\n"
                "    a: {$ref: '#/components/schemas/b'}\n    b: {$ref: '#/components/schemas/a'}\n"
                "  messages:\n    m: {payload: {$ref: '#/components/schemas/a'}}\n", "cycle"),
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
