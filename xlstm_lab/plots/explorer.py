"""The frontier explorer: a budget slider and a law dropdown drive N*(C), D*(C) and L(N*, D*) panels, offline.

Everything the chart shows is precomputed by :mod:`xlstm_lab.chapters.frontier_explorer` and inlined in the spec;
the two Vega-Lite parameters only filter it, so the static page needs no kernel and no network. Panels stack
(vconcat) and each follows the container's width, so the chart fits a 390 px phone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import altair as alt
import pandas as pd

from xlstm_lab.plots.theme import FAMILY_COLORS, SI_AXIS_LABEL

__all__ = ["SLIDER_NAME", "SELECT_NAME", "explorer_chart"]

#: Names of the two bound parameters (the browser test and readers' own specs can address them).
SLIDER_NAME = "log10_C"
SELECT_NAME = "laws"
_SOURCES = ["ours", "paper"]
_TABLE_COLS = ["grid", "family", "source", "log10_C", "N_opt", "D_opt", "loss"]
_DIGITS = 4  # significant digits of the numbers inlined in the spec (display and tooltips only)
_NOTE_COLS = ["grid", "log10_C", "headline", "note", "extrapolated"]


def _require(df: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"explorer_chart: {what} lacks columns {missing}; build it with "
                         "xlstm_lab.chapters.frontier_explorer (frontier_table, range_notes, loss_notes).")


def _log_axis(title: str) -> alt.Axis:
    # SI prefixes, with "B" for 1e9 as the tables write it (d3's "G" reads as giga-something).
    return alt.Axis(labelExpr=SI_AXIS_LABEL, title=title)


def _panel(data: pd.DataFrame, bands: pd.DataFrame, field: str, title: str, y_title: str, *, log_y: bool,
           x_scale: alt.Scale, at_c, in_grid, extra: Sequence[alt.Chart] = (), height: int = 170) -> alt.LayerChart:
    decades = [10.0 ** k for k in range(math.ceil(math.log10(x_scale.domain[0])),
                                         math.floor(math.log10(x_scale.domain[1])) + 1)]
    x = alt.X("C:Q", scale=x_scale, axis=alt.Axis(values=decades, title="compute C (FLOPs)",
                                                  labelExpr="'1e' + round(log(datum.value) / LN10)"))
    y = alt.Y(f"{field}:Q", scale=alt.Scale(type="log") if log_y else alt.Scale(zero=False),
              axis=_log_axis(y_title) if log_y else alt.Axis(title=y_title))
    color = alt.Color("family:N", title="family", scale=alt.Scale(domain=list(FAMILY_COLORS),
                                                                  range=list(FAMILY_COLORS.values())),
                      legend=alt.Legend(labelExpr="datum.label == 'xlstm' ? 'xLSTM' : 'Transformer'"))
    dash = alt.StrokeDash("source:N", title="law", scale=alt.Scale(domain=_SOURCES, range=[[1, 0], [5, 3]]))
    fmt = ".4f" if not log_y else ".3s"
    tip = [alt.Tooltip("family:N"), alt.Tooltip("source:N", title="law"), alt.Tooltip("C:Q", format=".2e"),
           alt.Tooltip(f"{field}:Q", format=fmt)]
    base = alt.Chart(data).transform_filter(in_grid).transform_filter(f"isValid(datum.{field})").transform_calculate(
        C="pow(10, datum.log10_C)")
    band = alt.Chart(bands).mark_rect(color="#888888", opacity=0.14).encode(
        x=alt.X("C_lo:Q", scale=x_scale), x2="C_hi:Q").transform_filter(in_grid)
    layers = [
        band,
        base.mark_line(strokeWidth=1.8).encode(x, y, color, dash, detail="source:N", tooltip=tip),
        base.transform_filter(at_c).mark_rule(color="#444444", strokeWidth=1).encode(x=alt.X("C:Q", scale=x_scale)),
        base.transform_filter(at_c).mark_point(filled=True, size=70, opacity=1).encode(
            x, y, color, shape=alt.Shape("source:N", scale=alt.Scale(domain=_SOURCES, range=["circle", "diamond"]),
                                         title="law"), tooltip=tip),
        *extra,
    ]
    return alt.layer(*layers).properties(width="container", height=height, title=title)


def _readout(data: pd.DataFrame, notes: pd.DataFrame, at_c, in_grid, n_series: int) -> alt.LayerChart:
    """Text panel: the budget and whether it is extrapolated, then each series' N*, D* and loss."""
    head = alt.Chart(notes).transform_filter(in_grid).transform_filter(at_c)
    ink = " : ".join(f"datum.family == '{f}' ? '{c}'" for f, c in FAMILY_COLORS.items()) + " : 'black'"
    text = alt.Chart(data).transform_filter(in_grid).transform_filter(at_c).transform_calculate(ink=ink)
    return alt.layer(
        head.mark_text(align="left", baseline="top", fontSize=12, fontWeight="bold").encode(
            x=alt.value(0), y=alt.value(0), text="headline:N"),
        head.mark_text(align="left", baseline="top", fontSize=11, lineBreak="\n").encode(
            x=alt.value(0), y=alt.value(18), text="note:N",
            color=alt.condition("datum.extrapolated", alt.value("#b3261e"), alt.value("#1b5e20"))),
        text.mark_text(align="left", baseline="top", fontSize=11, lineBreak="\n").encode(
            x=alt.value(0), y=alt.Y("ypix:Q", scale=None), text="readout:N",
            # the family's colour as a literal: a second legend-less colour encoding would fight the shared legend
            fill=alt.Fill("ink:N", scale=None)),
    ).properties(width="container", height=54 + 32 * n_series)


def explorer_chart(table: pd.DataFrame, notes: pd.DataFrame, loss_notes: pd.DataFrame, *, budget: float,
                   grid: str, grid_labels: dict[str, str], step_dex: float) -> alt.VConcatChart:
    """The interactive frontier chart: a slider over log10 C and a dropdown over the law sets.

    Args:
        table: :func:`~xlstm_lab.chapters.frontier_explorer.frontier_table` (with its ``readout`` column).
        notes: :func:`~xlstm_lab.chapters.frontier_explorer.range_notes` on the same budgets.
        loss_notes: :func:`~xlstm_lab.chapters.frontier_explorer.loss_notes` (why a grid has no loss panel).
        budget: FLOPs where the slider starts (snapped to the table's grid).
        grid: key of the law set the dropdown starts on. grid_labels: key -> label shown in the dropdown.
        step_dex: spacing of the table's budgets in decades (the slider's step).

    Returns:
        A vconcat of four views (N*, D*, loss, then the readout at the chosen budget), each ``width="container"``,
        fitted to the container's width. Shaded bands mark budgets outside the laws' fitted budgets.

    Raises:
        ValueError: missing columns, an unknown ``grid``, or a budget outside the table.
    """
    _require(table, _TABLE_COLS + ["series", "readout", "budget_lo", "budget_hi"], "table")
    _require(notes, _NOTE_COLS, "notes")
    _require(loss_notes, ["grid", "note"], "loss_notes")
    if grid not in grid_labels or grid not in set(table["grid"]):
        raise ValueError(f"explorer_chart: grid {grid!r} is not in the table; choose one of {list(grid_labels)}.")
    lc = sorted(set(table["log10_C"]))
    start = round((math.log10(budget) - lc[0]) / step_dex) * step_dex + lc[0] if budget > 0 else math.nan
    if not (lc[0] - 1e-9 <= start <= lc[-1] + 1e-9):
        raise ValueError(f"explorer_chart: budget {budget:.3g} FLOPs lies outside the table "
                         f"(1e{lc[0]:g} to 1e{lc[-1]:g}); widen c_min, c_max or choose another budget.")
    slider = alt.param(name=SLIDER_NAME, value=round(start, 6),
                       bind=alt.binding_range(min=lc[0], max=lc[-1], step=step_dex, name="log10 budget C (FLOPs) "))
    keys = list(grid_labels)
    select = alt.param(name=SELECT_NAME, value=grid,
                       bind=alt.binding_select(options=keys, labels=[grid_labels[k] for k in keys], name="laws "))
    at_c = f"abs(datum.log10_C - {SLIDER_NAME}) < {step_dex / 2}"
    in_grid = f"datum.grid == {SELECT_NAME}"

    data = table[_TABLE_COLS + ["readout"]].copy()
    for col in ("N_opt", "D_opt", "loss"):
        data[col] = [float(f"{v:.{_DIGITS}g}") for v in data[col]]
    data["ypix"] = 54 + 32 * data.groupby(["grid", "log10_C"]).cumcount()
    x_scale = alt.Scale(type="log", domain=[10.0 ** lc[0], 10.0 ** lc[-1]], nice=False)
    c_lo, c_hi = 10.0 ** lc[0], 10.0 ** lc[-1]
    fitted = table.groupby("grid")[["budget_lo", "budget_hi"]].first()
    bands = pd.DataFrame([{"grid": g, "C_lo": lo, "C_hi": hi} for g, r in fitted.iterrows()
                          for lo, hi in ((c_lo, r["budget_lo"]), (r["budget_hi"], c_hi)) if hi > lo])
    n_series = int(table.groupby("grid")["series"].nunique().max())
    no_loss = alt.Chart(loss_notes).transform_filter(in_grid).transform_filter("datum.note != ''").mark_text(
        align="left", baseline="top", fontSize=11, color="#b3261e", lineBreak="\n").encode(
        x=alt.value(4), y=alt.value(4), text="note:N")
    common = dict(x_scale=x_scale, at_c=at_c, in_grid=in_grid)
    panels = [  # the readout last: right above the slider and the dropdown, which vega-embed puts under the chart
        _panel(data, bands, "N_opt", "N*(C): compute-optimal parameters", "N* (parameters)", log_y=True, **common),
        _panel(data, bands, "D_opt", "D*(C): compute-optimal tokens", "D* (tokens)", log_y=True, **common),
        _panel(data, bands, "loss", "Predicted loss L(N*, D*)", "loss (nats/token)", log_y=False,
               extra=[no_loss], **common),
        _readout(data, notes[_NOTE_COLS], at_c, in_grid, n_series),
    ]
    return (
        alt.vconcat(*panels, spacing=18)
        .add_params(slider, select)
        .resolve_scale(color="shared", strokeDash="shared", shape="shared")
        .properties(autosize=alt.AutoSizeParams(type="fit-x", contains="padding"))
        .configure_legend(orient="bottom", direction="horizontal")
    )
