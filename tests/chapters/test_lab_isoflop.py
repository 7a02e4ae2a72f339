"""IsoFLOP lab half: the recipe recovers a known optimum law, the envelope comparison and verdict inputs are exact."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xlstm_lab.chapters import lab_isoflop as li


def _runs(family: str, k: float, a: float, budgets=(1e11, 1e12, 1e13), curvature: float = 0.3, shift: float = 0.0):
    """Runs whose loss is an exact parabola in log10 N around N* = k C^a at every budget (D = C / 6N)."""
    rows = []
    for c in budgets:
        n_opt = k * c**a
        for f in (0.25, 0.5, 1.0, 2.0, 4.0):
            n = n_opt * f
            loss = 3.0 - 0.2 * np.log10(c) + curvature * np.log10(f) ** 2 + shift
            rows.append({"family": family, "budget_flops": c, "C_flops_training": c, "N_params": n,
                         "D_tokens": c / (6 * n), "val_loss": loss, "seed": 0, "source": "shipped",
                         "context_length": 256})
    return pd.DataFrame(rows)


def test_the_recipe_recovers_a_known_law_exactly():
    runs = pd.concat([_runs("xlstm", 0.2, 0.47), _runs("llama", 0.01, 0.58, shift=0.1)], ignore_index=True)
    fits = li.fit_families(runs)
    laws = li.law_table(fits).set_index(["family", "law"])
    assert laws.loc[("xlstm", "N*"), "a"] == pytest.approx(0.47, abs=1e-9)
    assert laws.loc[("xlstm", "N*"), "k"] == pytest.approx(0.2, rel=1e-7)
    assert laws.loc[("llama", "N*"), "a"] == pytest.approx(0.58, abs=1e-9)
    # D = C / 6N at the optimum: D* exponent = 1 - a.
    assert laws.loc[("xlstm", "D*"), "a"] == pytest.approx(0.53, abs=1e-9)
    assert laws.loc[("xlstm", "N*"), "budgets"] == 3
    assert li.skipped_table(fits).empty


def test_paper_inside_is_decided_by_the_interval():
    rng = np.random.default_rng(0)
    runs = _runs("xlstm", 0.2, 0.547, budgets=(1e10, 1e11, 1e12, 1e13))
    runs["val_loss"] += rng.normal(0, 0.002, len(runs))
    runs = pd.concat([runs, _runs("llama", 0.01, 0.9, budgets=(1e10, 1e11, 1e12, 1e13))], ignore_index=True)
    laws = li.law_table(li.fit_families(runs)).set_index(["family", "law"])
    x = laws.loc[("xlstm", "N*")]
    assert x["a_lo"] <= x["a_paper"] <= x["a_hi"] and x["paper_inside"]
    assert not laws.loc[("llama", "N*"), "paper_inside"]  # exact law with exponent 0.9: the paper's 0.575 is out


def test_a_budget_without_a_minimum_is_skipped_and_named():
    runs = _runs("xlstm", 0.2, 0.5)
    edge = runs["budget_flops"] == 1e13
    runs.loc[edge, "val_loss"] = 9.0 - np.log10(runs.loc[edge, "N_params"])  # monotone: no interior minimum
    fits = li.fit_families(pd.concat([runs, _runs("llama", 0.01, 0.5)], ignore_index=True))
    skipped = li.skipped_table(fits)
    assert list(skipped["family"]) == ["xlstm"] and list(skipped["budget"]) == ["1e+13"]


def test_envelope_comparison():
    x = pd.DataFrame({"family": "xlstm", "C_flops_training": [1e10, 1e11, 1e12], "val_loss": [2.0, 1.8, 1.6]})
    tf = pd.DataFrame({"family": "llama", "C_flops_training": [1e10, 1e11, 1e12], "val_loss": [2.1, 1.7, 1.7]})
    got = li.envelope_comparison(pd.concat([x, tf]), n_grid=301)
    # xLSTM lower on [1e10, 1e11) (one decade of two on the log grid), the Transformer lower on [1e11, 1e12).
    assert got["c_lo"] == 1e10 and got["c_hi"] == 1e12
    assert got["xlstm_lower"] == pytest.approx(151 / 301, abs=1e-12)
    assert got["final_gap"] == pytest.approx(0.1)


def test_default_grid_is_the_shipped_one_plus_a_live_budget():
    """The chapter's defaults name the shipped grid; only the smallest budget (3e10) is not shipped."""
    got = li.gather([3e10, 1e11, 3e11, 1e12, 3e12], ["xlstm", "llama"], train=False)
    shipped = got.runs[got.runs["source"] == "shipped"]
    assert set(shipped["budget_flops"]) == {1e11, 3e11, 1e12, 3e12}
    assert (shipped["seed"] == 0).sum() == 40 and (shipped["seed"] == 1).sum() >= 8


def test_three_nearest_keeps_the_best_size_and_its_neighbours():
    runs = _runs("xlstm", 0.2, 0.47)
    kept = li.three_nearest(runs)
    for c, g in kept.groupby("budget_flops"):
        n_opt = 0.2 * c**0.47
        assert sorted(np.round(g["N_params"] / n_opt, 6)) == [0.5, 1.0, 2.0]
    # the best size at the edge of the grid: the three smallest sizes are kept
    edge = runs.assign(val_loss=runs["val_loss"] + 0.5 * np.log10(runs["N_params"]))
    for c, g in li.three_nearest(edge).groupby("budget_flops"):
        assert sorted(np.round(g["N_params"] / (0.2 * c**0.47), 6)) == [0.25, 0.5, 1.0]


def test_three_point_laws_equal_five_point_laws_on_exact_parabolas():
    runs = pd.concat([_runs("xlstm", 0.2, 0.47), _runs("llama", 0.01, 0.58)], ignore_index=True)
    cmp = li.three_point_comparison(runs, li.law_table(li.fit_families(runs)))
    assert len(cmp) == 4
    np.testing.assert_allclose(cmp["a_3pt"], cmp["a_5pt"], atol=1e-9)
    assert (cmp["budgets"] == 3).all()
