"""The crossover context and the GPU-results loader of the chapter's lab half, on data with a known answer."""

import numpy as np
import pandas as pd

from xlstm_lab.chapters.inference_measured import crossover, gpu_sentence, load_gpu_results, measured_crossover


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
