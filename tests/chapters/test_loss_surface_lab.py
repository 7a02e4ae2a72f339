"""The loss-surface chapter's lab half on synthetic runs drawn from a known surface, and its default plan."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from xlstm_lab.anchors import load_lab_runs
from xlstm_lab.chapters import lab
from xlstm_lab.chapters import loss_surface_lab as lsl
from xlstm_lab.params import ParameterError

ROOT = Path(__file__).resolve().parents[2]
# Known surfaces (gamma = 1), one per family: the truth the fits must recover.
TRUTH = {"xlstm": dict(E=1.2, A=40.0, B=500.0, alpha=0.45, beta=0.55),
         "llama": dict(E=1.25, A=60.0, B=250.0, alpha=0.5, beta=0.45)}
BUDGETS = (1e11, 3e11, 1e12, 3e12)


def true_loss(fam: str, n, d) -> np.ndarray:
    """Closed form E + A/N^alpha + B/D^beta in float64 (independent of the fitters)."""
    t = TRUTH[fam]
    n, d = np.asarray(n, np.float64), np.asarray(d, np.float64)
    return t["E"] + t["A"] / n ** t["alpha"] + t["B"] / d ** t["beta"]


def synthetic_runs(shift_largest: float = 0.0, second_seed: float | None = None, extra_tokenparam: bool = False):
    """Export-column runs: 5 sizes per budget and family, D = C / (6N), loss from TRUTH.

    shift_largest adds a constant to the largest budget's losses; second_seed adds a seed-1 repeat of the two
    middle sizes of every budget with that loss offset.
    """
    rows = []
    for fam in TRUTH:
        for b in BUDGETS:
            n_opt = 0.1 * b ** 0.5
            for k, n in enumerate(n_opt * np.geomspace(0.25, 4.0, 5)):
                d = b / (6 * n)
                loss = float(true_loss(fam, n, d)) + (shift_largest if b == max(BUDGETS) else 0.0)
                seeds = [(0, 0.0)] + ([(1, second_seed)] if second_seed is not None and k in (1, 2) else [])
                for seed, off in seeds:
                    rows.append(dict(family=fam, context_length=256, budget_flops=b, d_model=32 * (k + 1),
                                     n_layers=2, seed=seed, N_params=int(round(n)), D_tokens=float(d),
                                     C_flops_training=float(b), val_loss=loss + off, sweep="isoflop",
                                     source="shipped", key=f"{fam}-{b}-{k}-{seed}"))
        if extra_tokenparam:  # a run with more compute than the held-out budget: must stay out of the fit set
            n, d = 2e5, 1e8
            rows.append(dict(family=fam, context_length=256, budget_flops=6 * n * d, d_model=64, n_layers=2, seed=0,
                             N_params=int(n), D_tokens=d, C_flops_training=6 * n * d,
                             val_loss=float(true_loss(fam, n, d)), sweep="tokenparam", source="shipped",
                             key=f"{fam}-tp"))
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def clean():
    runs = synthetic_runs(second_seed=0.01)
    data = lsl.surface_runs(runs)
    return runs, data, lsl.holdout_test(data)


def test_holdout_of_noise_free_truth_predicts_the_largest_budget(clean):
    runs, data, (fits, fit_set, held, held_budget) = clean
    assert held_budget == max(BUDGETS)
    assert set(fit_set["budget"]) == set(BUDGETS[:-1]) and set(held["budget"]) == {max(BUDGETS)}
    for fam in TRUTH:
        h = held[held["family"] == fam]
        # Observed = closed form; the refit without this budget must reproduce it (gamma = 1 form exactly).
        np.testing.assert_allclose(h["predicted_nogamma"], true_loss(fam, h["N"], h["D"]), atol=2e-3)
        np.testing.assert_allclose(h["predicted_gamma"], true_loss(fam, h["N"], h["D"]), atol=5e-3)


def test_parameter_table_recovers_the_implied_exponent(clean):
    runs, data, _ = clean
    fits = lsl.fit_lab_surfaces(data)
    tab = lsl.parameter_table(fits, data).set_index(["family", "gamma_free"])
    for fam, t in TRUTH.items():
        assert tab.loc[(fam, False), "a_N"] == pytest.approx(t["beta"] / (t["alpha"] + t["beta"]), abs=0.02)
        assert tab.loc[(fam, False), "runs"] == (data["family"] == fam).sum()
    # The paper's implied exponents come from its stored surfaces, not ours: 0.45-0.6 for both families.
    assert tab["a_N_paper"].between(0.4, 0.65).all()


def test_parameter_table_intervals_are_the_bootstrap_percentiles(clean):
    runs, data, _ = clean
    noisy = data.assign(loss=data["loss"] * np.exp(np.random.default_rng(1).normal(0, 0.01, len(data))))
    fits = lsl.fit_lab_surfaces(noisy, n_bootstrap=20, seed=0)
    tab = lsl.parameter_table(fits, noisy).set_index(["family", "gamma_free"])
    for (fam, g), fit in fits.items():
        s = fit.samples[np.isfinite(fit.samples["objective"])]
        a = s["beta"].to_numpy() / (s["alpha"].to_numpy() + s["beta"].to_numpy())
        row = tab.loc[(fam, g)]
        assert (row["a_N_lo"], row["a_N_hi"]) == pytest.approx(tuple(np.percentile(a, [2.5, 97.5])))
        assert row["a_N_lo"] < row["a_N_hi"]
        assert row["paper_inside"] == (row["a_N_lo"] <= row["a_N_paper"] <= row["a_N_hi"])
    # without resamples there is no interval and no verdict
    plain = lsl.parameter_table(lsl.fit_lab_surfaces(data), data)
    assert plain["a_N_lo"].isna().all() and plain["paper_inside"].isna().all()


def test_shifted_largest_budget_gives_that_error_and_sign():
    data = lsl.surface_runs(synthetic_runs(shift_largest=0.05, second_seed=0.01))
    _, _, held, _ = lsl.holdout_test(data)
    noise = lsl.noise_by_family(synthetic_runs(shift_largest=0.05, second_seed=0.01))
    err = lsl.holdout_errors(held, noise, gamma=False).set_index("family")
    for fam in TRUTH:
        # Observed 0.05 above the truth, predicted at the truth: predicted - observed = -0.05 on every run.
        assert err.loc[fam, "bias"] == pytest.approx(-0.05, abs=3e-3)
        assert err.loc[fam, "mean_abs"] == pytest.approx(0.05, abs=3e-3)
        assert err.loc[fam, "mean_spread"] == pytest.approx(0.01, abs=1e-12)
        assert err.loc[fam, "mean_verdict"] == "beyond" and err.loc[fam, "max_verdict"] == "beyond"


def test_clean_holdout_is_within_the_seed_noise(clean):
    runs, _, (_, _, held, _) = clean
    err = lsl.holdout_errors(held, lsl.noise_by_family(runs), gamma=False)
    assert (err["mean_verdict"] == "within").all() and (err["max_verdict"] == "within").all()
    assert (err["runs"] == 7).all()  # 5 sizes + 2 second seeds at the held-out budget


def test_noise_verdict_both_ways_and_without_noise():
    assert lsl.noise_verdict(0.004, 0.005) == "within"
    assert lsl.noise_verdict(-0.004, 0.005) == "within"
    assert lsl.noise_verdict(0.006, 0.005) == "beyond"
    assert lsl.noise_verdict(0.006, math.nan) == "not comparable"


def test_holdout_phrase_follows_the_verdicts():
    def err(x, l):
        return pd.DataFrame({"family": ["xlstm", "llama"], "mean_verdict": [x, l]})

    assert lsl.holdout_phrase(err("within", "within")) == "within the seed noise for both families"
    assert lsl.holdout_phrase(err("beyond", "beyond")) == "beyond the seed noise for both families"
    assert lsl.holdout_phrase(err("within", "beyond")) == ("within the seed noise for xLSTM but beyond the seed "
                                                           "noise for the Transformer")
    assert "no seed noise" in lsl.holdout_phrase(err("not comparable", "not comparable"))


def test_noise_without_repeats_is_nan():
    noise = lsl.noise_by_family(synthetic_runs())
    assert (noise["pairs"] == 0).all() and noise["mean_spread"].isna().all()


def test_runs_beyond_the_held_out_budget_stay_out_of_the_fit():
    data = lsl.surface_runs(synthetic_runs(extra_tokenparam=True))
    fit_set, held, held_budget = lsl.holdout_split(data)
    assert fit_set["budget"].max() < held_budget
    assert (held["sweep"] == "isoflop").all() and len(held) == 10


def test_one_budget_is_refused_naming_the_parameter():
    data = lsl.surface_runs(synthetic_runs())
    with pytest.raises(ParameterError, match="lab_budgets"):
        lsl.holdout_split(data[data["budget"] == 1e12])
    with pytest.raises(ParameterError, match="lab_budgets"):  # one budget left to fit: 5 points < 7
        lsl.holdout_split(data[data["budget"] >= 1e12])


def test_holdout_curves_pass_through_the_surface_at_the_runs(clean):
    runs, data, (fits, *_) = clean
    curves = lsl.holdout_curves(fits, data, gamma=False, n_points=5)
    for (fam, budget), g in data.groupby(["family", "budget"]):
        c = curves[(curves["family"] == fam) & (curves["budget"] == f"{budget:.0e}")]
        # The curve's end points are the smallest and largest run (N grid spans exactly the runs).
        for n in (g["N"].min(), g["N"].max()):
            row = c.iloc[int(np.argmin(np.abs(np.log(c["N"]) - np.log(n))))]
            d = budget / (6 * n)
            assert row["loss"] == pytest.approx(float(true_loss(fam, n, d)), abs=5e-3)
    points = lsl.holdout_points(data, max(BUDGETS))
    assert set(points.loc[points["role"] == "held out", "budget"]) == {"3e+12"}


def test_default_parameters_name_shipped_runs_plus_the_live_slice(tmp_path):
    """The book's defaults: the IsoFLOP grid is shipped except the 3e10 live slice; token/param never trains."""
    params = yaml.safe_load((ROOT / "notebooks/params/loss_surface.default.yaml").read_text())
    shipped = load_lab_runs()
    got = lsl.gather(params["lab_budgets"], params["lab_ratios"], seeds=params["lab_seeds"], train=False,
                     store=tmp_path / "empty.sqlite")
    iso = lab.plan("isoflop", families=("llama", "xlstm"), param="lab_budgets", budgets=params["lab_budgets"],
                   seeds=params["lab_seeds"])
    missing = [r for r in iso.runs if r.key not in set(shipped["key"])]
    # The live slice is the smallest budget only: 5 sizes x 2 families.
    assert {r.spec.budget_flops for r in missing} == {min(params["lab_budgets"])} and len(missing) == 10
    assert set(got.runs.loc[got.runs["sweep"] == "isoflop", "budget_flops"]) == set(params["lab_budgets"][1:])
    assert got.trained_now == ()
    # The token/param runs the defaults ask for are exactly the shipped ones (never trained here).
    tp = shipped[(shipped["sweep"] == "tokenparam") & (shipped["context_length"] == 256)]
    plan = lab.plan("tokenparam", families=("llama", "xlstm"), param="lab_ratios", ratios=params["lab_ratios"],
                    seeds=params["lab_seeds"], around=lsl.TOKENPARAM_AROUND, n_sizes=lsl.TOKENPARAM_SIZES)
    assert {r.key for r in plan.runs} == set(tp["key"])
    assert set(tp["key"]) <= set(got.runs["key"])
