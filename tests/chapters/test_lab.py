"""The chapters' lab engine: plans match the shipped sweeps' keys, missing runs train once, a shipped run reproduces."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xlstm_lab.anchors import load_lab_runs
from xlstm_lab.chapters import lab
from xlstm_lab.params import ParameterError

SHIPPED = load_lab_runs()
# The cheapest shipped run (Llama d32 at 1e11 FLOPs, 309 steps, ~5 s on one core) is the one the tests retrain.
CHEAP = SHIPPED[(SHIPPED["family"] == "llama") & (SHIPPED["budget_flops"] == 1e11) & (SHIPPED["d_model"] == 32)
                & (SHIPPED["seed"] == 0) & (SHIPPED["context_length"] == 256)].iloc[0]


def test_the_isoflop_plan_names_the_shipped_runs():
    """The book's grid is planned again from parameters; every planned key is a shipped run (same spec, corpus)."""
    p = lab.plan("isoflop", families=["xlstm", "llama"], param="lab_budgets", budgets=[1e11, 3e11, 1e12, 3e12])
    assert len(p.runs) == 40
    assert {r.key for r in p.runs} <= set(SHIPPED["key"])
    got = lab.gather(p, store="/nonexistent/never-opened.sqlite", train=False)
    assert got.counts() == {"shipped": 40, "trained now": 0, "stored earlier": 0}


def test_a_budget_the_corpus_cannot_hold_names_the_parameter():
    with pytest.raises(ParameterError, match="'lab_budgets'.*too small.*raise the budget"):
        lab.plan("isoflop", families=["xlstm"], param="lab_budgets", budgets=[1e8])
    with pytest.raises(ParameterError, match="'lab_budgets'"):
        lab.plan("isoflop", families=["xlstm"], param="lab_budgets", budgets=[1e17])
    with pytest.raises(ParameterError, match="'families'"):
        lab.plan("isoflop", families=["mamba"], param="families", budgets=[1e11])


def test_missing_runs_train_once_and_a_shipped_run_reproduces(tmp_path, capsys):
    """Hide one shipped run: gather trains exactly it, says so first, and a second gather reads it from the store.

    Retrained from its recorded spec (same seed, same corpus, same trainer), its loss matches the shipped one to
    well under the seed noise (the shipped runs' seed-to-seed spread is 1e-3 to 2e-2 nats); bit-for-bit equality
    needs the same thread count, which the shipped sweep's 2 threads and this test's machine need not share.
    """
    p = lab.plan("isoflop", families=["llama"], param="lab_budgets", budgets=[1e11])
    shipped = SHIPPED[SHIPPED["key"] != CHEAP["key"]]
    store = tmp_path / "lab.sqlite"
    first = lab.gather(p, store=store, shipped=shipped, progress=False)
    said = capsys.readouterr().out
    assert "Training 1 run not shipped with the book" in said and "min" in said
    assert first.counts() == {"shipped": 4, "trained now": 1, "stored earlier": 0}
    assert first.trained_now == (CHEAP["key"],)
    row = first.runs.set_index("key").loc[CHEAP["key"]]
    assert row["steps"] == CHEAP["steps"] and row["N_params"] == CHEAP["N_params"]
    assert abs(row["val_loss"] - CHEAP["val_loss"]) < 1e-3
    again = lab.gather(p, store=store, shipped=shipped, progress=False)
    assert capsys.readouterr().out == ""
    assert again.counts() == {"shipped": 4, "trained now": 0, "stored earlier": 1}
    assert "1 trained" not in again.summary() and "1 from the local store" in again.summary()


def test_other_seeds_add_shipped_repeats_at_the_same_grid_points():
    p = lab.plan("isoflop", families=["xlstm"], param="lab_budgets", budgets=[1e11])
    got = lab.gather(p, store="/nonexistent/x.sqlite", train=False, other_seeds=True)
    extra = got.runs[got.runs["seed"] != 0]
    assert len(extra) >= 1 and set(lab.grid_key(extra)) <= set(lab.grid_key(got.runs[got.runs["seed"] == 0]))


def test_seed_noise_spread_and_sd():
    rows = pd.DataFrame({"family": ["xlstm"] * 5, "context_length": [256] * 5, "budget_flops": [1e11] * 5,
                         "d_model": [8, 8, 8, 16, 16], "n_layers": [1] * 5, "N_params": [5, 5, 5, 9, 9],
                         "seed": [0, 1, 2, 0, 0], "val_loss": [2.0, 2.1, 2.3, 1.5, 1.5]})
    noise = lab.seed_noise(rows)
    assert len(noise) == 1  # the d16 point has one seed (two rows of seed 0 are not a repeat)
    assert noise["spread"].iat[0] == pytest.approx(0.3)
    assert noise["sd"].iat[0] == pytest.approx(np.std([2.0, 2.1, 2.3], ddof=1))


def test_estimate_uses_the_shape_speed_or_the_family_rate():
    p = lab.plan("isoflop", families=["llama"], param="lab_budgets", budgets=[1e11])
    est = lab.estimate_seconds(p.runs, SHIPPED)
    per_step: dict[tuple[int, int], list[float]] = {}
    for r in SHIPPED.itertuples():
        if r.family == "llama" and r.context_length == 256:
            per_step.setdefault((r.d_model, r.n_layers), []).append(r.wall_s / r.steps)
    # Each shape's median over its shipped runs times its planned steps: bounded by the extremes.
    shape = [per_step[(r.spec.model.d_model, r.spec.model.n_layers)] for r in p.runs]
    lo = sum(min(v) * r.plan.steps for v, r in zip(shape, p.runs))
    hi = sum(max(v) * r.plan.steps for v, r in zip(shape, p.runs))
    assert lo <= est <= hi
    assert lab.estimate_seconds([], SHIPPED) == 0.0
