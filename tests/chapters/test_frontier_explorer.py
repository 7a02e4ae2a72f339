"""Frontier explorer: the table's N*, D* and loss against the published laws and surfaces, and the chart's spec."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xlstm_lab import anchors
from xlstm_lab.anchors import PAPER
from xlstm_lab.chapters import frontier_explorer as fx
from xlstm_lab.chapters.loss_surface import select_runs
from xlstm_lab.fit.types import InvalidInputError
from xlstm_lab.plots.explorer import SELECT_NAME, SLIDER_NAME, explorer_chart

# (grid key, PAPER prefix) of every published law the explorer offers.
PREFIX = {
    ("ctx2048", "llama"): "isoflop.ctx.llama.ctx2048", ("ctx2048", "xlstm"): "isoflop.ctx.xlstm.ctx2048",
    ("ctx8192-main", "llama"): "isoflop.main.llama.ctx8192", ("ctx8192-main", "xlstm"): "isoflop.main.xlstm.ctx8192",
    ("ctx8192", "llama"): "isoflop.ctx.llama.ctx8192", ("ctx8192", "xlstm"): "isoflop.ctx.xlstm.ctx8192",
    ("ctx16384", "llama"): "isoflop.ctx.llama.ctx16384", ("ctx16384", "xlstm"): "isoflop.ctx.xlstm.ctx16384",
}


def _paper_law(prefix: str, var: str, c: float) -> float:
    return PAPER[f"{prefix}.{var}.k"].value * c ** PAPER[f"{prefix}.{var}.a"].value


def _paper_loss(family: str, n: float, d: float) -> float:
    """The paper's stored gamma surface, written out in plain float64 (not through fit.surface_loss)."""
    p = {k: PAPER[f"surface.gamma.{family}.{k}"].value for k in ("E", "A", "B", "alpha", "beta", "gamma")}
    return p["E"] + (p["A"] / n ** p["alpha"] + p["B"] / d ** p["beta"]) ** p["gamma"]


@pytest.fixture(scope="module")
def runs():
    return select_runs(anchors.load_tokenparam_runs())


@pytest.fixture(scope="module")
def laws():
    return fx.explorer_laws()


@pytest.fixture(scope="module")
def table(laws, runs):
    surf = fx.paper_surfaces(runs)
    return fx.frontier_table(fx.log10_c_grid(1e18, 1e25), laws, surf, surf)


@pytest.mark.parametrize("budget", [1e19, 1e20, 1e22])
def test_published_rows_equal_the_papers_laws_and_surface(table, budget):
    rows = fx.at_budget(table, budget)
    paper = rows[rows["source"] == "paper"]
    assert len(paper) == len(PREFIX)
    for r in paper.itertuples():
        prefix = PREFIX[(r.grid, r.family)]
        assert r.C == pytest.approx(budget, rel=1e-12)
        assert r.N_opt == pytest.approx(_paper_law(prefix, "n_opt", budget), rel=1e-12)
        assert r.D_opt == pytest.approx(_paper_law(prefix, "d_opt", budget), rel=1e-12)
        if r.ctx == 8192:
            assert r.loss == pytest.approx(_paper_loss(r.family, r.N_opt, r.D_opt), rel=1e-12)
        else:  # the surface was fitted on ctx-8192 runs only: no loss elsewhere
            assert math.isnan(r.loss) and "n/a" in r.readout


@pytest.mark.parametrize("budget", [1e19, 3e19])
def test_recomputed_rows_match_the_published_laws_inside_the_budgets(table, budget):
    """Same runs and method as the paper (printed to >= 4 digits): within 2e-3 inside the fitted budgets."""
    rows = fx.at_budget(table, budget)
    ours = rows[(rows["source"] == "ours") & rows["has_law"]]
    assert set(zip(ours["grid"], ours["family"])) == {
        ("ctx2048", "llama"), ("ctx8192-main", "llama"), ("ctx8192", "llama"), ("ctx16384", "llama"),
        ("ctx16384", "xlstm")}
    for r in ours.itertuples():
        prefix = PREFIX[(r.grid, r.family)]
        assert r.N_opt == pytest.approx(_paper_law(prefix, "n_opt", r.C), rel=2e-3)
        assert r.D_opt == pytest.approx(_paper_law(prefix, "d_opt", r.C), rel=2e-3)


def test_missing_and_published_only_laws_are_said_not_dropped(table):
    at = fx.at_budget(table, 1e20).set_index(["grid", "family", "source"])
    for grid in ("ctx2048", "ctx8192-main", "ctx8192"):  # xLSTM IsoFLOP runs not released (anchors.MISSING_ISOFLOP)
        missing = at.loc[(grid, "xlstm", "ours")]
        assert not missing.has_law and math.isnan(missing.N_opt) and "not released" in missing.readout
        assert at.loc[(grid, "xlstm", "paper"), "published_only"]
        assert "published only" in at.loc[(grid, "xlstm", "paper"), "readout"]
    assert not at.loc[("ctx16384", "xlstm", "paper"), "published_only"]
    assert not at.loc[("ctx8192-main", "llama", "paper"), "published_only"]
    # every (grid, budget) has one row per family and source, so the chart's readout is never a silent gap
    assert (table.groupby(["grid", "log10_C"]).size() == 4).all()


def test_extrapolation_flags_and_distances():
    notes = fx.range_notes([18.0, 19.0, 20.0, 22.0]).set_index(["grid", "log10_C"])
    assert notes.loc[("ctx8192-main", 22.0), "decades"] == pytest.approx(2.0)  # 1e22 vs the 1e20 budget
    assert notes.loc[("ctx8192", 20.0), "decades"] == pytest.approx(math.log10(1e20 / 3e19))
    assert notes.loc[("ctx2048", 18.0), "decades"] == pytest.approx(math.log10(6e18 / 1e18))
    assert not notes.loc[("ctx8192-main", 20.0), "extrapolated"] and notes.loc[("ctx8192", 20.0), "extrapolated"]
    assert "below" in notes.loc[("ctx2048", 18.0), "note"] and "above" in notes.loc[("ctx2048", 22.0), "note"]
    assert not notes.loc[("ctx16384", 19.0), "extrapolated"]


def test_in_budgets_follows_each_law_sets_budgets(table):
    at = fx.at_budget(table, 1e20)
    assert at.loc[at["grid"] == "ctx8192-main", "in_budgets"].all()
    assert not at.loc[at["grid"] != "ctx8192-main", "in_budgets"].any()  # the context study stops at 3e19


def test_loss_is_flagged_outside_the_surfaces_runs(table, runs):
    """An allocation beyond the runs' N, D or D/N is an extrapolation of L(N, D); inside all three it is not."""
    at = fx.at_budget(table, 1e24)
    main = at[(at["grid"] == "ctx8192-main") & at["has_law"]]
    assert (main["N_opt"] > runs["N"].max()).all() and main["loss_extrapolated"].all()
    at = fx.at_budget(table, 1e20)
    main = at[(at["grid"] == "ctx8192-main") & at["has_law"]].set_index(["family", "source"])
    for fam in ("llama", "xlstm"):
        r = runs[runs["family"] == fam]
        for (f, _), row in main.loc[[fam]].iterrows():
            inside = (r["N"].min() <= row.N_opt <= r["N"].max() and r["D"].min() <= row.D_opt <= r["D"].max()
                      and (r["D"] / r["N"]).min() <= row.D_opt / row.N_opt <= (r["D"] / r["N"]).max())
            assert row.loss_extrapolated == (not inside), (f, row.tokens_per_param)
    # the two cases both occur here: the Transformer's point inside, xLSTM's at a D/N below every run's
    assert not main.loc[("llama", "ours"), "loss_extrapolated"] and main.loc[("xlstm", "paper"), "loss_extrapolated"]


def test_our_refit_surface_predicts_the_papers_losses(laws, runs):
    """Our refit and the stored surface give the same loss within 0.01 nats inside the runs (loss-surface chapter)."""
    ours = fx.fitted_surfaces(runs)
    t = fx.frontier_table([19.0, 20.0, 21.0], [s for s in laws if s.grid.key == "ctx8192-main"], ours, ours)
    llama = t[(t["family"] == "llama") & (t["source"] == "ours")]
    for r in llama.itertuples():
        assert abs(r.loss - _paper_loss("llama", r.N_opt, r.D_opt)) < 0.01


@settings(max_examples=50, deadline=None)
@given(lo=st.floats(12.0, 24.0), width=st.floats(0.05, 6.0), step=st.sampled_from([0.05, 0.1, 0.25, 0.5]))
def test_budget_grid_covers_the_range_in_equal_steps(lo, width, step):
    grid = fx.log10_c_grid(10.0 ** lo, 10.0 ** (lo + width), step)
    assert grid[0] <= lo + 1e-9 and grid[0] > lo - step - 1e-9
    assert grid[-1] >= lo + width - 1e-9 and grid[-1] < lo + width + step + 1e-9
    assert np.allclose(np.diff(grid), step)


@pytest.mark.parametrize("args", [(1e20, 1e19), (0.0, 1e20), (1e18, float("inf")), (1e18, 1e20, 0.0)])
def test_bad_budget_ranges_are_refused(args):
    with pytest.raises(InvalidInputError, match="c_min"):
        fx.log10_c_grid(*args)


def test_bad_budgets_and_grids_are_refused(table):
    with pytest.raises(InvalidInputError, match="widen c_min, c_max"):
        fx.at_budget(table, 1e27)
    with pytest.raises(InvalidInputError, match="positive number"):
        fx.at_budget(table, -1.0)
    with pytest.raises(InvalidInputError, match="ctx8192-main"):
        fx.grid_by_key("ctx4096")
    with pytest.raises(InvalidInputError, match="log10_c"):
        fx.frontier_table([], [])


def _chart(table, **kw):
    args = dict(budget=1e20, grid="ctx8192-main", grid_labels={g.key: g.label for g in fx.GRIDS}, step_dex=0.1)
    args.update(kw)
    return explorer_chart(table, fx.range_notes(sorted(set(table["log10_C"]))), fx.loss_notes(), **args)


def test_spec_binds_a_slider_and_a_dropdown_and_fits_the_container(table):
    spec = _chart(table).to_dict()  # validates against the Vega-Lite schema
    params = {p["name"]: p for p in spec["params"]}
    slider, select = params[SLIDER_NAME], params[SELECT_NAME]
    assert slider["bind"]["input"] == "range" and slider["value"] == pytest.approx(20.0)
    assert (slider["bind"]["min"], slider["bind"]["max"], slider["bind"]["step"]) == (18.0, 25.0, 0.1)
    assert select["bind"]["input"] == "select" and select["value"] == "ctx8192-main"
    assert select["bind"]["options"] == [g.key for g in fx.GRIDS]
    assert spec["autosize"] == {"type": "fit-x", "contains": "padding"}
    assert [v["width"] for v in spec["vconcat"]] == ["container"] * 4
    text = json.dumps(spec)
    assert f"datum.grid == {SELECT_NAME}" in text and f"abs(datum.log10_C - {SLIDER_NAME})" in text
    # all data is inline: no URL to fetch
    assert '"url"' not in text and all(isinstance(v, list) for v in spec["datasets"].values())


def test_slider_starts_on_a_grid_budget(table):
    spec = _chart(table, budget=2.9e21).to_dict()
    start = next(p for p in spec["params"] if p["name"] == SLIDER_NAME)["value"]
    assert start == pytest.approx(21.5)  # log10(2.9e21) = 21.46, snapped to the 0.1-decade grid


def test_chart_refuses_what_it_cannot_draw(table):
    with pytest.raises(ValueError, match="ctx4096"):
        _chart(table, grid="ctx4096")
    with pytest.raises(ValueError, match="outside the table"):
        _chart(table, budget=1e30)
    with pytest.raises(ValueError, match="lacks columns"):
        _chart(table.drop(columns=["readout"]))


def test_inline_numbers_match_the_table(table):
    """The chart rounds to 4 significant digits for the page; every number stays within that of the table."""
    spec = _chart(table).to_dict()
    data = max(spec["datasets"].values(), key=len)
    inline = pd.DataFrame(data).set_index(["grid", "family", "source", "log10_C"])
    ref = table.set_index(["grid", "family", "source", "log10_C"]).loc[inline.index]
    for col in ("N_opt", "D_opt", "loss"):
        a, b = inline[col].astype(float).to_numpy(), ref[col].to_numpy()
        ok = np.isnan(b) | (np.abs(a - b) <= 5e-4 * np.abs(b))
        assert ok.all(), col
