"""The overhead benchmark's interval for the median of the per-pair ratios covers as it says (simulation)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

_spec = importlib.util.spec_from_file_location(
    "bench_train", Path(__file__).resolve().parents[2] / "benchmarks" / "bench_train.py")
bench_train = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_train)


def test_order_statistic_interval_of_nine_values():
    med, lo, hi, cover = bench_train.median_interval([9, 1, 8, 2, 7, 3, 6, 4, 5])
    # n = 9: [x(2), x(8)] covers with 1 - 2 P(Bin(9, 1/2) <= 1) = 1 - 2 * 10/512
    assert (med, lo, hi) == (5, 2, 8) and cover == pytest.approx(1 - 20 / 512)


def test_too_few_values_report_their_lower_coverage():
    _, lo, hi, cover = bench_train.median_interval([0.9, 1.0, 1.1])
    assert (lo, hi) == (0.9, 1.1) and cover == pytest.approx(0.75)
    with pytest.raises(ValueError):
        bench_train.median_interval([])


@pytest.mark.parametrize("n", [7, 9, 15])
def test_interval_covers_the_median_at_least_as_often_as_stated(n):
    """Skewed ratios with a known median: m + s (Exp(1) - ln 2) has median m exactly."""
    rng = np.random.default_rng(n)
    m, hits, reps = 0.96, 0, 2000
    for _ in range(reps):
        x = m + 0.03 * (rng.exponential(1.0, n) - np.log(2))
        _, lo, hi, cover = bench_train.median_interval(list(x))
        hits += lo <= m <= hi
    assert cover >= 0.95
    # the order-statistic interval is exact for any continuous distribution; 2000 draws: sd about 0.0044
    assert abs(hits / reps - cover) < 0.02
