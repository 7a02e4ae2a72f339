"""Tests of xlstm_lab.chapters.inference_latency: golden values from the paper's data and stored fits, and
properties of the counts, fits and roofline placement."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xlstm_lab.accounting import count_params, weight_bytes
from xlstm_lab.anchors import HARDWARE, PAPER
from xlstm_lab.chapters import inference_latency as il
from xlstm_lab.fit import latency_model


@pytest.fixture(scope="module")
def timings() -> pd.DataFrame:
    return il.load_timings()


def test_load_timings_covers_both_families_and_every_size(timings):
    assert set(timings["family"]) == {"xlstm", "llama"}
    assert set(timings["size"].astype(str)) == set(il.SIZES)
    # the CSV's valid xLSTM and Llama-2 rows (data card: 780 per family minus the unmeasured ones)
    assert 300 < (timings["family"] == "xlstm").sum() <= 780
    assert np.isfinite(timings[["flops_prefill", "bytes_prefill", "flops_step", "bytes_step"]].to_numpy()).all()


def test_step_time_is_the_time_of_one_batched_step(timings):
    """step_s must equal B / throughput (one decode step of the whole batch), from an independent CSV column."""
    from xlstm_lab.anchors import load_inference

    raw = pd.concat([load_inference(src).assign(family=fam) for src, fam in il.FAMILY_OF.items()])
    raw = raw[raw["throughput_tok_per_s"].notna()].rename(
        columns={"size_tag": "size", "batch_size": "batch", "prefill_len": "prefill"})
    both = timings.assign(size=timings["size"].astype(str)).merge(raw, on=["family", "size", "batch", "prefill"])
    assert len(both) > 600 and (both["batch"] > 1).sum() > 400
    np.testing.assert_allclose(both["step_s"], both["batch"] / both["throughput_tok_per_s"], rtol=1e-8)


@pytest.mark.parametrize("size", ["160m", "1.4b", "7b"])
def test_spot_values_match_the_data_card(timings, size):
    """Printed to 0.1 ms (TTFT) and 0.01 ms (step): tolerances are half a unit of the last printed digit."""
    spots = il.spot_values(timings)
    for fam in ("xlstm", "llama"):
        assert spots.loc[size, ("ttft_ms", fam)] == pytest.approx(
            PAPER[f"inference.measured.ttft_ms.{fam}.{size}.b1.p16384"].value, abs=0.05)
        assert spots.loc[size, ("step_ms", fam)] == pytest.approx(
            PAPER[f"inference.measured.step_ms.{fam}.{size}.b1.p16384"].value, abs=0.005)


def test_step_ratio_matches_the_published_spot_values(timings):
    """28.57/6.21 with each rounded by <= 0.005 ms: the ratio is uncertain by <= 4.6 x (0.005/28.57 + 0.005/6.21)."""
    pub = PAPER["inference.measured.step_ms.llama.7b.b1.p16384"].value / \
        PAPER["inference.measured.step_ms.xlstm.7b.b1.p16384"].value
    assert il.step_ratio(timings, "7b", 16384, 1) == pytest.approx(pub, abs=0.0045)


def test_reproduction_table_reproduces_every_constant_from_the_fit_table(timings):
    """All 15 stored constants within half a unit of their last printed digit from the fit table; from
    inference.csv only the rows whose timings agree (the step constants and the xLSTM prefill constants)."""
    from xlstm_lab.chapters import inference_upstream as iu

    t = iu.reproduction_table({"fit_table": il.load_timings("fit_table"), "inference_csv": timings})
    assert len(t) == 15 and t["reproduced · fit table"].all()
    for key, value, tol in zip(t["key"], t["recipe · fit table"], t["tol"]):
        assert abs(value - PAPER[key].value) <= tol, key  # independent of the table's own flag
    csv_ok = set(t.loc[t["reproduced · inference.csv"], "key"])
    assert csv_ok == {k for k in t["key"] if ".step_model." in k or ".xlstm." in k}
    assert (t["robust · fit table"] > 0).all() and (t["robust · inference.csv"] > 0).all()


@pytest.mark.parametrize("value,digits,want", [(3.93e14, 3, 5e11), (2.001e14, 4, 5e10), (0.232e-3, 3, 5e-7),
                                               (5.64e-3, 3, 5e-6), (-5.9e13, 2, 5e11)])
def test_half_unit_of_the_last_printed_digit(value, digits, want):
    from xlstm_lab.chapters.inference_upstream import half_unit

    assert half_unit(value, digits) == pytest.approx(want, rel=1e-12)


def test_ttft_disagreement_counts_rows_per_model():
    from xlstm_lab.chapters import inference_upstream as iu

    d = iu.ttft_disagreement()
    assert d["differ"].sum() == 142 and (d.loc[d["family"] == "xlstm", "differ"] == 0).all()
    assert d.loc[d["family"] == "llama2", "measured"].sum() == 513
    d7 = iu.ttft_differences("llama2_7b")
    assert len(d7) == 21 and (d7["ttft_ratio"] > 1).all()
    with pytest.raises(ValueError, match="llama2_7b"):
        iu.ttft_differences("llama2_13b")


def test_load_timings_of_the_fit_table_differs_only_in_llama_ttft(timings):
    fit = il.load_timings("fit_table")
    keys = ["family", "size", "batch", "prefill"]
    both = timings.merge(fit, on=keys, suffixes=("_csv", "_fit"))
    assert len(both) == len(timings) == len(fit)
    np.testing.assert_allclose(both["step_s_csv"], both["step_s_fit"], rtol=1e-8)
    np.testing.assert_array_equal(both["flops_prefill_csv"], both["flops_prefill_fit"])
    differ = ~np.isclose(both["ttft_s_csv"], both["ttft_s_fit"], rtol=1e-8)
    assert differ.sum() == 142 and set(both.loc[differ, "family"]) == {"llama"}
    with pytest.raises(ValueError, match="fit_table"):
        il.load_timings("inference.pkl")


def test_ridge_sentence_follows_the_numbers():
    """The sentence is built from the points: 'far' only at >= 10x the ridge, counts when a phase straddles it."""
    import pandas as pd

    pts = pd.DataFrame({"phase": ["prefill", "prefill", "decode"], "intensity": [420.0, 5000.0, 2.0],
                        "label": ["A", "B", "C"]})
    text = il.ridge_sentence(pts, 295.0)
    assert text.startswith("Every prefill sits right of the ridge, the nearest (A) at 1.4 times it")
    assert "every decode step sits far left" in text and "(C) at 0.0068 times" in text
    pts.loc[0, "intensity"] = 100.0
    assert il.ridge_sentence(pts, 295.0).startswith("1 of 2 prefills sit right of the ridge")
    real = il.ridge_sentence(il.roofline_points(device="h100-sxm"), HARDWARE["h100-sxm"].critical_intensity)
    assert "far right" not in real  # T=512 prefills lie at 1.4-1.6 x the ridge


def test_decode_step_flops_properties():
    """xLSTM: independent of the context (fixed state). Llama: exactly linear in the context (attention over
    the cache), and both linear in the batch. At short context one token costs about 2 N FLOPs (a multiply-add
    per weight; norms, gates and the embedding lookup make up the rest): within 5 %."""
    x, ll = il.inference_config("xlstm", "7b"), il.inference_config("llama", "7b")
    assert il.decode_step_flops(x, 0) == pytest.approx(il.decode_step_flops(x, 16384), rel=1e-12)
    f = [il.decode_step_flops(ll, t) for t in (1000, 2000, 3000)]
    assert f[2] - f[1] == pytest.approx(f[1] - f[0], rel=1e-9) and f[1] > f[0]
    assert il.decode_step_flops(ll, 1000, 8) == pytest.approx(8 * f[0], rel=1e-12)
    for cfg in (x, ll):
        assert il.decode_step_flops(cfg, 1) == pytest.approx(2 * count_params(cfg), rel=0.05)


def test_prefill_bytes_is_a_lower_bound_with_the_weights_at_its_base():
    cfg = il.inference_config("llama", "1.4b")
    assert il.prefill_bytes(cfg, 0) == weight_bytes(cfg)
    assert il.prefill_bytes(cfg, 4096) > il.prefill_bytes(cfg, 1024) > weight_bytes(cfg)


def test_fit_runtime_recovers_known_constants_from_synthetic_rows(timings):
    """Timings generated by the runtime model from the real counts: the fit must return its constants."""
    rows = il.select(timings, "ttft", family="xlstm").copy()
    rows["ttft_s"] = latency_model({"alpha": 3e14, "eps": 2e-3}, form="compute", flops=rows["flops_prefill"].to_numpy())
    fit = il.fit_runtime(rows, "ttft")
    assert fit.alpha_eff == pytest.approx(3e14, rel=1e-6) and fit.eps == pytest.approx(2e-3, rel=1e-6)
    assert fit.frac_peak_flops == pytest.approx(3e14 / HARDWARE["h100-sxm"].peak_flops, rel=1e-6)
    steps = il.select(timings, "step", family="llama").copy()
    truth = {"beta": 1.5e12, "eps": 3e-3, "eps_b": 1e-4}
    steps["step_s"] = latency_model(truth, form="memory", bytes=steps["bytes_step_physical"].to_numpy(),
                                    batch=steps["batch"].to_numpy(dtype=float))
    fit = il.fit_runtime(steps, "step", step_bytes="physical")
    for name, value in truth.items():
        assert fit.params[name] == pytest.approx(value, rel=1e-6)


def test_single_xlstm_model_cannot_identify_the_step_model(timings):
    """One xLSTM model's step bytes are a + b B: collinear with eps + B eps_b, so every per-model fit is refused;
    the Transformer's bytes grow with the cache and are identifiable."""
    pm = il.per_model_fits(timings, "step")
    assert (pm.loc[pm["family"] == "xlstm", "status"] == "unidentifiable").all()
    assert (pm.loc[pm["family"] == "llama", "beta_eff"] > 0).all()


def test_family_step_fit_is_well_posed_and_positive(timings):
    fit = il.fit_runtime(il.select(timings, "step", family="xlstm"), "step")
    assert fit.beta_eff > 0 and fit.eps > 0
    fit, scope = il.model_or_family_fit(timings, "xlstm", "step", "7b")
    assert scope == "family"


def test_term_curves_add_up_to_the_model(timings):
    rows = il.select(timings, "step", family="llama")
    fit = il.fit_runtime(rows, "step", "sum")
    c = il.term_curves(fit, rows, "step").pivot_table(index=["size", "batch", "prefill"], columns="series",
                                                      values="time_ms", observed=True)
    np.testing.assert_allclose(c["compute term"] + c["memory term"] + c["overhead"], c["model"], rtol=1e-9)
    ttft = il.term_curves(il.fit_runtime(il.select(timings, "ttft", family="xlstm"), "ttft"),
                          il.select(timings, "ttft", family="xlstm"), "ttft", device="h100-sxm")
    assert {"memory at peak", "compute term"} <= set(ttft["series"]) and "memory term" not in set(ttft["series"])


def test_roofline_places_prefill_right_and_decode_left_of_the_ridge():
    hw = HARDWARE["h100-sxm"]
    pts = il.roofline_points(device="h100-sxm")
    assert (pts.loc[pts["phase"] == "prefill", "intensity"] > hw.critical_intensity).all()
    assert (pts.loc[pts["phase"] == "decode", "intensity"] < hw.critical_intensity).all()
    expected = np.minimum(hw.peak_flops, hw.bandwidth * pts["intensity"]) / 1e12
    np.testing.assert_allclose(pts["attainable_tflops"], expected, rtol=1e-12)
    curve = il.roofline_curve("h100-sxm")
    assert curve["attainable_tflops"].max() == pytest.approx(hw.peak_flops / 1e12)


def test_hardware_table_critical_intensity_of_the_h100_datasheet():
    """989 TFLOP/s / 3.35 TB/s = 295.2 FLOP/byte (datasheet figures)."""
    t = il.hardware_table(["h100-sxm"]).iloc[0]
    assert t["critical FLOP/byte"] == pytest.approx(989 / 3.35, rel=1e-12)


def test_bad_input_raises_clear_errors(timings):
    with pytest.raises(ValueError, match="kind"):
        il.select(timings, "decode")
    with pytest.raises(ValueError, match="no ttft timings"):
        il.select(timings, "ttft", family="xlstm", batches=[3])
    with pytest.raises(ValueError, match="step_bytes"):
        il.fit_runtime(il.select(timings, "step", family="llama"), "step", step_bytes="logical")
    with pytest.raises(ValueError, match="size"):
        il.inference_config("xlstm", "13b")


def test_per_model_fits_keep_their_columns_when_no_model_is_identifiable(timings):
    """With the two-term "max" form, one model's step FLOPs and bytes are both affine in (1, B, B T): nothing
    separates the terms, every row is refused, and the table still has its columns."""
    pm = il.per_model_fits(timings, "step", form="max")
    assert (pm["status"] == "unidentifiable").all()
    assert {"beta_eff", "eps_ms", "alpha/peak"} <= set(pm.columns)


def test_unknown_device_names_the_known_ones():
    with pytest.raises(ValueError, match="h100-sxm"):
        il.roofline_curve("h100")
