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

import fcntl
import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

#: The tests' time scale: production waits times UNIT (the suite's ``make_options`` reads it from the environment).
UNIT = float(os.environ.setdefault("PITCHEY_TIMEOUT_SCALE", "0.4"))
#: The scale of waits a test expects to run out (the quick suite's 3 s answer wait becomes 0.4 s).
SHORT = UNIT / 3

from pitchey_analysis.contract import skip_unused_format_plugins  # noqa: E402
from pitchey_analysis.server import ReferenceServer  # noqa: E402 - after the scale is in the environment

skip_unused_format_plugins()  # as the console command does: seconds of CPU per test process otherwise


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest first: the tests marked ``slow`` are handed to the pytest-xdist workers before the rest, so that no
    worker starts a half-minute test while the others are running out of work (the suite's wall time is its
    longest worker's). The order is stable, so every worker collects the same list."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def _logging_left_as_found() -> Any:
    """Each test leaves logging as it found it: an in-process ``cli.main`` configures the process's logging (root
    handlers, ``pitchey_analysis.server`` at WARNING), which must not silence a later test's ``caplog`` in the same
    worker."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {n: lg.level for n, lg in logging.root.manager.loggerDict.items() if isinstance(lg, logging.Logger)}
    yield
    root.handlers[:], root.level = handlers, level
    for n, lg in list(logging.root.manager.loggerDict.items()):
        if isinstance(lg, logging.Logger):
            lg.setLevel(levels.get(n, logging.NOTSET))


#: Server knobs for tests: short intervals so nothing waits 30 s or 5 minutes.
FAST = {"dashboard_interval": 0.3, "ping_interval": 0.5, "ping_timeout": 1.0, "password_iterations": 1_000}


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
        await srv.stop(grace_s=0)  # no one polls /health during a teardown: no drain to wait for


@pytest.fixture
async def server(make_server: Callable[..., Any]) -> ReferenceServer:
    """A ``complete`` server with short intervals."""
    return await make_server()


KNOWN_SECRET = "s3cret-" + "k" * 40  # a signing secret the secret-leak tests look for


def once_per_session(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], Path]) -> Path:
    """``make(folder)`` once per test session, even with several pytest-xdist workers: the first
    makes it under a lock in the folder the workers share, the others wait and reuse its result
    (the pattern of pytest-xdist's documentation). For results that tests only read."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    done = root / f"{name}.done"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if done.exists():
            return Path(done.read_text())
        folder = root / name
        folder.mkdir()
        result = make(folder)
        done.write_text(str(result))
        return result


@pytest.fixture(scope="session")
def defect_run(tmp_path_factory):
    """A quick run against pitchey-2025-11 with a known signing secret (read by the report, notebook and
    suite tests; made once per session, whatever the number of workers)."""
    import asyncio

    from pitchey_analysis.runner import SuiteConfig, arun_suite, make_options

    def make(out: Path) -> Path:
        cfg = SuiteConfig(suite="quick", options=make_options("quick"), progress=False)
        # Item 15 drops what arrives during the user lookup (3-20 ms by default): 60 ms, so that the probe's
        # ping still lands in it on a loaded machine, and the lockout probes (which wait quiet_window_s, 120 ms,
        # for a failed set-up to end) still see it end.
        return asyncio.run(
            arun_suite(
                profile="pitchey-2025-11",
                suite="quick",
                out=out,
                config=cfg,
                server_options={"jwt_secret": KNOWN_SECRET, "lookup_delay_ms": (60.0, 60.0)},
            )
        )

    return once_per_session(tmp_path_factory, "defect-runs", make)


@pytest.fixture(scope="session")
def sample_run():
    """The committed sample run."""
    from pitchey_analysis.config import sample_run_dir

    path = sample_run_dir()
    assert path is not None, "data/sample holds no run"
    return path
