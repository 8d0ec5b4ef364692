"""Contracts whose frames are JSON arrays (Phoenix Channels v2: ``[join_ref, ref, topic, event, payload]``), and a
target URL's own query: the contract layer reads them through its pointers, as it reads objects (pure tests; the
service itself is judged in tests/test_shapes.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pitchey_analysis.contract import load_contract
from pitchey_analysis.contract.requests import upgrade_target, with_query

PHOENIX = Path(__file__).resolve().parent / "shapes" / "phoenix.asyncapi.yaml"


@pytest.fixture(scope="module")
def phx():
    return load_contract(PHOENIX)


def test_the_target_query_is_kept_beside_the_credential(phx):
    url, _, _ = upgrade_target(phx, "ws://127.0.0.1:4000/socket/websocket?vsn=2.0.0", "a b/c")
    assert url == "ws://127.0.0.1:4000/socket/websocket?vsn=2.0.0&token=a%20b%2Fc"
    # a token the URL already carries is replaced, not doubled
    url, _, _ = upgrade_target(phx, "ws://h/socket/websocket?token=old&vsn=2.0.0", "new")
    assert url == "ws://h/socket/websocket?vsn=2.0.0&token=new"
    assert upgrade_target(phx, "ws://h/ws", "t")[0] == "ws://h/ws?token=t"
    assert with_query("", "token", "x") == "token=x"
