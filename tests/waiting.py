"""Waiting for something to happen, bounded: a test polls the condition it waits for instead of sleeping a fixed time.

A fixed sleep is either too short on a loaded machine (the test fails for no fault) or longer than needed (the test
is slow); polling returns as soon as the condition holds and fails, with ``what`` in the message, when the deadline
passes. A wait that asserts that *nothing* happens within a time is another thing and stays a bounded sleep.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

STEP_S = 0.01


def eventually(cond: Callable[[], T], timeout: float, what: str = "the condition", step: float = STEP_S) -> T:
    """Poll ``cond`` until it returns something true and return it; AssertionError after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() >= end:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(step)


async def aeventually(cond: Callable[[], T], timeout: float, what: str = "the condition", step: float = STEP_S) -> T:
    """:func:`eventually` inside an event loop: the loop runs (servers, clients) between two polls."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        got = cond()
        if got:
            return got
        if loop.time() >= end:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        await asyncio.sleep(step)
