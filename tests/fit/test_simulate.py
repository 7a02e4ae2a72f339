"""Tests of the synthetic loss-surface generators (xlstm_lab.fit.simulate)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from xlstm_lab.fit.simulate import simulate_isoflop, simulate_surface
from xlstm_lab.fit.types import InvalidInputError

TRUE = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)


def _formula(n, d, E, A, B, alpha, beta, gamma=1.0):
    return E + (A / n**alpha + B / d**beta) ** gamma


def test_surface_grid_and_pairs_follow_the_formula():
    df = simulate_surface(**TRUE, gamma=0.8, N=[1e8, 1e9], D=[1e9, 1e10, 1e11])
    assert len(df) == 6 and list(df.columns) == ["N", "D", "C", "loss", "loss_true"]
    np.testing.assert_allclose(df["loss_true"], _formula(df["N"], df["D"], **TRUE, gamma=0.8), rtol=1e-13)
    np.testing.assert_array_equal(df["loss"], df["loss_true"])  # noise=0 by default
    np.testing.assert_allclose(df["C"], 6 * df["N"] * df["D"], rtol=1e-15)
    paired = simulate_surface(**TRUE, N=[1e8, 1e9], D=[1e9, 1e11], grid=False)
    assert paired[["N", "D"]].to_numpy().tolist() == [[1e8, 1e9], [1e9, 1e11]]
    assert len(simulate_surface(**TRUE)) == 144  # default 12 x 12 grid


def test_surface_noise_is_log_normal_and_seeded():
    a = simulate_surface(**TRUE, noise=0.01, seed=3)
    b = simulate_surface(**TRUE, noise=0.01, seed=3)
    c = simulate_surface(**TRUE, noise=0.01, seed=4)
    np.testing.assert_array_equal(a["loss"], b["loss"])
    assert not np.allclose(a["loss"], c["loss"])
    log_ratio = np.log(a["loss"] / a["loss_true"])
    # 144 draws: the sample sd is within ~6% (1/sqrt(2*144)) of 0.01, the mean within ~3 standard errors of 0.
    assert log_ratio.std() == pytest.approx(0.01, rel=0.25)
    assert abs(log_ratio.mean()) < 3 * 0.01 / np.sqrt(144)


def test_isoflop_runs_sit_on_budgets_around_the_true_optimum():
    df = simulate_isoflop(**TRUE, budgets=[1e19, 1e20], n_per_budget=7, span=4.0)
    assert len(df) == 14
    np.testing.assert_allclose(6 * df["N"] * df["D"], df["C"], rtol=1e-12)
    for c, runs in df.groupby("C"):
        runs = runs.sort_values("N")
        # Independent optimum: minimise the loss along 6ND = C numerically.
        res = minimize_scalar(
            lambda x, c=c: _formula(np.exp(x), c / (6 * np.exp(x)), **TRUE),
            bounds=(10, 35),
            method="bounded",
            options={"xatol": 1e-12},
        )
        assert runs["N_opt"].iloc[0] == pytest.approx(np.exp(res.x), rel=1e-6)
        assert runs["loss_true"].idxmin() == runs.index[3]  # the middle run of 7 is the optimum
        np.testing.assert_allclose(runs["N"].iloc[[0, -1]], runs["N_opt"].iloc[0] * np.array([0.25, 4.0]), rtol=1e-12)


def test_isoflop_with_gamma_keeps_the_optimum_in_the_middle():
    df = simulate_isoflop(**TRUE, gamma=0.3, budgets=[3e19], n_per_budget=5, noise=0.0)
    assert df["loss_true"].idxmin() == 2


@pytest.mark.parametrize(
    "kwargs, text",
    [
        ({"alpha": -0.1}, "alpha"),
        ({"noise": -1.0}, "noise"),
        ({"n_per_budget": 2}, "n_per_budget"),
        ({"span": 1.0}, "span"),
        ({"budgets": [1e19, -1.0]}, "rows [1]"),
    ],
)
def test_isoflop_rejects_bad_arguments(kwargs, text):
    with pytest.raises(InvalidInputError) as info:
        simulate_isoflop(**{**TRUE, **kwargs})
    assert text in str(info.value)


def test_surface_rejects_bad_points():
    with pytest.raises(InvalidInputError, match="rows \\[1\\]"):
        simulate_surface(**TRUE, N=[1e8, 0.0], D=[1e9, 1e10], grid=False)
