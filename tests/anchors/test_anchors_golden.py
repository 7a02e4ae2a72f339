"""Golden values: numbers read or recomputed from the shipped CSVs equal the numbers printed on the data cards."""

from __future__ import annotations

import numpy as np
import pytest

from xlstm_lab.anchors import PAPER, check, load_gadre, load_inference, load_isoflop_runs, load_tokenparam_runs

PRESETS = (22, 44, 110, 220, 550, 1100)


@pytest.mark.parametrize("family", ["llama", "xlstm"])
def test_overtraining_slopes_reproduce_table(family):
    """OLS of ln L on ln C per D/N preset, without 'extra' and '7B long'; tfla FLOPs for xLSTM."""
    df = load_tokenparam_runs(family)
    df = df[df["preset"].notna()]
    c = df["C_flops_training_mlstm_tfla" if family == "xlstm" else "C_flops_training"]
    for m in PRESETS:
        sel = df["preset"] == m
        slope, _ = np.polyfit(np.log(c[sel]), np.log(df.loc[sel, "val_dclm_loss"]), 1)
        # Upstream prints 6 decimals; the CSV keeps ~7 significant figures, so 1e-6 absolute is a rounding bound.
        check(f"overtraining.slope.{family}.M{m}", -slope, 1e-6, rel=False, why="table printed to 6 decimals")


def _isoflop_law(df, c_lo, c_hi, col):
    """Card self-check: per budget, vertex of a quadratic in log10 x; then OLS of ln x* on ln C."""
    cs, xs = [], []
    for bucket, g in df.groupby("isoflop_bucket"):
        c = g["C_flops_training"].mean()
        if bucket == "extra" or not c_lo <= c <= c_hi:
            continue
        a2, a1, _ = np.polyfit(np.log10(g[col]), g["val_dclm_loss"], 2)
        cs.append(c)
        xs.append(10 ** (-a1 / (2 * a2)))
    a, ln_k = np.polyfit(np.log(cs), np.log(xs), 1)
    return float(np.exp(ln_k)), float(a), len(cs)


@pytest.mark.parametrize(
    "key, family, ctx, c_hi, budgets",
    [
        ("isoflop.main.llama.ctx8192", "llama", 8192, 2e20, 4),
        ("isoflop.ctx.llama.ctx8192", "llama", 8192, 5e19, 3),
        ("isoflop.ctx.llama.ctx2048", "llama", 2048, 5e19, 3),
        ("isoflop.ctx.llama.ctx16384", "llama", 16384, 5e19, 3),
        ("isoflop.ctx.xlstm.ctx16384", "xlstm", 16384, 5e19, 3),
    ],
)
def test_isoflop_laws_reproduce_notebook(key, family, ctx, c_hi, budgets):
    df = load_isoflop_runs(family, ctx)
    for target, col in (("n_opt", "N_params"), ("d_opt", "D_tokens")):
        k, a, n = _isoflop_law(df, 5e18, c_hi, col)
        assert n == budgets
        # Exponents are printed to 4-6 digits; 2e-4 absolute covers the 4-digit ones (rounding <= 5e-5).
        check(f"{key}.{target}.a", a, 2e-4, rel=False, why="notebook prints 4-6 digits")
        # Prefactors printed to 4 significant digits: 1e-3 relative.
        check(f"{key}.{target}.k", k, 1e-3, why="prefactor printed to 4 significant digits")


def test_isoflop_optima_llama_8192():
    df = load_isoflop_runs("llama", 8192)
    for bucket, g in df.groupby("isoflop_bucket"):
        if bucket == "extra":
            continue
        name = {"6e+18": "6e18", "1e+19": "1e19", "3e+19": "3e19", "1e+20": "1e20"}[bucket]
        a2, a1, _ = np.polyfit(np.log10(g["N_params"]), g["val_dclm_loss"], 2)
        # The card prints 4 significant digits: 1e-3 relative.
        check(f"isoflop.optimum.llama.ctx8192.{name}.N", 10 ** (-a1 / (2 * a2)), 1e-3, why="4 digits")
        check(f"isoflop.optimum.llama.ctx8192.{name}.C", g["C_flops_training"].mean(), 1e-3, why="4 digits")


@pytest.mark.parametrize("size", ["160m", "1.4b", "7b"])
@pytest.mark.parametrize("family, csv_family", [("xlstm", "xlstm"), ("llama", "llama2")])
def test_inference_spot_values(size, family, csv_family):
    df = load_inference(csv_family)
    row = df[(df["size_tag"] == size) & (df["batch_size"] == 1) & (df["prefill_len"] == 16384)]
    assert len(row) == 1
    # The card rounds TTFT to 0.1 ms and step time to 0.01 ms: half a unit in the last digit.
    check(f"inference.measured.ttft_ms.{family}.{size}.b1.p16384", row["ttft_ms"].item(), 0.05, rel=False)
    check(f"inference.measured.step_ms.{family}.{size}.b1.p16384", row["steptime_ms"].item(), 0.005, rel=False)


def test_inference_headline_7b():
    df = load_inference()
    at = df[(df["size_tag"] == "7b") & (df["batch_size"] == 1)].set_index(["family", "prefill_len"])
    assert at.loc[("xlstm", 16384), "ttft_ms"] == pytest.approx(529.8, abs=0.05)
    assert at.loc[("llama2", 16384), "ttft_ms"] == pytest.approx(1300.3, abs=0.05)
    assert at.loc[("xlstm", 16384), "steptime_ms"] == pytest.approx(6.21, abs=0.005)
    assert at.loc[("llama2", 16384), "steptime_ms"] == pytest.approx(28.57, abs=0.005)
    check("inference.measured.step_ms.xlstm.7b.b1.p0", at.loc[("xlstm", 0), "steptime_ms"], 0.005, rel=False)
    check("inference.measured.step_ms.llama.7b.b1.p0", at.loc[("llama2", 0), "steptime_ms"], 0.005, rel=False)


@pytest.mark.parametrize("held, config, mult", [("1.4B_M640", "open_lm_1b", 32.0), ("6.9B_M20", "open_lm_7b", 1.0)])
def test_gadre_heldout_observations(held, config, mult):
    df = load_gadre("rpj")
    row = df[(df["model_config"] == config) & (df["chinchilla_multiplier"] == mult)]
    assert len(row) == 1
    # Card prints 4 decimals.
    check(f"gadre.heldout.rpj.{held}.obs", row["loss_c4_val"].item(), 5e-5, rel=False, why="4 decimals")
    pred, obs = PAPER[f"gadre.heldout.rpj.{held}.pred"].value, PAPER[f"gadre.heldout.rpj.{held}.obs"].value
    check(f"gadre.heldout.rpj.{held}.rel_err", abs(pred - obs) / obs, 1e-4, rel=False, why="card rounds to 0.01%")
