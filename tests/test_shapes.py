"""Services of other shapes than Pitchey's, each judged in its own terms by its own contract (tests/shapes/).

JSON-RPC 2.0 (answers by id, one result/error envelope, batches, no first frame); messages named at
/header/msg_type with answers correlated at /parent_header/msg_id; first-message token auth with increasing
integer ids, one result envelope and batched events; upgrade-time auth with a cookie session exchanged for a
token and 401 refusals. Against each clean service no probe fails or errors; each defect fails its probe.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from pitchey_analysis import load_run
from pitchey_analysis.contract import load_contract
from pitchey_analysis.probes import Credentials
from pitchey_analysis.runner import SuiteConfig, arun_suite, make_options

from .conftest import SHORT
from .shapes.server import TOKEN, USER, ShapeServer

HERE = Path(__file__).resolve().parent / "shapes"


def creds(shape: str) -> Credentials | None:
    if shape in ("firstauth", "graphqlws"):
        return Credentials("", "", "user", token=TOKEN)
    if shape in ("cookie", "phoenix", "apigw", "gateway"):
        return Credentials(USER[0], USER[1], "member")
    return None


async def run_shape(
    tmp_path: Path,
    shape: str,
    *,
    defects: set[str] | frozenset[str] = frozenset(),
    only: list[str] | None = None,
    contract: Path | None = None,
    scale: float | None = None,
):
    user = creds(shape)
    cfg = SuiteConfig(
        suite="quick",
        options=make_options("quick", scale=scale),
        progress=False,
        preflight=False,
        user=user,
        users={user.user_type: user} if user else {},
        contract=load_contract(contract or HERE / f"{shape}.asyncapi.yaml"),
        only=only,
    )
    async with ShapeServer(shape, defects=defects) as srv:
        path = await arun_suite(srv.ws_url, suite="quick", out=tmp_path, config=cfg)
    return load_run(path)


def outcomes(run) -> dict[str, tuple[str, str, str]]:
    return {r.probe: (r.outcome, r.reason, r.detail) for r in run.probes.itertuples()}


@pytest.mark.parametrize(
    "shape", ["jsonrpc", "header", "firstauth", "cookie", "graphqlws", "phoenix", "apigw", "gateway"]
)
def test_clean_service_fails_no_probe(tmp_path, shape):
    run = asyncio.run(run_shape(tmp_path, shape))
    got = outcomes(run)
    # the test services are plain aiohttp, which holds a half-sent upgrade request open, and their logins (where they
    # have one) are not throttled: true findings; so is the gateway's rate limit, which aiohttp's automatic pongs escape
    findings = {"resilience.handshake_timeout", "readiness.login_throttle", "readiness.control_frame_flood"}
    bad = {k: v for k, v in got.items() if v[0] in ("fail", "error") and k not in findings}
    assert not bad, bad
    # each named exactly (accepting either of two outcomes, one of them a pass, let a probe that always passed through)
    login = shape in ("cookie", "phoenix", "apigw", "gateway")  # the shapes whose contract declares a login
    assert got["readiness.login_throttle"][:2] == (("fail", "no_throttle") if login else ("skip", "not_in_contract"))
    assert got["resilience.handshake_timeout"][:2] == ("fail", "slowloris_held")
    passed = [k for k, v in got.items() if v[0] == "pass"]
    assert len(passed) >= 3, got
    # every generated request/answer probe of the contract passed on its own answers
    contract = load_contract(HERE / f"{shape}.asyncapi.yaml")
    for op in contract.request_answers():
        assert got[op.probe_name][0] == "pass", (op.probe_name, got[op.probe_name])
    assert run.manifest["conformance"]["violations"] == 0, run.manifest["conformance"]
    assert run.manifest["conformance"]["frames_checked"] > 0
    if shape == "graphqlws":  # its subprotocol offered on every upgrade, its token sent in connection_init
        for probe in (
            "auth.invalid_token",
            "resilience.sustained_sessions",
            "resilience.invalid_then_working",
            "messaging.invalid_json",
            "messaging.unknown_type",
            "auth.before_authentication",
            "messaging.stop_pushes",
        ):
            assert got[probe][:2] == ("pass", "ok"), (probe, got[probe])
        assert "4400 as the contract declares" in got["messaging.invalid_json"][2]
        # the verdict's gaps are features it could declare (limits, headers, ...), never ways of another session
        # model (a query or header token, a login, a first frame, anonymous sessions, claims of a JWT)
        from pitchey_analysis.analysis import analyze

        v = analyze(run).verdict
        assert v.verdict != "NOT READY", v.reasons
        gaps = set(v.reasons["name"])
        for other in (
            "auth.query_token",
            "auth.header_token",
            "auth.post_connection",
            "connection.login",
            "connection.anonymous_connect",
            "session.first_frame",
            "auth.token_subject",
            "auth.expired_token",
            "auth.wrong_audience",
            "auth.required_for_protected",
        ):
            assert other not in gaps, (other, v.reasons)
        assert "readiness.security_headers" in gaps  # undeclared, so untested: a gap the report names
    if shape == "phoenix":  # judged by what its contract declares: its health pointers, its request shape, no JWT
        assert got["readiness.health_live"][:2] == ("pass", "ok"), got["readiness.health_live"]
        assert got["readiness.no_stack_traces"][:2] == ("pass", "ok"), got["readiness.no_stack_traces"]
        # authenticated by its upgrade (no first frame tells it): the held sessions are the evidence
        assert got["resilience.sustained_sessions"][:2] == ("pass", "ok"), got["resilience.sustained_sessions"]
        for name in ("auth.forged_token", "auth.alg_none", "auth.expired_token"):
            assert got[name][:2] == ("skip", "not_in_contract"), (name, got[name])
    if shape == "apigw":  # answers and errors told by their schema alone; the token raw in Authorization
        for probe in (
            "messaging.invalid_json",
            "messaging.missing_type",
            "messaging.unknown_type",
            "resilience.nested_json",
            "connection.user_types",
            "connection.ping_on_connected",
            "auth.header_token",
            "auth.invalid_token",
        ):
            assert got[probe][:2] == ("pass", "ok"), (probe, got[probe])
        assert got["messaging.unknown_type"][2] == "error forbidden", got["messaging.unknown_type"]
        assert got["messaging.invalid_json"][2] == "error internalError", got["messaging.invalid_json"]
        assert got["resilience.nested_json"][2].startswith("JSON nested 30000 deep: error internalError in"), got[
            "resilience.nested_json"
        ]  # the error named by its message where it carries no code
        from pitchey_analysis.analysis import analyze

        gaps = set(analyze(run).verdict.reasons["name"])
        for other in ("connection.user_types", "connection.ping_on_connected", "connection.authenticated_connect"):
            assert other not in gaps, (other, gaps)
    if shape == "gateway":  # integer kinds; no error frames at all: every refusal a declared close
        for probe in (
            "readiness.rate_limit",
            "messaging.unknown_type",
            "resilience.nested_json",
            "auth.required_for_protected",
            "messaging.presence_update",
            "messaging.heartbeat",
            "auth.invalid_token",
            "connection.single_connected_frame",
        ):
            assert got[probe][:2] == ("pass", "ok"), (probe, got[probe])
        assert got["readiness.rate_limit"][2] == "160 messages in a burst: closed 4008 as the contract declares"
        assert got["messaging.unknown_type"][2] == "unknown kind closed the session 4001 as the contract declares"
        assert (
            got["messaging.presence_update"][2] == "presenceUpdateEvent delivered"
        )  # fire and forget: the push decides
        assert got["messaging.heartbeat"][2].startswith("heartbeatAck in ")  # the message's name, never its op number
        assert got["connection.single_connected_frame"][2] == "one 'hello' frame"
        # the control frames escape the limit (aiohttp's automatic pongs): named by the declared close alone
        assert got["readiness.control_frame_flood"][:2] == ("fail", "control_flood_unlimited")
        assert "rate_limited" not in got["readiness.control_frame_flood"][2]
        from pitchey_analysis.analysis import analyze

        gaps = set(analyze(run).verdict.reasons["name"])
        for other in (
            "session.error_shape",
            "auth.required_for_protected",
            "resilience.nested_json",
            "connection.login",
            "connection.anonymous_connect",
            "connection.authenticated_connect",
            "auth.token_subject",
        ):
            assert other not in gaps, (other, gaps)
        said = " ".join(str(v[2]) for v in got.values())
        for word in ("'connected'", "connected frame", "unanswered pings", "answer a ping", "no pong", "rate_limited"):
            assert word not in said, (word, [v for v in got.values() if word in str(v[2])])
    if shape in (
        "cookie",
        "phoenix",
        "apigw",
    ):  # its chat post, judged by the push probe from the contract's `delivers`
        assert got["messaging.send_message"][:2] == ("pass", "ok"), got["messaging.send_message"]
        said = run.probes.set_index("probe").loc["messaging.send_message", "expected"]
        if shape == "cookie":
            assert said == "post is answered by posted and reaches the recipient's sessions as chat", said
    else:  # no operation of theirs declares a push to other sessions: the push probes are not planned
        assert got["messaging.send_message"][:2] == ("skip", "not_in_contract"), got["messaging.send_message"]


@pytest.mark.parametrize(
    "shape,defect,probe,reason",
    [
        ("jsonrpc", "wrong_id", "messaging.ping", "wrong_answer"),
        ("header", "wrong_id", "messaging.kernel_info", "wrong_answer"),
        ("firstauth", "wrong_id", "messaging.ping", "wrong_answer"),
        ("firstauth", "error_as_success", "messaging.unknown_type", "no_answer"),
        ("cookie", "accept_bad_token", "auth.invalid_token", "token_accepted"),
        ("cookie", "drop_delivery", "messaging.send_message", "no_push"),
        ("firstauth", "reused_id", "messaging.id_reuse", "reused_id_accepted"),
        ("firstauth", "pre_auth", "auth.before_authentication", "accepted_before_auth"),
        ("jsonrpc", "drop_batch", "messaging.batch", "batch_element_dropped"),
        ("graphqlws", "accept_bad_token", "auth.invalid_token", "token_accepted"),
        ("graphqlws", "wrong_id", "messaging.query", "wrong_answer"),
        ("graphqlws", "keep_after_complete", "messaging.stop_pushes", "pushes_after_stop"),
        # phoenix wrong_ref: test_every_round_trip_answer_is_matched_by_its_id (messaging.ping and three more)
        ("phoenix", "accept_bad_token", "auth.invalid_token", "token_accepted"),
        ("phoenix", "no_broadcast", "messaging.send_message", "no_push"),
        ("apigw", "unknown_ok", "messaging.unknown_type", "no_answer"),
        ("apigw", "no_fanout", "messaging.send_message", "no_push"),
        ("apigw", "accept_bad_token", "auth.invalid_token", "token_accepted"),
        ("gateway", "no_rate_close", "readiness.rate_limit", "no_rate_limit"),
        ("gateway", "accept_bad_token", "auth.invalid_token", "token_accepted"),
        ("gateway", "unknown_decode", "messaging.unknown_type", "wrong_close"),
        ("gateway", "no_presence", "messaging.presence_update", "no_answer"),
        ("gateway", "pre_auth", "auth.required_for_protected", "wrong_answer"),
        ("gateway", "pre_auth", "auth.before_authentication", "accepted_before_auth"),
        ("gateway", "deep_crash", "resilience.nested_json", "session_closed"),
        ("gateway", "no_heartbeat_ack", "messaging.heartbeat", "no_answer"),
    ],
)
@pytest.mark.slow
def test_each_defect_fails_its_probe(tmp_path, shape, defect, probe, reason):
    # an answer that never comes (or never with the right id): every round trip of the run waits it out, at the
    # short scale (conftest) -- what the probe must see first (the upgrade, a wrong id) comes in milliseconds
    scale = SHORT if reason in ("no_answer", "wrong_answer") else None
    run = asyncio.run(run_shape(tmp_path, shape, defects={defect}, scale=scale))
    got = outcomes(run)
    assert got[probe][:2] == ("fail", reason), got[probe]
    if defect == "unknown_ok":  # the success body that came instead of the error is the evidence
        assert got[probe][2] == "unknown kind got no error frame (answered by pong instead)", got[probe]
    assert not any(v[0] == "error" for v in got.values()), got


@pytest.mark.parametrize(
    "shape,defects",
    [
        ("jsonrpc", ()),
        ("graphqlws", ("accept_bad_token", "wrong_id")),
        ("phoenix", ("wrong_ref", "no_broadcast")),
        ("apigw", ("unknown_ok", "no_fanout")),
        ("gateway", ("no_rate_close", "no_heartbeat_ack")),
    ],
)
@pytest.mark.slow
def test_no_pitchey_word_in_a_non_pitchey_run(tmp_path, shape, defects):
    """Neither what a probe saw, nor what it expected (of the probes that ran), nor a finding's title, impact or
    remediation names the Pitchey protocol in a run judged by another contract."""
    from pitchey_analysis.analysis import analyze
    from pitchey_analysis.findings import PITCHEY_WORDS

    run = asyncio.run(run_shape(tmp_path, shape, defects=frozenset(defects)))
    ran = run.probes[~((run.probes["outcome"] == "skip") & (run.probes["reason"] == "not_in_contract"))]
    found = analyze(run).defects
    texts = [*run.probes["detail"], *ran["expected"], *found["title"], *found["impact"], *found["remediation"]]
    for name in run.probes["probe"]:  # the tool's probe names are its identifiers (connection.ping_on_connected)
        texts = [str(t).replace(str(name), "<probe>") for t in texts]
    # the contract's own message names are its words, whatever they say (the gateway's presenceUpdate)
    own_words = sorted(
        {w for m in load_contract(HERE / f"{shape}.asyncapi.yaml").messages.values() for w in (m.key, m.word)},
        key=len,
        reverse=True,
    )
    for w in own_words:
        texts = [re.sub(rf"\b{re.escape(w)}\b", "<message>", str(t)) for t in texts]
    text = " ".join(str(v) for v in texts).lower()
    for word in ("connected", "pitch", "dashboard", "auth_success", "authError".lower(), "notification"):
        assert word not in text, (word, [t for t in texts if word in str(t).lower()])
    assert not [t for t in texts if PITCHEY_WORDS.search(str(t))]
    own = {o.probe_name for o in load_contract(HERE / f"{shape}.asyncapi.yaml").request_answers()}
    if (
        "messaging.subscribe" not in own
    ):  # the shipped contract's request/answer probe, unless this one names its own so
        assert not any(str(p).startswith("messaging.subscribe") for p in run.probes["probe"])


@pytest.mark.slow
def test_every_round_trip_answer_is_matched_by_its_id(tmp_path):
    """A heartbeat answered with another ref (Phoenix, correlated at /1): every probe that waits for the round trip's
    answer fails wrong_answer -- none takes a frame of the right kind carrying another id for the answer."""
    run = asyncio.run(run_shape(tmp_path, "phoenix", defects={"wrong_ref"}, scale=SHORT))  # every answer waited out
    got = outcomes(run)
    for probe in (
        "messaging.ping",
        "connection.ping_on_connected",
        "connection.user_types",
        "resilience.invalid_then_working",
    ):
        assert got[probe][:2] == ("fail", "wrong_answer"), (probe, got[probe])
    assert not any(v[0] == "error" for v in got.values()), got


@pytest.mark.parametrize("defects,want", [(set(), ("pass", "ok")), ({"no_broadcast"}, ("fail", "no_push"))])
def test_a_declared_delivery_is_judged_by_the_operations_own_probe(tmp_path, defects, want):
    """new_msg mapped to no push probe (its generated probe, messaging.new_msg): its `delivers` is still judged."""
    text = (HERE / "phoenix.asyncapi.yaml").read_text()
    assert "      probe: messaging.send_message\n" in text
    contract = tmp_path / "phoenix-unmapped.asyncapi.yaml"
    contract.write_text(text.replace("      probe: messaging.send_message\n", ""))
    run = asyncio.run(
        run_shape(tmp_path / "runs", "phoenix", defects=defects, only=["messaging.new_msg"], contract=contract)
    )
    got = outcomes(run)
    assert got["messaging.new_msg"][:2] == want, got["messaging.new_msg"]


def test_a_frame_that_stops_the_service_is_a_critical_finding(tmp_path):
    """One text frame of invalid UTF-8 stops the JSON-RPC service for every client: the probe that sent it fails
    (critical) with that, and the probes after it are skipped for it, never judged against a dead target."""
    run = asyncio.run(run_shape(tmp_path, "jsonrpc", defects={"utf8_kill"}))
    got = outcomes(run)
    assert got["readiness.invalid_utf8"][:2] == ("fail", "stopped_service"), got["readiness.invalid_utf8"]
    rec = run.probes.set_index("probe").loc["readiness.invalid_utf8"]
    assert bool(rec["critical"])
    after = [k for k, v in got.items() if v[1] == "target_down"]
    assert after and all("readiness.invalid_utf8" in got[k][2] for k in after)
    assert not any(v[0] == "fail" for k, v in got.items() if k != "readiness.invalid_utf8"), got


def test_a_target_in_another_protocol_is_told_so(tmp_path):
    """The shipped Pitchey contract against the JSON-RPC service: no specific finding, but INSUFFICIENT EVIDENCE
    saying the target does not speak this contract, with the frames it sent."""
    from pitchey_analysis.analysis import analyze
    from pitchey_analysis.runner import SuiteConfig, arun_suite, make_options

    async def go():
        cfg = SuiteConfig(
            suite="quick",
            options=make_options("quick"),
            progress=False,
            preflight=False,
            contract=load_contract("pitchey"),
        )
        async with ShapeServer("jsonrpc") as srv:
            return load_run(await arun_suite(srv.ws_url, suite="quick", out=tmp_path, config=cfg))

    run = asyncio.run(go())
    assert set(run.probes["outcome"]) == {"skip"}
    assert run.manifest["contract_spoken"]["speaks"] is False
    v = analyze(run).verdict
    assert v.verdict == "INSUFFICIENT EVIDENCE"
    assert len(v.reasons) == 1 and "does not speak this contract" in v.reasons.iloc[0]["detail"]
    assert "jsonrpc" in v.reasons.iloc[0]["detail"]


def test_the_command_line_judges_a_first_message_auth_service_with_a_supplied_token(tmp_path, capsys):
    """As a user would: `run --target URL --contract FILE --token T` (the token never written to the run)."""
    import threading

    from pitchey_analysis.cli import main

    ready, stop, box = threading.Event(), threading.Event(), {}

    def serve() -> None:
        async def go() -> None:
            async with ShapeServer("firstauth") as srv:
                box["url"] = srv.ws_url
                ready.set()
                while not stop.is_set():
                    await asyncio.sleep(0.05)

        asyncio.run(go())

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        assert ready.wait(10)
        code = main(
            [
                "run",
                "--suite",
                "quick",
                "--target",
                box["url"],
                "--contract",
                str(HERE / "firstauth.asyncapi.yaml"),
                "--token",
                TOKEN,
                "--out",
                str(tmp_path),
                "--no-progress",
                "--fail-on",
                "never",
                "--only",
                "messaging",
                "--only",
                "auth",
            ]
        )
    finally:
        stop.set()
        t.join(10)
    out = capsys.readouterr()
    assert code == 0, out.err
    run = load_run(next(p for p in tmp_path.iterdir() if p.is_dir()))
    got = outcomes(run)
    assert got["messaging.get_states"][0] == "pass" and got["auth.before_authentication"][0] == "pass", got
    for p in run.path.iterdir():
        if p.is_file():
            assert TOKEN not in p.read_bytes().decode("utf-8", "replace"), p.name
    # a contract with no login has one kind of user, not one of Pitchey's user types
    assert run.manifest["config"]["credentials"]["user_types"] == ["user"], run.manifest["config"]["credentials"]


def test_a_service_closing_every_session_as_spoken_is_told_it_does_not_speak_the_contract(tmp_path):
    """graphql-ws judged by its contract without the subprotocol binding: every session is closed 4406 before any
    frame. No specific finding (closed_4406 on each probe), but INSUFFICIENT EVIDENCE saying the target does not
    speak this contract, with the close it gave."""
    from pitchey_analysis.analysis import analyze
    from pitchey_analysis.contract import contract_from_text

    text = (HERE / "graphqlws.asyncapi.yaml").read_text()
    start = text.index("    bindings:")
    text = text[:start] + text[text.index("    messages:", start) :]
    contract = contract_from_text(text, name="graphqlws-nobinding")
    assert contract.subprotocols == ()
    user = creds("graphqlws")

    async def go():
        cfg = SuiteConfig(
            suite="quick",
            options=make_options("quick"),
            progress=False,
            preflight=False,
            user=user,
            users={user.user_type: user},
            contract=contract,
            only=["messaging", "auth"],
        )
        async with ShapeServer("graphqlws") as srv:
            return load_run(await arun_suite(srv.ws_url, suite="quick", out=tmp_path, config=cfg))

    run = asyncio.run(go())
    assert run.manifest["contract_spoken"]["speaks"] is False, run.manifest["contract_spoken"]
    v = analyze(run).verdict
    assert v.verdict == "INSUFFICIENT EVIDENCE" and len(v.reasons) == 1
    assert "does not speak this contract" in v.reasons.iloc[0]["detail"] and "4406" in v.reasons.iloc[0]["detail"]


def test_the_subprotocol_of_the_websocket_binding_is_offered_on_every_upgrade():
    from pitchey_analysis.contract.requests import upgrade_target

    c = load_contract(HERE / "graphqlws.asyncapi.yaml")
    assert c.subprotocols == ("graphql-transport-ws",)
    assert upgrade_target(c, "ws://h/graphql", None)[2] == ["graphql-transport-ws"]
    assert upgrade_target(c, "ws://h/graphql", "t0k")[:3] == ("ws://h/graphql", {}, ["graphql-transport-ws"])
