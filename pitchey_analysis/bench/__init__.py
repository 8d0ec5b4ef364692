"""Benchmarks (``make bench``): figures printed and written to ``reports/bench.json``.

Everything runs on loopback, bounded in count and time. Comparisons are
measured side by side in one run, since the machine is shared and noisy.
"""
