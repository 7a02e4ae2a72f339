"""Charts of the loss-surface chapter's lab half: a surface fitted without the largest budget against its runs."""

from __future__ import annotations

import altair as alt
import pandas as pd

from xlstm_lab.plots.isoflop import budget_color
from xlstm_lab.plots.theme import FAMILY_LABELS, SI_AXIS_LABEL

__all__ = ["holdout_chart"]

_LOSS = "validation loss (nats/byte)"


def holdout_chart(points: pd.DataFrame, curves: pd.DataFrame, *, width: int = 240,
                  height: int = 200) -> alt.ConcatChart:
    """One panel per family (side by side where there is room, stacked on a phone): IsoFLOP runs and the
    held-out fit's curves.

    Args:
        points: family, budget (label, e.g. "3e+12"), N, loss, role ("fitted" or "held out"), seed, source.
        curves: family, budget, N, loss: the surface fitted without the held-out budget, along each budget
            (the held-out budget's curve is its prediction, drawn dashed).
    """
    color = budget_color(list(set(points["budget"]) | set(curves["budget"])))
    held = set(points.loc[points["role"] == "held out", "budget"])
    curves = curves.assign(role=curves["budget"].map(lambda b: "prediction" if b in held else "fit"))
    tip = ["budget:N", alt.Tooltip("N:Q", format=",.0f"), alt.Tooltip("loss:Q", format=".4f"), "role:N", "seed:Q",
           "source:N"]
    panels = []
    for fam in dict.fromkeys(points["family"]):
        p, c = points[points["family"] == fam], curves[curves["family"] == fam]
        x = alt.X("N:Q", scale=alt.Scale(type="log", nice=False), title="parameters N", axis=alt.Axis(labelExpr=SI_AXIS_LABEL))
        y = alt.Y("loss:Q", scale=alt.Scale(zero=False), title=_LOSS)
        panels.append(alt.layer(
            alt.Chart(c).mark_line(strokeWidth=1.6).encode(
                x, y, color, alt.StrokeDash("role:N", title="curve", scale=alt.Scale(
                    domain=["fit", "prediction"], range=[[1, 0], [5, 3]])), detail="budget:N"),
            alt.Chart(p).mark_point(size=40, opacity=0.85, filled=True).encode(
                x, y, color, alt.Shape("role:N", title="run", scale=alt.Scale(
                    domain=["fitted", "held out"], range=["circle", "diamond"])),
                tooltip=tip),
        ).properties(title=FAMILY_LABELS.get(fam, fam), width=width, height=height))
    return alt.concat(*panels, columns=2).resolve_scale(color="shared", shape="shared",
                                                        strokeDash="shared").configure_legend(
        orient="bottom", direction="horizontal", columns=3)
