"""Methods chapter "Training at lab scale": compressor rates match the command-line tools, the rule check is exact."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from xlstm_lab.chapters import lab_training as lt

TEXT = (b"In the beginning God created the heaven and the earth. " * 40
        + b"To be, or not to be, that is the question. " * 30)


def _cli_size(cmd: list[str], data: bytes) -> int:
    return len(subprocess.run(cmd, input=data, capture_output=True, check=True).stdout)


@pytest.mark.skipif(shutil.which("xz") is None, reason="xz command not installed")
def test_xz_rate_is_the_command_line_tool_s():
    rng = np.random.default_rng(0)
    data = bytes(rng.choice(np.frombuffer(TEXT, np.uint8), 5000))
    assert lt._xz(data) == _cli_size(["xz", "-9", "-c"], data)


@pytest.mark.skipif(shutil.which("zstd") is None, reason="zstd command not installed")
def test_zstd_rate_matches_the_command_line_tool_but_its_checksum():
    data = TEXT * 3
    # Same compressed blocks; the frames differ in the CLI's 4-byte checksum and the library's content-size field.
    assert abs(_cli_size(["zstd", "-19", "-c", "-q"], data) - lt._zstd(data, 19)) <= 4
    assert lt._zstd(data, 19) < lt._zstd(data, 1)  # the level is passed through


def test_rates_bound_random_and_repeated_text():
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 256, 20_000, dtype=np.uint8)
    rates = lt.compressor_rates(noise[:10_000], noise[10_000:]).set_index("compressor")
    assert (rates["alone_bpb"] > 7.9).all()  # random bytes do not compress
    text = np.frombuffer(TEXT, np.uint8)
    rates = lt.compressor_rates(text, text[:500]).set_index("compressor")
    # Validation text seen in the training split costs almost nothing after it, much less than alone.
    assert (rates["after_train_bpb"] < 0.5).all() and (rates["alone_bpb"] > rates["after_train_bpb"]).all()


def _cal(rows):
    return pd.DataFrame(rows, columns=["family", "budget_flops", "lr", "batch_size", "context_length", "val_loss"])


def test_rule_check_finds_the_best_cell_and_the_rule_gap():
    cal = _cal([
        ("xlstm", 1e12, 0.01, 4, 256, 1.60), ("xlstm", 1e12, 0.01, 4, 256, 1.62),  # two seeds: mean 1.61
        ("xlstm", 1e12, 0.006, 2, 256, 1.55), ("xlstm", 1e12, 0.02, 8, 256, 1.70),
        ("llama", 1e12, 0.006, 2, 256, 1.80),
    ])
    got = lt.rule_check(cal, lr=0.01, tokens_per_step=1024).set_index("family")
    assert got.loc["xlstm", "best_lr"] == 0.006 and got.loc["xlstm", "best_batch"] == 2
    assert got.loc["xlstm", "gap"] == pytest.approx(1.61 - 1.55)
    assert got.loc["xlstm", "cells"] == 3
    assert np.isnan(got.loc["llama", "gap"])  # the rule's cell was not measured there: said, not invented


def test_recipe_table_reads_the_trainer():
    from xlstm_lab.train import rules, spec

    table = lt.recipe_table().set_index("setting")["value"]
    wd = {f.name: f.default for f in dataclasses.fields(spec.RunSpec)}["weight_decay"]
    assert table["weight decay"].startswith(f"{wd:g} ")
    assert table["peak learning rate"].startswith(f"{rules.LAB_LR:g} ")
    assert f"{rules.LAB_TOKENS_PER_STEP:,}" in table["tokens per step"]


def test_shipped_calibration_runs_load():
    cal = lt.calibration_runs()
    assert set(cal["family"]) == {"xlstm", "llama"} and cal["key"].is_unique
    with pytest.raises(FileNotFoundError, match="calibrate_lr"):
        lt.calibration_runs("/nonexistent")


def test_speed_and_epoch_tables():
    runs = pd.DataFrame({"family": ["xlstm", "xlstm", "llama"], "d_model": [8, 8, 8], "n_layers": [1, 1, 1],
                         "N_params": [5000, 5000, 4900], "key": ["a", "b", "c"],
                         "tokens_per_s": [100.0, 300.0, 50.0], "model_flops_per_s": [1.0, 3.0, 2.0],
                         "device": ["cpu (x, 2 threads)", "cpu (x, 1 thread)", "cpu (x, 2 threads)"],
                         "context_length": [256, 256, 256], "budget_flops": [1e11, 1e11, 3e11],
                         "epochs": [0.5, 0.25, 1.0]})
    speed = lt.throughput_table(runs).set_index("family")
    assert speed.loc["xlstm", "tokens_per_s"] == 200.0 and speed.loc["xlstm", "threads"] == "1,2"
    ep = lt.epochs_table(runs).set_index("budget_flops")
    assert ep.loc[1e11, "min_epochs"] == 0.25 and ep.loc[1e11, "max_epochs"] == 0.5 and ep.loc[1e11, "runs"] == 2


def test_sweep_cost_sums_the_seed0_isoflop_runs_per_family_and_budget():
    rows = []
    for fam, per_run in (("xlstm", 60.0), ("llama", 30.0)):
        for i in range(5):
            rows.append({"family": fam, "budget_flops": 1e11, "sweep": "isoflop", "seed": 0, "context_length": 256,
                         "wall_s": per_run * (i + 1), "key": f"{fam}{i}", "device": "cpu (1 thread)"})
    # left out: a second seed, another context, a token/param run
    extra = dict(rows[0], seed=1, key="s1"), dict(rows[0], context_length=64, key="c64"), dict(rows[0], sweep="tokenparam",
                                                                                               key="tp")
    cost = lt.sweep_cost_table(pd.DataFrame(rows + list(extra))).set_index("family")
    assert cost.loc["xlstm", "runs"] == 5 and cost.loc["xlstm", "minutes"] == pytest.approx(60 * 15 / 60)
    assert cost.loc["llama", "minutes"] == pytest.approx(30 * 15 / 60) and cost.loc["llama", "threads"] == "1"
    with pytest.raises(ValueError, match="no seed-0 IsoFLOP runs at ctx 512"):
        lt.sweep_cost_table(pd.DataFrame(rows), ctx=512)
