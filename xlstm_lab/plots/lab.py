"""Charts of the chapters' lab halves: IsoFLOP parabolas at CPU budgets, optima against compute, per context."""

from __future__ import annotations

import altair as alt
import pandas as pd

from xlstm_lab.plots.theme import FAMILY_LABELS, family_color

__all__ = ["budget_color", "lab_parabola_chart", "lab_optima_chart", "lab_context_chart"]

_LOSS = "validation loss (nats/byte)"


def budget_color(budgets: list[str]) -> alt.Color:
    """Sequential colours over budget labels in increasing order (light = small budget)."""
    order = sorted(set(budgets), key=float)
    return alt.Color("budget:N", title="budget (FLOPs)", sort=order, scale=alt.Scale(scheme="viridis", domain=order,
                                                                                      reverse=True))


def lab_parabola_chart(points: pd.DataFrame, curves: pd.DataFrame, vertices: pd.DataFrame, *,
                       width: int = 300, height: int = 200) -> alt.VConcatChart:
    """One panel per family (stacked, so it fits a phone): runs, fitted parabolas, vertices (diamonds).

    Args:
        points: panel (family), budget, N, loss, seed, source ("shipped", "trained now", "stored earlier").
        curves, vertices: panel, budget, N, loss.
    """
    color = budget_color(list(points["budget"]))
    tip = ["budget:N", alt.Tooltip("N:Q", format=",.0f"), alt.Tooltip("loss:Q", format=".4f"), "seed:Q", "source:N"]
    panels = []
    for panel in dict.fromkeys(points["panel"]):
        p, c, v = (df[df["panel"] == panel] for df in (points, curves, vertices))
        x = alt.X("N:Q", scale=alt.Scale(type="log", nice=False), title="parameters N", axis=alt.Axis(format="~s"))
        y = alt.Y("loss:Q", scale=alt.Scale(zero=False), title=_LOSS)
        panels.append(alt.layer(
            alt.Chart(c).mark_line(strokeWidth=1.6).encode(x, y, color, detail="budget:N"),
            alt.Chart(p).mark_point(size=36, filled=True, opacity=0.8).encode(
                x, y, color, alt.Shape("source:N", title="run", scale=alt.Scale(
                    domain=["shipped", "trained now", "stored earlier"], range=["circle", "triangle-up", "square"])),
                tooltip=tip),
            alt.Chart(v).mark_point(shape="diamond", size=110, filled=True, stroke="black", strokeWidth=1).encode(
                x, y, color),
        ).properties(title=FAMILY_LABELS.get(panel, panel), width=width, height=height))
    return alt.vconcat(*panels).resolve_scale(color="shared", shape="shared").configure_legend(
        orient="bottom", direction="horizontal", columns=3)


def lab_optima_chart(optima: pd.DataFrame, lines: pd.DataFrame, *, value: str = "N_opt", title: str = "N*",
                     width: int = 300, height: int = 220) -> alt.LayerChart:
    """Per-budget optima (with their intervals where defined) and each family's fitted power law.

    Args:
        optima: family, C, ``value``, ``value``_lo, ``value``_hi (interval columns optional).
        lines: family, C, ``value`` (the law sampled over C).
    """
    x = alt.X("C:Q", scale=alt.Scale(type="log", nice=False), title="training compute C (FLOPs)",
              axis=alt.Axis(format=".0e"))
    y = alt.Y(f"{value}:Q", scale=alt.Scale(type="log", nice=False), title=title, axis=alt.Axis(format="~s"))
    layers = [alt.Chart(lines).mark_line(strokeWidth=1.5).encode(x, y, family_color()),
              alt.Chart(optima).mark_point(filled=True, size=50).encode(
                  x, y, family_color(), tooltip=["family:N", alt.Tooltip("C:Q", format=".2e"),
                                                 alt.Tooltip(f"{value}:Q", format=",.0f")])]
    lo, hi = f"{value}_lo", f"{value}_hi"
    if lo in optima and hi in optima:
        bars = optima.dropna(subset=[lo, hi])
        layers.insert(1, alt.Chart(bars).mark_rule(strokeWidth=2).encode(
            x, alt.Y(f"{lo}:Q", scale=alt.Scale(type="log", nice=False)), alt.Y2(f"{hi}:Q"), family_color()))
    return alt.layer(*layers).properties(width=width, height=height)


def lab_context_chart(opt: pd.DataFrame, *, width: int = 300, height: int = 240) -> alt.LayerChart:
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
    y = alt.Y("N_opt:Q", scale=scale, title="N* (parameters)", axis=alt.Axis(format="~s"))
    dash = alt.StrokeDash("budget:N", title="budget (FLOPs)")
    bars = d.dropna(subset=["N_opt_lo", "N_opt_hi"])
    return alt.layer(
        alt.Chart(d).mark_line(strokeWidth=1.6).encode(x, y, family_color(), dash, detail="budget:N"),
        alt.Chart(bars).mark_rule(strokeWidth=1.5, opacity=0.6).encode(
            x, alt.Y("N_opt_lo:Q", scale=scale), alt.Y2("N_opt_hi:Q"), family_color()),
        alt.Chart(d).mark_point(filled=True, size=45).encode(
            x, y, family_color(), tooltip=["family:N", "ctx:Q", "budget:N", alt.Tooltip("N_opt:Q", format=",.0f")]),
    ).properties(width=width, height=height)
