"""The load engine against services of other shapes (tests/shapes), each loaded in its own contract's terms:
requests made from the contract, ids by its rule, answers matched by correlation id, first-message auth."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from pitchey_analysis.contract import load_contract
from pitchey_analysis.load import ShardSpec, run_shard
from pitchey_analysis.load.plan import complete
from pitchey_analysis.load.scenario import parse_scenario
from pitchey_analysis.load.spec import UserSpec

from ..shapes.server import TOKEN, ShapeServer

SHAPES = Path(__file__).resolve().parents[1] / "shapes"


async def load(shape: str, *, defects: frozenset[str] = frozenset(), **spec: object):
    """One shard against a shape server, its spec made from the shape's contract (in a thread: its own loop)."""
    contract = load_contract(SHAPES / f"{shape}.asyncapi.yaml")
    async with ShapeServer(shape, defects=defects) as srv:
        made = complete(ShardSpec(url=srv.ws_url, **spec), contract)  # type: ignore[arg-type]
        return await asyncio.to_thread(run_shard, made)


def rtts(r, metric: str = "rtt_ms") -> np.ndarray:
    return r.value_ms[(np.asarray(r.metric) == metric) & r.ok]


async def test_jsonrpc_round_trips_matched_by_id_with_no_error():
    scen = parse_scenario(
        "users: [{rate_per_s: 25, operations: [ping, {type: add, fields: {params: [40, 2]}}]}]",
        duration_s=1.0,
        connections=4,
        contract=load_contract(SHAPES / "jsonrpc.asyncapi.yaml"),
    )
    r = await load("jsonrpc", connections=4, duration_s=1.0, users=scen.users)
    assert r.opened == 4 and r.errors == {}, r.errors  # no 'connected' awaited: the service sends no first frame
    assert r.sent >= 60 and r.answered == r.sent, (r.sent, r.answered)
    assert rtts(r).size + rtts(r, "rtt_ms:add").size == r.answered and rtts(r, "rtt_ms:add").size > 0


async def test_jsonrpc_an_answer_with_another_id_is_not_an_answer():
    r = await load(
        "jsonrpc", defects=frozenset({"wrong_id"}), connections=1, duration_s=0.3, model="closed", answer_timeout=0.3
    )
    assert r.answered == 0 and rtts(r).size == 0
    assert r.errors.get("unmatched_answer", 0) >= 1 and r.errors.get("timeout", 0) >= 1, r.errors


async def test_jsonrpc_an_error_answer_ends_its_round_trip_as_a_failure():
    scen = parse_scenario(
        "users: [{rate_per_s: 20, operations: [{type: add, fields: {params: [x]}}]}]",
        duration_s=0.5,
        connections=2,
        contract=load_contract(SHAPES / "jsonrpc.asyncapi.yaml"),
    )
    r = await load("jsonrpc", connections=2, duration_s=0.5, users=scen.users)
    assert r.answered == 0 and r.errors.get("error_answer", 0) == r.sent > 5, (r.sent, r.errors)  # -32602, by its id


async def test_header_answers_by_parent_id_beside_broadcasts_carrying_it_too():
    """Each request is followed by 'status' broadcasts carrying its id at /parent_header/msg_id: only the reply's
    kind ends the round trip (a broadcast taken for it would leave the reply unmatched, an error)."""
    r = await load("header", connections=3, duration_s=1.0, rate_per_conn=20)
    assert r.errors == {} and r.sent >= 45 and r.answered == r.sent, (r.errors, r.sent, r.answered)
    bad = await load(
        "header", defects=frozenset({"wrong_id"}), connections=1, duration_s=0.3, model="closed", answer_timeout=0.3
    )
    assert bad.answered == 0 and bad.errors.get("unmatched_answer", 0) >= 1, bad.errors


async def test_firstauth_authenticates_in_the_first_message_then_sends_increasing_ids():
    """The service speaks first, wants the token in the first message and refuses an id that does not increase
    (answered success: false, an error answer): none is refused over several connections of one shard."""
    r = await load("firstauth", connections=3, duration_s=1.0, users=(UserSpec(token=TOKEN, rate_per_s=20),))
    assert r.opened == 3 and r.errors == {}, r.errors
    assert r.sent >= 45 and r.answered == r.sent, (r.sent, r.answered)
    closed = await load("firstauth", connections=2, duration_s=0.5, model="closed", users=(UserSpec(token=TOKEN),))
    assert closed.errors == {} and closed.answered > 20, closed.errors
    refused = await load("firstauth", connections=1, duration_s=0.2, users=(UserSpec(token="not-the-token"),))
    assert refused.opened == 0 and refused.errors == {"connect:ConnectionError": 1}, refused.errors
    assert "authentication was refused (auth_invalid)" in refused.error_examples["connect:ConnectionError"]


async def test_graphqlws_subscribes_with_the_supplied_token_in_connection_init():
    """The subprotocol offered on every upgrade, the user's token sent in connection_init (a `login: token` user of
    the scenario made from the contract), subscribe answered by next carrying its id; no anonymous visitors, as the
    contract serves no anonymous session."""
    from pitchey_analysis.load.scenario import TOKEN_LOGIN, load_scenario

    contract = load_contract(SHAPES / "graphqlws.asyncapi.yaml")
    scen = load_scenario("default", contract=contract, token=True, duration_s=1.0, connections=3)
    assert set(scen.logins) == {TOKEN_LOGIN}
    users = scen.with_tokens({TOKEN_LOGIN: TOKEN})
    r = await load("graphqlws", connections=3, duration_s=1.0, users=users)
    assert r.opened == 3 and r.errors == {}, r.errors
    assert rtts(r, "rtt_ms:subscribe").size > 0 and r.answered == r.sent, (r.sent, r.answered)


def test_a_contract_whose_operations_need_a_credential_asks_for_a_token():
    from pitchey_analysis.exceptions import UsageError
    from pitchey_analysis.load.scenario import load_scenario

    with pytest.raises(UsageError, match="give --token"):
        load_scenario(
            "default", contract=load_contract(SHAPES / "firstauth.asyncapi.yaml"), duration_s=1.0, connections=1
        )


async def _phoenix_load(defects: frozenset[str] = frozenset(), **spec: object):
    """A shard against the Phoenix shape (array frames), with a token its login gave."""
    import aiohttp

    from ..shapes.server import USER

    contract = load_contract(SHAPES / "phoenix.asyncapi.yaml")
    async with ShapeServer("phoenix", defects=defects) as srv:
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{srv.http_url}/api/login", json={"email": USER[0], "password": USER[1]}) as resp,
        ):
            token = (await resp.json())["data"]["token"]
        made = complete(ShardSpec(url=srv.ws_url, users=(UserSpec(token=token, rate_per_s=20),), **spec), contract)  # type: ignore[arg-type]
        return await asyncio.to_thread(run_shard, made)


async def test_phoenix_array_frames_are_answered_by_their_ref():
    """Frames are JSON arrays: the heartbeat's phx_reply is read at /3 and matched by the ref at /1."""
    r = await _phoenix_load(connections=3, duration_s=1.0)
    assert r.opened == 3 and r.errors == {}, r.errors
    assert r.sent >= 30 and r.answered == r.sent and rtts(r).size == r.answered, (r.sent, r.answered)
    wrong = await _phoenix_load(
        frozenset({"wrong_ref"}), connections=1, duration_s=0.3, model="closed", answer_timeout=0.3
    )
    assert wrong.answered == 0 and wrong.errors.get("unmatched_answer", 0) >= 1, wrong.errors
