"""No work at import time beyond definitions: importing the package's entry points parses no contract."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pitchey_analysis.exceptions import UsageError
from pitchey_analysis.probes import CATALOGUE
from pitchey_analysis.probes.base import Catalogue, ProbeSpec, Result

#: counts every contract document read (the default contract included) while the modules import, in a fresh
#: interpreter: what an earlier test imported cannot hide it
PROGRAM = """
import importlib, json, sys
from pitchey_analysis.contract import load
reads = []
real = load.read_document
def counted(*args, **kwargs):
    reads.append(str(args[0]))
    return real(*args, **kwargs)
load.read_document = counted
for name in sys.argv[1:]:
    if name == "--ask":
        load.default_contract()  # what a caller does: the contract is read now
    else:
        importlib.import_module(name)
print(json.dumps({"reads": reads, "cached": load.default_contract.cache_info().currsize}))
"""


def reads_on_import(*modules: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", PROGRAM, *modules], capture_output=True, text=True, timeout=120, check=True
    )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize(
    "module",
    [
        "pitchey_analysis.runner.run",
        "pitchey_analysis.probes",
        "pitchey_analysis.client",
        "pitchey_analysis.server",
        "pitchey_analysis.debug",
        "pitchey_analysis.cli",
    ],
)
def test_importing_parses_no_contract(module: str) -> None:
    assert reads_on_import(module) == {"reads": [], "cached": 0}


def test_the_count_sees_a_parse() -> None:
    # the same program sees the default contract read when it is asked for, once
    seen = reads_on_import("pitchey_analysis.runner.run", "--ask", "--ask")
    assert seen["cached"] == 1 and seen["reads"] == ["pitchey"]


def test_the_generated_probes_take_their_place_when_the_catalogue_is_read() -> None:
    names = list(CATALOGUE)
    ping = names.index("messaging.ping")
    assert names[ping : ping + 4] == [
        "messaging.ping",
        "messaging.subscribe",
        "messaging.unsubscribe",
        "messaging.dashboard_metrics",
    ]
    assert "messaging.initial_data" in names and all(isinstance(s, ProbeSpec) for s in CATALOGUE.values())


async def _fn(ctx: object) -> Result:
    return Result.ok()


def _spec(name: str) -> ProbeSpec:
    return ProbeSpec(name, "messaging", False, "x", _fn)  # type: ignore[arg-type]


def test_catalogue_order_and_duplicates() -> None:
    made: list[str] = []
    c = Catalogue()
    c.add(_spec("a"))
    c.later(lambda: made.append("b") or _spec("b"))  # type: ignore[func-returns-value]
    c.add(_spec("c"))
    assert made == []  # nothing made before the catalogue is read
    assert list(c) == ["a", "b", "c"] and made == ["b"]
    assert list(c) == ["a", "b", "c"] and made == ["b"]  # made once
    with pytest.raises(UsageError, match="duplicate"):
        c.add(_spec("a"))
    c.later(lambda: _spec("c"))
    with pytest.raises(UsageError, match="duplicate probe name 'c'"):
        len(c)
