"""picows may call a listener in orders a happy path never shows: none of them may raise into picows."""

from __future__ import annotations

import asyncio

from pitchey_analysis.load.engine import _Listener, _Shard
from pitchey_analysis.load.spec import ShardSpec, UserSpec


class _Frame:
    msg_type = None  # neither text nor close: ignored

    def __init__(self, text: str | None = None) -> None:
        from picows import WSMsgType

        self.msg_type = WSMsgType.TEXT
        self.text = text

    def get_payload_as_utf8_text(self) -> str:
        if self.text is None:
            raise RuntimeError("a frame nobody foresaw")
        return self.text


def test_callbacks_in_any_order_settle_once_and_count_what_goes_wrong():
    async def main() -> None:
        sh = _Shard(ShardSpec(url="ws://127.0.0.1:9/", connections=1, duration_s=0, await_first_frame=False), None)
        li = _Listener(sh, 0, UserSpec())
        li.on_ws_disconnected(None)  # a handshake that never completed: no 'open' to take back, the wait ends
        assert sh.open_now == 0 and li.connected.result() is None
        li.on_ws_connected(None)  # late: the future is settled already (was: InvalidStateError from set_result)
        assert li.connected.result() is None and sh.open_now == 1
        cancelled = _Listener(sh, 0, UserSpec())
        cancelled.connected.cancel()  # a wait_for that timed out cancels the future
        cancelled.on_ws_connected(None)
        cancelled.on_ws_frame(None, _Frame())  # raises inside: counted, not raised into picows
        cancelled.on_ws_frame(None, _Frame('{"type": "pong", "id": "12"}'))  # an answer to nothing pending: ignored
        assert sh.counters["client:RuntimeError"] == 1
        assert sh.res.error_examples["client:RuntimeError"].startswith(
            "a frame nobody foresaw at test_listener_order.py:"
        )

    asyncio.run(main())


def test_picows_handing_back_no_listener_is_a_counted_connection_error(monkeypatch):
    """Under a flood of connects picows returned (transport, None): once an AttributeError, now a connection error with
    its reason."""
    from pitchey_analysis.load import engine

    class _Transport:
        is_disconnected = False

        def disconnect(self) -> None:
            self.is_disconnected = True

    async def ws_connect(*args, **kwargs):
        return _Transport(), None

    monkeypatch.setattr(engine, "ws_connect", ws_connect)

    async def main() -> None:
        sh = _Shard(ShardSpec(url="ws://127.0.0.1:9/", connections=1, duration_s=0), None)
        assert await sh.open_one(0) is False
        assert dict(sh.counters) == {"connect:ConnectionError": 1} and sh.transports[0] is None
        assert "picows returned no listener" in sh.res.error_examples["connect:ConnectionError"]

    asyncio.run(main())
