"""Tests of xlstm_lab.chapters.counting_compute: counts against the paper's table and every released run."""

from __future__ import annotations

import math

import numpy as np
import pytest

from xlstm_lab.anchors import PAPER, AnchorMismatch, load_isoflop_runs
from xlstm_lab.chapters import counting_compute as cc


def test_every_named_shape_is_within_the_rounding_of_the_printed_N():
    """The paper prints N in whole millions, truncated (406.86 M -> 406): 0 <= ours - printed < 1 M."""
    t = cc.shape_table()
    assert len(t) == 12
    diff = t["ours - paper (M)"].to_numpy()
    assert (diff >= 0).all() and (diff < 1).all(), t[["family", "size", "ours - paper (M)"]]
    parts = t[[c for c in t.columns if c.endswith("(M)") and c not in ("N (M)", "paper N (M)", "ours - paper (M)")]]
    np.testing.assert_allclose(parts.sum(axis=1), t["N (M)"], rtol=1e-12)


@pytest.fixture(scope="module")
def reproduction():
    return cc.runs_reproduction()


def test_every_run_of_runs_csv_is_reproduced(reproduction):
    """runs.csv stores 10 significant digits: rounding leaves at most 5e-10 relative, so 1e-9 bounds the error."""
    summary, per_run = reproduction
    assert len(per_run) == 459
    assert set(summary["column"]) == {"N_params_calculated", "N_params", "flops_fw_per_sequence",
                                      "flops_fwbw_per_sequence", "C_flops_training", "seq_mix_flop_ratio"}
    assert (summary["max rel err"] < 1e-9).all(), summary
    assert summary.set_index("column").loc["N_params", "rows"] == 459 - 23  # 23 failed runs have no N_params


def test_the_chinchilla_set_needs_its_own_attention_count(reproduction):
    """Counting the isoflop_flops_chinchilla runs with the paper's causal attention would miss their stored FLOPs."""
    from xlstm_lab.accounting import config_from_runs_row, flops_per_sequence

    runs = load_isoflop_runs(selected_only=False, experiment_set="isoflop_flops_chinchilla")
    row = runs.iloc[0].to_dict()
    paper = flops_per_sequence(config_from_runs_row(row), int(row["context_length"])).forward
    assert abs(paper / row["flops_fw_per_sequence"] - 1) > 1e-3


def test_csv_check_passes_and_raises():
    ok = cc.csv_check("x", 1.0, 1.0, 1e-12, 1e-9, why="test")
    assert ok.ok and ok.error == 1e-12 and ok.tol == 1e-9
    with pytest.raises(AnchorMismatch, match="exceeds tolerance"):
        cc.csv_check("x", 1.1, 1.0, 0.1, 1e-9)
    with pytest.raises(AnchorMismatch):
        cc.csv_check("x", math.nan, 1.0, math.nan, 1e-9)
    with pytest.raises(ValueError, match="tol"):
        cc.csv_check("x", 1.0, 1.0, 0.0, -1.0)


def test_flops_per_token_shapes_of_the_curves():
    """mLSTM: per-token cost independent of the context (contexts are multiples of the chunk size). Attention:
    the sequence-mix cost per token is exactly linear in T. 6N ignores T. Chinchilla's non-causal core >= causal."""
    contexts = [1024, 2048, 4096]
    d = cc.flops_per_token("400m", contexts).pivot_table(index=["family", "context"], columns="series",
                                                         values="flops_per_token")
    x, ll = d.loc["xlstm"], d.loc["llama"]
    assert np.allclose(x["paper"], x["paper"].iloc[0], rtol=1e-12)
    mix = ll["paper: sequence mix"].to_numpy()
    assert mix[1] / mix[0] == pytest.approx(2.0, rel=1e-12) and mix[2] / mix[0] == pytest.approx(4.0, rel=1e-12)
    assert np.allclose(ll["6N"], ll["6N"].iloc[0]) and (ll["Chinchilla-style"] > ll["paper"]).all()


def test_isoflop_refit_with_the_paper_compute_reproduces_the_published_law():
    """Same runs and method as the paper's notebook; the exponents are printed to 6 digits: 5e-4 relative."""
    t = cc.isoflop_conventions(8192, (5e18, 2e20)).set_index("convention")
    assert t.loc["paper C", "a_N"] == pytest.approx(PAPER["isoflop.main.llama.ctx8192.n_opt.a"].value, rel=5e-4)
    assert t.loc["paper C", "a_D"] == pytest.approx(PAPER["isoflop.main.llama.ctx8192.d_opt.a"].value, rel=5e-4)
    assert (t["budgets"] == 4).all()
    runs = load_isoflop_runs("llama", 8192)
    runs = runs[runs["isoflop_bucket"] != "extra"]
    ratio = (6 * runs["N_params"] * runs["D_tokens"] / runs["C_flops_training"]).mean()
    assert t.loc["C = 6ND", "mean C_6ND / C_paper"] == pytest.approx(ratio, rel=1e-12)
    assert t.loc["C = 6ND", "a_N"] != t.loc["paper C", "a_N"]
