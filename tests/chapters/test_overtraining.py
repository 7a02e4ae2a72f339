"""Tests of xlstm_lab.chapters.overtraining and its charts: the paper's slope table, Gadre et al.'s 5-point fit."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from xlstm_lab import anchors
from xlstm_lab.chapters import overtraining as ot
from xlstm_lab.fit.types import InvalidInputError, TooFewPointsError
from xlstm_lab.plots import overtraining as plots_ot

DATASETS = ("rpj", "c4_original", "rw_original")


@pytest.fixture(scope="module")
def runs() -> pd.DataFrame:
    return anchors.load_tokenparam_runs()


@pytest.fixture(scope="module")
def slopes(runs) -> pd.DataFrame:
    return ot.slope_table(runs)


@pytest.fixture(scope="module")
def gadre():
    data = {ds: anchors.load_gadre(ds) for ds in DATASETS}
    return data, {ds: ot.fit_gadre_overtraining(df) for ds, df in data.items()}


# ------------------------------------------------------------------------------------------- slopes


def test_slope_points_exclude_extra_and_7b_long(runs):
    pts = ot.slope_points(runs)
    assert "7B long" not in set(pts["model_size"])
    assert set(pts["preset"]) == set(ot.SLOPE_PRESETS)
    # 66 runs - 5 without a preset ("extra", incl. 7B long) - the single xLSTM run at 2200.
    assert len(pts) == 60
    x = pts[pts["family"] == "xlstm"]
    src = runs.set_index("run_id")
    # xLSTM uses the tfla FLOP count, the Transformer the default one (upstream's slope notebook).
    assert np.isin(x["C"], src["C_flops_training_mlstm_tfla"]).all()
    assert not np.isin(x["C"], src["C_flops_training"]).any()


def test_slopes_reproduce_the_papers_table(slopes):
    """Same OLS on the same displayed runs; the table prints 6 decimals, so |diff| <= 5e-7 rounding (+ input
    precision): 1e-6 absolute."""
    assert len(slopes) == 12
    for r in slopes.itertuples():
        assert abs(r.slope - anchors.PAPER[f"overtraining.slope.{r.family}.M{int(r.preset)}"].value) < 1e-6


def test_few_points_are_recorded_not_printed(runs):
    with _no_warnings():
        t = ot.slope_table(runs)
    t = t.set_index(["family", "preset"])
    assert bool(t.loc[("llama", 1100.0), "few_points_warning"]) and t.loc[("llama", 1100.0), "status"] == "exact"
    assert math.isnan(t.loc[("llama", 1100.0), "slope_lo"])  # 2 runs: no interval
    assert (t["few_points_warning"] == (t["dof"] < 3)).all()
    ok = t[t["dof"] >= 1]
    assert (ok["slope_lo"] < ok["slope"]).all() and (ok["slope"] < ok["slope_hi"]).all()


class _no_warnings:
    """Context manager failing if any warning escapes (the chapter must not print FewPointsWarning)."""

    def __enter__(self):
        import warnings

        self._cm = warnings.catch_warnings(record=True)
        self.caught = self._cm.__enter__()
        warnings.simplefilter("always")

    def __exit__(self, *exc):
        self._cm.__exit__(*exc)
        assert not [w for w in self.caught if "fit_power_law" in str(w.message)], [str(w.message) for w in self.caught]


def test_slope_table_rejects_unusable_presets(runs):
    with pytest.raises(InvalidInputError, match="not available"):
        ot.slope_points(runs, [23])
    with pytest.raises(InvalidInputError, match="at least 2 runs"):
        ot.slope_table(runs, [2200])


def test_one_exponent_fits_every_preset(slopes):
    s = ot.slope_summary(slopes).set_index("family")
    assert s["common"].all()
    assert s.loc["xlstm", "slope_max"] == pytest.approx(slopes.loc[slopes["family"] == "xlstm", "slope"].max())
    assert (s["max_abs_diff_paper"] < 1e-6).all()


def test_crossover_compute_of_two_known_lines():
    # L_llama = 2 C^-0.1, L_xlstm = 1 C^-0.05 meet where ln C = ln 2 / 0.05.
    table = pd.DataFrame([dict(family="llama", preset=22.0, k=2.0, a=-0.1, status="ok"),
                          dict(family="xlstm", preset=22.0, k=1.0, a=-0.05, status="few_points")])
    c = ot.crossover_compute(table).iloc[0]
    assert c["C_cross"] == pytest.approx(math.exp(math.log(2.0) / 0.05), rel=1e-12)
    assert c["loss_cross"] == pytest.approx(math.exp(-math.log(2.0)), rel=1e-12)
    assert not c["both_ok"]


# ------------------------------------------------------------------------------------------- Gadre et al.


def test_gadre_law_by_hand():
    # E + a N^b + c 6^(b/2) (M N)^b at N = 1e8, M = 20, b = -0.25.
    want = 1.8 + 150 * 1e8**-0.25 + 300 * 6**-0.125 * 2e9**-0.25
    assert ot.gadre_law(1e8, 20, 150.0, 300.0, -0.25, 1.8) == pytest.approx(want, rel=1e-14)


@pytest.mark.parametrize("ds", DATASETS)
def test_gadre_fit_reproduces_the_card(gadre, ds):
    """Card targets: scipy 1.17.1 curve_fit, 128 starts, 5 significant digits. 4 parameters on 5 points are poorly
    conditioned, so 1e-2 relative on parameters; held-out errors to 0.05 percentage points."""
    data, fits = gadre
    f = fits[ds]
    assert f.n_points == 5 and f.n_starts == 128
    assert set(f.fit_rows["token_multiplier_M"]) == {20.0, 320.0}
    for k in ("a", "c", "b", "E"):
        assert getattr(f, k) == pytest.approx(anchors.PAPER[f"gadre.fit.{ds}.{k}"].value, rel=1e-2), k
    held = ot.gadre_heldout_table(data, fits).set_index(["dataset", "model_config", "M"])
    for (cfg, m), label in ot.GADRE_HELDOUT.items():
        key = f"gadre.heldout.{ds}.{label}.rel_err"
        if key in anchors.PAPER:
            assert abs(held.loc[(ds, cfg, m), "rel_err"]) == pytest.approx(anchors.PAPER[key].value, abs=5e-4)


def test_gadre_rpj_predictions_match_the_card(gadre):
    data, fits = gadre
    held = ot.gadre_heldout_table(data, fits).set_index(["dataset", "model_config", "M"])
    # Printed to 4 decimals: observed losses are data (5e-5 rounding), predictions move with the fit (1e-3 nats).
    assert held.loc[("rpj", "open_lm_1b", 640.0), "observed"] == pytest.approx(2.5021, abs=1e-4)
    assert held.loc[("rpj", "open_lm_1b", 640.0), "predicted"] == pytest.approx(2.5198, abs=1e-3)
    assert held.loc[("rpj", "open_lm_7b", 20.0), "predicted"] == pytest.approx(2.4427, abs=1e-3)


def test_gadre_fit_recovers_a_known_law_from_noiseless_runs():
    truth = dict(a=150.0, c=300.0, b=-0.27, E=1.8)
    df = anchors.load_gadre("rpj").copy()
    df["loss_c4_val"] = ot.gadre_law(df["N_params"], df["token_multiplier_M"], **truth)
    fit = ot.fit_gadre_overtraining(df, fit_multipliers=(10.0, 20.0, 40.0, 80.0))
    assert fit.n_points == 17
    for k, v in truth.items():
        assert getattr(fit, k) == pytest.approx(v, rel=1e-5), k
    assert fit.residual_std < 1e-8


def test_gadre_fit_rejects_bad_input():
    rpj = anchors.load_gadre("rpj")
    with pytest.raises(InvalidInputError, match="no column .loss_nope.*c4_val"):
        ot.fit_gadre_overtraining(rpj, target="loss_nope")
    with pytest.raises(InvalidInputError, match="one training set"):
        ot.fit_gadre_overtraining(anchors.load_gadre())
    with pytest.raises(TooFewPointsError, match="4 parameters"):
        ot.fit_gadre_overtraining(rpj, fit_multipliers=(), extra=())


def test_heldout_table_points_and_chinchilla_column(gadre):
    data, fits = gadre
    held = ot.gadre_heldout_table(data, fits)
    # Each training set has two 1.4B runs and one 6.9B run; the card publishes 2 (rpj) + 1 + 1 errors.
    assert held.groupby("dataset").size().to_dict() == {ds: 3 for ds in DATASETS}
    assert held["published_rel_err"].notna().sum() == 4
    pts = ot.gadre_points(data, fits)
    assert (pts.groupby("dataset")["role"].apply(lambda r: (r == "fit").sum()) == 5).all()
    assert pts.loc[pts["role"] == "held-out", "predicted"].notna().all()
    chin = {"rpj": ot.fit_gadre_chinchilla(data["rpj"])}
    h2 = ot.gadre_heldout_table({"rpj": data["rpj"]}, {"rpj": fits["rpj"]}, chin)
    assert np.isfinite(h2["chinchilla_rel_err"]).all()
    # Fitted on all 32 small runs of rpj: the Chinchilla form describes them to a few hundredths of a nat.
    assert float(np.sqrt(np.mean(np.expm1(chin["rpj"].residuals) ** 2))) < 0.05


def test_charts_build(runs, slopes, gadre):
    data, fits = gadre
    pts = ot.slope_points(runs)
    for chart in (plots_ot.slope_chart(pts, ot.slope_lines(slopes, pts)), plots_ot.slope_interval_chart(slopes),
                  plots_ot.gadre_chart(ot.gadre_curves(fits), ot.gadre_points(data, fits))):
        assert chart.to_dict()["$schema"].startswith("https://vega.github.io/schema/vega-lite/")
