"""Benchmarks (``make bench``, ``python -m benchmarks``): figures printed and written to ``reports/bench.json``.

Not part of the installed package: they live beside it in the checkout and
import it like any user would. Everything runs on loopback, bounded in count
and time. Comparisons are measured side by side in one run, since the machine
is shared and noisy.
"""

from __future__ import annotations

import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The peer tools (Artillery, k6) are installed next to this package by `make bench-peers`, never into the project's
# environment.
PEERS_DIR = Path(os.environ.get("PITCHEY_BENCH_PEERS") or HERE.parent / ".bench")
