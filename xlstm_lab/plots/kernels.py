"""Charts of the mLSTM kernels chapter: FLOPs per token, gradient conventions, H100 training and decode times."""

from __future__ import annotations

import altair as alt
import pandas as pd

from xlstm_lab.plots.theme import FAMILY_COLORS, SI_AXIS_LABEL, fit_width, si_label

__all__ = ["flops_chart", "convention_chart", "training_chart", "decode_chart", "impl_color"]

_LOG = alt.Scale(type="log")
# mLSTM implementations in the xLSTM red family, attention in the Transformer teal family, the rest neutral
_IMPL_COLORS = [
    ("[this project]", "#222222"),
    ("xl_chunk", FAMILY_COLORS["xlstm"]),
    ("mLSTM step (Triton)", FAMILY_COLORS["xlstm"]),
    ("mLSTM step (torch ops)", "#f0a0a8"),
    ("cuDNN", FAMILY_COLORS["llama"]),
    ("FlashAttention-2", "#7cc4cf"),
    ("fla", "#8d8d8d"),
]


def impl_color(impls) -> alt.Scale:
    """A colour scale for implementation labels: mLSTM reds, attention teals, ours black, others grey."""
    domain = list(dict.fromkeys(impls))
    rng = [next((c for key, c in _IMPL_COLORS if key in label), "#b07aa1") for label in domain]
    return alt.Scale(domain=domain, range=rng)


def flops_chart(table: pd.DataFrame, crossover: float | None = None) -> alt.LayerChart:
    """Forward matmul FLOPs per token and head against T, log-log, one line per form (width follows the container).

    Args:
        table: :func:`xlstm_lab.chapters.mlstm_kernels.flops_table` output.
        crossover: optional T where chunkwise overtakes attention, drawn as a dotted rule.
    """
    labels = list(dict.fromkeys(table["label"]))
    colors = [FAMILY_COLORS["xlstm"] if "parallel" in lab else FAMILY_COLORS["llama"] if "attention" in lab
              else "#f4a259" if "L = 64" in lab else "#5b8e7d" for lab in labels]
    base = alt.Chart(table).encode(
        x=alt.X("T:Q", scale=alt.Scale(type="log", domain=[table["T"].min(), table["T"].max()], nice=False),
                title="sequence length T (tokens)"),
        y=alt.Y("flops_per_token:Q", scale=_LOG, title="forward FLOPs per token and head",
                axis=alt.Axis(labelExpr=SI_AXIS_LABEL)),
        color=alt.Color("label:N", sort=labels, scale=alt.Scale(domain=labels, range=colors), title=None,
                        legend=alt.Legend(orient="bottom", columns=2, labelLimit=300)),
        tooltip=["label:N", "T:Q", alt.Tooltip("flops_si:N", title="FLOPs per token")],
    ).transform_calculate(flops_si=si_label("flops_per_token"))
    chart = base.mark_line() + base.mark_point(filled=True, size=25)
    if crossover is not None:
        rule = alt.Chart(pd.DataFrame({"T": [crossover]})).mark_rule(strokeDash=[3, 3], color="#555").encode(x="T:Q")
        chart = chart + rule
    return fit_width(chart.properties(height=280, title="Forward matmul FLOPs per token (gating ignored)"), 500)


def convention_chart(gap: pd.DataFrame) -> alt.Chart:
    """Relative difference (%) between detached-normaliser and exact gradients, grouped bars per gradient.

    The width follows the container (460 px where there is room).

    Args:
        gap: rows (gradient, source, rel_diff), one source per bar colour (e.g. this page's float64 reference
            and the H100 card's xl_chunk against exact fp64 autograd).
    """
    df = gap.assign(percent=100.0 * gap["rel_diff"])
    sources = list(dict.fromkeys(df["source"]))
    chart = alt.Chart(df).mark_bar().encode(
        x=alt.X("gradient:N", sort=["dq", "dk", "dv", "di", "df"], title="gradient of", axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset("source:N", sort=sources),
        y=alt.Y("percent:Q", title="‖detached − exact‖ / ‖exact‖ (%)", scale=alt.Scale(domain=[0, 100])),
        color=alt.Color("source:N", sort=sources, title=None,
                        legend=alt.Legend(orient="bottom", columns=1, labelLimit=500),
                        scale=alt.Scale(domain=sources, range=["#f4a259", FAMILY_COLORS["xlstm"], "#8d8d8d"][
                            : len(sources)])),
        tooltip=["gradient:N", "source:N", alt.Tooltip("percent:Q", format=".3g")],
    ).properties(height=240, title="Detached-normaliser gradients against exact ones")
    return fit_width(chart, 460)


def training_chart(train: pd.DataFrame) -> alt.FacetChart:
    """GPU time per call (ms, log) against the B×T shape, one panel per pass, one line per implementation.

    Args:
        train: :func:`xlstm_lab.chapters.mlstm_kernels.anchor_training` output.
    """
    order = list(dict.fromkeys(train.sort_values(["tokens", "B"])["shape"]))
    impls = list(dict.fromkeys(train["impl"]))
    base = alt.Chart(train).encode(
        x=alt.X("shape:O", sort=order, title="B × T", axis=alt.Axis(labelAngle=-40)),
        y=alt.Y("ms:Q", scale=_LOG, title="GPU time per call (ms)"),
        color=alt.Color("impl:N", title=None, scale=impl_color(impls),
                        legend=alt.Legend(orient="bottom", columns=2, labelLimit=300)),
        tooltip=["impl:N", "shape:O", "pass:N", alt.Tooltip("ms:Q", format=".3f")],
    )
    layer = (base.mark_line() + base.mark_point(filled=True, size=35)).properties(width=235, height=240)
    return layer.facet(facet=alt.Facet("pass:N", title=None, sort=["fwd", "fwd+bwd"]), columns=2).properties(
        title=alt.Title("Training shapes on an H100 (CUDA-graph GPU time)",
                        subtitle="H = 8, K = V = 128, bf16; B × T = batch × sequence length"))


def decode_chart(decode: pd.DataFrame) -> alt.FacetChart:
    """Decode step time (µs, log) against context length T (log), one panel per config and batch size.

    Args:
        decode: :func:`xlstm_lab.chapters.mlstm_kernels.anchor_decode` output.
    """
    df = decode.assign(panel=decode["config"].str.split(" ").str[0].str.rstrip(",") + ", B = "
                       + decode["B"].astype(str))
    panels = list(dict.fromkeys(df.sort_values(["config", "B"], ascending=[False, True])["panel"]))
    impls = list(dict.fromkeys(df["impl"]))
    base = alt.Chart(df).encode(
        x=alt.X("T:Q", scale=alt.Scale(type="log", domain=[df["T"].min(), df["T"].max()], nice=False),
                title="context length T (tokens)",
                axis=alt.Axis(values=sorted(df["T"].unique().tolist()), labelExpr="(datum.value / 1024) + 'k'")),
        y=alt.Y("us:Q", scale=_LOG, title="step time (µs)"),
        color=alt.Color("impl:N", title=None, scale=impl_color(impls),
                        legend=alt.Legend(orient="bottom", columns=2, labelLimit=300)),
        tooltip=["config:N", "B:Q", "impl:N", "T:Q", alt.Tooltip("us:Q", format=".1f")],
    )
    layer = (base.mark_line() + base.mark_point(filled=True, size=30)).properties(width=235, height=160)
    return layer.facet(facet=alt.Facet("panel:N", sort=panels, title=None), columns=2).resolve_scale(
        y="independent").properties(title=alt.Title(
            "One decode step on an H100 (CUDA-graph GPU time)",
            subtitle=["mLSTM: state update, flat in T; attention: one query over a KV cache of T tokens",
                      "H8: 8 heads, K = V = 128; 7B-like: mLSTM 8 heads, K 256, V 512; attention 32 heads × 128"]))
