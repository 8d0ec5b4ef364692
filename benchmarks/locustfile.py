"""A small WebSocket user for Locust: strict ping-pong on one connection (websockets' sync client)."""

from __future__ import annotations

import os
import time

from locust import User, task
from websockets.sync.client import connect

PAYLOAD = '{"type":"ping","id":"0000000000","pad":"' + "x" * 56 + '"}'


class PingPongUser(User):
    """Sends a message and waits for the echo, reporting each round trip to Locust."""

    def on_start(self) -> None:
        self.ws = connect(os.environ["PITCHEY_BENCH_URL"], compression=None)
        if os.environ.get("PITCHEY_BENCH_FIRST_FRAME") == "1":
            self.ws.recv()

    def on_stop(self) -> None:
        self.ws.close()

    @task
    def ping(self) -> None:
        t0 = time.perf_counter()
        self.ws.send(PAYLOAD)
        self.ws.recv()
        self.environment.events.request.fire(
            request_type="WS",
            name="ping",
            response_time=(time.perf_counter() - t0) * 1000,
            response_length=len(PAYLOAD),
            exception=None,
            context={},
        )
