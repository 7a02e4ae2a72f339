"""The harness's arithmetic with a fake clock: medians, spreads, FLOP/s and bandwidth conventions; grid validation."""

import itertools

import pytest
import torch

from xlstm_lab.inference import BenchGrid, InferenceInputError, TimingSettings, measure_point, model_config
from xlstm_lab.inference import load_model, roofline, timing


class FakeClock:
    """perf_counter that advances by a scripted amount on each call."""

    def __init__(self, increments):
        self.now, self.inc = 0.0, itertools.cycle(increments)

    def __call__(self):
        self.now += next(self.inc)
        return self.now


def test_matmul_and_copy_rates_use_2n3_flops_and_read_plus_write(monkeypatch):
    # every timer reading advances 0.5 s: each repeat of `inner` calls lasts 0.5 s
    monkeypatch.setattr(roofline.time, "perf_counter", FakeClock([0.5]))
    n, inner = 64, 4
    assert roofline.matmul_flops_per_s("cpu", "float32", n=n, repeats=3, inner=inner) == pytest.approx(
        2 * n**3 * inner / 0.5, rel=1e-12)
    nbytes = 4096
    assert roofline.copy_bytes_per_s("cpu", nbytes=nbytes, repeats=3, inner=inner) == pytest.approx(
        2 * nbytes * inner / 0.5, rel=1e-12)


def test_measure_point_reports_median_min_max(monkeypatch):
    # each trial reads the clock 3 times: t0, after the prefill (+ttft), after the steps (+steps x step time);
    # the settling step between the prefill and t1 reads no clock
    ttfts, step_totals = [0.9, 0.1, 0.3, 0.2], [8.0, 1.6, 0.8, 2.4]  # the first trial is the warm-up
    increments = [x for a, b in zip(ttfts, step_totals) for x in (1.0, a, b)]
    monkeypatch.setattr(timing.time, "perf_counter", FakeClock(increments))
    cfg = model_config("xlstm", "tiny", context_length=64)
    row = measure_point(load_model(cfg), cfg, "tiny", 8, 1, TimingSettings(warmup=1, repeats=3, steps=8))
    assert row["ttft_s"] == pytest.approx(0.2) and row["ttft_min_s"] == pytest.approx(0.1)
    assert row["ttft_max_s"] == pytest.approx(0.3)
    assert row["step_s"] == pytest.approx(0.2) and row["step_min_s"] == pytest.approx(0.1)
    assert row["step_max_s"] == pytest.approx(0.3)


def test_grid_validation():
    with pytest.raises(InferenceInputError, match="no families"):
        BenchGrid((), ("tiny",), (8,), (1,))
    with pytest.raises(InferenceInputError, match="no prompts"):
        BenchGrid(("llama",), ("tiny",), (), (1,))
    with pytest.raises(InferenceInputError, match="unknown family 'rwkv'"):
        BenchGrid(("rwkv",), ("tiny",), (8,), (1,))
    with pytest.raises(InferenceInputError, match="unknown size"):
        BenchGrid(("llama",), ("xl",), (8,), (1,))
    with pytest.raises(InferenceInputError, match="batch must be whole numbers >= 1"):
        BenchGrid(("llama",), ("tiny",), (8,), (0,))
    assert BenchGrid(("llama", "xlstm"), ("tiny", "mini"), (8, 16, 32), (1, 2)).n_points == 24
    with pytest.raises(InferenceInputError, match="longer than the context of 16"):
        timing.run_grid(BenchGrid(("llama",), ("tiny",), (16,), (1,)), TimingSettings(context=16))
    with pytest.raises(InferenceInputError, match="repeats must be >= 1"):
        TimingSettings(repeats=0)


def test_rows_carry_provenance():
    rows = timing.run_grid(BenchGrid(("llama",), ("tiny",), (4,), (1,)), TimingSettings(repeats=1, steps=1,
                                                                                        warmup=0))
    assert len(rows) == 1 and tuple(rows[0]) == timing.CSV_COLUMNS
    r = rows[0]
    assert r["threads"] == torch.get_num_threads() and r["torch"] == torch.__version__
    assert r["device"] == "cpu" and r["dtype"] == "float32" and r["measured_at"]
