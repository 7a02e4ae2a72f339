"""Charts of the inference chapter's lab half: our measured TTFT and step times, the fitted terms, the state's memory.

Every chart is one view whose width follows its container (``theme.fit_width``), so it fits the book's column
down to a 390 px phone (no side-by-side facets); families are told apart by colour, sizes and terms by the line's dash.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from xlstm_lab.plots.theme import FAMILY_LABELS, family_color, fit_width

__all__ = ["measured_chart", "measured_terms_chart", "memory_chart"]

_LOG = alt.Scale(type="log", nice=False)
_KIND = {"ttft": ("ttft_s", "time to first token (ms)"), "step": ("step_s", "decode step time (ms)")}
_DASHES = {"model": [1, 0], "compute term": [6, 3], "memory term": [6, 3], "compute at peak": [2, 2],
           "memory at peak": [2, 2], "overhead": [8, 3, 2, 3]}


def _legend() -> alt.Legend:
    """A legend of line styles: each entry drawn as a long stroke, so its dash pattern shows."""
    return alt.Legend(orient="bottom", direction="horizontal", columns=2, symbolType="stroke", symbolSize=500,
                      symbolStrokeWidth=2, symbolStrokeColor="#444")


def measured_chart(rows: pd.DataFrame, kind: str, batch: int, title: str) -> alt.LayerChart:
    """Median TTFT or step time (ms) against the prompt length, log-log, one line per family and size.

    Args:
        rows: measurement rows (``xlstm_lab.inference.CSV_COLUMNS``).
        kind: "ttft" or "step".
        batch: the batch size shown.
        title: chart title.
    """
    col, axis = _KIND[kind]
    df = rows[rows["batch"] == batch].assign(time_ms=lambda d: d[col] * 1e3,
                                             lo_ms=lambda d: d[f"{col[:-2]}_min_s"] * 1e3,
                                             hi_ms=lambda d: d[f"{col[:-2]}_max_s"] * 1e3)
    df = df[["family", "size", "prompt_tokens", "time_ms", "lo_ms", "hi_ms"]].assign(size=lambda d: d["size"].astype(str))
    base = alt.Chart(df).encode(
        x=alt.X("prompt_tokens:Q", scale=_LOG, title="prompt length (tokens)"),
        color=family_color(),
        detail="size:N",
    )
    line = base.mark_line().encode(
        y=alt.Y("time_ms:Q", scale=_LOG, title=axis),
        strokeDash=alt.StrokeDash("size:N", title="size", legend=_legend()),
        tooltip=["family:N", "size:N", "prompt_tokens:Q", alt.Tooltip("time_ms:Q", format=".3f"),
                 alt.Tooltip("lo_ms:Q", format=".3f", title="min ms"), alt.Tooltip("hi_ms:Q", format=".3f",
                                                                                 title="max ms")],
    )
    spread = base.mark_rule(opacity=0.6).encode(y="lo_ms:Q", y2="hi_ms:Q")
    # the points carry no dash encoding, so the size legend shows the lines' dashes, not dots
    points = base.mark_point(filled=True, size=28).encode(y=alt.Y("time_ms:Q", scale=_LOG),
                                                          tooltip=["family:N", "size:N", "prompt_tokens:Q"])
    chart = fit_width((spread + line + points).properties(height=260, title=title), 420)
    return chart.configure_legend(orient="bottom")


def measured_terms_chart(curves: pd.DataFrame, title: str, y_min_ms: float = 1e-3) -> alt.LayerChart:
    """Measured times (points), the fitted model (solid) and its separate terms (dashed; at this machine's
    measured peak, dotted; overhead, dash-dotted), ms against the prompt, both families in one view.

    Args:
        curves: ``chapters.inference_measured.term_curves`` output for one size and batch, both families.
        title: chart title.
        y_min_ms: terms below this are clipped (negligible).
    """
    df = curves.assign(family_label=curves["family"].map(FAMILY_LABELS))
    df = df[df["time_ms"] >= y_min_ms][["family", "family_label", "series", "prompt_tokens", "time_ms"]]
    x = alt.X("prompt_tokens:Q", scale=_LOG, title="prompt length (tokens)")
    y = alt.Y("time_ms:Q", scale=_LOG, title="time (ms)")
    tip = ["family_label:N", "series:N", "prompt_tokens:Q", alt.Tooltip("time_ms:Q", format=".4f")]
    present = [s for s in _DASHES if s in set(df["series"])]
    lines = alt.Chart(df[df["series"] != "measured"]).mark_line().encode(
        x=x, y=y, color=family_color(), detail="series:N", tooltip=tip,
        strokeDash=alt.StrokeDash("series:N", title="line", scale=alt.Scale(domain=present,
                                                                            range=[_DASHES[s] for s in present]),
                                  legend=_legend()),
    )
    points = alt.Chart(df[df["series"] == "measured"]).mark_point(filled=True, size=34).encode(
        x=x, y=y, color=family_color(), tooltip=tip)
    chart = fit_width((lines + points).properties(height=280, title=title), 420)
    return chart.configure_legend(orient="bottom")


def memory_chart(mem: pd.DataFrame, title: str) -> alt.LayerChart:
    """Decode-state bytes (MiB) against the context: measured tensor bytes (points) and accounting's (line)."""
    df = mem.assign(measured_mib=mem["state_bytes"] / 2**20, predicted_mib=mem["state_bytes_predicted"] / 2**20)
    base = alt.Chart(df).encode(x=alt.X("context:Q", scale=_LOG, title="context (tokens)"), color=family_color())
    line = base.mark_line().encode(y=alt.Y("predicted_mib:Q", scale=_LOG, title="decode state (MiB)"))
    points = base.mark_point(filled=True, size=40).encode(
        y="measured_mib:Q", tooltip=["family:N", "context:Q", alt.Tooltip("measured_mib:Q", format=".4f"),
                                     alt.Tooltip("predicted_mib:Q", format=".4f")])
    chart = fit_width((line + points).properties(height=240, title=title), 420)
    return chart.configure_legend(orient="bottom")
