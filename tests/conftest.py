"""Shared fixtures: reference servers on loopback port 0, stopped after each test.

Every timeout derives from one unit scaled by ``PITCHEY_TIMEOUT_SCALE`` (as in
websockets' own tests), so a slow CI machine can stretch them.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

os.environ.setdefault("PITCHEY_TIMEOUT_SCALE", "0.4")

from pitchey_analysis.server import ReferenceServer

UNIT = float(os.environ.get("PITCHEY_TIMEOUT_SCALE", "0.4"))
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
