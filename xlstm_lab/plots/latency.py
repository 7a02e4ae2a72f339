"""Charts of the inference-latency chapter: timings against prompt length, runtime-model terms, rooflines."""

from __future__ import annotations

import altair as alt
import pandas as pd

from xlstm_lab.plots.theme import FAMILY_COLORS, SI_AXIS_LABEL, family_color, fit_width

__all__ = ["ttft_chart", "step_chart", "terms_chart", "alpha_chart", "roofline_chart"]

_FAMILY_TITLE = {"xlstm": "xLSTM", "llama": "Transformer (Llama-2)"}
_SIZE_ORDER = ["160m", "400m", "830m", "1.4b", "2.7b", "7b"]
_LOG = alt.Scale(type="log")
# prompt lengths of the released timings span 128 ... 16384 tokens
_PROMPT = alt.Scale(type="log", domain=[100, 20000], nice=False)
# the book's content column is ~780 px wide on a desktop: facet panels are sized so chart + legend fit in it; the
# facets wrap (``columns``), so the book renderer stacks them on a phone
# Dash of each runtime-model series (lines) in terms_chart; "measured" is drawn as points ([1, 0]: solid).
_TERM_DASH = {"measured": [1, 0], "model": [1, 0], "compute term": [6, 3], "memory term": [6, 3],
              "compute at peak": [2, 2], "memory at peak": [2, 2], "overhead": [8, 3, 2, 3]}


def _with_labels(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out["family_label"] = out["family"].map(_FAMILY_TITLE)
    out["size"] = out["size"].astype(str)
    return out


def ttft_chart(timings: pd.DataFrame, batch: int = 1) -> alt.FacetChart:
    """Time to first token (ms) against prompt length, log-log, one panel per family, one line per size.

    Args:
        timings: :func:`xlstm_lab.chapters.inference_latency.load_timings` rows (prefill > 0 with a TTFT).
        batch: batch size to show.
    """
    df = _with_labels(timings[(timings["batch"] == batch) & timings["ttft_s"].notna() & (timings["prefill"] > 0)])
    df = df.assign(ttft_ms=df["ttft_s"] * 1e3)[["family_label", "size", "prefill", "ttft_ms"]]
    base = alt.Chart(df).encode(
        x=alt.X("prefill:Q", scale=_PROMPT, title="prompt length (tokens)"),
        y=alt.Y("ttft_ms:Q", scale=_LOG, title="time to first token (ms)"),
        color=alt.Color("size:O", sort=_SIZE_ORDER, scale=alt.Scale(scheme="viridis"), title="model size"),
        tooltip=["family_label:N", "size:O", "prefill:Q", alt.Tooltip("ttft_ms:Q", format=".1f")],
    )
    layer = (base.mark_line() + base.mark_point(filled=True, size=30)).properties(width=280, height=250)
    return layer.facet(facet=alt.Facet("family_label:N", title=None, sort=list(_FAMILY_TITLE.values())),
                       columns=2).properties(title=f"Time to first token at batch {batch}"
    )


def step_chart(timings: pd.DataFrame, sizes: list[str] | tuple[str, ...] = ("160m", "1.4b", "7b"),
               batch: int = 1) -> alt.FacetChart:
    """Decode step time (ms) against prompt length, log-log, one panel per size, one line per family.

    Prompt length 0 is left out (no log position); the physical step time ``step_s`` is used.
    """
    m = (timings["batch"] == batch) & timings["step_s"].notna() & (timings["prefill"] > 0)
    df = _with_labels(timings[m & timings["size"].isin(list(sizes))])
    df = df.assign(step_ms=df["step_s"] * 1e3)[["family", "family_label", "size", "prefill", "step_ms"]]
    base = alt.Chart(df).encode(
        x=alt.X("prefill:Q", scale=_PROMPT, title="prompt length (tokens)"),
        y=alt.Y("step_ms:Q", scale=_LOG, title="decode step time (ms)"),
        color=family_color(),
        tooltip=["family_label:N", "size:O", "prefill:Q", alt.Tooltip("step_ms:Q", format=".2f")],
    )
    layer = (base.mark_line() + base.mark_point(filled=True, size=30)).properties(width=185, height=240)
    return layer.facet(facet=alt.Facet("size:O", sort=list(sizes), title="model size"), columns=len(sizes)).properties(
        title=alt.TitleParams(f"Decode step time at batch {batch}",
                              subtitle="flat for xLSTM, growing with the KV cache for the Transformer")
    )


def terms_chart(curves: pd.DataFrame, title: str, y_min_ms: float = 0.1) -> alt.FacetChart:
    """Measured times (points), the fitted model (solid) and its separate terms (dashed), log-log, per family.

    Terms at the device ceiling ("... at peak", from ``term_curves(device=...)``) are dotted, the overhead
    dash-dotted.

    Args:
        curves: :func:`xlstm_lab.chapters.inference_latency.term_curves` output (one size, one batch).
        title: chart title.
        y_min_ms: lower end of the time axis; terms below it (negligible) are clipped.
    """
    df = _with_labels(curves[curves["prefill"] > 0])
    df = df[["family_label", "size", "batch", "prefill", "series", "time_ms"]]
    order = ["measured", "model", "compute term", "memory term", "compute at peak", "memory at peak", "overhead"]
    # the overhead is purple, so it is not mistaken for the model's grey line
    colors = ["#222222", "#555555", "#e07b00", "#3b6fb6", "#f2b872", "#9ab8e0", "#9467bd"]
    present = [o for o in order if o in set(df["series"])]
    colors = [c for o, c in zip(order, colors) if o in present]
    order = present
    color = alt.Color("series:N", sort=order, scale=alt.Scale(domain=order, range=colors), title=None)
    # shape (points) and dash (lines) on the same field: one merged legend drawing a dot for "measured" and a
    # dashed stroke for each line series, as plotted
    shape = alt.Shape("series:N", sort=order, title=None,
                      scale=alt.Scale(domain=order, range=["circle" if o == "measured" else "stroke" for o in order]))
    dash = alt.StrokeDash("series:N", sort=order, title=None,
                          scale=alt.Scale(domain=order, range=[_TERM_DASH[o] for o in order]))
    y = alt.Y("time_ms:Q", scale=alt.Scale(type="log", domainMin=y_min_ms), title="time (ms)")
    x = alt.X("prefill:Q", scale=_PROMPT, title="prompt length (tokens)")
    tip = ["series:N", "prefill:Q", alt.Tooltip("time_ms:Q", format=".3g")]
    points = alt.Chart(df).transform_filter(alt.datum.series == "measured").mark_point(filled=True, size=45).encode(
        x=x, y=y, color=color, shape=shape, tooltip=tip)
    model = alt.Chart(df).transform_filter(alt.datum.series == "model").mark_line(strokeWidth=2).encode(
        x=x, y=y, color=color, strokeDash=dash, tooltip=tip)
    # a term below y_min_ms is negligible: it is left out rather than drawn along the axis
    terms = alt.Chart(df).transform_filter(
        alt.FieldOneOfPredicate(field="series", oneOf=[o for o in order if o not in ("measured", "model")])
        & (alt.datum.time_ms >= y_min_ms)
    ).mark_line().encode(x=x, y=y, color=color, strokeDash=dash, detail="series:N", tooltip=tip)
    layer = alt.layer(terms, model, points).properties(width=280, height=250)
    return layer.facet(facet=alt.Facet("family_label:N", title=None, sort=list(_FAMILY_TITLE.values())),
                       columns=2).properties(title=title
    )


def alpha_chart(per_model: pd.DataFrame, peak_label: str = "H100 SXM, 989 TFLOP/s") -> alt.LayerChart:
    """Fitted alpha_eff as a fraction of peak against parameters, one line per family (the paper's figure).

    Args:
        per_model: rows with ``family``, ``size``, ``num_params`` and ``alpha/peak``.
        peak_label: the peak the fraction refers to (axis title).
    """
    df = _with_labels(per_model[["family", "size", "num_params", "alpha/peak"]].dropna())
    base = alt.Chart(df).encode(
        x=alt.X("num_params:Q", scale=_LOG, title="parameters",
                axis=alt.Axis(values=[1e8, 2e8, 5e8, 1e9, 2e9, 5e9, 1e10],
                              labelExpr=SI_AXIS_LABEL)),
        y=alt.Y("alpha/peak:Q", title=f"alpha_eff / peak ({peak_label})", scale=alt.Scale(zero=True)),
        color=family_color(),
        tooltip=["family_label:N", "size:O", alt.Tooltip("alpha/peak:Q", format=".3f")],
    )
    return fit_width((base.mark_line() + base.mark_point(filled=True, size=50)).properties(
        height=260, title="Effective prefill throughput per model (robust fit per size)"), 420)


def roofline_chart(curve: pd.DataFrame, points: pd.DataFrame, critical: float) -> alt.LayerChart:
    """Log-log roofline (attainable TFLOP/s against FLOP/byte) with prefill and decode placed on it.

    The width follows the container (560 px where there is room), so the compute-bound side fits a phone.

    Args:
        curve: :func:`xlstm_lab.chapters.inference_latency.roofline_curve` output.
        points: :func:`xlstm_lab.chapters.inference_latency.roofline_points` output.
        critical: critical arithmetic intensity of the device (FLOP/byte), drawn as a rule.
    """
    device = str(curve["device"].iloc[0])
    x = alt.X("intensity:Q", scale=_LOG, title="arithmetic intensity (FLOP/byte)")
    y = alt.Y("attainable_tflops:Q", scale=_LOG, title="attainable TFLOP/s")
    roof = alt.Chart(curve).mark_line(color="#444444").encode(x=x, y=y)
    rule = alt.Chart(pd.DataFrame({"intensity": [critical]})).mark_rule(strokeDash=[4, 4], color="#888888").encode(
        x="intensity:Q")
    pts = points[["family", "size", "phase", "setting", "label", "intensity", "attainable_tflops", "bound"]]
    dots = alt.Chart(pts).mark_point(filled=True, size=90, opacity=0.85).encode(
        x=x, y=y, color=family_color(),
        shape=alt.Shape("phase:N", scale=alt.Scale(domain=["prefill", "decode"], range=["square", "circle"])),
        tooltip=["label:N", alt.Tooltip("intensity:Q", format=".3g"), alt.Tooltip("attainable_tflops:Q", format=".3g"),
                 "bound:N"],
    )
    # settings of the largest size only, xLSTM above its points and the Transformer's decode steps below,
    # so labels of the two families do not overlap (the Transformer's prefill points share the xLSTM labels);
    # xLSTM prefill labels alternate above and below their points (T=4096 and T=16384 sit close on the roof)
    last = pts[pts["size"] == pts["size"].iloc[-1]].copy()
    pre = last[(last["family"] == "xlstm") & (last["phase"] == "prefill")].sort_values("intensity")
    last["level"] = 0
    last.loc[pre.index[1::2], "level"] = 1
    fam_color = alt.Color("family:N", scale=alt.Scale(domain=list(FAMILY_COLORS), range=list(FAMILY_COLORS.values())),
                          legend=None)
    xl = last[last["family"] == "xlstm"]
    above = alt.Chart(xl[xl["level"] == 0]).mark_text(align="right", dx=-6, dy=-9, fontSize=10).encode(
        x=x, y=y, text="setting:N", color=fam_color)
    under = alt.Chart(xl[xl["level"] == 1]).mark_text(align="right", dx=-6, dy=16, fontSize=10).encode(
        x=x, y=y, text="setting:N", color=fam_color)
    below = alt.Chart(last[(last["family"] == "llama") & (last["phase"] == "decode")]).mark_text(
        align="left", dx=6, dy=12, fontSize=10).encode(x=x, y=y, text="setting:N", color=fam_color)
    return fit_width((roof + rule + dots + above + under + below).properties(
        height=320,
        title=alt.TitleParams(f"Roofline of {device}", subtitle="prefill is compute-bound, decoding memory-bound"),
    ), 560)
