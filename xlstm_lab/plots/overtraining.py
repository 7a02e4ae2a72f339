"""Charts of the over-training regime: loss vs compute per D/N preset, slope intervals, Gadre et al.'s extrapolation."""

from __future__ import annotations

import altair as alt
import pandas as pd

from xlstm_lab.plots.theme import FAMILY_LABELS, family_color, fit_width

__all__ = ["slope_chart", "slope_interval_chart", "gadre_chart"]

_C_AXIS = alt.Axis(format=".0e", tickCount=5)


def slope_chart(points: pd.DataFrame, lines: pd.DataFrame, *, width: int = 240, height: int = 260) -> alt.ConcatChart:
    """Loss against compute (log-log), one line per D/N preset, one panel per family (panels wrap on a phone).

    Args:
        points: ``overtraining.slope_points`` (family, preset, model_size, C, loss).
        lines: ``overtraining.slope_lines`` (family, preset, C, loss): the fitted power laws.
    """
    presets = sorted(points["preset"].unique())
    color = alt.Color("preset:O", title="D/N preset", scale=alt.Scale(domain=presets, scheme="viridis"))
    x = alt.X("C:Q", title="training compute C (FLOPs)", scale=alt.Scale(type="log"), axis=_C_AXIS)
    # A log axis would otherwise snap to whole decades (1 to 10) and squash the data into a sliver.
    lo, hi = float(points["loss"].min()) / 1.03, float(points["loss"].max()) * 1.03
    y = alt.Y("loss:Q", title="validation loss (nats, log scale)",
              scale=alt.Scale(type="log", domain=[lo, hi], nice=False),
              axis=alt.Axis(values=[2.0, 2.25, 2.5, 2.75, 3.0, 3.25, 3.5]))
    panels = []
    for fam in sorted(points["family"].unique(), key=lambda f: f != "llama"):
        pts = alt.Chart(points[points["family"] == fam]).mark_point(filled=True, size=45).encode(
            x=x, y=y, color=color,
            tooltip=["model_size:N", "preset:O", alt.Tooltip("C:Q", format=".3e"), alt.Tooltip("loss:Q", format=".4f")])
        fit = alt.Chart(lines[lines["family"] == fam]).mark_line(strokeWidth=1.5).encode(
            x=x, y=y, color=color, detail="preset:O")
        panels.append(alt.layer(fit, pts).properties(width=width, height=height, title=FAMILY_LABELS[fam]))
    return alt.concat(*panels, columns=len(panels)).resolve_scale(y="shared", x="shared")


def slope_interval_chart(table: pd.DataFrame, *, width: int = 420, height: int = 240) -> alt.LayerChart:
    """Slope -d ln L / d ln C per preset with its t-interval (ours) and the paper's value (black tick).

    The width follows the container (``width`` px where there is room).

    Args:
        table: ``overtraining.slope_table`` output. Presets with NaN intervals (two runs) show the point only.
    """
    t = table.dropna(subset=["slope"]).assign(
        label=lambda d: d["preset"].map(lambda p: f"{p:g}"),
        offset=lambda d: d["family"].map({"llama": -0.15, "xlstm": 0.15}))
    order = [f"{p:g}" for p in sorted(t["preset"].unique())]
    x = alt.X("label:N", title="D/N preset", sort=order, axis=alt.Axis(labelAngle=0))
    xoff = alt.XOffset("family:N", scale=alt.Scale(domain=["llama", "xlstm"]))
    y = alt.Y("slope:Q", title="−d ln L / d ln C", scale=alt.Scale(zero=False))
    bars = alt.Chart(t).mark_rule(strokeWidth=2).encode(x=x, xOffset=xoff, y="slope_lo:Q", y2="slope_hi:Q",
                                                         color=family_color())
    pts = alt.Chart(t).mark_point(filled=True, size=60).encode(
        x=x, xOffset=xoff, y=y, color=family_color(),
        tooltip=["family:N", "preset:Q", "n_points:Q", "dof:Q", "status:N",
                 alt.Tooltip("slope:Q", format=".6f"), alt.Tooltip("slope_lo:Q", format=".4f"),
                 alt.Tooltip("slope_hi:Q", format=".4f"), alt.Tooltip("paper:Q", format=".6f")])
    paper = alt.Chart(t.dropna(subset=["paper"])).mark_tick(color="black", thickness=1.5, size=14).encode(
        x=x, xOffset=xoff, y="paper:Q")
    return fit_width(alt.layer(bars, pts, paper).properties(height=height), width)


#: Point kinds of gadre_chart: legend label -> (shape, stroke, fill, size).
_GADRE_POINTS = {
    "fit run": ("circle", "black", "black", 60),
    "other run": ("circle", "#bbbbbb", "#bbbbbb", 20),
    "held-out, observed": ("diamond", "#d1495b", "#d1495b", 120),
    "held-out, predicted": ("diamond", "black", "transparent", 120),
}


def _gadre_points(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per drawn point: the runs (fit, other, held-out observed) and the held-out predictions."""
    kind = runs["role"].map({"fit": "fit run", "other": "other run", "held-out": "held-out, observed"})
    if kind.isna().any():
        raise ValueError(f"gadre_chart: role must be 'fit', 'held-out' or 'other'; got {sorted(set(runs['role']))}.")
    pts = runs.assign(kind=kind, observed=runs["loss"])
    if "predicted" not in pts.columns:
        pts["predicted"] = float("nan")
    pred = pts[pts["role"] == "held-out"].dropna(subset=["predicted"])
    pred = pred.assign(kind="held-out, predicted", loss=pred["predicted"])
    return pd.concat([pts, pred], ignore_index=True)


def gadre_chart(curves: pd.DataFrame, runs: pd.DataFrame, *, width: int = 200, height: int = 250) -> alt.ConcatChart:
    """Per training set: the 5-point law along M = const against compute, the runs, the held-out ones highlighted.

    One legend ("point") tells the fit runs, the other runs, the held-out runs' observed loss and the law's
    prediction for them apart (shape, stroke and fill as drawn); a second one the laws' M. The panels wrap.

    Args:
        curves: ``overtraining.gadre_curves`` (dataset, M, C, loss).
        runs: one row per run: dataset, role ("fit", "held-out", "other"), C (6ND), loss (observed), M,
            model_config; held-out rows may carry ``predicted``.
    """
    x = alt.X("C:Q", title="compute 6ND (FLOPs)", scale=alt.Scale(type="log"), axis=_C_AXIS)
    points = _gadre_points(runs)
    lo = float(min(points["loss"].min(), curves["loss"].min())) / 1.05
    hi = float(points["loss"].max()) * 1.05
    y = alt.Y("loss:Q", title="validation loss (nats, log scale)",
              scale=alt.Scale(type="log", domain=[lo, hi], nice=False), axis=alt.Axis(values=[2, 2.5, 3, 4, 5, 6, 7]))
    # Legends below the panels: three panels already fill the page's width.
    below = dict(orient="bottom", direction="horizontal")
    kinds = list(_GADRE_POINTS)
    shape, stroke, fill, _ = (list(v) for v in zip(*_GADRE_POINTS.values()))
    kind_legend = alt.Legend(title="point", columns=2, **below)
    enc = dict(
        shape=alt.Shape("kind:N", scale=alt.Scale(domain=kinds, range=shape), legend=kind_legend),
        stroke=alt.Stroke("kind:N", scale=alt.Scale(domain=kinds, range=stroke), legend=kind_legend),
        fill=alt.Fill("kind:N", scale=alt.Scale(domain=kinds, range=fill), legend=kind_legend),
    )
    m_color = alt.Color("M:O", title="law at M =", scale=alt.Scale(scheme="dark2"), legend=alt.Legend(**below))
    tip = ["kind:N", "model_config:N", "M:Q", alt.Tooltip("observed:Q", format=".4f"),
           alt.Tooltip("predicted:Q", format=".4f")]
    panels = []
    for ds in curves["dataset"].unique():
        cur = alt.Chart(curves[curves["dataset"] == ds]).mark_line(strokeDash=[4, 2]).encode(x=x, y=y, color=m_color)
        r = points[points["dataset"] == ds]
        # one layer per kind, all sharing the kind scales and legend; the other runs first, predictions on top
        layers = [cur] + [
            alt.Chart(r[r["kind"] == k]).mark_point(size=_GADRE_POINTS[k][3], strokeWidth=1.5, opacity=1).encode(
                x=x, y=y, tooltip=tip, **enc)
            for k in ("other run", "fit run", "held-out, observed", "held-out, predicted")
        ]
        panels.append(alt.layer(*layers).properties(width=width, height=height, title=ds))
    return alt.concat(*panels, columns=len(panels)).resolve_scale(y="shared")
