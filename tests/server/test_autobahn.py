"""Protocol conformance of the WebSocket layer: Autobahn's cases through kosoku.

The ``/echo`` route is served with the same settings as ``/ws`` (64 KiB
message limit, no compression). Every case that is not OK is listed, with
its reason, in the README (section "Protocol conformance"); this test fails
if any other case goes wrong.
"""

from __future__ import annotations

import asyncio

import pytest

kosoku = pytest.importorskip("kosoku")

#: Excluded groups, with the reason (the README lists them too).
EXCLUDED = {
    "12.*": "permessage-deflate: the server does not offer compression",
    "13.*": "permessage-deflate: the server does not offer compression",
}
LIMIT = "message over the contract's 64 KiB limit: the server closes 1009 by design (PROTOCOL.md 'Limits')"
#: Cases known not to be OK, with the reason (the README lists them too).
KNOWN_NOT_OK: dict[str, str] = {
    **{c: LIMIT for c in ("1.1.7", "1.1.8", "1.2.7", "1.2.8", "10.1.1")},
    **{f"9.{g}.{i}": LIMIT for g, n in ((1, 6), (2, 6), (3, 9), (4, 9), (5, 6), (6, 6)) for i in range(1, n + 1)},
    "7.9.5": "close code 1012 (Service Restart) is accepted: IANA registered it after the case was written",
}


def _name(x: object) -> str:
    return str(getattr(x, "name", x)).split(".")[-1].upper()


@pytest.mark.slow
async def test_autobahn_echo(make_server):
    srv = await make_server(ping_interval=600, idle_timeout=600, echo=True, disable=["rate_limit"])
    url = f"ws://127.0.0.1:{srv.port}/echo"
    try:
        results = await asyncio.wait_for(kosoku.run_fuzzingclient(url, None, list(EXCLUDED), concurrency=4), 400)
        failed = []
    except kosoku.FailureError as exc:
        failed = exc.results
        results = None
    passing = {"OK", "NON_STRICT", "NONSTRICT", "NON-STRICT", "INFORMATIONAL"}
    bad = {
        r.case_id: f"{_name(r.behavior)}/{_name(r.behavior_close)}"
        for r in failed
        if _name(r.behavior) not in passing or _name(r.behavior_close) not in passing
    }
    assert set(bad) == set(KNOWN_NOT_OK), bad
    if results is not None:
        assert len(results) > 200
