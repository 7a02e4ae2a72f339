"""Charts of the counting-compute chapter: where the parameters sit, and FLOPs per token against context."""

from __future__ import annotations

import altair as alt
import pandas as pd

__all__ = ["breakdown_chart", "flops_per_token_chart"]

_FAMILY_TITLE = {"xlstm": "xLSTM", "llama": "Transformer (Llama)"}
_SIZE_ORDER = ["160m", "400m", "830m", "1.4b", "2.7b", "7b"]
_PARTS = ["embedding", "head", "mixer", "ffn", "block_norms", "final_norm"]


def breakdown_chart(shapes: pd.DataFrame) -> alt.FacetChart:
    """Share of each parameter group per named shape, as stacked bars, one panel per family.

    The panels wrap (a facet with ``columns``): side by side on a desktop, stacked on a phone.

    Args:
        shapes: :func:`xlstm_lab.chapters.counting_compute.shape_table` output (components in millions).
    """
    cols = [f"{p} (M)" for p in _PARTS]
    long = shapes.melt(id_vars=["family", "size"], value_vars=cols, var_name="part", value_name="millions")
    long["part"] = long["part"].str.replace(" (M)", "", regex=False)
    long["family_label"] = long["family"].map(_FAMILY_TITLE)
    bars = alt.Chart(long).mark_bar().encode(
        y=alt.Y("size:O", sort=_SIZE_ORDER, title="shape"),
        x=alt.X("millions:Q", stack="normalize", title="share of parameters", axis=alt.Axis(format="%")),
        color=alt.Color("part:N", sort=_PARTS, scale=alt.Scale(scheme="tableau10"), title="group"),
        order=alt.Order("part_order:Q"),
        tooltip=["family_label:N", "size:O", "part:N", alt.Tooltip("millions:Q", format=".1f")],
    ).transform_calculate(part_order=f"indexof({_PARTS!r}, datum.part)").properties(width=280, height=170)
    return bars.facet(facet=alt.Facet("family_label:N", title=None, sort=list(_FAMILY_TITLE.values())),
                      columns=2).properties(title="Where the parameters sit (embedding and head are untied and counted)"
    )


def flops_per_token_chart(df: pd.DataFrame) -> alt.FacetChart:
    """Training FLOPs per token against context, log-log, one panel per family, one line per convention.

    Args:
        df: :func:`xlstm_lab.chapters.counting_compute.flops_per_token` output.
    """
    d = df.assign(family_label=df["family"].map(_FAMILY_TITLE))
    order = ["paper", "6N", "Chinchilla-style", "paper: sequence mix"]
    colors = ["#222222", "#8c8c8c", "#e07b00", "#3b6fb6"]
    size = str(d["size"].iloc[0])
    lo, hi = float(d["context"].min()), float(d["context"].max())
    enc = dict(
        x=alt.X("context:Q", scale=alt.Scale(type="log", domain=[lo / 1.3, hi * 1.3], nice=False),
                title="context length (tokens)"),
        y=alt.Y("flops_per_token:Q", scale=alt.Scale(type="log"), title="training FLOPs per token (fw + bw)",
                axis=alt.Axis(format=".0e")),
        color=alt.Color("series:N", sort=order, scale=alt.Scale(domain=order, range=colors), title="count"),
        tooltip=["family_label:N", "series:N", "context:Q", alt.Tooltip("flops_per_token:Q", format=".3g")],
    )
    # 6N dashed (it ignores the context), the others solid; separate layers keep the colour legend
    six = alt.Chart(d).transform_filter(alt.datum.series == "6N").mark_line(strokeDash=[6, 3]).encode(**enc)
    rest = alt.Chart(d).transform_filter(alt.datum.series != "6N")
    layer = alt.layer(six, rest.mark_line(strokeWidth=2).encode(**enc),
                      rest.mark_point(filled=True, size=30).encode(**enc)).properties(width=280, height=250)
    return layer.facet(facet=alt.Facet("family_label:N", title=None, sort=list(_FAMILY_TITLE.values())),
                       columns=2).properties(title=alt.TitleParams(f"FLOPs per token at {size}",
                              subtitle="attention grows with the context, the mLSTM cell does not")
    )
