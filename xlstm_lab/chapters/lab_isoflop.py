"""The IsoFLOP chapter's lab half: our xLSTM and Transformer at CPU budgets, one fixed fit recipe, laws beside the
paper's, and the compute-loss plane of our own runs."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from xlstm_lab import anchors
from xlstm_lab.chapters import lab
from xlstm_lab.chapters.compute_loss_plane import envelope_frame, like_for_like, lower_envelope
from xlstm_lab.fit import IsoflopFit, fit_isoflop

__all__ = ["RECIPE", "budget_label", "gather", "fit_families", "law_table", "skipped_table", "optima_table",
           "parabola_frames", "plane_frames", "envelope_comparison", "compute_to_match", "three_nearest",
           "three_point_comparison"]

RECIPE = ("one least-squares parabola of validation loss in log10 N per budget through every size and every seed "
          "of that budget (5 sizes; the 2 sizes nearest the optimum also with a second seed where shipped); its "
          "vertex is N*, a second parabola in log10 D gives D*; a budget whose parabola has no interior minimum is "
          "shown and left out of the laws; N*(C) = k C^a and D*(C) by least squares in log-log through the "
          "vertices, with 95% t intervals (Fieller's for each vertex)")
"""The one fit recipe of the lab half, stated on the page."""

#: The paper's laws at its main context (8192), for the comparison (PAPER keys).
_PAPER = {"llama": "isoflop.main.llama.ctx8192", "xlstm": "isoflop.main.xlstm.ctx8192"}


def budget_label(c: float) -> str:
    """A budget's label, e.g. 3e+11."""
    return f"{float(c):.0e}"


def gather(budgets: Sequence[float], families: Sequence[str], *, ctx: int = 256, seeds: Sequence[int] = (0,),
           train: bool = True) -> lab.LabRuns:
    """The runs of the lab IsoFLOP grid (shipped, stored, or trained now) plus shipped repeats with other seeds.

    Raises:
        ParameterError: naming ``lab_budgets`` (a budget the corpus cannot hold) or ``lab_families``.
    """
    plan = lab.plan("isoflop", families=families, param="lab_budgets", budgets=budgets, ctx=ctx, seeds=seeds)
    return lab.gather(plan, other_seeds=True, train=train)


def fit_families(runs: pd.DataFrame) -> dict[str, IsoflopFit]:
    """The recipe (:data:`RECIPE`) per family: parabolas per budget (budgets without a minimum skipped), laws."""
    out = {}
    for family, g in runs.groupby("family", sort=False):
        g = g.assign(budget=g["budget_flops"].map(budget_label))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # few budgets: the law's status and notes carry the caveat
            out[family] = fit_isoflop(g, loss_col="val_loss", budget_col="budget", on_no_minimum="skip")
    return out


def law_table(fits: Mapping[str, IsoflopFit]) -> pd.DataFrame:
    """Our lab laws beside the paper's (ctx 8192), one row per (family, N* or D*).

    Returns:
        family, law, k, a, a_lo, a_hi (95% t), se_a, budgets (vertices fitted), a_paper, paper_inside (the paper's
        exponent lies inside our interval; False also when our interval is undefined).
    """
    rows = []
    for family, fit in fits.items():
        for var, name in (("n_opt", "N*"), ("d_opt", "D*")):
            law = getattr(fit, var)
            lo, hi = getattr(fit, f"{var[0]}_exponent_interval")
            paper = anchors.PAPER[f"{_PAPER[family]}.{var}.a"].value
            rows.append({"family": family, "law": name, "k": law.k if law else math.nan,
                         "a": law.a if law else math.nan, "a_lo": lo, "a_hi": hi,
                         "se_a": law.se_a if law else math.nan, "budgets": law.n_points if law else 0,
                         "a_paper": paper, "paper_inside": bool(lo <= paper <= hi)})
    return pd.DataFrame(rows)


def three_nearest(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (family, budget): the runs of the size with the lowest mean loss and of its two neighbours in N.

    At the edge of a budget's grid the three smallest (or largest) sizes are taken, so every budget with at least
    three sizes keeps exactly three; a budget with fewer sizes keeps them all.
    """
    parts = []
    for _, g in runs.groupby(["family", "budget_flops"]):
        sizes = np.sort(g["N_params"].unique())
        if len(sizes) <= 3:
            parts.append(g)
            continue
        best = g.groupby("N_params")["val_loss"].mean().idxmin()
        i = min(max(int(np.searchsorted(sizes, best)), 1), len(sizes) - 2)
        parts.append(g[g["N_params"].isin(sizes[i - 1:i + 2])])
    return pd.concat(parts, ignore_index=True)


def three_point_comparison(runs: pd.DataFrame, laws: pd.DataFrame) -> pd.DataFrame:
    """Exponents from every size of each budget (``laws``, :func:`law_table`) beside 3-point parabolas through
    :func:`three_nearest`: family, law, a_5pt, a_3pt, budgets (vertices the 3-point law fitted)."""
    three = law_table(fit_families(three_nearest(runs)))
    return laws[["family", "law", "a"]].merge(three[["family", "law", "a", "budgets"]], on=["family", "law"],
                                              suffixes=("_5pt", "_3pt"))


def skipped_table(fits: Mapping[str, IsoflopFit]) -> pd.DataFrame:
    """Budgets whose parabola gave no interior minimum (shown, not fitted): family, budget, reason."""
    rows = [{"family": f, "budget": b, "reason": r} for f, fit in fits.items() for b, r in fit.skipped]
    return pd.DataFrame(rows, columns=["family", "budget", "reason"])


def optima_table(fits: Mapping[str, IsoflopFit]) -> pd.DataFrame:
    """Per-budget vertices of each family: family, budget, C, runs, N_opt (with interval), D_opt, L_opt, D/N."""
    parts = []
    for family, fit in fits.items():
        o = fit.optima[["budget", "C", "n_runs", "N_opt", "N_opt_lo", "N_opt_hi", "D_opt", "L_opt"]].copy()
        o.insert(0, "family", family)
        o["D_over_N"] = o["D_opt"] / o["N_opt"]
        parts.append(o)
    return pd.concat(parts, ignore_index=True)


def parabola_frames(fits: Mapping[str, IsoflopFit], runs: pd.DataFrame, n_points: int = 40) -> dict[str, pd.DataFrame]:
    """Plot data: every run (panel = family, budget, N, loss, seed), each fitted parabola, each vertex."""
    pts, curves, verts = [], [], []
    for family, fit in fits.items():
        g = runs[runs["family"] == family]
        pts.append(pd.DataFrame({"panel": family, "budget": g["budget_flops"].map(budget_label), "N": g["N_params"],
                                 "loss": g["val_loss"], "seed": g["seed"], "source": g["source"]}))
        for _, row in fit.parabolas[fit.parabolas["variable"] == "N"].iterrows():
            n = np.geomspace(row["lo"], row["hi"], n_points)
            curves.append(pd.DataFrame({"panel": family, "budget": row["budget"], "N": n,
                                        "loss": fit.parabola(row["budget"], n, "N")}))
        verts.append(pd.DataFrame({"panel": family, "budget": fit.optima["budget"], "N": fit.optima["N_opt"],
                                   "loss": fit.optima["L_opt"]}))
    return {"points": pd.concat(pts, ignore_index=True), "curves": pd.concat(curves, ignore_index=True),
            "vertices": pd.concat(verts, ignore_index=True)}


def plane_frames(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs, envelope) in the compute-loss chart's columns (family, ctx, set, C, loss, N)."""
    pts = pd.DataFrame({"family": runs["family"], "ctx": runs["context_length"], "set": "lab",
                        "C": runs["C_flops_training"], "loss": runs["val_loss"], "N": runs["N_params"]})
    return pts, envelope_frame(pts)


def envelope_comparison(runs: pd.DataFrame, n_grid: int = 200) -> dict[str, float]:
    """Where each family's lower envelope (best loss reached with at most C) lies over their shared compute range.

    Returns:
        c_lo, c_hi (shared range: from the larger of the two smallest C to the smaller of the two largest),
        xlstm_lower (fraction of the range, on a log grid, where xLSTM's envelope is strictly lower),
        mean_gap (mean of Transformer minus xLSTM envelope over the grid, nats), final_gap (at c_hi).
    """
    env = {}
    for family, g in runs.groupby("family"):
        env[family] = lower_envelope(g["C_flops_training"], g["val_loss"])
    (cx, lx), (cl, ll) = env["xlstm"], env["llama"]
    c_lo, c_hi = max(cx[0], cl[0]), min(cx[-1], cl[-1])
    grid = np.geomspace(c_lo, c_hi, n_grid)
    # Envelope value at C: the best loss of runs with compute <= C (step function, right-continuous).
    ex = lx[np.searchsorted(cx, grid, side="right") - 1]
    el = ll[np.searchsorted(cl, grid, side="right") - 1]
    gap = el - ex
    return {"c_lo": float(c_lo), "c_hi": float(c_hi), "xlstm_lower": float(np.mean(gap > 0)),
            "mean_gap": float(gap.mean()), "final_gap": float(gap[-1])}


def compute_to_match(fits: Mapping[str, IsoflopFit]) -> pd.DataFrame:
    """Per shared budget: both optimal losses and the Transformer compute whose optimal loss equals xLSTM's.

    ``like_for_like`` of the released-data half, on the lab fits (``extrapolated`` marks a match outside the
    Transformer's budgets).
    """
    return like_for_like(fits["xlstm"], fits["llama"], "lab, ctx 256")
