"""Context lab half: vertices per (family, context, budget) and the shift verdict decided from their intervals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from xlstm_lab.chapters import lab_context as lc
from xlstm_lab.cli.chapter import read_parameters

ROOT = Path(__file__).resolve().parents[2]

FACTORS = np.array([0.25, 0.5, 1.0, 2.0, 4.0])  # the grid's sizes relative to the true optimum


def _grid(family, ctx, budget, n_opt, noise=0.0, seed=0, curvature=0.3):
    """Five sizes around ``n_opt`` whose loss is an exact parabola in log10 N (plus Gaussian noise)."""
    rng = np.random.default_rng(seed)
    loss = 2.0 + curvature * np.log10(FACTORS) ** 2 + rng.normal(0, noise, FACTORS.size)
    n = n_opt * FACTORS
    return pd.DataFrame({"family": family, "context_length": ctx, "budget_flops": budget, "N_params": n,
                         "C_flops_training": budget, "D_tokens": budget / (6 * n), "val_loss": loss})


def test_vertices_recover_known_optima():
    runs = pd.concat([_grid("xlstm", 64, 1e11, 3e4), _grid("xlstm", 1024, 1e11, 1e4)], ignore_index=True)
    opt = lc.optima(runs).set_index(["family", "ctx"])
    assert opt.loc[("xlstm", 64), "N_opt"] == pytest.approx(3e4, rel=1e-9)
    assert opt.loc[("xlstm", 1024), "N_opt"] == pytest.approx(1e4, rel=1e-9)


def test_shift_needs_separated_intervals():
    opt = pd.DataFrame({
        "family": ["xlstm"] * 2 + ["llama"] * 2 + ["llama"] * 2, "budget": ["1e+11"] * 4 + ["1e+12"] * 2,
        "ctx": [64, 1024] * 3, "N_opt": [3e4, 1e4, 3e4, 2e4, 3e4, 2e4],
        "N_opt_lo": [2.5e4, 0.8e4, 2e4, 1.5e4, np.nan, 1.9e4], "N_opt_hi": [3.5e4, 1.2e4, 4e4, 2.5e4, np.nan, 2.1e4]})
    got = lc.movement(opt).set_index(["family", "budget"])
    assert got.loc[("xlstm", "1e+11"), "shift"] == "smaller"
    assert got.loc[("xlstm", "1e+11"), "ratio"] == pytest.approx(1 / 3)
    # every ratio of two values inside their intervals: [0.8e4 / 3.5e4, 1.2e4 / 2.5e4]; 4 doublings from 64 to 1024
    assert got.loc[("xlstm", "1e+11"), "ratio_lo"] == pytest.approx(0.8 / 3.5)
    assert got.loc[("xlstm", "1e+11"), "ratio_hi"] == pytest.approx(1.2 / 2.5)
    assert got.loc[("xlstm", "1e+11"), "per_doubling"] == pytest.approx((1 / 3) ** 0.25)
    assert got.loc[("xlstm", "1e+11"), "per_doubling_hi"] == pytest.approx((1.2 / 2.5) ** 0.25)
    assert got.loc[("llama", "1e+11"), "shift"] == "within the uncertainty"  # overlapping intervals
    assert got.loc[("llama", "1e+12"), "shift"] == "within the uncertainty"  # an unbounded interval
    assert np.isnan(got.loc[("llama", "1e+12"), "ratio_lo"])


def test_larger_shift():
    opt = pd.DataFrame({"family": ["llama"] * 2, "budget": ["1e+11"] * 2, "ctx": [64, 256], "N_opt": [1e4, 4e4],
                        "N_opt_lo": [0.9e4, 3.5e4], "N_opt_hi": [1.1e4, 4.5e4]})
    row = lc.movement(opt).iloc[0]
    assert row["shift"] == "larger" and row["per_doubling"] == pytest.approx(2.0)  # 4x over two doublings


def test_noisy_grids_shift_only_when_the_optimum_moved():
    """Known truth, seed noise ~0.003 nats: a 3x move is seen; no move stays within the uncertainty."""
    moved = pd.concat([_grid("xlstm", 64, 1e11, 3e4, noise=3e-3, seed=1),
                       _grid("xlstm", 1024, 1e11, 1e4, noise=3e-3, seed=2)], ignore_index=True)
    still = pd.concat([_grid("llama", 64, 1e11, 2e4, noise=3e-3, seed=3),
                       _grid("llama", 1024, 1e11, 2e4, noise=3e-3, seed=4)], ignore_index=True)
    got = lc.movement(lc.optima(pd.concat([moved, still], ignore_index=True))).set_index("family")
    assert got.loc["xlstm", "shift"] == "smaller"
    assert got.loc["xlstm", "ratio_lo"] <= 1 / 3 <= got.loc["xlstm", "ratio_hi"]
    assert got.loc["llama", "shift"] == "within the uncertainty"
    assert lc.verdict(got.reset_index()) == ("Beyond the uncertainty of the vertices, the optimum moves for: xLSTM at "
                                             "1e+11 (smaller at the longer context); every other shift is within the "
                                             "uncertainty.")


def test_ratio_range_covers_the_true_ratio():
    """Simulation with known truth: both 95% Fieller intervals hold in ~90% of draws, so the range of ratios they
    allow must cover the true ratio (1/2) at least that often (up to Monte Carlo error)."""
    hits, n = 0, 120
    for i in range(n):
        runs = pd.concat([_grid("xlstm", 64, 1e11, 2e4, noise=5e-3, seed=2 * i),
                          _grid("xlstm", 256, 1e11, 1e4, noise=5e-3, seed=2 * i + 1)], ignore_index=True)
        row = lc.movement(lc.optima(runs)).iloc[0]
        hits += bool(row["ratio_lo"] <= 0.5 <= row["ratio_hi"])  # NaN (unbounded) counts as a miss here
    assert hits / n >= 0.85


def test_verdict_both_ways():
    base = {"family": "xlstm", "budget": "1e+11", "ctx_short": 64, "ctx_long": 1024}
    none_moved = pd.DataFrame([{**base, "shift": "within the uncertainty"},
                               {**base, "family": "llama", "shift": "within the uncertainty"}])
    assert lc.verdict(none_moved).startswith("No family's optimum moves beyond the uncertainty")
    all_moved = pd.DataFrame([{**base, "shift": "smaller"}, {**base, "family": "llama", "shift": "larger"}])
    text = lc.verdict(all_moved)
    assert "xLSTM at 1e+11 (smaller" in text and "Transformer at 1e+11 (larger" in text
    assert "every other" not in text
    assert "cannot say" in lc.verdict(pd.DataFrame(columns=lc.MOVE_COLUMNS))


def _at_budget():
    """The released-data half's table: Transformer vertices at both contexts; xLSTM's short context a law only."""
    return pd.DataFrame({
        "family": ["llama", "llama", "xlstm", "xlstm"], "ctx": [2048, 16384, 2048, 16384],
        "N_opt": [2.3e8, 1.6e8, 3.1e8, 2.8e8], "lo": [1.7e8, 1.3e8, np.nan, 2.7e8], "hi": [3.0e8, 2.0e8, np.nan, 3.0e8],
        "N_vertex": [2.2e8, 1.6e8, np.nan, 2.9e8], "N_vertex_lo": [2.1e8, 1.5e8, np.nan, 2.8e8],
        "N_vertex_hi": [2.3e8, 1.7e8, np.nan, 3.0e8]})


def test_paper_movement_uses_vertices_where_both_contexts_have_them():
    got = lc.paper_movement(_at_budget(), 1e19).set_index("family")
    assert got.loc["llama", "budget"] == "paper vertex 1e+19"
    assert got.loc["llama", "ratio"] == pytest.approx(1.6 / 2.2)
    assert got.loc["llama", "per_doubling"] == pytest.approx((1.6 / 2.2) ** (1 / 3))  # 2048 -> 16384: 3 doublings
    assert got.loc["llama", "shift"] == "smaller"  # 1.7e8 < 2.1e8
    assert got.loc["xlstm", "budget"] == "paper law 1e+19"
    assert got.loc["xlstm", "ratio"] == pytest.approx(2.8 / 3.1)
    assert got.loc["xlstm", "shift"] == "within the uncertainty"  # a published law carries no interval


def _lab(family, per_doubling, lo, hi, budget="1e+11"):
    return {"family": family, "budget": budget, "ctx_short": 64, "ctx_long": 1024, "ratio": per_doubling ** 4,
            "per_doubling": per_doubling, "per_doubling_lo": lo, "per_doubling_hi": hi, "shift": "smaller"}


def test_contrast_judges_the_paper_against_our_ranges():
    paper = lc.paper_movement(_at_budget(), 1e19)  # llama x0.90 per doubling, xLSTM x0.97
    inside = lc.beside_paper(pd.DataFrame([_lab("llama", 0.87, 0.8, 0.95), _lab("xlstm", 0.95, 0.9, 1.0)]), paper)
    text = lc.contrast(inside)
    assert "Transformer: N* changes by ×0.87 at 1e+11 per doubling" in text and "×0.90 in the paper" in text
    assert text.count("inside our range at every budget") == 2
    outside = lc.beside_paper(pd.DataFrame([_lab("xlstm", 0.8, 0.7, 0.9), _lab("xlstm", 0.95, 0.9, 1.0, "1e+12")]),
                              paper)
    assert "×0.80 at 1e+11 and ×0.95 at 1e+12 per doubling" in lc.contrast(outside)
    assert "outside our range at 1e+11." in lc.contrast(outside)
    unbounded = lc.beside_paper(pd.DataFrame([_lab("llama", 0.87, np.nan, np.nan)]), paper)
    assert "cannot compare" in lc.contrast(unbounded)


def test_default_grid_is_shipped():
    """The chapter's defaults (its parameters cell, and the YAML presets) ask for the shipped grid only: no live
    slice."""
    nb = read_parameters(ROOT / "notebooks/context_dependence.md")
    for preset in ("default", "large"):
        params = yaml.safe_load((ROOT / f"notebooks/params/context_dependence.{preset}.yaml").read_text())
        assert (params["lab_contexts"], params["lab_budgets"]) == (nb["lab_contexts"], nb["lab_budgets"])
    got = lc.gather(nb["lab_contexts"], nb["lab_budgets"], ["xlstm", "llama"], train=False)
    assert got.counts() == {"shipped": 60, "trained now": 0, "stored earlier": 0}
    assert not got.skipped
