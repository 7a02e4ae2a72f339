"""Charts of the over-training regime: loss vs compute per D/N preset, slope intervals, Gadre et al.'s extrapolation."""

from __future__ import annotations

import altair as alt
import pandas as pd

from xlstm_lab.plots.theme import FAMILY_LABELS, family_color

__all__ = ["slope_chart", "slope_interval_chart", "gadre_chart"]

_C_AXIS = alt.Axis(format=".0e", tickCount=5)


def slope_chart(points: pd.DataFrame, lines: pd.DataFrame, *, width: int = 240, height: int = 260) -> alt.HConcatChart:
    """Loss against compute (log-log), one line per D/N preset, one panel per family.

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
    return alt.hconcat(*panels).resolve_scale(y="shared", x="shared")


def slope_interval_chart(table: pd.DataFrame, *, width: int = 420, height: int = 240) -> alt.LayerChart:
    """Slope -d ln L / d ln C per preset with its t-interval (ours) and the paper's value (black tick).

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
    return alt.layer(bars, pts, paper).properties(width=width, height=height)


def gadre_chart(curves: pd.DataFrame, runs: pd.DataFrame, *, width: int = 200, height: int = 250) -> alt.HConcatChart:
    """Per training set: the 5-point law along M = const against compute, the runs, the held-out ones highlighted.

    Args:
        curves: ``overtraining.gadre_curves`` (dataset, M, C, loss).
        runs: one row per run: dataset, role ("fit", "held-out", "other"), C (6ND), loss (observed), M,
            model_config; held-out rows may carry ``predicted``.
    """
    x = alt.X("C:Q", title="compute 6ND (FLOPs)", scale=alt.Scale(type="log"), axis=_C_AXIS)
    lo = float(min(runs["loss"].min(), curves["loss"].min())) / 1.05
    hi = float(runs["loss"].max()) * 1.05
    y = alt.Y("loss:Q", title="validation loss (nats, log scale)",
              scale=alt.Scale(type="log", domain=[lo, hi], nice=False), axis=alt.Axis(values=[2, 2.5, 3, 4, 5, 6, 7]))
    # Legends below the panels: three panels already fill the page's width.
    below = dict(orient="bottom", direction="horizontal")
    role_shape = alt.Shape("role:N", title="run", legend=alt.Legend(**below),
                           scale=alt.Scale(domain=["fit", "held-out", "other"], range=["circle", "diamond", "circle"]))
    m_color = alt.Color("M:O", title="law at M =", scale=alt.Scale(scheme="dark2"), legend=alt.Legend(**below))
    panels = []
    for ds in curves["dataset"].unique():
        cur = alt.Chart(curves[curves["dataset"] == ds]).mark_line(strokeDash=[4, 2]).encode(x=x, y=y, color=m_color)
        r = runs[runs["dataset"] == ds]
        other = alt.Chart(r[r["role"] == "other"]).mark_point(size=20, color="#bbbbbb").encode(
            x=x, y=y, shape=role_shape, tooltip=["model_config:N", "M:Q", alt.Tooltip("loss:Q", format=".4f")])
        fit = alt.Chart(r[r["role"] == "fit"]).mark_point(size=60, filled=True, color="black").encode(
            x=x, y=y, shape=role_shape, tooltip=["model_config:N", "M:Q", alt.Tooltip("loss:Q", format=".4f")])
        held = alt.Chart(r[r["role"] == "held-out"]).mark_point(size=120, filled=True, color="#d1495b").encode(
            x=x, y=y, shape=role_shape,
            tooltip=["model_config:N", "M:Q", alt.Tooltip("loss:Q", format=".4f", title="observed"),
                     alt.Tooltip("predicted:Q", format=".4f")])
        layers = [cur, other, fit, held]
        if "predicted" in r.columns:
            pred = r[(r["role"] == "held-out")].dropna(subset=["predicted"])
            layers.append(alt.Chart(pred).mark_point(size=120, shape="diamond", filled=False, color="black").encode(
                x=x, y=alt.Y("predicted:Q")))
        panels.append(alt.layer(*layers).properties(width=width, height=height, title=ds))
    return alt.hconcat(*panels).resolve_scale(y="shared")
