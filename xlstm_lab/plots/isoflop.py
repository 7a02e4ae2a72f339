"""Charts of the IsoFLOP and context chapters: parabolas per budget, N*(C) laws, the compute-loss plane, context effects."""

from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd

from xlstm_lab.plots.theme import SI_AXIS_LABEL, family_color, fit_width, si_label

__all__ = [
    "BUDGET_DOMAIN",
    "budget_color",
    "parabola_chart",
    "power_law_chart",
    "compute_loss_chart",
    "side_by_side",
    "context_nopt_chart",
    "seq_mix_chart",
]

#: Budget labels (runs.csv ``isoflop_bucket``) in increasing order: one colour each, shared by every panel.
BUDGET_DOMAIN = ["6e+18", "1e+19", "3e+19", "1e+20"]
_BUDGET_RANGE = ["#8fb4d9", "#4c78a8", "#f58518", "#54a24b"]
_LOSS = "validation loss (nats/token)"


def _require(df: pd.DataFrame, cols: list[str], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {missing}; got {list(df.columns)}.")


def _log_scale(values: object, pad: float = 1.25) -> alt.Scale:
    """Log scale fitted to the data (padded by a factor), so points at the extremes are not cut by the frame."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v) & (v > 0)]
    return alt.Scale(type="log", domain=[float(v.min() / pad), float(v.max() * pad)], nice=False)


def _ticks(scale: alt.Scale, mults: tuple[float, ...]) -> list[float]:
    """Tick values m·10^e (m in ``mults``) inside a log scale's domain: readable labels on short log axes."""
    lo, hi = scale.domain
    decades = range(math.floor(math.log10(lo)), math.floor(math.log10(hi)) + 1)
    return [m * 10.0**e for e in decades for m in mults if lo <= m * 10.0**e <= hi]


def _c_axis(values: object) -> tuple[alt.Scale, alt.Axis]:
    scale = _log_scale(values, pad=1.3)
    return scale, alt.Axis(values=_ticks(scale, (1, 3)), format=".0e", title="training compute C (FLOPs)")


def budget_color(budgets: list[str] | None = None) -> alt.Color:
    """Colour over budget labels: the released runs' four budgets in fixed colours, or any labels in increasing
    order on a sequential scale (light = small budget)."""
    if budgets is None:
        return alt.Color("budget:N", title="budget (FLOPs)", sort=BUDGET_DOMAIN,
                         scale=alt.Scale(domain=BUDGET_DOMAIN, range=_BUDGET_RANGE))
    order = sorted(set(budgets), key=float)
    return alt.Color("budget:N", title="budget (FLOPs)", sort=order,
                     scale=alt.Scale(scheme="viridis", domain=order, reverse=True))


def parabola_chart(
    points: pd.DataFrame, curves: pd.DataFrame, vertices: pd.DataFrame, *, columns: int = 2,
    width: int = 240, height: int = 190, budgets: list[str] | None = None, shape: alt.Shape | None = None,
    tooltip: tuple = (), loss_title: str = _LOSS,
) -> alt.ConcatChart:
    """One panel per ``panel`` value: loss against N (log), runs as points, fitted parabolas, vertices as diamonds.

    The panels wrap (``alt.concat(..., columns=columns)``): the book renderer lowers ``columns`` on a phone.

    Args:
        points: panel, budget, N, loss (one row per run).
        curves: panel, budget, N, loss (the fitted parabola sampled over the budget's N range).
        vertices: panel, budget, N, loss (the parabola's minimum).
        columns: panels per row where there is room.
        width, height: size of one panel in pixels.
        budgets: budget labels to colour in increasing order (``None``: the released runs' four budgets).
        shape: a shape encoding for the runs (for example where each run came from); ``None`` draws circles.
        tooltip: more tooltip fields for the runs.
        loss_title: the loss axis' title.
    """
    for df, name in ((points, "points"), (curves, "curves"), (vertices, "vertices")):
        _require(df, ["panel", "budget", "N", "loss"], f"parabola_chart({name})")
    color = budget_color(budgets)
    y = alt.Y("loss:Q", scale=alt.Scale(zero=False), title=loss_title)
    tip = [alt.Tooltip("budget:N"), alt.Tooltip("N_si:N", title="N"), alt.Tooltip("loss:Q", format=".4f")]
    panels = []
    for panel in dict.fromkeys(points["panel"]):
        p, c, v = (df[df["panel"] == panel] for df in (points, curves, vertices))
        scale = _log_scale(pd.concat([p["N"], c["N"]]), pad=1.15)
        x = alt.X("N:Q", scale=scale, title="parameters N",
                  axis=alt.Axis(labelExpr=SI_AXIS_LABEL, values=_ticks(scale, (1, 2, 5))))
        runs = alt.Chart(p).transform_calculate(N_si=si_label("N"))
        runs = (runs.mark_circle(size=22, opacity=0.75).encode(x, y, color, tooltip=tip + list(tooltip))
                if shape is None else
                runs.mark_point(size=36, filled=True, opacity=0.8).encode(x, y, color, shape,
                                                                          tooltip=tip + list(tooltip)))
        panels.append(alt.layer(
            alt.Chart(c).mark_line(strokeWidth=1.6).encode(x, y, color, detail="budget:N"),
            runs,
            alt.Chart(v).transform_calculate(N_si=si_label("N")).mark_point(
                shape="diamond", size=100, filled=True, stroke="black", strokeWidth=1).encode(x, y, color, tooltip=tip),
        ).properties(title=str(panel), width=width, height=height))
    return alt.concat(*panels, columns=columns).resolve_scale(color="shared", shape="shared").configure_legend(
        orient="bottom", direction="horizontal")


def power_law_chart(optima: pd.DataFrame, lines: pd.DataFrame, *, width: int = 250,
                    height: int = 240) -> alt.ConcatChart:
    """N*(C) and D*(C): per-budget optima with bootstrap intervals and the power laws, one panel per variable.

    The two panels wrap (side by side on a desktop, stacked on a phone); counts are written 1B, 10B (not 1G).

    Args:
        optima: family, series, variable ("N*"/"D*"), C, value, lo, hi (one row per budget and variable).
        lines: family, series, variable, C, value (each law sampled over C).
    """
    _require(optima, ["family", "series", "variable", "C", "value", "lo", "hi"], "power_law_chart(optima)")
    _require(lines, ["family", "series", "variable", "C", "value"], "power_law_chart(lines)")
    cscale, caxis = _c_axis(lines["C"])
    x = alt.X("C:Q", scale=cscale, axis=caxis)
    dash = alt.StrokeDash("series:N", title="law")
    panels = []
    for var, unit in (("N*", "parameters"), ("D*", "tokens")):
        o, ln = optima[optima["variable"] == var], lines[lines["variable"] == var]
        yscale = _log_scale(pd.concat([ln["value"], o["value"]]), pad=1.2)
        y = alt.Y("value:Q", scale=yscale, title=f"{var} ({unit})",
                  axis=alt.Axis(labelExpr=SI_AXIS_LABEL, values=_ticks(yscale, (1, 2, 5))))
        tip = [alt.Tooltip("series:N"), alt.Tooltip("C:Q", format=".3e"), alt.Tooltip("value_si:N", title="value"),
               alt.Tooltip("lo_si:N", title="lo"), alt.Tooltip("hi_si:N", title="hi")]
        panels.append(alt.layer(
            alt.Chart(ln).mark_line(strokeWidth=1.5).encode(x, y, family_color(), dash),
            alt.Chart(o).mark_rule(strokeWidth=2).encode(x, alt.Y("lo:Q", scale=yscale), alt.Y2("hi:Q"), family_color()),
            alt.Chart(o).transform_calculate(**{f"{c}_si": si_label(c, 4) for c in ("value", "lo", "hi")}).mark_point(
                filled=True, size=40).encode(x, y, family_color(), tooltip=tip),
        ).properties(title=f"{var}(C)", width=width, height=height))
    return (alt.concat(*panels, columns=2).resolve_scale(color="shared", strokeDash="shared")
            .configure_legend(orient="bottom", direction="horizontal"))


def compute_loss_chart(
    runs: pd.DataFrame, envelope: pd.DataFrame, *, title: str = "", width: int = 250, height: int = 260
) -> alt.LayerChart:
    """Loss against training FLOPs for every run (colour = family, shape = context) and each family's Pareto front.

    Args:
        runs: family, ctx, set, C, loss, N (one row per run).
        envelope: family, C, loss (the Pareto-optimal runs, drawn as a step line).
    """
    _require(runs, ["family", "ctx", "set", "C", "loss", "N"], "compute_loss_chart(runs)")
    _require(envelope, ["family", "C", "loss"], "compute_loss_chart(envelope)")
    cscale, caxis = _c_axis(runs["C"])
    x = alt.X("C:Q", scale=cscale, axis=caxis)
    y = alt.Y("loss:Q", scale=alt.Scale(zero=False), title=_LOSS)
    tip = ["family:N", "ctx:O", "set:N", alt.Tooltip("N_si:N", title="N"), alt.Tooltip("C:Q", format=".3e"),
           alt.Tooltip("loss:Q", format=".4f")]
    pts = alt.Chart(runs).transform_calculate(N_si=si_label("N")).mark_point(size=22, opacity=0.5, filled=False).encode(
        x, y, family_color(), alt.Shape("ctx:O", title="context"), tooltip=tip)
    env = alt.Chart(envelope).mark_line(interpolate="step-after", strokeWidth=2.2).encode(x, y, family_color())
    return alt.layer(pts, env).properties(title=title, width=width, height=height)


def side_by_side(*charts: alt.TopLevelMixin) -> alt.ConcatChart:
    """Panels in a row with shared colour and shape legends below them; the row wraps (stacks) on a phone."""
    return (alt.concat(*charts, columns=len(charts)).resolve_scale(color="shared", shape="shared")
            .configure_legend(orient="bottom", direction="horizontal"))


def context_nopt_chart(df: pd.DataFrame, *, budget: float, width: int = 400, height: int = 280) -> alt.LayerChart:
    """N_opt at a fixed budget against context: laws (recomputed with bootstrap bars, or published) and vertices.

    Recomputed laws are filled circles, published laws open squares, vertices open crosses; the legend draws the
    same symbols. The width follows the container (``width`` px where there is room).

    Args:
        df: family, ctx, source ("recomputed"/"published"), N_opt (the law at the budget), lo, hi (bootstrap
            interval, NaN for published), N_vertex (parabola vertex of the matching released budget, or NaN).
        budget: the compute budget, for the title (FLOPs).
    """
    _require(df, ["family", "ctx", "source", "N_opt", "lo", "hi", "N_vertex"], "context_nopt_chart")
    law = df.assign(kind=np.where(df["source"] == "recomputed", "law, recomputed", "law, published (no runs)"),
                    value=df["N_opt"])
    vert = df[df["N_vertex"].notna()].assign(kind="vertex of the nearest budget", value=lambda d: d["N_vertex"])
    data = pd.concat([law, vert], ignore_index=True)[["family", "ctx", "kind", "value", "lo", "hi"]]
    kinds = ["law, recomputed", "law, published (no runs)", "vertex of the nearest budget"]
    ctxs = sorted(set(df["ctx"]))
    x = alt.X("ctx:Q", title="context length (tokens)", axis=alt.Axis(values=ctxs, format="d"),
              scale=alt.Scale(type="log", base=2, domain=[min(ctxs) / 1.4, max(ctxs) * 1.4], nice=False))
    yscale = _log_scale(pd.concat([data["value"], data["lo"], data["hi"]]), pad=1.15)
    y = alt.Y("value:Q", scale=yscale, title="compute-optimal N (parameters)",
              axis=alt.Axis(labelExpr=SI_AXIS_LABEL, values=_ticks(yscale, (1, 1.5, 2, 3, 4, 5, 7))))
    kind_legend = alt.Legend(symbolStrokeWidth=2)
    shape = alt.Shape("kind:N", title="", scale=alt.Scale(domain=kinds, range=["circle", "square", "cross"]),
                      legend=kind_legend)
    # The legend of `kind` merges shape with this fill and stroke (used by an invisible layer only): its symbols
    # are filled for the recomputed law and open for the published law and the vertex, as the points are drawn.
    grey = "#555555"
    kind_fill = alt.Fill("kind:N", title="", scale=alt.Scale(domain=kinds, range=[grey, "transparent", "transparent"]),
                         legend=kind_legend)
    kind_stroke = alt.Stroke("kind:N", title="", scale=alt.Scale(domain=kinds, range=[grey] * 3), legend=kind_legend)
    tip = ["family:N", "ctx:O", "kind:N"] + [alt.Tooltip(f"{c}_si:N", title=c) for c in ("value", "lo", "hi")]
    base = alt.Chart(data).transform_calculate(**{f"{c}_si": si_label(c, 4) for c in ("value", "lo", "hi")})
    chart = alt.layer(
        base.transform_filter(f"datum.kind != '{kinds[2]}'").mark_line(strokeWidth=1, opacity=0.6).encode(
            x, y, family_color()),
        base.transform_filter("isValid(datum.lo)").mark_rule(strokeWidth=2).encode(
            x, alt.Y("lo:Q", scale=yscale), alt.Y2("hi:Q"), family_color()),
        # filled: recomputed from runs.csv; open: the paper's law (its runs are not released); cross: vertex
        base.transform_filter(f"datum.kind == '{kinds[0]}'").mark_point(size=70, filled=True, opacity=0.9).encode(
            x, y, family_color(), shape, tooltip=tip),
        base.transform_filter(f"datum.kind != '{kinds[0]}'").mark_point(size=70, strokeWidth=2).encode(
            x, y, family_color(), shape, tooltip=tip),
        base.mark_point(size=0, opacity=0).encode(x, y, shape, kind_fill, kind_stroke),
    ).properties(title=f"Compute-optimal N at C = {budget:.3g} FLOPs", height=height)
    return fit_width(chart, width)


def seq_mix_chart(df: pd.DataFrame, *, width: int = 400, height: int = 240) -> alt.LayerChart:
    """Share of training FLOPs in the sequence mix (attention core or mLSTM cell) against context, per family.

    The width follows the container (``width`` px where there is room).

    Args:
        df: family, ctx, seq_mix_ratio (fraction in [0, 1]).
    """
    _require(df, ["family", "ctx", "seq_mix_ratio"], "seq_mix_chart")
    ctxs = sorted(set(df["ctx"]))
    x = alt.X("ctx:Q", title="context length (tokens)", axis=alt.Axis(values=ctxs, format="d", labelAngle=-40),
              scale=alt.Scale(type="log", base=2, domain=[min(ctxs) / 1.2, max(ctxs) * 1.2], nice=False))
    y = alt.Y("seq_mix_ratio:Q", title="sequence-mix share of FLOPs", axis=alt.Axis(format="%"),
              scale=alt.Scale(domain=[0, 1]))
    tip = ["family:N", "ctx:O", alt.Tooltip("seq_mix_ratio:Q", format=".1%")]
    base = alt.Chart(df)
    return fit_width(alt.layer(
        base.mark_line().encode(x, y, family_color()),
        base.mark_point(filled=True, size=50).encode(x, y, family_color(), tooltip=tip),
    ).properties(height=height), width)
