"""The crossover context and the GPU-results loader of the chapter's lab half, on data with a known answer."""

import numpy as np
import pandas as pd
import pytest

from xlstm_lab.chapters.inference_latency import load_timings
from xlstm_lab.chapters.inference_measured import (
    crossover, gpu_sentence, load_gpu_results, measured_crossover, released_crossover,
)


def test_crossover_is_exact_for_a_power_law_difference():
    # t_llama / t_xlstm = T / 1000: the log-time difference is linear in log T, so interpolation is exact
    ctx = np.array([32, 256, 1024, 4096], float)
    assert abs(crossover(ctx, np.ones(4), ctx / 1000.0) - 1000.0) < 1e-9
    assert crossover(ctx, np.ones(4), np.full(4, 2.0)) == 32.0  # xLSTM faster throughout
    assert crossover(ctx, np.ones(4), np.full(4, 0.5)) is None  # never faster
    # faster at first, then slower, then faster again: the crossing that counts is the last one
    assert 1024 < crossover(ctx, np.ones(4), np.array([2.0, 0.5, 0.9, 3.0])) < 4096


def test_measured_crossover_reads_the_grid():
    rows = pd.DataFrame([{"family": f, "size": "s", "batch": 1, "prompt_tokens": t,
                          "step_s": 1.0 if f == "xlstm" else t / 100.0} for f in ("xlstm", "llama")
                         for t in (10, 100, 1000)])
    assert abs(measured_crossover(rows, "step", "s", 1) - 100.0) < 1e-9


def test_gpu_results_skip_smoke_runs_and_failed_points(tmp_path):
    assert load_gpu_results(tmp_path) is None
    assert "No GPU measurements" in gpu_sentence(None, tmp_path)
    row = {"family": "llama", "size": "160m", "prompt_tokens": 512, "batch": 1, "ttft_s": 0.01, "step_s": 0.001,
           "device_name": "NVIDIA H100", "error": ""}
    pd.DataFrame([row, {**row, "batch": 64, "error": "out of memory"}]).to_csv(
        tmp_path / "inference_gpu_20270101_NVIDIA_H100.csv", index=False)
    pd.DataFrame([row]).to_csv(tmp_path / "inference_gpu_20270101_smoke.csv", index=False)
    gpu = load_gpu_results(tmp_path)
    assert len(gpu) == 1 and gpu["batch"].tolist() == [1]
    assert gpu_sentence(gpu, tmp_path).startswith("1 GPU measurements (NVIDIA H100")


def test_released_crossover_reads_the_timed_prompts_only():
    rows = pd.DataFrame([{"family": f, "size": "7b", "batch": b, "prefill": t, "ttft_s": np.nan,
                          "step_s": 1.0 if f == "xlstm" else (t + 1) / 1000.0}
                         for f in ("xlstm", "llama") for b in (1, 4) for t in (0, 100, 999, 9999)])
    value, lo, hi = released_crossover(rows, "step", "7b", 1)
    assert (lo, hi) == (100, 9999) and abs(value - 999.0) < 1e-9  # prefill 0 is not on the log grid
    with pytest.raises(ValueError, match="no prompt timed"):
        released_crossover(rows, "ttft", "7b", 1)


def test_released_h100_steps_have_xlstm_faster_at_every_timed_prompt():
    """The paper's released timings (7B, batch 1): xLSTM's decode step is below Llama-2's at every prompt timed,
    read straight off the CSV, so the crossover is the smallest prompt."""
    t = load_timings()
    sel = t[(t["size"] == "7b") & (t["batch"] == 1) & (t["prefill"] > 0)].pivot_table(
        index="prefill", columns="family", values="step_s")
    assert len(sel) >= 8 and (sel["xlstm"] < sel["llama"]).all()
    assert released_crossover(t, "step", "7b", 1) == (float(sel.index[0]), int(sel.index[0]), int(sel.index[-1]))
