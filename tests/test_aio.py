"""The one background-loop bridge (pitchey_analysis/aio.py)."""

import asyncio
import threading

import pytest

from pitchey_analysis.aio import BackgroundLoop, run_sync


async def _where() -> str:
    await asyncio.sleep(0)
    return threading.current_thread().name


async def _boom() -> None:
    raise KeyError("x")


def test_run_sync_without_a_running_loop_runs_here():
    assert run_sync(_where) == threading.current_thread().name


async def test_run_sync_inside_a_running_loop_uses_a_background_thread():
    assert run_sync(_where, name="bg-test") == "bg-test"


def test_background_loop_returns_results_raises_errors_and_stops():
    with BackgroundLoop("bridge") as bg:
        assert bg.call(_where()) == "bridge"
        with pytest.raises(KeyError):
            bg.call(_boom())
        thread = bg._thread
    assert thread is not None and not thread.is_alive()
