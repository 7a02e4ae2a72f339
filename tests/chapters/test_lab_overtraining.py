"""Over-training lab half: runs mapped to their ratio, slopes recovered, the parallel verdict from intervals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from xlstm_lab.anchors import load_lab_runs
from xlstm_lab.chapters import lab
from xlstm_lab.chapters import lab_overtraining as lo
from xlstm_lab.cli.chapter import read_parameters

ROOT = Path(__file__).resolve().parents[2]


def _runs(family, slope, ratios=(20, 100, 500), sizes=(1e4, 2e4, 4e4), k=20.0, jitter=0.0, seed=0):
    """Runs whose loss is k C^-slope exactly (times log-normal jitter), D = ratio x N."""
    rng = np.random.default_rng(seed)
    rows = []
    for r in ratios:
        for n in sizes:
            d = r * n * (1 + 1e-4)  # the trainer spends the budget to within a step: D/N is near, not at, r
            c = 6 * n * d
            rows.append({"family": family, "d_model": int(n // 1000), "N_params": n, "D_tokens": d,
                         "C_flops_training": c, "val_loss": k * c ** (-slope) * np.exp(rng.normal(0, jitter))})
    return pd.DataFrame(rows)


def _points(x_slope, l_slope, jitter, seed, ratios=(20, 100, 500)):
    runs = pd.concat([_runs("xlstm", x_slope, ratios, jitter=jitter, seed=seed),
                      _runs("llama", l_slope, ratios, sizes=(1e4, 3e4, 9e4), jitter=jitter, seed=seed + 1)],
                     ignore_index=True)
    return lo.slopes(runs, ratios)[0]


def test_slopes_are_recovered_per_ratio():
    runs = pd.concat([_runs("xlstm", 0.09), _runs("llama", 0.10)], ignore_index=True)
    _, table = lo.slopes(runs, [20, 100, 500])
    got = table.set_index(["family", "preset"])["slope"]
    assert got.loc[("xlstm", 100.0)] == pytest.approx(0.09, abs=1e-9)
    assert got.loc[("llama", 500.0)] == pytest.approx(0.10, abs=1e-9)
    assert sorted(set(table["preset"])) == [20.0, 100.0, 500.0]


def test_parallel_table_matches_the_joint_least_squares_model():
    """Independent reference: one design matrix with an intercept and a slope per (family, ratio), its residual
    variance and covariance sigma^2 (X'X)^-1; contrasts for each ratio's difference and for the average."""
    pts = _points(0.09, 0.10, jitter=5e-3, seed=7)
    groups = sorted(set(zip(pts["family"], pts["preset"])))
    x = np.zeros((len(pts), 2 * len(groups)))
    for row, (f, p, c) in enumerate(zip(pts["family"], pts["preset"], pts["C"])):
        g = groups.index((f, p))
        x[row, 2 * g], x[row, 2 * g + 1] = 1.0, np.log(c)
    y = np.log(pts["loss"].to_numpy())
    beta, rss, *_ = np.linalg.lstsq(x, y, rcond=None)
    dof = len(y) - x.shape[1]
    cov = rss[0] / dof * np.linalg.inv(x.T @ x)
    t = stats.t.ppf(0.975, dof)
    got = lo.parallel_table(pts).set_index("ratio")
    ratios = [20.0, 100.0, 500.0]
    contrasts = {}
    for r in ratios:  # slope = -beta: diff = -(b_xlstm - b_llama)
        v = np.zeros(x.shape[1])
        v[2 * groups.index(("xlstm", r)) + 1], v[2 * groups.index(("llama", r)) + 1] = -1.0, 1.0
        contrasts[r] = v
    contrasts[lo.AVERAGE] = sum(contrasts.values()) / len(ratios)
    for r, v in contrasts.items():
        d, half = v @ beta, t * np.sqrt(v @ cov @ v)
        assert got.loc[r, "diff"] == pytest.approx(d, abs=1e-12)
        assert got.loc[r, "diff_lo"] == pytest.approx(d - half, rel=1e-9)
        assert got.loc[r, "diff_hi"] == pytest.approx(d + half, rel=1e-9)
        assert got.loc[r, "dof"] == dof == 6


def test_parallel_verdict_follows_the_intervals():
    apart = lo.parallel_table(_points(0.09, 0.12, jitter=1e-3, seed=1))
    assert not apart["parallel"].any()  # 0.03 apart with 0.1% noise: every interval excludes 0
    text = lo.parallel_verdict(apart)
    assert text.startswith("the curves are not parallel") and "xLSTM's slope is shallower" in text
    same = lo.parallel_table(_points(0.09, 0.09, jitter=1e-2, seed=3))
    assert same["parallel"].all()
    text = lo.parallel_verdict(same)
    assert text.startswith("the curves are parallel within the uncertainty at every ratio: averaged over the ratios")
    bound = max(abs(same["diff_lo"].iloc[-1]), abs(same["diff_hi"].iloc[-1]))
    assert f"larger than {bound:.4f} is ruled out" in text


def test_the_average_interval_covers_zero_at_its_level():
    """Simulation with known truth (equal slopes): the 95% interval of the averaged difference holds 0 about 95% of
    the time; the per-fit intervals on 1 degree of freedom would say nothing at this noise."""
    hits = sum(bool(lo.parallel_table(_points(0.09, 0.09, jitter=1e-2, seed=10 * i)).iloc[-1]["parallel"])
               for i in range(150))
    assert 0.88 <= hits / 150 <= 0.995


def _par(rows):
    return pd.DataFrame(rows, columns=["ratio", "slope_xlstm", "slope_llama", "diff", "diff_lo", "diff_hi", "dof",
                                       "parallel"])


def test_parallel_verdict_names_the_ratios_that_differ():
    par = _par([(20.0, .1, .1, .0, -.01, .01, 4, True), (100.0, .1, .12, -.02, -.03, -.01, 4, False),
                (lo.AVERAGE, .1, .11, -.007, -.015, .001, 4, True)])
    assert lo.parallel_verdict(par).startswith("the slopes differ beyond the uncertainty at ratio 100 but not at the "
                                               "other ratios, nor on average")
    assert "cannot say" in lo.parallel_verdict(_par([(20.0, .1, .1, .0, np.nan, np.nan, 0, np.nan)]))
    one = lo.parallel_verdict(_par([(20.0, .1, .1, .001, -.01, .012, 2, True)]))
    assert one == ("the curves are parallel within the uncertainty at ratio 20: the slopes differ by +0.0010 (interval "
                   "-0.0100 to +0.0120), so a difference larger than 0.0120 is ruled out")


def test_parallel_table_without_both_families_is_empty():
    pts = lo.slopes(_runs("xlstm", 0.09, jitter=1e-3), [20, 100, 500])[0]
    assert lo.parallel_table(pts).empty


def test_versus_paper_both_ways():
    paper = pd.DataFrame({"slope_min": [0.046, 0.047], "slope_max": [0.048, 0.053]}, index=["xlstm", "llama"])
    steeper = pd.DataFrame({"slope_min": [0.076, 0.077], "slope_max": [0.093, 0.103]}, index=["xlstm", "llama"])
    text = lo.versus_paper(steeper, paper)
    assert text.count("steeper than every one of the paper's") == 2
    mixed = pd.DataFrame({"slope_min": [0.030, 0.050], "slope_max": [0.040, 0.060]}, index=["xlstm", "llama"])
    text = lo.versus_paper(mixed, paper)
    assert "xLSTM's lab slopes (0.030–0.040) are shallower" in text
    assert "Transformer's lab slopes (0.050–0.060) are overlapping the paper's range" in text


def test_default_ratios_are_shipped_but_the_live_one(tmp_path, monkeypatch):
    """The chapter's defaults (its parameters cell, and the YAML preset beside it) ask for the shipped sweep plus
    ratio 10 only: 3 sizes x 2 families trained live."""
    nb = read_parameters(ROOT / "notebooks/overtraining.md")["lab_ratios"]
    assert yaml.safe_load((ROOT / "notebooks/params/overtraining.default.yaml").read_text())["lab_ratios"] == nb
    plan = lab.plan("tokenparam", families=["xlstm", "llama"], param="lab_ratios", ratios=nb, n_sizes=3, around=3e11)
    missing = [r for r in plan.runs if r.key not in set(load_lab_runs()["key"])]
    assert len(missing) == 6 and {round(r.plan.tokens / r.plan.n_params) for r in missing} == {10}
    monkeypatch.setenv(lab.STORE_ENV, str(tmp_path / "empty.sqlite"))  # no ratio-10 runs from an earlier build
    got = lo.gather(sorted(nb), ["xlstm", "llama"], train=False)
    shipped = got.runs[got.runs["source"] == "shipped"]
    assert len(shipped) == 30 and (shipped["D_tokens"] / shipped["N_params"]).round().min() >= 19
