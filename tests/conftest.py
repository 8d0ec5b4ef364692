"""Shared fixtures: reference servers on loopback port 0, stopped after each test.

Time, in one place (websockets' habit): every probe wait in a test is its
production value times ``UNIT`` (``PITCHEY_TIMEOUT_SCALE``, default 0.4), so a
slow CI machine can stretch them all with one variable. A wait a test expects
to *run out* -- the failing case of a probe, waiting for an answer, a push or a
ping that never comes -- is scaled by ``SHORT``, a fixed fraction of ``UNIT``:
what such a case must see arrive first (the upgrade, 'connected', a login)
comes over loopback in milliseconds, far inside even the short wait.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

#: The tests' time scale: production waits times UNIT (the suite's ``make_options`` reads it from the environment).
UNIT = float(os.environ.setdefault("PITCHEY_TIMEOUT_SCALE", "0.4"))
#: The scale of waits a test expects to run out (the quick suite's 3 s answer wait becomes 0.4 s).
SHORT = UNIT / 3

from pitchey_analysis.server import ReferenceServer  # noqa: E402 - after the scale is in the environment

#: Server knobs for tests: short intervals so nothing waits 30 s or 5 minutes.
FAST = {"dashboard_interval": 0.3, "ping_interval": 0.5, "ping_timeout": 1.0}


@pytest.fixture
async def make_server() -> AsyncIterator[Callable[..., Any]]:
    """Start reference servers (``await make_server(profile, **opts)``); all are stopped afterwards."""
    started: list[ReferenceServer] = []

    async def start(profile: str = "complete", **opts: Any) -> ReferenceServer:
        knobs = {**FAST, **opts}
        srv = ReferenceServer(profile, **knobs)
        await srv.start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        await srv.stop()


@pytest.fixture
async def server(make_server: Callable[..., Any]) -> ReferenceServer:
    """A ``complete`` server with short intervals."""
    return await make_server()


KNOWN_SECRET = "s3cret-" + "k" * 40  # a signing secret the secret-leak tests look for


@pytest.fixture(scope="session")
def defect_run(tmp_path_factory):
    """A quick run against pitchey-2025-11 with a known signing secret (shared by the report tests)."""
    import asyncio

    from pitchey_analysis.suite import SuiteConfig, arun_suite, make_options

    out = tmp_path_factory.mktemp("defect-runs")
    cfg = SuiteConfig(suite="quick", options=make_options("quick"), progress=False)
    return asyncio.run(arun_suite(profile="pitchey-2025-11", suite="quick", out=out, config=cfg,
                                  server_options={"jwt_secret": KNOWN_SECRET}))


@pytest.fixture(scope="session")
def sample_run():
    """The committed sample run."""
    from pitchey_analysis.config import sample_run_dir

    path = sample_run_dir()
    assert path is not None, "data/sample holds no run"
    return path
