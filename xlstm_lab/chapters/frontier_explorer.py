"""Frontier explorer: N*(C), D*(C) and the predicted loss of each family's laws on a grid of budgets and contexts.

The laws are those of the IsoFLOP and context chapters (:func:`~xlstm_lab.chapters.isoflop_optima.grid_laws`,
recomputed from runs.csv, beside :func:`~xlstm_lab.chapters.isoflop_optima.published_laws`); the loss is the
L(N, D) surface of the loss-surface chapter evaluated at (N*, D*). The output is a tidy table that the explorer
chart (:mod:`xlstm_lab.plots.explorer`) filters with a slider and a dropdown, so every number drawn is computed here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from xlstm_lab import anchors
from xlstm_lab.chapters.isoflop_optima import BUDGETS, Law, grid_laws, published_laws, size_label
from xlstm_lab.chapters.loss_surface import stored_params
from xlstm_lab.fit import fit_parametric, surface_loss
from xlstm_lab.fit.types import InvalidInputError

__all__ = [
    "Grid",
    "GRIDS",
    "SeriesLaw",
    "Surface",
    "FAMILY_NAMES",
    "SURFACE_CTX",
    "STEP_DEX",
    "grid_by_key",
    "log10_c_grid",
    "explorer_laws",
    "paper_surfaces",
    "fitted_surfaces",
    "frontier_table",
    "range_notes",
    "loss_notes",
    "at_budget",
]

FAMILY_NAMES: dict[str, str] = {"llama": "Transformer", "xlstm": "xLSTM"}
#: Context (tokens) of the over-training runs behind the L(N, D) surface: the only context it predicts.
SURFACE_CTX = 8192
#: Spacing of the budget grid in decades; the explorer's slider moves in the same steps.
STEP_DEX = 0.1


@dataclass(frozen=True)
class Grid:
    """One set of IsoFLOP laws the explorer offers: a context and the budgets its laws were fitted on.

    Attributes:
        key: identifier used by the chart's dropdown (e.g. "ctx8192-main").
        ctx: context length (tokens).
        law_set: "main" (4 budgets 6e18-1e20, ctx 8192 only) or "context" (the context study, 3 budgets 6e18-3e19).
        c_range: (low, high) FLOPs selecting the budgets that enter the laws (as in the chapters' defaults).
    """

    key: str
    ctx: int
    law_set: str
    c_range: tuple[float, float]

    @property
    def budget_values(self) -> list[float]:
        """The nominal budgets (FLOPs) that enter the laws: those in ``c_range`` (1e20 only at ctx 8192)."""
        return [c for label, c in BUDGETS.items() if self.c_range[0] <= c <= self.c_range[1]
                and not (label == "1e+20" and self.ctx != 8192)]

    @property
    def budgets(self) -> tuple[float, float]:
        """(lowest, highest) nominal budget in the laws (FLOPs): outside it a law is extrapolated."""
        return min(self.budget_values), max(self.budget_values)

    @property
    def short_label(self) -> str:
        """E.g. "ctx 8192, main set" or "ctx 2048, context study"."""
        return f"ctx {self.ctx}, {'main set' if self.law_set == 'main' else 'context study'}"

    @property
    def label(self) -> str:
        """E.g. "ctx 8192, main set (4 budgets)"."""
        return f"{self.short_label} ({len(self.budget_values)} budgets)"


#: The laws the paper publishes and the released runs allow: the main ctx-8192 set and the context study.
GRIDS: tuple[Grid, ...] = (
    Grid("ctx2048", 2048, "context", (5e18, 5e19)),
    Grid("ctx8192-main", 8192, "main", (5e18, 2e20)),
    Grid("ctx8192", 8192, "context", (5e18, 5e19)),
    Grid("ctx16384", 16384, "context", (5e18, 5e19)),
)


def grid_by_key(key: str) -> Grid:
    """The :data:`GRIDS` entry with this key.

    Raises:
        InvalidInputError: unknown key (the message lists the valid ones).
    """
    for g in GRIDS:
        if g.key == key:
            return g
    raise InvalidInputError(f"frontier explorer: unknown grid {key!r}; choose one of {[g.key for g in GRIDS]}.")


@dataclass(frozen=True)
class SeriesLaw:
    """The N*(C) and D*(C) laws of one family from one source on one grid, or why there are none.

    Attributes:
        grid: the grid. family: "llama" or "xlstm".
        source: "ours" (recomputed from runs.csv) or "paper" (the published law).
        n_law, d_law: the laws, None when there is none (then ``note`` says why).
        published_only: the paper's law for a grid whose runs are not released (it cannot be recomputed).
        note: "" or why there is no law.
    """

    grid: Grid
    family: str
    source: str
    n_law: Law | None
    d_law: Law | None
    published_only: bool = False
    note: str = ""

    @property
    def label(self) -> str:
        """E.g. "xLSTM, paper (published only)"."""
        return f"{FAMILY_NAMES[self.family]}, {self.source}{' (published only)' if self.published_only else ''}"


def explorer_laws(grids: Sequence[Grid] = GRIDS) -> list[SeriesLaw]:
    """Every (grid, family, source) law: ours where runs.csv has the grid, the paper's everywhere it published one.

    Returns:
        One SeriesLaw per grid x family x ("ours", "paper"), in that order; a missing law has n_law None and a note.
    """
    out = []
    for g in grids:
        for fam in FAMILY_NAMES:
            ours = grid_laws(fam, g.ctx, c_range=g.c_range)
            if ours.source == "recomputed":
                out.append(SeriesLaw(g, fam, "ours", ours.n_law, ours.d_law))
            else:
                out.append(SeriesLaw(g, fam, "ours", None, None, note="no law (runs not released)"))
            pub = published_laws(fam, g.ctx, g.c_range)
            if pub.n_law is None:
                out.append(SeriesLaw(g, fam, "paper", None, None, note="no published law on these budgets"))
            else:
                in_data = anchors.lookup(f"{pub.prefix}.n_opt")["a"].in_data
                out.append(SeriesLaw(g, fam, "paper", pub.n_law, pub.d_law, published_only=not in_data))
    return out


@dataclass(frozen=True)
class Surface:
    """An L(N, D) = E + (A/N^alpha + B/D^beta)^gamma surface and the region of the runs it was fitted on.

    Attributes:
        params: E, A, B, alpha, beta, gamma.
        n_range, d_range, ratio_range: (min, max) parameters, tokens and tokens per parameter of the runs; a point
            inside the N and D ranges can still lie off the runs (a D/N below the smallest trained), so all three count.
        ctx: context length of those runs (tokens); the surface predicts nothing at other contexts.
    """

    params: Mapping[str, float]
    n_range: tuple[float, float]
    d_range: tuple[float, float]
    ratio_range: tuple[float, float]
    ctx: int = SURFACE_CTX

    def loss(self, n: object, d: object) -> np.ndarray:
        """Predicted loss (nats/token) at N parameters and D tokens (broadcast shapes)."""
        return surface_loss(n, d, **self.params)

    def inside(self, n: object, d: object) -> np.ndarray:
        """Whether (N, D) lies within the runs' ranges of N, D and D/N (else the loss is extrapolated)."""
        n, d = np.asarray(n, dtype=np.float64), np.asarray(d, dtype=np.float64)
        within = [(x >= lo) & (x <= hi) for x, (lo, hi) in ((n, self.n_range), (d, self.d_range),
                                                           (d / n, self.ratio_range))]
        return within[0] & within[1] & within[2]


def _boxes(runs: pd.DataFrame) -> dict[str, tuple[tuple[float, float], ...]]:
    out = {}
    for fam, r in runs.groupby("family"):
        ratio = r["D"] / r["N"]
        out[fam] = tuple((float(x.min()), float(x.max())) for x in (r["N"], r["D"], ratio))
    return out


def paper_surfaces(runs: pd.DataFrame, gamma: bool = True) -> dict[str, Surface]:
    """The paper's stored surface per family (``PAPER["surface.*"]``), with the box of the over-training runs.

    Args:
        runs: :func:`~xlstm_lab.chapters.loss_surface.select_runs` output (for the (N, D) box only).
        gamma: the form with the outer exponent gamma (True) or gamma = 1.
    """
    boxes = _boxes(runs)
    return {fam: Surface(stored_params(fam, gamma), *boxes[fam]) for fam in FAMILY_NAMES}


def fitted_surfaces(runs: pd.DataFrame, gamma: bool = True, delta: float = 1e-3) -> dict[str, Surface]:
    """Our refit of the surface per family, as the loss-surface chapter makes it (Huber L-BFGS, no bootstrap).

    Args:
        runs: :func:`~xlstm_lab.chapters.loss_surface.select_runs` output. gamma: fit the outer exponent.
        delta: Huber threshold on log-loss residuals (the chapter's default, the paper's 1e-3).
    """
    boxes = _boxes(runs)
    out = {}
    for fam in FAMILY_NAMES:
        fit = fit_parametric(data=runs[runs["family"] == fam], N="N", D="D", loss="loss", gamma=gamma, delta=delta)
        params = {k: float(getattr(fit, k)) for k in ("E", "A", "B", "alpha", "beta", "gamma")}
        out[fam] = Surface(params, *boxes[fam])
    return out


def log10_c_grid(c_min: float, c_max: float, step_dex: float = STEP_DEX) -> np.ndarray:
    """log10 C on a regular grid of ``step_dex`` decades covering [c_min, c_max] (ends rounded outwards).

    Raises:
        InvalidInputError: non-positive or non-finite bounds, c_min >= c_max, or step_dex <= 0.
    """
    ok = all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in (c_min, c_max, step_dex))
    if not ok or not c_min < c_max:
        raise InvalidInputError(
            f"frontier explorer: need 0 < c_min < c_max (FLOPs) and step_dex > 0, got c_min={c_min!r}, "
            f"c_max={c_max!r}, step_dex={step_dex!r}; e.g. c_min=1e18, c_max=1e25.")
    lo = math.floor(round(math.log10(c_min) / step_dex, 9)) * step_dex
    hi = math.ceil(round(math.log10(c_max) / step_dex, 9)) * step_dex
    n = int(round((hi - lo) / step_dex)) + 1
    return np.round(lo + step_dex * np.arange(n), 10)


def _fmt_c(c: float) -> str:
    """1e20 -> "1e20", 3e19 -> "3e19", 6.3e18 -> "6.3e18" (compact FLOPs for the chart's notes)."""
    mant, exp = f"{c:.2g}".split("e")
    return f"{mant}e{int(exp)}"


def _readout(s: SeriesLaw, n: float, d: float, loss: float, extrapolated: bool) -> str:
    if s.n_law is None:
        return f"{s.label}: {s.note}"
    loss_text = "L n/a (no surface at this ctx)" if math.isnan(loss) else f"L {loss:.3f}"
    if extrapolated and not math.isnan(loss):
        loss_text += " (extrapolated)"
    return f"{s.label}\n  N* {size_label(n)}, D* {size_label(d)}, {loss_text}"


def frontier_table(log10_c: object, laws: Sequence[SeriesLaw], surfaces: Mapping[str, Surface] | None = None,
                   paper_surface: Mapping[str, Surface] | None = None) -> pd.DataFrame:
    """The laws' N*, D* and predicted loss at every budget of a grid, for every (grid, family, source).

    The loss is L(N*(C), D*(C)) of the family's surface: ``surfaces`` for our laws, ``paper_surface`` for the
    paper's (pass the same mapping twice to use one surface for both). It is NaN at contexts other than the
    surface's (:data:`SURFACE_CTX`). A series without a law keeps its rows, with NaN values and its note, so the
    chart can say so instead of leaving a gap.

    Args:
        log10_c: shape (m,), log10 of the budgets (FLOPs), e.g. :func:`log10_c_grid`.
        laws: from :func:`explorer_laws`.
        surfaces, paper_surface: family -> Surface, or None (loss NaN everywhere).

    Returns:
        One row per (series, budget): grid, grid_label, ctx, law_set, family, source, series (label),
        published_only, has_law, note, log10_C, C, N_opt (parameters), D_opt (tokens), tokens_per_param,
        loss (nats/token), budget_lo, budget_hi (the laws' lowest and highest fitted budget, FLOPs), in_budgets
        (C inside them), loss_extrapolated ((N*, D*) outside the surface's runs in N, D or D/N), readout (the text
        the chart shows for this series at this budget).
    """
    lc = np.asarray(log10_c, dtype=np.float64).ravel()
    if lc.size == 0 or not np.isfinite(lc).all():
        raise InvalidInputError(f"frontier_table: log10_c must be finite values, got {log10_c!r}.")
    c = 10.0 ** lc
    parts = []
    for s in laws:
        nan = np.full(lc.shape, np.nan)
        n = s.n_law(c) if s.n_law is not None else nan
        d = s.d_law(c) if s.d_law is not None else nan
        surf = (surfaces if s.source == "ours" else paper_surface) or {}
        sf = surf.get(s.family)
        usable = sf is not None and sf.ctx == s.grid.ctx and s.n_law is not None
        loss = sf.loss(n, d) if usable else nan
        outside = ~sf.inside(n, d) if usable else np.zeros(lc.shape, dtype=bool)
        lo, hi = s.grid.budgets
        parts.append(pd.DataFrame({
            "grid": s.grid.key, "grid_label": s.grid.label, "ctx": s.grid.ctx, "law_set": s.grid.law_set,
            "family": s.family, "source": s.source, "series": s.label, "published_only": s.published_only,
            "has_law": s.n_law is not None, "note": s.note, "log10_C": lc, "C": c, "N_opt": n, "D_opt": d,
            "tokens_per_param": d / n, "loss": loss, "budget_lo": lo, "budget_hi": hi,
            "in_budgets": (c >= lo * (1 - 1e-9)) & (c <= hi * (1 + 1e-9)),
            "loss_extrapolated": outside,
            "readout": [_readout(s, n[i], d[i], loss[i], bool(outside[i])) for i in range(lc.size)],
        }))
    return pd.concat(parts, ignore_index=True)


def range_notes(log10_c: object, grids: Sequence[Grid] = GRIDS) -> pd.DataFrame:
    """Per (grid, budget): whether the budget lies inside the laws' fitted budgets, as a sentence for the chart.

    Returns:
        grid, log10_C, C, extrapolated (bool), decades (distance to the fitted range in decades; 0 inside),
        headline ("C = 1e20 FLOPs, ctx 8192, main set"), note ("inside the fitted budgets 6e18–1e20"
        or "EXTRAPOLATION: 1.5 decades above" and "the fitted budgets 6e18–3e19" on a second line, so it
        fits a phone).
    """
    lc = np.asarray(log10_c, dtype=np.float64).ravel()
    rows = []
    for g in grids:
        lo, hi = g.budgets
        span = f"{_fmt_c(lo)}–{_fmt_c(hi)}"
        for x in lc:
            c = 10.0 ** x
            below, above = math.log10(lo) - x, x - math.log10(hi)
            dec = max(below, above, 0.0)
            ext = dec > 1e-9
            side = "below" if below > 0 else "above"
            note = (f"EXTRAPOLATION: {dec:.1f} decades {side}\nthe fitted budgets {span}" if ext
                    else f"inside the fitted budgets {span}")
            rows.append({"grid": g.key, "log10_C": float(x), "C": c, "extrapolated": ext, "decades": dec,
                         "headline": f"C = {_fmt_c(c)} FLOPs, {g.short_label}", "note": note})
    return pd.DataFrame(rows)


def at_budget(table: pd.DataFrame, budget: float) -> pd.DataFrame:
    """The rows of :func:`frontier_table` at the grid budget nearest to ``budget`` (one per grid, family, source).

    Raises:
        InvalidInputError: budget not a positive number, or more than half a grid step from every budget.
    """
    if not (isinstance(budget, (int, float)) and math.isfinite(budget) and budget > 0):
        raise InvalidInputError(f"at_budget: budget must be a positive number of FLOPs, got {budget!r}.")
    x = math.log10(budget)
    grid = np.unique(table["log10_C"].to_numpy())
    nearest = grid[np.argmin(np.abs(grid - x))]
    step = float(np.min(np.diff(grid))) if grid.size > 1 else STEP_DEX
    if abs(nearest - x) > step / 2 + 1e-9:
        raise InvalidInputError(
            f"at_budget: budget {budget:.3g} lies outside the table's budgets ({10 ** grid[0]:.3g} to "
            f"{10 ** grid[-1]:.3g} FLOPs); choose one inside or widen c_min, c_max.")
    return table[np.isclose(table["log10_C"], nearest)].reset_index(drop=True)


def loss_notes(grids: Sequence[Grid] = GRIDS) -> pd.DataFrame:
    """Per grid: "" or why the loss panel is empty (the surface was fitted at ctx 8192 only), on two lines."""
    why = f"the surface was fitted on ctx-{SURFACE_CTX} runs"
    notes = ["" if g.ctx == SURFACE_CTX else f"no L(N, D) at ctx {g.ctx}:\n{why}" for g in grids]
    return pd.DataFrame({"grid": [g.key for g in grids], "note": notes})
