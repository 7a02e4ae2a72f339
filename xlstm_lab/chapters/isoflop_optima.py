"""IsoFLOP optima chapter: per-budget optima, N*(C) and D*(C) laws beside the paper's, compute-optimal sizes.

The compute–loss plane (Pareto fronts) of the same chapter is in :mod:`xlstm_lab.chapters.compute_loss_plane`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from xlstm_lab import anchors
from xlstm_lab.fit import FewPointsWarning, IsoflopFit, PowerLawFit, fit_isoflop
from xlstm_lab.fit.types import InvalidInputError, validate_arrays

__all__ = [
    "BUDGETS",
    "Law",
    "load_set",
    "fit_set",
    "GridLaws",
    "grid_laws",
    "published_laws",
    "paper_prefix",
    "law_table",
    "optima_table",
    "parabola_frame",
    "power_law_frames",
    "compute_optimal",
    "compute_optimal_table",
    "compute_optimal_wide",
    "size_label",
]

#: Nominal budgets of the paper's IsoFLOP grids (labels as in runs.csv ``isoflop_bucket``) -> FLOPs.
BUDGETS: dict[str, float] = {"6e+18": 6e18, "1e+19": 1e19, "3e+19": 3e19, "1e+20": 1e20}
_MAIN = frozenset(BUDGETS)  # the main set: 4 budgets in [5e18, 2e20], ctx 8192 only
_CTX = frozenset({"6e+18", "1e+19", "3e+19"})  # the context study: 3 budgets in [5e18, 5e19]
_FAMILY = {"llama": "Transformer", "xlstm": "xLSTM"}


@dataclass(frozen=True)
class Law:
    """A compute-optimal power law x*(C) = k·C^a (C in FLOPs, paper convention).

    Attributes:
        k: prefactor (parameters or tokens per FLOP^a).
        a: exponent (dimensionless).
    """

    k: float
    a: float

    def __call__(self, c: object) -> np.ndarray:
        """x* at compute ``c`` (FLOPs, any shape)."""
        return self.k * np.asarray(c, dtype=np.float64) ** self.a

    def inverse(self, x: object) -> np.ndarray:
        """The compute C at which x* = ``x`` (any shape): C = (x / k)^(1/a)."""
        return (np.asarray(x, dtype=np.float64) / self.k) ** (1.0 / self.a)

    @classmethod
    def from_fit(cls, fit: PowerLawFit) -> Law:
        """The law of a :class:`PowerLawFit`."""
        return cls(float(fit.k), float(fit.a))


def load_set(family: str, ctx: int, experiment_set: str = "isoflop") -> pd.DataFrame:
    """Runs of one IsoFLOP grid that a parabola fit can use: a finite loss and a named budget.

    The main ``isoflop`` set is filtered as upstream filters it (``repo_selected``); the two extra sets have no
    upstream filter, so only runs without a loss (failed) and runs outside any budget ("extra") are dropped.

    Raises:
        ValueError: no such grid; for the xLSTM ctx-2048/8192 main grids the message names the missing pickle.
    """
    df = anchors.load_isoflop_runs(family, ctx, selected_only=experiment_set == "isoflop",
                                   experiment_set=experiment_set)
    keep = df["val_dclm_loss"].notna() & df["isoflop_bucket"].isin(list(BUDGETS))
    return df[keep].reset_index(drop=True)


def _fit(runs: pd.DataFrame, c_range: tuple[float, float] | None) -> IsoflopFit:
    with warnings.catch_warnings():
        # 3-4 budgets always leave dof <= 2 for the power law; law_table reports dof, so the warning adds nothing.
        warnings.simplefilter("ignore", FewPointsWarning)
        return fit_isoflop(runs, budget_col="isoflop_bucket", c_range=c_range)


def fit_set(
    family: str,
    ctx: int,
    *,
    experiment_set: str = "isoflop",
    c_range: tuple[float, float] | None = None,
) -> IsoflopFit:
    """Fit the paper's IsoFLOP method (parabola in log10 N per budget, OLS power laws) on one released grid.

    Args:
        family: "llama" or "xlstm".
        ctx: context length of the grid (2048, 8192, 16384).
        experiment_set: "isoflop", "isoflop_flops_chinchilla" or "isoflop_large_gbs256".
        c_range: (low, high) FLOPs; budgets whose mean C lies inside enter the power laws.

    Intervals (95%): Fieller's for each optimum, t for the exponents (see ``fit_isoflop``).
    """
    return _fit(load_set(family, ctx, experiment_set), c_range)


def _budgets_in(c_range: tuple[float, float], ctx: int) -> frozenset[str]:
    # 1e20 exists only in the ctx-8192 grids; budget means sit within 2% of the nominal value.
    avail = BUDGETS if ctx == 8192 else {b: c for b, c in BUDGETS.items() if b != "1e+20"}
    return frozenset(b for b, c in avail.items() if c_range[0] <= c <= c_range[1])


def paper_prefix(family: str, ctx: int, budgets: object) -> str | None:
    """The ``PAPER`` key prefix of the published law fitted on exactly these budgets, or None.

    Args:
        family: "llama" or "xlstm".
        ctx: context length.
        budgets: budget labels in the law (e.g. ``fit.optima.loc[fit.optima.in_fit_range, "budget"]``).

    Returns:
        "isoflop.main.{family}.ctx8192" for the 4 main budgets at ctx 8192, "isoflop.ctx.{family}.ctx{ctx}" for
        the 3 context-study budgets, None for any other selection (no published law to compare with).
    """
    chosen = frozenset(str(b) for b in budgets)
    prefix = None
    if ctx == 8192 and chosen == _MAIN:
        prefix = f"isoflop.main.{family}.ctx8192"
    elif chosen == _CTX:
        prefix = f"isoflop.ctx.{family}.ctx{ctx}"
    return prefix if prefix is not None and f"{prefix}.n_opt.a" in anchors.PAPER else None


@dataclass(frozen=True, eq=False)
class GridLaws:
    """N*(C) and D*(C) of one (family, context) grid: recomputed from runs.csv, or the paper's where not released.

    Attributes:
        family: "llama" or "xlstm".
        ctx: context length (tokens).
        source: "recomputed" (fitted here on runs.csv) or "published" (the paper's law; its runs are not released
            or it is shown for comparison).
        n_law, d_law: the laws (None if no published law matches the chosen budgets).
        prefix: PAPER key prefix of the published law on the same budgets, or None.
        fit: the IsoflopFit (recomputed only); its ``n_opt`` carries the intervals of derived quantities
            (:meth:`~xlstm_lab.fit.PowerLawFit.value_interval`, :meth:`~xlstm_lab.fit.PowerLawFit.inverse_interval`).
    """

    family: str
    ctx: int
    source: str
    n_law: Law | None
    d_law: Law | None
    prefix: str | None
    fit: IsoflopFit | None = None

    @property
    def label(self) -> str:
        """E.g. "Transformer 8192 (ours)" or "xLSTM 8192 (paper)" (family, context, source)."""
        return f"{_FAMILY[self.family]} {self.ctx} ({'ours' if self.source == 'recomputed' else 'paper'})"


def published_laws(family: str, ctx: int, c_range: tuple[float, float]) -> GridLaws:
    """The paper's laws of a grid for the budgets a ``c_range`` selects (laws None where none was published)."""
    prefix = paper_prefix(family, ctx, _budgets_in(c_range, ctx))
    n_law = d_law = None
    if prefix is not None:
        n, d = anchors.lookup(f"{prefix}.n_opt"), anchors.lookup(f"{prefix}.d_opt")
        n_law, d_law = Law(n["k"].value, n["a"].value), Law(d["k"].value, d["a"].value)
    return GridLaws(family, int(ctx), "published", n_law, d_law, prefix)


def grid_laws(family: str, ctx: int, *, c_range: tuple[float, float]) -> GridLaws:
    """Recompute a grid's laws from runs.csv, or fall back to the paper's where the runs are not released.

    Args:
        family: "llama" or "xlstm".
        ctx: context length; (xlstm, 2048) and (xlstm, 8192) are in ``anchors.MISSING_ISOFLOP``.
        c_range: (low, high) FLOPs of the budgets entering the laws.

    Intervals are analytic and deterministic: Fieller's for each optimum, t for the exponents, and the laws'
    value and inverse intervals for derived quantities (see :class:`~xlstm_lab.fit.PowerLawFit`).

    Raises:
        InvalidInputError: fewer than 2 released budgets in c_range.
    """
    if (family, int(ctx)) in anchors.MISSING_ISOFLOP:
        return published_laws(family, ctx, c_range)
    fit = _fit(load_set(family, ctx), c_range)
    if fit.n_opt is None:
        raise InvalidInputError(
            f"grid_laws: {family} ctx {ctx}: fewer than 2 budgets with C in {c_range}; widen the range "
            "(the released budgets sit near 6e18, 1e19, 3e19 and, at ctx 8192, 1e20)."
        )
    prefix = paper_prefix(family, ctx, fit.optima.loc[fit.optima["in_fit_range"], "budget"])
    return GridLaws(family, int(ctx), "recomputed", Law.from_fit(fit.n_opt), Law.from_fit(fit.d_opt), prefix, fit)


def law_table(grids: list[GridLaws]) -> pd.DataFrame:
    """Our power laws beside the paper's, one row per (grid, N* or D*).

    Returns:
        DataFrame: family, ctx, source, law ("N*" / "D*"), k, a (ours; NaN for published-only grids), a_lo, a_hi
        (t interval), se_a (OLS), dof, k_paper, a_paper, se_a_paper, in_data (False: the
        paper's runs for this grid are not in runs.csv).
    """
    rows = []
    for g in grids:
        for var, name in (("n_opt", "N*"), ("d_opt", "D*")):
            law = getattr(g.fit, var) if g.fit is not None else None
            pub = anchors.lookup(f"{g.prefix}.{var}") if g.prefix else {}
            interval = getattr(g.fit, f"{var[0]}_exponent_interval") if g.fit is not None else (math.nan,) * 2
            rows.append({
                "family": _FAMILY[g.family], "ctx": g.ctx, "source": g.source, "law": name,
                "k": law.k if law else math.nan, "a": law.a if law else math.nan,
                "a_lo": interval[0], "a_hi": interval[1],
                "se_a": law.se_a if law else math.nan, "dof": law.dof if law else pd.NA,
                "k_paper": pub["k"].value if pub else math.nan, "a_paper": pub["a"].value if pub else math.nan,
                "se_a_paper": (pub["a"].se if pub and pub["a"].se is not None else math.nan),
                "in_data": pub["a"].in_data if pub else g.fit is not None,
            })
    return pd.DataFrame(rows)


def optima_table(fit: IsoflopFit, family: str, ctx: int) -> pd.DataFrame:
    """Per-budget optima with their 95% intervals, beside the data card's values where it lists them."""
    cols = ["budget", "C", "n_runs", "N_opt", "N_opt_lo", "N_opt_hi", "D_opt", "D_opt_lo", "D_opt_hi", "L_opt"]
    out = fit.optima.reindex(columns=cols).copy()
    for q in ("N", "D"):
        out[f"{q}_card"] = [
            anchors.PAPER[k].value if (k := f"isoflop.optimum.{family}.ctx{ctx}.{_short(b)}.{q}") in anchors.PAPER
            else math.nan for b in out["budget"]
        ]
    return out


def _short(label: str) -> str:
    return label.replace("e+", "e")  # runs.csv writes "6e+18", the PAPER keys "6e18"


def parabola_frame(fit: IsoflopFit, runs: pd.DataFrame, panel: str, n_points: int = 40) -> dict[str, pd.DataFrame]:
    """Plot data for one panel of IsoFLOP parabolas: the runs, the fitted curves and the vertices.

    Returns:
        dict with "points" (panel, budget, N, loss), "curves" (panel, budget, N, loss on n_points per budget,
        over the budget's sampled N range) and "vertices" (panel, budget, N, loss).
    """
    pts = pd.DataFrame({"panel": panel, "budget": runs["isoflop_bucket"].astype(str),
                        "N": runs["N_params"], "loss": runs["val_dclm_loss"]})
    curves = []
    for _, row in fit.parabolas[fit.parabolas["variable"] == "N"].iterrows():
        n = np.geomspace(row["lo"], row["hi"], n_points)
        curves.append(pd.DataFrame({"panel": panel, "budget": row["budget"], "N": n,
                                    "loss": fit.parabola(row["budget"], n, "N")}))
    vert = pd.DataFrame({"panel": panel, "budget": fit.optima["budget"], "N": fit.optima["N_opt"],
                         "loss": fit.optima["L_opt"]})
    return {"points": pts, "curves": pd.concat(curves, ignore_index=True), "vertices": vert}


def power_law_frames(grids: list[GridLaws], c_grid: object) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Plot data for N*(C) and D*(C): per-budget optima (with their interval bounds) and each law sampled on a grid.

    Args:
        grids: laws to draw (grids without a law are skipped); recomputed ones also get their optima as points.
        c_grid: FLOPs at which to draw the laws.

    Returns:
        (optima, lines): optima has family, series, variable ("N*"/"D*"), C, value, lo, hi; lines has family,
        series, variable, C, value. ``series`` is "ours, ctx T" or "paper, ctx T".
    """
    c = np.asarray(c_grid, dtype=np.float64)
    pts, lines = [], []
    for g in grids:
        if g.n_law is None:
            continue
        series = f"{'ours' if g.source == 'recomputed' else 'paper'}, ctx {g.ctx}"
        for var, law, col in (("N*", g.n_law, "N_opt"), ("D*", g.d_law, "D_opt")):
            lines.append(pd.DataFrame({"family": g.family, "series": series, "variable": var, "C": c,
                                       "value": law(c)}))
            if g.fit is None:
                continue
            o = g.fit.optima[g.fit.optima["in_fit_range"]]
            nan = pd.Series(math.nan, index=o.index)
            pts.append(pd.DataFrame({"family": g.family, "series": series, "variable": var, "C": o["C"],
                                     "value": o[col], "lo": o.get(f"{col}_lo", nan), "hi": o.get(f"{col}_hi", nan)}))
    cols = ["family", "series", "variable", "C", "value", "lo", "hi"]
    optima = pd.concat(pts, ignore_index=True) if pts else pd.DataFrame(columns=cols)
    return optima, pd.concat(lines, ignore_index=True)


def compute_optimal(n_params: object, n_law: Law, d_law: Law) -> pd.DataFrame:
    """Compute-optimal training of models of given sizes: invert N*(C), then D = D*(C).

    Args:
        n_params: shape (m,), model sizes in parameters (embedding and head included, as in the paper).
        n_law, d_law: the N*(C) and D*(C) laws.

    Returns:
        DataFrame with N, C (FLOPs), D (tokens), D_over_N. Note D·N·6 != C: the paper's C counts attention and
        the logits exactly, and N* and D* come from separate parabola fits.
    """
    n = validate_arrays({"n_params": np.atleast_1d(np.asarray(n_params, dtype=np.float64))},
                        what="compute_optimal")["n_params"]
    c = n_law.inverse(n)
    d = d_law(c)
    return pd.DataFrame({"N": n, "C": c, "D": d, "D_over_N": d / n})


def size_label(n: float) -> str:
    """100000000.0 -> "100M", 1e9 -> "1B", 1.75e11 -> "175B" (the PAPER keys use these)."""
    for scale, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M")):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:.3g}"


def compute_optimal_table(sizes: object, grids: list[GridLaws]) -> pd.DataFrame:
    """C, D and D/N for each model size under each grid's laws, beside the paper's cell-14 values where it has them.

    C_lo, C_hi is the 95% interval of the compute at which the recomputed N*(C) reaches the size (Fieller's inverse
    interval, :meth:`~xlstm_lab.fit.PowerLawFit.inverse_interval`; NaN for published laws, and for every size when
    the exponent is not significant, with ``C_note`` saying so). D/N gets no interval: it combines the N* and D*
    laws, whose errors are correlated through the shared runs; plugging the C interval into the D* law covered
    only 77-87% in simulations with known truth, and the mapping that did cover relies on C = 6ND for every run,
    which the paper's C (attention and logits counted) does not satisfy.

    Args:
        sizes: model sizes in parameters.
        grids: laws to use (grids without a law are skipped).

    Returns:
        Long DataFrame: size, N, law (GridLaws.label), C, C_lo, C_hi, C_note ("" or why the interval is NaN), D,
        D_over_N, C_paper, D_over_N_paper (the paper's table for 100M / 1B / 8B at ctx 8192, main set; else NaN).
    """
    rows, seen = [], set()
    for g in grids:
        if g.n_law is None or g.label in seen:  # no law, or the same grid twice (e.g. ctx 16384 in both roles)
            continue
        seen.add(g.label)
        tab = compute_optimal(sizes, g.n_law, g.d_law)
        law = g.fit.n_opt if g.fit is not None else None
        c_lo, c_hi = law.inverse_interval(tab["N"].to_numpy()) if law is not None else (None, None)
        note = law.inverse_note() if law is not None else ""
        for i, r in tab.iterrows():
            row = {"size": size_label(r["N"]), "N": r["N"], "law": g.label, "C": r["C"],
                   "C_lo": math.nan if law is None else float(c_lo[i]),
                   "C_hi": math.nan if law is None else float(c_hi[i]), "C_note": note,
                   "D": r["D"], "D_over_N": r["D_over_N"], "C_paper": math.nan, "D_over_N_paper": math.nan}
            key = f"compute_optimal.{g.family}.{row['size']}"
            if g.prefix == f"isoflop.main.{g.family}.ctx8192" and f"{key}.C" in anchors.PAPER:
                row["C_paper"] = anchors.PAPER[f"{key}.C"].value
                row["D_over_N_paper"] = anchors.PAPER[f"{key}.D_over_N"].value
            rows.append(row)
    return pd.DataFrame(rows)


def _span(lo: float, hi: float) -> str:
    """An interval with one shared exponent, e.g. "1.47–1.96e20" (compact for tables); "> lo" if hi is inf."""
    if math.isfinite(lo) and hi == math.inf:
        return f"> {lo:.3g}"
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "–"
    e = math.floor(math.log10(abs(hi))) if hi else 0
    if -2 <= e <= 3:
        return f"{lo:.3g}–{hi:.3g}"
    return f"{lo / 10**e:.2f}–{hi / 10**e:.2f}e{e}"


def compute_optimal_wide(table: pd.DataFrame, quantity: str = "C") -> pd.DataFrame:
    """One row per model size: ``quantity`` ("C" or "D_over_N") under each law, its 95% interval, the paper's table.

    The "95%" column appears for a recomputed law with an interval ("C" only; "unbounded" where the law's exponent
    is not significant, "> lo" where the upper end overflows, "–" where the law has no residual degrees of
    freedom).

    Args:
        table: from :func:`compute_optimal_table`.
        quantity: "C" (FLOPs) or "D_over_N" (tokens per parameter).
    """
    if quantity not in ("C", "D_over_N"):
        raise InvalidInputError(f"compute_optimal_wide: quantity must be 'C' or 'D_over_N', got {quantity!r}.")
    out = pd.DataFrame({"size": list(dict.fromkeys(table["size"]))})
    for law, g in table.groupby("law", sort=False):
        g = g.set_index("size").reindex(out["size"])
        out[law] = g[quantity].to_numpy()
        notes = g.get(f"{quantity}_note", pd.Series("", index=g.index)).fillna("")
        if f"{quantity}_lo" in g and (g[f"{quantity}_lo"].notna().any() or notes.ne("").any()):
            out[f"{law} 95%"] = ["unbounded" if "unbounded" in note else _span(lo, hi)
                                 for lo, hi, note in zip(g[f"{quantity}_lo"], g[f"{quantity}_hi"], notes)]
        if g[f"{quantity}_paper"].notna().any():
            out[f"{law.split(' (')[0]} paper table"] = g[f"{quantity}_paper"].to_numpy()
    return out
