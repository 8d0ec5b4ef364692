"""The message-flow debugger: a trace from the first byte, and a summary that shows Part B."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from pitchey_analysis.debug import trace_session
from pitchey_analysis.runner import DEMO_USERS


async def _summary(srv, listen_s: float = 0.3):
    out = io.StringIO()
    frames, summary = await trace_session(
        srv.ws_url, srv.http_url, creds=DEMO_USERS["creator"], sweep=True, listen_s=listen_s, window_s=0.3, out=out
    )
    return frames, dict(zip(summary["sent"], summary["answers"], strict=True)), out.getvalue()


async def test_sweep_against_complete(server):
    frames, s, printed = await _summary(server)
    assert s["(nothing: the upgrade)"] == "connected"
    assert s["ping"] == "pong" and s["auth"] == "auth_success" and s["subscribe"] == "subscription_confirmed"
    assert s["get_dashboard_metrics"] == "dashboard_metrics" and s["unknown kind"] == "error"
    assert "new_message" in s["send_message"] and "message_sent" in s["send_message"]
    assert "← connected" in printed and "→ ping" in printed
    assert set(frames.columns) >= {"direction", "t_ms", "type", "size_bytes", "payload"}
    assert "Demo123" not in printed and "eyJ" not in printed  # the auth frame's token is redacted


async def test_sweep_against_pitchey_2025_11_shows_part_b(make_server):
    srv = await make_server("pitchey-2025-11")
    # the second 'connected' follows the user lookup: listened for a second (a loaded machine was past 0.3 s)
    _, s, _ = await _summary(srv, listen_s=1.0)
    assert s["(nothing: the upgrade)"].split(", ").count("connected") == 2  # item 4 (its JSON ping may follow)
    assert s["auth"] == "no answer"  # item 1
    assert s["subscribe"] == "no answer" and s["unknown kind"] == "no answer"  # item 2
    assert s["object without kind"] == "no answer"  # item 16
    assert s["ping"] == "pong"  # answered, in the wrapped shape of item 3


def test_cli_debug_saves_frames(tmp_path):
    out = tmp_path / "frames.parquet"
    r = subprocess.run(
        [sys.executable, "-m", "pitchey_analysis.cli", "debug", "--sweep", "--duration", "0.3", "--save", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "summary" in r.stdout and "subscription_confirmed" in r.stdout
    df = pd.read_parquet(out)
    assert len(df) > 10 and set(df["direction"]) == {"in", "out"}


GATEWAY_CONTRACT = """
asyncapi: 3.0.0
info: {title: Gateway, version: "1"}
channels:
  gateway:
    address: /gateway
    messages:
      hello: {$ref: '#/components/messages/hello'}
      identify: {$ref: '#/components/messages/identify'}
      ready: {$ref: '#/components/messages/ready'}
      heartbeat: {$ref: '#/components/messages/heartbeat'}
      heartbeatAck: {$ref: '#/components/messages/heartbeatAck'}
operations:
  identify:
    action: receive
    channel: {$ref: '#/channels/gateway'}
    messages: [{$ref: '#/channels/gateway/messages/identify'}]
    reply: {channel: {$ref: '#/channels/gateway'}, messages: [{$ref: '#/channels/gateway/messages/ready'}]}
    x-readiness: {generate: false}
  heartbeat:
    action: receive
    channel: {$ref: '#/channels/gateway'}
    messages: [{$ref: '#/channels/gateway/messages/heartbeat'}]
    reply: {channel: {$ref: '#/channels/gateway'}, messages: [{$ref: '#/channels/gateway/messages/heartbeatAck'}]}
  hello:
    action: send
    channel: {$ref: '#/channels/gateway'}
    messages: [{$ref: '#/channels/gateway/messages/hello'}]
components:
  messages:
    hello: {payload: {type: object, required: [op], properties: {op: {const: hello}}}}
    identify:
      payload: {type: object, required: [op, token], properties: {op: {const: identify}, token: {type: string}}}
      examples: [{payload: {op: identify, token: TOKEN}}]
    ready: {payload: {type: object, required: [op], properties: {op: {const: ready}}}}
    heartbeat:
      payload: {type: object, required: [op], properties: {op: {const: heartbeat}}}
      examples: [{payload: {op: heartbeat}}]
    heartbeatAck: {payload: {type: object, required: [op], properties: {op: {const: heartbeat_ack}}}}
x-readiness:
  kind: /op
  login:
    users: {member: {path: /api/login}}
    body: {email: '{email}', password: '{password}'}
    token: /token
    userId: /user/id
  upgrade:
    credential: login
    firstMessage: {send: {op: identify, token: '{token}'}, success: ready}
    refusal: [close]
  firstFrame: {type: hello}
"""

#: an opaque token (no JWT the redaction would know) and a user id that is no number
GW_TOKEN, GW_USER = "opaque-secret-7f3a9c", "0b6f1f4e-6c2a-4c1e-9a55-3f1d2f4b8e21"


async def _gateway():
    """A loopback gateway: login answers an opaque token and a UUID user id; a session is served once its first
    message carries that token (a wrong token, or a second identify, closes it 4004/4005)."""
    from aiohttp import WSMsgType, web

    async def login(request):
        return web.json_response({"token": GW_TOKEN, "user": {"id": GW_USER}})

    async def gateway(request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"op": "hello"})
        authed = False
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                break
            try:
                frame = json.loads(msg.data)
            except ValueError:
                await ws.close(code=4002)
                break
            if frame.get("op") == "identify":
                if authed or frame.get("token") != GW_TOKEN:
                    await ws.close(code=4005 if authed else 4004)
                    break
                authed = True
                await ws.send_json({"op": "ready"})
            elif frame.get("op") == "heartbeat":
                await ws.send_json({"op": "heartbeat_ack"})
            else:
                await ws.close(code=4002)
                break
        return ws

    app = web.Application()
    app.router.add_post("/api/login", login)
    app.router.add_get("/gateway", gateway)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, port


async def test_sweep_authenticates_with_the_contracts_first_message_and_any_user_id(tmp_path):
    """debug --email/--password sends the contract's first-message authentication with the login's token (trial: it
    never did, and the sweep sent the example's placeholder token and was closed 4004); a user id that is no number
    (a UUID) is taken as it is (trial: ValueError)."""
    from pitchey_analysis.contract import load_contract
    from pitchey_analysis.probes import Credentials

    path = tmp_path / "gateway.asyncapi.yaml"
    path.write_text(GATEWAY_CONTRACT)
    runner, port = await _gateway()
    try:
        out = io.StringIO()
        frames, summary = await trace_session(
            f"ws://127.0.0.1:{port}/gateway",
            f"http://127.0.0.1:{port}",
            creds=Credentials("demo@example.com", "pw", "member"),
            sweep=True,
            listen_s=0.2,
            window_s=0.2,
            out=out,
            contract=load_contract(str(path)),
        )
    finally:
        await runner.cleanup()
    s = dict(zip(summary["sent"], summary["answers"], strict=True))
    assert s["identify (the contract's first-message authentication)"] == "ready"
    assert s["identify"] == "sent first, as the authentication (above)"  # never its example's placeholder token
    assert s["heartbeat"] == "heartbeat_ack"  # the session stayed open: authenticated, not closed 4004
    assert not any("4004" in a or "4005" in a for a in s.values()), s
    assert s["invalid JSON"] == "connection closed 4002"  # the close is the answer to what provoked it
    assert GW_TOKEN not in out.getvalue() and GW_TOKEN not in "".join(frames["payload"])


def test_the_sweep_sends_bad_input_in_the_contracts_own_shape():
    """The unknown-kind message keeps the contract's kind field and the JSON type of its kinds (an integer kind
    gets an unused integer: a string there would be refused as undecodable, not as unknown)."""
    from pitchey_analysis.contract import default_contract, load_contract
    from pitchey_analysis.debug import bad_input

    shipped = dict(bad_input(default_contract()))
    assert (
        isinstance(shipped["unknown kind"], dict)
        and shipped["unknown kind"]["type"] not in default_contract().client_types()
    )
    gateway = load_contract(Path(__file__).parent / "shapes" / "gateway.asyncapi.yaml")
    unknown = dict(bad_input(gateway))["unknown kind"]
    kinds = {m.kind for m in gateway.messages.values() if m.kind is not None}
    assert isinstance(unknown["op"], int) and unknown["op"] not in kinds
