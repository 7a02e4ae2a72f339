"""Charts of the parametric loss surface L(N, D): binned contours with the runs, residuals, bootstrap, frontier."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from xlstm_lab.plots.theme import FAMILY_LABELS, family_color, fit_width, si_label

_DR_TICKS = [20, 50, 100, 200, 500, 1000, 2000, 5000]

__all__ = ["contour_chart", "residual_chart", "bootstrap_chart", "compute_optimal_chart"]


def _loss_color(step: float, domain: tuple[float, float]) -> alt.Color:
    # Binned colour turns the cell grid into filled contour bands of width `step` nats; one shared scale lets the
    # runs (coloured by observed loss) be read against the surface (coloured by predicted loss).
    return alt.Color(
        "loss:Q", bin=alt.Bin(step=step, extent=list(domain)), title="loss (nats)",
        scale=alt.Scale(scheme="viridis", reverse=True),
    )


def contour_chart(grid: pd.DataFrame, runs: pd.DataFrame, frontier: pd.DataFrame | None = None, *,
                  step: float = 0.1, width: int = 230, height: int = 230) -> alt.ConcatChart:
    """One panel per family: the fitted surface as binned colour on a (log10 N, log10 D) grid, runs on top.

    Args:
        grid: ``loss_surface.surface_grid`` output (family, log10_N, log10_N2, log10_D, log10_D2, loss).
        runs: runs with family, model_size, N, D, tokens_per_param, loss (observed) and predicted.
        frontier: optional compute-optimal path (family, N_opt, D_opt, C), drawn as a white line.
        step: contour spacing in nats. width, height: panel size in pixels.

    Returns:
        Altair chart (two panels that wrap on a phone, shared colour scale).
    """
    lo = float(min(grid["loss"].min(), runs["loss"].min()))
    hi = float(max(grid["loss"].max(), runs["loss"].max()))
    domain = (step * (lo // step), step * (hi // step + 1))
    color = _loss_color(step, domain)
    # No grid lines: they would be drawn over the coloured cells.
    x = alt.X("log10_N:Q", title="log10 N (parameters)", scale=alt.Scale(zero=False, nice=False),
              axis=alt.Axis(grid=False))
    y = alt.Y("log10_D:Q", title="log10 D (tokens)", scale=alt.Scale(zero=False, nice=False), axis=alt.Axis(grid=False))
    pts = runs.assign(log10_N=np.log10(runs["N"].to_numpy(float)), log10_D=np.log10(runs["D"].to_numpy(float)))
    panels = []
    for fam in sorted(grid["family"].unique(), key=lambda f: f != "llama"):
        cells = alt.Chart(grid[grid["family"] == fam]).mark_rect(strokeWidth=0).encode(
            x=x, x2="log10_N2:Q", y=y, y2="log10_D2:Q", color=color,
            tooltip=[alt.Tooltip("N_si:N", title="N"), alt.Tooltip("D_si:N", title="D"),
                     alt.Tooltip("loss:Q", format=".3f", title="predicted loss")],
        ).transform_calculate(N_si=si_label("N"), D_si=si_label("D"))
        layers = [cells]
        if frontier is not None:
            f = frontier[frontier["family"] == fam]
            f = f.assign(log10_N=np.log10(f["N_opt"].to_numpy(float)), log10_D=np.log10(f["D_opt"].to_numpy(float)))
            layers.append(alt.Chart(f).mark_line(color="white", strokeWidth=2, strokeDash=[5, 3]).encode(
                x="log10_N:Q", y="log10_D:Q", order="C:Q",
                tooltip=[alt.Tooltip("C:Q", format=".2e", title="budget (FLOPs)")]))
        layers.append(alt.Chart(pts[pts["family"] == fam]).mark_point(filled=True, size=70, stroke="black",
                                                                      strokeWidth=1, opacity=1).encode(
            x="log10_N:Q", y="log10_D:Q", color=color,
            tooltip=["model_size:N", alt.Tooltip("tokens_per_param:Q", format=".0f", title="D/N"),
                     alt.Tooltip("loss:Q", format=".3f", title="observed"),
                     alt.Tooltip("predicted:Q", format=".3f")]))
        panels.append(alt.layer(*layers).properties(width=width, height=height, title=FAMILY_LABELS[fam]))
    return alt.concat(*panels, columns=len(panels)).resolve_scale(color="shared")


def residual_chart(resid: pd.DataFrame, x: str = "tokens_per_param", *, width: int = 230,
                   height: int = 220) -> alt.ConcatChart:
    """Residual (predicted - observed, nats) of each run against D/N or N, one panel per family (panels wrap).

    Args:
        resid: ``loss_surface.residual_frame`` output. x: "tokens_per_param" or "N" (log axis).
    """
    if x not in ("tokens_per_param", "N"):
        raise ValueError(f"residual_chart: x must be 'tokens_per_param' or 'N', got {x!r}.")
    title = "D/N (tokens per parameter)" if x == "tokens_per_param" else "N (parameters)"
    ymax = float(resid["residual"].abs().max()) * 1.1
    lo, hi = float(resid[x].min()), float(resid[x].max())
    sizes = [s for s in ("160M", "400M", "830M", "1.4B", "2.7B", "7B", "7B long") if s in set(resid["model_size"])]
    ticks = [v for v in _DR_TICKS if lo / 1.3 <= v <= hi * 1.3]
    panels = []
    for fam in sorted(resid["family"].unique(), key=lambda f: f != "llama"):
        d = resid[resid["family"] == fam]
        pts = alt.Chart(d).mark_point(filled=True, size=55).encode(
            x=alt.X(f"{x}:Q", title=title, scale=alt.Scale(type="log", domain=[lo / 1.3, hi * 1.3], nice=False),
                    axis=alt.Axis(values=ticks) if x == "tokens_per_param" else alt.Axis()),
            y=alt.Y("residual:Q", title="predicted − observed (nats)", scale=alt.Scale(domain=[-ymax, ymax])),
            # Colour repeats the panel's family (no legend needed); shape tells the model sizes apart.
            color=family_color().legend(None),
            shape=alt.Shape("model_size:N", title="model", scale=alt.Scale(domain=sizes)),
            tooltip=["model_size:N", alt.Tooltip("tokens_per_param:Q", format=".0f", title="D/N"),
                     alt.Tooltip("loss:Q", format=".4f"), alt.Tooltip("predicted:Q", format=".4f"),
                     alt.Tooltip("residual:Q", format="+.4f")],
        )
        zero = alt.Chart(pd.DataFrame({"y": [0.0]})).mark_rule(color="gray").encode(y="y:Q")
        panels.append(alt.layer(zero, pts).properties(width=width, height=height, title=FAMILY_LABELS[fam]))
    return alt.concat(*panels, columns=len(panels))


def bootstrap_chart(samples: pd.DataFrame, estimates: pd.DataFrame, x: str = "alpha", y: str = "beta", *,
                    width: int = 320, height: int = 260) -> alt.LayerChart:
    """Bootstrap resamples of two parameters (default alpha vs beta), coloured by family, with the point estimates.

    The width follows the container (``width`` px where there is room).

    Args:
        samples: rows of bootstrap parameter sets with a ``family`` column. estimates: one row per family.
    """
    base = alt.Chart(samples).mark_point(opacity=0.45, size=25, filled=True).encode(
        x=alt.X(f"{x}:Q", title=x, scale=alt.Scale(zero=False)),
        y=alt.Y(f"{y}:Q", title=y, scale=alt.Scale(zero=False)), color=family_color(),
        tooltip=["family:N", alt.Tooltip(f"{x}:Q", format=".3f"), alt.Tooltip(f"{y}:Q", format=".3f")],
    )
    est = alt.Chart(estimates).mark_point(shape="diamond", size=160, filled=True, stroke="black").encode(
        x=f"{x}:Q", y=f"{y}:Q", color=family_color())
    return fit_width(alt.layer(base, est).properties(height=height), width)


def compute_optimal_chart(frame: pd.DataFrame, *, width: int = 420, height: int = 280) -> alt.LayerChart:
    """Predicted loss of each family's compute-optimal allocation against the budget, with bootstrap bands.

    The width follows the container (``width`` px where there is room).

    Args:
        frame: ``loss_surface.compute_optimal_frame`` output (family, C, L_opt, L_lo, L_hi, N_opt, tokens_per_param).
    """
    x = alt.X("C:Q", title="training compute C (FLOPs, paper's count)", axis=alt.Axis(format=".0e"),
              scale=alt.Scale(type="log", domain=[float(frame["C"].min()), float(frame["C"].max())], nice=False))
    band = alt.Chart(frame).mark_area(opacity=0.25).encode(x=x, y=alt.Y("L_lo:Q", scale=alt.Scale(zero=False)),
                                                             y2="L_hi:Q", color=family_color())
    line = alt.Chart(frame).mark_line(strokeWidth=2).encode(
        x=x, y=alt.Y("L_opt:Q", title="compute-optimal loss (nats)", scale=alt.Scale(zero=False)), color=family_color(),
        tooltip=["family:N", alt.Tooltip("C:Q", format=".2e"), alt.Tooltip("L_opt:Q", format=".4f"),
                 alt.Tooltip("N_si:N", title="N_opt"), alt.Tooltip("tokens_per_param:Q", format=".1f", title="D/N")],
    ).transform_calculate(N_si=si_label("N_opt"))
    return fit_width(alt.layer(band, line).properties(height=height), width)

