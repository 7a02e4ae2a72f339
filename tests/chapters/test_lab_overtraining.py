"""Over-training lab half: runs mapped to their ratio, slopes recovered, the parallel verdict from intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xlstm_lab.chapters import lab_overtraining as lo


def _runs(family, slope, ratios=(20, 100, 500), sizes=(1e4, 2e4, 4e4), k=20.0, jitter=0.0, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for r in ratios:
        for n in sizes:
            d = r * n * (1 + 1e-4)  # the trainer spends the budget to within a step: D/N is near, not at, r
            c = 6 * n * d
            rows.append({"family": family, "d_model": int(n // 1000), "N_params": n, "D_tokens": d,
                         "C_flops_training": c, "val_loss": k * c ** (-slope) * np.exp(rng.normal(0, jitter))})
    return pd.DataFrame(rows)


def test_slopes_are_recovered_per_ratio():
    runs = pd.concat([_runs("xlstm", 0.09), _runs("llama", 0.10)], ignore_index=True)
    _, table = lo.slopes(runs, [20, 100, 500])
    got = table.set_index(["family", "preset"])["slope"]
    assert got.loc[("xlstm", 100.0)] == pytest.approx(0.09, abs=1e-9)
    assert got.loc[("llama", 500.0)] == pytest.approx(0.10, abs=1e-9)
    assert sorted(set(table["preset"])) == [20.0, 100.0, 500.0]


def test_parallel_verdict_follows_the_intervals():
    runs = pd.concat([_runs("xlstm", 0.09, jitter=1e-3, seed=1), _runs("llama", 0.30, jitter=1e-3, seed=2)],
                     ignore_index=True)
    _, table = lo.slopes(runs, [20, 100, 500])
    par = lo.parallel_table(table)
    assert not par["parallel"].any()  # 0.09 against 0.30 with tiny noise: disjoint intervals at every ratio
    runs = pd.concat([_runs("xlstm", 0.09, jitter=1e-2, seed=3), _runs("llama", 0.0905, jitter=1e-2, seed=4)],
                     ignore_index=True)
    par = lo.parallel_table(lo.slopes(runs, [20, 100, 500])[1])
    assert par["parallel"].all()


def test_default_ratios_are_shipped_but_the_live_one():
    got = lo.gather([10, 20, 50, 100, 200, 500], ["xlstm", "llama"], train=False)
    shipped = got.runs[got.runs["source"] == "shipped"]
    ratio = (shipped["D_tokens"] / shipped["N_params"]).round()
    assert len(shipped) == 30 and ratio.min() >= 19
