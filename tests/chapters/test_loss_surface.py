"""Tests of xlstm_lab.chapters.loss_surface and its charts: golden refit vs the stored fits, synthetic recovery."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from xlstm_lab import anchors
from xlstm_lab.anchors.check import AnchorMismatch
from xlstm_lab.chapters import loss_surface as ls
from xlstm_lab.fit import chinchilla_frontier, fit_parametric, simulate_surface, surface_loss
from xlstm_lab.fit.types import InvalidInputError
from xlstm_lab.plots import surface as plots_surface


@pytest.fixture(scope="module")
def runs() -> pd.DataFrame:
    return ls.select_runs(anchors.load_tokenparam_runs())


@pytest.fixture(scope="module")
def fits(runs):
    # No bootstrap: the golden tests need only the point fits (4 fits, ~15 s on one core).
    return ls.fit_surfaces(runs, delta=1e-3)


# ------------------------------------------------------------------------------------------- selection


def test_select_runs_keeps_all_66_runs_in_the_papers_range(runs):
    assert len(runs) == 66
    assert (runs["family"] == "llama").sum() == 31 and (runs["family"] == "xlstm").sum() == 35
    assert set(runs.columns) >= {"family", "model_size", "N", "D", "C", "tokens_per_param", "preset", "loss"}
    np.testing.assert_allclose(runs["tokens_per_param"], runs["D"] / runs["N"], rtol=1e-5)  # 7-digit CSV values


def test_select_runs_filters_by_tokens_per_param():
    sub = ls.select_runs(anchors.load_tokenparam_runs(), 30, 600)
    assert sub["tokens_per_param"].between(30, 600).all()
    assert len(sub) < 66


def test_select_runs_rejects_a_range_that_leaves_too_few_runs():
    with pytest.raises(InvalidInputError, match="widen the range"):
        ls.select_runs(anchors.load_tokenparam_runs(), 1000, 5000)
    with pytest.raises(InvalidInputError, match="must be <"):
        ls.select_runs(anchors.load_tokenparam_runs(), 500, 100)


# ------------------------------------------------------------------------------------------- golden: stored fits


def test_refit_is_not_worse_than_the_stored_fit_and_predicts_the_same_losses(fits, runs):
    comp = ls.stored_comparison(fits, runs)
    assert len(comp) == 4
    # Same objective, same runs: a refit that reaches the paper's optimum scores at most the stored parameters'
    # objective (1e-9 relative: float noise only).
    assert (comp["objective"] <= comp["objective_stored_params"] * (1 + 1e-9)).all(), comp
    # The card's criterion: predicted losses within 0.01 nats of the stored fit on every run.
    assert (comp["max_abs_dL"] < 0.01).all(), comp
    ls.require_not_worse(comp)
    ls.require_close_predictions(comp, tol=0.01)
    # Published objective with gamma: 3 significant figures, so within 1e-3 relative of ours.
    g = comp[comp["gamma"]]
    np.testing.assert_allclose(g["objective"], g["objective_published"], rtol=1e-3)


@pytest.mark.parametrize("family", ["llama", "xlstm"])
def test_gamma_fit_exponents_match_the_stored_fit(fits, family):
    """E, alpha, beta, gamma printed to 4 digits; the same objective from a similar grid agrees to 1e-3 relative."""
    fit = fits[(family, True)]
    for k in ("E", "alpha", "beta", "gamma"):
        assert getattr(fit, k) == pytest.approx(anchors.PAPER[f"surface.gamma.{family}.{k}"].value, rel=1e-3), k


def test_parameter_table_has_effective_exponents(fits):
    t = ls.parameter_table(fits)
    row = t[(t["family"] == "llama") & t["gamma"] & (t["parameter"] == "alpha*gamma")].iloc[0]
    assert row["stored"] == pytest.approx(0.5273 * 0.2934, rel=1e-12)
    assert not ((t["parameter"] == "gamma") & ~t["gamma"]).any()  # gamma is not a parameter of the gamma = 1 fit


def test_varpro_differs_from_huber_but_predicts_similar_losses(fits, runs):
    vp = ls.varpro_comparison(fits, runs)
    assert set(vp["method"]) == {"huber-lbfgs", "varpro"}
    hub, var = vp[vp["method"] == "huber-lbfgs"], vp[vp["method"] == "varpro"]
    # Each method wins on its own criterion: varpro the squared error, the Huber fit the Huber objective.
    assert (var["rmse"].to_numpy() <= hub["rmse"].to_numpy() + 1e-12).all()
    assert (hub["huber"].to_numpy() <= var["huber"].to_numpy() + 1e-12).all()
    # Predictions stay within a few residuals (~0.02 nats) of each other.
    assert (var["max_abs_dL_vs_huber"] < 0.05).all()


# ------------------------------------------------------------------------------------------- synthetic / unit


class _Stub:
    """A fit-like object with known parameters (no optimiser involved)."""

    def __init__(self, E, A, B, alpha, beta, gamma=1.0, samples=None):
        self.p = dict(E=E, A=A, B=B, alpha=alpha, beta=beta, gamma=gamma)
        self.samples = samples

    def predict(self, N, D):
        return surface_loss(N, D, **self.p)


def _six_nd_runs() -> pd.DataFrame:
    """Runs whose FLOPs are exactly 6ND, so the compute-optimal allocation has Chinchilla's closed form."""
    n = np.logspace(8, 10, 6)
    rows = [dict(family=f, model_size=str(i), N=x, D=20 * x, C=6 * x * 20 * x, tokens_per_param=20.0, preset=20.0,
                 loss=3.0) for f in ls.FAMILIES for i, x in enumerate(n)]
    return pd.DataFrame(rows)


def test_compute_optimal_frame_recovers_the_closed_form_optimum():
    p = dict(E=1.7, A=400.0, B=410.0, alpha=0.34, beta=0.28)
    runs = _six_nd_runs()
    fits = {(f, True): _Stub(**p, gamma=0.5) for f in ls.FAMILIES}
    frame = ls.compute_optimal_frame(fits, runs, [1e20], n_grid=4001)
    n_opt, d_opt = chinchilla_frontier(1e20, **p)
    row = frame[frame["family"] == "xlstm"].iloc[0]
    # Grid spacing in ln N is ln(100)/4000 = 1.2e-3, so N_opt is within ~0.1% of the closed form.
    assert row["N_opt"] == pytest.approx(n_opt, rel=2e-3)
    assert row["D_opt"] == pytest.approx(d_opt, rel=2e-3)
    assert not row["at_edge"] and math.isnan(row["L_lo"])


def test_compute_optimal_flags_an_optimum_outside_the_trained_sizes():
    fits = {(f, True): _Stub(1.7, 400.0, 410.0, 0.34, 0.28) for f in ls.FAMILIES}
    frame = ls.compute_optimal_frame(fits, _six_nd_runs(), [1e26])  # closed-form N_opt ~ 2e12 > 1e10
    assert frame["at_edge"].all()


def test_compute_optimal_gap_is_positive_when_the_transformer_is_worse():
    fits = {("llama", True): _Stub(1.8, 400.0, 410.0, 0.34, 0.28),
            ("xlstm", True): _Stub(1.7, 400.0, 410.0, 0.34, 0.28)}
    gap = ls.compute_optimal_gap(fits, _six_nd_runs(), [1e20, 1e21])
    # Same exponents and amplitudes: the allocation is identical and the gap is exactly the difference of E.
    np.testing.assert_allclose(gap["gap"], 0.1, rtol=1e-9)
    with pytest.raises(InvalidInputError, match="budgets"):
        ls.compute_optimal_gap(fits, _six_nd_runs(), [-1.0])


def test_sample_log_loss_matches_surface_loss():
    samples = pd.DataFrame({"E": [1.2, 0.9], "A": [300.0, 2e6], "B": [500.0, 3e7], "alpha": [0.3, 0.7],
                            "beta": [0.25, 0.65], "gamma": [1.0, 0.25]})
    samples["e"], samples["a"], samples["b"] = np.log(samples["E"]), np.log(samples["A"]), np.log(samples["B"])
    n, d = np.array([1e8, 1e9, 7e9]), np.array([2e9, 5e10, 1e12])
    got = np.exp(ls._sample_log_loss(samples, n, d))
    for i, r in samples.iterrows():
        np.testing.assert_allclose(got[i], surface_loss(n, d, r.E, r.A, r.B, r.alpha, r.beta, r.gamma), rtol=1e-12)


def test_identification_table_pins_losses_better_than_amplitudes():
    data = simulate_surface(1.8, 400.0, 500.0, 0.34, 0.28, N=np.logspace(8, 9.8, 5), D=np.logspace(9.5, 11.5, 5),
                            noise=0.01, seed=1)
    fit = fit_parametric(data=data, gamma=False, n_bootstrap=20, seed=0)
    t = ls.identification_table(fit, data).set_index("quantity")
    assert (t["lo"] <= t["hi"]).all()
    # Predicted losses are known to a fraction of a percent; the amplitude A to far worse.
    assert t.loc["L_hat, median run", "rel_width"] < 0.05
    assert t.loc["A", "rel_width"] > 5 * t.loc["L_hat, median run", "rel_width"]
    with pytest.raises(InvalidInputError, match="n_bootstrap"):
        ls.identification_table(fit_parametric(data=data, gamma=False), data)


def test_require_helpers_raise_on_drift():
    bad = pd.DataFrame([dict(family="llama", gamma=True, objective=2.0, objective_stored_params=1.0, max_abs_dL=0.02)])
    with pytest.raises(AnchorMismatch, match="exceeds"):
        ls.require_not_worse(bad)
    with pytest.raises(AnchorMismatch, match="0.01"):
        ls.require_close_predictions(bad, tol=0.01)


def test_is_paper_recipe():
    assert ls.is_paper_recipe(1e-3, 0, 5000)
    assert not ls.is_paper_recipe(1e-2, 0, 5000)
    assert not ls.is_paper_recipe(1e-3, 50, 5000)
    assert not ls.is_paper_recipe(1e-3, 0, 1000)


def test_surface_grid_and_charts_build(fits, runs):
    grid = ls.surface_grid(fits, runs, n_cells=10)
    assert len(grid) == 2 * 100
    cell = grid.iloc[17]
    assert cell["loss"] == pytest.approx(fits[(cell["family"], True)].predict(cell["N"], cell["D"]), rel=1e-12)
    assert np.log10(grid["N"]).min() > np.log10(runs["N"]).min() - 0.2
    resid = ls.residual_frame(fits, runs)
    np.testing.assert_allclose(resid["residual"], resid["predicted"] - resid["loss"])
    path = ls.compute_optimal_frame(fits, runs, [1e19, 1e20])
    for chart in (plots_surface.contour_chart(grid, resid, path), plots_surface.residual_chart(resid),
                  plots_surface.residual_chart(resid, x="N"), plots_surface.compute_optimal_chart(path),
                  plots_surface.bootstrap_chart(pd.DataFrame({"family": ["llama"], "alpha": [0.5], "beta": [0.5]}),
                                                pd.DataFrame({"family": ["llama"], "alpha": [0.5], "beta": [0.5]}))):
        spec = chart.to_dict()  # validates against the Vega-Lite schema
        assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/")
    with pytest.raises(ValueError, match="tokens_per_param"):
        plots_surface.residual_chart(resid, x="D")
