"""Option values more than one command takes (argparse types: a bad value is argparse's usage error)."""

from __future__ import annotations

import argparse


def defect(value: str) -> int:
    """A Part B item by number or name (``15`` or ``drop_during_lookup``)."""
    from ..server.profile import Defect

    try:
        return Defect.parse(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def levels(value: str) -> tuple[int, ...]:
    """Concurrency levels or connection counts, e.g. ``1,10,100``."""
    try:
        out = tuple(int(x) for x in value.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"concurrency levels must be integers, e.g. 1,10,100 (got {value!r})"
        ) from None
    if not out or min(out) < 1:
        raise argparse.ArgumentTypeError("concurrency levels must be positive")
    if max(out) > 10_000_000:
        raise argparse.ArgumentTypeError(f"concurrency levels must be at most 10,000,000 (got {max(out):,})")
    return out
