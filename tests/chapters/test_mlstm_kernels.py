"""Tests of xlstm_lab.chapters.mlstm_kernels and xlstm_lab.plots.kernels: FLOP models and anchor tables against
the H100 data card, the benchmark-results loader, and the live parity machinery on tiny shapes."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pandas as pd
import pytest

from xlstm_lab.chapters import mlstm_kernels as mk
from xlstm_lab.plots import kernels as kplots

XL, CUDNN, FA2, FLA = (mk._TRAIN_IMPLS[k] for k in ("xl_chunk", "CUDNN_ATTENTION", "FLASH_ATTENTION", "simple_gla"))


# ------------------------------------------------------------------------------------------------ FLOP models
def test_chunkwise_flops_match_the_card():
    """Card: 'For dqk = dv = 128 and L = 128 this is 98,304 FLOP per token per head, 21x less than causal
    attention at T = 8192' (an exact integer; the ratio is printed to 2 digits)."""
    assert mk.flops_per_token("chunkwise", 8192, 128, 128, 128) == 98_304
    ratio = mk.flops_per_token("attention", 8192, 128, 128) / mk.flops_per_token("chunkwise", 8192, 128, 128, 128)
    assert round(ratio) == 21


def test_flop_models_reproduce_the_cards_tflops_column():
    """The harness divided its own FLOP models by the graph time: our formulas must give the same TFLOP/s for
    every timed row (xl_chunk L = 128, fla L = 64, attention 2 B H T^2 d). The CSV keeps full float precision,
    so only rounding in the division remains (1e-9)."""
    from xlstm_lab.anchors import load

    df = load("gpu_h100")
    rows = df[(df["sec"] == "A") & (df["run"] == 3) & df["fwd_graph_tflops"].notna()]
    assert len(rows) >= 20
    for r in rows.to_dict("records"):
        B, H, T, K, V = r["B"], r["H"], int(r["T"]), r["dqk"], r["dv"]
        if "xl_chunk" in r["impl"]:
            per_token = mk.flops_per_token("chunkwise", T, K, V, 128)
        elif "simple_gla" in r["impl"]:
            per_token = mk.flops_per_token("chunkwise", T, K, V, 64)
        elif "SDPA" in r["impl"]:
            per_token = mk.flops_per_token("attention", T, K, V)
        else:
            continue
        tflops = B * H * T * per_token / (r["fwd_graph_ms"] * 1e-3) / 1e12
        assert tflops == pytest.approx(r["fwd_graph_tflops"], rel=1e-9), r["impl"]


def test_parallel_form_counts_the_full_matrix_and_crossover_is_where_lines_meet():
    assert mk.flops_per_token("parallel", 1000, 16, 32) == 2 * mk.flops_per_token("attention", 1000, 16, 32)
    assert mk.crossover_T(128, 128, 64) == 320.0  # 64 + 4*128*128/256, by hand
    t = mk.crossover_T(16, 48, 32)
    assert mk.flops_per_token("attention", t, 16, 48) == pytest.approx(mk.flops_per_token("chunkwise", t, 16, 48, 32))
    with pytest.raises(ValueError, match="unknown form"):
        mk.flops_per_token("linear", 10, 1, 1)


def test_flops_table_has_one_row_per_form_and_length():
    tab = mk.flops_table([128, 1024], 64, 64, (32, 64))
    assert len(tab) == 2 * 4 and set(tab["form"]) == {"parallel", "attention", "chunkwise"}
    chunk = tab[tab["form"] == "chunkwise"]
    assert chunk.groupby("L")["flops_per_token"].nunique().eq(1).all()  # flat in T


# ------------------------------------------------------------------------------------------ the H100 card
def test_card_gradient_errors_match_the_printed_table():
    """SOURCE.md section A0 prints them to 2 significant digits: tolerances are half a unit of the last digit."""
    card = mk.card_gradient_errors()
    assert card.attrs["shape"] == dict(B=1, H=8, T=2048, K=128, V=128)  # card section A0's heading
    card = card.set_index("gradient")
    printed_exact = {"dq": 0.95, "dk": 0.95, "dv": 4.2e-3, "di": 0.96, "df": 0.94}
    printed_detached = {"dq": 4.3e-3, "dk": 4.6e-3, "dv": 4.2e-3, "di": 4.6e-3, "df": 5.4e-2}
    half_unit = lambda v: 0.5 * 10 ** (math.floor(math.log10(v)) - 1)  # noqa: E731 (2 significant digits)
    for g, v in printed_exact.items():
        assert card.loc[g, "vs_exact"] == pytest.approx(v, abs=half_unit(v)), g
    for g, v in printed_detached.items():
        assert card.loc[g, "vs_detached"] == pytest.approx(v, abs=half_unit(v)), g


def test_anchor_training_matches_the_cards_table_A():
    """Graph times printed to 3 decimals (ms): tolerance half a unit, 5e-4 ms."""
    train = mk.anchor_training()
    # 6 shapes x (xl_chunk, cuDNN, FA2) x (fwd, fwd+bwd) + fla's 4 forward rows
    assert len(train) == 6 * 3 * 2 + 4
    t = train.set_index(["impl", "shape", "pass"])["ms"]
    printed = {(XL, "4×8192", "fwd"): 0.602, (XL, "4×8192", "fwd+bwd"): 2.028, (CUDNN, "8×16384", "fwd"): 7.264,
               (FA2, "1×2048", "fwd+bwd"): 0.224, (FLA, "4×8192", "fwd"): 0.266, (XL, "1×2048", "fwd"): 0.084}
    for key, v in printed.items():
        assert t[key] == pytest.approx(v, abs=5e-4), key
    assert (train["tokens"] == train["B"] * train["T"]).all()


def test_speed_ratios_match_the_cards_ratio_table():
    """Printed to 2 decimals: tolerance 5e-3 (the card's xl/fla column is the inverse of ours)."""
    r = mk.speed_ratios(mk.anchor_training()).set_index("shape")
    assert r.loc["4×8192", "cuDNN fwd+bwd"] == pytest.approx(1.90, abs=5e-3)
    assert r.loc["8×2048", "cuDNN fwd"] == pytest.approx(0.61, abs=5e-3)
    assert r.loc["8×16384", "FA2 fwd+bwd"] == pytest.approx(7.59, abs=5e-3)
    assert 1 / r.loc["4×8192", "fla fwd"] == pytest.approx(2.27, abs=5e-3)


def test_anchor_decode_matches_table_B_and_the_step_is_flat():
    """Graph µs printed to 1 decimal (small) or 3-4 digits (7B-like): tolerance half a unit."""
    dec = mk.anchor_decode()
    small, big = (dec[dec["config"].str.startswith(p)] for p in ("H8", "7B"))
    s = small.set_index(["B", "T", "impl"])["us"]
    assert s[1, 2048, "NX-AI mLSTM step (Triton)"] == pytest.approx(5.8, abs=0.05)
    assert s[1, 65536, "SDPA cuDNN decode"] == pytest.approx(99.1, abs=0.05)
    b = big.set_index(["B", "T", "impl"])["us"]
    assert b[16, 65536, "SDPA cuDNN decode"] == pytest.approx(5530, abs=0.5)
    assert b[16, 2048, "NX-AI mLSTM step (Triton)"] == pytest.approx(60.5, abs=0.05)
    step = dec[dec["impl"].str.contains("step")]
    assert step.groupby(["config", "B", "impl"])["us"].nunique().eq(1).all()  # T = "any": one value at every T
    assert sorted(dec["T"].unique()) == [2048, 8192, 16384, 65536]


# ----------------------------------------------------------------------------------- our benchmark results
def _fake_results(path, device="NVIDIA H100 80GB HBM3"):
    rows = [
        dict(section="check", what="ours vs float64 reference", h=1e-7),
        dict(section="train", impl="ours triton (chunk 64)", B=4, H=8, T=8192, K=128, V=128, fwd_graph_ms=0.3,
             fb_graph_ms=1.1),
        dict(section="train", impl="ours triton (chunk 64)", B=4, H=8, T=8192, K=128, V=256, fwd_graph_ms=0.5,
             fb_graph_ms=1.9),
        dict(section="train", impl="SDPA causal cuDNN", B=4, H=8, T=8192, K=128, V=128, fwd_graph_ms=1.0,
             fb_graph_ms=3.8),
        dict(section="train", impl="ours triton (chunk 64)", B=8, H=8, T=16384, K=128, V=128, error="OOM"),
        dict(section="train", skipped="B8 T16384 V256: deadline"),
        dict(section="decode", config="7B-like", impl="ours mLSTM step [triton]", B=16, heads=8, K=256, V=512,
             T="any", graph_us=50.0),
    ]
    path.write_text(json.dumps({"meta": {"device": device, "date_utc": "2026-12-01T00:00:00+00:00",
                                         "commit": "0123456789abcdef"}, "rows": rows}))
    return path


def test_results_loader_without_and_with_a_file(tmp_path):
    assert mk.find_gpu_results(tmp_path) is None
    assert mk.find_gpu_results(tmp_path / "missing") is None
    assert "not run" in mk.gpu_results_note(None)
    f = _fake_results(tmp_path / "mlstm_gpu_2026-12-01_nvidia-h100.json")
    (tmp_path / "other.json").write_text("{}")  # not an mlstm file: ignored
    (tmp_path / "bench_mlstm_cpu.json").write_text('{"rows": []}')  # the CPU benchmark's file: ignored too
    assert mk.find_gpu_results(tmp_path) == f
    res = mk.load_gpu_results(f)
    assert "mlstm_gpu_2026-12-01_nvidia-h100.json" in mk.gpu_results_note(res) and "H100" in mk.gpu_results_note(res)
    train = mk.anchor_training(ours=res["rows"])
    ours = train[train["source"] == "ours"]
    # V = 128 only, errors and skips left out, other implementations of the results file left out
    assert len(ours) == 2 and set(ours["ms"]) == {0.3, 1.1} and set(ours["shape"]) == {"4×8192"}
    dec = mk.anchor_decode(ours=res["rows"])
    mine = dec[dec["source"] == "ours"]
    assert len(mine) == 4 and (mine["us"] == 50.0).all() and mine["config"].str.startswith("7B").all()


def test_results_loader_rejects_a_foreign_json(tmp_path):
    bad = tmp_path / "mlstm_other.json"
    bad.write_text(json.dumps({"rows": []}))
    with pytest.raises(ValueError, match="missing \\['meta'\\]"):
        mk.load_gpu_results(bad)
    bad.write_text(json.dumps([1, 2]))
    with pytest.raises(ValueError, match="not a bench_mlstm_gpu.py results file"):
        mk.load_gpu_results(bad)


# ------------------------------------------------------------------------------------- live kernel checks
def test_relerr_measures_a_known_perturbation():
    import torch

    a = torch.randn(3, 4, dtype=torch.float64)
    assert mk.relerr(a * (1 + 1e-3), a) == pytest.approx(1e-3, rel=1e-9)
    assert mk.relerr(a * float("nan"), a) == float("inf")


def _triton_or_skip():
    try:
        mk.triton_device()
    except RuntimeError as e:
        pytest.skip(str(e))
    pytest.importorskip("triton")


def test_parity_table_every_backend_within_the_float32_tolerance():
    _triton_or_skip()
    tab = mk.parity_table(1, 2, 37, 8, 16, chunk_size=16, seed=3)
    assert len(tab) == 2 * len(mk.BACKEND_LABELS)
    assert tab["h"].max() < mk.TOL["value"]
    assert tab[list(mk.GRADS)].max().max() < mk.TOL["grad"]
    assert tab[list(mk.GRADS)].min().min() > 0  # float32 against float64: never bit-identical


def test_convention_gap_is_large_except_for_dv():
    gap = mk.convention_gap(1, 2, 64, 8, 8, seed=1).set_index("gradient")["rel_diff"]
    assert gap["dv"] < 1e-12
    assert (gap[["dq", "dk", "di", "df"]] > 0.1).all()


def test_prefill_then_steps_equals_one_long_call():
    _triton_or_skip()
    tab = mk.prefill_steps_table(1, 2, 21, 8, 16, 3, chunk_size=16, seed=2,
                                 pairs=(("torch_chunkwise", "torch"), ("triton", "triton")))
    assert tab[["h (prefill)", "h (steps)", "C", "n", "m"]].max().max() < mk.TOL["value"]


def test_triton_device_refuses_an_already_imported_triton(monkeypatch):
    import torch

    if torch.cuda.is_available():
        pytest.skip("with CUDA the interpreter is not needed")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.setitem(sys.modules, "triton", object())
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET"):
        mk.triton_device()


# ------------------------------------------------------------------------------------------------ charts
def test_charts_build_with_log_axes_and_small_data():
    specs = [
        kplots.flops_chart(mk.flops_table([128, 1024, 8192]), crossover=320.0).to_dict(),
        kplots.training_chart(mk.anchor_training()).to_dict(),
        kplots.decode_chart(mk.anchor_decode()).to_dict(),
        kplots.convention_chart(pd.DataFrame({"gradient": list(mk.GRADS), "rel_diff": [0.8, 0.8, 0.0, 0.8, 0.8],
                                              "source": "live"})).to_dict(),
    ]
    text = [json.dumps(s) for s in specs]
    assert all('"type": "log"' in t for t in text[:3])
    for s in specs:
        datasets = s.get("datasets", {})
        assert datasets and all(len(rows) < 3000 for rows in datasets.values())


def test_impl_colours_follow_the_family_colours():
    scale = kplots.impl_color([XL, CUDNN, "ours triton (chunk 64) [this project]"]).to_dict()
    from xlstm_lab.plots.theme import FAMILY_COLORS

    assert scale["range"] == [FAMILY_COLORS["xlstm"], FAMILY_COLORS["llama"], "#222222"]


def test_modules_import_without_torch():
    code = ("import sys, xlstm_lab.plots.kernels, xlstm_lab.chapters.mlstm_kernels; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
