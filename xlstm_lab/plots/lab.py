"""Charts of the chapters' lab halves: IsoFLOP parabolas at CPU budgets and N* per context."""

from __future__ import annotations

import altair as alt
import pandas as pd

from xlstm_lab.plots.isoflop import budget_color, parabola_chart
from xlstm_lab.plots.theme import FAMILY_LABELS, SI_AXIS_LABEL, family_color, fit_width

__all__ = ["budget_color", "lab_parabola_chart", "lab_context_chart"]

_LOSS = "validation loss (nats/byte)"
_SOURCES = ["shipped", "trained now", "stored earlier"]


def lab_parabola_chart(points: pd.DataFrame, curves: pd.DataFrame, vertices: pd.DataFrame, *,
                       width: int = 240, height: int = 190) -> alt.ConcatChart:
    """One panel per family (side by side where there is room, stacked on a phone): runs (shaped by where they
    came from), fitted parabolas, vertices (diamonds); :func:`xlstm_lab.plots.isoflop.parabola_chart` at lab budgets.

    Args:
        points: panel (family), budget, N, loss, seed, source ("shipped", "trained now", "stored earlier").
        curves, vertices: panel, budget, N, loss.
    """
    label = {k: FAMILY_LABELS.get(k, k) for k in set(points["panel"])}
    points, curves, vertices = (df.assign(panel=df["panel"].map(lambda k: label.get(k, k)))
                                for df in (points, curves, vertices))
    shape = alt.Shape("source:N", title="run", scale=alt.Scale(domain=_SOURCES,
                                                                range=["circle", "triangle-up", "square"]))
    return parabola_chart(points, curves, vertices, width=width, height=height, budgets=list(points["budget"]),
                          shape=shape, tooltip=("seed:Q", "source:N"), loss_title=_LOSS)


def lab_context_chart(opt: pd.DataFrame, *, width: int = 420, height: int = 240) -> alt.LayerChart:
    """N* against context per family (colour) and budget (dash), with each vertex's 95% interval where bounded.

    Args:
        opt: family, ctx, budget, N_opt, N_opt_lo, N_opt_hi (``chapters.lab_context.optima``).
    """
    d = opt.dropna(subset=["N_opt"])
    x = alt.X("ctx:Q", scale=alt.Scale(type="log", base=2, nice=False), title="context (bytes)",
              axis=alt.Axis(values=sorted(set(d["ctx"])), format="d"))
    # The axis spans the vertices (x3 either way); wider intervals are clipped at its edge, not allowed to squash it.
    scale = alt.Scale(type="log", nice=False, domain=[float(d["N_opt"].min() / 3), float(d["N_opt"].max() * 3)],
                      clamp=True)
    y = alt.Y("N_opt:Q", scale=scale, title="N* (parameters)", axis=alt.Axis(labelExpr=SI_AXIS_LABEL))
    dash = alt.StrokeDash("budget:N", title="budget (FLOPs)")
    bars = d.dropna(subset=["N_opt_lo", "N_opt_hi"])
    chart = alt.layer(
        alt.Chart(d).mark_line(strokeWidth=1.6).encode(x, y, family_color(), dash, detail="budget:N"),
        alt.Chart(bars).mark_rule(strokeWidth=1.5, opacity=0.6).encode(
            x, alt.Y("N_opt_lo:Q", scale=scale), alt.Y2("N_opt_hi:Q"), family_color()),
        alt.Chart(d).mark_point(filled=True, size=45).encode(
            x, y, family_color(), tooltip=["family:N", "ctx:Q", "budget:N", alt.Tooltip("N_opt:Q", format=",.0f")]),
    ).properties(height=height)
    return fit_width(chart, width)
