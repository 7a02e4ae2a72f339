"""Context lab half: vertices per (family, context, budget) and the shift verdict decided from their intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xlstm_lab.chapters import lab_context as lc


def _grid(family, ctx, budget, n_opt, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    f = np.array([0.25, 0.5, 1.0, 2.0, 4.0])
    loss = 2.0 + 0.3 * np.log10(f) ** 2 + rng.normal(0, noise, f.size)
    n = n_opt * f
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
    assert got.loc[("llama", "1e+11"), "shift"] == "within the uncertainty"  # overlapping intervals
    assert got.loc[("llama", "1e+12"), "shift"] == "within the uncertainty"  # an unbounded interval


def test_default_grid_is_shipped():
    got = lc.gather([64, 256, 1024], [1e11, 1e12], ["xlstm", "llama"], train=False)
    assert got.counts()["shipped"] == 60
