"""Convenience loaders: filters, family labels, -1 -> NaN, and the coverage stated on the data cards."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xlstm_lab.anchors import (
    data_path,
    load_gadre,
    load_inference,
    load_isoflop_runs,
    load_tokenparam_runs,
)


# Coverage table of shared/anchor_data/xlstm_scaling_laws/SOURCE.md: (runs, repo_selected) per grid.
@pytest.mark.parametrize(
    "family, ctx, n_all, n_sel",
    [("llama", 2048, 88, 84), ("llama", 8192, 113, 107), ("llama", 16384, 74, 70), ("xlstm", 16384, 94, 81)],
)
def test_isoflop_coverage_matches_card(family, ctx, n_all, n_sel):
    assert len(load_isoflop_runs(family, ctx, selected_only=False)) == n_all
    sel = load_isoflop_runs(family, ctx)
    assert len(sel) == n_sel
    assert sel["repo_selected"].all() and (sel["family_label"] == family).all()
    assert (sel["context_length"] == ctx).all() and (sel["experiment_set"] == "isoflop").all()


def test_isoflop_budget_counts_llama_8192():
    # Card: 6e18: 19, 1e19: 26, 3e19: 37, 1e20: 28, extra: 3 (all runs, before the upstream filter).
    df = load_isoflop_runs("llama", 8192, selected_only=False)
    counts = df["isoflop_bucket"].value_counts().to_dict()
    assert counts == {"3e+19": 37, "1e+20": 28, "1e+19": 26, "6e+18": 19, "extra": 3}


def test_extra_sets_and_all():
    assert len(load_isoflop_runs(experiment_set="isoflop_flops_chinchilla", selected_only=False)) == 54
    assert len(load_isoflop_runs(experiment_set="isoflop_large_gbs256", selected_only=False)) == 36
    assert len(load_isoflop_runs(experiment_set=None, selected_only=False)) == 459
    with pytest.raises(ValueError, match="selected_only=False"):
        load_isoflop_runs(experiment_set="isoflop_large_gbs256")
    with pytest.raises(ValueError, match="experiment_set"):
        load_isoflop_runs(experiment_set="isoflop_main")


def test_family_aliases_and_errors():
    a = load_isoflop_runs("xlstm", 16384)
    b = load_isoflop_runs("xlstm_mlstm_v1", 16384)
    pd.testing.assert_frame_equal(a, b)
    assert set(a["family"]) == {"xlstm_mlstm_v1"}  # original label kept
    with pytest.raises(ValueError, match="unknown family"):
        load_isoflop_runs("mamba")


@pytest.mark.parametrize("ctx, pickle", [(2048, "isoflop_mlstm_ctx2048"), (8192, "isoflop_mlstm_ctx8192")])
def test_missing_xlstm_grids_say_so(ctx, pickle):
    with pytest.raises(ValueError, match=pickle):
        load_isoflop_runs("xlstm", ctx)


def test_tokenparam_labels_and_presets():
    df = load_tokenparam_runs()
    assert df["family_label"].value_counts().to_dict() == {"xlstm": 35, "llama": 31}
    assert set(df["family"]) == {"xlstm_mlstm_v1", "llama"}
    extra = df[df["preset"].isna()]
    assert (extra["preset_token_param_ratio"] == "extra").all()
    assert len(extra) == 5  # xLSTM 160M x2, 7B long; Transformer 160M and 7B (card coverage)
    assert set(df["preset"].dropna()) == {22, 44, 110, 220, 550, 1100, 2200}
    assert len(load_tokenparam_runs("xlstm")) == 35 and len(load_tokenparam_runs("llama")) == 31


def test_inference_minus_one_becomes_nan():
    raw = pd.read_csv(data_path("xlstm_inference"))
    df = load_inference(valid_only=False)
    assert len(df) == len(raw) == 2340
    for col in ("ttft_ms", "steptime_ms", "throughput_tok_per_s"):
        assert df[col].isna().sum() == (raw[col] == -1).sum() > 0
        assert (df[col].dropna() > 0).all()
    np.testing.assert_array_equal(df["ttft_s"].to_numpy(), df["ttft_ms"].to_numpy() / 1e3)
    np.testing.assert_array_equal(df["steptime_s"].to_numpy(), df["steptime_ms"].to_numpy() / 1e3)


def test_inference_valid_only_and_family():
    df = load_inference()
    assert len(df) == 2340 - 865  # card: 865 rows without TTFT, and these have no step time either
    assert (df["ttft_ms"].notna() | df["steptime_ms"].notna()).all()
    assert set(load_inference("xlstm", valid_only=False)["family"]) == {"xlstm"}
    assert len(load_inference("llama2", valid_only=False)) == 780  # 6 sizes x 13 batch x 10 prefill
    with pytest.raises(ValueError, match="llama2"):
        load_inference("llama")


def test_gadre_loader():
    df = load_gadre()
    assert len(df) == 104
    assert df["train_dataset"].value_counts().to_dict() == {"rpj": 35, "rw_original": 35, "c4_original": 34}
    # flops_6ND overflows int64 for the 7B runs; it must still equal 6*N*D to float precision.
    np.testing.assert_allclose(df["flops_6ND"], 6.0 * df["N_params"] * df["D_tokens"], rtol=1e-15)
    assert len(load_gadre("rpj")) == 35
    with pytest.raises(ValueError, match="rw_original"):
        load_gadre("refinedweb")


def test_decode_step_is_stored_step_time_over_batch():
    """steptime_ms is B²/throughput (B x one decode step of the batch); decode_step_s = B/throughput."""
    from xlstm_lab.anchors import load_inference

    df = load_inference().dropna(subset=["steptime_ms", "throughput_tok_per_s"])
    expected = df["batch_size"] / df["throughput_tok_per_s"]
    assert np.allclose(df["decode_step_s"], expected, rtol=1e-8)
    b1 = df[df["batch_size"] == 1]
    assert np.array_equal(b1["decode_step_s"], b1["steptime_s"])
