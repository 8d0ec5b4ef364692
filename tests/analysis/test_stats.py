"""Intervals with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pitchey_analysis.analysis import min_samples, newcombe_diff, percentiles, wilson
from pitchey_analysis.analysis.stats import order_stat_indices


def test_wilson_known_values():
    # Newcombe (1998), table I: 81/263 -> 0.2553 to 0.3662; 15/148 -> 0.0624 to 0.1605
    iv = wilson(81, 263)
    assert (round(iv.lo, 4), round(iv.hi, 4)) == (0.2553, 0.3662)
    iv = wilson(15, 148)
    assert (round(iv.lo, 4), round(iv.hi, 4)) == (0.0624, 0.1605)
    iv = wilson(10, 10)
    assert iv.estimate == 1.0 and iv.hi == 1.0 and round(iv.lo, 4) == 0.7225
    assert math.isnan(wilson(0, 0).estimate)


def test_newcombe_difference_known_value():
    # Newcombe (1998) method 10, example (56/70 vs 48/80): difference 0.2, CI 0.0524 to 0.3339 (for p1 - p2)
    d = newcombe_diff(48, 80, 56, 70)
    assert round(d.estimate, 4) == 0.2
    assert (round(d.lo, 4), round(d.hi, 4)) == (0.0524, 0.3339)


def test_min_samples_match_design():
    assert min_samples(0.95) == 72 and min_samples(0.99) == 368
    assert order_stat_indices(71, 0.95)[1] is None
    assert order_stat_indices(72, 0.95)[1] == 72


def test_percentile_estimate_and_interval_on_1_to_1000():
    x = np.arange(1, 1001, dtype=float)
    iv = percentiles(x, (0.5, 0.95))
    # the estimate is the order statistic x_(ceil(qn)) (numpy's "inverted_cdf"), always inside its interval
    assert iv[0.5].estimate == pytest.approx(500.0)
    assert iv[0.95].estimate == pytest.approx(np.percentile(x, 95, method="inverted_cdf")) == 950.0
    # order statistics bracket the quantile: x_(l) and x_(u) are the values l and u themselves here
    lo, hi = order_stat_indices(1000, 0.95)
    assert (iv[0.95].lo, iv[0.95].hi) == (lo, hi)
    assert iv[0.95].lo < 950 < iv[0.95].hi


def test_percentile_interval_coverage_is_about_95_percent():
    rng = np.random.default_rng(7)
    true_p95 = -math.log(0.05)  # exponential(1)
    hits = 0
    for _ in range(400):
        iv = percentiles(rng.exponential(size=200), (0.95,))[0.95]
        hits += iv.lo <= true_p95 <= iv.hi
    assert 0.92 <= hits / 400 <= 0.99


def test_too_few_samples_leave_the_interval_open():
    iv = percentiles(np.arange(20.0), (0.95,))[0.95]
    assert math.isnan(iv.hi) and not iv.determined


def test_large_inputs_use_partition_and_agree_with_sort():
    rng = np.random.default_rng(1)
    x = rng.lognormal(size=100_001)
    a = percentiles(x, (0.5, 0.99))
    s = np.sort(x)
    lo, hi = order_stat_indices(x.size, 0.99)
    assert a[0.99].lo == s[lo - 1] and a[0.99].hi == s[hi - 1]
    assert a[0.5].estimate == pytest.approx(np.percentile(x, 50))


def test_binom_ppf_is_scipy_stats_binom_ppf():
    """The order-statistic bounds come from scipy.special (scipy.stats costs 0.7 s to import): the same integers as
    ``scipy.stats.binom.ppf`` over small and huge n, every quantile the analysis asks for, and the degenerate p."""
    from scipy.stats import binom

    from pitchey_analysis.analysis.stats import binom_ppf

    levels = np.array([[0.005], [0.025], [0.05], [0.5], [0.95], [0.975], [0.995]])
    ps = np.array([0.0, 0.01, 0.1, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0])
    for n in [*range(1, 200), 1_000, 1_234, 10_007, 100_000, 10**6, 10**7]:
        assert np.array_equal(binom_ppf(levels, n, ps[None, :]), binom.ppf(levels, n, ps[None, :])), n


def test_the_verdict_path_does_not_import_scipy_stats():
    import subprocess
    import sys

    code = (
        "import sys, pitchey_analysis.analysis, pitchey_analysis.report.summary; sys.exit('scipy.stats' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
