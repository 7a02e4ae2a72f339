"""Charts of the methods chapter "Training at lab scale": calibration grid, compression rates, speed."""

from __future__ import annotations

import altair as alt
import pandas as pd

from xlstm_lab.plots.theme import FAMILY_LABELS, SI_AXIS_LABEL, family_color, fit_width

__all__ = ["calibration_chart", "bits_per_byte_chart", "throughput_chart"]


def calibration_chart(cal: pd.DataFrame, *, width: int = 150, height: int = 120) -> alt.ConcatChart:
    """Validation loss above the best cell of each (family, budget) over learning rate x batch size.

    Args:
        cal: calibration runs (``chapters.lab_training.calibration_runs``): family, budget_flops, lr, batch_size,
            val_loss.
        width, height: one panel in pixels (two panels a row, so four fit a 390 px phone in two rows).
    """
    cell = cal.groupby(["family", "budget_flops", "lr", "batch_size"], as_index=False)["val_loss"].mean()
    cell["gap"] = cell["val_loss"] - cell.groupby(["family", "budget_flops"])["val_loss"].transform("min")
    panels = []
    for (fam, budget), g in cell.groupby(["family", "budget_flops"]):
        panels.append(alt.Chart(g).mark_rect().encode(
            x=alt.X("lr:O", title="peak lr", axis=alt.Axis(format=".3~g", labelAngle=-45)),
            y=alt.Y("batch_size:O", title="sequences / step", sort="descending"),
            color=alt.Color("gap:Q", title="nats above best", scale=alt.Scale(scheme="blues", reverse=True,
                                                                              domain=[0, 0.3], clamp=True)),
            tooltip=["lr:Q", "batch_size:Q", alt.Tooltip("val_loss:Q", format=".4f"),
                     alt.Tooltip("gap:Q", format=".3f")],
        ).properties(title=f"{FAMILY_LABELS[fam].split(' ')[0]}, C = {budget:.0e}", width=width, height=height))
    return alt.concat(*panels, columns=2).configure_legend(orient="bottom")


def bits_per_byte_chart(rates: pd.DataFrame) -> alt.Chart:
    """Bits per byte on the validation split: compressors and our best models (``label``, ``bpb``, ``kind``)."""
    chart = alt.Chart(rates).mark_bar().encode(
        x=alt.X("bpb:Q", title="bits per byte on the validation split", scale=alt.Scale(zero=True)),
        y=alt.Y("label:N", title=None, sort=alt.EncodingSortField("bpb", order="ascending")),
        color=alt.Color("kind:N", title=None, scale=alt.Scale(scheme="tableau10"),
                        legend=alt.Legend(orient="bottom")),
        tooltip=["label:N", alt.Tooltip("bpb:Q", format=".3f")],
    ).properties(height=28 * len(rates))
    return fit_width(chart, 420)


def throughput_chart(speed: pd.DataFrame) -> alt.Chart:
    """Training tokens per second against parameters, per family (medians over the lab runs)."""
    base = alt.Chart(speed).encode(
        x=alt.X("N_params:Q", title="parameters N", scale=alt.Scale(type="log"), axis=alt.Axis(labelExpr=SI_AXIS_LABEL)),
        y=alt.Y("tokens_per_s:Q", title="training tokens / s", scale=alt.Scale(type="log")),
        color=family_color(),
        tooltip=["family:N", "d_model:Q", "n_layers:Q", "N_params:Q", alt.Tooltip("tokens_per_s:Q", format=",.0f"),
                 "threads:N", "runs:Q"],
    )
    return fit_width((base.mark_line() + base.mark_point(filled=True, size=40)).properties(height=240), 420)
