"""The size ladder: the calibrated N_opt(C) law, valid shapes, and the picks of ``--sizes auto``."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xlstm_lab.accounting import count_params
from xlstm_lab.models import UnknownFamilyError
from xlstm_lab.runs import CALIBRATION, N_OPT_COEF, N_OPT_EXPONENT, ladder_shapes, n_opt, pick_sizes, shape_near

# The issue's measured optimum ranges (2-core CPU prototype, byte tokens, ctx 256), typed in from the issue text.
ISSUE_RANGES = {3e11: (16e3, 20e3), 1e12: (28e3, 37e3), 3e12: (43e3, 92e3)}


def test_calibration_table_is_the_issue_s():
    assert {c: (lo, hi) for c, lo, hi in CALIBRATION} == ISSUE_RANGES


def test_n_opt_law_is_the_least_squares_line_through_the_range_middles():
    c = np.array(list(ISSUE_RANGES))
    mid = np.array([math.sqrt(lo * hi) for lo, hi in ISSUE_RANGES.values()])
    x, y = np.log(c), np.log(mid)
    # closed-form simple regression in float64
    slope = ((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum()
    coef = math.exp(y.mean() - slope * x.mean())
    assert N_OPT_EXPONENT == pytest.approx(slope, abs=1e-4)
    assert N_OPT_COEF == pytest.approx(coef, rel=1e-3)
    for budget, (lo, hi) in ISSUE_RANGES.items():
        assert lo <= n_opt(budget) <= hi  # the law passes through every measured range


@pytest.mark.parametrize("family", ["xlstm", "llama"])
@pytest.mark.parametrize("ctx", [64, 256, 1024])
def test_ladder_shapes_are_valid_and_increasing(family, ctx):
    shapes = ladder_shapes(family, ctx)
    ns = [count_params(c) for c in shapes]
    assert ns == sorted(ns) and len(set(ns)) == len(ns)
    assert ns[0] < 6_000 and ns[-1] > 1e8  # from 1e10-FLOP CPU runs to GPU-size models
    for c in shapes:
        assert c.family == family and c.context_length == ctx and c.vocab_size == 256
        assert c.d_model % c.n_heads == 0
        if family == "xlstm":
            assert (c.d_model // 2) % c.n_heads == 0  # qk width d/2 divisible by the heads
        else:
            assert (c.d_model // c.n_heads) % 2 == 0  # rotary needs an even head dim
        assert c.d_ff % 16 == 0 and 2.667 * c.d_model - 1 < c.d_ff < 2.667 * c.d_model + 16  # paper factor, to 16
        if 16 <= c.d_model <= 64:
            assert c.n_layers == 2  # the calibration's shapes
    by_width = sorted(shapes, key=lambda c: c.d_model)
    assert [c.n_layers for c in by_width] == sorted(c.n_layers for c in by_width)  # depth never falls with width


def test_ladder_rejects_unknown_family():
    with pytest.raises(UnknownFamilyError, match="mamba"):
        ladder_shapes("mamba", 256)


def test_shape_near_picks_the_nearest_in_log_n():
    shapes = ladder_shapes("xlstm", 256)
    for target in (1e3, 2e4, 5e4, 1e6, 1e10):
        best = shape_near("xlstm", target, 256)
        assert all(abs(math.log(count_params(best) / target)) <= abs(math.log(count_params(c) / target)) + 1e-12
                   for c in shapes)


@settings(max_examples=60, deadline=None)
@given(lo=st.integers(0, 20), size=st.integers(1, 29), n=st.integers(1, 7), log_target=st.floats(7, 20),
       step=st.floats(1.2, 3.0))
def test_pick_sizes_properties(lo, size, n, log_target, step):
    pool = ladder_shapes("llama", 256)[lo:lo + size]
    picks = pick_sizes(pool[::-1], math.exp(log_target), n, step)  # any input order
    ns = [count_params(c) for c in picks]
    assert len(picks) == min(n, len(pool)) and ns == sorted(set(ns))
    assert all(p in pool for p in picks)
    # the candidate nearest the target is picked when (n-1)/2 candidates lie on each side of it
    nearest = min(range(len(pool)), key=lambda i: abs(math.log(count_params(pool[i])) - log_target))
    half = (n - 1) // 2
    if len(pool) > n and half <= nearest < len(pool) - half and n % 2 == 1 and step >= 1.5:
        assert pool[nearest] in picks


def test_pick_sizes_spreads_by_the_step_around_the_optimum():
    picks = pick_sizes(ladder_shapes("xlstm", 256), n_opt(1e12), 5, 2.0)
    ns = np.array([count_params(c) for c in picks], dtype=float)
    assert ns[0] < n_opt(1e12) < ns[-1]
    ratios = ns[1:] / ns[:-1]
    assert np.all(ratios > 1.3) and np.all(ratios < 3.2)
    assert 6 < ns[-1] / ns[0] < 40  # about 2**4 = 16 from end to end
